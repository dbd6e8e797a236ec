package testprometheus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/alertmedic/alertmedic/internal/testlog"
)

// Binary returns the path of a real prometheus binary, with promtool beside
// it, from hack/prometheus.sh (which finds or installs one, or says what to
// do).
func Binary(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot(), "hack", "prometheus.sh"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/prometheus.sh could not provide a real Prometheus, which these tests need: %w\n%s", err, stderr.String())
	}
	bin := strings.TrimSpace(string(out))
	if fi, err := os.Stat(bin); err != nil || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("hack/prometheus.sh printed %q, which is not an executable: %v", bin, err)
	}
	return bin, nil
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Prometheus is a running Prometheus.
type Prometheus struct {
	URL string // http://127.0.0.1:PORT
	cmd *exec.Cmd
	log *testlog.Buffer
	dir string
	// exited is closed when the process has exited.
	exited chan struct{}
}

// Options say what storage a Prometheus starts on.
type Options struct {
	// OpenMetrics is backfilled into the storage with 'promtool tsdb
	// create-blocks-from openmetrics' (it must end with "# EOF"). Its
	// samples must be at least 3h old, so that the blocks do not overlap the
	// head, and within Retention.
	OpenMetrics []byte
	// Retention is --storage.tsdb.retention.time; default 400d.
	Retention string
	// Args are more flags for prometheus, such as --query.max-samples=N.
	Args []string
}

// Start backfills a TSDB in a new directory under dir and serves it with a
// real Prometheus on a free port, waiting until /-/ready answers. Stop it
// with Stop.
func Start(ctx context.Context, dir string, o Options) (*Prometheus, error) {
	bin, err := Binary(ctx)
	if err != nil {
		return nil, err
	}
	if o.Retention == "" {
		o.Retention = "400d"
	}
	dir, err = os.MkdirTemp(dir, "prometheus-")
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	input := filepath.Join(dir, "series.om")
	if err := os.WriteFile(input, o.OpenMetrics, 0o644); err != nil {
		return nil, err
	}
	promtool := filepath.Join(filepath.Dir(bin), "promtool")
	if out, err := exec.CommandContext(ctx, promtool, "tsdb", "create-blocks-from", "openmetrics", input, data).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("promtool tsdb create-blocks-from openmetrics: %w\n%s", err, out)
	}
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, []byte("global: {evaluation_interval: 1m}\n"), 0o644); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p := &Prometheus{URL: "http://" + addr, log: &testlog.Buffer{}, dir: dir}
	// Not CommandContext: Stop ends the process, so that a caller's
	// context does not kill it while a test still reads from it.
	args := []string{"--config.file=" + config, "--storage.tsdb.path=" + data,
		"--storage.tsdb.retention.time=" + o.Retention, "--web.listen-address=" + addr, "--log.level=warn"}
	p.cmd = exec.Command(bin, append(args, o.Args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start prometheus: %w", err)
	}
	var waitErr error
	p.exited = make(chan struct{})
	go func() { waitErr = p.cmd.Wait(); close(p.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/-/ready", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("prometheus exited before it was ready: %v\n%s", waitErr, p.log.String())
		case <-ctx.Done():
			_ = p.cmd.Process.Kill()
			<-p.exited
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = p.cmd.Process.Kill()
			<-p.exited
			return nil, fmt.Errorf("prometheus was not ready within 60s:\n%s", p.log.String())
		}
	}
}

// Log is what Prometheus has written so far.
func (p *Prometheus) Log() string { return p.log.String() }

// Stop ends Prometheus, waits for it to exit, and removes its storage.
func (p *Prometheus) Stop() error {
	err := p.cmd.Process.Kill()
	if errors.Is(err, os.ErrProcessDone) {
		err = nil
	}
	<-p.exited
	return errors.Join(err, os.RemoveAll(p.dir))
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
