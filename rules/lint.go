package rules

import (
	"fmt"
	"regexp/syntax"
	"slices"
	"strings"

	"github.com/prometheus/alertmanager/pkg/labels"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// Analysis of compiled matchers for the warnings of check: a rule that can
// never match, and a rule shadowed by an earlier one. Both only warn when
// they are sure: a regular expression is reasoned about only when it stands
// for a short, finite list of values (such as "shop|payments"), or matches
// every value (".*"); anything else is taken as "might match anything", so
// a doubtful case gives no warning rather than a wrong one.

// maxFinite bounds the values a regular expression is expanded to.
const maxFinite = 64

// maxShadowChecks bounds the rule pairs compared for shadowing in one Set,
// so that a huge set of rules without equality matchers still loads fast.
// Sets past it are only partly checked.
const maxShadowChecks = 4 << 20

// valueSet is what analysis knows of the label values a matcher accepts (or,
// for != and !~, rejects).
type valueSet struct {
	values []string // the values, when finite
	finite bool
	all    bool // every value (a regexp such as .*)
}

// analysis holds what is known of the regular expressions of a rule set,
// so that each is parsed once however many rules use it.
type analysis struct {
	regexps map[string]valueSet
}

func newAnalysis() *analysis { return &analysis{regexps: map[string]valueSet{}} }

func (an *analysis) regexpValues(expr string) valueSet {
	vs, ok := an.regexps[expr]
	if !ok {
		vs = regexpValues(expr)
		an.regexps[expr] = vs
	}
	return vs
}

// regexpValues returns the values a matcher's regular expression matches
// in full, as Alertmanager anchors it.
func regexpValues(expr string) valueSet {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return valueSet{}
	}
	re = re.Simplify()
	if matchesAll(re) {
		return valueSet{all: true}
	}
	vs, ok := expand(re)
	if !ok {
		return valueSet{}
	}
	slices.Sort(vs)
	return valueSet{values: slices.Compact(vs), finite: true}
}

// matchesAll reports whether re is .* (with or without the s flag). Label
// values with line breaks do not occur in practice, so .* counts as every
// value.
func matchesAll(re *syntax.Regexp) bool {
	for re.Op == syntax.OpCapture {
		re = re.Sub[0]
	}
	return re.Op == syntax.OpStar && (re.Sub[0].Op == syntax.OpAnyChar || re.Sub[0].Op == syntax.OpAnyCharNotNL)
}

// expand lists the strings re matches, when there are at most maxFinite.
func expand(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpNoMatch:
		return nil, true
	case syntax.OpEmptyMatch:
		return []string{""}, true
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return nil, false
		}
		return []string{string(re.Rune)}, true
	case syntax.OpCharClass:
		var out []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			if int(re.Rune[i+1]-re.Rune[i])+len(out) >= maxFinite {
				return nil, false
			}
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				out = append(out, string(r))
			}
		}
		return out, true
	case syntax.OpCapture:
		return expand(re.Sub[0])
	case syntax.OpQuest:
		sub, ok := expand(re.Sub[0])
		return append(sub, ""), ok && len(sub) < maxFinite
	case syntax.OpAlternate:
		var out []string
		for _, s := range re.Sub {
			sub, ok := expand(s)
			if !ok || len(out)+len(sub) > maxFinite {
				return nil, false
			}
			out = append(out, sub...)
		}
		return out, true
	case syntax.OpConcat:
		out := []string{""}
		for _, s := range re.Sub {
			sub, ok := expand(s)
			if !ok || len(out)*len(sub) > maxFinite {
				return nil, false
			}
			next := make([]string, 0, len(out)*len(sub))
			for _, a := range out {
				for _, b := range sub {
					next = append(next, a+b)
				}
			}
			out = next
		}
		return out, true
	}
	// Repetition without an upper bound, any character, anchors, word
	// boundaries: not a short finite list.
	return nil, false
}

