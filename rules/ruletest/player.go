package ruletest

import (
	"fmt"
	"time"

	"github.com/prometheus/alertmanager/template"

	"github.com/alertmedic/alertmedic/engine/controller"
	"github.com/alertmedic/alertmedic/engine/ingest"
	"github.com/alertmedic/alertmedic/policy"
	"github.com/alertmedic/alertmedic/rules"
)

// Player plays firing alerts through the rules and policy as alertmedic
// does, starting with no action in memory: every match becomes the record
// the webhook path writes (ingest.NewRecord), named for its alert episode
// (rule, target, fingerprint, startsAt), so a re-send of an episode is a
// Duplicate; a record whose rule needs approval is left PendingApproval;
// any other is put to policy (a policy.Book) at the time it is played,
// asked what the executing replica asks of the record
// (controller.PolicyAction), and runs (and is taken to succeed) or is
// refused with policy's reason. Sequence tests and alertmedic replay both
// decide with it. It is not safe for concurrent use.
type Player struct {
	set      *rules.Set
	book     *policy.Book
	recorded map[string]time.Time // record name -> when it was recorded
}

// Outcome is what becomes of one match of a played alert.
type Outcome struct {
	Match rules.Match
	// Decision is "" when the target could not be rendered (Match.Err).
	Decision Decision
	// Note says why an action does not run: policy's message, or why a
	// re-send or an approval holds it. "" when it runs.
	Note string
	// RecordedAt is, for a Duplicate, when the episode was recorded first.
	RecordedAt time.Time
}

// NewPlayer returns a player matching against set and deciding by limits
// (defaults filled in).
func NewPlayer(set *rules.Set, limits policy.Limits) *Player {
	return &Player{set: set, book: policy.NewBook(limits), recorded: map[string]time.Time{}}
}

// Limits returns the limits the player decides by, defaults filled in.
func (p *Player) Limits() policy.Limits { return p.book.Limits() }

// Play matches the firing alert a, received now, and decides each match.
// Alerts must be played in the order of now. a.Fingerprint and a.StartsAt
// name its episode.
func (p *Player) Play(a *template.Alert, now time.Time) []Outcome {
	var out []Outcome
	for _, m := range p.set.Match(a) {
		o := Outcome{Match: m}
		if m.Err != nil {
			out = append(out, o)
			continue
		}
		name := ingest.RecordName(ingest.EpisodeKey(m.Rule.Name, m.Target, a))
		if at, dup := p.recorded[name]; dup {
			o.Decision, o.RecordedAt = DecisionDuplicate, at
			out = append(out, o)
			continue
		}
		p.recorded[name] = now
		rec := ingest.NewRecord("", name, m, a, false, now)
		if rec.Spec.Approval != nil {
			o.Decision = DecisionPendingApproval
			o.Note = "the rule needs a person's approval; policy decides when the action is approved"
			out = append(out, o)
			continue
		}
		act := controller.PolicyAction(rec)
		if d := p.book.Check(act, now); !d.Allowed() {
			o.Decision, o.Note = Decision(d.Reason), d.Message
		} else {
			p.book.Reserve(act, now)
			o.Decision = DecisionRun
		}
		out = append(out, o)
	}
	return out
}

// duplicateNote says why a re-sent episode is not acted on again.
func duplicateNote(a *template.Alert, recordedAt time.Duration) string {
	return fmt.Sprintf("Duplicate: %s, firing since %s, was recorded at %s already; alertmedic acts once per episode (fingerprint and startsAt), and the alert fires again as a new episode only after it resolved",
		alertName(a), FormatTime(a.StartsAt), offset(recordedAt))
}
