package controller

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/policy"
)

// TestBudgetKey: the budget windows that decide an episode are those of
// its rule's budget as it is now (a budget changed since a window was
// published is not held by it), and only for an action that runs without
// a person and is not an escalation or a later step of a sequence.
func TestBudgetKey(t *testing.T) {
	pol := Policy{Limits: policy.Limits{PerRule: 5, BudgetWindow: 2 * time.Hour}}
	spec := func(edit func(*v1alpha1.RemediationSpec)) *v1alpha1.RemediationSpec {
		return restartSpec(v1alpha1.BudgetSpec{PerRule: 2, Window: metav1.Duration{Duration: time.Hour}}, edit)
	}
	for _, c := range []struct {
		name string
		spec *v1alpha1.RemediationSpec
		pol  Policy
		want string
	}{
		{"the rule's budget", spec(nil), pol, "r|2/1h0m0s"},
		{"the rule's budget changed", spec(func(s *v1alpha1.RemediationSpec) { s.Budget.PerRule = 3 }), pol, "r|3/1h0m0s"},
		{"no budget of its own: the deployment's", spec(func(s *v1alpha1.RemediationSpec) { s.Budget = nil }), pol, "r|5/2h0m0s"},
		{"no budget at all", spec(func(s *v1alpha1.RemediationSpec) { s.Budget = nil }), Policy{}, ""},
		{"waits for approval", spec(func(s *v1alpha1.RemediationSpec) {
			s.Approval = &v1alpha1.ApprovalSpec{Timeout: metav1.Duration{Duration: time.Hour}}
		}), pol, ""},
		{"--require-approval restart", spec(nil), Policy{RequireApproval: []string{"restart"}}, ""},
		{"an escalation", spec(func(s *v1alpha1.RemediationSpec) { s.EscalatedFrom = "rem-x" }), pol, ""},
		{"a later step", spec(func(s *v1alpha1.RemediationSpec) { s.Sequence = &v1alpha1.SequenceRef{Step: 2, Of: 2} }), pol, ""},
	} {
		if got := BudgetKey(c.spec, c.pol); got != c.want {
			t.Errorf("%s: BudgetKey = %q, want %q", c.name, got, c.want)
		}
	}
}

// TestTargetBudgetKey: the target windows that decide an episode are
// those of its target (by TargetRef) under the perTarget budget and the
// cooldown that apply now (a changed budget or cooldown is another key),
// and only for an action that runs without a person and is not an
// escalation or a later step of a sequence.
func TestTargetBudgetKey(t *testing.T) {
	pol := Policy{Limits: policy.Limits{PerTarget: 5, BudgetWindow: 2 * time.Hour, Cooldown: 10 * time.Minute}}
	spec := func(edit func(*v1alpha1.RemediationSpec)) *v1alpha1.RemediationSpec {
		return restartSpec(v1alpha1.BudgetSpec{PerTarget: 1, Window: metav1.Duration{Duration: time.Hour}}, edit)
	}
	for _, c := range []struct {
		name             string
		spec             *v1alpha1.RemediationSpec
		pol              Policy
		target, cooldown string
	}{
		{"the rule's budget, the deployment's cooldown", spec(nil), pol, "target Deployment/shop/cart|1/1h0m0s", "cooldown Deployment/shop/cart|10m0s"},
		{"the rule's budget changed", spec(func(s *v1alpha1.RemediationSpec) { s.Budget.PerTarget = 2 }), pol, "target Deployment/shop/cart|2/1h0m0s", "cooldown Deployment/shop/cart|10m0s"},
		{"another target", spec(func(s *v1alpha1.RemediationSpec) { s.TargetRef = "Deployment/shop/web" }), pol, "target Deployment/shop/web|1/1h0m0s", "cooldown Deployment/shop/web|10m0s"},
		{"the rule's own cooldown", spec(func(s *v1alpha1.RemediationSpec) { s.Cooldown = &metav1.Duration{Duration: time.Hour} }), pol, "target Deployment/shop/cart|1/1h0m0s", "cooldown Deployment/shop/cart|1h0m0s"},
		{"no budget of its own: the deployment's", spec(func(s *v1alpha1.RemediationSpec) { s.Budget = nil }), pol, "target Deployment/shop/cart|5/2h0m0s", "cooldown Deployment/shop/cart|10m0s"},
		{"a budget of its own without perTarget", spec(func(s *v1alpha1.RemediationSpec) { s.Budget.PerTarget = 0; s.Budget.PerRule = 3 }), pol, "", "cooldown Deployment/shop/cart|10m0s"},
		{"no budget nor cooldown at all", spec(func(s *v1alpha1.RemediationSpec) { s.Budget = nil }), Policy{}, "", ""},
		{"waits for approval", spec(func(s *v1alpha1.RemediationSpec) {
			s.Approval = &v1alpha1.ApprovalSpec{Timeout: metav1.Duration{Duration: time.Hour}}
		}), pol, "", ""},
		{"--require-approval namespace=shop", spec(nil), Policy{Limits: pol.Limits, RequireApproval: []string{"namespace=shop"}}, "", ""},
		{"an escalation", spec(func(s *v1alpha1.RemediationSpec) { s.EscalatedFrom = "rem-x" }), pol, "", ""},
		{"a later step", spec(func(s *v1alpha1.RemediationSpec) { s.Sequence = &v1alpha1.SequenceRef{Step: 2, Of: 2} }), pol, "", ""},
	} {
		if got := TargetBudgetKey(c.spec, c.pol); got != c.target {
			t.Errorf("%s: TargetBudgetKey = %q, want %q", c.name, got, c.target)
		}
		if got := CooldownKey(c.spec, c.pol); got != c.cooldown {
			t.Errorf("%s: CooldownKey = %q, want %q", c.name, got, c.cooldown)
		}
		var want []string
		for _, k := range []string{BudgetKey(c.spec, c.pol), c.target, c.cooldown} {
			if k != "" {
				want = append(want, k)
			}
		}
		if got := BudgetKeys(c.spec, c.pol); !slices.Equal(got, want) {
			t.Errorf("%s: BudgetKeys = %q, want %q", c.name, got, want)
		}
	}
}

// restartSpec is a rule r's restart of Deployment shop/cart with budget,
// changed by edit (when not nil).
func restartSpec(budget v1alpha1.BudgetSpec, edit func(*v1alpha1.RemediationSpec)) *v1alpha1.RemediationSpec {
	s := &v1alpha1.RemediationSpec{Rule: "r", Action: v1alpha1.ActionRestart, TargetRef: "Deployment/shop/cart",
		Target: v1alpha1.Target{Kind: v1alpha1.KindDeployment, Namespace: "shop", Name: "cart"}, Budget: &budget}
	if edit != nil {
		edit(s)
	}
	return s
}
