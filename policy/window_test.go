package policy

import (
	"testing"
	"time"
)

func TestWindowsAdd(t *testing.T) {
	at := func(m int) time.Time { return time.Date(2026, 11, 27, 10, m, 0, 0, time.UTC) }
	var ws Windows
	ws = ws.Add(Window{at(10), at(20)}, at(0))
	ws = ws.Add(Window{at(30), at(40)}, at(0))
	ws = ws.Add(Window{at(15), at(25)}, at(0)) // overlaps the first: merged
	ws = ws.Add(Window{at(25), at(30)}, at(0)) // touches both: one window
	if len(ws) != 1 || ws[0] != (Window{at(10), at(40)}) {
		t.Fatalf("windows = %v, want one from 10 to 40", ws)
	}
	ws = ws.Add(Window{at(50), at(55)}, at(0))
	if w, ok := ws.Contains(at(52)); !ok || w.From != at(50) {
		t.Errorf("52 in %v: %v %v", ws, w, ok)
	}
	for _, m := range []int{9, 40, 45, 55} {
		if _, ok := ws.Contains(at(m)); ok {
			t.Errorf("%d is in %v", m, ws)
		}
	}
	if _, ok := ws.Contains(at(10)); !ok {
		t.Error("a window contains its start")
	}
	// Windows that ended before keepSince are forgotten.
	ws = ws.Add(Window{at(56), at(57)}, at(45))
	if len(ws) != 2 || ws[0].From != at(50) || ws[1].From != at(56) {
		t.Errorf("after pruning: %v", ws)
	}
}

// The breaker has room again when enough of the actions in its window
// have left it.
func TestBreakerRoomAt(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	b := NewBook(Limits{BreakerMax: 3, BreakerWindow: 10 * time.Minute})
	for _, ago := range []time.Duration{9 * time.Minute, 5 * time.Minute, 2 * time.Minute, time.Minute} {
		b.Record("r", "t"+ago.String(), now.Add(-ago))
	}
	// Four in the window, three allowed: the two oldest must leave; the
	// second of them, 5m ago, leaves in 5m.
	if got, want := b.BreakerRoomAt(now), now.Add(5*time.Minute); !got.Equal(want) {
		t.Errorf("room at %s, want %s", got, want)
	}
	if d := b.Check(Action{Rule: "r", Target: "x", TargetRef: "x"}, now); d.Reason != CircuitOpen {
		t.Fatalf("breaker not open: %+v", d)
	}
	if d := b.Check(Action{Rule: "r", Target: "x", TargetRef: "x"}, now.Add(5*time.Minute)); d.Reason == CircuitOpen {
		t.Errorf("breaker still open when BreakerRoomAt said it had room: %+v", d)
	}
	if d := b.Check(Action{Rule: "r", Target: "x", TargetRef: "x"}, now.Add(5*time.Minute-time.Second)); d.Reason != CircuitOpen {
		t.Errorf("breaker has room before BreakerRoomAt: %+v", d)
	}
	if got := NewBook(Limits{}).BreakerRoomAt(now); !got.Equal(now) {
		t.Errorf("empty book: room at %s, want now", got)
	}
}

// TestRuleBudgetRoomAt: a rule out of budget has room again when enough
// of its actions have left the window, a time that can be promised only
// once every action it counts has ended (settled): one still running may
// give its count back.
func TestRuleBudgetRoomAt(t *testing.T) {
	b := NewBook(Limits{})
	a := func(target string) Action {
		return Action{Rule: "r", Target: target, Namespace: "shop", Budget: &Budget{PerRule: 2, Window: time.Hour}}
	}
	if key := b.BudgetKey(a("x")); key != "r|2/1h0m0s" {
		t.Errorf("BudgetKey = %q", key)
	}
	if key := b.BudgetKey(Action{Rule: "r"}); key != "" {
		t.Errorf("BudgetKey without a budget = %q, want none", key)
	}
	if _, ok := b.RuleBudgetRoomAt(a("x"), at(0)); ok {
		t.Error("room promised for a rule with room")
	}
	second := roomOnceSettled(t, b, RuleBudget, a("cart"), a("web"), a("db"), b.RuleBudgetRoomAt)
	second.Release(false) // settled: nothing to give back
	if d := b.Check(a("db"), at(30*time.Minute)); d.Reason != RuleBudget {
		t.Errorf("after releasing a settled reservation: %+v, want still RuleBudget", d)
	}
	// Another rule's actions do not count.
	b.Reserve(Action{Rule: "other", Target: "db", Budget: &Budget{PerRule: 2, Window: time.Hour}}, at(40*time.Minute))
	if got, ok := b.RuleBudgetRoomAt(a("db"), at(50*time.Minute)); !ok || !got.Equal(at(time.Hour)) {
		t.Errorf("with another rule's running action: room at %s, %v", got, ok)
	}
	// A rule without a budget of its own: the Limits' per-rule budget.
	l := NewBook(Limits{PerRule: 1, BudgetWindow: 30 * time.Minute})
	l.Reserve(act("r", "cart"), at(0)).Settle()
	if got, ok := l.RuleBudgetRoomAt(act("r", "web"), at(time.Minute)); !ok || !got.Equal(at(30*time.Minute)) {
		t.Errorf("the Limits' budget: room at %s, %v", got, ok)
	}
}

