package policy

import (
	"fmt"
	"slices"
	"strings"
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
	return b.roomAt(func(e entry) bool { return e.rule == a.Rule }, perRule, window, now)
}

// TargetBudget is the budget that holds a's target back (its rule's
// maxPerWindow, else the Limits' per-target budget): perTarget actions on
// the target, by any rule, within window; perTarget 0 is none.
func (b *Book) TargetBudget(a Action) (perTarget int, window time.Duration) {
	return b.limits.TargetBudget(a)
}

// TargetBudget is Book.TargetBudget under l (its defaults filled in).
func (l Limits) TargetBudget(a Action) (perTarget int, window time.Duration) {
	if bu := a.Budget; bu != nil {
		return bu.PerTarget, bu.Window
	}
	return l.PerTarget, l.BudgetWindow
}

// TargetBudgetKey names a's target (by its TargetRef) together with the
// budget that holds it back ("" when none does), as BudgetKey does a
// rule's. It starts with "target ", which no rule name can (IsTargetKey).
func (l Limits) TargetBudgetKey(a Action) string {
	perTarget, window := l.TargetBudget(a)
	if perTarget <= 0 || a.TargetRef == "" {
		return ""
	}
	return TargetBudgetKey(a.TargetRef, perTarget, window)
}

// TargetBudgetKey is Limits.TargetBudgetKey for the target targetRef
// (Kind/namespace/name) with perTarget actions in window.
func TargetBudgetKey(targetRef string, perTarget int, window time.Duration) string {
	return fmt.Sprintf("target %s|%d/%s", targetRef, perTarget, window)
}

// IsTargetKey reports whether a published budget key is a target's
// (TargetBudgetKey, CooldownKey) rather than a rule's: there may be one
// for each workload in a storm, so their number is bounded where they are
// published.
func IsTargetKey(key string) bool {
	return strings.HasPrefix(key, "target ") || strings.HasPrefix(key, "cooldown ")
}

// TargetBudgetRoomAt is when a's target, out of budget at now, has room
// again if no action is added meanwhile: when enough of the actions on it
// (by any rule) in the budget's window have left it. ok is false when
// that cannot be promised: the target has room now, or an action the
// budget counts has not ended and may still give its count back.
func (b *Book) TargetBudgetRoomAt(a Action, now time.Time) (at time.Time, ok bool) {
	perTarget, window := b.TargetBudget(a)
	return b.roomAt(func(e entry) bool { return e.target == a.Target }, perTarget, window, now)
}

// roomAt is when fewer than n of the counted actions that match have
// started within window before it, if no action is added meanwhile; ok is
// false when there are fewer now, or one of them may still be given back.
func (b *Book) roomAt(match func(entry) bool, n int, window time.Duration, now time.Time) (time.Time, bool) {
	if n <= 0 {
		return time.Time{}, false
	}
	var in []time.Time
	for _, e := range b.history {
		if e.counted && match(e) && now.Sub(e.at) < window {
			if e.pending {
				return time.Time{}, false
			}
			in = append(in, e.at)
		}
	}
	if len(in) < n {
		return time.Time{}, false
	}
	return in[len(in)-n].Add(window), true
}

// CooldownOf is the cooldown that holds a's target back: the rule's, else
// the Limits'; 0 is none.
func (l Limits) CooldownOf(a Action) time.Duration {
	if a.Cooldown > 0 {
		return a.Cooldown
	}
	return l.Cooldown
}

// CooldownKey names a's target (by its TargetRef) together with the
// cooldown that holds it back ("" when none does): a window published for
// a target's cooldown holds for that cooldown only.
func (l Limits) CooldownKey(a Action) string {
	cooldown := l.CooldownOf(a)
	if cooldown <= 0 || a.TargetRef == "" {
		return ""
	}
	return fmt.Sprintf("cooldown %s|%s", a.TargetRef, cooldown)
}

// CooldownRoomAt is when a's target, in its cooldown at now, leaves it:
// the start of the last action on it plus the cooldown. ok is false when
// that cannot be promised: the target is not in its cooldown, or the last
// action on it has not ended and may still be given back (which would
// make an earlier one the last, or none).
func (b *Book) CooldownRoomAt(a Action, now time.Time) (at time.Time, ok bool) {
	cooldown := b.limits.CooldownOf(a)
	last, acted := b.last[a.Target]
	if cooldown <= 0 || !acted || now.Sub(last) >= cooldown {
		return time.Time{}, false
	}
	for i := len(b.history) - 1; i >= 0; i-- {
		if e := b.history[i]; e.target == a.Target && e.at.Equal(last) {
			if e.pending || !e.counted {
				return time.Time{}, false
			}
			return last.Add(cooldown), true
		}
	}
	// Not in the history any more: not known settled.
	return time.Time{}, false
}
