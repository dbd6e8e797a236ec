package replay

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/alertmedic/alertmedic/policy"
)

// Diff is what a change to the rules changes in a replay's outcome: both
// replays read the same episodes under the same policy.
type Diff struct {
	// New is the replay with the changed rules; its heading, policy and
	// limits are the diff's.
	New *Result `json:"-"`
	// Rules are the rules whose outcome changed, in the new rules' order,
	// then the removed ones in the old rules' order.
	Rules []RuleChange `json:"rules"`
	// Unmatched are the alertnames whose count of episodes matching no rule
	// changed.
	Unmatched []UnmatchedChange `json:"unmatched"`
}

// RuleChange is one rule's outcome before and after; Old is nil for an
// added rule, New for a removed one.
type RuleChange struct {
	Rule           string      `json:"rule"`
	Old            *RuleResult `json:"old"`
	New            *RuleResult `json:"new"`
	TargetsAdded   []string    `json:"targetsAdded"`
	TargetsRemoved []string    `json:"targetsRemoved"`
}

// UnmatchedChange is the count of one alertname's episodes that matched no
// rule, before and after.
type UnmatchedChange struct {
	Alertname string `json:"alertname"`
	Old       int    `json:"old"`
	New       int    `json:"new"`
}

// Compare says what changes from the replay old to the replay new of the
// same episodes.
func Compare(old, new *Result) *Diff {
	d := &Diff{New: new, Rules: []RuleChange{}, Unmatched: []UnmatchedChange{}}
	olds := map[string]*RuleResult{}
	for i := range old.Rules {
		olds[old.Rules[i].Rule] = &old.Rules[i]
	}
	seen := map[string]bool{}
	for i := range new.Rules {
		n := &new.Rules[i]
		seen[n.Rule] = true
		if c, changed := change(olds[n.Rule], n); changed {
			d.Rules = append(d.Rules, c)
		}
	}
	for i := range old.Rules {
		if o := &old.Rules[i]; !seen[o.Rule] {
			c, _ := change(o, nil)
			d.Rules = append(d.Rules, c)
		}
	}
	counts := func(us []Unmatched) map[string]int {
		m := map[string]int{}
		for _, u := range us {
			m[u.Alertname] = u.Episodes
		}
		return m
	}
	before, after := counts(old.Unmatched), counts(new.Unmatched)
	names := slices.Sorted(maps.Keys(before))
	for name := range after {
		if _, ok := before[name]; !ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		if before[name] != after[name] {
			d.Unmatched = append(d.Unmatched, UnmatchedChange{Alertname: name, Old: before[name], New: after[name]})
		}
	}
	return d
}

// change compares one rule's outcomes; o or n is nil when the rule is not
// in those rules.
func change(o, n *RuleResult) (RuleChange, bool) {
	c := RuleChange{Old: o, New: n, TargetsAdded: []string{}, TargetsRemoved: []string{}}
	var ot, nt []string
	if o != nil {
		c.Rule, ot = o.Rule, o.Targets
	}
	if n != nil {
		c.Rule, nt = n.Rule, n.Targets
	}
	for _, t := range nt {
		if !slices.Contains(ot, t) {
			c.TargetsAdded = append(c.TargetsAdded, t)
		}
	}
	for _, t := range ot {
		if !slices.Contains(nt, t) {
			c.TargetsRemoved = append(c.TargetsRemoved, t)
		}
	}
	if o == nil || n == nil {
		return c, true
	}
	same := o.Action == n.Action && o.Matched == n.Matched && o.Run == n.Run && o.Approvals == n.Approvals &&
		o.TargetErrors == n.TargetErrors && maps.Equal(o.Skipped, n.Skipped) && len(c.TargetsAdded) == 0 && len(c.TargetsRemoved) == 0
	return c, !same
}

// WriteDiff renders d in format (one of Formats).
func WriteDiff(w io.Writer, d *Diff, format string) error {
	switch format {
	case "text":
		return writeDiffText(w, d)
	case "markdown":
		return writeDiffMarkdown(w, d)
	case "github":
		return writeDiffGitHub(w, d)
	case "json":
		return writeJSON(w, struct {
			*Result
			Changes *Diff `json:"changes"`
		}{d.New, d})
	}
	return fmt.Errorf("unknown format %q: want one of %s", format, strings.Join(Formats, ", "))
}

var diffColumns = []string{"rule", "matched", "would run", "skipped", "approvals asked", "target errors", "targets"}

// diffCells writes a change as "old → new" where it changed, the value
// where it did not, and "-" for a side without the rule.
func diffCells(c RuleChange) []string {
	get := func(r *RuleResult, f func(*RuleResult) string) string {
		if r == nil {
			return "-"
		}
		return f(r)
	}
	cell := func(f func(*RuleResult) string) string {
		o, n := get(c.Old, f), get(c.New, f)
		if o == n {
			return n
		}
		return o + " → " + n
	}
	num := func(f func(*RuleResult) int) string {
		return cell(func(r *RuleResult) string { return fmt.Sprint(f(r)) })
	}
	rule := c.Rule
	switch {
	case c.Old == nil:
		rule += " (added)"
	case c.New == nil:
		rule += " (removed)"
	}
	return []string{rule,
		num(func(r *RuleResult) int { return r.Matched }),
		num(func(r *RuleResult) int { return r.Run }),
		skippedChange(c.Old, c.New),
		num(func(r *RuleResult) int { return r.Approvals }),
		num(func(r *RuleResult) int { return r.TargetErrors }),
		num(func(r *RuleResult) int { return len(r.Targets) }),
	}
}

