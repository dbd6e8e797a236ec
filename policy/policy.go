package policy

import (
	"fmt"
	"path"
	"slices"
	"time"
)

// Limits are the deployment's policy, set by the flags of 'alertmedic
// serve' (and of 'alertmedic test', to test against it). Zero values take
// the defaults of SetDefaults.
type Limits struct {
	// Cooldown applies when a rule sets none: no second action on the same
	// target within it, whichever rule or alert asks. 0: no default cooldown.
	Cooldown time.Duration
	// BreakerMax actions within BreakerWindow, across all targets, open the
	// circuit breaker: further actions are held back until the window has
	// room, unless a person approved them.
	BreakerMax    int           // default 20; negative: no breaker
	BreakerWindow time.Duration // default 10m
	// PerRule and PerTarget bound actions within BudgetWindow (by one rule
	// on any target; on one target by any rule) for rules that set no
	// maxPerWindow. 0: no limit.
	PerRule      int
	PerTarget    int
	BudgetWindow time.Duration // default 1h
	// AllowNamespaces, when set, are the only namespaces acted in; patterns
	// as path.Match ("prod-*"). DenyNamespaces are never acted in.
	// kube-system is denied unless AllowNamespaces names it.
	AllowNamespaces []string
	DenyNamespaces  []string
}

// Defaults of Limits.
const (
	DefaultBreakerMax    = 20
	DefaultBreakerWindow = 10 * time.Minute
	DefaultBudgetWindow  = time.Hour
	// MaxBudgetWindow is the longest budget window a rule may set, and so
	// how far back the book must remember actions for the budgets.
	MaxBudgetWindow = 24 * time.Hour
	// MaxCooldown is the longest cooldown a rule may set, and so how far back
	// the book must remember when each target was last acted on.
	MaxCooldown = 7 * 24 * time.Hour
)

// SetDefaults fills in what l leaves at zero. It is the only place the
// defaults are set.
func (l *Limits) SetDefaults() {
	if l.BreakerMax == 0 {
		l.BreakerMax = DefaultBreakerMax
	}
	if l.BreakerWindow <= 0 {
		l.BreakerWindow = DefaultBreakerWindow
	}
	if l.BudgetWindow <= 0 {
		l.BudgetWindow = DefaultBudgetWindow
	}
}

// Budget is a rule's own maxPerWindow: it replaces the Limits' budgets
// for that rule's actions. 0: no limit.
type Budget struct {
	PerRule   int
	PerTarget int
	Window    time.Duration
}

// Action is one action policy is asked about.
type Action struct {
	Rule string
	// Target identifies the workload acted on, the same whichever rule or
	// alert asks; TargetRef names it in messages (Deployment/shop/cart).
	Target    string
	TargetRef string
	Namespace string
	// Cooldown is the rule's; 0 means the Limits' Cooldown.
	Cooldown time.Duration
	// Budget is the rule's maxPerWindow; nil means the Limits' budgets.
	Budget *Budget
	// Approved: a person approved the action, so the circuit breaker does
	// not hold it back (that is what the approval was for). The other
	// limits still apply.
	Approved bool
	// Escalation: the action answers the failure of an earlier one on the
	// same target (a rule's onFailure), so the cooldown, which is there to
	// stop repeated alerts acting again and again, does not hold it back.
	// The budgets and the breaker still count it.
	Escalation bool
	// Continuation: the action is a later step of a sequence, which
	// policy admitted as a whole at its first step. Only the namespace
	// lists hold it back; it is booked like any action.
	Continuation bool
}

// Reason says why policy refuses an action. It is the reason recorded on a
// Remediation that is Skipped.
type Reason string

const (
	NamespaceDenied Reason = "NamespaceDenied"
	Cooldown        Reason = "Cooldown"
	RuleBudget      Reason = "RuleBudget"
	TargetBudget    Reason = "TargetBudget"
	CircuitOpen     Reason = "CircuitOpen"
)

// Reasons lists every Reason, in the order Check tries them.
func Reasons() []Reason {
	return []Reason{NamespaceDenied, Cooldown, RuleBudget, TargetBudget, CircuitOpen}
}

// Decision is what policy says of an action now.
type Decision struct {
	Reason  Reason // "" when the action may run
	Message string // why, for people, when refused
	// Breaker is set when this decision opened or closed the circuit
	// breaker, so the caller can log and count the change once.
	Breaker BreakerChange
}

// Allowed reports whether the action may run.
func (d Decision) Allowed() bool { return d.Reason == "" }

// BreakerChange is a change of the circuit breaker's state.
type BreakerChange int

const (
	BreakerUnchanged BreakerChange = iota
	BreakerOpened
	BreakerClosed
)

