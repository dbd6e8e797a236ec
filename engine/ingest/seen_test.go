package ingest

import (
	"fmt"
	"testing"
	"time"
)

func TestSeenCache(t *testing.T) {
	const ttl = time.Hour
	type step struct {
		add   string        // name added at t0+at
		check string        // or name checked at t0+at
		at    time.Duration // from t0
		want  bool          // for a check
	}
	for _, tc := range []struct {
		name  string
		size  int
		steps []step
	}{
		{"remembers within its TTL", 10, []step{
			{add: "a"}, {check: "a", at: ttl - time.Nanosecond, want: true}, {check: "b", want: false},
		}},
		{"forgets after its TTL", 10, []step{
			{add: "a"}, {check: "a", at: ttl, want: false},
		}},
		{"seen again, remembered for a TTL from then", 10, []step{
			{add: "a"}, {add: "a", at: 30 * time.Minute}, {check: "a", at: ttl + 29*time.Minute, want: true},
			{check: "a", at: ttl + 30*time.Minute, want: false},
		}},
		{"beyond its size, forgets the one seen longest ago", 2, []step{
			{add: "a"}, {add: "b", at: time.Second}, {add: "c", at: 2 * time.Second},
			{check: "a", at: 3 * time.Second, want: false}, {check: "b", at: 3 * time.Second, want: true}, {check: "c", at: 3 * time.Second, want: true},
		}},
		{"a name seen again is not the oldest any more", 2, []step{
			{add: "a"}, {add: "b", at: time.Second}, {add: "a", at: 2 * time.Second}, {add: "c", at: 3 * time.Second},
			{check: "a", at: 4 * time.Second, want: true}, {check: "b", at: 4 * time.Second, want: false}, {check: "c", at: 4 * time.Second, want: true},
		}},
		{"expired names make room before live ones are evicted", 2, []step{
			{add: "a"}, {add: "b", at: 30 * time.Minute}, {add: "c", at: ttl + time.Second},
			{check: "b", at: ttl + time.Second, want: true}, {check: "c", at: ttl + time.Second, want: true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newSeenCache(ttl, tc.size)
			for i, s := range tc.steps {
				now := t0.Add(s.at)
				if s.add != "" {
					c.add(s.add, now)
					if n := c.count(); n > tc.size {
						t.Fatalf("step %d: %d names held, more than the size %d", i, n, tc.size)
					}
					continue
				}
				if got := c.contains(s.check, now); got != s.want {
					t.Errorf("step %d: contains(%q) at t0+%s = %v, want %v", i, s.check, s.at, got, s.want)
				}
			}
		})
	}
}

// A storm of new names holds the memory to the size, and names seen again
// and again while fresh do not grow the queue without bound.
func TestSeenCacheBounded(t *testing.T) {
	const size = 1000
	c := newSeenCache(time.Hour, size)
	for i := range 100 * size {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		c.add(fmt.Sprint(i), now)
		c.add("hot", now)
	}
	if n := c.count(); n != size {
		t.Errorf("names held = %d, want the size %d", n, size)
	}
	if !c.contains("hot", t0.Add(100*size*time.Millisecond)) {
		t.Error("a name seen at every step was forgotten")
	}

	// Behind a fresh name at the head, stamps of a name seen again and
	// again pile up unless compacted.
	c = newSeenCache(time.Hour, size)
	c.add("first", t0)
	for i := range 100 * size {
		c.add("hot", t0.Add(time.Duration(i)*time.Millisecond))
	}
	if q := len(c.queue) - c.head; q > 2*size+1024+1 {
		t.Errorf("queue holds %d stamps for %d names; want at most 2*size+1024", q, c.count())
	}
	if !c.contains("first", t0) || !c.contains("hot", t0) {
		t.Error("compaction forgot a live name")
	}
}
