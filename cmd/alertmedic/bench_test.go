package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine"
	"github.com/alertmedic/alertmedic/engine/ingest"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/rules"
	"github.com/alertmedic/alertmedic/webhook"
)

// rulesText is n rules; the first matches KubePodCrashLooping when
// matching is true, none of the others matches anything sent here.
func rulesText(n int, matching bool) string {
	var b strings.Builder
	b.WriteString("rules:\n")
	for i := range n {
		alertname := fmt.Sprintf("Other%d", i)
		if i == 0 && matching {
			alertname = "KubePodCrashLooping"
		}
		fmt.Fprintf(&b, `  - name: rule-%d
    match: ['alertname="%s"', 'severity="critical"']
    target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.deployment }}'}
    action: restart
    verify: {rollout: false} # this cluster runs no controllers: no rollout to see converge
`, i, alertname)
	}
	return b.String()
}

// payload is a notification of 100 firing alerts with the labels of
// typical kube-state-metrics alerts.
func payload(b testing.TB, ns string) []byte { return payloadN(b, ns, 100) }

// payloadN is the same with n alerts.
func payloadN(b testing.TB, ns string, n int) []byte {
	var alerts []template.Alert
	for i := range n {
		a := crashLooping(ns, fmt.Sprintf("svc-%d", i), t0.Add(time.Duration(i)*time.Second))
		for k, v := range map[string]string{"severity": "critical", "pod": fmt.Sprintf("svc-%d-7d9f8b6c5-x2x4q", i),
			"container": "app", "job": "kube-state-metrics", "instance": "10.0.0.1:8080", "cluster": "prod-eu-1"} {
			a.Labels[k] = v
		}
		alerts = append(alerts, a)
	}
	return notification(b, `{}/{severity="critical"}:{alertname="KubePodCrashLooping"}`, alerts...)
}

