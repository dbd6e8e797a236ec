package engine

import (
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/remediations"
)

// A record waiting for approval carries the dry-run plan its approver sees;
// if the target changes before the approval, the approved action is not
// applied to it.
func TestApprovedStalePlanIsNotRun(t *testing.T) {
	ns := recordsNamespace(t)
	c := newClient(t, cluster.Config)
	workload(t, ns, "web", nil)
	rec := restartRecord("rem-stale", ns, "web")
	rec.Spec.Approval = &v1alpha1.ApprovalSpec{Users: []string{"U0123"}, Timeout: metav1.Duration{Duration: time.Hour}}
	rec = put(t, c, ns, rec, v1alpha1.RemediationStatus{})
	startRunner(t, ns, remediations.NewExecutor(cluster.Client, remediations.Options{}), Policy{}, time.Now)
	waitFor(t, "the record to wait for approval", phaseIs(t, c, rec, v1alpha1.PhasePendingApproval))

	d, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	plan := get(t, c, rec).Status.Plan
	if plan == nil || plan.Generation != d.Generation || plan.Outcome != "Succeeded" || plan.Before != "restartedAt=never" ||
		!strings.HasPrefix(plan.After, "restartedAt=") || plan.Error != "" {
		t.Fatalf("plan = %+v, want a restart planned at generation %d", plan, d.Generation)
	}

	// Someone scales the Deployment while the approval waits.
	d.Spec.Replicas = new(int32(5))
	if _, err := cluster.Client.AppsV1().Deployments(ns).Update(t.Context(), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Decide(t.Context(), c, client.ObjectKeyFromObject(rec), true, "slack:U0123", time.Now()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the approved record to finish", func() bool { return get(t, c, rec).Status.Phase.Final() })
	st := get(t, c, rec).Status
	if st.Phase != v1alpha1.PhaseSkipped || st.Reason != "TargetChanged" || st.DecidedBy != "slack:U0123" {
		t.Fatalf("status = %+v, want Skipped TargetChanged, approved by slack:U0123", st)
	}
	d, err = cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Spec.Template.Annotations[remediations.RestartedAtAnnotation] != "" {
		t.Errorf("the stale plan was applied")
	}
}

// A missing target still waits for approval, shown with why there is no
// preview.
func TestPlanErrorIsShown(t *testing.T) {
	ns := recordsNamespace(t)
	c := newClient(t, cluster.Config)
	rec := restartRecord("rem-no-target", ns, "missing")
	rec.Spec.Approval = &v1alpha1.ApprovalSpec{Users: []string{"U0123"}, Timeout: metav1.Duration{Duration: time.Hour}}
	rec = put(t, c, ns, rec, v1alpha1.RemediationStatus{})
	startRunner(t, ns, remediations.NewExecutor(cluster.Client, remediations.Options{}), Policy{}, time.Now)
	waitFor(t, "the record to wait for approval", phaseIs(t, c, rec, v1alpha1.PhasePendingApproval))
	if p := get(t, c, rec).Status.Plan; p == nil || !strings.Contains(p.Error, "not found") || p.Generation != 0 {
		t.Errorf("plan = %+v, want the not-found error", p)
	}
}

// Past its deadline a record cannot be approved, even before the leader has
// recorded it as Expired.
func TestDecideAfterDeadlineIsRefused(t *testing.T) {
	ns := recordsNamespace(t)
	c := newClient(t, cluster.Config)
	deadline := metav1.NewTime(time.Now().Add(-time.Second).Truncate(time.Second))
	rec := restartRecord("rem-late", ns, "web")
	rec = put(t, c, ns, rec, v1alpha1.RemediationStatus{Phase: v1alpha1.PhasePendingApproval, ApprovalExpiresAt: &deadline})
	rv := get(t, c, rec).ResourceVersion
	_, err := Decide(t.Context(), c, client.ObjectKeyFromObject(rec), true, "slack:U0123", time.Now())
	var de *DecidedError
	if !errors.As(err, &de) || de.Phase != v1alpha1.PhaseExpired {
		t.Fatalf("Decide after the deadline = %v, want a DecidedError saying it expired", err)
	}
	if want := "rem-late expired unapproved at " + deadline.UTC().Format(time.RFC3339); err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if got := get(t, c, rec); got.ResourceVersion != rv || got.Status.DecidedBy != "" {
		t.Errorf("the record changed: %+v", got.Status)
	}
}
