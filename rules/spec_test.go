package rules

import (
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

func TestMatchSpec(t *testing.T) {
	s := mustParseFile(t, "testdata/valid.yaml")
	a := alert("alertname", "LatencyHigh", "severity", "page", "statefulset", "pg", "@summary", "slow", "@runbook_url", "https://runbooks/x",
		"@description", "p99 above 1s for 10m")
	a.StartsAt = time.Date(2026, 11, 23, 9, 30, 0, 123456000, time.UTC)
	a.GeneratorURL = "http://prom/graph"
	ms := s.Match(a)
	if len(ms) == 0 || ms[0].Rule.Name != "scale-latency" || ms[0].Err != nil {
		t.Fatalf("matches = %+v, want scale-latency first", ms)
	}
	got := ms[0].Spec(a)
	want := v1alpha1.Target{Kind: v1alpha1.KindStatefulSet, Namespace: "db", Name: "pg"}
	if got.Rule != "scale-latency" || got.Action != v1alpha1.ActionScale || got.Target != want || got.TargetRef != "StatefulSet/db/pg" {
		t.Errorf("spec = %+v, want scale-latency scaling %s", got, want)
	}
	if sc := got.Scale; sc == nil || *sc != (v1alpha1.ScaleParams{Op: v1alpha1.ScaleBy, N: 2, Min: 2, Max: 10}) || got.Rollback != nil {
		t.Errorf("scale = %+v, rollback = %+v, want by 2 within 2..10 and no rollback", got.Scale, got.Rollback)
	}
	al := got.Alert
	if al.Name != "LatencyHigh" || al.Fingerprint != "abc123" || !al.StartsAt.Time.Equal(a.StartsAt) || al.Summary != "slow" || al.Description != "p99 above 1s for 10m" ||
		al.RunbookURL != "https://runbooks/x" || al.GeneratorURL != "http://prom/graph" || al.Labels["statefulset"] != "pg" {
		t.Errorf("alert = %+v", al)
	}
	if got.Approval != nil || got.Cooldown != nil || got.Budget != nil || got.DryRun {
		t.Errorf("spec = %+v, want no approval, cooldown, budget or dry run", got)
	}
	// The record holds copies: changing it does not change the rule.
	got.Scale.N = 99
	if ms[0].Rule.Scale.N != 2 {
		t.Errorf("rule's scale changed with the spec's: %+v", ms[0].Rule.Scale)
	}

	a = alert("alertname", "ErrorBudgetBurn", "severity", "critical", "namespace", "shop", "@deployment", "checkout")
	ms = s.Match(a)
	if len(ms) != 1 || ms[0].Err != nil {
		t.Fatalf("matches = %+v, want rollback-bad-deploy", ms)
	}
	got = ms[0].Spec(a)
	if got.Action != v1alpha1.ActionRollback || got.Rollback == nil || got.Rollback.ToRevision != 5 || got.Scale != nil {
		t.Errorf("spec = %+v, want a rollback to revision 5", got)
	}
	if ap := got.Approval; ap == nil || ap.Channel != "C0123456" || ap.Timeout.Duration != time.Hour || len(ap.Users) != 1 || len(ap.Groups) != 1 {
		t.Errorf("approval = %+v, want the rule's", got.Approval)
	}
}

// Every action's rollout is verified within 5m unless the rule says
// otherwise; the record gets its own copy of the rule's checks.
func TestMatchSpecVerify(t *testing.T) {
	s := mustParse(t, `
rules:
  - name: by-default
    match: ['alertname="A"']
    target: {kind: Deployment, namespace: shop, name: cart}
    action: scale
    scale: {replicas: "+1", max: 5}
  - name: longer-and-resolved
    match: ['alertname="B"']
    target: {kind: Deployment, namespace: shop, name: cart}
    action: restart
    verify: {timeout: 10m, alertResolved: {within: 15m}}
  - name: resolved-only
    match: ['alertname="C"']
    target: {kind: Deployment, namespace: shop, name: cart}
    action: restart
    verify: {rollout: false, alertResolved: {within: 1h}}
  - name: opted-out
    match: ['alertname="D"']
    target: {kind: Deployment, namespace: shop, name: cart}
    action: restart
    verify: {rollout: false}
`)
	dur := func(d time.Duration) metav1.Duration { return metav1.Duration{Duration: d} }
	tests := []struct {
		alertname string
		want      *v1alpha1.VerifySpec
	}{
		{"A", &v1alpha1.VerifySpec{Rollout: &v1alpha1.RolloutCheck{Timeout: dur(5 * time.Minute)}}},
		{"B", &v1alpha1.VerifySpec{Rollout: &v1alpha1.RolloutCheck{Timeout: dur(10 * time.Minute)}, AlertResolved: &v1alpha1.AlertResolvedCheck{Within: dur(15 * time.Minute)}}},
		{"C", &v1alpha1.VerifySpec{AlertResolved: &v1alpha1.AlertResolvedCheck{Within: dur(time.Hour)}}},
		{"D", nil},
	}
	for _, tt := range tests {
		a := alert("alertname", tt.alertname)
		ms := s.Match(a)
		if len(ms) != 1 || ms[0].Err != nil {
			t.Fatalf("%s: matches = %+v", tt.alertname, ms)
		}
		got := ms[0].Spec(a)
		if !reflect.DeepEqual(got.Verify, tt.want) {
			t.Errorf("%s: verify = %+v, want %+v", tt.alertname, got.Verify, tt.want)
		}
		if got.Verify != nil && got.Verify == ms[0].Rule.Verify {
			t.Errorf("%s: the spec shares the rule's verify block", tt.alertname)
		}
	}
}

// evict-pod carries its evict block and checks the owner's rollout by
// default; run-job checks nothing unless it waits, and then its Job for
// runJob.timeout (30m by default).
func TestMatchSpecEvictAndRunJob(t *testing.T) {
	s, err := Parse("actions.yaml", []byte(`rules:
  - name: evict-stuck
    match: ['alertname="PodStuck"']
    target: {kind: Pod, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.pod }}'}
    action: evict-pod
    evict: {minAvailable: 2}
    continue: true
  - name: backup
    match: ['alertname="PodStuck"']
    target: {kind: CronJob, namespace: db, name: backup}
    action: run-job
    continue: true
  - name: backup-and-wait
    match: ['alertname="PodStuck"']
    target: {kind: CronJob, namespace: db, name: backup}
    action: run-job
    runJob: {wait: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	a := alert("alertname", "PodStuck", "namespace", "shop", "pod", "cart-7d9f-abcde")
	ms := s.Match(a)
	if len(ms) != 3 {
		t.Fatalf("matches = %d, want 3", len(ms))
	}
	ev := ms[0].Spec(a)
	if ev.Target != (v1alpha1.Target{Kind: v1alpha1.KindPod, Namespace: "shop", Name: "cart-7d9f-abcde"}) ||
		ev.Evict == nil || *ev.Evict != (v1alpha1.EvictParams{MinAvailable: 2}) {
		t.Errorf("evict-pod spec = %+v", ev)
	}
	if ev.Verify == nil || ev.Verify.Rollout == nil || ev.Verify.Rollout.Timeout.Duration != 5*time.Minute {
		t.Errorf("evict-pod verify = %+v, want the owner's rollout within 5m", ev.Verify)
	}
	if job := ms[1].Spec(a); job.Verify != nil || job.Evict != nil {
		t.Errorf("run-job without wait: verify = %+v, want nothing to wait for", job.Verify)
	}
	if job := ms[2].Spec(a); job.Verify == nil || job.Verify.Rollout == nil || job.Verify.Rollout.Timeout.Duration != 30*time.Minute {
		t.Errorf("run-job with wait: verify = %+v, want the Job within 30m", job.Verify)
	}
}
