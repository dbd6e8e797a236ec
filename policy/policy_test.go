package policy

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// act is an action of rule on a Deployment named target in namespace shop.
func act(rule, target string) Action {
	return Action{Rule: rule, Target: target, TargetRef: "Deployment/shop/" + target, Namespace: "shop"}
}

// step is one question to the book: the action, when, what policy should
// say, and whether the action then starts (is reserved).
type step struct {
	a      Action
	at     time.Duration
	want   Reason
	msg    string // a part of the message, when refused
	change BreakerChange
}

// run asks the book each step in turn and reserves the allowed ones.
func run(t *testing.T, b *Book, steps []step) {
	t.Helper()
	for i, s := range steps {
		d := b.Check(s.a, at(s.at))
		if d.Reason != s.want || !strings.Contains(d.Message, s.msg) || d.Breaker != s.change {
			t.Errorf("step %d (%s on %s at %s): got %+v, want reason %q with %q, breaker change %d", i, s.a.Rule, s.a.Target, s.at, d, s.want, s.msg, s.change)
		}
		if d.Allowed() != (s.want == "") {
			t.Errorf("step %d: Allowed() = %v with reason %q", i, d.Allowed(), d.Reason)
		}
		if d.Allowed() {
			b.Reserve(s.a, at(s.at))
		}
	}
}

