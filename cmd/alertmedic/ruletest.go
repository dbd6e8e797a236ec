package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/prometheus/common/model"

	"github.com/alertmedic/alertmedic/policy"
	"github.com/alertmedic/alertmedic/rules"
	"github.com/alertmedic/alertmedic/rules/ruletest"
)

// testOptions are the flags and arguments of 'alertmedic test' (defined in
// flags.go).
type testOptions struct {
	runPattern string
	run        *regexp.Regexp // compiled runPattern, nil for all
	limits     policy.Limits
	paths      []string
}

func (o *testOptions) validate() error {
	if err := checkPolicyFlags("test", o.limits); err != nil {
		return err
	}
	if o.runPattern != "" {
		var err error
		if o.run, err = regexp.Compile(o.runPattern); err != nil {
			return usagef("test: --run %q: %v", o.runPattern, err)
		}
	}
	if len(o.paths) == 0 {
		return usagef("test: give the test files or directories to run (alertmedic test --help tells more)")
	}
	return nil
}

// errTestsFailed is returned when a test failed or a file did not load;
// the reasons are already printed.
var errTestsFailed = errors.New("tests failed")

func testCmd(c *commandLine, stdout io.Writer) error {
	o := &c.test
	if err := o.validate(); err != nil {
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
	tf, err := ruletest.Load(path)
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
func printSteps(w io.Writer, res ruletest.Result) {
	fmt.Fprintf(w, "    policy: %s\n", limitsString(res.Limits))
	for i, st := range res.Steps {
		if st.Passed() {
			continue
		}
		n := st.Notification
		fmt.Fprintf(w, "    notifications[%d] at %s (line %d):\n", i, model.Duration(n.At), n.Line)
		for _, a := range st.Alerts {
			fmt.Fprintf(w, "      alert: %s (%s, startsAt %s)\n", labelString(a.Labels), a.Status, ruletest.FormatTime(a.StartsAt))
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
