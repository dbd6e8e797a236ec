package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/prometheus/common/model"

	"github.com/alertmedic/alertmedic/policy"
	"github.com/alertmedic/alertmedic/rules"
)

const testUsage = `Usage: alertmedic test [--run REGEXP] [policy flags] FILE|DIR...

Runs rule unit tests: each test gives an alert and the remediations expected
for it (rule, target, action and parameters, approval), or notifications
over time and, for each, the remediations with what policy decides of them
(Run, Duplicate, PendingApproval, Cooldown, RuleBudget, TargetBudget,
NamespaceDenied, CircuitOpen). A directory means its *.yaml and *.yml
files. A failing test prints a diff: lines starting with - are expected,
lines starting with + are what the rules do, written so that they can be
pasted into the test. No cluster is needed.

The policy flags are those of 'alertmedic serve': give the deployment's,
so that tests decide as it will. A policy block in a test file, or in a
test, overrides them field by field.

Exit status: 0 all tests pass, 1 a test fails or a file does not load,
2 usage error.

Flags:
`

// testOptions are the flags and arguments of 'alertmedic test'.
type testOptions struct {
	run    *regexp.Regexp
	limits policy.Limits
	paths  []string
}

func parseTest(args []string, stderr io.Writer) (*testOptions, error) {
	o := &testOptions{}
	var run string
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, testUsage); fs.PrintDefaults() }
	fs.StringVar(&run, "run", "", "run only the tests whose name matches this regular expression")
	policyFlags(fs, &o.limits)
	paths, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, err
	}
	if err := checkPolicyFlags(stderr, "test", o.limits); err != nil {
		return nil, err
	}
	if run != "" {
		if o.run, err = regexp.Compile(run); err != nil {
			fmt.Fprintf(stderr, "test: --run %q: %v\n", run, err)
			return nil, errUsage
		}
	}
	if len(paths) == 0 {
		fmt.Fprintln(stderr, "test: give the test files or directories to run")
		fs.Usage()
		return nil, errUsage
	}
	o.paths = paths
	return o, nil
}

// errTestsFailed is returned when a test failed or a file did not load;
// the reasons are already printed.
var errTestsFailed = errors.New("tests failed")

func testCmd(args []string, stdout, stderr io.Writer) error {
	o, err := parseTest(args, stderr)
	if err != nil {
		return err
	}
	files, problems := testFiles(o.paths)
	for _, p := range problems {
		fmt.Fprintln(stdout, p)
	}
	var passed, failed, broken int
	for _, path := range files {
		p, f, ok := runTestFile(stdout, path, o.run, o.limits)
		passed += p
		failed += f
		if !ok {
			broken++
		}
	}
	broken += len(problems)
	fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	switch {
	case failed > 0 || broken > 0:
		var msgs []string
		if failed > 0 {
			msgs = append(msgs, plural(failed, "test")+" failed")
		}
		if broken > 0 {
			msgs = append(msgs, plural(broken, "file")+" did not load")
		}
		return fmt.Errorf("%w: %s", errTestsFailed, strings.Join(msgs, ", "))
	case passed == 0:
		return fmt.Errorf("%w: no test ran (--run matches none?)", errTestsFailed)
	}
	return nil
}

// testFiles lists the test files of paths: files as given, directories'
// *.yaml and *.yml files in name order.
func testFiles(paths []string) (files, problems []string) {
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: cannot read tests: %v", p, pathErr(err)))
			continue
		}
		if !info.IsDir() {
			files = append(files, p)
			continue
		}
		var found []string
		for _, pattern := range []string{"*.yaml", "*.yml"} {
			m, err := filepath.Glob(filepath.Join(filepath.Clean(p), pattern))
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", p, err))
			}
			found = append(found, m...)
		}
		if len(found) == 0 {
			problems = append(problems, fmt.Sprintf("%s: no test files (*.yaml, *.yml) in this directory", p))
		}
		for _, f := range found {
			if !strings.HasPrefix(filepath.Base(f), ".") {
				files = append(files, f)
			}
		}
	}
	return files, problems
}

func pathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// runTestFile runs the tests of one file under limits and prints failures
// and a summary line. ok is false when the file or its rules did not load.
func runTestFile(w io.Writer, path string, run *regexp.Regexp, limits policy.Limits) (passed, failed int, ok bool) {
	tf, err := rules.LoadTestFile(path)
	if err != nil {
		fmt.Fprintf(w, "%v\n%s: FAIL: the test file does not load\n", err, path)
		return 0, 0, false
	}
	set, err := rules.LoadFiles(tf.RuleFiles...)
	if err != nil {
		fmt.Fprintf(w, "%v\n%s: FAIL: its rule files do not load (run alertmedic check on them)\n", err, path)
		return 0, 0, false
	}
	for _, c := range tf.Cases {
		if run != nil && !run.MatchString(c.Name) {
			continue
		}
		res := c.Run(set, limits)
		if res.Passed() {
			passed++
			continue
		}
		failed++
		fmt.Fprintf(w, "--- FAIL: %s:%d:%d: %s\n", path, c.Line, c.Column, c.Name)
		if len(res.Steps) > 0 {
			printSteps(w, res)
			continue
		}
		fmt.Fprintf(w, "    alert: %s (%s)\n", labelString(c.Alert.Labels), c.Alert.Status)
		if res.Note != "" {
			fmt.Fprintf(w, "    note: %s\n", res.Note)
		}
		fmt.Fprintln(w, "    (- expected, + got)")
		for _, l := range res.Diff() {
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
	status := "ok"
	if failed > 0 {
		status = "FAIL"
	}
	fmt.Fprintf(w, "%s: %s: %d passed, %d failed\n", path, status, passed, failed)
	return passed, failed, true
}

// printSteps prints the policy a sequence test ran under and, for each
// notification that did not go as expected, its alerts, why actions did
// not run, and the diff.
func printSteps(w io.Writer, res rules.TestResult) {
	fmt.Fprintf(w, "    policy: %s\n", limitsString(res.Limits))
	for i, st := range res.Steps {
		if st.Passed() {
			continue
		}
		n := st.Notification
		fmt.Fprintf(w, "    notifications[%d] at %s (line %d):\n", i, model.Duration(n.At), n.Line)
		for _, a := range st.Alerts {
			fmt.Fprintf(w, "      alert: %s (%s, startsAt %s)\n", labelString(a.Labels), a.Status, rules.TestTime(a.StartsAt))
		}
		for _, note := range st.Notes {
			fmt.Fprintf(w, "      note: %s\n", note)
		}
		fmt.Fprintln(w, "      (- expected, + got)")
		for _, l := range st.Diff() {
			fmt.Fprintf(w, "      %s\n", l)
		}
	}
}
