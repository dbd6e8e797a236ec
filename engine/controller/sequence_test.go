package controller

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine"
	"github.com/alertmedic/alertmedic/engine/approval"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/internal/testcluster"
	"github.com/alertmedic/alertmedic/remediations"
)

// sequenceRecord is the first step's record of a sequence: run-job on
// first (waited for), then each of then.
func sequenceRecord(name, ns, first string, then ...v1alpha1.Step) *v1alpha1.Remediation {
	rec := withVerify(runJobRecord(name, ns, first), rolloutCheck(2*time.Minute))
	rec.Spec.Rule = "backup-migrate-restart"
	rec.Spec.Sequence = &v1alpha1.SequenceRef{Step: 1, Of: int32(1 + len(then))}
	rec.Spec.Then = then
	return rec
}

func records(t *testing.T, ns string) map[string]*v1alpha1.Remediation {
	t.Helper()
	var list v1alpha1.RemediationList
	if err := cluster.Records.List(t.Context(), &list, kube.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	out := map[string]*v1alpha1.Remediation{}
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i]
	}
	return out
}

func restartedAt(t *testing.T, ns, name string) string {
	t.Helper()
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"]
}

// A sequence of three steps on the full cluster (a backup Job, a
// migration Job that fails, a restart): one approval for the whole plan;
// the backup runs and succeeds; the migration runs as the next record,
// with no approval of its own and not held by the rule's budget of one
// action, and fails; the sequence stops there: no third record, the
// Deployment never restarted.
func TestSequenceStopsAtAFailedStep(t *testing.T) {
	ns := cluster.Namespace(t, "sequence")
	cronJob(t, ns, "backup", "")
	cronJob(t, ns, "migrate", testcluster.JobFail)
	workload(t, ns, "web", nil)
	root := sequenceRecord("plan", ns, "backup",
		v1alpha1.Step{Action: v1alpha1.ActionRunJob, Target: &v1alpha1.Target{Kind: v1alpha1.KindCronJob, Namespace: ns, Name: "migrate"}, Verify: rolloutCheck(2 * time.Minute)},
		v1alpha1.Step{Action: v1alpha1.ActionRestart, Target: &v1alpha1.Target{Kind: v1alpha1.KindDeployment, Namespace: ns, Name: "web"}, Verify: rolloutCheck(2 * time.Minute)},
	)
	root.Spec.Approval = &v1alpha1.ApprovalSpec{Users: []string{"U1"}, Timeout: metav1.Duration{Duration: time.Hour}}
	root.Spec.Budget = &v1alpha1.BudgetSpec{PerRule: 1, Window: metav1.Duration{Duration: time.Hour}}
	root = put(t, cluster.Records, ns, root, v1alpha1.RemediationStatus{})
	m := startRunner(t, ns, remediations.NewExecutor(cluster.Records, remediations.Options{}), verifyPolicy(), nil)

	waitLong(t, "the sequence to wait for its approval", phaseIs(t, cluster.Records, root, v1alpha1.PhasePendingApproval))
	if n := len(records(t, ns)); n != 1 {
		t.Fatalf("%d records before the approval, want the first step's alone", n)
	}
	if _, err := approval.Decide(t.Context(), cluster.Records, kube.ObjectKeyFromObject(root), true, "slack:U1", time.Now()); err != nil {
		t.Fatal(err)
	}
	second := &v1alpha1.Remediation{ObjectMeta: metav1.ObjectMeta{Name: "plan-s2", Namespace: ns}}
	waitLong(t, "the second step to end", func() bool {
		_, ok := records(t, ns)["plan-s2"]
		return ok && final(t, second)()
	})

	st := get(t, cluster.Records, root).Status
	if st.Phase != v1alpha1.PhaseSucceeded || st.Reason != ReasonVerified || st.Next == nil || st.Next.Record != "plan-s2" {
		t.Fatalf("first step: %s %s, next %+v; want Succeeded Verified, next plan-s2", st.Phase, st.Reason, st.Next)
	}
	got := get(t, cluster.Records, second)
	if got.Status.Phase != v1alpha1.PhaseFailed || got.Status.Reason != remediations.ReasonJobFailed {
		t.Errorf("second step: %s %s %q, want Failed JobFailed", got.Status.Phase, got.Status.Reason, got.Status.Message)
	}
	if got.Status.DecidedAt != nil || got.Spec.Approval != nil {
		t.Errorf("second step asked for approval again: approval %+v, decided %v", got.Spec.Approval, got.Status.DecidedAt)
	}
	if q := got.Spec.Sequence; q == nil || *q != (v1alpha1.SequenceRef{Step: 2, Of: 3, Previous: "plan"}) || got.Spec.TargetRef != "CronJob/"+ns+"/migrate" || len(got.Spec.Then) != 1 {
		t.Errorf("second step spec: sequence %+v on %s with %d steps left; want step 2 of 3 after plan, on the migrate CronJob, 1 left", q, got.Spec.TargetRef, len(got.Spec.Then))
	}
	if got.Labels[v1alpha1.LabelPreviousStep] != "plan" || got.Labels[v1alpha1.LabelTarget] != v1alpha1.TargetLabel(v1alpha1.KindCronJob, ns, "migrate") {
		t.Errorf("second step labels = %v, want the previous step and its own target", got.Labels)
	}
	if got.Status.Next != nil {
		t.Errorf("failed step notes a next step: %+v", got.Status.Next)
	}
	if recs := records(t, ns); len(recs) != 2 {
		t.Errorf("records = %d, want 2: the sequence stops at the failed step", len(recs))
	}
	if at := restartedAt(t, ns, "web"); at != "" {
		t.Errorf("the third step ran: web restarted at %s", at)
	}
	if n := testutil.ToFloat64(m.Decision(engine.DecisionNextStep)); n != 1 {
		t.Errorf("next_step decisions = %v, want 1", n)
	}
}

