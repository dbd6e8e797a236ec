package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/alertmanager/template"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
)

func numCPU() int { return runtime.GOMAXPROCS(0) }

// goBenchmarks adds the figures of the Go benchmarks to the table.
func (b *bench) goBenchmarks(ctx context.Context) {
	profile := filepath.Join(b.o.dir, "heap.pprof")
	res, err := runGoBenchmarks(ctx, b.log, profile)
	if err != nil {
		b.t.failed("Go benchmarks", err)
		if len(res) == 0 {
			return
		}
	}
	bare := res["BenchmarkBareDecode100"]["alerts/s"]
	for _, c := range []struct{ name, figure string }{
		{"BenchmarkIngest1000RulesNoMatch", "ingest in-process, 100-alert notifications, 1,000 rules, none matching, vs decode-only (`BenchmarkBareDecode100`)"},
		{"BenchmarkIngest1000RulesAllHandled", "the same, every alert already handled"},
	} {
		v := res[c.name]["alerts/s"]
		if v == 0 || bare == 0 {
			b.t.add(c.figure, "≥ 1.0×", "no result", "**not measured**")
			continue
		}
		b.t.add(c.figure, "≥ 1.0×", fmt.Sprintf("%.0f vs %.0f alerts/s (%.2f×)", v, bare, v/bare), verdict(v >= bare))
	}
	a := res["BenchmarkAlertToPatch"]
	if a["p99-ms"] == 0 {
		b.t.add("alert to patch, p50 / p99 (`BenchmarkAlertToPatch`, 1,800, taking turns with the floor)", "p99 within 3 ms of the floor", "no result", "**not measured**")
	} else {
		b.t.add("alert to patch, p50 / p99 (`BenchmarkAlertToPatch`, 1,800, taking turns with the floor), vs the path's requests made directly on the same objects (floor: create a record, read the Deployment, mark the record Running, patch; then the Event and the outcome)",
			"p99 within 3 ms of the floor",
			fmt.Sprintf("%.1f / %.1f ms vs floor %.1f / %.1f ms (p99 %+.1f ms, 90%% bootstrap interval %+.1f to %+.1f ms; %.2f×); the API server's own mean time per request of the path: create the record %.1f ms, read the Deployment %.1f, mark it Running %.1f, patch %.1f",
				a["p50-ms"], a["p99-ms"], a["floor-p50-ms"], a["floor-p99-ms"], a["p99-ms"]-a["floor-p99-ms"], a["p99-diff-lo-ms"], a["p99-diff-hi-ms"], a["p99-ms"]/a["floor-p99-ms"],
				a["srv-create-record-ms"], a["srv-get-target-ms"], a["srv-running-ms"], a["srv-patch-ms"]),
			verdict(a["p99-ms"]-a["floor-p99-ms"] <= 3))
	}
	heap := res["BenchmarkServeHeap"]["MB-heap-inuse"]
	top, err := heapTop(ctx, profile, 8)
	if err != nil {
		b.t.add("heap profile, top entries", "", "could not read: "+err.Error(), "**not measured**")
		return
	}
	b.t.add("live heap of serve (`BenchmarkServeHeap`: in-process, 1,000 rules, after 2,000 already-handled 100-alert notifications, after GC)",
		"(what the RSS is made of)", fmt.Sprintf("%.1f MB in use; top by in-use space: %s", heap, strings.Join(top, "; ")), "info")
}

