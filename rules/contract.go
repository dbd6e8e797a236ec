package rules

import "time"

// Budget bounds how often actions may run within Window: PerRule by this
// rule on any target, PerTarget on one target by any rule. 0: no limit.
type Budget struct {
	PerRule   int
	PerTarget int
	Window    time.Duration
}

// Approval says whether a human must approve the action first.
type Approval struct {
	Required bool
	Channel  string
	Users    []string
	Groups   []string
	Timeout  time.Duration
}
