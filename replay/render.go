package replay

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/prometheus/common/model"

	"github.com/alertmedic/alertmedic/policy"
)

// Formats are the names Write and WriteDiff accept.
var Formats = []string{"text", "json", "markdown", "github"}

// Write renders res in format (one of Formats).
func Write(w io.Writer, res *Result, format string) error {
	switch format {
	case "text":
		return writeText(w, res)
	case "markdown":
		return writeMarkdown(w, res)
	case "github":
		return writeGitHub(w, res)
	case "json":
		return writeJSON(w, res)
	}
	return fmt.Errorf("unknown format %q: want one of %s", format, strings.Join(Formats, ", "))
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// heading says what was replayed.
func heading(res *Result) string {
	return fmt.Sprintf("Replay of ALERTS from %s to %s (%s, step %s): %s of %s",
		res.From.Format(timeFormat), res.To.Format(timeFormat), model.Duration(res.To.Sub(res.From)), res.Step,
		plural(res.Episodes, "episode"), plural(res.Alerts, "alert"))
}

func plural(n int, what string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, what)
	}
	return fmt.Sprintf("%d %ss", n, what)
}

var columns = []string{"rule", "action", "matched", "would run", "skipped", "approvals asked", "target errors", "targets", "busiest hour"}

func cells(r RuleResult) []string {
	return []string{r.Rule, r.Action, fmt.Sprint(r.Matched), fmt.Sprint(r.Run), skipped(r.Skipped), fmt.Sprint(r.Approvals),
		fmt.Sprint(r.TargetErrors), fmt.Sprint(len(r.Targets)), hour(r.BusiestHour)}
}

// skipped writes counts by reason in policy's order: "Cooldown 2, RuleBudget 1".
func skipped(m map[policy.Reason]int) string {
	var parts []string
	for _, r := range policy.Reasons() {
		if n := m[r]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", r, n))
		}
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, ", ")
}

func hour(h *Hour) string {
	if h == nil {
		return "-"
	}
	return fmt.Sprintf("%s (%d)", h.Start.Format(timeFormat), h.Episodes)
}

// maxTargets is how many targets of a rule the text and Markdown list.
const maxTargets = 10

func targetList(ts []string) string {
	if len(ts) <= maxTargets {
		return strings.Join(ts, ", ")
	}
	return strings.Join(ts[:maxTargets], ", ") + fmt.Sprintf(" and %d more", len(ts)-maxTargets)
}

func writeText(w io.Writer, res *Result) error {
	fmt.Fprintln(w, heading(res))
	fmt.Fprintf(w, "policy: %s\n\n", res.Policy)
	rows := make([][]string, len(res.Rules))
	for i, r := range res.Rules {
		rows[i] = cells(r)
	}
	if err := textTable(w, columns, rows); err != nil {
		return err
	}
	acted := slices.ContainsFunc(res.Rules, func(r RuleResult) bool { return len(r.Targets) > 0 })
	if acted {
		fmt.Fprintln(w, "\ntargets acted on:")
		for _, r := range res.Rules {
			if len(r.Targets) > 0 {
				fmt.Fprintf(w, "  %s: %s\n", r.Rule, targetList(r.Targets))
			}
		}
	}
	writeUnmatchedText(w, res.Unmatched)
	fmt.Fprintln(w, "\nwhat a replay cannot tell:")
	for _, l := range res.Limits {
		fmt.Fprintf(w, "  - %s\n", l)
	}
	return nil
}

func writeUnmatchedText(w io.Writer, us []Unmatched) {
	n := 0
	for _, u := range us {
		n += u.Episodes
	}
	fmt.Fprintf(w, "\n%s matched no rule", plural(n, "episode"))
	if n == 0 {
		fmt.Fprintln(w)
		return
	}
	fmt.Fprintln(w, ":")
	for _, u := range us {
		fmt.Fprintf(w, "  %s: %d\n", u.Alertname, u.Episodes)
	}
}

func writeMarkdown(w io.Writer, res *Result) error {
	fmt.Fprintf(w, "### alertmedic replay\n\n%s.\n\nPolicy: `%s`\n\n", heading(res), res.Policy)
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(columns, " | "), strings.Repeat(" --- |", len(columns)))
	for _, r := range res.Rules {
		c := cells(r)
		c[0] = "`" + c[0] + "`"
		fmt.Fprintf(w, "| %s |\n", strings.Join(c, " | "))
	}
	for _, r := range res.Rules {
		if len(r.Targets) > 0 {
			fmt.Fprintf(w, "\n- `%s` would have acted on %s", r.Rule, targetList(r.Targets))
		}
	}
	fmt.Fprintln(w)
	writeUnmatchedMarkdown(w, res.Unmatched)
	writeLimitsMarkdown(w, res.Limits)
	return nil
}

func writeUnmatchedMarkdown(w io.Writer, us []Unmatched) {
	if len(us) == 0 {
		fmt.Fprintln(w, "\nEvery episode matched a rule.")
		return
	}
	var parts []string
	n := 0
	for _, u := range us {
		parts = append(parts, fmt.Sprintf("`%s` %d", u.Alertname, u.Episodes))
		n += u.Episodes
	}
	fmt.Fprintf(w, "\n%s matched no rule: %s.\n", plural(n, "episode"), strings.Join(parts, ", "))
}

func writeLimitsMarkdown(w io.Writer, ls []string) {
	fmt.Fprintln(w, "\n<details><summary>What a replay cannot tell</summary>")
	fmt.Fprintln(w)
	for _, l := range ls {
		fmt.Fprintf(w, "- %s\n", l)
	}
	fmt.Fprintln(w, "\n</details>")
}

// writeGitHub writes a workflow command per rule: a warning for a rule whose
// actions policy would have refused, a notice for any other.
func writeGitHub(w io.Writer, res *Result) error {
	for _, r := range res.Rules {
		level := "notice"
		if r.SkippedTotal() > 0 || r.TargetErrors > 0 {
			level = "warning"
		}
		fmt.Fprintf(w, "::%s title=alertmedic replay %s::%s\n", level, escapeProperty(r.Rule), escapeData(ruleSentence(r)))
	}
	n := 0
	for _, u := range res.Unmatched {
		n += u.Episodes
	}
	fmt.Fprintf(w, "::notice title=alertmedic replay::%s\n", escapeData(fmt.Sprintf("%s; %s matched no rule", heading(res), plural(n, "episode"))))
	return nil
}

// ruleSentence says in one line what a rule would have done.
func ruleSentence(r RuleResult) string {
	s := fmt.Sprintf("%s: %s matched, %d would run, skipped %s, %d approvals asked, %d target errors, %s",
		r.Rule, plural(r.Matched, "episode"), r.Run, skipped(r.Skipped), r.Approvals, r.TargetErrors, plural(len(r.Targets), "target"))
	if r.BusiestHour != nil {
		s += ", busiest hour " + hour(r.BusiestHour)
	}
	return s
}

// escapeData and escapeProperty escape a workflow command's message and
// properties as GitHub's toolkit does.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// textTable writes aligned columns for a terminal: the headings in capitals,
// then a line per row.
func textTable(w io.Writer, headings []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := make([]string, len(headings))
	for i, c := range headings {
		head[i] = strings.ToUpper(c)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}
