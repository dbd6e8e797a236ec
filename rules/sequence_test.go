package rules

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// A sequence compiles into the first step's record: its own action on its
// target, and the later steps on theirs (the rule's when they name none),
// rendered from the alert, with the rule's approval covering the plan.
func TestSequenceInSpec(t *testing.T) {
	s := mustParse(t, `
rules:
  - name: backup-then-rollback
    match: ['alertname="BadRelease"']
    target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.deployment }}'}
    action: sequence
    approval: {approvers: {groups: [S0456]}, timeout: 10m}
    cooldown: 1h
    sequence:
      - action: run-job
        target: {kind: CronJob, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.deployment }}-backup'}
        runJob: {wait: true, timeout: 20m}
      - action: rollback
        verify: {timeout: 3m}
      - action: restart
        target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: cache}
`)
	a := alert("alertname", "BadRelease", "namespace", "shop", "deployment", "web")
	ms := s.Match(a)
	if len(ms) != 1 || ms[0].Err != nil {
		t.Fatalf("matches = %+v", ms)
	}
	m := ms[0]
	if want := (v1alpha1.Target{Kind: v1alpha1.KindCronJob, Namespace: "shop", Name: "web-backup"}); m.Target != want {
		t.Errorf("match target = %v, want the first step's, %v", m.Target, want)
	}
	spec := m.Spec(a)
	if spec.Action != v1alpha1.ActionRunJob || spec.TargetRef != "CronJob/shop/web-backup" {
		t.Errorf("record = %s on %s, want the first step: run-job on CronJob/shop/web-backup", spec.Action, spec.TargetRef)
	}
	if v := spec.Verify; v == nil || v.Rollout == nil || v.Rollout.Timeout.Duration != 20*time.Minute {
		t.Errorf("first step verify = %+v, want the Job waited for 20m", v)
	}
	if spec.Approval == nil || spec.Approval.Timeout.Duration != 10*time.Minute {
		t.Errorf("approval = %+v, want the rule's, on the first step", spec.Approval)
	}
	if got, want := spec.Sequence, (&v1alpha1.SequenceRef{Step: 1, Of: 3}); got == nil || *got != *want {
		t.Errorf("sequence = %+v, want %+v", got, want)
	}
	if len(spec.Then) != 2 {
		t.Fatalf("then = %+v, want two steps", spec.Then)
	}
	rb, rs := spec.Then[0], spec.Then[1]
	if rb.Action != v1alpha1.ActionRollback || rb.Target == nil || *rb.Target != (v1alpha1.Target{Kind: v1alpha1.KindDeployment, Namespace: "shop", Name: "web"}) {
		t.Errorf("step 2 = %s on %v, want a rollback of the rule's target Deployment/shop/web", rb.Action, rb.Target)
	}
	if rb.Approval != nil || rb.Verify == nil || rb.Verify.Rollout == nil || rb.Verify.Rollout.Timeout.Duration != 3*time.Minute {
		t.Errorf("step 2 approval %+v verify %+v, want none and the rollout within 3m", rb.Approval, rb.Verify)
	}
	if rs.Action != v1alpha1.ActionRestart || rs.Target == nil || rs.Target.Name != "cache" {
		t.Errorf("step 3 = %s on %v, want a restart of Deployment/shop/cache", rs.Action, rs.Target)
	}
	if rs.Verify == nil || rs.Verify.Rollout == nil || rs.Verify.Rollout.Timeout.Duration != 5*time.Minute {
		t.Errorf("step 3 verify = %+v, want the default rollout check", rs.Verify)
	}
}

// A sequence is planned whole: an alert that cannot render a later step's
// target plans nothing, as for the rule's own target.
func TestSequenceStepTargetThatCannotRender(t *testing.T) {
	s := mustParse(t, `
rules:
  - name: two-steps
    match: ['alertname="X"']
    target: {kind: Deployment, namespace: shop, name: web}
    action: sequence
    approval: {required: false}
    sequence:
      - action: restart
      - action: restart
        target: {kind: Deployment, namespace: shop, name: '{{ .Labels.sidecar }}'}
`)
	ms := s.Match(alert("alertname", "X"))
	var re *RenderError
	if len(ms) != 1 || !errors.As(ms[0].Err, &re) || re.Step != 2 {
		t.Fatalf("matches = %+v, want one with a RenderError of step 2", ms)
	}
	if !strings.Contains(ms[0].Err.Error(), "sequence step 2") {
		t.Errorf("error %q does not name the step", ms[0].Err)
	}
}

// A sequence's later step that acts in production without approval is
// reported, naming the step, though the first acts elsewhere.
func TestSequenceProductionWarning(t *testing.T) {
	s := mustParse(t, `
rules:
  - name: clean-then-restart
    match: ['alertname="DiskFull"']
    target: {kind: CronJob, namespace: tools, name: cleanup}
    action: sequence
    sequence:
      - action: run-job
      - action: restart
        target: {kind: Deployment, namespace: payments, name: api}
`)
	var got []string
	for _, w := range s.Lint(LintOptions{ProductionNamespaces: []string{"payments"}}) {
		if strings.Contains(w.Message, "production namespace") {
			got = append(got, w.Message)
		}
	}
	if len(got) != 1 || !strings.HasPrefix(got[0], `step 2 of the sequence of rule "clean-then-restart" restarts Deployment payments/api without approval`) {
		t.Errorf("production warnings = %q, want one for step 2", got)
	}
}
