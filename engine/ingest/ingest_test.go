package ingest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"k8s.io/client-go/rest"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine"
	"github.com/alertmedic/alertmedic/engine/controller"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/internal/testcluster"
	"github.com/alertmedic/alertmedic/rules"
	"github.com/alertmedic/alertmedic/webhook"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) {
	testcluster.Main(m, "the ingest tests", &cluster)
}

const testRules = `
rules:
  - name: restart-crashlooping
    match: ['alertname="KubePodCrashLooping"']
    target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.deployment }}'}
    action: restart
    cooldown: 30m
    maxPerWindow: {perTarget: 3, window: 2h}
  - name: scale-latency
    match: ['alertname="LatencyHigh"']
    target: {kind: StatefulSet, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.statefulset }}'}
    action: scale
    scale: {replicas: "x1.5", max: 10}
  - name: rollback-needs-approval
    match: ['alertname="ErrorBudgetBurn"']
    target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.deployment }}'}
    action: rollback
    approval: {required: true, channel: C1, approvers: {users: [U1]}, timeout: 5m}
`

func mustRules(t testing.TB, text string) *rules.Set {
	t.Helper()
	set, err := rules.Parse("test.yaml", []byte(text))
	if err != nil {
		t.Fatalf("parse rules: %v", err)
	}
	return set
}

