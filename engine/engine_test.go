package engine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	amwebhook "github.com/prometheus/alertmanager/notify/webhook"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/alertmedic/alertmedic/remediations"
	"github.com/alertmedic/alertmedic/rules"
)

const testRules = `
rules:
  - name: restart-crashlooping
    match: ['alertname="KubePodCrashLooping"']
    target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.deployment }}'}
    action: restart
  - name: scale-latency
    match: ['alertname="LatencyHigh"']
    target: {kind: StatefulSet, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.statefulset }}'}
    action: scale
    scale: {replicas: "+2", max: 10}
  - name: rollback-needs-approval
    match: ['alertname="ErrorBudgetBurn"']
    target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.deployment }}'}
    action: rollback
    approval: {required: true, channel: C1, approvers: {users: [U1]}}
`

// recorder is an Executor that records requests; it can block until released.
type recorder struct {
	mu      sync.Mutex
	reqs    []remediations.Request
	gate    chan struct{} // nil: never blocks
	failN   int           // fail this many calls with a transient error first
	started chan struct{}
}

func (r *recorder) Execute(ctx context.Context, req remediations.Request) (remediations.Result, error) {
	if r.started != nil {
		r.started <- struct{}{}
	}
	if r.gate != nil {
		<-r.gate
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failN > 0 {
		r.failN--
		return remediations.Result{Outcome: remediations.Failed},
			apierrors.NewServiceUnavailable("apiserver restarting")
	}
	r.reqs = append(r.reqs, req)
	return remediations.Result{Outcome: remediations.Succeeded, Reason: "Done"}, nil
}

func (r *recorder) requests() []remediations.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]remediations.Request(nil), r.reqs...)
}

func mustRules(t *testing.T) *rules.Set {
	t.Helper()
	set, err := rules.Parse("test.yaml", []byte(testRules))
	if err != nil {
		t.Fatalf("parse rules: %v", err)
	}
	return set
}

func alert(status, name string, labels map[string]string, startsAt time.Time) template.Alert {
	kv := template.KV{"alertname": name}
	for k, v := range labels {
		kv[k] = v
	}
	ls := model.LabelSet{}
	for k, v := range kv {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return template.Alert{Status: status, Labels: kv, StartsAt: startsAt, Fingerprint: ls.Fingerprint().String()}
}

func message(alerts ...template.Alert) *amwebhook.Message {
	return &amwebhook.Message{Version: "4", GroupKey: "{}:{}", Data: &template.Data{Status: "firing", Alerts: alerts}}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func start(t *testing.T, opts Options) (*Engine, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.Metrics = NewMetrics(reg)
	if opts.Rules == nil {
		opts.Rules = mustRules(t)
	}
	e := New(opts)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer scancel()
		_ = e.Shutdown(sctx)
		cancel()
		<-done
	})
	return e, reg
}

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func TestAcceptPlansOneRequestPerMatch(t *testing.T) {
	rec := &recorder{}
	e, reg := start(t, Options{Executor: rec})
	msg := message(
		alert("firing", "KubePodCrashLooping", map[string]string{"namespace": "shop", "deployment": "cart"}, t0),
		alert("firing", "LatencyHigh", map[string]string{"namespace": "db", "statefulset": "pg"}, t0),
		alert("firing", "Unrelated", nil, t0),
	)
	if err := e.Accept(t.Context(), msg); err != nil {
		t.Fatalf("Accept: %v", err)
	}
	waitFor(t, "two executions", func() bool { return len(rec.requests()) == 2 && e.Idle() })
	got := map[string]remediations.Request{}
	for _, r := range rec.requests() {
		got[r.Rule] = r
	}
	restart := got["restart-crashlooping"]
	if restart.Action != remediations.ActionRestart || restart.Target != (remediations.Target{Kind: "Deployment", Namespace: "shop", Name: "cart"}) || restart.AlertName != "KubePodCrashLooping" {
		t.Errorf("restart request = %+v", restart)
	}
	scale := got["scale-latency"]
	if scale.Action != remediations.ActionScale || scale.Scale != (remediations.ScaleSpec{Op: remediations.ScaleBy, N: 2, Max: 10}) || scale.Target.Kind != "StatefulSet" {
		t.Errorf("scale request = %+v", scale)
	}
	if n := testutil.ToFloat64(e.opts.Metrics.decisions.WithLabelValues(DecisionNoMatch)); n != 1 {
		t.Errorf("no_match decisions = %v, want 1", n)
	}
	if n, err := testutil.GatherAndCount(reg, "alertmedic_alerts_matched_total"); err != nil || n != 2 {
		t.Errorf("matched series = %d (%v), want 2", n, err)
	}
}

