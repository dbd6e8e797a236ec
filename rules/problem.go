package rules

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Severity says whether a Problem stops a rule set from loading.
type Severity int

const (
	// SeverityError problems make Parse and LoadFiles fail.
	SeverityError Severity = iota
	// SeverityWarning problems are reported by Set.Warnings; the set loads.
	SeverityWarning
)

func (s Severity) String() string {
	if s == SeverityWarning {
		return "warning"
	}
	return "error"
}

// Problem is one thing wrong with a rule file, at a position in it. Line and
// Column are 1-based; 0 means unknown (for example a file that cannot be
// read, or a YAML syntax error whose column the YAML parser does not report).
type Problem struct {
	File     string
	Line     int
	Column   int
	Message  string
	Severity Severity
}

// String formats the problem as file:line:col: message, dropping what is
// unknown, and marks warnings.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
			if p.Column > 0 {
				fmt.Fprintf(&b, ":%d", p.Column)
			}
		}
		b.WriteString(": ")
	}
	if p.Severity == SeverityWarning {
		b.WriteString("warning: ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// LoadError is returned by Parse and LoadFiles when a rule file has at least
// one error. Problems holds every problem found, warnings included, in file
// load order and then by position.
type LoadError struct {
	Problems []Problem
}

// Error prints one problem per line.
func (e *LoadError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// sortProblems orders problems by the load order of their file (files not in
// order go first, as they are about the load itself), then by position.
func sortProblems(ps []Problem, order map[string]int) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(
			cmp.Compare(order[a.File], order[b.File]),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column),
		)
	})
}

func hasErrors(ps []Problem) bool {
	return slices.ContainsFunc(ps, func(p Problem) bool { return p.Severity == SeverityError })
}

func warningsOf(ps []Problem) []Problem {
	var ws []Problem
	for _, p := range ps {
		if p.Severity == SeverityWarning {
			ws = append(ws, p)
		}
	}
	return ws
}
