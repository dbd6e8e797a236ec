package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alertmedic/alertmedic/internal/testlog"
)

// repoRoot is the folder holding go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// buildAlertmedic builds ./cmd/alertmedic into a temporary folder, with the
// race detector when the tests run with it.
func buildAlertmedic(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "alertmedic")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "./cmd/alertmedic")...)
	cmd.Dir = repoRoot(t)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s failed: %v\n%s", strings.Join(cmd.Args[1:], " "), err, out)
	}
	t.Logf("built alertmedic (race detector %v) in %s", raceEnabled, time.Since(start).Round(time.Millisecond))
	return bin
}

// alertmanagerBinary returns a real Alertmanager, built (once, cached) by
// hack/alertmanager.sh. It fails the test, never skips it, when it cannot.
func alertmanagerBinary(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(repoRoot(t), "hack", "alertmanager.sh"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hack/alertmanager.sh could not provide a real Alertmanager, which the end-to-end test needs (it builds github.com/prometheus/alertmanager/cmd/alertmanager from the Go module proxy): %v\n%s", err, stderr.String())
	}
	bin := strings.TrimSpace(string(out))
	if fi, err := os.Stat(bin); err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf("hack/alertmanager.sh printed %q, which is not an executable: %v", bin, err)
	}
	return bin
}

// freeAddr returns a 127.0.0.1 address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// process is a subprocess under test; its output is logged when the test
// fails.
type process struct {
	name   string
	cmd    *exec.Cmd
	logs   *testlog.Buffer
	exited chan struct{}
	err    error // how it exited, once exited is closed
}

func startProcess(t *testing.T, name, bin string, args ...string) *process {
	t.Helper()
	p := &process{name: name, cmd: exec.Command(bin, args...), logs: &testlog.Buffer{}, exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("---- %s (%s) log ----\n%s---- end of %s log ----", name, strings.Join(p.cmd.Args, " "), p.logs.String(), name)
		}
	})
	return p
}

// running returns an error when the process has exited.
func (p *process) running() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s exited unexpectedly: %v", p.name, p.err)
	default:
		return nil
	}
}

// terminate sends SIGTERM and returns how the process exited (nil: status 0).
func (p *process) terminate(timeout time.Duration) error {
	if err := p.running(); err != nil {
		return err
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("SIGTERM %s: %w", p.name, err)
	}
	select {
	case <-p.exited:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("%s did not exit within %s of SIGTERM", p.name, timeout)
	}
}

// waitFor polls cond until it holds, the deadline passes, or one of procs
// exits. cond returns whether it holds and, for the failure message, what it
// saw.
func waitFor(t *testing.T, what string, timeout time.Duration, procs []*process, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, seen := cond()
		if ok {
			return
		}
		for _, p := range procs {
			if err := p.running(); err != nil {
				t.Fatalf("waiting for %s: %v (last seen: %s)", what, err, seen)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last seen: %s", timeout, what, seen)
		}
		<-tick.C
	}
}

// httpGet returns the status and body of GET url ("" and an error string in
// the body when it cannot be reached).
func httpGet(ctx context.Context, url string) (int, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric reads one series (name{labels} exactly as exposed) from the text
// exposition at url; absent is 0.
func metric(ctx context.Context, url, series string) (float64, error) {
	code, body := httpGet(ctx, url)
	if code != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %d %s", url, code, body)
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, nil
}
