package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/alertmedic/alertmedic/policy"
	"github.com/alertmedic/alertmedic/rules"
)

// checkOptions are the flags and arguments of 'alertmedic check' (defined
// in flags.go).
type checkOptions struct {
	format     string
	strict     bool
	production stringList // namespace patterns
	paths      []string
}

func (o *checkOptions) validate() error {
	for _, p := range o.production {
		if err := policy.CheckPattern(p); err != nil {
			return usagef("check: --production-namespaces: %v", err)
		}
	}
	switch o.format {
	case "text", "json", "github":
	default:
		return usagef("check: unknown --format %q: use text, json or github", o.format)
	}
	if len(o.paths) == 0 {
		return usagef("check: give the rule files or directories to check (alertmedic check --help tells more)")
	}
	return nil
}

// checkReport is the --format json output.
type checkReport struct {
	Problems []checkProblem `json:"problems"`
	Rules    int            `json:"rules"`
	Errors   int            `json:"errors"`
	Warnings int            `json:"warnings"`
}

type checkProblem struct {
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	Column   int    `json:"column,omitempty"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

// errCheckFailed is returned when check found errors (or warnings with
// --strict); the problems are already printed.
var errCheckFailed = errors.New("check failed")

func checkCmd(c *commandLine, stdout, stderr io.Writer) error {
	o := &c.check
	if err := o.validate(); err != nil {
		return err
	}
	set, err := rules.LoadFiles(o.paths...)
	var problems []rules.Problem
	var le *rules.LoadError
	switch {
	case errors.As(err, &le):
		problems = le.Problems
	case err != nil:
		return fmt.Errorf("check: %w", err)
	default:
		problems = set.Lint(rules.LintOptions{ProductionNamespaces: o.production})
	}
	report := checkReport{Problems: []checkProblem{}, Rules: set.Len()}
	for _, p := range problems {
		if p.Severity == rules.SeverityError {
			report.Errors++
		} else {
			report.Warnings++
		}
		report.Problems = append(report.Problems, checkProblem{
			File: p.File, Line: p.Line, Column: p.Column, Severity: p.Severity.String(), Message: p.Message,
		})
	}
	switch o.format {
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(report); err != nil {
			return fmt.Errorf("check: write report: %w", err)
		}
	case "github":
		for _, p := range problems {
			fmt.Fprintln(stdout, githubAnnotation(p))
		}
	default:
		for _, p := range problems {
			fmt.Fprintln(stdout, p.String())
		}
	}
	summary := checkSummary(report)
	if report.Errors > 0 || o.strict && report.Warnings > 0 {
		if report.Errors == 0 {
			summary += " (--strict fails on warnings)"
		}
		return fmt.Errorf("%w: %s", errCheckFailed, summary)
	}
	fmt.Fprintf(stderr, "check: ok: %s\n", summary)
	return nil
}

func checkSummary(r checkReport) string {
	if r.Errors > 0 {
		return fmt.Sprintf("%s, %s", plural(r.Errors, "error"), plural(r.Warnings, "warning"))
	}
	return fmt.Sprintf("%s, %s", plural(r.Rules, "rule"), plural(r.Warnings, "warning"))
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// githubAnnotation writes p as a GitHub Actions workflow command, which
// shows it on the line of the file in the pull request.
func githubAnnotation(p rules.Problem) string {
	var props []string
	if p.File != "" {
		props = append(props, "file="+githubEscape(p.File, true))
	}
	if p.Line > 0 {
		props = append(props, fmt.Sprintf("line=%d", p.Line))
	}
	if p.Column > 0 {
		props = append(props, fmt.Sprintf("col=%d", p.Column))
	}
	props = append(props, "title="+githubEscape("alertmedic check", true))
	return fmt.Sprintf("::%s %s::%s", p.Severity, strings.Join(props, ","), githubEscape(p.Message, false))
}

// githubEscape escapes a workflow command's message, or one of its
// properties, as the Actions runner expects.
func githubEscape(s string, property bool) string {
	r := strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A")
	s = r.Replace(s)
	if property {
		s = strings.NewReplacer(":", "%3A", ",", "%2C").Replace(s)
	}
	return s
}