// memory: idle RSS with 1,000 rules, API requests while idle, then
// already-handled notifications against the decode-only floor, with the
// RSS under that load.
func (b *bench) memory(ctx context.Context) error {
	if err := b.namespace(ctx, "am-memory"); err != nil {
		return err
	}
	p, err := b.serve("memory", "am-memory")
	if err != nil {
		return err
	}
	defer p.stop(10 * time.Second)
	if _, err := p.waitReady(ctx, time.Minute); err != nil {
		return err
	}
	if _, err := p.waitLog(ctx, logLeading, time.Minute); err != nil {
		return err
	}
	if _, err := p.waitLog(ctx, logWorkers, time.Minute); err != nil {
		return err
	}
	time.Sleep(3 * time.Second) // the figure: RSS 3 s after it leads
	idle, _ := p.rss()
	anon, file := p.rssParts()
	b.t.add("RSS idle, 1,000 rules, ready and leading, 3 s after", "< 40 MB",
		fmt.Sprintf("%s (anonymous %s, file %s)", mb(idle), mb(anon), mb(file)), verdict(idle < 40*1024))

	// Idle: no notification, but /readyz probed every 5 s, as the
	// manifests' kubelet does.
	before, err := scrapeRequests(ctx, b.cluster.Client)
	if err != nil {
		return err
	}
	probes, unready := kubelet(ctx, p.url, b.o.idle) // the figure: requests over this window
	after, err := scrapeRequests(ctx, b.cluster.Client)
	if err != nil {
		return err
	}
	work, lease, watches, own := after.since(before).split()
	idleEnd, _ := p.rss()
	expectedOwnLease := b.o.idle.Seconds() / 10
	b.t.add(fmt.Sprintf("API requests while idle for %s, `/readyz` probed every %s, beyond watches and the Lease (`apiserver_request_total`)", b.o.idle, probePeriod), "0",
		fmt.Sprintf("%.0f: %s (%d probes, %d not ready)", work.total(), work.list(1), probes, unready), verdict(work.total() == 0 && unready == 0))
	b.t.note("Idle %s: Lease requests %s (the API server renews its own identity Lease every 10 s, about %.0f of them); watches opened %s; the API server's own %s. RSS at the end of it %s.",
		b.o.idle, lease.list(1), expectedOwnLease, watches.list(1), own.list(1), mb(idleEnd))

	// Already-handled notifications: the first post records; the rest are
	// Alertmanager's re-sends.
	poster := newPoster(1)
	one := notification(alert("KubePodCrashLooping", "shop", "svc-0", t0))
	hundred := make([]template.Alert, 100)
	for i := range hundred {
		hundred[i] = alert("KubePodCrashLooping", "shop", fmt.Sprintf("svc-%d", i), t0.Add(time.Duration(i)*time.Second))
	}
	many := notification(hundred...)
	for _, body := range [][]byte{one, many} {
		if code, _ := poster.postRetrying(ctx, p.url, body); code != 200 {
			return fmt.Errorf("first post answered %d", code)
		}
	}
	if err := b.waitFinal(ctx, "am-memory", time.Minute); err != nil {
		return err
	}
	// The decode-only floor runs beside alertmedic, and the two take turns
	// (see turns): measured one after the other, the second would meet a
	// machine the first had left (alertmedic's Lease renewals, and what its
	// API server does for them, stop with it).
	floorBin := filepath.Join(b.o.dir, "floor")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", floorBin, "./test/bench/floor")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build the floor: %w\n%s", err, out)
	}
	floor, err := startProc(b.o.dir, "floor", floorBin, "-listen", "ADDR")
	if err != nil {
		return err
	}
	defer floor.stop(5 * time.Second)
	if _, err := floor.waitReady(ctx, 30*time.Second); err != nil {
		return err
	}
	p.sample()
	floor.sample()
	am1, fl1, r1, err := turns(ctx, newLoad(p.url, one, b.o.conns), newLoad(floor.url, one, b.o.conns), p, floor, b.o.load, loadRounds)
	if err != nil {
		return err
	}
	am100, fl100, r100, err := turns(ctx, newLoad(p.url, many, b.o.conns), newLoad(floor.url, many, b.o.conns), p, floor, b.o.load, loadRounds)
	if err != nil {
		return err
	}
	loaded := p.stopSampling()
	floorRSS := floor.stopSampling()
	b.t.add(fmt.Sprintf("RSS under load (peak while posting already-handled notifications from %d connections for %s)", b.o.conns, 2*b.o.load),
		"< 60 MB", fmt.Sprintf("%s (decode-only floor: %s)", mb(loaded), mb(floorRSS)), verdict(loaded < 60*1024))
	b.t.add(fmt.Sprintf("already-handled 1-alert notifications over HTTP, %d connections, vs the decode-only floor (%d turns of %s each, taking turns)", b.o.conns, loadRounds, b.o.load/loadRounds), "≥ 1.0×",
		fmt.Sprintf("%.0f vs %.0f notifications/s (%.2f×; the turns' ratios %s); the server's CPU per notification %s vs %s",
			am1.rate, fl1.rate, am1.rate/fl1.rate, spread(r1), micros(am1.cpu), micros(fl1.cpu)), verdict(am1.rate >= fl1.rate))
	b.t.add("already-handled 100-alert notifications over HTTP, the same", "≥ 1.0×",
		fmt.Sprintf("%.0f vs %.0f alerts/s (%.2f×; the turns' ratios %s); the server's CPU per notification %s vs %s",
			am100.rate*100, fl100.rate*100, am100.rate/fl100.rate, spread(r100), micros(am100.cpu), micros(fl100.cpu)), verdict(am100.rate >= fl100.rate))
	return nil
}