func TestSameEpisodeIsActedOnOnce(t *testing.T) {
	rec := &recorder{}
	e, _ := start(t, Options{Executor: rec})
	a := alert("firing", "KubePodCrashLooping", map[string]string{"namespace": "shop", "deployment": "cart"}, t0)
	other := alert("firing", "LatencyHigh", map[string]string{"namespace": "db", "statefulset": "pg"}, t0)
	// The same notification 20 times, and the same alert inside 20 different groups.
	for i := range 20 {
		if err := e.Accept(t.Context(), message(a)); err != nil {
			t.Fatalf("Accept %d: %v", i, err)
		}
		if err := e.Accept(t.Context(), message(other, a)); err != nil {
			t.Fatalf("Accept group %d: %v", i, err)
		}
	}
	waitFor(t, "idle", e.Idle)
	if n := len(rec.requests()); n != 2 {
		t.Fatalf("executions = %d, want 2 (one per episode): %+v", n, rec.requests())
	}
	// A new episode of the same alert (new startsAt) is acted on again.
	a.StartsAt = t0.Add(time.Hour)
	if err := e.Accept(t.Context(), message(a)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "third execution", func() bool { return len(rec.requests()) == 3 })
}

func TestResolvedAlertsDoNothing(t *testing.T) {
	rec := &recorder{}
	e, _ := start(t, Options{Executor: rec})
	a := alert("resolved", "KubePodCrashLooping", map[string]string{"namespace": "shop", "deployment": "cart"}, t0)
	if err := e.Accept(t.Context(), message(a)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "idle", e.Idle)
	if n := len(rec.requests()); n != 0 {
		t.Fatalf("executions for a resolved alert = %d, want 0", n)
	}
	if n := testutil.ToFloat64(e.opts.Metrics.decisions.WithLabelValues(DecisionResolvedIgnored)); n != 1 {
		t.Errorf("resolved_ignored = %v, want 1", n)
	}
}

func TestApprovalRequiredIsNotRun(t *testing.T) {
	rec := &recorder{}
	e, _ := start(t, Options{Executor: rec})
	a := alert("firing", "ErrorBudgetBurn", map[string]string{"namespace": "shop", "deployment": "cart"}, t0)
	if err := e.Accept(t.Context(), message(a)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "idle", e.Idle)
	if n := len(rec.requests()); n != 0 {
		t.Fatalf("executions of an approval-required rule = %d, want 0", n)
	}
	if n := testutil.ToFloat64(e.opts.Metrics.decisions.WithLabelValues(DecisionApprovalUnavailable)); n != 1 {
		t.Errorf("approval_unavailable = %v, want 1", n)
	}
}

func TestRenderErrorIsNoAction(t *testing.T) {
	rec := &recorder{}
	e, _ := start(t, Options{Executor: rec})
	// No deployment label: the target cannot be rendered.
	a := alert("firing", "KubePodCrashLooping", map[string]string{"namespace": "shop"}, t0)
	if err := e.Accept(t.Context(), message(a)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "idle", e.Idle)
	if n := len(rec.requests()); n != 0 {
		t.Fatalf("executions = %d, want 0", n)
	}
	if n := testutil.ToFloat64(e.opts.Metrics.decisions.WithLabelValues(DecisionRenderError)); n != 1 {
		t.Errorf("render_error = %v, want 1", n)
	}
}

func TestQueueFullRefusesWholeNotification(t *testing.T) {
	busy := errors.New("busy sentinel")
	rec := &recorder{gate: make(chan struct{}), started: make(chan struct{}, 16)}
	e, _ := start(t, Options{Executor: rec, Workers: 1, QueueSize: 2, Busy: busy})
	first := alert("firing", "KubePodCrashLooping", map[string]string{"namespace": "a", "deployment": "x"}, t0)
	if err := e.Accept(t.Context(), message(first)); err != nil {
		t.Fatal(err)
	}
	<-rec.started // the worker holds the first job; the queue is empty again
	two := message(
		alert("firing", "KubePodCrashLooping", map[string]string{"namespace": "b", "deployment": "x"}, t0),
		alert("firing", "KubePodCrashLooping", map[string]string{"namespace": "c", "deployment": "x"}, t0),
	)
	if err := e.Accept(t.Context(), two); err != nil {
		t.Fatalf("two jobs into a queue of two: %v", err)
	}
	three := message(
		alert("firing", "KubePodCrashLooping", map[string]string{"namespace": "d", "deployment": "x"}, t0),
	)
	err := e.Accept(t.Context(), three)
	if !errors.Is(err, busy) {
		t.Fatalf("Accept on a full queue = %v, want the busy sentinel", err)
	}
	// Nothing of the refused notification was remembered: once there is room,
	// Alertmanager's retry of it is accepted and acted on.
	close(rec.gate)
	waitFor(t, "three executions", func() bool { return len(rec.requests()) == 3 && e.Idle() })
	if err := e.Accept(t.Context(), three); err != nil {
		t.Fatalf("retry after the queue drained: %v", err)
	}
	waitFor(t, "four executions", func() bool { return len(rec.requests()) == 4 })
	if rec.requests()[3].Target.Namespace != "d" {
		t.Errorf("retried job = %+v", rec.requests()[3])
	}
}