// Book is the memory of recent actions that policy decides from: when each
// target was last acted on, and which rule acted on which target when. It
// forgets what no limit can look at any more: actions older than the longest
// budget or breaker window, targets last acted on longer ago than the
// longest cooldown (MaxCooldown, or a longer one given in Limits or seen in
// an Action), at an amortised O(1) cost per call. It is not safe for
// concurrent use.
type Book struct {
	limits  Limits
	last    map[string]time.Time // target -> start of the last action on it
	stamps  []stamp              // the times in last, oldest first, to forget them in order
	history []entry              // recent actions, oldest first: for the breaker and the budgets
	open    bool                 // breaker state, to report its changes
	// The longest cooldown and budget window asked about so far, when
	// longer than the defaults': the book remembers as far back.
	cooldown, window time.Duration
}

// stamp is a time a target was acted on; it is stale once the target has a
// later one.
type stamp struct {
	at     time.Time
	target string
}

// entry is one action in the book.
type entry struct {
	at           time.Time
	rule, target string
	// counted: the action changed (or may have changed) its target, so it
	// counts against budgets; every action counts for the breaker.
	counted bool
	// pending: reserved by an action that has not ended; Release may still
	// take it back.
	pending bool
}

// NewBook returns an empty book deciding by l (defaults filled in).
func NewBook(l Limits) *Book {
	l.SetDefaults()
	return &Book{limits: l, last: map[string]time.Time{}}
}

// Limits returns the limits the book decides by, defaults filled in.
func (b *Book) Limits() Limits { return b.limits }

// Check says whether policy lets a run now. It does not book a: call
// Reserve when the action starts.
func (b *Book) Check(a Action, now time.Time) Decision {
	l := b.limits
	if !NamespaceAllowed(a.Namespace, l.AllowNamespaces, l.DenyNamespaces) {
		return Decision{Reason: NamespaceDenied, Message: fmt.Sprintf("namespace %s is not one alertmedic may act in (--allow-namespaces / --deny-namespaces; kube-system needs to be allowed by name)", a.Namespace)}
	}
	if a.Continuation {
		return Decision{}
	}
	cooldown := l.Cooldown
	if a.Cooldown > 0 {
		cooldown = a.Cooldown
	}
	b.prune(a, now)
	if last, ok := b.last[a.Target]; ok && cooldown > 0 && now.Sub(last) < cooldown && !a.Escalation {
		return Decision{Reason: Cooldown, Message: fmt.Sprintf("%s was acted on %s ago; cooldown %s", a.TargetRef, now.Sub(last).Round(time.Second), cooldown)}
	}
	perRule, perTarget, window := l.PerRule, l.PerTarget, l.BudgetWindow
	if bu := a.Budget; bu != nil {
		perRule, perTarget, window = bu.PerRule, bu.PerTarget, bu.Window
	}
	var byRule, byTarget, recent int
	for _, e := range b.history {
		if now.Sub(e.at) < l.BreakerWindow {
			recent++
		}
		if e.counted && now.Sub(e.at) < window {
			if e.rule == a.Rule {
				byRule++
			}
			if e.target == a.Target {
				byTarget++
			}
		}
	}
	if perRule > 0 && byRule >= perRule {
		return Decision{Reason: RuleBudget, Message: fmt.Sprintf("rule %s acted %d times within %s already (maxPerWindow.perRule %d)", a.Rule, byRule, window, perRule)}
	}
	if perTarget > 0 && byTarget >= perTarget {
		return Decision{Reason: TargetBudget, Message: fmt.Sprintf("%s was acted on %d times within %s already (maxPerWindow.perTarget %d)", a.TargetRef, byTarget, window, perTarget)}
	}
	if l.BreakerMax > 0 && !a.Approved {
		if recent >= l.BreakerMax {
			d := Decision{Reason: CircuitOpen, Message: fmt.Sprintf("%d actions within %s already (circuit breaker); not acting automatically", recent, l.BreakerWindow)}
			if !b.open {
				b.open = true
				d.Breaker = BreakerOpened
			}
			return d
		}
		if b.open {
			b.open = false
			return Decision{Breaker: BreakerClosed}
		}
	}
	return Decision{}
}

// Record books an action of rule on target that started at (for example
// one learnt from the records a previous leader left).
func (b *Book) Record(rule, target string, at time.Time) {
	if at.After(b.last[target]) {
		b.setLast(target, at)
	}
	b.insert(entry{at: at, rule: rule, target: target, counted: true})
}

// setLast notes at as the target's last action.
func (b *Book) setLast(target string, at time.Time) {
	b.last[target] = at
	i := len(b.stamps)
	for i > 0 && b.stamps[i-1].at.After(at) {
		i--
	}
	b.stamps = slices.Insert(b.stamps, i, stamp{at: at, target: target})
}