// retainedLabel marks the records the driver made for the records
// scenario.
const retainedLabel = "bench.alertmedic.io/retained"

// waitFinal waits for every record in ns (but those the driver made) to be
// finished, so that the
// runner's work does not share the CPU with what is measured next.
func (b *bench) waitFinal(ctx context.Context, ns string, within time.Duration) error {
	deadline := time.Now().Add(within)
	notRetained, err := labels.Parse("!" + retainedLabel)
	if err != nil {
		return err
	}
	for {
		var list v1alpha1.RemediationList
		if err := b.kube.List(ctx, &list, kube.InNamespace(ns), kube.MatchingLabelsSelector{Selector: notRetained}); err != nil {
			return err
		}
		open := 0
		for _, r := range list.Items {
			if !r.Status.Phase.Final() {
				open++
			}
		}
		if open == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d records in %s not finished within %s", open, ns, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// deployments creates n Deployments named prefix-0... in namespace ns.
func (b *bench) deployments(ctx context.Context, ns, prefix string, n int) error {
	if err := b.namespace(ctx, ns); err != nil {
		return err
	}
	for i := range n {
		name := fmt.Sprintf("%s-%d", prefix, i)
		labels := map[string]string{"app": name}
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](1),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
				},
			},
		}
		if err := b.kube.Create(ctx, d); err != nil {
			return fmt.Errorf("create deployment %s: %w", name, err)
		}
	}
	return nil
}

// recordTemplate is a finished record alertmedic wrote, cloned for the
// records scenario.
type recordTemplate struct{ v1alpha1.Remediation }

