package main

import (
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
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Lines alertmedic logs (JSON) that the scenarios wait for: the runner
// leading, controller-runtime starting its workers once the records'
// cache has synced, and the leader's index of archived records built.
const (
	logLeading = `"msg":"leading: this replica executes remediations"`
	logWorkers = `"msg":"Starting workers"`
	logIndexed = `"msg":"archived records indexed"`
)

// proc is one alertmedic process (or the decode-only floor), started by
// the driver.
type proc struct {
	name    string
	cmd     *exec.Cmd
	url     string // http://addr
	logPath string
	started time.Time
	exited  chan struct{}

	mu      sync.Mutex
	peakRSS float64 // KB, highest VmRSS sampled while sampling
	stopped chan struct{}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startProc runs bin with args (where "ADDR" is replaced by a free
// address), its output to a log file in dir.
func startProc(dir, name, bin string, args ...string) (*proc, error) {
	if err := evict(bin); err != nil {
		return nil, err
	}
	return startProcCmd(dir, name, func(args []string) *exec.Cmd { return exec.Command(bin, args...) }, args...)
}

// evict drops bin from the page cache (the pages no running process
// maps), so that the process about to start maps the binary as one read
// from disk. Its resident file pages depend on the page cache's folios,
// which a start maps whole: a binary just written (by make build) sits in
// the folios its writes made, and in one run mapped 45.5 MB of itself
// idle where the same binary read back mapped 40.3 to 40.5 MB, run after
// run.
func evict(bin string) error {
	f, err := os.Open(bin)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("drop %s from the page cache: %w", bin, err)
	}
	return nil
}

// startProcCmd is startProc with the command made by mk from the args.
func startProcCmd(dir, name string, mk func(args []string) *exec.Cmd, args ...string) (*proc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	for i, a := range args {
		if a == "ADDR" {
			args[i] = addr
		}
	}
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := mk(args)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	p := &proc{name: name, cmd: cmd, url: "http://" + addr, logPath: logPath, started: time.Now(), exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { _ = cmd.Wait(); logFile.Close(); close(p.exited) }()
	return p, nil
}

// stop ends the process: SIGTERM, then SIGKILL after grace.
func (p *proc) stop(grace time.Duration) {
	p.stopSampling()
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// kill ends the process at once (SIGKILL) and returns when it is gone.
func (p *proc) kill() {
	p.stopSampling()
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// waitReady waits for GET /readyz to answer 200 and returns when it did.
func (p *proc) waitReady(ctx context.Context, within time.Duration) (time.Time, error) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if err := ctx.Err(); err != nil {
			return time.Time{}, err
		}
		select {
		case <-p.exited:
			return time.Time{}, fmt.Errorf("%s exited; see %s", p.name, p.logPath)
		default:
		}
		if resp, err := http.Get(p.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Now(), nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("%s not ready within %s; see %s", p.name, within, p.logPath)
}

// waitLog waits for a line of the log holding text and returns the time
// the driver saw it (within 20 ms of its writing).
func (p *proc) waitLog(ctx context.Context, text string, within time.Duration) (time.Time, error) {
	deadline := time.Now().Add(within)
	var seen int64
	for time.Now().Before(deadline) {
		if err := ctx.Err(); err != nil {
			return time.Time{}, err
		}
		if found, n := logHolds(p.logPath, seen, text); found {
			return time.Now(), nil
		} else {
			seen = n
		}
		select {
		case <-p.exited:
			if found, _ := logHolds(p.logPath, 0, text); found {
				return time.Now(), nil
			}
			return time.Time{}, fmt.Errorf("%s exited; see %s", p.name, p.logPath)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return time.Time{}, fmt.Errorf("%s did not log %s within %s; see %s", p.name, text, within, p.logPath)
}

// logHolds reports whether the log at path holds text after offset from
// (searching from a little before it, so a line written across two reads
// is found), and how far it has read.
func logHolds(path string, from int64, text string) (bool, int64) {
	f, err := os.Open(path)
	if err != nil {
		return false, from
	}
	defer f.Close()
	start := max(0, from-int64(len(text)))
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return false, from
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return false, from
	}
	return bytes.Contains(data, []byte(text)), start + int64(len(data))
}

// rss is the process's resident memory now (VmRSS) and its peak over its
// life (VmHWM), in KB.
func (p *proc) rss() (now, peak float64) {
	m := p.status("VmRSS:", "VmHWM:")
	return m["VmRSS:"], m["VmHWM:"]
}

// rssParts is what the resident memory is made of now, in KB: anonymous
// pages (heap, stacks, the runtime's own) and file pages (the binary's
// code and data it has touched).
func (p *proc) rssParts() (anon, file float64) {
	m := p.status("RssAnon:", "RssFile:")
	return m["RssAnon:"], m["RssFile:"]
}

// status reads the given keys of /proc/PID/status, in KB.
func (p *proc) status(keys ...string) map[string]float64 {
	out := make(map[string]float64, len(keys))
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return out
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		for _, key := range keys {
			if v, ok := strings.CutPrefix(line, key); ok {
				out[key], _ = strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			}
		}
	}
	return out
}

// cpu is the CPU time the process has used so far, user and system
// (/proc/PID/stat, in clock ticks of 10 ms).
func (p *proc) cpu() time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The command's name, in parentheses, may hold spaces: count fields
	// from after it. utime and stime are the stat's 14th and 15th fields.
	_, rest, _ := bytes.Cut(data, []byte(") "))
	f := strings.Fields(string(rest))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// sample records the highest VmRSS seen every 50 ms until stopSampling;
// it restarts the peak from now.
func (p *proc) sample() {
	p.stopSampling()
	p.mu.Lock()
	p.peakRSS = 0
	stop := make(chan struct{})
	p.stopped = stop
	p.mu.Unlock()
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			now, _ := p.rss()
			p.mu.Lock()
			p.peakRSS = max(p.peakRSS, now)
			p.mu.Unlock()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
}

// stopSampling ends sample and returns the highest VmRSS it saw (KB).
func (p *proc) stopSampling() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped != nil {
		close(p.stopped)
		p.stopped = nil
	}
	return p.peakRSS
}