// ingestServer is the webhook in front of an engine with the given rules,
// as serve builds it.
func ingestServer(b *testing.B, text string) http.Handler {
	b.Helper()
	set, err := rules.Parse("bench.yaml", []byte(text))
	if err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	eng := ingest.New(ingest.Options{Client: cluster.Records, Namespace: recordsNamespace(b), Rules: set,
		Busy: webhook.ErrBusy, Metrics: engine.NewMetrics(reg)})
	srv, err := webhook.NewServer(webhook.Options{Sink: eng, BearerToken: "t", Gatherer: reg, Registerer: reg,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	return srv
}

func benchIngest(b *testing.B, h http.Handler, body []byte, alerts int) {
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	rd := bytes.NewReader(nil)
	post := func() {
		rd.Reset(body)
		r := httptest.NewRequest(http.MethodPost, "/webhook", rd)
		r.ContentLength = int64(len(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer t")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("answer %d: %s", w.Code, w.Body)
		}
	}
	post() // the first delivery records what matches; what follows is re-sends
	b.ResetTimer()
	for b.Loop() {
		post()
	}
	b.ReportMetric(float64(b.N)*float64(alerts)/b.Elapsed().Seconds(), "alerts/s")
}

// BenchmarkIngest1000RulesNoMatch: a 100-alert notification through the
// whole webhook and engine with 1,000 rules loaded, none matching. Compare
// with webhook's BenchmarkBareDecode100 (docs/performance.md).
func BenchmarkIngest1000RulesNoMatch(b *testing.B) {
	benchIngest(b, ingestServer(b, rulesText(1000, false)), payload(b, "shop"), 100)
}

// BenchmarkIngest1000RulesNoMatch1: the same with a one-alert notification.
// Compare with webhook's BenchmarkBareDecode1.
func BenchmarkIngest1000RulesNoMatch1(b *testing.B) {
	benchIngest(b, ingestServer(b, rulesText(1000, false)), payloadN(b, "shop", 1), 1)
}

// BenchmarkIngest1000RulesAllHandled: the same, every alert matching a rule
// and its episode already recorded (Alertmanager re-sending the group).
func BenchmarkIngest1000RulesAllHandled(b *testing.B) {
	benchIngest(b, ingestServer(b, rulesText(1000, true)), payload(b, "shop"), 100)
}

// BenchmarkIngest1000RulesAllHandled1: a one-alert notification whose
// episode is already recorded, Alertmanager's commonest traffic (a re-send
// every repeat_interval, a duplicate from its HA peer). Compare with
// webhook's BenchmarkBareDecode1.
func BenchmarkIngest1000RulesAllHandled1(b *testing.B) {
	benchIngest(b, ingestServer(b, rulesText(1000, true)), payloadN(b, "shop", 1), 1)
}

// BenchmarkBareDecode1 is the floor of the one-alert benchmarks above, on
// their very payload: a plain handler that only decodes it into
// webhook.Message with encoding/json.
func BenchmarkBareDecode1(b *testing.B) {
	benchIngest(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg webhook.Message
		if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	}), payloadN(b, "shop", 1), 1)
}

// BenchmarkAlertToPatch: from posting a one-alert notification to an
// alertmedic serving on a local API server, to the restart's patch seen on
// a watch of the Deployment. Reports the median and the 99th percentile.
func BenchmarkAlertToPatch(b *testing.B) {
	// Back to back, the iterations would otherwise measure the client-side
	// rate limit (--kube-api-qps) instead of the latency.
	s := startServe(b, kubeconfig(b), "--rules", restartRules(b, ""), "--breaker-max", "-1", "--log.level", "warn",
		"--kube-api-qps", "1000", "--kube-api-burst", "1000")
	waitFor(b, "leadership", func() bool { return metricValue(b, s, "alertmedic_leader") == "1" })
	n := b.N
	work := deployments(b, n)
	w, err := cluster.Client.AppsV1().Deployments(work).Watch(b.Context(), metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	// restarted waits for the Deployment's change: alertmedic's restart
	// (mark ""), or the floor's patch carrying its mark.
	restarted := func(name, mark string) {
		for ev := range w.ResultChan() {
			if ev.Type != watch.Modified {
				continue
			}
			d, ok := ev.Object.(*appsv1.Deployment)
			if !ok || d.Name != name {
				continue
			}
			if d.Spec.Template.Annotations["floor"] == mark {
				return
			}
		}
		b.Fatal("watch ended")
	}
	bodies := make([][]byte, n)
	for i := range n {
		bodies[i] = notification(b, "{}:{}", crashLooping(work, fmt.Sprintf("app-%d", i), t0))
	}
	seen := watchRecords(b, recordsNamespace(b))
	before := serverLatency(b)
	lat := make([]time.Duration, 0, n)
	starts, ends := make([]time.Time, n), make([]time.Time, n)
	var fl *floor
	// alertmedic's path and the floor's take turns, on the same Deployment,
	// so that both see the same machine: on two cores shared with the API
	// server and etcd, a p99 is where stalls line up, and two runs one
	// after the other did not see the same ones. Each overlaps the other's
	// trailing writes (the Event and the outcome), as a run of one alone
	// would overlap its own.
	b.ResetTimer()
	for i := range n {
		name := fmt.Sprintf("app-%d", i)
		start := time.Now()
		mustPost(b, s, bodies[i])
		restarted(name, "")
		lat = append(lat, time.Since(start))
		starts[i], ends[i] = start, time.Now()
		if fl == nil {
			fl = newFloor(b, work, restarted)
			defer fl.trailing.Wait()
		}
		fl.once(i, name)
	}
	b.StopTimer()
	reportLatency(b, lat, "")
	reportLatency(b, fl.lat, "floor-")
	lo, hi := p99DiffInterval(lat, fl.lat)
	b.ReportMetric(lo, "p99-diff-lo-ms")
	b.ReportMetric(hi, "p99-diff-hi-ms")
	// Where the time goes, as a watch of the records sees it: posted to
	// the record's creation seen (the webhook, the create, the watch), to
	// its Running write seen (the leader's watch, queue and policy, the
	// write), to the patch seen (the target's GET, the patch, the watch).
	if seen != nil {
		seen.mu.Lock()
		defer seen.mu.Unlock()
		var toCreated, toRunning, toPatched []time.Duration
		for i := range n {
			name := fmt.Sprintf("app-%d", i)
			c, r := seen.created[name], seen.running[name]
			if c.IsZero() || r.IsZero() {
				continue
			}
			toCreated = append(toCreated, c.Sub(starts[i]))
			toRunning = append(toRunning, r.Sub(c))
			toPatched = append(toPatched, ends[i].Sub(r))
		}
		if len(toCreated) > 0 {
			reportLatency(b, toCreated, "to-created-")
			reportLatency(b, toRunning, "created-to-running-")
			reportLatency(b, toPatched, "running-to-patched-")
		}
	}
	srv := serverLatency(b).since(before)
	for _, r := range []struct{ name, verb, resource string }{
		{"srv-create-record-ms", "POST", "remediations"},
		{"srv-running-ms", "PUT", "remediations/status"},
		{"srv-get-target-ms", "GET", "deployments"},
		{"srv-patch-ms", "PATCH", "deployments"},
	} {
		b.ReportMetric(srv.mean(r.verb, r.resource), r.name)
	}
}

// floor is BenchmarkAlertToPatch's floor: the requests of a restart's
// path made directly, one after another, on the same kinds of objects,
// seen the same way. For a Deployment: create a record like those
// alertmedic wrote (the same spec, in the Deployments' namespace, where no
// alertmedic runs), read the Deployment, mark the record Running, patch
// the Deployment, and wait for the patch on the same watch; then, as
// alertmedic does after the patch, record an Event and the outcome,
// overlapping what comes next.
type floor struct {
	b         *testing.B
	work      string
	restarted func(name, mark string)
	tmpl      v1alpha1.Remediation
	lat       []time.Duration
	trailing  sync.WaitGroup
}

// newFloor copies the first record alertmedic wrote.
func newFloor(b *testing.B, work string, restarted func(name, mark string)) *floor {
	var done v1alpha1.RemediationList
	if err := cluster.Records.List(b.Context(), &done, kube.InNamespace(recordsNamespace(b))); err != nil || len(done.Items) == 0 {
		b.Fatalf("no record to copy for the floor: %v", err)
	}
	return &floor{b: b, work: work, restarted: restarted, tmpl: done.Items[0], lat: make([]time.Duration, 0, b.N)}
}

// once runs the floor's path for the i-th Deployment, name.
func (f *floor) once(i int, name string) {
	b, ctx, work, tmpl := f.b, f.b.Context(), f.work, &f.tmpl
	start := time.Now()
	rec := &v1alpha1.Remediation{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("floor-%d", i), Namespace: work,
		Labels: tmpl.Labels, Annotations: tmpl.Annotations}, Spec: *tmpl.Spec.DeepCopy()}
	rec.Spec.Target.Name, rec.Spec.TargetRef = name, "Deployment/"+work+"/"+name
	if err := cluster.Records.Create(ctx, rec); err != nil {
		b.Fatal(err)
	}
	d, err := cluster.Client.AppsV1().Deployments(work).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		b.Fatal(err)
	}
	now := metav1.Now()
	value := now.UTC().Format(time.RFC3339)
	rec.Status = v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseRunning, StartedAt: &now, ExecutedBy: "floor", Attempts: 1,
		Write: &v1alpha1.Write{UID: string(d.UID), Generation: d.Generation, RestartedAt: value, Before: "restartedAt=never", After: "restartedAt=" + value, Attempt: 1}}
	if err := cluster.Records.Status().Update(ctx, rec); err != nil {
		b.Fatal(err)
	}
	mark := strconv.Itoa(i)
	patch := []byte(`{"metadata":{"resourceVersion":"` + d.ResourceVersion + `"},"spec":{"template":{"metadata":{"annotations":{"floor":"` + mark + `"}}}}}`)
	if _, err := cluster.Client.AppsV1().Deployments(work).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		b.Fatal(err)
	}
	f.restarted(name, mark)
	f.lat = append(f.lat, time.Since(start))
	f.trailing.Go(func() {
		ev := &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s.floor%d", name, i), Namespace: work},
			EventTime: metav1.NowMicro(), ReportingController: "floor", ReportingInstance: "floor", Action: "Restart", Reason: "Restarted",
			Regarding: corev1.ObjectReference{Kind: "Deployment", APIVersion: "apps/v1", Namespace: work, Name: name, UID: d.UID},
			Note:      "floor", Type: corev1.EventTypeNormal}
		if _, err := cluster.Client.EventsV1().Events(work).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
			b.Error(err)
		}
		fin := metav1.Now()
		rec.Status.Phase, rec.Status.Reason, rec.Status.FinishedAt, rec.Status.Write = v1alpha1.PhaseSucceeded, "Restarted", &fin, nil
		rec.Status.Result = &v1alpha1.ActionResult{Outcome: "Succeeded", Reason: "Restarted", Before: "restartedAt=never", After: "restartedAt=" + value}
		if err := cluster.Records.Status().Update(ctx, rec); err != nil {
			b.Error(err)
		}
	})
}

