package ruletest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/template"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/policy"
	"github.com/alertmedic/alertmedic/rules"
)

// Result is the outcome of one Case.
type Result struct {
	Case *Case
	// Want and Got are the expected and the actual remediations, written
	// the way a test file writes expect (so Got can be pasted into one).
	Want, Got []string
	// Note explains an outcome that is not obvious, such as nothing
	// happening for a resolved alert.
	Note string
	// Steps are the outcomes of the notifications of a sequence test, in
	// order, and Limits the policy limits they ran under (defaults filled
	// in). A test with one alert has neither.
	Steps  []StepResult
	Limits policy.Limits
}

// StepResult is the outcome of one notification of a sequence test.
type StepResult struct {
	Notification *Notification
	// Alerts are the notification's alerts as sent, StartsAt filled in.
	Alerts []*template.Alert
	// Want and Got are as in Result, with the decisions.
	Want, Got []string
	// Notes say why each remediation that does not run does not, and that
	// resolved alerts are not acted on.
	Notes []string
}

// Passed reports whether the remediations, and in a sequence test their
// decisions, were the expected ones.
func (r *Result) Passed() bool {
	if !slices.Equal(r.Want, r.Got) {
		return false
	}
	for i := range r.Steps {
		if !r.Steps[i].Passed() {
			return false
		}
	}
	return true
}

// Diff is Want against Got, line by line: "- " for a line only expected,
// "+ " for a line only got, "  " for a line in both.
func (r *Result) Diff() []string { return lineDiff(r.Want, r.Got) }

// Passed reports whether the notification led to the expected remediations
// and decisions.
func (s *StepResult) Passed() bool { return slices.Equal(s.Want, s.Got) }

// Diff is Want against Got, as Result.Diff.
func (s *StepResult) Diff() []string { return lineDiff(s.Want, s.Got) }

// Run runs every test of the file against set, in order; limits are the
// deployment's policy (the flags of alertmedic serve), under which the file's
// and each test's policy blocks apply.
func (tf *File) Run(set *rules.Set, limits policy.Limits) []Result {
	out := make([]Result, 0, len(tf.Cases))
	for _, c := range tf.Cases {
		out = append(out, c.Run(set, limits))
	}
	return out
}

// Run matches the test's alert against set as alertmedic does and compares
// the remediations with the expected ones. As alertmedic acts on firing
// alerts only, nothing happens for a resolved alert.
//
// A sequence test plays its notifications in order, as alertmedic would
// receive them, starting with no action in memory. Every match of a firing
// alert becomes the record the webhook path writes (ingest.NewRecord),
// named for its alert episode (rule, target, fingerprint, startsAt): a
// re-send names a record made already and is a Duplicate. A record whose
// rule needs approval is left PendingApproval. Any other is put to policy
// (c.Limits of limits) at the notification's time, asked what the
// executing replica asks of the record (controller.PolicyAction), and runs (and
// is taken to succeed) or is refused with policy's reason. An alert whose startsAt the test does not give has
// the one Alertmanager would send: the time of the notification in which
// it started firing, kept until a notification says it resolved.
func (c *Case) Run(set *rules.Set, limits policy.Limits) Result {
	if len(c.Notifications) > 0 {
		return c.runSequence(set, limits)
	}
	res := Result{Case: c}
	var got []Expectation
	if c.Alert.Status == "firing" {
		for _, m := range set.Match(c.Alert) {
			got = append(got, expectationOf(m))
		}
	} else {
		res.Note = "the alert is resolved, and alertmedic acts on firing alerts only"
	}
	matchTargetErrors(got, c.Expect)
	res.Want = writeExpectations(c.Expect)
	res.Got = writeExpectations(got)
	return res
}

// matchTargetErrors shows an actual render error as the expected one when it
// holds it: an expected targetError is a part of the error.
func matchTargetErrors(got, want []Expectation) {
	for i := range got {
		if i < len(want) && got[i].TargetError != "" && want[i].TargetError != "" &&
			strings.Contains(got[i].TargetError, want[i].TargetError) {
			got[i].TargetError = want[i].TargetError
		}
	}
}

// runSequence plays the notifications of c (see Run) through a Player.
func (c *Case) runSequence(set *rules.Set, limits policy.Limits) Result {
	player := NewPlayer(set, c.Limits(limits))
	res := Result{Case: c, Limits: player.Limits()}
	firing := map[string]time.Time{} // fingerprint -> startsAt of its firing episode
	for _, n := range c.Notifications {
		now := testStart().Add(n.At)
		step := StepResult{Notification: n}
		var got []Expectation
		for i, sent := range n.Alerts {
			a := *sent
			if !n.startsAt[i] {
				a.StartsAt = now
				if start, ok := firing[a.Fingerprint]; ok {
					a.StartsAt = start
				}
			}
			step.Alerts = append(step.Alerts, &a)
			if a.Status != "firing" {
				delete(firing, a.Fingerprint)
				step.Notes = append(step.Notes, fmt.Sprintf("%s is resolved, and alertmedic acts on firing alerts only", alertName(&a)))
				continue
			}
			firing[a.Fingerprint] = a.StartsAt
			for _, o := range player.Play(&a, now) {
				e := expectationOf(o.Match)
				e.Decision = o.Decision
				switch {
				case o.Decision == DecisionDuplicate:
					step.Notes = append(step.Notes, o.Match.Rule.Name+": "+duplicateNote(&a, o.RecordedAt.Sub(testStart())))
				case o.Note != "":
					step.Notes = append(step.Notes, fmt.Sprintf("%s: %s: %s", o.Match.Rule.Name, o.Decision, o.Note))
				}
				got = append(got, e)
			}
		}
		matchTargetErrors(got, n.Expect)
		step.Want = writeExpectations(n.Expect)
		step.Got = writeExpectations(got)
		res.Steps = append(res.Steps, step)
	}
	return res
}

