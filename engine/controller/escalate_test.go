package controller

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine"
	"github.com/alertmedic/alertmedic/engine/approval"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/internal/testcluster"
	"github.com/alertmedic/alertmedic/remediations"
)

func rolloutWithin(d time.Duration) *v1alpha1.VerifySpec {
	return &v1alpha1.VerifySpec{Rollout: &v1alpha1.RolloutCheck{Timeout: metav1.Duration{Duration: d}}}
}

// The escalation of a failed record takes the first step of its chain and
// carries the rest; its name says its place in the chain.
func TestEscalationRecord(t *testing.T) {
	approval := &v1alpha1.ApprovalSpec{Groups: []string{"S1"}, Timeout: metav1.Duration{Duration: 10 * time.Minute}}
	cause := &v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{Name: "rem-0123456789", Namespace: "alertmedic",
			Labels: map[string]string{v1alpha1.LabelRule: "r", v1alpha1.LabelTarget: "t"}},
		Spec: v1alpha1.RemediationSpec{Rule: "r", Action: v1alpha1.ActionRestart, Target: v1alpha1.Target{Kind: "Deployment", Namespace: "shop", Name: "web"},
			TargetRef: "Deployment/shop/web", Verify: rolloutWithin(time.Minute), Silence: true,
			Cooldown: &metav1.Duration{Duration: time.Hour}, Notify: v1alpha1.NotifyFailures,
			OnFailure: []v1alpha1.Step{
				{Action: v1alpha1.ActionRollback, Rollback: &v1alpha1.RollbackParams{}, Approval: approval, Verify: rolloutWithin(2 * time.Minute)},
				{Action: v1alpha1.ActionScale, Scale: &v1alpha1.ScaleParams{Op: v1alpha1.ScaleBy, N: 2, Max: 6}},
			}},
	}
	e1 := escalation(cause, tNow)
	if e1.Name != "rem-0123456789-e1" || e1.Namespace != "alertmedic" || e1.Labels[v1alpha1.LabelEscalatedFrom] != cause.Name ||
		e1.Labels[v1alpha1.LabelTarget] != "t" || e1.Annotations[v1alpha1.AnnotationRecordedAt] != tNow.Format(time.RFC3339Nano) {
		t.Errorf("escalation meta = %+v", e1.ObjectMeta)
	}
	s := e1.Spec
	if s.Action != v1alpha1.ActionRollback || s.Rollback == nil || s.Approval == nil || s.Approval.Groups[0] != "S1" ||
		s.Verify.Rollout.Timeout.Duration != 2*time.Minute || s.Silence || s.EscalatedFrom != cause.Name {
		t.Errorf("escalation spec = %+v, want the rollback step with its own approval and checks, linked to its cause", s)
	}
	if s.Rule != "r" || s.Target != cause.Spec.Target || s.Notify != v1alpha1.NotifyFailures || s.Cooldown.Duration != time.Hour {
		t.Errorf("escalation spec = %+v, want the cause's rule, target, notify and cooldown", s)
	}
	if len(s.OnFailure) != 1 || s.OnFailure[0].Action != v1alpha1.ActionScale {
		t.Errorf("escalation chain = %+v, want the scale left", s.OnFailure)
	}
	if cause.Labels[v1alpha1.LabelEscalatedFrom] != "" || len(cause.Spec.OnFailure) != 2 {
		t.Error("making the escalation changed its cause")
	}
	e1.Status.Phase = v1alpha1.PhaseFailed
	e2 := escalation(e1, tNow)
	if e2.Name != "rem-0123456789-e2" || e2.Spec.EscalatedFrom != e1.Name || e2.Spec.Action != v1alpha1.ActionScale || len(e2.Spec.OnFailure) != 0 {
		t.Errorf("second escalation = %s %+v", e2.Name, e2.Spec)
	}
	if needsEscalation(e2) {
		t.Error("a record with no steps left needs no escalation")
	}
	if !needsEscalation(e1) {
		t.Error("a failed record with a step left needs its escalation")
	}
	for _, p := range []v1alpha1.Phase{v1alpha1.PhaseSucceeded, v1alpha1.PhaseSkipped, v1alpha1.PhaseDenied, v1alpha1.PhaseExpired, v1alpha1.PhaseCancelled, v1alpha1.PhaseVerifying} {
		e1.Status.Phase = p
		if needsEscalation(e1) {
			t.Errorf("a %s record is escalated; only Failed ones are", p)
		}
	}
	e1.Status.Phase, e1.Status.Escalation = v1alpha1.PhaseFailed, &v1alpha1.EscalationStatus{Record: e2.Name}
	if needsEscalation(e1) {
		t.Error("a record escalated already is escalated again")
	}
	if got := nextStep(e1, tNow, testPolicy()); got.Kind == stepEscalate {
		t.Errorf("next step of an escalated record = %+v", got)
	}
	e1.Status.Escalation = nil
	if got := nextStep(e1, tNow.Add(365*24*time.Hour), testPolicy()); got.Kind != stepEscalate {
		t.Errorf("next step of a failed record with a step left = %+v, want stepEscalate, before retention", got)
	}
}