// skippedChange writes the skipped counts by reason, each as "old → new"
// where it changed: "NamespaceDenied 1, Cooldown 2 → 1".
func skippedChange(o, n *RuleResult) string {
	if o == nil || n == nil {
		side := func(r *RuleResult) string {
			if r == nil {
				return "-"
			}
			return skipped(r.Skipped)
		}
		return side(o) + " → " + side(n)
	}
	var parts []string
	for _, r := range policy.Reasons() {
		a, b := o.Skipped[r], n.Skipped[r]
		switch {
		case a == b && a > 0:
			parts = append(parts, fmt.Sprintf("%s %d", r, a))
		case a != b:
			parts = append(parts, fmt.Sprintf("%s %d → %d", r, a, b))
		}
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, ", ")
}

// targetChanges says which targets a change adds and removes.
func targetChanges(c RuleChange) string {
	var parts []string
	if len(c.TargetsAdded) > 0 {
		parts = append(parts, "now acts on "+targetList(c.TargetsAdded))
	}
	if len(c.TargetsRemoved) > 0 {
		parts = append(parts, "no longer acts on "+targetList(c.TargetsRemoved))
	}
	return strings.Join(parts, "; ")
}

func writeDiffText(w io.Writer, d *Diff) error {
	fmt.Fprintln(w, heading(d.New))
	fmt.Fprintf(w, "policy: %s\n\n", d.New.Policy)
	if len(d.Rules) == 0 && len(d.Unmatched) == 0 {
		fmt.Fprintln(w, "the change to the rules changes nothing in what would have happened")
	}
	if len(d.Rules) > 0 {
		fmt.Fprintln(w, "rules whose outcome changes (old → new):")
		rows := make([][]string, len(d.Rules))
		for i, c := range d.Rules {
			rows[i] = diffCells(c)
		}
		if err := textTable(w, diffColumns, rows); err != nil {
			return err
		}
		for _, c := range d.Rules {
			if s := targetChanges(c); s != "" {
				fmt.Fprintf(w, "  %s %s\n", c.Rule, s)
			}
		}
	}
	if len(d.Unmatched) > 0 {
		fmt.Fprintln(w, "\nepisodes that match no rule (old → new):")
		for _, u := range d.Unmatched {
			fmt.Fprintf(w, "  %s: %d → %d\n", u.Alertname, u.Old, u.New)
		}
	}
	fmt.Fprintln(w, "\nwhat a replay cannot tell:")
	for _, l := range d.New.Limits {
		fmt.Fprintf(w, "  - %s\n", l)
	}
	return nil
}

func writeDiffMarkdown(w io.Writer, d *Diff) error {
	fmt.Fprintf(w, "### alertmedic replay: what this change to the rules changes\n\n%s.\n\nPolicy: `%s`\n\n", heading(d.New), d.New.Policy)
	if len(d.Rules) == 0 && len(d.Unmatched) == 0 {
		fmt.Fprintln(w, "Nothing: every rule would have done the same.")
	}
	if len(d.Rules) > 0 {
		fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(diffColumns, " | "), strings.Repeat(" --- |", len(diffColumns)))
		for _, c := range d.Rules {
			cs := diffCells(c)
			cs[0] = "`" + c.Rule + "`" + strings.TrimPrefix(cs[0], c.Rule)
			fmt.Fprintf(w, "| %s |\n", strings.Join(cs, " | "))
		}
		for _, c := range d.Rules {
			if s := targetChanges(c); s != "" {
				fmt.Fprintf(w, "\n- `%s` %s", c.Rule, s)
			}
		}
		fmt.Fprintln(w)
	}
	if len(d.Unmatched) > 0 {
		var parts []string
		for _, u := range d.Unmatched {
			parts = append(parts, fmt.Sprintf("`%s` %d → %d", u.Alertname, u.Old, u.New))
		}
		fmt.Fprintf(w, "\nEpisodes that match no rule: %s.\n", strings.Join(parts, ", "))
	}
	writeLimitsMarkdown(w, d.New.Limits)
	return nil
}

// writeDiffGitHub writes a workflow command per changed rule: a warning
// when it would act more often or on new targets, a notice otherwise.
func writeDiffGitHub(w io.Writer, d *Diff) error {
	for _, c := range d.Rules {
		level := "notice"
		if c.New != nil && (c.Old == nil || c.New.Run > c.Old.Run || len(c.TargetsAdded) > 0) {
			level = "warning"
		}
		cs := diffCells(c)
		msg := fmt.Sprintf("%s: matched %s, would run %s, skipped %s, approvals asked %s, target errors %s, targets %s",
			cs[0], cs[1], cs[2], cs[3], cs[4], cs[5], cs[6])
		if s := targetChanges(c); s != "" {
			msg += "; " + s
		}
		fmt.Fprintf(w, "::%s title=alertmedic replay %s::%s\n", level, escapeProperty(c.Rule), escapeData(msg))
	}
	for _, u := range d.Unmatched {
		fmt.Fprintf(w, "::notice title=alertmedic replay::%s\n", escapeData(fmt.Sprintf("%s: %d → %d episodes match no rule", u.Alertname, u.Old, u.New)))
	}
	if len(d.Rules) == 0 && len(d.Unmatched) == 0 {
		fmt.Fprintf(w, "::notice title=alertmedic replay::%s\n", escapeData(heading(d.New)+": the change to the rules changes nothing"))
	}
	return nil
}
