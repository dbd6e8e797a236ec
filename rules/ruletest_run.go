package rules

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// TestResult is the outcome of one TestCase.
type TestResult struct {
	Case *TestCase
	// Want and Got are the expected and the actual remediations, written
	// the way a test file writes expect (so Got can be pasted into one).
	Want, Got []string
	// Note explains an outcome that is not obvious, such as nothing
	// happening for a resolved alert.
	Note string
}

// Passed reports whether the remediations were the expected ones.
func (r *TestResult) Passed() bool { return slices.Equal(r.Want, r.Got) }

// Diff is Want against Got, line by line: "- " for a line only expected,
// "+ " for a line only got, "  " for a line in both.
func (r *TestResult) Diff() []string { return lineDiff(r.Want, r.Got) }

// Run runs every test of the file against set, in order.
func (tf *TestFile) Run(set *Set) []TestResult {
	out := make([]TestResult, 0, len(tf.Cases))
	for _, c := range tf.Cases {
		out = append(out, c.Run(set))
	}
	return out
}

// Run matches the test's alert against set as alertmedic does and compares
// the remediations with the expected ones. As alertmedic acts on firing
// alerts only, nothing happens for a resolved alert.
func (c *TestCase) Run(set *Set) TestResult {
	res := TestResult{Case: c}
	var got []Expectation
	if c.Alert.Status == "firing" {
		for _, m := range set.Match(c.Alert) {
			got = append(got, expectationOf(m))
		}
	} else {
		res.Note = "the alert is resolved, and alertmedic acts on firing alerts only"
	}
	// An expected targetError is a part of the error: when the actual
	// error holds it, show it as expected.
	for i := range got {
		if i < len(c.Expect) && got[i].TargetError != "" && c.Expect[i].TargetError != "" &&
			strings.Contains(got[i].TargetError, c.Expect[i].TargetError) {
			got[i].TargetError = c.Expect[i].TargetError
		}
	}
	res.Want = writeExpectations(c.Expect)
	res.Got = writeExpectations(got)
	return res
}

// expectationOf states what a match does, as a test would expect it.
func expectationOf(m Match) Expectation {
	r := m.Rule
	e := Expectation{Rule: r.Name, Action: r.Action, Target: m.Target, Approval: r.Approval.Required}
	if m.Err != nil {
		e.Target = Target{}
		e.TargetError = m.Err.Error()
	}
	if r.Scale != nil {
		sc := *r.Scale
		e.Scale = &sc
	}
	if r.Rollback != nil && r.Rollback.ToRevision > 0 {
		e.Rollback = &Rollback{ToRevision: r.Rollback.ToRevision}
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
				yamlString(e.Target.Kind), yamlString(e.Target.Namespace), yamlString(e.Target.Name)))
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
		if e.Approval {
			lines = append(lines, "    approval: true")
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
	return singleQuote(s)
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