// escalations lists the records that escalate cause.
func escalations(t *testing.T, c kube.Client, cause *v1alpha1.Remediation) []v1alpha1.Remediation {
	t.Helper()
	var list v1alpha1.RemediationList
	if err := c.List(t.Context(), &list, kube.InNamespace(cause.Namespace), kube.MatchingLabels{v1alpha1.LabelEscalatedFrom: cause.Name}); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// failedRestart is a restart that was applied and then not verified, with
// onFailure steps left.
func failedRestart(name, ns, target string, steps ...v1alpha1.Step) (*v1alpha1.Remediation, v1alpha1.RemediationStatus) {
	rec := restartRecord(name, ns, target)
	rec.Spec.Verify = rolloutWithin(time.Minute)
	rec.Spec.OnFailure = steps
	started, finished := metav1.NewTime(time.Now().Add(-2*time.Minute)), metav1.NewTime(time.Now().Add(-time.Minute))
	return rec, v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseFailed, Reason: ReasonRolloutStalled, Message: "rollout not finished 1m0s after the action",
		StartedAt: &started, FinishedAt: &finished, Attempts: 1, Result: &v1alpha1.ActionResult{Outcome: "Succeeded", Reason: "Restarted"}}
}

// A failed record's escalation is recorded once and runs, though the
// target was acted on a minute ago and the cooldown is an hour: the
// escalation answers that very action.
func TestFailedRecordEscalatesOnceAndRunsThroughTheCooldown(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	workload(t, ns, "web", nil)
	waitLong(t, "web available", available(t, ns, "web"))
	rec, st := failedRestart("stalled", ns, "web", v1alpha1.Step{Action: v1alpha1.ActionRestart})
	rec = put(t, cluster.Records, ns, rec, st)
	pol := verifyPolicy()
	pol.Cooldown = time.Hour
	m := startRunner(t, ns, remediations.NewExecutor(cluster.Records, remediations.Options{}), pol, nil)
	waitLong(t, "the escalation noted on the failed record", func() bool { return get(t, cluster.Records, rec).Status.Escalation != nil })
	e := get(t, cluster.Records, rec).Status.Escalation
	if e.Record != "stalled-e1" || e.Message != "" {
		t.Fatalf("escalation = %+v, want record stalled-e1", e)
	}
	next := &v1alpha1.Remediation{ObjectMeta: metav1.ObjectMeta{Name: e.Record, Namespace: ns}}
	waitLong(t, "the escalation to end", final(t, next))
	got := get(t, cluster.Records, next)
	if got.Status.Phase != v1alpha1.PhaseSucceeded || got.Status.Result == nil || got.Status.Result.Reason != "Restarted" || got.Spec.EscalatedFrom != "stalled" {
		t.Fatalf("escalation = %s %s %q (%+v), want a restart that ran despite the cooldown", got.Status.Phase, got.Status.Reason, got.Status.Message, got.Spec)
	}
	if n := len(escalations(t, cluster.Records, rec)); n != 1 {
		t.Errorf("%d escalations, want 1", n)
	}
	if n := testutil.ToFloat64(m.Decision(engine.DecisionEscalated)); n != 1 {
		t.Errorf("escalated decisions = %v, want 1", n)
	}
}

