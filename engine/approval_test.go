package engine

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine/approval"
	"github.com/alertmedic/alertmedic/policy"
	"github.com/alertmedic/alertmedic/remediations"
)

// pendingRestart runs a runner over a Deployment "web" and a restart of it
// that waits for approval (by U0123), and returns once it waits.
func pendingRestart(t *testing.T, name string) (string, client.Client, *v1alpha1.Remediation) {
	t.Helper()
	ns := recordsNamespace(t)
	c := newClient(t, cluster.Config)
	workload(t, ns, "web", nil)
	rec := restartRecord(name, ns, "web")
	rec.Spec.Approval = &v1alpha1.ApprovalSpec{Users: []string{"U0123"}, Timeout: metav1.Duration{Duration: time.Hour}}
	rec = put(t, c, ns, rec, v1alpha1.RemediationStatus{})
	startRunner(t, ns, remediations.NewExecutor(cluster.Client, remediations.Options{}), Policy{}, time.Now)
	waitFor(t, "the record to wait for approval", phaseIs(t, c, rec, v1alpha1.PhasePendingApproval))
	return ns, c, rec
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
	if _, err := approval.Decide(t.Context(), c, client.ObjectKeyFromObject(rec), true, "slack:U0123", time.Now()); err != nil {
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

// The deployment's policy (--require-approval) holds actions its rules let
// run: by action, by scaling down (worked out from the replicas there for a
// scale to N), and by namespace. Other actions run.
func TestPolicyRequiresApproval(t *testing.T) {
	ns := recordsNamespace(t)
	c := newClient(t, cluster.Config)
	prod := "prod-" + ns
	if _, err := cluster.Client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: prod}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	workload(t, ns, "web", nil) // 2 replicas
	workload(t, prod, "web", nil)
	scale := func(name string, p v1alpha1.ScaleParams) *v1alpha1.Remediation {
		return &v1alpha1.Remediation{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: v1alpha1.RemediationSpec{Rule: "scale-" + name, Action: "scale", Scale: &p,
				Target: v1alpha1.Target{Kind: "Deployment", Namespace: ns, Name: "web"}}}
	}
	rollback := restartRecord("rem-rollback", ns, "web")
	rollback.Spec.Rule, rollback.Spec.Action, rollback.Spec.Rollback = "rollback-it", "rollback", &v1alpha1.RollbackParams{}
	held := []*v1alpha1.Remediation{
		put(t, c, ns, rollback, v1alpha1.RemediationStatus{}),
		put(t, c, ns, scale("rem-scale-to-1", v1alpha1.ScaleParams{Op: "to", N: 1}), v1alpha1.RemediationStatus{}),
		put(t, c, ns, scale("rem-scale-by-minus", v1alpha1.ScaleParams{Op: "by", N: -1}), v1alpha1.RemediationStatus{}),
		put(t, c, ns, restartRecord("rem-restart-prod", prod, "web"), v1alpha1.RemediationStatus{}),
	}
	runs := put(t, c, ns, scale("rem-scale-to-4", v1alpha1.ScaleParams{Op: "to", N: 4}), v1alpha1.RemediationStatus{})
	startRunner(t, ns, remediations.NewExecutor(cluster.Client, remediations.Options{}),
		Policy{RequireApproval: []string{"rollback", "scale-down", "namespace=prod-*"}, Limits: policy.Limits{BreakerMax: -1}}, time.Now)

	waitFor(t, "the scale up to run", phaseIs(t, c, runs, v1alpha1.PhaseSucceeded))
	for _, rec := range held {
		waitFor(t, rec.Name+" to wait for approval", phaseIs(t, c, rec, v1alpha1.PhasePendingApproval))
		st := get(t, c, rec).Status
		if st.Reason != "PolicyRequiresApproval" || !strings.Contains(st.Message, "--require-approval") ||
			st.ApprovalExpiresAt == nil || st.Plan == nil {
			t.Errorf("%s: status = %+v", rec.Name, st)
		}
	}
	if d, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{}); err != nil || *d.Spec.Replicas != 4 {
		t.Fatalf("replicas = %v, %v; want 4 from the scale up alone", d.Spec.Replicas, err)
	}
	// Approved, a held action runs.
	if _, err := approval.Decide(t.Context(), c, client.ObjectKeyFromObject(held[3]), true, "kubernetes:alice", time.Now()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the approved restart", phaseIs(t, c, held[3], v1alpha1.PhaseSucceeded))
}

func TestValidRequireApproval(t *testing.T) {
	for _, v := range []string{"restart", "scale", "scale-down", "rollback", "namespace=prod-*", "namespace=payments"} {
		if err := ValidRequireApproval(v); err != nil {
			t.Errorf("%q: %v", v, err)
		}
	}
	for _, v := range []string{"", "delete", "namespace=", "namespace=[", "Rollback"} {
		if err := ValidRequireApproval(v); err == nil {
			t.Errorf("%q accepted", v)
		}
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
	if _, err := approval.Decide(t.Context(), c, client.ObjectKeyFromObject(rec), true, "slack:U0123", time.Now()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the approved record to finish", func() bool { return get(t, c, rec).Status.Phase.Final() })
	if st := get(t, c, rec).Status; st.Phase != v1alpha1.PhaseSkipped || st.Reason != "NotFound" || st.StartedAt != nil {
		t.Errorf("status = %+v, want Skipped NotFound without running", st)
	}
}
