package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/alertmanager/template"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// bound: alertmedic as the manifests run it, in a memory cgroup with the
// manifests' limit and GOMEMLIMIT, holding as many retained records as
// --max-records keeps by default, each with a Slack message, and then a bad
// day: a storm of new alerts and already-handled re-sends. A replica killed
// for memory there restarts, lists every record again and is killed again.
func (b *bench) bound(ctx context.Context) error {
	const what = "at the retention bound"
	if b.template == nil {
		return errors.New("no finished record to clone: the apicost scenario makes it (run it too)")
	}
	limit, err := manifestMemoryLimit("manifests/deployment.yaml")
	if err != nil {
		return err
	}
	cg, err := newMemCgroup(fmt.Sprintf("alertmedic-bench-%d", os.Getpid()), limit)
	if err != nil {
		b.t.add(what+": under the manifests' memory limit", "no OOM kill; peak ≤ 90% of the limit",
			"not measured: "+err.Error(), "info")
		return nil
	}
	defer cg.remove()
	const per, senders, targets = 100, 8, 100
	work, ns := "work-bound", "am-bound"
	if err := b.deployments(ctx, work, "app", targets); err != nil {
		return err
	}
	if err := b.namespace(ctx, ns); err != nil {
		return err
	}
	tmpl := b.template.Remediation.DeepCopy()
	tmpl.Status.Slack = slackPosted()
	if err := putRecords(ctx, b.cluster.EtcdURL(), tmpl, ns, 0, b.o.boundRecords); err != nil {
		return err
	}
	if err := b.waitRecords(ctx, ns, b.o.boundRecords); err != nil {
		return err
	}

	args := append([]string{"serve", "--listen", "ADDR", "--kubeconfig", b.kubeconfig, "--rules", b.rules,
		"--token-file", b.tokenFile, "--namespace", ns, "--identity", "bound", "--log.format", "json"},
		"--max-records", strconv.Itoa(b.o.boundRecords))
	p, err := startProcIn(b.o.dir, "bound", cg, limit, b.o.bin, args...)
	if err != nil {
		return err
	}
	defer p.stop(10 * time.Second)
	anon := sampleAnon(p)
	if _, err := p.waitReady(ctx, 2*time.Minute); err != nil {
		return err
	}
	if _, err := p.waitLog(ctx, logWorkers, 2*time.Minute); err != nil {
		return err
	}
	time.Sleep(3 * time.Second)
	startPeak, startAnon := cg.peak(), anon.peak()

	// The bad day: distinct alerts, 8 notifications at a time as
	// Alertmanager sends them, then re-sends of handled ones.
	p.sample()
	next := make(chan int)
	var accepted atomic.Int64
	var wg sync.WaitGroup
	poster := newPoster(senders)
	for range senders {
		wg.Go(func() {
			for k := range next {
				if code, _ := poster.postRetrying(ctx, p.url, stormNotification(k, per, work, targets)); code == 200 {
					accepted.Add(per)
				}
			}
		})
	}
	for k := range b.o.boundAlerts / per {
		next <- k
	}
	close(next)
	wg.Wait()
	handled := make([]template.Alert, per)
	for i := range handled {
		handled[i] = alert("KubePodCrashLooping", work, fmt.Sprintf("app-%d", i), t0, "run", "bound")
	}
	resendBody := notification(handled...)
	if code, _ := poster.postRetrying(ctx, p.url, resendBody); code != 200 {
		return fmt.Errorf("post answered %d", code)
	}
	if _, err := hammer(ctx, p.url, resendBody, b.o.conns, b.o.load); err != nil {
		return err
	}
	time.Sleep(5 * time.Second) // what the storm set going
	loadedRSS := p.stopSampling()
	peak, kills, peakAnon := cg.peak(), cg.oomKills(), anon.stop()
	alive := true
	select {
	case <-p.exited:
		alive = false
	default:
	}
	ok := kills == 0 && alive && float64(peak) <= 0.9*float64(limit)
	b.t.add(fmt.Sprintf("%s: %d retained records (--max-records), each with a Slack message, then %d new alerts and %s of already-handled re-sends, in a memory cgroup with the manifests' limit (%s, GOMEMLIMIT the same)",
		what, b.o.boundRecords, b.o.boundAlerts, b.o.load, mib(limit)),
		"no OOM kill; peak ≤ 90% of the limit",
		fmt.Sprintf("peak %s (%.0f%% of the limit; after start-up %s); OOM kills %d%s; anonymous peak %s (after start-up %s); RSS peak under load %s; %d of %d alerts accepted",
			mib(peak), 100*float64(peak)/float64(limit), mib(startPeak), kills, map[bool]string{true: "", false: "; the process died"}[alive],
			mb(peakAnon), mb(startAnon), mb(loadedRSS), accepted.Load(), b.o.boundAlerts),
		verdict(ok))
	b.t.note("%s: the cgroup's peak counts the binary's pages and its log file's as well as the heap; the kernel takes file pages back before it kills for memory, so the anonymous peak is what a kill follows", what)
	return nil
}