// accepted returns what analysis knows of the values m accepts, for = and =~.
func (an *analysis) accepted(m *labels.Matcher) valueSet {
	switch m.Type {
	case labels.MatchEqual:
		return valueSet{values: []string{m.Value}, finite: true}
	case labels.MatchRegexp:
		return an.regexpValues(m.Value)
	}
	return valueSet{}
}

// rejected returns what analysis knows of the values m rejects, for != and !~.
func (an *analysis) rejected(m *labels.Matcher) valueSet {
	switch m.Type {
	case labels.MatchNotEqual:
		return valueSet{values: []string{m.Value}, finite: true}
	case labels.MatchNotRegexp:
		return an.regexpValues(m.Value)
	}
	return valueSet{}
}

// contradiction says why a rule's matchers can never all hold: the indexes
// of the matcher that narrows a label to a few values and of the matcher
// that then rules them all out (the same when a matcher alone matches
// nothing). ok is false when the matchers can hold together, or when
// analysis cannot tell.
func (an *analysis) contradiction(ms labels.Matchers) (first, last int, ok bool) {
	for i, m := range ms {
		if a := an.accepted(m); a.finite && len(a.values) == 0 {
			return i, i, true // matches no value at all
		}
		if r := an.rejected(m); r.all {
			return i, i, true // rejects every value
		}
	}
	for i, m := range ms {
		a := an.accepted(m)
		if !a.finite {
			continue
		}
		values := a.values
		for j, other := range ms {
			if j == i || other.Name != m.Name {
				continue
			}
			values = slices.DeleteFunc(slices.Clone(values), func(v string) bool { return !other.Matches(v) })
			if len(values) == 0 {
				return i, j, true
			}
		}
	}
	return 0, 0, false
}

// neverMessage explains a contradiction found by contradiction.
func neverMessage(label string, ms labels.Matchers, first, last int) string {
	a, b := ms[first], ms[last]
	switch {
	case first == last && a.Type == labels.MatchNotRegexp:
		return fmt.Sprintf("%s can never match: %s rejects every value of label %s; remove it", label, a, a.Name)
	case first == last:
		return fmt.Sprintf("%s can never match: %s matches no value; fix the regular expression", label, a)
	case a.Type == labels.MatchEqual && b.Type == labels.MatchEqual:
		return fmt.Sprintf("%s can never match: label %s must equal both %q and %q; remove one matcher or use %s=~\"%s|%s\"",
			label, a.Name, a.Value, b.Value, a.Name, a.Value, b.Value)
	}
	return fmt.Sprintf("%s can never match: no value of label %s satisfies both %s and %s; remove one matcher or change it",
		label, a.Name, a, b)
}

// implies reports whether every alert that satisfies all of ms also
// satisfies m. It errs on the side of false.
func (an *analysis) implies(ms labels.Matchers, m *labels.Matcher) bool {
	if m.Type == labels.MatchRegexp && an.regexpValues(m.Value).all {
		return true // holds for any alert
	}
	for _, o := range ms {
		if o.Name != m.Name {
			continue
		}
		if o.Type == m.Type && o.Value == m.Value {
			return true
		}
		// o lets through only a few values: m must accept each.
		if a := an.accepted(o); a.finite && !slices.ContainsFunc(a.values, func(v string) bool { return !m.Matches(v) }) {
			return true
		}
		// m rejects a few values: o must reject each of them too.
		if r := an.rejected(m); r.finite && !slices.ContainsFunc(r.values, o.Matches) {
			return true
		}
	}
	return false
}

// covers reports whether rule a matches every alert rule b matches.
func (an *analysis) covers(a, b *Rule) bool {
	for _, m := range a.Matchers {
		if !an.implies(b.Matchers, m) {
			return false
		}
	}
	return true
}

// shadow is a rule that can never be reached: every alert it matches is
// first matched by an earlier rule without continue.
type shadow struct {
	rule, by int // positions in the rule list
}