func alert(status, name string, labels map[string]string, startsAt time.Time) template.Alert {
	kv := template.KV{"alertname": name}
	ls := model.LabelSet{"alertname": model.LabelValue(name)}
	for k, v := range labels {
		kv[k] = v
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return template.Alert{Status: status, Labels: kv, Annotations: template.KV{"summary": name + " is firing"},
		StartsAt: startsAt, Fingerprint: ls.Fingerprint().String()}
}

func message(alerts ...template.Alert) *webhook.Message {
	return &webhook.Message{Version: "4", GroupKey: "{}:{}", Data: &template.Data{Status: "firing", Alerts: alerts}}
}

func records(t *testing.T, c kube.Client, ns string) []v1alpha1.Remediation {
	t.Helper()
	var list v1alpha1.RemediationList
	if err := c.List(t.Context(), &list, kube.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func TestAcceptRecordsOneRemediationPerMatch(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	c := cluster.NewClient(t, cluster.Config)
	e := New(Options{Client: c, Namespace: ns, Rules: mustRules(t, testRules)})
	msg := message(
		alert("firing", "KubePodCrashLooping", map[string]string{"namespace": "shop", "deployment": "cart"}, t0),
		alert("firing", "LatencyHigh", map[string]string{"namespace": "db", "statefulset": "pg"}, t0),
		alert("firing", "ErrorBudgetBurn", map[string]string{"namespace": "shop", "deployment": "cart"}, t0),
		alert("firing", "Unrelated", nil, t0),
		alert("firing", "KubePodCrashLooping", map[string]string{"namespace": "shop"}, t0), // no deployment label: cannot render
	)
	if err := e.Accept(t.Context(), msg); err != nil {
		t.Fatalf("Accept: %v", err)
	}
	got := map[string]v1alpha1.Remediation{}
	for _, r := range records(t, c, ns) {
		got[r.Spec.Rule] = r
	}
	if len(got) != 3 {
		t.Fatalf("records = %d, want 3: %v", len(got), got)
	}
	restart := got["restart-crashlooping"]
	a := msg.Alerts[0]
	if restart.Name != RecordName(EpisodeKey("restart-crashlooping", v1alpha1.Target{Kind: "Deployment", Namespace: "shop", Name: "cart"}, &a)) ||
		restart.Spec.Action != "restart" || restart.Spec.TargetRef != "Deployment/shop/cart" ||
		restart.Spec.Alert.Fingerprint != a.Fingerprint || !restart.Spec.Alert.StartsAt.Time.Equal(t0) ||
		restart.Spec.Cooldown == nil || restart.Spec.Cooldown.Duration != 30*time.Minute ||
		restart.Spec.Alert.Summary != "KubePodCrashLooping is firing" ||
		restart.Labels[v1alpha1.LabelTarget] != v1alpha1.TargetLabel("Deployment", "shop", "cart") || restart.Labels[v1alpha1.LabelRule] != "restart-crashlooping" {
		t.Errorf("restart record = %+v", restart)
	}
	if b := restart.Spec.Budget; b == nil || b.PerTarget != 3 || b.PerRule != 0 || b.Window.Duration != 2*time.Hour {
		t.Errorf("restart budget = %+v, want perTarget 3 in 2h", b)
	}
	if s := got["scale-latency"].Spec.Scale; s == nil || s.Op != "multiply" || s.Factor != "1.5" || s.Max != 10 {
		t.Errorf("scale params = %+v", s)
	}
	if req, err := controller.Request(ptr(got["scale-latency"])); err != nil || req.Scale.Factor != "1.5" || req.Target.Kind != "StatefulSet" {
		t.Errorf("scale request = %+v, %v", req, err)
	}
	if ap := got["rollback-needs-approval"].Spec.Approval; ap == nil || ap.Channel != "C1" || ap.Timeout.Duration != 5*time.Minute {
		t.Errorf("approval = %+v", ap)
	}
	m := e.opts.Metrics
	if n := testutil.ToFloat64(m.Decision(engine.DecisionRecorded)); n != 3 {
		t.Errorf("recorded = %v, want 3", n)
	}
	if n := testutil.ToFloat64(m.Decision(engine.DecisionRenderError)); n != 1 {
		t.Errorf("render_error = %v, want 1", n)
	}
	if n := testutil.ToFloat64(m.Decision(engine.DecisionNoMatch)); n != 1 {
		t.Errorf("no_match = %v, want 1", n)
	}
}

func ptr[T any](v T) *T { return &v }

// The same alert, re-sent 20 times, inside 20 different groups, and to a
// fresh engine (another replica, or this one after a restart): one record.
func TestSameEpisodeIsRecordedOnce(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	c := cluster.NewClient(t, cluster.Config)
	a := alert("firing", "KubePodCrashLooping", map[string]string{"namespace": "shop", "deployment": "cart"}, t0)
	other := alert("firing", "LatencyHigh", map[string]string{"namespace": "db", "statefulset": "pg"}, t0)
	e := New(Options{Client: c, Namespace: ns, Rules: mustRules(t, testRules)})
	for i := range 20 {
		if err := e.Accept(t.Context(), message(a)); err != nil {
			t.Fatalf("Accept %d: %v", i, err)
		}
		if err := e.Accept(t.Context(), message(other, a)); err != nil {
			t.Fatalf("Accept group %d: %v", i, err)
		}
	}
	fresh := New(Options{Client: c, Namespace: ns, Rules: mustRules(t, testRules)})
	if err := fresh.Accept(t.Context(), message(a, other)); err != nil {
		t.Fatal(err)
	}
	if n := len(records(t, c, ns)); n != 2 {
		t.Fatalf("records = %d, want 2 (one per episode)", n)
	}
	if n := testutil.ToFloat64(fresh.opts.Metrics.Decision(engine.DecisionDeduplicated)); n != 2 {
		t.Errorf("a fresh engine deduplicated %v, want 2 (through AlreadyExists)", n)
	}
	// A new episode of the same alert (it resolved and fired again) is new.
	a.StartsAt = t0.Add(time.Hour)
	if err := e.Accept(t.Context(), message(a)); err != nil {
		t.Fatal(err)
	}
	if n := len(records(t, c, ns)); n != 3 {
		t.Fatalf("records after a new episode = %d, want 3", n)
	}
}

func TestResolvedAlertCancelsItsPendingRecord(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	c := cluster.NewClient(t, cluster.Config)
	e := New(Options{Client: c, Namespace: ns, Rules: mustRules(t, testRules)})
	a := alert("firing", "ErrorBudgetBurn", map[string]string{"namespace": "shop", "deployment": "cart"}, t0)
	if err := e.Accept(t.Context(), message(a)); err != nil {
		t.Fatal(err)
	}
	a.Status = "resolved"
	for range 2 { // Alertmanager may send the resolved notification more than once
		if err := e.Accept(t.Context(), message(a)); err != nil {
			t.Fatal(err)
		}
	}
	recs := records(t, c, ns)
	if len(recs) != 1 {
		t.Fatalf("records = %d, want 1", len(recs))
	}
	st := recs[0].Status
	if st.Phase != v1alpha1.PhaseCancelled || st.Reason != "AlertResolved" || st.AlertResolvedAt == nil || st.FinishedAt == nil {
		t.Errorf("status = %+v, want Cancelled/AlertResolved", st)
	}
	if n := testutil.ToFloat64(e.opts.Metrics.Decision(engine.DecisionCancelled)); n != 1 {
		t.Errorf("cancelled = %v, want 1", n)
	}
	// A resolved alert that was never recorded changes nothing.
	b := alert("resolved", "KubePodCrashLooping", map[string]string{"namespace": "x", "deployment": "y"}, t0)
	if err := e.Accept(t.Context(), message(b)); err != nil {
		t.Fatal(err)
	}
	if n := len(records(t, c, ns)); n != 1 {
		t.Errorf("records = %d after an unrecorded resolved alert, want 1", n)
	}
}

// With the API server unreachable, nothing can be recorded: Accept refuses
// with the busy sentinel, so the webhook answers 503 and Alertmanager retries.
func TestAcceptRefusesWhenRecordsCannotBeWritten(t *testing.T) {
	busy := errors.New("busy sentinel")
	dead := rest.CopyConfig(cluster.Config)
	dead.Host = "https://127.0.0.1:1"
	dead.Timeout = 2 * time.Second
	e := New(Options{Client: cluster.NewClient(t, cluster.Config), Namespace: "nowhere", Busy: busy, Rules: mustRules(t, testRules)})
	e.opts.Client = newClientLazy(t, dead)
	err := e.Accept(t.Context(), message(alert("firing", "KubePodCrashLooping", map[string]string{"namespace": "a", "deployment": "x"}, t0)))
	if !errors.Is(err, busy) || !strings.Contains(err.Error(), "could not be written") {
		t.Fatalf("Accept = %v, want the busy sentinel saying records could not be written", err)
	}
	// Nothing was remembered: the retry, once the API server answers, records it.
	ns := cluster.Namespace(t, "records")
	e2 := New(Options{Client: cluster.NewClient(t, cluster.Config), Namespace: ns, Rules: mustRules(t, testRules)})
	e2.seen = e.seen
	if err := e2.Accept(t.Context(), message(alert("firing", "KubePodCrashLooping", map[string]string{"namespace": "a", "deployment": "x"}, t0))); err != nil {
		t.Fatal(err)
	}
	if n := len(records(t, e2.opts.Client, ns)); n != 1 {
		t.Fatalf("records after the retry = %d, want 1", n)
	}
}

// newClientLazy builds a client that does not contact the server until used
// (a dead server cannot answer discovery).
func newClientLazy(t *testing.T, cfg *rest.Config) kube.Client {
	t.Helper()
	c, err := kube.New(cfg, kube.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGateRefusesWithBusy(t *testing.T) {
	busy := errors.New("busy sentinel")
	e := New(Options{Client: cluster.NewClient(t, cluster.Config), Namespace: "x", Busy: busy, Rules: mustRules(t, testRules),
		Gate: func(ctx context.Context) error { return errors.New("api down") }})
	err := e.Accept(t.Context(), message(alert("firing", "KubePodCrashLooping", map[string]string{"namespace": "a", "deployment": "x"}, t0)))
	if !errors.Is(err, busy) || !strings.Contains(err.Error(), "api down") {
		t.Fatalf("Accept with a failing gate = %v, want busy naming the cause", err)
	}
}

// Two episodes of one alert that start within the same second are two
// records, and each keeps its startsAt as Alertmanager sent it
// (Prometheus' timestamps carry milliseconds).
func TestEpisodesWithinOneSecondAreKeptApart(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	c := cluster.NewClient(t, cluster.Config)
	e := New(Options{Client: c, Namespace: ns, Rules: mustRules(t, testRules)})
	labels := map[string]string{"namespace": "shop", "deployment": "cart"}
	first, second := t0.Add(120*time.Millisecond), t0.Add(870*time.Millisecond)
	for _, at := range []time.Time{first, second} {
		if err := e.Accept(t.Context(), message(alert("firing", "KubePodCrashLooping", labels, at))); err != nil {
			t.Fatalf("Accept: %v", err)
		}
	}
	var starts []time.Time
	for _, r := range records(t, c, ns) {
		starts = append(starts, r.Spec.Alert.StartsAt.Time)
	}
	if len(starts) != 2 || !(starts[0].Equal(first) && starts[1].Equal(second) || starts[0].Equal(second) && starts[1].Equal(first)) {
		t.Errorf("records' startsAt = %v, want %v and %v", starts, first, second)
	}
}