// prune forgets what no limit can look at any more. Each action is
// forgotten once: O(1) amortised.
func (b *Book) prune(a Action, now time.Time) {
	l := b.limits
	if a.Budget != nil {
		b.window = max(b.window, a.Budget.Window)
	}
	b.cooldown = max(b.cooldown, a.Cooldown)
	keep := max(l.BreakerWindow, l.BudgetWindow, MaxBudgetWindow, b.window)
	n := 0
	for n < len(b.history) && now.Sub(b.history[n].at) >= keep {
		n++
	}
	b.history = b.history[n:] // the array is let go when append outgrows it
	cooldown := max(l.Cooldown, MaxCooldown, b.cooldown)
	n = 0
	for ; n < len(b.stamps) && now.Sub(b.stamps[n].at) >= cooldown; n++ {
		if s := b.stamps[n]; !b.last[s.target].After(s.at) {
			delete(b.last, s.target)
		}
	}
	b.stamps = b.stamps[n:]
}

// insert adds e to the history, keeping it oldest first.
func (b *Book) insert(e entry) {
	i := len(b.history)
	for i > 0 && b.history[i-1].at.After(e.at) {
		i--
	}
	b.history = slices.Insert(b.history, i, e)
}

// Reservation is an action booked by Reserve, which Release can take back.
type Reservation struct {
	book         *Book
	at           time.Time
	rule, target string
	prev         time.Time // the target's last action before this one
	hadPrev      bool
}

// Reserve books a as starting now: it starts a's cooldown and counts for
// the budgets and the breaker.
func (b *Book) Reserve(a Action, now time.Time) *Reservation {
	b.prune(a, now)
	r := &Reservation{book: b, at: now, rule: a.Rule, target: a.Target}
	r.prev, r.hadPrev = b.last[a.Target]
	b.setLast(a.Target, now)
	b.insert(entry{at: now, rule: a.Rule, target: a.Target, counted: true, pending: true})
	return r
}

// Settle marks the reservation of an action that changed its target: it
// stays booked, and can no longer be released. Settling or releasing it
// again does nothing more.
func (r *Reservation) Settle() {
	b := r.book
	if b == nil {
		return
	}
	r.book = nil
	if i := b.find(r); i >= 0 {
		b.history[i].pending = false
	}
}

// find is the index of r's entry in the history, -1 if it is gone.
func (b *Book) find(r *Reservation) int {
	for i := len(b.history) - 1; i >= 0; i-- {
		if e := b.history[i]; e.at.Equal(r.at) && e.rule == r.rule && e.target == r.target {
			return i
		}
	}
	return -1
}

// Release takes back the reservation of an action that changed nothing:
// no cooldown and no budget from it. keepBreaker keeps it for the breaker
// (it was an execution all the same). Releasing twice does nothing more.
func (r *Reservation) Release(keepBreaker bool) {
	b := r.book
	if b == nil {
		return
	}
	r.book = nil
	if b.last[r.target].Equal(r.at) {
		if r.hadPrev {
			b.last[r.target] = r.prev // forgotten in time through this reservation's later stamp
		} else {
			delete(b.last, r.target)
		}
	}
	if i := b.find(r); i >= 0 {
		if keepBreaker {
			b.history[i].counted, b.history[i].pending = false, false
		} else {
			b.history = slices.Delete(b.history, i, i+1)
		}
	}
}

// NamespaceAllowed reports whether alertmedic may act in namespace ns: not
// when a deny pattern matches it; when allow patterns are given, only when
// one matches it; without them, anywhere but kube-system.
func NamespaceAllowed(ns string, allow, deny []string) bool {
	if _, ok := MatchNamespace(deny, ns); ok {
		return false
	}
	if len(allow) > 0 {
		_, ok := MatchNamespace(allow, ns)
		return ok
	}
	return ns != "kube-system"
}

// MatchNamespace returns the first of patterns (path.Match syntax, such as
// "prod-*") that matches namespace ns. A malformed pattern matches nothing.
func MatchNamespace(patterns []string, ns string) (pattern string, ok bool) {
	for _, p := range patterns {
		if m, _ := path.Match(p, ns); m {
			return p, true
		}
	}
	return "", false
}

// CheckPattern returns an error when p is not a valid namespace pattern.
func CheckPattern(p string) error {
	if p == "" {
		return fmt.Errorf("empty namespace pattern")
	}
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("namespace pattern %q: %w (patterns use *, ? and [a-z] as in path.Match)", p, err)
	}
	return nil
}

// EpisodeKey identifies one firing episode of one alert (its fingerprint
// and startsAt) acted on by one rule on one target. alertmedic acts at most
// once per key: a notification that repeats it is a re-send.
func EpisodeKey(rule, target, fingerprint string, startsAt time.Time) string {
	return rule + "|" + target + "|" + fingerprint + "|" + startsAt.UTC().Format(time.RFC3339Nano)
}