// An escalation created before (the answer to the create lost, or the
// replica stopped before noting it) is found and noted, not made twice; a
// record that only has the name is not taken for it.
func TestEscalationCreatedBeforeIsNotMadeTwice(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	workload(t, ns, "web", nil)
	rec, st := failedRestart("lost", ns, "web", v1alpha1.Step{Action: v1alpha1.ActionRestart, Verify: rolloutWithin(time.Minute)})
	rec = put(t, cluster.Records, ns, rec, st)
	landed := escalation(rec, time.Now())
	if err := cluster.Records.Create(t.Context(), landed); err != nil {
		t.Fatal(err)
	}
	// A record with the name another escalation would take, escalating
	// something else.
	other, ost := failedRestart("other", ns, "web", v1alpha1.Step{Action: v1alpha1.ActionRestart})
	other = put(t, cluster.Records, ns, other, ost)
	squatter := escalation(rec, time.Now())
	squatter.Name = EscalationName(other)
	if err := cluster.Records.Create(t.Context(), squatter); err != nil {
		t.Fatal(err)
	}
	m := startRunner(t, ns, remediations.NewExecutor(cluster.Records, remediations.Options{}), verifyPolicy(), nil)
	waitLong(t, "both failed records noted", func() bool {
		return get(t, cluster.Records, rec).Status.Escalation != nil && get(t, cluster.Records, other).Status.Escalation != nil
	})
	if e := get(t, cluster.Records, rec).Status.Escalation; e.Record != landed.Name {
		t.Errorf("escalation = %+v, want the one that landed, %s", e, landed.Name)
	}
	if e := get(t, cluster.Records, other).Status.Escalation; e.Record != "" || !strings.Contains(e.Message, `record other-e1 exists and escalates "lost"`) {
		t.Errorf("escalation of other = %+v, want it refused, saying whose the record is", e)
	}
	if n := len(escalations(t, cluster.Records, rec)); n != 2 { // landed, and the squatter that says it escalates rec
		t.Errorf("%d records escalate lost, want the 2 made by the test", n)
	}
	if n := testutil.ToFloat64(m.Decision(engine.DecisionEscalated)); n != 0 {
		t.Errorf("escalated decisions = %v, want 0: nothing was created", n)
	}
}