// apiCost: API requests per remediation on the happy path, from
// apiserver_request_total.
func (b *bench) apiCost(ctx context.Context) error {
	const n = 10
	work := "work-cost"
	if err := b.deployments(ctx, work, "app", n+1); err != nil {
		return err
	}
	ns := "am-cost"
	if err := b.namespace(ctx, ns); err != nil {
		return err
	}
	p, err := b.serve("cost", ns)
	if err != nil {
		return err
	}
	defer p.stop(10 * time.Second)
	if _, err := p.waitReady(ctx, time.Minute); err != nil {
		return err
	}
	if _, err := p.waitLog(ctx, logWorkers, time.Minute); err != nil {
		return err
	}
	// Opened before the window: what the driver waits on costs nothing in it.
	w, err := b.kube.Watch(ctx, &v1alpha1.RemediationList{}, kube.InNamespace(ns))
	if err != nil {
		return err
	}
	defer w.Stop()
	poster := newPoster(1)
	remediate := func(target string) (string, error) {
		if code, _ := poster.postRetrying(ctx, p.url, notification(alert("KubePodCrashLooping", work, target, time.Now()))); code != 200 {
			return "", fmt.Errorf("post answered %d", code)
		}
		r, err := waitRecord(ctx, w, func(r *v1alpha1.Remediation) bool {
			return r.Spec.Target.Name == target && r.Status.Phase.Final()
		}, 30*time.Second)
		if err != nil {
			return "", fmt.Errorf("record of %s: %w", target, err)
		}
		if r.Status.Phase == v1alpha1.PhaseSucceeded && b.template == nil {
			b.template = &recordTemplate{*r.DeepCopy()}
		}
		return string(r.Status.Phase) + "/" + r.Status.Reason, nil
	}
	// One remediation before the window: what a process asks once (API
	// discovery, the breaker's windows) is not a cost of each.
	warm, err := scrapeRequests(ctx, b.cluster.Client)
	if err != nil {
		return err
	}
	if _, err := remediate(fmt.Sprintf("app-%d", n)); err != nil {
		return err
	}
	time.Sleep(2 * time.Second) // let its trailing requests finish before counting
	before, err := scrapeRequests(ctx, b.cluster.Client)
	if err != nil {
		return err
	}
	first, _, _, _ := before.since(warm).split()
	start := time.Now()
	var phases []string
	for i := range n {
		phase, err := remediate(fmt.Sprintf("app-%d", i))
		if err != nil {
			return err
		}
		phases = append(phases, phase)
	}
	took := time.Since(start)
	after, err := scrapeRequests(ctx, b.cluster.Client)
	if err != nil {
		return err
	}
	work2, lease, watches, own := after.since(before).split()
	per := work2.total() / n
	b.t.add(fmt.Sprintf("API requests per remediation, happy path (restart → record → action → verified; %d in a row, `apiserver_request_total`)", n),
		"≤ 4, writes and reads together", fmt.Sprintf("%.1f (writes %.1f): %s", per, work2.writes()/n, work2.list(n)), verdict(per <= 4))
	b.t.note("API cost: %d remediations in %s ended %s; beyond them the window held Lease %s, watches %s, the API server's own %s. The first remediation of the process, before the window, asked %s.",
		n, took.Round(time.Millisecond), strings.Join(dedupe(phases), ", "), lease.list(1), watches.list(1), own.list(1), first.list(1))
	return nil
}

func dedupe(s []string) []string {
	seen := map[string]int{}
	var out []string
	for _, v := range s {
		if seen[v] == 0 {
			out = append(out, v)
		}
		seen[v]++
	}
	for i, v := range out {
		out[i] = fmt.Sprintf("%s ×%d", v, seen[v])
	}
	return out
}

// waitRecord reads w until a record satisfies ok.
func waitRecord(ctx context.Context, w watch.Interface, ok func(*v1alpha1.Remediation) bool, within time.Duration) (*v1alpha1.Remediation, error) {
	timeout := time.After(within)
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timeout:
			return nil, fmt.Errorf("not seen within %s", within)
		case ev, open := <-w.ResultChan():
			if !open {
				return nil, errors.New("watch ended")
			}
			if r, is := ev.Object.(*v1alpha1.Remediation); is && ok(r) {
				return r, nil
			}
		}
	}
}