// A record that claims to be a later step of a sequence runs only if its
// previous step succeeded and plans exactly it: one naming a step that
// does not exist, or asking more than its previous step plans, is Skipped
// NotPlanned and changes nothing.
func TestUnplannedLaterStepIsNotRun(t *testing.T) {
	ns := cluster.Namespace(t, "sequence")
	workload(t, ns, "web", nil)
	orphan := restartRecord("orphan-s2", ns, "web")
	orphan.Spec.Sequence = &v1alpha1.SequenceRef{Step: 2, Of: 2, Previous: "orphan"}
	orphan = put(t, cluster.Records, ns, orphan, v1alpha1.RemediationStatus{})

	// A first step that succeeded and plans a restart of web; the record
	// under its next step's name asks for a rollback instead.
	first := restartRecord("real", ns, "cache")
	first.Spec.Sequence = &v1alpha1.SequenceRef{Step: 1, Of: 2}
	first.Spec.Then = []v1alpha1.Step{{Action: v1alpha1.ActionRestart, Target: &v1alpha1.Target{Kind: v1alpha1.KindDeployment, Namespace: ns, Name: "web"}}}
	done := metav1.NewTime(time.Now())
	first = put(t, cluster.Records, ns, first, v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseSucceeded, Reason: "Restarted", FinishedAt: &done,
		// Noted already, so the runner does not make the real next step.
		Next: &v1alpha1.NextStatus{Record: "real-s2"}})
	forged := nextStepRecord(first, time.Now())
	forged.Spec.Action, forged.Spec.Rollback = v1alpha1.ActionRollback, &v1alpha1.RollbackParams{}
	if err := cluster.Records.Create(t.Context(), forged); err != nil {
		t.Fatal(err)
	}
	startRunner(t, ns, remediations.NewExecutor(cluster.Records, remediations.Options{}), verifyPolicy(), nil)
	for rec, want := range map[*v1alpha1.Remediation]string{orphan: "its previous step orphan does not exist", forged: "it is not the step that real plans next (real-s2)"} {
		waitLong(t, rec.Name+" to end", final(t, rec))
		st := get(t, cluster.Records, rec).Status
		if st.Phase != v1alpha1.PhaseSkipped || st.Reason != "NotPlanned" || !strings.HasPrefix(st.Message, want) || st.StartedAt != nil {
			t.Errorf("%s: %s %s %q, want Skipped NotPlanned: %q, never started", rec.Name, st.Phase, st.Reason, st.Message, want)
		}
	}
	if at := restartedAt(t, ns, "web"); at != "" {
		t.Errorf("web restarted at %s by a step nobody planned", at)
	}
}

