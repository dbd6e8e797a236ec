package chatops

import (
	"strings"
	"sync"
	"testing"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// loadedRules stands for the rule set alertmedic has loaded: the approvers
// of each rule by name, replaced whole on a reload as serve replaces its
// rule set.
type loadedRules struct {
	mu    sync.Mutex
	rules map[string]Approvers
}

func (l *loadedRules) load(rules map[string]Approvers) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rules = rules
}

func (l *loadedRules) approvers(rule string) (Approvers, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a, ok := l.rules[rule]
	return a, ok
}

// A request waiting for approval is decided by the approvers of the rules
// in force when the button is clicked, not of the rules when the alert
// came: an approver the rule no longer names is refused, a new one may
// approve.
func TestRuleChangeAppliesToWaitingApprovals(t *testing.T) {
	rules := &loadedRules{rules: map[string]Approvers{"restart-crashlooping": {Users: []string{"U0ALICE", "U0BOB"}}}}
	e := newEnv(t)
	e.workload("web")
	b := e.start(func(o *Options) { o.RuleApprovers = rules.approvers })
	rec := e.restartNeedingApproval("web", v1alpha1.ApprovalSpec{Channel: "C0SHOP", Users: []string{"U0ALICE", "U0BOB"}})
	msg := e.posted(rec)

	// The rule is changed: bob is no longer an approver, carol is.
	rules.load(map[string]Approvers{"restart-crashlooping": {Users: []string{"U0ALICE", "U0CAROL"}}})

	e.click(b, approveBy("U0BOB", msg, rec))
	waitFor(t, "bob to be told", func() bool { return len(e.ws.Ephemerals()) == 1 })
	if eph := e.ws.Ephemerals()[0]; eph.User != "U0BOB" ||
		eph.Text != "You are not allowed to approve or deny this remediation under the rules in force now; it may be decided by <@U0ALICE>, <@U0CAROL>. Nothing was changed." {
		t.Errorf("ephemeral = %+v", eph)
	}
	if st := e.get(rec).Status; st.Phase != v1alpha1.PhasePendingApproval || st.DecidedBy != "" {
		t.Fatalf("a removed approver's click changed the record: %+v", st)
	}
	if m := e.message(rec); m.Updates != 0 {
		t.Errorf("the message was updated %d times after a refused click", m.Updates)
	}
	if got := interactions(b, "unauthorized"); got != 1 {
		t.Errorf("unauthorized = %d, want 1", got)
	}

	e.click(b, approveBy("U0CAROL", msg, rec))
	waitFor(t, "carol's approval to run", phaseIs(e, rec, v1alpha1.PhaseSucceeded))
	if by := e.get(rec).Status.DecidedBy; by != "slack:U0CAROL (carol)" {
		t.Errorf("decided by %q, want carol", by)
	}
	if n := e.restarts("web"); n != 1 {
		t.Errorf("restarts = %d, want 1", n)
	}
}

// A request whose rule is no longer loaded cannot be decided from Slack,
// not even by the approvers copied into it; once the rule is back and names
// nobody, the default approvers decide.
func TestRemovedRuleRefusesClicks(t *testing.T) {
	rules := &loadedRules{rules: map[string]Approvers{"restart-crashlooping": {Users: []string{"U0ALICE"}}}}
	e := newEnv(t)
	e.workload("web")
	b := e.start(func(o *Options) {
		o.RuleApprovers = rules.approvers
		o.DefaultApprovers = Approvers{Users: []string{"U0OPS"}}
	})
	rec := e.restartNeedingApproval("web", v1alpha1.ApprovalSpec{Channel: "C0SHOP", Users: []string{"U0ALICE"}})
	msg := e.posted(rec)

	rules.load(map[string]Approvers{"another-rule": {Users: []string{"U0ALICE"}}})
	e.click(b, approveBy("U0ALICE", msg, rec))
	waitFor(t, "alice to be told", func() bool { return len(e.ws.Ephemerals()) == 1 })
	if eph := e.ws.Ephemerals()[0]; eph.User != "U0ALICE" ||
		!strings.HasPrefix(eph.Text, "Rule `restart-crashlooping`, which asked for this approval, is no longer in the loaded rules, so nobody may approve or deny it from Slack. Nothing was changed.") ||
		!strings.Contains(eph.Text, "alertmedic approve "+rec.Name) {
		t.Errorf("ephemeral = %+v", eph)
	}
	if st := e.get(rec).Status; st.Phase != v1alpha1.PhasePendingApproval || st.DecidedBy != "" {
		t.Fatalf("a click on a request of a removed rule changed the record: %+v", st)
	}

	// The rule comes back without approvers (the circuit breaker's case
	// too): the default approvers decide, alice no longer does.
	rules.load(map[string]Approvers{"restart-crashlooping": {}})
	e.click(b, approveBy("U0ALICE", msg, rec))
	waitFor(t, "alice to be told again", func() bool { return len(e.ws.Ephemerals()) == 2 })
	if eph := e.ws.Ephemerals()[1]; !strings.Contains(eph.Text, "it may be decided by <@U0OPS>") {
		t.Errorf("ephemeral = %+v", eph)
	}
	e.click(b, approveBy("U0OPS", msg, rec))
	waitFor(t, "the default approver's approval to run", phaseIs(e, rec, v1alpha1.PhaseSucceeded))
	if by := e.get(rec).Status.DecidedBy; by != "slack:U0OPS (ops)" {
		t.Errorf("decided by %q", by)
	}
	if got := interactions(b, "unauthorized"); got != 2 {
		t.Errorf("unauthorized = %d, want 2", got)
	}
}