// failover: two replicas; the leader is killed (SIGKILL), an alert is
// posted to the other at once (its record waits for a leader), and the
// clock runs until the other replica's restart patch is seen.
func (b *bench) failover(ctx context.Context) error {
	for _, s := range []struct {
		name                string
		lease, renew, retry string
	}{
		{name: "default", lease: "15s", renew: "10s", retry: "2s"},
		{name: "fast", lease: b.o.fastLease[0], renew: b.o.fastLease[1], retry: b.o.fastLease[2]},
	} {
		lease, err := time.ParseDuration(s.lease)
		if err != nil {
			return err
		}
		retry, err := time.ParseDuration(s.retry)
		if err != nil {
			return err
		}
		figure := fmt.Sprintf("failover, Lease %s / renew %s / retry %s: leader SIGKILLed to the other replica's patch of waiting work (%d kills)", s.lease, s.renew, s.retry, b.o.failovers)
		target := fmt.Sprintf("≤ %s (Lease + 2 s)", lease+2*time.Second)
		var took []string
		var worst time.Duration
		for i := range b.o.failovers {
			d, err := b.failoverOnce(ctx, fmt.Sprintf("%s-%d", s.name, i), s.lease, s.renew, s.retry)
			if err != nil {
				return fmt.Errorf("failover %s: %w", s.name, err)
			}
			took = append(took, d.Round(10*time.Millisecond).String())
			worst = max(worst, d)
		}
		// The standby watches the Lease and takes it over a Lease
		// duration after the last renewal it saw, which was sent before
		// the kill and at most a retry period before it: between
		// Lease - retry and Lease after the kill, plus the watch's
		// delivery, the takeover's write and the first reconcile.
		b.t.add(figure, target, fmt.Sprintf("%s (the takeover itself: %s to %s after the kill)", strings.Join(took, ", "), lease-retry, lease),
			verdict(worst <= lease+2*time.Second))
	}
	return nil
}

func (b *bench) failoverOnce(ctx context.Context, name, lease, renew, retry string) (time.Duration, error) {
	work, ns := "work-fo-"+name, "am-fo-"+name
	if err := b.deployments(ctx, work, "app", 1); err != nil {
		return 0, err
	}
	if err := b.namespace(ctx, ns); err != nil {
		return 0, err
	}
	flags := []string{"--leader-elect-lease-duration", lease, "--leader-elect-renew-deadline", renew, "--leader-elect-retry-period", retry}
	a, err := b.serve("fo-"+name+"-a", ns, flags...)
	if err != nil {
		return 0, err
	}
	defer a.stop(5 * time.Second)
	if _, err := a.waitLog(ctx, logLeading, time.Minute); err != nil {
		return 0, err
	}
	c, err := b.serve("fo-"+name+"-b", ns, flags...)
	if err != nil {
		return 0, err
	}
	defer c.stop(5 * time.Second)
	if _, err := c.waitReady(ctx, time.Minute); err != nil {
		return 0, err
	}
	// The standby has seen the Lease held (it watches it).
	d, _ := time.ParseDuration(retry)
	time.Sleep(2 * d)
	w, err := b.cluster.Client.AppsV1().Deployments(work).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, err
	}
	defer w.Stop()
	killed := time.Now()
	a.kill()
	if code, _ := newPoster(1).postRetrying(ctx, c.url, notification(alert("KubePodCrashLooping", work, "app-0", time.Now()))); code != 200 {
		return 0, fmt.Errorf("post to the standby answered %d", code)
	}
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-timeout:
			return 0, fmt.Errorf("no patch within 2m of the kill; see %s", c.logPath)
		case ev, open := <-w.ResultChan():
			if !open {
				return 0, errors.New("watch ended")
			}
			if dep, ok := ev.Object.(*appsv1.Deployment); ok && ev.Type == watch.Modified &&
				dep.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] != "" {
				return time.Since(killed), nil
			}
		}
	}
}

