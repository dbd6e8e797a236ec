package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/common/model"
)

// Formats are the names Write accepts.
var Formats = []string{"text", "json", "markdown"}

// Write renders rep in format (one of Formats); namespace names where the
// records were read, in the heading.
func Write(w io.Writer, rep Report, format, namespace string) error {
	switch format {
	case "text":
		return Text(w, rep, namespace)
	case "markdown":
		return Markdown(w, rep, namespace)
	case "json":
		return JSON(w, rep)
	}
	return fmt.Errorf("unknown format %q: want one of %s", format, strings.Join(Formats, ", "))
}

// JSON writes rep as one indented JSON object.
func JSON(w io.Writer, rep Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

func heading(rep Report, namespace string) string {
	return fmt.Sprintf("Remediations from %s to %s (%s), namespace %s: %d records",
		rep.From.UTC().Format(time.RFC3339), rep.To.UTC().Format(time.RFC3339),
		model.Duration(rep.To.Sub(rep.From)), namespace, rep.Records)
}

// columns are the headings of Text and Markdown, and cells a row's values.
var columns = []string{"rule", "matched", "acted", "skipped", "cancelled", "approved", "denied", "expired",
	"verified", "unverified", "failed", "escalated", "later steps", "in flight", "alert → action p50 / p90", "action → verified p50 / p90", "action → resolved p50 / p90"}

func cells(r Row) []string {
	n := func(v int) string { return fmt.Sprint(v) }
	return []string{r.Rule, n(r.Matched), n(r.Acted), counts(r.Skipped), n(r.Cancelled), n(r.Approved), n(r.Denied), n(r.Expired),
		n(r.Verified), n(r.Unverified), counts(r.Failed), n(r.Escalated), n(r.LaterSteps), n(r.InFlight), durations(r.AlertToAction), durations(r.ActionToVerified), durations(r.ActionToResolved)}
}

// Text writes rep as aligned columns for a terminal.
func Text(w io.Writer, rep Report, namespace string) error {
	fmt.Fprintln(w, heading(rep, namespace))
	if len(rep.Rules) == 0 {
		_, err := fmt.Fprintln(w, "no records in this window")
		return err
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := make([]string, len(columns))
	for i, c := range columns {
		head[i] = strings.ToUpper(c)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, r := range rep.Rules {
		fmt.Fprintln(tw, strings.Join(cells(r), "\t"))
	}
	return tw.Flush()
}

// Markdown writes rep as a heading line and a GitHub-flavoured table, to
// paste into a review.
func Markdown(w io.Writer, rep Report, namespace string) error {
	fmt.Fprintf(w, "**%s**\n\n", heading(rep, namespace))
	if len(rep.Rules) == 0 {
		_, err := fmt.Fprintln(w, "No records in this window.")
		return err
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(columns, " | "))
	seps := make([]string, len(columns))
	for i := range seps {
		seps[i] = "---:"
	}
	seps[0] = "---"
	fmt.Fprintf(w, "|%s|\n", strings.Join(seps, "|"))
	for _, r := range rep.Rules {
		c := cells(r)
		if r.Rule == AllRules {
			c[0] = "**" + c[0] + "**"
		} else {
			c[0] = "`" + c[0] + "`"
		}
		_, err := fmt.Fprintf(w, "| %s |\n", strings.Join(c, " | "))
		if err != nil {
			return err
		}
	}
	return nil
}

// counts is "3 (Cooldown 2, RuleBudget 1)", "0".
func counts(c Counts) string {
	total := c.Total()
	if total == 0 {
		return "0"
	}
	reasons := make([]string, 0, len(c))
	for r := range c {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = fmt.Sprintf("%s %d", r, c[r])
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
}

// durations is "1m30s / 4m (n=7)", "-" without samples.
func durations(d Durations) string {
	if d.N == 0 {
		return "-"
	}
	return fmt.Sprintf("%s / %s (n=%d)", short(d.P50), short(d.P90), d.N)
}

// short is a duration to the second, in Prometheus' notation (1d2h, 4m30s).
func short(d time.Duration) string {
	d = d.Round(time.Second)
	if d == 0 {
		return "0s"
	}
	return model.Duration(d).String()
}
