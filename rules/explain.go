package rules

import (
	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/alertmanager/template"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// Verdict is what one rule makes of one alert, with the reasons: for
// 'alertmedic explain' and for rule tests.
type Verdict struct {
	Rule     *Rule
	Matchers []MatcherVerdict // one per matcher of the rule, in order
	Matched  bool             // every matcher holds
	// Reached is false when an earlier rule matched without continue:
	// evaluation stopped there, so this rule does nothing whether or not
	// it matches. StoppedBy is that earlier rule.
	Reached   bool
	StoppedBy *Rule
	// Target and Err are set for a rule that matched, reached or not, as
	// Match sets them.
	Target v1alpha1.Target
	Then   []v1alpha1.Target
	Err    error
}

// Acts reports whether the rule is one that Match returns for the alert.
func (v *Verdict) Acts() bool { return v.Matched && v.Reached }

// MatcherVerdict is one matcher of a rule held against an alert's label.
type MatcherVerdict struct {
	Matcher *labels.Matcher
	Value   string // the alert's value of the label, "" when it has none
	Present bool   // whether the alert has the label
	Holds   bool
}

// Explain holds every rule of the set, in order, against alert a and says
// why each matches or not. It follows Match exactly: the verdicts that Act
// are the matches Match returns, with the same targets. It is meant for
// people and tests, not for the hot path: it scans every rule.
func (s *Set) Explain(a *template.Alert) []Verdict {
	if s == nil || a == nil {
		return nil
	}
	out := make([]Verdict, len(s.rules))
	var stop *Rule
	for i, r := range s.rules {
		v := Verdict{Rule: r, Matched: true, Reached: stop == nil, StoppedBy: stop}
		v.Matchers = make([]MatcherVerdict, len(r.Matchers))
		for j, m := range r.Matchers {
			value, present := a.Labels[m.Name]
			holds := m.Matches(value)
			v.Matchers[j] = MatcherVerdict{Matcher: m, Value: value, Present: present, Holds: holds}
			v.Matched = v.Matched && holds
		}
		if v.Matched {
			v.Target, v.Then, v.Err = r.Targets(a)
			if stop == nil && !r.Continue {
				stop = r
			}
		}
		out[i] = v
	}
	return out
}
