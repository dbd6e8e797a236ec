package controller

import (
	"testing"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/policy"
)

// Only an action that runs without a person is decided by the breaker, so
// only its episodes may go unrecorded in a breaker window.
func TestBreakerApplies(t *testing.T) {
	restart := v1alpha1.RemediationSpec{Action: v1alpha1.ActionRestart, Target: v1alpha1.Target{Kind: v1alpha1.KindDeployment, Namespace: "shop", Name: "web"}}
	approved := restart
	approved.Approval = &v1alpha1.ApprovalSpec{Users: []string{"U1"}}
	sequence := restart
	sequence.Then = []v1alpha1.Step{{Action: v1alpha1.ActionScale, Target: &v1alpha1.Target{Kind: v1alpha1.KindDeployment, Namespace: "prod-pay", Name: "api"}}}
	for _, tc := range []struct {
		name string
		spec v1alpha1.RemediationSpec
		pol  Policy
		want bool
	}{
		{"automatic restart", restart, Policy{}, true},
		{"the rule asks approval", approved, Policy{}, false},
		{"the breaker holds for approval", restart, Policy{BreakerHold: BreakerApproval}, false},
		{"no breaker", restart, Policy{Limits: policy.Limits{BreakerMax: -1}}, false},
		{"--require-approval restart", restart, Policy{RequireApproval: []string{"restart"}}, false},
		{"--require-approval rollback", restart, Policy{RequireApproval: []string{"rollback"}}, true},
		{"--require-approval namespace of the target", restart, Policy{RequireApproval: []string{"namespace=sh*"}}, false},
		{"--require-approval scale-down, a later step scales", sequence, Policy{RequireApproval: []string{"scale-down"}}, false},
		{"--require-approval namespace of a later step", sequence, Policy{RequireApproval: []string{"namespace=prod-*"}}, false},
		{"a sequence nothing holds", sequence, Policy{RequireApproval: []string{"rollback"}}, true},
	} {
		if got := BreakerApplies(&tc.spec, tc.pol); got != tc.want {
			t.Errorf("%s: BreakerApplies = %v, want %v", tc.name, got, tc.want)
		}
	}
}
