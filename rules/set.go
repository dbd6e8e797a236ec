package rules

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/alertmanager/template"
	"gopkg.in/yaml.v3"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// Set is a compiled, ordered set of rules, indexed for matching. It is
// immutable and safe for concurrent use.
type Set struct {
	rules    []*Rule
	warnings []Problem
	order    map[string]int // file -> load order, to sort problems

	// Each rule is filed under one of its equality matchers (alertname when
	// it has one), or in fallback when it has none. A rule can only match
	// an alert whose label has the value it is filed under, so Match looks
	// at those lists and fallback, never at the whole set.
	byLabel  []labelIndex // sorted by label name
	fallback []int32      // rule positions, ascending
}

type labelIndex struct {
	name  string
	rules map[string][]int32 // label value -> rule positions, ascending
}

// Match is one rule that matched an alert and the target it renders to.
// When Err is set (a *RenderError) the target could not be rendered and
// Target is empty: nothing should be done for this match.
type Match struct {
	Rule   *Rule
	Target v1alpha1.Target
	// Then are the targets of a sequence's later steps (Rule.Then), in
	// order; nil for a rule that is not a sequence.
	Then []v1alpha1.Target
	Err  error
}

// Parse compiles the rules of one file; filename is used in messages. The
// error, if any, is a *LoadError listing every problem found.
func Parse(filename string, data []byte) (*Set, error) {
	return build([]source{{path: filename, data: data}}, nil, map[string]int{filename: 1})
}

// LoadFiles compiles the rules of several files into one Set. Each path is a
// file, or a directory whose *.yaml and *.yml files (not in subdirectories,
// not hidden) are read in name order. Rules keep the order of the paths,
// then of the files, then within each file; a file named twice is read once.
// Rule names must be unique across all files. Finding no file at all is an
// error. The error, if any, is a *LoadError listing every problem found.
func LoadFiles(paths ...string) (*Set, error) {
	var (
		problems []Problem
		sources  []source
		order    = map[string]int{}
		seen     = map[string]bool{}
		empty    []string
	)
	fail := func(path string, err error) {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		problems = append(problems, Problem{File: path, Message: "cannot read rules: " + err.Error()})
	}
	add := func(path string) {
		key := filepath.Clean(path)
		if abs, err := filepath.Abs(path); err == nil {
			key = abs
		}
		if seen[key] {
			return
		}
		seen[key] = true
		order[path] = len(order) + 1
		data, err := os.ReadFile(path)
		if err != nil {
			fail(path, err)
			return
		}
		sources = append(sources, source{path: path, data: data})
	}
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			fail(p, err)
			continue
		}
		if !info.IsDir() {
			add(p)
			continue
		}
		entries, err := os.ReadDir(p) // sorted by name
		if err != nil {
			fail(p, err)
			continue
		}
		found := 0
		for _, e := range entries {
			name := e.Name()
			if strings.HasPrefix(name, ".") || filepath.Ext(name) != ".yaml" && filepath.Ext(name) != ".yml" {
				continue
			}
			full := filepath.Join(p, name)
			if fi, err := os.Stat(full); err != nil { // follows symlinks, as in ConfigMap mounts
				fail(full, err)
				continue
			} else if fi.IsDir() {
				continue
			}
			found++
			add(full)
		}
		if found == 0 {
			empty = append(empty, p)
		}
	}
	switch {
	case len(order) == 0 && len(problems) == 0:
		where := "no paths given"
		if len(paths) > 0 {
			where = "none in " + strings.Join(paths, ", ")
		}
		problems = append(problems, Problem{Message: fmt.Sprintf("no rule files found (%s); give rule files, or directories holding *.yaml or *.yml files", where)})
	case len(order) > 0:
		for _, dir := range empty {
			problems = append(problems, Problem{File: dir, Message: "no rule files (*.yaml, *.yml) in this directory", Severity: SeverityWarning})
		}
	}
	return build(sources, problems, order)
}

type source struct {
	path string
	data []byte
}

// build decodes, validates and compiles the sources, in order, and checks
// rule names across all of them.
func build(sources []source, problems []Problem, order map[string]int) (*Set, error) {
	var (
		rules   []*Rule
		matchAt []*yaml.Node          // the match list of each rule, for warnings
		first   = map[string]string{} // rule name -> where it is first defined
		an      = newAnalysis()
	)
	for _, src := range sources {
		r := &reporter{file: src.path}
		d := &decoder{reporter: r}
		fc := d.decodeFile(src.data)
		if d.exhausted() {
			// Half-walked rules would only add noise to the one error.
			problems = append(problems, r.problems...)
			continue
		}
		c := &compiler{reporter: r, an: an}
		for _, rc := range fc.Rules {
			rc.applyDefaults()
			if rc.ok("name") && rc.Name != "" {
				n := rc.at("name")
				if where, dup := first[rc.Name]; dup {
					c.errorf(n, "duplicate rule name %q (first defined at %s); names must be unique across all rule files, rename one", rc.Name, where)
				} else {
					first[rc.Name] = fmt.Sprintf("%s:%d:%d", src.path, n.Line, n.Column)
				}
			}
			if rule := c.compile(rc); rule != nil {
				rules = append(rules, rule)
				matchAt = append(matchAt, rc.at("match"))
			}
		}
		problems = append(problems, r.problems...)
	}
	problems = append(problems, shadowWarnings(an, rules, matchAt)...)
	sortProblems(problems, order)
	if hasErrors(problems) {
		return nil, &LoadError{Problems: problems}
	}
	s := newSet(rules, warningsOf(problems))
	s.order = order
	return s, nil
}

