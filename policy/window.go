package policy

import (
	"fmt"
	"slices"
	"time"
)

// A Window is a span of time during which the circuit breaker was open:
// an automatic action for an alert episode that started in it is skipped,
// whenever its notification comes. The leader publishes the windows it
// opens, so that every replica can decide so without writing a record for
// each episode of a storm (engine/breaker).
type Window struct {
	From  time.Time `json:"from"`
	Until time.Time `json:"until"`
}

// Contains reports whether t is in [From, Until).
func (w Window) Contains(t time.Time) bool { return !t.Before(w.From) && t.Before(w.Until) }

// Windows are breaker windows, in time order, none overlapping.
type Windows []Window

// Contains returns the window t is in, if any.
func (ws Windows) Contains(t time.Time) (Window, bool) {
	for _, w := range ws {
		if w.Contains(t) {
			return w, true
		}
	}
	return Window{}, false
}

// Add returns ws with w added, merged with the windows it overlaps or
// touches, and without the windows that ended before keepSince. ws is not
// changed.
func (ws Windows) Add(w Window, keepSince time.Time) Windows {
	out := make(Windows, 0, len(ws)+1)
	for _, x := range ws {
		if x.Until.Before(keepSince) {
			continue
		}
		if x.Until.Before(w.From) || w.Until.Before(x.From) {
			out = append(out, x)
			continue
		}
		if x.From.Before(w.From) {
			w.From = x.From
		}
		if x.Until.After(w.Until) {
			w.Until = x.Until
		}
	}
	if !w.Until.Before(keepSince) && w.From.Before(w.Until) {
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b Window) int { return a.From.Compare(b.From) })
	return out
}

// Since returns the windows of ws that had not ended by keepSince.
func (ws Windows) Since(keepSince time.Time) Windows {
	var out Windows
	for _, w := range ws {
		if !w.Until.Before(keepSince) {
			out = append(out, w)
		}
	}
	return out
}

// BreakerRoomAt is when the circuit breaker, open at now, has room again
// if no action is added meanwhile: when enough of the actions in its
// window have left it. It is now when the breaker has room.
func (b *Book) BreakerRoomAt(now time.Time) time.Time {
	l := b.limits
	if l.BreakerMax <= 0 {
		return now
	}
	var in []time.Time
	for _, e := range b.history {
		if now.Sub(e.at) < l.BreakerWindow {
			in = append(in, e.at)
		}
	}
	if len(in) < l.BreakerMax {
		return now
	}
	// The oldest len(in)-BreakerMax+1 must leave: the last of them leaves
	// a window after it started.
	return in[len(in)-l.BreakerMax].Add(l.BreakerWindow)
}

// RuleBudget is the budget that holds a's rule back (its own
// maxPerWindow, else the Limits' per-rule budget): perRule actions within
// window; perRule 0 is none.
func (b *Book) RuleBudget(a Action) (perRule int, window time.Duration) {
	return b.limits.RuleBudget(a)
}

// RuleBudget is Book.RuleBudget under l (its defaults filled in).
func (l Limits) RuleBudget(a Action) (perRule int, window time.Duration) {
	if bu := a.Budget; bu != nil {
		return bu.PerRule, bu.Window
	}
	return l.PerRule, l.BudgetWindow
}

// BudgetKey names a's rule together with the budget that holds it back
// ("" when none does): a window published for a rule's budget holds for
// that budget only, not for the rule once its budget is changed.
func (b *Book) BudgetKey(a Action) string { return b.limits.BudgetKey(a) }

// BudgetKey is Book.BudgetKey under l (its defaults filled in).
func (l Limits) BudgetKey(a Action) string {
	perRule, window := l.RuleBudget(a)
	if perRule <= 0 {
		return ""
	}
	return BudgetKey(a.Rule, perRule, window)
}

// BudgetKey is Book.BudgetKey for rule with perRule actions in window.
func BudgetKey(rule string, perRule int, window time.Duration) string {
	return fmt.Sprintf("%s|%d/%s", rule, perRule, window)
}

// RuleBudgetRoomAt is when a's rule, out of budget at now, has room again
// if no action is added meanwhile: when enough of its actions in the
// budget's window have left it. ok is false when that cannot be promised:
// the rule has room now, or an action it counts has not ended and may
// still give its count back (Reservation.Release).
func (b *Book) RuleBudgetRoomAt(a Action, now time.Time) (at time.Time, ok bool) {
	perRule, window := b.RuleBudget(a)
	if perRule <= 0 {
		return time.Time{}, false
	}
	var in []time.Time
	for _, e := range b.history {
		if e.counted && e.rule == a.Rule && now.Sub(e.at) < window {
			if e.pending {
				return time.Time{}, false
			}
			in = append(in, e.at)
		}
	}
	if len(in) < perRule {
		return time.Time{}, false
	}
	return in[len(in)-perRule].Add(window), true
}