// roomOnceSettled reserves first (at 0) and second (at 10 min) on b, whose
// budget of two an hour they spend, and checks that third is then refused
// for reason, and that roomAt promises room for third only once both have
// settled: at 1 h, when the first leaves the window. It returns second's
// reservation.
func roomOnceSettled(t *testing.T, b *Book, reason Reason, first, second, third Action, roomAt func(Action, time.Time) (time.Time, bool)) *Reservation {
	t.Helper()
	r1 := b.Reserve(first, at(0))
	r2 := b.Reserve(second, at(10*time.Minute))
	if d := b.Check(third, at(20*time.Minute)); d.Reason != reason {
		t.Fatalf("third action: %+v, want %s", d, reason)
	}
	if _, ok := roomAt(third, at(20*time.Minute)); ok {
		t.Error("room promised while both actions may still give their count back")
	}
	r1.Settle()
	if _, ok := roomAt(third, at(20*time.Minute)); ok {
		t.Error("room promised while the second action may still give its count back")
	}
	r2.Settle()
	got, ok := roomAt(third, at(20*time.Minute))
	if !ok || !got.Equal(at(time.Hour)) {
		t.Errorf("room at %s, %v; want %s, when the first action leaves the window", got, ok, at(time.Hour))
	}
	return r2
}

// TestTargetBudgetRoomAt: a target out of budget has room again when
// enough of the actions on it, by any rule, have left the window, a time
// that can be promised only once every action the budget counts has
// ended (settled): one still running may give its count back.
func TestTargetBudgetRoomAt(t *testing.T) {
	b := NewBook(Limits{})
	a := func(rule string) Action {
		return Action{Rule: rule, Target: "cart", TargetRef: "Deployment/shop/cart", Namespace: "shop", Budget: &Budget{PerTarget: 2, Window: time.Hour}}
	}
	l := b.Limits()
	if key := l.TargetBudgetKey(a("r")); key != "target Deployment/shop/cart|2/1h0m0s" || !IsTargetKey(key) {
		t.Errorf("TargetBudgetKey = %q", key)
	}
	if key := l.TargetBudgetKey(act("r", "cart")); key != "" {
		t.Errorf("TargetBudgetKey without a budget = %q, want none", key)
	}
	if IsTargetKey(BudgetKey("r", 2, time.Hour)) {
		t.Error("a rule's budget key taken for a target's")
	}
	if _, ok := b.TargetBudgetRoomAt(a("r"), at(0)); ok {
		t.Error("room promised for a target with room")
	}
	// The second action is another rule's: it counts all the same.
	roomOnceSettled(t, b, TargetBudget, a("r"), a("other"), a("r"), b.TargetBudgetRoomAt)
	// Actions on another target do not count, even running ones.
	b.Reserve(Action{Rule: "r", Target: "web", Budget: &Budget{PerTarget: 2, Window: time.Hour}}, at(30*time.Minute))
	if got, ok := b.TargetBudgetRoomAt(a("r"), at(40*time.Minute)); !ok || !got.Equal(at(time.Hour)) {
		t.Errorf("with another target's running action: room at %s, %v", got, ok)
	}
	// A rule without a budget of its own: the Limits' per-target budget.
	d := NewBook(Limits{PerTarget: 1, BudgetWindow: 30 * time.Minute})
	d.Reserve(act("r", "cart"), at(0)).Settle()
	if got, ok := d.TargetBudgetRoomAt(act("other", "cart"), at(time.Minute)); !ok || !got.Equal(at(30*time.Minute)) {
		t.Errorf("the Limits' budget: room at %s, %v", got, ok)
	}
	if key := d.Limits().TargetBudgetKey(act("r", "cart")); key != "target Deployment/shop/cart|1/30m0s" {
		t.Errorf("the Limits' TargetBudgetKey = %q", key)
	}
}

// TestCooldownRoomAt: a target in its cooldown leaves it a cooldown after
// the last action on it started, a time that can be promised only once
// that action has ended having changed the target: one given back makes
// an earlier action the last.
func TestCooldownRoomAt(t *testing.T) {
	b := NewBook(Limits{Cooldown: 10 * time.Minute})
	a := act("r", "cart")
	if key := b.Limits().CooldownKey(a); key != "cooldown Deployment/shop/cart|10m0s" || !IsTargetKey(key) {
		t.Errorf("CooldownKey = %q", key)
	}
	if key := b.Limits().CooldownKey(Action{Rule: "r", TargetRef: "Deployment/shop/cart", Cooldown: time.Hour}); key != "cooldown Deployment/shop/cart|1h0m0s" {
		t.Errorf("CooldownKey of a rule's own cooldown = %q", key)
	}
	if key := (Limits{}).CooldownKey(a); key != "" {
		t.Errorf("CooldownKey without a cooldown = %q, want none", key)
	}
	if _, ok := b.CooldownRoomAt(a, at(0)); ok {
		t.Error("room promised for a target never acted on")
	}
	b.Reserve(a, at(0)).Settle()
	second := b.Reserve(act("other", "cart"), at(12*time.Minute))
	if d := b.Check(a, at(15*time.Minute)); d.Reason != Cooldown {
		t.Fatalf("in the cooldown: %+v, want Cooldown", d)
	}
	if _, ok := b.CooldownRoomAt(a, at(15*time.Minute)); ok {
		t.Error("room promised while the last action may still be given back")
	}
	second.Settle()
	if got, ok := b.CooldownRoomAt(a, at(15*time.Minute)); !ok || !got.Equal(at(22*time.Minute)) {
		t.Errorf("room at %s, %v; want %s", got, ok, at(22*time.Minute))
	}
	if _, ok := b.CooldownRoomAt(a, at(22*time.Minute)); ok {
		t.Error("room promised for a target out of its cooldown")
	}
	// An action given back: the one before it is the last again, settled.
	third := b.Reserve(a, at(30*time.Minute))
	third.Release(true)
	if _, ok := b.CooldownRoomAt(a, at(31*time.Minute)); ok {
		t.Error("room promised from an action given back")
	}
}
