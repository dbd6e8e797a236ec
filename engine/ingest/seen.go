package ingest

import (
	"sync"
	"time"
)

// seenCache remembers the record names this replica saw exist, each for ttl
// from when it was seen, and at most size of them: when full, the name seen
// longest ago is forgotten first. Every operation is O(1) (amortised), so a
// storm of new episodes costs the same per notification as a quiet hour.
// Forgetting is safe: a forgotten episode costs one create answered
// AlreadyExists, never a second action.
type seenCache struct {
	ttl  time.Duration
	size int

	mu sync.Mutex
	at map[string]int64 // name -> when last seen (Unix ns)
	// queue holds (name, when) oldest first, from head; a name seen again
	// is queued again, and its older stamps are skipped when they come out.
	queue []stamp
	head  int
}

type stamp struct {
	name string
	at   int64
}

func newSeenCache(ttl time.Duration, size int) *seenCache {
	return &seenCache{ttl: ttl, size: size, at: make(map[string]int64)}
}

// contains reports whether name was seen less than ttl before now.
func (c *seenCache) contains(name string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.at[name]
	return ok && now.UnixNano()-at < int64(c.ttl)
}

// add notes that name was seen at now, forgetting what is older than ttl
// and, beyond size, what was seen longest ago.
func (c *seenCache) add(name string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := now.UnixNano()
	c.at[name] = t
	c.queue = append(c.queue, stamp{name, t})
	for c.head < len(c.queue) {
		s := c.queue[c.head]
		if c.at[s.name] != s.at { // seen again later: a stale stamp
			c.pop()
			continue
		}
		if t-s.at < int64(c.ttl) && len(c.at) <= c.size {
			break
		}
		delete(c.at, s.name)
		c.pop()
	}
	if len(c.queue)-c.head > 2*c.size+1024 {
		c.compact() // many names seen again while fresh: drop their stale stamps
	}
}

// compact drops the stale stamps. It runs after at least size+1024 inserts
// since the last time, and costs O(size): amortised O(1).
func (c *seenCache) compact() {
	live := c.queue[:0]
	for _, s := range c.queue[c.head:] {
		if c.at[s.name] == s.at {
			live = append(live, s)
		}
	}
	clear(c.queue[len(live):])
	c.queue, c.head = live, 0
}

// pop drops the queue's oldest stamp, compacting the queue once half of it
// is spent so that its memory stays within twice what it holds.
func (c *seenCache) pop() {
	c.queue[c.head] = stamp{}
	c.head++
	if c.head >= 1024 && c.head*2 >= len(c.queue) {
		n := copy(c.queue, c.queue[c.head:])
		clear(c.queue[n:])
		c.queue = c.queue[:n]
		c.head = 0
	}
}

// count is how many names are remembered, fresh or not yet swept.
func (c *seenCache) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.at)
}