// The next step's record created before (the answer to the create lost,
// or the replica stopped before noting it) is found and noted, not made
// twice; a record that only has its name is not taken for it; and a step
// whose alert resolved before it succeeded ends the sequence there.
func TestNextStepCreatedBeforeIsNotMadeTwice(t *testing.T) {
	ns := cluster.Namespace(t, "sequence")
	done := metav1.NewTime(time.Now())
	succeeded := v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseSucceeded, Reason: "Restarted", FinishedAt: &done}
	twoSteps := func(name string) *v1alpha1.Remediation {
		rec := restartRecord(name, ns, "web")
		rec.Spec.Sequence = &v1alpha1.SequenceRef{Step: 1, Of: 2}
		rec.Spec.Then = []v1alpha1.Step{{Action: v1alpha1.ActionRestart, Target: &v1alpha1.Target{Kind: v1alpha1.KindDeployment, Namespace: ns, Name: "cache"}}}
		return rec
	}
	lost := put(t, cluster.Records, ns, twoSteps("lost"), succeeded)
	landed := nextStepRecord(lost, time.Now())
	if err := cluster.Records.Create(t.Context(), landed); err != nil {
		t.Fatal(err)
	}
	other := put(t, cluster.Records, ns, twoSteps("other"), succeeded)
	squatter := nextStepRecord(lost, time.Now())
	squatter.Name = NextStepName(other)
	if err := cluster.Records.Create(t.Context(), squatter); err != nil {
		t.Fatal(err)
	}
	resolvedAt := metav1.NewTime(time.Now().Add(-time.Minute))
	resolvedSt := succeeded
	resolvedSt.AlertResolvedAt = &resolvedAt
	resolved := put(t, cluster.Records, ns, twoSteps("resolved"), resolvedSt)

	// The executor must not act: every next step here either exists or
	// must not be made. A runner that acts fails on the missing
	// Deployments, which the test would see as records Failed.
	m := startRunner(t, ns, remediations.NewExecutor(cluster.Records, remediations.Options{}), verifyPolicy(), nil)
	waitLong(t, "the three steps noted", func() bool {
		return get(t, cluster.Records, lost).Status.Next != nil && get(t, cluster.Records, other).Status.Next != nil && get(t, cluster.Records, resolved).Status.Next != nil
	})
	if n := get(t, cluster.Records, lost).Status.Next; n.Record != landed.Name {
		t.Errorf("next of lost = %+v, want the one that landed, %s", n, landed.Name)
	}
	if n := get(t, cluster.Records, other).Status.Next; n.Record != "" || !strings.Contains(n.Message, "record other-s2 exists and is not the next step of this record") {
		t.Errorf("next of other = %+v, want it refused, saying the record is not its", n)
	}
	if n := get(t, cluster.Records, resolved).Status.Next; n.Record != "" || !strings.HasPrefix(n.Message, "sequence stopped: the alert resolved at ") {
		t.Errorf("next of resolved = %+v, want the sequence stopped because the alert resolved", n)
	}
	if _, ok := records(t, ns)["resolved-s2"]; ok {
		t.Error("a next step was recorded for an alert that resolved")
	}
	if n := testutil.ToFloat64(m.Decision(engine.DecisionNextStep)); n != 0 {
		t.Errorf("next_step decisions = %v, want 0: nothing was created", n)
	}
}
