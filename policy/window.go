package policy

import (
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
