package controller

import (
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
		s := &v1alpha1.RemediationSpec{Rule: "r", Action: v1alpha1.ActionRestart,
			Target: v1alpha1.Target{Kind: v1alpha1.KindDeployment, Namespace: "shop", Name: "cart"},
			Budget: &v1alpha1.BudgetSpec{PerRule: 2, Window: metav1.Duration{Duration: time.Hour}}}
		if edit != nil {
			edit(s)
		}
		return s
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