// A record whose alert resolved before it failed is not escalated; a
// resolution that comes later reaches the escalation and cancels it while
// it waits for approval.
func TestResolvedAlertsAreNotEscalated(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	workload(t, ns, "web", nil)
	resolved := metav1.NewTime(time.Now().Add(-90 * time.Second))
	rec, st := failedRestart("resolved", ns, "web", v1alpha1.Step{Action: v1alpha1.ActionRestart})
	st.AlertResolvedAt = &resolved
	rec = put(t, cluster.Records, ns, rec, st)
	ask := &v1alpha1.ApprovalSpec{Users: []string{"U1"}, Timeout: metav1.Duration{Duration: time.Hour}}
	waiting, wst := failedRestart("waits", ns, "web", v1alpha1.Step{Action: v1alpha1.ActionRollback, Rollback: &v1alpha1.RollbackParams{}, Approval: ask})
	waiting = put(t, cluster.Records, ns, waiting, wst)
	startRunner(t, ns, remediations.NewExecutor(cluster.Records, remediations.Options{}), verifyPolicy(), nil)
	waitLong(t, "both noted", func() bool {
		return get(t, cluster.Records, rec).Status.Escalation != nil && get(t, cluster.Records, waiting).Status.Escalation != nil
	})
	if e := get(t, cluster.Records, rec).Status.Escalation; e.Record != "" || !strings.HasPrefix(e.Message, "not escalated: the alert resolved at ") {
		t.Errorf("escalation = %+v, want none because the alert resolved", e)
	}
	if n := len(escalations(t, cluster.Records, rec)); n != 0 {
		t.Errorf("%d escalations of a resolved alert", n)
	}
	next := &v1alpha1.Remediation{ObjectMeta: metav1.ObjectMeta{Name: get(t, cluster.Records, waiting).Status.Escalation.Record, Namespace: ns}}
	waitLong(t, "the escalation to wait for approval", phaseIs(t, cluster.Records, next, v1alpha1.PhasePendingApproval))
	// The resolved notification names the first record of the chain.
	cancelled, err := approval.Resolve(t.Context(), cluster.Records, kube.ObjectKeyFromObject(waiting), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(cancelled) != 1 || cancelled[0].Name != next.Name {
		t.Errorf("cancelled %v, want the escalation", cancelled)
	}
	got := get(t, cluster.Records, next)
	if got.Status.Phase != v1alpha1.PhaseCancelled || got.Status.Reason != "AlertResolved" || get(t, cluster.Records, waiting).Status.AlertResolvedAt == nil {
		t.Errorf("escalation = %s %s, want Cancelled AlertResolved, its cause marked resolved too", got.Status.Phase, got.Status.Reason)
	}
}

// setImage changes the Deployment's image, a new release, and waits until
// its controller has seen it.
func setImage(t *testing.T, ns, name, image string) {
	t.Helper()
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		d.Spec.Template.Spec.Containers[0].Image = image
		_, err = cluster.Client.AppsV1().Deployments(ns).Update(t.Context(), d, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	waitLong(t, "the new release seen by its controller", func() bool {
		d, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
		return err == nil && d.Status.ObservedGeneration == d.Generation
	})
}

func image(t *testing.T, ns, name string) string {
	t.Helper()
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

// The story escalation is for, on the full cluster: release 2 crashes and
// release 3 replaced it; an alert makes the rule roll back to the previous
// release, which is the bad one. Its pods crash-loop, the rollout check
// fails with their reason, and the rule's onFailure rolls back again, to
// release 3, which is verified.
func TestRollbackToABadReleaseEscalatesToARollbackThatSucceeds(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	workload(t, ns, "web", nil) // release 1: app:1
	waitLong(t, "release 1 available", available(t, ns, "web"))
	setImage(t, ns, "web", "app:"+string(testcluster.CrashLoop)) // release 2 crash-loops
	setImage(t, ns, "web", "app:3")                              // release 3 replaces it
	waitLong(t, "release 3 available", available(t, ns, "web"))

	rec := restartRecord("bad-rollback", ns, "web")
	rec.Spec.Rule, rec.Spec.Action = "rollback-on-errors", v1alpha1.ActionRollback
	rec.Spec.Rollback = &v1alpha1.RollbackParams{}
	rec.Spec.Verify = rolloutWithin(12 * time.Second)
	rec.Spec.OnFailure = []v1alpha1.Step{{Action: v1alpha1.ActionRollback, Rollback: &v1alpha1.RollbackParams{}, Verify: rolloutWithin(2 * time.Minute)}}
	pol := verifyPolicy()
	pol.Cooldown = time.Hour
	startRunner(t, ns, remediations.NewExecutor(cluster.Records, remediations.Options{}), pol, nil)
	rec = put(t, cluster.Records, ns, rec, v1alpha1.RemediationStatus{})

	waitLong(t, "the rollback to end", final(t, rec))
	st := get(t, cluster.Records, rec).Status
	if st.Phase != v1alpha1.PhaseFailed || st.Reason != ReasonRolloutStalled || !strings.Contains(st.Message, "CrashLoopBackOff") {
		t.Fatalf("rollback = %s %s %q, want Failed RolloutStalled with the pods in CrashLoopBackOff", st.Phase, st.Reason, st.Message)
	}
	waitLong(t, "the escalation noted", func() bool { return get(t, cluster.Records, rec).Status.Escalation != nil })
	next := &v1alpha1.Remediation{ObjectMeta: metav1.ObjectMeta{Name: get(t, cluster.Records, rec).Status.Escalation.Record, Namespace: ns}}
	if next.Name != "bad-rollback-e1" {
		t.Fatalf("escalation = %+v", get(t, cluster.Records, rec).Status.Escalation)
	}
	waitLong(t, "the escalation to end", final(t, next))
	got := get(t, cluster.Records, next)
	if got.Status.Phase != v1alpha1.PhaseSucceeded || got.Status.Reason != ReasonVerified || got.Spec.EscalatedFrom != rec.Name {
		t.Fatalf("escalation = %s %s %q, want Succeeded Verified", got.Status.Phase, got.Status.Reason, got.Status.Message)
	}
	if img := image(t, ns, "web"); img != "app:3" {
		t.Errorf("image after the escalation = %s, want release 3 (app:3)", img)
	}
	if !available(t, ns, "web")() {
		t.Error("web is not available after the escalation was verified")
	}
}