func TestTransientFailureIsRetried(t *testing.T) {
	rec := &recorder{failN: 2}
	e, _ := start(t, Options{Executor: rec, RetryBackoff: time.Millisecond})
	a := alert("firing", "KubePodCrashLooping", map[string]string{"namespace": "shop", "deployment": "cart"}, t0)
	if err := e.Accept(t.Context(), message(a)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "execution after retries", func() bool { return len(rec.requests()) == 1 && e.Idle() })
	if n := testutil.ToFloat64(e.opts.Metrics.retries); n != 2 {
		t.Errorf("retries = %v, want 2", n)
	}
}

func TestShutdownDrainsQueuedWork(t *testing.T) {
	rec := &recorder{gate: make(chan struct{})}
	e := New(Options{Executor: rec, Rules: mustRules(t), Workers: 1})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	for _, ns := range []string{"a", "b", "c"} {
		if err := e.Accept(t.Context(), message(alert("firing", "KubePodCrashLooping", map[string]string{"namespace": ns, "deployment": "x"}, t0))); err != nil {
			t.Fatal(err)
		}
	}
	shut := make(chan error, 1)
	go func() {
		sctx, scancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer scancel()
		shut <- e.Shutdown(sctx)
	}()
	// New work is refused once shutdown has begun.
	waitFor(t, "shutdown to begin", func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.closed
	})
	late := message(alert("firing", "KubePodCrashLooping", map[string]string{"namespace": "z", "deployment": "x"}, t0))
	if err := e.Accept(t.Context(), late); !errors.Is(err, ErrBusy) {
		t.Fatalf("Accept during shutdown = %v, want ErrBusy", err)
	}
	close(rec.gate)
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	cancel()
	<-done
	if n := len(rec.requests()); n != 3 {
		t.Fatalf("executions after drain = %d, want 3", n)
	}
}

func TestShutdownDeadlineAbandonsUnstartedWork(t *testing.T) {
	rec := &recorder{gate: make(chan struct{}), started: make(chan struct{}, 4)}
	e := New(Options{Executor: rec, Rules: mustRules(t), Workers: 1})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	for _, ns := range []string{"a", "b"} {
		if err := e.Accept(t.Context(), message(alert("firing", "KubePodCrashLooping", map[string]string{"namespace": ns, "deployment": "x"}, t0))); err != nil {
			t.Fatal(err)
		}
	}
	<-rec.started
	sctx, scancel := context.WithCancel(t.Context())
	scancel()
	if err := e.Shutdown(sctx); err == nil {
		t.Fatal("Shutdown past its deadline with queued work returned nil")
	}
	close(rec.gate) // the started job finishes; the queued one never starts
	cancel()
	<-done
	if n := len(rec.requests()); n != 1 {
		t.Fatalf("executions = %d, want 1 (the one already running)", n)
	}
}

func TestGateRefusesWithBusy(t *testing.T) {
	busy := errors.New("busy sentinel")
	rec := &recorder{}
	e, _ := start(t, Options{Executor: rec, Busy: busy, Gate: func(context.Context) error { return errors.New("api down") }})
	err := e.Accept(t.Context(), message(alert("firing", "KubePodCrashLooping", map[string]string{"namespace": "a", "deployment": "x"}, t0)))
	if !errors.Is(err, busy) || !strings.Contains(err.Error(), "api down") {
		t.Fatalf("Accept with a failing gate = %v, want busy naming the cause", err)
	}
}

func TestTransientFailureAfterRetriesIsRetriedOnResend(t *testing.T) {
	rec := &recorder{failN: 2}
	e, _ := start(t, Options{Executor: rec, RetryAttempts: 2, RetryBackoff: time.Millisecond})
	msg := message(alert("firing", "KubePodCrashLooping", map[string]string{"namespace": "shop", "deployment": "cart"}, t0))
	if err := e.Accept(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "idle after giving up", func() bool { return e.Idle() && testutil.ToFloat64(e.opts.Metrics.retries) == 1 })
	if n := len(rec.requests()); n != 0 {
		t.Fatalf("executions = %d, want 0", n)
	}
	// Alertmanager re-sends: the episode was forgotten, so it is acted on now.
	if err := e.Accept(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "execution on re-send", func() bool { return len(rec.requests()) == 1 })
}
