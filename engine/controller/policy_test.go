package controller

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine"
	"github.com/alertmedic/alertmedic/engine/approval"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/policy"
	"github.com/alertmedic/alertmedic/remediations"
)

// The deployment's policy (--require-approval) holds actions its rules let
// run: by action, by scaling down (worked out from the replicas there for a
// scale to N), and by namespace. Other actions run.
func TestPolicyRequiresApproval(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	c := cluster.NewClient(t, cluster.Config)
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
	// A scale to N of a workload an HPA scales raises the HPA's minimum:
	// never down, so not held; one that would lower it is.
	workload(t, ns, "api", nil) // 2 replicas
	if _, err := cluster.Client.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(t.Context(), &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: ns},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "api"},
			MinReplicas:    ptr.To[int32](2), MaxReplicas: 6,
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	raise := scale("rem-raise-to-3", v1alpha1.ScaleParams{Op: "to", N: 3, HPA: v1alpha1.HPARaise, HPAFor: &metav1.Duration{Duration: time.Hour}})
	raise.Spec.Target.Name = "api"
	raises := put(t, c, ns, raise, v1alpha1.RemediationStatus{})
	startRunner(t, ns, remediations.NewExecutor(cluster.Records, remediations.Options{}),
		Policy{RequireApproval: []string{"rollback", "scale-down", "namespace=prod-*"}, Limits: policy.Limits{BreakerMax: -1}}, time.Now)

	waitFor(t, "the scale up to run", phaseIs(t, c, runs, v1alpha1.PhaseSucceeded))
	waitFor(t, "the HPA raise to run", func() bool { st := get(t, c, raises).Status; return st.StartedAt != nil && st.Result != nil })
	if r := get(t, c, raises).Status.Result; r.Reason != "HPAMinRaised" {
		t.Errorf("HPA raise = %+v, want it run unheld", r)
	}
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
	if _, err := approval.Decide(t.Context(), c, kube.ObjectKeyFromObject(held[3]), true, "kubernetes:alice", time.Now()); err != nil {
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

// budgetRecords puts n records of rule on target (a Deployment name), each a
// new episode, with the rule's budget b (nil: the global defaults).
func budgetRecords(t *testing.T, c kube.Client, ns, rule, target string, n int, b *v1alpha1.BudgetSpec) []*v1alpha1.Remediation {
	t.Helper()
	var out []*v1alpha1.Remediation
	for i := range n {
		rec := restartRecord(fmt.Sprintf("rem-%s-%s-%d", rule, target, i), ns, target)
		rec.Spec.Rule, rec.Spec.Budget = rule, b
		out = append(out, put(t, c, ns, rec, v1alpha1.RemediationStatus{}))
	}
	return out
}

func phases(t *testing.T, c kube.Client, recs []*v1alpha1.Remediation) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, r := range recs {
		st := get(t, c, r).Status
		out[string(st.Phase)+"/"+st.Reason]++
	}
	return out
}

func allDone(t *testing.T, c kube.Client, recs []*v1alpha1.Remediation) func() bool {
	return func() bool {
		for _, r := range recs {
			if !get(t, c, r).Status.Phase.Final() {
				return false
			}
		}
		return true
	}
}

// maxPerWindow: past a rule's budget (on one target, or across its targets)
// actions are Skipped with the reason; rules without one take the defaults.
func TestBudgets(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	c := cluster.NewClient(t, cluster.Config)
	exec := &flaky{}
	m := startRunner(t, ns, exec, Policy{Limits: policy.Limits{PerTarget: 1, BudgetWindow: time.Hour}}, time.Now)
	hour := metav1.Duration{Duration: time.Hour}

	perTarget := budgetRecords(t, c, ns, "restart-a", "a", 3, &v1alpha1.BudgetSpec{PerTarget: 2, Window: hour})
	waitFor(t, "the per-target records", allDone(t, c, perTarget))
	if got := phases(t, c, perTarget); got["Succeeded/Restarted"] != 2 || got["Skipped/TargetBudget"] != 1 {
		t.Errorf("perTarget 2 of 3: %v", got)
	}
	var perRule []*v1alpha1.Remediation
	for _, target := range []string{"b", "c", "d"} {
		perRule = append(perRule, budgetRecords(t, c, ns, "restart-many", target, 1, &v1alpha1.BudgetSpec{PerRule: 2, Window: hour})...)
	}
	waitFor(t, "the per-rule records", allDone(t, c, perRule))
	if got := phases(t, c, perRule); got["Succeeded/Restarted"] != 2 || got["Skipped/RuleBudget"] != 1 {
		t.Errorf("perRule 2 over 3 targets: %v", got)
	}
	// No maxPerWindow on the rule: the default of one per target holds.
	defaults := budgetRecords(t, c, ns, "restart-plain", "e", 2, nil)
	waitFor(t, "the default-budget records", allDone(t, c, defaults))
	if got := phases(t, c, defaults); got["Succeeded/Restarted"] != 1 || got["Skipped/TargetBudget"] != 1 {
		t.Errorf("default perTarget 1 of 2: %v", got)
	}
	if exec.calls != 5 {
		t.Errorf("executions = %d, want 5", exec.calls)
	}
	if n := testutil.ToFloat64(m.Decision(engine.DecisionOverBudget)); n != 3 {
		t.Errorf("over_budget = %v, want 3", n)
	}
	for _, r := range append(perTarget, perRule...) {
		if st := get(t, c, r).Status; st.Phase == v1alpha1.PhaseSkipped && !strings.Contains(st.Message, "maxPerWindow") {
			t.Errorf("skip message %q does not name the budget", st.Message)
		}
	}
}