// alertName names an alert in notes: its alertname and fingerprint.
func alertName(a *template.Alert) string {
	return fmt.Sprintf("alert %s (fingerprint %s)", a.Labels["alertname"], a.Fingerprint)
}

// FormatTime writes a time of a sequence test (such as an alert's startsAt)
// as a test file can: a duration since the test started, or in RFC 3339
// when it is before the start.
func FormatTime(t time.Time) string {
	if d := t.Sub(testStart()); d >= 0 {
		return offset(d)
	}
	return t.UTC().Format(time.RFC3339)
}

// expectationOf states what a match does, as a test would expect it.
func expectationOf(m rules.Match) Expectation {
	r := m.Rule
	e := Expectation{Rule: r.Name, Action: r.Action, Target: m.Target, Approval: r.Approval.Required}
	if m.Err != nil {
		e.Target = v1alpha1.Target{}
		e.TargetError = m.Err.Error()
	}
	if r.Scale != nil {
		sc := *r.Scale
		e.Scale = &sc
	}
	if r.Rollback != nil && r.Rollback.ToRevision > 0 {
		e.Rollback = &v1alpha1.RollbackParams{ToRevision: r.Rollback.ToRevision}
	}
	if r.Evict != nil && (r.Evict.AllowUnowned || r.Evict.MinAvailable > 0) {
		ev := *r.Evict
		e.Evict = &ev
	}
	for i, t := range m.Then {
		e.Then = append(e.Then, string(r.Then[i].Action)+" "+t.String())
	}
	return e
}

// writeExpectations writes es as the expect field of a test.
func writeExpectations(es []Expectation) []string {
	if len(es) == 0 {
		return []string{"expect: []"}
	}
	lines := []string{"expect:"}
	for _, e := range es {
		lines = append(lines, "  - rule: "+yamlString(e.Rule), "    action: "+yamlString(string(e.Action)))
		if e.TargetError != "" {
			lines = append(lines, "    targetError: "+yamlString(e.TargetError))
		} else {
			lines = append(lines, fmt.Sprintf("    target: {kind: %s, namespace: %s, name: %s}",
				yamlString(string(e.Target.Kind)), yamlString(e.Target.Namespace), yamlString(e.Target.Name)))
		}
		if s := e.Scale; s != nil {
			line := "    scale: {replicas: " + strconv.Quote(s.Replicas())
			if s.Min > 0 {
				line += fmt.Sprintf(", min: %d", s.Min)
			}
			if s.Max > 0 {
				line += fmt.Sprintf(", max: %d", s.Max)
			}
			lines = append(lines, line+"}")
		}
		if e.Rollback != nil {
			lines = append(lines, fmt.Sprintf("    rollback: {toRevision: %d}", e.Rollback.ToRevision))
		}
		if ev := e.Evict; ev != nil && (ev.AllowUnowned || ev.MinAvailable > 0) {
			lines = append(lines, fmt.Sprintf("    evict: {allowUnowned: %t, minAvailable: %d}", ev.AllowUnowned, ev.MinAvailable))
		}
		if e.Approval {
			lines = append(lines, "    approval: true")
		}
		if len(e.Then) > 0 {
			steps := make([]string, len(e.Then))
			for i, s := range e.Then {
				steps[i] = yamlString(s)
			}
			lines = append(lines, "    then: ["+strings.Join(steps, ", ")+"]")
		}
		if e.Decision != "" {
			lines = append(lines, "    decision: "+string(e.Decision))
		}
	}
	return lines
}

// yamlString writes s as a YAML flow scalar: plain when that reads back as
// the same string, else single-quoted.
func yamlString(s string) string {
	if s == "" {
		return "''"
	}
	plain := true
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' && i > 0 || r == '.' && i > 0 || r == '_' || r == '/'
		if !ok {
			plain = false
			break
		}
	}
	if plain {
		switch strings.ToLower(s) {
		case "true", "false", "yes", "no", "on", "off", "null", "y", "n", "~":
			plain = false
		}
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			plain = false
		}
	}
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// lineDiff is a longest-common-subsequence diff of two short lists of lines.
func lineDiff(a, b []string) []string {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			out = append(out, "  "+a[i])
			i++
			j++
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, "- "+a[i])
			i++
		default:
			out = append(out, "+ "+b[j])
			j++
		}
	}
	return out
}
