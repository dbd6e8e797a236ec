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