// slackPosted is what the notifier leaves on a record it posted and
// updated to its outcome: the message final.
func slackPosted() *v1alpha1.SlackMessage {
	return &v1alpha1.SlackMessage{Channel: "C0123456789", TS: "1764300000.000100", Digest: "9f2c4e1a7b3d5f60", Final: true}
}

// manifestMemoryLimit reads the alertmedic container's memory limit from
// the Deployment in path, in bytes.
func manifestMemoryLimit(path string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for doc := range strings.SplitSeq(string(data), "\n---") {
		var d appsv1.Deployment
		if err := yaml.Unmarshal([]byte(doc), &d); err != nil || d.Kind != "Deployment" {
			continue
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if q, ok := c.Resources.Limits["memory"]; ok {
				return q.Value(), nil
			}
		}
	}
	return 0, fmt.Errorf("%s: no container with a memory limit", path)
}

func mib(bytes int64) string { return fmt.Sprintf("%.0f MiB", float64(bytes)/(1<<20)) }

// memCgroup is a memory cgroup (v2, or v1's memory controller) the driver
// made to run alertmedic under a limit as a container runtime would.
type memCgroup struct {
	dir string
	v2  bool
}

// newMemCgroup makes a cgroup named name with a memory limit of limit
// bytes. It needs a writable cgroup file system (root, no container
// confinement); the error says why not.
func newMemCgroup(name string, limit int64) (*memCgroup, error) {
	if data, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); err == nil && bytes.Contains(data, []byte("memory")) {
		cg := &memCgroup{dir: filepath.Join("/sys/fs/cgroup", name), v2: true}
		if err := os.Mkdir(cg.dir, 0o755); err != nil {
			return nil, fmt.Errorf("no writable memory cgroup: %w", err)
		}
		if err := os.WriteFile(filepath.Join(cg.dir, "memory.max"), []byte(strconv.FormatInt(limit, 10)), 0o644); err != nil {
			cg.remove()
			return nil, fmt.Errorf("memory cgroup limit: %w", err)
		}
		return cg, nil
	}
	cg := &memCgroup{dir: filepath.Join("/sys/fs/cgroup/memory", name)}
	if err := os.Mkdir(cg.dir, 0o755); err != nil {
		return nil, fmt.Errorf("no writable memory cgroup: %w", err)
	}
	if err := os.WriteFile(filepath.Join(cg.dir, "memory.limit_in_bytes"), []byte(strconv.FormatInt(limit, 10)), 0o644); err != nil {
		cg.remove()
		return nil, fmt.Errorf("memory cgroup limit: %w", err)
	}
	return cg, nil
}

// peak is the highest memory the cgroup was charged, in bytes.
func (cg *memCgroup) peak() int64 {
	file := "memory.max_usage_in_bytes"
	if cg.v2 {
		file = "memory.peak"
	}
	data, _ := os.ReadFile(filepath.Join(cg.dir, file))
	v, _ := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	return v
}

// oomKills is how many processes the kernel killed in the cgroup for
// memory.
func (cg *memCgroup) oomKills() int {
	file := "memory.oom_control"
	if cg.v2 {
		file = "memory.events"
	}
	data, _ := os.ReadFile(filepath.Join(cg.dir, file))
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

func (cg *memCgroup) remove() { _ = os.Remove(cg.dir) }

// startProcIn is startProc with the process in cg from its first
// instruction (a shell joins the cgroup and execs bin) and GOMEMLIMIT set
// to limit, as the manifests set it from the container's limit.
func startProcIn(dir, name string, cg *memCgroup, limit int64, bin string, args ...string) (*proc, error) {
	abs, err := filepath.Abs(bin)
	if err != nil {
		return nil, err
	}
	if err := evict(abs); err != nil {
		return nil, err
	}
	script := `echo $$ > "$0/cgroup.procs" && exec "$@"`
	p, err := startProcCmd(dir, name, func(args []string) *exec.Cmd {
		cmd := exec.Command("/bin/sh", append([]string{"-c", script, cg.dir, abs}, args...)...)
		cmd.Env = append(os.Environ(), "GOMEMLIMIT="+strconv.FormatInt(limit, 10))
		return cmd
	}, args...)
	return p, err
}

// anonSampler records the highest RssAnon of a process, every 50 ms.
type anonSampler struct {
	max  atomic.Int64 // KB
	done chan struct{}
	once sync.Once
}

func sampleAnon(p *proc) *anonSampler {
	s := &anonSampler{done: make(chan struct{})}
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if a, _ := p.rssParts(); int64(a) > s.max.Load() {
				s.max.Store(int64(a))
			}
			select {
			case <-s.done:
				return
			case <-p.exited:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *anonSampler) peak() float64 { return float64(s.max.Load()) }

func (s *anonSampler) stop() float64 {
	s.once.Do(func() { close(s.done) })
	return s.peak()
}
