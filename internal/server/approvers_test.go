package server

import (
	"slices"
	"sync/atomic"
	"testing"

	"github.com/alertmedic/alertmedic/chatops"
	"github.com/alertmedic/alertmedic/rules"
)

// A Slack click is checked against the approvers of the rule set loaded at
// the moment of the click, as serve hands it to chatops: a reload that
// changes, drops or removes a rule's approvers applies to requests already
// waiting.
func TestRuleApproversFollowTheLoadedRules(t *testing.T) {
	parse := func(src string) *rules.Set {
		t.Helper()
		s, err := rules.Parse("rules.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	const head = `rules:
  - name: rollback-checkout
    match: ['alertname="CheckoutErrors"']
    target: {kind: Deployment, namespace: shop, name: checkout}
    action: rollback
    verify: {rollout: false} # this cluster runs no controllers: no rollout to see converge
`
	var loaded atomic.Pointer[rules.Set]
	lookup := ruleApprovers(loaded.Load)

	steps := []struct {
		what   string
		set    *rules.Set
		want   chatops.Approvers
		loaded bool
	}{
		{"no rules loaded yet", nil, chatops.Approvers{}, false},
		{"the rule names alice and the SRE group", parse(head + `    approval: {approvers: {users: [U0ALICE], groups: [S0SRE]}}
`), chatops.Approvers{Users: []string{"U0ALICE"}, Groups: []string{"S0SRE"}}, true},
		{"alice replaced by carol", parse(head + `    approval: {approvers: {users: [U0CAROL]}}
`), chatops.Approvers{Users: []string{"U0CAROL"}}, true},
		{"approval dropped from the rule: the defaults decide", parse(head + `    approval: {required: false}
`), chatops.Approvers{}, true},
		{"the rule removed", parse(`rules:
  - name: restart-web
    match: ['alertname="WebDown"']
    target: {kind: Deployment, namespace: shop, name: web}
    action: restart
    verify: {rollout: false} # this cluster runs no controllers: no rollout to see converge
`), chatops.Approvers{}, false},
	}
	for _, s := range steps {
		loaded.Store(s.set)
		got, ok := lookup("rollback-checkout")
		if ok != s.loaded || !slices.Equal(got.Users, s.want.Users) || !slices.Equal(got.Groups, s.want.Groups) {
			t.Errorf("%s: approvers %+v, loaded %v; want %+v, %v", s.what, got, ok, s.want, s.loaded)
		}
	}
}