func TestCheck(t *testing.T) {
	withCooldown := func(a Action, d time.Duration) Action { a.Cooldown = d; return a }
	withBudget := func(a Action, b Budget) Action { a.Budget = &b; return a }
	inNamespace := func(a Action, ns string) Action { a.Namespace = ns; return a }
	approved := func(a Action) Action { a.Approved = true; return a }
	escalation := func(a Action) Action { a.Escalation = true; return a }
	for _, tc := range []struct {
		name   string
		limits Limits
		steps  []step
	}{
		{"no limits: everything runs", Limits{}, []step{
			{a: act("r", "cart")}, {a: act("r", "cart"), at: time.Second}, {a: act("other", "cart"), at: 2 * time.Second},
		}},
		{"the rule's cooldown holds the target, whichever rule asks", Limits{}, []step{
			{a: withCooldown(act("r", "cart"), 30*time.Minute)},
			{a: withCooldown(act("r", "cart"), 30*time.Minute), at: 10 * time.Minute, want: Cooldown, msg: "Deployment/shop/cart was acted on 10m0s ago; cooldown 30m0s"},
			{a: withCooldown(act("other", "cart"), 30*time.Minute), at: 29 * time.Minute, want: Cooldown},
			{a: withCooldown(act("r", "web"), 30*time.Minute), at: 29 * time.Minute},
			{a: withCooldown(act("r", "cart"), 30*time.Minute), at: 30 * time.Minute},
		}},
		{"the default cooldown applies to rules without one; a rule's own replaces it", Limits{Cooldown: time.Hour}, []step{
			{a: act("r", "cart")},
			{a: act("r", "cart"), at: 59 * time.Minute, want: Cooldown, msg: "cooldown 1h0m0s"},
			{a: withCooldown(act("r", "cart"), 5*time.Minute), at: 59 * time.Minute},
		}},
		{"a refused action does not start a cooldown", Limits{Cooldown: 10 * time.Minute}, []step{
			{a: act("r", "cart")},
			{a: act("r", "cart"), at: 9 * time.Minute, want: Cooldown},
			{a: act("r", "cart"), at: 10 * time.Minute},
		}},
		{"an escalation is not held by the cooldown, but counts in the budget", Limits{Cooldown: time.Hour, PerTarget: 2}, []step{
			{a: act("r", "cart")},
			{a: act("r", "cart"), at: time.Minute, want: Cooldown},
			{a: escalation(act("r", "cart")), at: 2 * time.Minute},
			{a: escalation(act("r", "cart")), at: 3 * time.Minute, want: TargetBudget},
		}},
		{"default budget per target", Limits{PerTarget: 2, BudgetWindow: time.Hour}, []step{
			{a: act("a", "cart")}, {a: act("b", "cart"), at: time.Minute},
			{a: act("c", "cart"), at: 2 * time.Minute, want: TargetBudget, msg: "Deployment/shop/cart was acted on 2 times within 1h0m0s already (maxPerWindow.perTarget 2)"},
			{a: act("c", "web"), at: 3 * time.Minute},
			{a: act("c", "cart"), at: 60 * time.Minute}, // the first has left the window
		}},
		{"default budget per rule", Limits{PerRule: 2}, []step{
			{a: act("r", "a")}, {a: act("r", "b")},
			{a: act("r", "c"), at: 59 * time.Minute, want: RuleBudget, msg: "rule r acted 2 times within 1h0m0s already (maxPerWindow.perRule 2)"},
			{a: act("other", "c"), at: 59 * time.Minute},
		}},
		{"a rule's maxPerWindow replaces the default budgets", Limits{PerTarget: 1, PerRule: 1}, []step{
			{a: withBudget(act("r", "cart"), Budget{PerTarget: 3, Window: 10 * time.Minute})},
			{a: withBudget(act("r", "cart"), Budget{PerTarget: 3, Window: 10 * time.Minute}), at: time.Minute},
			{a: withBudget(act("r", "cart"), Budget{PerTarget: 3, Window: 10 * time.Minute}), at: 2 * time.Minute},
			{a: withBudget(act("r", "cart"), Budget{PerTarget: 3, Window: 10 * time.Minute}), at: 3 * time.Minute, want: TargetBudget, msg: "(maxPerWindow.perTarget 3)"},
			{a: act("plain", "web"), at: 4 * time.Minute},
			{a: act("plain", "db"), at: 5 * time.Minute, want: RuleBudget},
		}},
		{"the breaker opens past its count, closes when the window has room", Limits{BreakerMax: 2, BreakerWindow: 10 * time.Minute}, []step{
			{a: act("r", "a")}, {a: act("r", "b"), at: time.Minute},
			{a: act("r", "c"), at: 2 * time.Minute, want: CircuitOpen, msg: "2 actions within 10m0s already (circuit breaker)", change: BreakerOpened},
			{a: act("r", "d"), at: 3 * time.Minute, want: CircuitOpen},
			{a: approved(act("r", "e")), at: 4 * time.Minute}, // a person approved it
			{a: act("r", "f"), at: 10 * time.Minute, want: CircuitOpen},
			{a: act("r", "g"), at: 14 * time.Minute, change: BreakerClosed},
		}},
		{"no breaker", Limits{BreakerMax: -1}, []step{
			{a: act("r", "a")}, {a: act("r", "b")}, {a: act("r", "c")},
		}},
		{"the default breaker: 20 in 10 minutes", Limits{}, append(func() []step {
			var s []step
			for i := range 20 {
				s = append(s, step{a: act("r", string(rune('a'+i))), at: time.Duration(i) * time.Second})
			}
			return s
		}(), step{a: act("r", "z"), at: time.Minute, want: CircuitOpen, change: BreakerOpened})},
		{"namespaces: kube-system is denied by default", Limits{}, []step{
			{a: inNamespace(act("r", "coredns"), "kube-system"), want: NamespaceDenied, msg: "namespace kube-system is not one alertmedic may act in"},
			{a: inNamespace(act("r", "cart"), "default")},
		}},
		{"namespaces: allow patterns", Limits{AllowNamespaces: []string{"prod-*", "kube-system"}}, []step{
			{a: inNamespace(act("r", "a"), "prod-eu")},
			{a: inNamespace(act("r", "b"), "kube-system")},
			{a: inNamespace(act("r", "c"), "shop"), want: NamespaceDenied},
		}},
		{"namespaces: deny wins over allow", Limits{AllowNamespaces: []string{"prod-*"}, DenyNamespaces: []string{"prod-payments"}}, []step{
			{a: inNamespace(act("r", "a"), "prod-payments"), want: NamespaceDenied},
			{a: inNamespace(act("r", "b"), "prod-shop")},
		}},
		{"a denied namespace is refused before a cooldown", Limits{Cooldown: time.Hour, DenyNamespaces: []string{"shop"}}, []step{
			{a: act("r", "cart"), want: NamespaceDenied},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run(t, NewBook(tc.limits), tc.steps)
		})
	}
}

