package rules

import (
	"testing"
	"time"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// An onFailure chain compiles into the record's spec.onFailure, in order,
// each step with its own parameters, approval and checks, defaults applied
// as for a rule.
func TestEscalationChainInSpec(t *testing.T) {
	s := mustParse(t, `
rules:
  - name: restart-then-rollback
    match: ['alertname="KubePodCrashLooping"']
    target: {kind: Deployment, namespace: shop, name: web}
    action: restart
    notify: failures
    verify: {timeout: 2m}
    onFailure:
      action: rollback
      approval: {approvers: {groups: [S0456]}, timeout: 10m}
      verify: {timeout: 3m}
      onFailure:
        action: scale
        scale: {replicas: "x2", max: 8}
        approval: {required: false}
        verify: {rollout: false, alertResolved: {within: 15m}}
`)
	a := alert("alertname", "KubePodCrashLooping")
	ms := s.Match(a)
	if len(ms) != 1 || ms[0].Err != nil {
		t.Fatalf("matches = %+v", ms)
	}
	spec := ms[0].Spec(a)
	if spec.Notify != v1alpha1.NotifyFailures {
		t.Errorf("notify = %q, want failures", spec.Notify)
	}
	if len(spec.OnFailure) != 2 {
		t.Fatalf("onFailure = %+v, want two steps", spec.OnFailure)
	}
	rb, sc := spec.OnFailure[0], spec.OnFailure[1]
	if rb.Action != v1alpha1.ActionRollback || rb.Rollback == nil || rb.Rollback.ToRevision != 0 || rb.Scale != nil {
		t.Errorf("step 1 = %+v, want a rollback to the previous revision", rb)
	}
	if rb.Approval == nil || rb.Approval.Timeout.Duration != 10*time.Minute || len(rb.Approval.Groups) != 1 {
		t.Errorf("step 1 approval = %+v, want group S0456 within 10m", rb.Approval)
	}
	if v := rb.Verify; v == nil || v.Rollout == nil || v.Rollout.Timeout.Duration != 3*time.Minute {
		t.Errorf("step 1 verify = %+v, want the rollout within 3m", v)
	}
	if sc.Action != v1alpha1.ActionScale || sc.Scale == nil || sc.Scale.Op != v1alpha1.ScaleMultiply || sc.Scale.Factor != "2" || sc.Scale.Max != 8 {
		t.Errorf("step 2 = %+v, want scale x2 up to 8", sc)
	}
	if sc.Approval != nil {
		t.Errorf("step 2 approval = %+v, want none (required: false)", sc.Approval)
	}
	if v := sc.Verify; v == nil || v.Rollout != nil || v.AlertResolved == nil || v.AlertResolved.Within.Duration != 15*time.Minute {
		t.Errorf("step 2 verify = %+v, want only the alert resolved within 15m", v)
	}
	// A step without a verify block checks the rollout within 5m, as a
	// rule does.
	s = mustParse(t, `
rules:
  - name: r
    match: ['alertname="A"']
    target: {kind: Deployment, namespace: shop, name: web}
    action: restart
    onFailure: {action: restart}
`)
	spec = s.Match(alert("alertname", "A"))[0].Spec(alert("alertname", "A"))
	if len(spec.OnFailure) != 1 || spec.OnFailure[0].Verify == nil || spec.OnFailure[0].Verify.Rollout == nil ||
		spec.OnFailure[0].Verify.Rollout.Timeout.Duration != defaultVerifyTimeout {
		t.Errorf("onFailure = %+v, want a restart whose rollout is checked within %s", spec.OnFailure, defaultVerifyTimeout)
	}
	// The record holds copies.
	spec.OnFailure[0].Verify.Rollout.Timeout.Duration = time.Hour
	if s.Rules()[0].OnFailure.Verify.Rollout.Timeout.Duration != defaultVerifyTimeout {
		t.Error("changing the spec changed the rule")
	}
}

// A chain of the longest allowed length loads.
func TestEscalationChainAtTheLimit(t *testing.T) {
	s := mustParse(t, `
rules:
  - name: r
    match: ['alertname="A"']
    target: {kind: Deployment, namespace: shop, name: web}
    action: restart
    onFailure:
      action: restart
      onFailure:
        action: restart
        onFailure:
          action: restart
`)
	a := alert("alertname", "A")
	if n := len(s.Match(a)[0].Spec(a).OnFailure); n != v1alpha1.MaxEscalations {
		t.Errorf("chain of %d steps, want %d", n, v1alpha1.MaxEscalations)
	}
}
