package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const ruleTests = "../../rules/testdata/ruletest/"

// TestTestCommand: what 'alertmedic test' prints for passing and failing
// tests, in testdata/test/NAME.golden.
func TestTestCommand(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"pass", []string{ruleTests + "ok.yaml"}, 0},
		{"fail", []string{ruleTests + "fail.yaml"}, 1},
		{"run-filter", []string{"--run", "^wrong", ruleTests + "fail.yaml", ruleTests + "ok.yaml"}, 1},
		{"bad-file", []string{ruleTests + "bad-fields.yaml", ruleTests + "ok.yaml"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := cli(t, append([]string{"test"}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			goldenFile(t, "testdata/test/"+tc.name+".golden", stdout+"stderr: "+stderr)
		})
	}
}

func TestTestCommandErrors(t *testing.T) {
	brokenRules := filepath.Join(t.TempDir(), "tests.yaml")
	src := "ruleFiles: [" + mustAbs(t, rulesTestdata+"bad-action.yaml") + "]\ntests:\n  - name: x\n    alert: {labels: {alertname: A}}\n    expect: []\n"
	if err := os.WriteFile(brokenRules, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name           string
		args           []string
		code           int
		stdout, stderr string // parts
	}{
		{"no files", nil, 2, "", "test: give the test files or directories to run"},
		{"bad --run", []string{"--run", "(", "x.yaml"}, 2, "", `test: --run "(": error parsing regexp`},
		{"missing file", []string{"nope.yaml"}, 1, "nope.yaml: cannot read tests: no such file or directory\n", "alertmedic: tests failed: 1 file did not load"},
		{"empty directory", []string{t.TempDir()}, 1, "no test files (*.yaml, *.yml) in this directory", "1 file did not load"},
		{"rules do not load", []string{brokenRules}, 1, `unknown action "restrat"`, "1 file did not load"},
		{"run matches nothing", []string{"--run", "nothing-like-this", ruleTests + "ok.yaml"}, 1, "0 passed, 0 failed\n", "no test ran"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := cli(t, append([]string{"test"}, tc.args...)...)
			if code != tc.code || !strings.Contains(stdout, tc.stdout) || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("got exit %d\nstdout: %s\nstderr: %s\nwant exit %d, stdout with %q, stderr with %q", code, stdout, stderr, tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}