// manyRecords: startup, RSS and ingest with 0 and more retained records.
func (b *bench) manyRecords(ctx context.Context) error {
	if b.template == nil {
		return errors.New("no finished record to clone: the apicost scenario makes it (run it too)")
	}
	ns := "am-records"
	if err := b.namespace(ctx, ns); err != nil {
		return err
	}
	if err := b.deployments(ctx, "work-records", "app", 0); err != nil {
		return err
	}
	have := 0
	counts := append([]int{0}, b.o.records...)
	for i, n := range counts {
		if n > have {
			start := time.Now()
			tmpl := b.template.Remediation.DeepCopy()
			if b.o.slack {
				tmpl.Status.Slack = slackPosted()
			}
			if !b.o.cached {
				archived(tmpl)
			}
			if err := putRecords(ctx, b.cluster.EtcdURL(), tmpl, ns, have, n); err != nil {
				return err
			}
			if err := b.waitRecords(ctx, ns, n); err != nil {
				return err
			}
			b.log.Info("records created", "count", n-have, "took", time.Since(start).Round(time.Millisecond))
			have = n
		}
		if err := b.recordsOnce(ctx, ns, n, i); err != nil {
			return fmt.Errorf("with %d records: %w", n, err)
		}
	}
	return nil
}

// archived makes rec a record as the leader leaves it once archived: it
// acted seven and a half days ago, its alert resolved then, and it waits
// half a day more for the end of its retention (8 days).
func archived(rec *v1alpha1.Remediation) {
	at := metav1.NewTime(time.Now().Add(-(7*24 + 12) * time.Hour).Truncate(time.Second))
	rec.CreationTimestamp = at
	rec.Status.StartedAt, rec.Status.FinishedAt, rec.Status.AlertResolvedAt = &at, &at, &at
	if rec.Labels == nil {
		rec.Labels = map[string]string{}
	}
	if rec.Annotations == nil {
		rec.Annotations = map[string]string{}
	}
	rec.Labels[v1alpha1.LabelArchived] = "true"
	rec.Annotations[v1alpha1.AnnotationRetainedFrom] = at.UTC().Format(time.RFC3339Nano)
}

// waitRecords returns once the API server's watch cache holds the last of
// n records putRecords wrote to ns into etcd: until then the API server is
// still decoding them, which is not alertmedic's start-up (a list with
// resourceVersion 0 is served from that cache).
func (b *bench) waitRecords(ctx context.Context, ns string, n int) error {
	name := retainedName(n - 1)
	deadline := time.Now().Add(5 * time.Minute)
	for {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("RemediationList"))
		err := b.kube.List(ctx, list, kube.InNamespace(ns), kube.MatchingFields{"metadata.name": name},
			&kube.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: "0"}})
		if err == nil && len(list.Items) == 1 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the API server's cache does not hold record %s written to etcd (%v)", name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// recordsFigures are what the records scenario measures with one count.
type recordsFigures struct {
	workers         time.Duration
	idle, loaded    float64 // KB
	newRate, resend float64 // alerts/s
}