// shadowWarnings reports the rules that can never act because an earlier
// rule without continue always matches first, at their match lists.
func shadowWarnings(an *analysis, rules []*Rule, matchAt []*yaml.Node) []Problem {
	never := make([]bool, len(rules))
	for i, r := range rules {
		_, _, never[i] = an.contradiction(r.Matchers)
	}
	var out []Problem
	for _, sh := range an.shadows(rules, never) {
		b, a := rules[sh.rule], rules[sh.by]
		n := matchAt[sh.rule]
		out = append(out, Problem{
			File: b.File, Line: n.Line, Column: n.Column, Severity: SeverityWarning,
			Message: fmt.Sprintf("rule %q never acts: %s, match: %s, matches every alert it matches and comes first without continue: true; move %q above %q, add continue: true to %q, or remove %q",
				b.Name, describe(a), matcherList(a.Matchers), b.Name, a.Name, a.Name, b.Name),
		})
	}
	return out
}

func newSet(rules []*Rule, warnings []Problem) *Set {
	s := &Set{rules: rules, warnings: warnings}
	index := map[string]map[string][]int32{}
	for i, r := range rules {
		m := indexMatcher(r.Matchers)
		if m == nil {
			s.fallback = append(s.fallback, int32(i))
			continue
		}
		if index[m.Name] == nil {
			index[m.Name] = map[string][]int32{}
		}
		index[m.Name][m.Value] = append(index[m.Name][m.Value], int32(i))
	}
	for _, name := range slices.Sorted(maps.Keys(index)) {
		s.byLabel = append(s.byLabel, labelIndex{name: name, rules: index[name]})
	}
	return s
}

// indexMatcher picks the equality matcher a rule is filed under: alertname
// if the rule has one (the most selective label in practice), else the
// first with a non-empty value, else the first; nil when there is none.
func indexMatcher(ms labels.Matchers) *labels.Matcher {
	var first, empty *labels.Matcher
	for _, m := range ms {
		switch {
		case m.Type != labels.MatchEqual:
		case m.Name == "alertname":
			return m
		case m.Value == "":
			if empty == nil {
				empty = m
			}
		case first == nil:
			first = m
		}
	}
	if first != nil {
		return first
	}
	return empty
}

// Rules returns the rules in evaluation order. The slice is the caller's;
// the rules are shared and must not be modified.
func (s *Set) Rules() []*Rule {
	if s == nil {
		return nil
	}
	return slices.Clone(s.rules)
}

// Len returns the number of rules.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.rules)
}

// Warnings returns the warnings found while loading the set: things that
// are allowed but probably not meant.
func (s *Set) Warnings() []Problem {
	if s == nil {
		return nil
	}
	return slices.Clone(s.warnings)
}

// Match returns the rules that match alert a, in rule order, with their
// rendered targets. A rule matches when all its matchers match a.Labels.
// Evaluation stops at the first matching rule unless that rule has
// continue: true; a rule whose target fails to render still counts as a
// match (its Match carries the error), so a later rule does not silently
// act instead. Match looks only at labels, not at a.Status: callers decide
// what to do with resolved alerts. It does not modify a and is safe for
// concurrent use; it returns nil, without allocating, when nothing matches.
func (s *Set) Match(a *template.Alert) []Match {
	if s == nil || a == nil {
		return nil
	}
	// The candidate lists: at most one per indexed label name, plus the
	// fallback. Kept on the stack for the usual handful of label names.
	var buf [8][]int32
	lists := buf[:0]
	for i := range s.byLabel {
		li := &s.byLabel[i]
		if ids, ok := li.rules[a.Labels[li.name]]; ok {
			lists = append(lists, ids)
		}
	}
	if len(s.fallback) > 0 {
		lists = append(lists, s.fallback)
	}
	var out []Match
	for {
		// Merge: take the lowest rule position at the head of any list.
		// A rule is in exactly one list, so no position repeats.
		best := -1
		for i, l := range lists {
			if len(l) > 0 && (best < 0 || l[0] < lists[best][0]) {
				best = i
			}
		}
		if best < 0 {
			return out
		}
		r := s.rules[lists[best][0]]
		lists[best] = lists[best][1:]
		if !r.Matches(a.Labels) {
			continue
		}
		m := Match{Rule: r}
		m.Target, m.Then, m.Err = r.Targets(a)
		out = append(out, m)
		if !r.Continue {
			return out
		}
	}
}