// An action that changed nothing gives back its cooldown and its budget;
// one that ran but changed nothing still counts for the breaker.
func TestRelease(t *testing.T) {
	b := NewBook(Limits{Cooldown: time.Hour, PerTarget: 1, BreakerMax: 2})
	first := b.Reserve(act("r", "cart"), at(0))
	second := b.Reserve(act("r", "cart"), at(time.Minute))
	second.Release(true)
	// The cooldown runs from the first action again, not the released one.
	if d := b.Check(act("r", "cart"), at(30*time.Minute)); d.Reason != Cooldown || !strings.Contains(d.Message, "acted on 30m0s ago") {
		t.Errorf("after releasing the second: %+v, want the cooldown of the first", d)
	}
	first.Release(false)
	if d := b.Check(act("r", "cart"), at(2*time.Minute)); !d.Allowed() {
		t.Errorf("after releasing both: %+v, want allowed", d)
	}
	// The second, kept for the breaker, still counts there.
	b.Reserve(act("r", "web"), at(3*time.Minute))
	if d := b.Check(act("r", "db"), at(4*time.Minute)); d.Reason != CircuitOpen {
		t.Errorf("breaker: %+v, want CircuitOpen (the released-but-kept action and web)", d)
	}
	second.Release(false) // a second release changes nothing
	if d := b.Check(act("r", "db"), at(4*time.Minute)); d.Reason != CircuitOpen {
		t.Errorf("after a second release: %+v", d)
	}
}

// Record learns actions in any order (from records listed by name) and
// keeps the latest per target; old ones leave the window.
func TestRecord(t *testing.T) {
	b := NewBook(Limits{Cooldown: 30 * time.Minute, PerRule: 2, BudgetWindow: time.Hour})
	b.Record("r", "cart", at(20*time.Minute))
	b.Record("r", "web", at(0))
	b.Record("r", "cart", at(10*time.Minute))
	if d := b.Check(act("r", "cart"), at(45*time.Minute)); d.Reason != Cooldown || !strings.Contains(d.Message, "25m0s ago") {
		t.Errorf("cart: %+v, want the cooldown from its latest action (20m)", d)
	}
	if d := b.Check(act("r", "db"), at(45*time.Minute)); d.Reason != RuleBudget || !strings.Contains(d.Message, "3 times") {
		t.Errorf("db: %+v, want RuleBudget after 3 actions", d)
	}
	// At 65m the action at 0 has left the hour: 10m and 20m remain.
	if d := b.Check(act("r", "db"), at(65*time.Minute)); d.Reason != RuleBudget || !strings.Contains(d.Message, "2 times") {
		t.Errorf("db at 65m: %+v, want RuleBudget after 2 actions in the hour", d)
	}
	if d := b.Check(act("r", "db"), at(75*time.Minute)); !d.Allowed() {
		t.Errorf("db at 75m: %+v, want allowed (one action in the hour)", d)
	}
	for i := 1; i < len(b.history); i++ {
		if b.history[i].at.Before(b.history[i-1].at) {
			t.Fatalf("history out of order: %+v", b.history)
		}
	}
	// Past the longest window the book forgets.
	b.Check(act("r", "db"), at(MaxBudgetWindow+time.Hour))
	if len(b.history) != 0 {
		t.Errorf("history keeps %d actions older than %s", len(b.history), MaxBudgetWindow)
	}
}

func TestLimitsDefaults(t *testing.T) {
	got := NewBook(Limits{}).Limits()
	if got.BreakerMax != DefaultBreakerMax || got.BreakerWindow != DefaultBreakerWindow || got.BudgetWindow != DefaultBudgetWindow || got.Cooldown != 0 || got.PerRule != 0 {
		t.Errorf("defaults: %+v", got)
	}
	if got := NewBook(Limits{BreakerMax: -1}).Limits(); got.BreakerMax != -1 {
		t.Errorf("no breaker became %d", got.BreakerMax)
	}
}