// p99DiffInterval is a 90% bootstrap interval, in ms, of the difference
// between the 99th percentiles of a and of floor: how far the one
// difference measured could be from the machine's, given how many samples
// made it (2,000 resamples of each, drawn with a fixed seed).
func p99DiffInterval(a, floor []time.Duration) (lo, hi float64) {
	rng := rand.New(rand.NewPCG(1, 2))
	p99 := func(from, buf []time.Duration) time.Duration {
		for i := range buf {
			buf[i] = from[rng.IntN(len(from))]
		}
		slices.Sort(buf)
		return buf[(len(buf)*99)/100]
	}
	bufA, bufF := make([]time.Duration, len(a)), make([]time.Duration, len(floor))
	diffs := make([]time.Duration, 2000)
	for i := range diffs {
		diffs[i] = p99(a, bufA) - p99(floor, bufF)
	}
	slices.Sort(diffs)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return ms(diffs[len(diffs)*5/100]), ms(diffs[len(diffs)*95/100])
}

func reportLatency(b *testing.B, lat []time.Duration, prefix string) {
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, prefix+"p50-ms")
	b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, prefix+"p99-ms")
}

// BenchmarkIdleRSS: the resident memory of the alertmedic binary serving
// 1,000 rules, idle, after it is ready and leading.
func BenchmarkIdleRSS(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "alertmedic")
	if out, err := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	rulesFile := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesFile, []byte(rulesText(1000, true)), 0o600); err != nil {
		b.Fatal(err)
	}
	addr := freePort(b)
	cmd := exec.Command(bin, "serve", "--listen", addr, "--rules", rulesFile, "--kubeconfig", kubeconfig(b),
		"--insecure-no-auth", "--namespace", recordsNamespace(b), "--log.level", "warn")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	s := &serving{url: "http://" + addr}
	waitFor(b, "ready and leading", func() bool {
		resp, err := http.Get(s.url + "/metrics")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return metricValue(b, s, "alertmedic_leader") == "1"
	})
	idle := time.Now().Add(3 * time.Second)
	waitFor(b, "3s of idleness", func() bool { return time.Now().After(idle) })
	var kb float64
	for b.Loop() {
		kb = vmRSS(b, cmd.Process.Pid)
	}
	b.ReportMetric(kb/1024, "MB-rss")
}

