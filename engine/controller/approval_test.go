package controller

import (
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine/approval"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/remediations"
)

// pendingRestart runs a runner over a Deployment "web" and a restart of it
// that waits for approval (by U0123), and returns once it waits.
func pendingRestart(t *testing.T, name string) (string, kube.Client, *v1alpha1.Remediation) {
	t.Helper()
	ns := cluster.Namespace(t, "records")
	c := cluster.NewClient(t, cluster.Config)
	workload(t, ns, "web", nil)
	rec := restartRecord(name, ns, "web")
	rec.Spec.Approval = &v1alpha1.ApprovalSpec{Users: []string{"U0123"}, Timeout: metav1.Duration{Duration: time.Hour}}
	rec = put(t, c, ns, rec, v1alpha1.RemediationStatus{})
	startRunner(t, ns, remediations.NewExecutor(cluster.Records, remediations.Options{}), Policy{}, time.Now)
	waitFor(t, "the record to wait for approval", phaseIs(t, c, rec, v1alpha1.PhasePendingApproval))
	return ns, c, rec
}

// A record that needs approval waits, then expires after its timeout.
func TestApprovalWaitsThenExpires(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	c := cluster.NewClient(t, cluster.Config)
	exec := &flaky{}
	rec := restartRecord("rem-approval", ns, "web")
	rec.Spec.Approval = &v1alpha1.ApprovalSpec{Channel: "C1", Users: []string{"U1"}, Timeout: metav1.Duration{Duration: 30 * time.Minute}}
	rec = put(t, c, ns, rec, v1alpha1.RemediationStatus{})
	var (
		mu     sync.Mutex
		offset time.Duration
	)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(offset) }
	startRunner(t, ns, exec, Policy{}, now)
	waitFor(t, "the record to await approval", phaseIs(t, c, rec, v1alpha1.PhasePendingApproval))
	// 31 minutes later (the clock moves; the record is looked at again).
	mu.Lock()
	offset = 31 * time.Minute
	mu.Unlock()
	// Make the runner look again (it would on its own at the deadline); the
	// runner may be writing the status meanwhile, so retry on conflict.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		r := get(t, c, rec)
		r.Annotations = map[string]string{"poke": "1"}
		return c.Update(t.Context(), r)
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the record to expire", phaseIs(t, c, rec, v1alpha1.PhaseExpired))
	if exec.calls != 0 {
		t.Errorf("an unapproved action ran %d times", exec.calls)
	}
}

// A record waiting for approval carries the dry-run plan its approver sees;
// if the target changes before the approval, the approved action is not
// applied to it.
func TestApprovedStalePlanIsNotRun(t *testing.T) {
	ns, c, rec := pendingRestart(t, "rem-stale")

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
	if _, err := approval.Decide(t.Context(), c, kube.ObjectKeyFromObject(rec), true, "slack:U0123", time.Now()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the approved record to finish", func() bool { return get(t, c, rec).Status.Phase.Final() })
	st := get(t, c, rec).Status
	if st.Phase != v1alpha1.PhaseSkipped || st.Reason != "TargetChanged" || st.DecidedBy != "slack:U0123" {
		t.Fatalf("status = %+v, want Skipped TargetChanged, approved by slack:U0123", st)
	}
	// It never ran: the record (and so its Slack message) never showed
	// Running for an action that was not going to run.
	if st.StartedAt != nil || st.ExecutedBy != "" || st.Write != nil {
		t.Errorf("status = %+v, want no attempt: the stale plan was refused before anything was sent", st)
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
	ns := cluster.Namespace(t, "records")
	c := cluster.NewClient(t, cluster.Config)
	rec := restartRecord("rem-no-target", ns, "missing")
	rec.Spec.Approval = &v1alpha1.ApprovalSpec{Users: []string{"U0123"}, Timeout: metav1.Duration{Duration: time.Hour}}
	rec = put(t, c, ns, rec, v1alpha1.RemediationStatus{})
	startRunner(t, ns, remediations.NewExecutor(cluster.Records, remediations.Options{}), Policy{}, time.Now)
	waitFor(t, "the record to wait for approval", phaseIs(t, c, rec, v1alpha1.PhasePendingApproval))
	if p := get(t, c, rec).Status.Plan; p == nil || !strings.Contains(p.Error, "not found") || p.Generation != 0 {
		t.Errorf("plan = %+v, want the not-found error", p)
	}
}

// The target is deleted while its action waits for approval: approved
// later, the action is Skipped as NotFound and nothing is created or
// changed.
func TestApprovedTargetDeletedIsSkipped(t *testing.T) {
	ns, c, rec := pendingRestart(t, "rem-deleted")
	if p := get(t, c, rec).Status.Plan; p == nil || p.UID == "" {
		t.Fatalf("plan = %+v, want it to pin the target's UID", p)
	}
	if err := cluster.Client.AppsV1().Deployments(ns).Delete(t.Context(), "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := approval.Decide(t.Context(), c, kube.ObjectKeyFromObject(rec), true, "slack:U0123", time.Now()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the approved record to finish", func() bool { return get(t, c, rec).Status.Phase.Final() })
	if st := get(t, c, rec).Status; st.Phase != v1alpha1.PhaseSkipped || st.Reason != "NotFound" || st.StartedAt != nil {
		t.Errorf("status = %+v, want Skipped NotFound without running", st)
	}
}