// shadows finds the rules that an earlier rule without continue always
// matches first. never[i] marks rules that cannot match at all; they are
// neither reported nor taken as shadowing others.
func (an *analysis) shadows(rules []*Rule, never []bool) []shadow {
	// An earlier rule with an equality matcher l="v" can only cover a rule
	// that has the same matcher (or one that implies it); rules with no
	// equality matcher are compared with every later rule.
	byEqual := map[labels.Matcher][]int{}
	for i, r := range rules {
		for _, m := range r.Matchers {
			if m.Type == labels.MatchEqual {
				key := labels.Matcher{Type: m.Type, Name: m.Name, Value: m.Value}
				if l := byEqual[key]; len(l) == 0 || l[len(l)-1] != i {
					byEqual[key] = append(l, i)
				}
			}
		}
	}
	found := make(map[int]int) // rule -> first rule shadowing it
	budget := maxShadowChecks
	check := func(a, b int) {
		if budget <= 0 || never[b] {
			return
		}
		if _, done := found[b]; done {
			return
		}
		budget--
		if an.covers(rules[a], rules[b]) {
			found[b] = a
		}
	}
	for a, r := range rules {
		if r.Continue || never[a] {
			continue
		}
		var candidates []int
		for _, m := range r.Matchers {
			if m.Type != labels.MatchEqual {
				continue
			}
			l := byEqual[labels.Matcher{Type: m.Type, Name: m.Name, Value: m.Value}]
			if candidates == nil || len(l) < len(candidates) {
				candidates = l
			}
		}
		if candidates != nil {
			start, _ := slices.BinarySearch(candidates, a+1)
			for _, b := range candidates[start:] {
				check(a, b)
			}
			continue
		}
		for b := a + 1; b < len(rules); b++ {
			check(a, b)
		}
	}
	out := make([]shadow, 0, len(found))
	for b, a := range found {
		out = append(out, shadow{rule: b, by: a})
	}
	slices.SortFunc(out, func(x, y shadow) int { return x.rule - y.rule })
	return out
}

// riskyWithoutApproval says how the rule's action can do harm when it runs
// without a person approving it, or "" when it cannot, or a person must
// approve it, or the rule says approval.required: false on purpose.
func riskyWithoutApproval(action v1alpha1.Action, s *v1alpha1.ScaleParams, ev *v1alpha1.EvictParams, approvedOrAccepted bool) string {
	if approvedOrAccepted {
		return ""
	}
	switch action {
	case v1alpha1.ActionEvictPod:
		if ev != nil && ev.AllowUnowned {
			return "evicts pods that no controller owns (evict.allowUnowned) without approval, and nothing creates them again"
		}
	case v1alpha1.ActionRollback:
		return "rolls back without approval, replacing the running version of the workload"
	case v1alpha1.ActionScale:
		if s == nil { // its block had the wrong type: already an error
			return ""
		}
		switch {
		case s.Op == v1alpha1.ScaleBy && s.N < 0, s.Op == v1alpha1.ScaleMultiply && factor(s) < 1:
			return fmt.Sprintf("scales down (scale.replicas %q) without approval, removing capacity", s.Replicas())
		case s.Op == v1alpha1.ScaleTo:
			return fmt.Sprintf("sets a fixed replica count (scale.replicas %q) without approval, which scales down a workload running more than %d", s.Replicas(), s.N)
		}
	}
	return ""
}

// approvalHint is the fix for a risky action without approval.
const approvalHint = "add approval: {approvers: {groups: [S0123ABCD]}} so that a person confirms it, or write approval: {required: false} to accept the risk"

// describe names a rule with its position, for messages about two rules.
func describe(r *Rule) string {
	return fmt.Sprintf("rule %q (%s:%d)", r.Name, r.File, r.Line)
}

// matcherList writes matchers the way a rule file does.
func matcherList(ms labels.Matchers) string {
	items := make([]string, len(ms))
	for i, m := range ms {
		items[i] = singleQuote(m.String())
	}
	return "[" + strings.Join(items, ", ") + "]"
}