func vmRSS(b testing.TB, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// BenchmarkServeHeap: the live heap of serve, run in this process as the
// binary runs it, with 1,000 rules, ready and leading, after 2,000
// already-handled 100-alert notifications and a GC. With
// ALERTMEDIC_HEAP_PROFILE set, it writes the heap profile (inuse) to that
// path; make bench prints its top entries. The profile holds this test
// process's own small heap too (the test cluster's clients).
func BenchmarkServeHeap(b *testing.B) {
	rulesFile := filepath.Join(b.TempDir(), "rules.yaml")
	if err := os.WriteFile(rulesFile, []byte(rulesText(1000, true)), 0o600); err != nil {
		b.Fatal(err)
	}
	s := startServe(b, kubeconfig(b), "--rules", rulesFile, "--log.level", "warn")
	waitFor(b, "leadership", func() bool { return metricValue(b, s, "alertmedic_leader") == "1" })
	body := payload(b, "shop")
	for range 2000 {
		mustPost(b, s, body)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	writeHeapProfile(b)
	for b.Loop() {
		runtime.KeepAlive(s)
	}
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "MB-heap-inuse")
}

// recordTimes are when a watch saw each target's record created and
// marked Running, by target name.
type recordTimes struct {
	mu               sync.Mutex
	created, running map[string]time.Time
}

// watchRecords watches the records of ns until the benchmark ends.
func watchRecords(b *testing.B, ns string) *recordTimes {
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		b.Fatal(err)
	}
	w, err := dyn.Resource(v1alpha1.GroupVersion.WithResource("remediations")).Namespace(ns).Watch(b.Context(), metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(w.Stop)
	rt := &recordTimes{created: map[string]time.Time{}, running: map[string]time.Time{}}
	go func() {
		for ev := range w.ResultChan() {
			at := time.Now()
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			target, _, _ := unstructured.NestedString(u.Object, "spec", "target", "name")
			phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
			rt.mu.Lock()
			if _, ok := rt.created[target]; !ok && ev.Type == watch.Added {
				rt.created[target] = at
			}
			if _, ok := rt.running[target]; !ok && phase == string(v1alpha1.PhaseRunning) {
				rt.running[target] = at
			}
			rt.mu.Unlock()
		}
	}()
	return rt
}

// writeHeapProfile writes the heap profile to $ALERTMEDIC_HEAP_PROFILE, if
// set.
func writeHeapProfile(b *testing.B) {
	path := os.Getenv("ALERTMEDIC_HEAP_PROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// The interval holds the difference of two samples' p99s: around 0 for
// the same distribution, around the shift for one shifted, and not 0.
func TestP99DiffInterval(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	sample := func(shift time.Duration) []time.Duration {
		s := make([]time.Duration, 1800)
		for i := range s {
			s[i] = 15*time.Millisecond + time.Duration(rng.ExpFloat64()*float64(5*time.Millisecond)) + shift
		}
		return s
	}
	if lo, hi := p99DiffInterval(sample(0), sample(0)); lo > 0 || hi < 0 || hi-lo > 15 {
		t.Errorf("the same distribution: interval %.1f to %.1f ms, want one around 0", lo, hi)
	}
	if lo, hi := p99DiffInterval(sample(10*time.Millisecond), sample(0)); lo > 10 || hi < 10 || lo <= 0 {
		t.Errorf("shifted by 10 ms: interval %.1f to %.1f ms, want one around 10 and above 0", lo, hi)
	}
}