func (b *bench) recordsOnce(ctx context.Context, ns string, records, round int) error {
	before, err := scrapeRequests(ctx, b.cluster.Client)
	if err != nil {
		return err
	}
	// A replica retaining this many records is configured to: with the
	// default --max-records (20,000), a sweep during the round would
	// delete the records beyond it.
	p, err := b.serve(fmt.Sprintf("records-%d", records), ns, "--kube-api-qps", "1000", "--kube-api-burst", "1000",
		"--max-records", strconv.Itoa(max(20000, 2*records)))
	if err != nil {
		return err
	}
	defer p.stop(10 * time.Second)
	ready, err := p.waitReady(ctx, 2*time.Minute)
	if err != nil {
		return err
	}
	leading, err := p.waitLog(ctx, logLeading, 2*time.Minute)
	if err != nil {
		return err
	}
	workers, err := p.waitLog(ctx, logWorkers, 2*time.Minute)
	if err != nil {
		return err
	}
	// Idle is once the leader's start-up work is done: the index of the
	// archived records is listed after the workers start.
	indexed, err := p.waitLog(ctx, logIndexed, 2*time.Minute)
	if err != nil {
		return err
	}
	time.Sleep(3 * time.Second)
	idle, _ := p.rss()
	startup, _ := scrapeRequests(ctx, b.cluster.Client)
	// New episodes: 5 notifications of 100 alerts, each recorded.
	poster := newPoster(1)
	start := time.Now()
	for k := range 5 {
		alerts := make([]template.Alert, 100)
		for i := range alerts {
			alerts[i] = alert("KubePodCrashLooping", "work-records", fmt.Sprintf("app-%d", i), t0,
				"run", fmt.Sprintf("%d-%d", round, k))
		}
		if code, _ := poster.postRetrying(ctx, p.url, notification(alerts...)); code != 200 {
			return fmt.Errorf("post answered %d", code)
		}
	}
	newRate := 500 / time.Since(start).Seconds()
	hundred := make([]template.Alert, 100)
	for i := range hundred {
		hundred[i] = alert("KubePodCrashLooping", "work-records", fmt.Sprintf("app-%d", i), t0, "run", fmt.Sprintf("%d-0", round))
	}
	p.sample()
	resend, err := hammer(ctx, p.url, notification(hundred...), b.o.conns, b.o.load/2)
	if err != nil {
		return err
	}
	loaded := p.stopSampling()
	// The next round's start-up must not find this one's work.
	if err := b.waitFinal(ctx, ns, 2*time.Minute); err != nil {
		return err
	}
	during := startup.since(before)
	work, _, _, _ := during.split()
	m := recordsFigures{workers: workers.Sub(p.started), idle: idle, loaded: loaded, newRate: newRate, resend: resend * 100}
	if records == 0 {
		b.zero = m
	}
	z := b.zero
	startupOK := m.workers <= 2*z.workers+time.Second
	rssOK := m.idle <= z.idle+10*1024 && m.loaded <= z.loaded+10*1024
	ingestOK := m.newRate >= 0.67*z.newRate && m.resend >= 0.67*z.resend
	judge := func(ok bool) string {
		if records == 0 {
			return "(the reference)"
		}
		return verdict(ok)
	}
	what := fmt.Sprintf("%d retained records", records)
	switch {
	case records == 0:
	case b.o.cached:
		what += " (cached: acted within the week)"
	default:
		what += " (archived)"
	}
	if b.o.slack && records > 0 {
		what += " (each with a Slack message)"
	}
	b.t.add(what+": start to ready / leading / workers started (records cached)",
		"unchanged from 0 records",
		fmt.Sprintf("%s / %s / %s", ready.Sub(p.started).Round(time.Millisecond), leading.Sub(p.started).Round(time.Millisecond),
			m.workers.Round(time.Millisecond)), judge(startupOK))
	b.t.add(what+": RSS idle / under ingest", "unchanged from 0 records",
		fmt.Sprintf("%s / %s", mb(idle), mb(loaded)), judge(rssOK))
	b.t.add(what+": ingest of new alerts (500, each recorded; --kube-api-qps 1000) / of already-handled 100-alert re-sends",
		"unchanged from 0 records", fmt.Sprintf("%.0f / %.0f alerts/s", newRate, resend*100), judge(ingestOK))
	b.t.note("%s: archived records indexed %s after start; requests from start until 3 s after that, beyond watches and the Lease: %s",
		what, indexed.Sub(p.started).Round(time.Millisecond), work.list(1))
	return nil
}

// stormNotification is the k-th notification of a storm: per distinct
// pod alerts of Deployments app-0 to app-(targets-1) in namespace work,
// firing since now (a storm's episodes start about when their first
// notification is sent).
func stormNotification(k, per int, work string, targets int) []byte {
	alerts := make([]template.Alert, per)
	firing := time.Now()
	for i := range alerts {
		n := k*per + i
		alerts[i] = alert("KubePodCrashLooping", work, fmt.Sprintf("app-%d", n%targets), firing,
			"instance", fmt.Sprintf("10.%d.%d.%d:8080", n>>16, (n>>8)&255, n&255))
	}
	return notification(alerts...)
}