func TestNamespacePatterns(t *testing.T) {
	if p, ok := MatchNamespace([]string{"shop", "prod-*", "[bad"}, "prod-eu"); !ok || p != "prod-*" {
		t.Errorf("MatchNamespace = %q, %v", p, ok)
	}
	if _, ok := MatchNamespace([]string{"[bad"}, "[bad"); ok {
		t.Error("a malformed pattern matched")
	}
	for _, p := range []string{"prod-*", "payments", "team-?", "[a-c]x"} {
		if err := CheckPattern(p); err != nil {
			t.Errorf("CheckPattern(%q): %v", p, err)
		}
	}
	for p, want := range map[string]string{
		"":      "empty namespace pattern",
		"[prod": `namespace pattern "[prod": syntax error in pattern (patterns use *, ? and [a-z] as in path.Match)`,
	} {
		if err := CheckPattern(p); err == nil || err.Error() != want {
			t.Errorf("CheckPattern(%q) = %v, want %s", p, err, want)
		}
	}
}

// The episode key names the Remediation records in clusters: it must not
// change between versions.
func TestEpisodeKey(t *testing.T) {
	got := EpisodeKey("restart-cart", "Deployment/shop/cart", "0123456789abcdef", time.Date(2026, 1, 2, 16, 4, 5, 5, time.FixedZone("CET", 3600)))
	if want := "restart-cart|Deployment/shop/cart|0123456789abcdef|2026-01-02T15:04:05.000000005Z"; got != want {
		t.Errorf("EpisodeKey = %q, want %q", got, want)
	}
}

// The book forgets targets last acted on longer ago than any cooldown can
// reach, and still enforces every cooldown within that horizon.
func TestBookForgets(t *testing.T) {
	for _, tc := range []struct {
		name     string
		limits   Limits
		cooldown time.Duration // the rule's, asked with the first check
		horizon  time.Duration // how long a target is remembered
	}{
		{"rule cooldowns up to MaxCooldown", Limits{}, MaxCooldown, MaxCooldown},
		{"a longer default cooldown", Limits{Cooldown: 10 * 24 * time.Hour}, 0, 10 * 24 * time.Hour},
		{"a longer cooldown asked about", Limits{}, 9 * 24 * time.Hour, 9 * 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBook(tc.limits)
			long := act("r", "long")
			long.Cooldown = tc.cooldown
			b.Check(long, at(0))
			b.Reserve(long, at(0))
			const n = 1000
			for i := range n {
				a := act("storm", fmt.Sprint("t", i))
				if d := b.Check(a, at(time.Duration(i)*time.Second)); d.Reason == NamespaceDenied {
					t.Fatal(d)
				}
				b.Reserve(a, at(time.Duration(i)*time.Second))
			}
			// Within the horizon: the cooldown holds, every target is kept.
			if d := b.Check(long, at(tc.horizon-time.Second)); d.Reason != Cooldown {
				t.Errorf("just inside the horizon: %+v, want Cooldown", d)
			}
			if len(b.last) != n+1 {
				t.Errorf("targets remembered inside the horizon = %d, want %d", len(b.last), n+1)
			}
			// Past it, one call forgets the older ones; more calls the rest.
			b.Check(long, at(tc.horizon+n/2*time.Second))
			if got := len(b.last); got >= n/2+2 || got == 0 {
				t.Errorf("targets remembered halfway past the horizon = %d, want about %d", got, n/2)
			}
			b.Reserve(act("r", "other"), at(tc.horizon+n*time.Second))
			if len(b.last) != 1 || len(b.stamps) != 1 || len(b.history) != 1 {
				t.Errorf("past the horizon: %d targets, %d stamps, %d actions remembered; want only the last action's target",
					len(b.last), len(b.stamps), len(b.history))
			}
		})
	}
}

// A reservation released after its previous action was forgotten leaves
// nothing behind that is never forgotten.
func TestReleaseAfterForgetting(t *testing.T) {
	b := NewBook(Limits{})
	b.Reserve(act("r", "cart"), at(0))
	r := b.Reserve(act("r", "cart"), at(MaxCooldown-time.Second))
	b.Check(act("r", "web"), at(MaxCooldown)) // forgets the first action's stamp
	r.Release(false)                          // restores it as cart's last action
	b.Check(act("r", "web"), at(2*MaxCooldown))
	if len(b.last) != 0 || len(b.stamps) != 0 {
		t.Errorf("remembered %v, stamps %v; want nothing", b.last, b.stamps)
	}
}
