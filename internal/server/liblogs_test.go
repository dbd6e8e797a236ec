package server

import (
	"bytes"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"

	"k8s.io/klog/v2"
)

const libLogsChild = "ALERTMEDIC_LIBLOGS_CHILD"

// client-go's logger is set once per process, so the logging is
// done in a process of its own: this test binary, run again.
func TestLibraryLogsGoThroughServesLogger(t *testing.T) {
	if os.Getenv(libLogsChild) == "1" {
		routeLibraryLogs(slog.New(slog.NewTextHandler(os.Stderr, nil)))
		klog.InfoS("from client-go", "n", 2)
		klog.Flush()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLibraryLogsGoThroughServesLogger$", "-test.count=1")
	cmd.Env = append(os.Environ(), libLogsChild+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	got := stderr.String()
	for _, want := range []string{
		`level=INFO msg="from client-go" n=2`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("serve's log has no %q; the child logged:\n%s", want, got)
		}
	}
}