// storm: distinct alerts in notifications of 100, posted as Alertmanager
// does (8 at a time, 5xx retried), breaker at its default; what it writes.
func (b *bench) storm(ctx context.Context) error {
	const per, senders, targets = 100, 8, 100
	work, ns := "work-storm", "am-storm"
	if err := b.deployments(ctx, work, "app", targets); err != nil {
		return err
	}
	if err := b.namespace(ctx, ns); err != nil {
		return err
	}
	p, err := b.serve("storm", ns)
	if err != nil {
		return err
	}
	defer p.stop(5 * time.Second)
	if _, err := p.waitReady(ctx, time.Minute); err != nil {
		return err
	}
	if _, err := p.waitLog(ctx, logWorkers, time.Minute); err != nil {
		return err
	}
	before, err := scrapeRequests(ctx, b.cluster.Client)
	if err != nil {
		return err
	}
	notifications := b.o.stormAlerts / per
	next := make(chan int)
	var accepted, posts atomic.Int64
	sendCtx, cancel := context.WithTimeout(ctx, b.o.stormBudget)
	defer cancel()
	start := time.Now()
	var last atomic.Int64
	var wg sync.WaitGroup
	poster := newPoster(senders)
	for range senders {
		wg.Go(func() {
			for k := range next {
				code, attempts := poster.postRetrying(sendCtx, p.url, stormNotification(k, per, work, targets))
				posts.Add(int64(attempts))
				if code == 200 {
					accepted.Add(per)
					last.Store(int64(time.Since(start)))
				}
			}
		})
	}
	p.sample()
	for k := range notifications {
		select {
		case next <- k:
			continue
		case <-sendCtx.Done():
		}
		break
	}
	close(next)
	wg.Wait()
	wall := time.Since(start)
	sampled := p.stopSampling()
	time.Sleep(5 * time.Second) // what the storm set going, counted too
	after, err := scrapeRequests(ctx, b.cluster.Client)
	if err != nil {
		return err
	}
	_, hwm := p.rss()
	d := after.since(before)
	work2, lease, _, _ := d.split()
	var records int
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("RemediationList"))
	for cont := ""; ; {
		if err := b.kube.List(ctx, list, kube.InNamespace(ns), kube.Limit(5000), kube.Continue(cont)); err != nil {
			return err
		}
		records += len(list.Items)
		if cont = list.Continue; cont == "" {
			break
		}
	}
	created := requests{}
	for k, v := range work2 {
		if strings.HasPrefix(k, "POST ") {
			created[k] = v
		}
	}
	complete := accepted.Load() == int64(b.o.stormAlerts)
	status := fmt.Sprintf("all %d accepted in %s", b.o.stormAlerts, time.Duration(last.Load()).Round(time.Millisecond))
	if !complete {
		status = fmt.Sprintf("%d of %d accepted within the %s budget (posting stopped)", accepted.Load(), b.o.stormAlerts, b.o.stormBudget)
	}
	b.t.add(fmt.Sprintf("storm: %d distinct alerts in %d-alert notifications, %d senders, breaker at its default: objects written to etcd", b.o.stormAlerts, per, senders),
		"bounded (not one per alert)",
		fmt.Sprintf("%d Remediation records; creates %s; updates %.0f; %s", records, created.list(1), work2.writes()-created.total(), status),
		verdict(complete && float64(records) < float64(b.o.stormAlerts)/10))
	b.t.add("storm: API requests, wall time, peak RSS", "(reported)",
		fmt.Sprintf("%.0f requests beyond watches and Lease (%.0f writes), Lease %.0f; %s of posting (%d posts for %d notifications); peak RSS %s (sampled %s)",
			work2.total(), work2.writes(), lease.total(), wall.Round(time.Millisecond), posts.Load(), notifications, mb(hwm), mb(sampled)), "info")
	b.t.note("Storm requests by verb: %s", work2.list(1))
	return nil
}
