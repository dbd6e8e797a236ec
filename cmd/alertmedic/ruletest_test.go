package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/alertmanager/template"
	"gopkg.in/yaml.v3"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/rules"
)

const ruleTests = "../../rules/ruletest/testdata/"

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
		{"sequence-pass", []string{ruleTests + "sequence.yaml"}, 0},
		{"sequence-fail", []string{ruleTests + "sequence-fail.yaml"}, 1},
		{"bad-sequence", []string{ruleTests + "bad-sequence.yaml"}, 1},
		// The deployment's policy as flags, which the file's and the tests'
		// policy blocks override: the same file passes with the flags and
		// fails without them.
		{"policy-flags", []string{"--default-cooldown", "1h", ruleTests + "policy-layers.yaml", "--deny-namespaces", "payments,kube-system"}, 0},
		{"policy-no-flags", []string{ruleTests + "policy-layers.yaml"}, 1},
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
		{"bad namespace pattern", []string{"--deny-namespaces", "shop,[prod", ruleTests + "ok.yaml"}, 2, "", `test: --deny-namespaces: namespace pattern "[prod": syntax error in pattern`},
		{"bad policy flag", []string{"--max-per-rule", "many", ruleTests + "ok.yaml"}, 2, "", `alertmedic: error: --max-per-rule "many": `},
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

// TestStarterLibrary runs check --strict and every unit test on the starter
// library, and checks that its rules and the Prometheus alerting rules
// beside it speak of the same alerts and labels.
func TestStarterLibrary(t *testing.T) {
	const library, tests, alerting = "../../examples/rules/starter", "../../examples/rules/starter/tests", "../../examples/prometheus/alertmedic-rules.yaml"
	code, stdout, stderr := cli(t, "check", "--strict", library)
	if code != 0 || stdout != "" {
		t.Errorf("check --strict %s: exit %d\n%s%s", library, code, stdout, stderr)
	}
	code, stdout, stderr = cli(t, "test", tests)
	if code != 0 || !strings.HasSuffix(stdout, " passed, 0 failed\n") || strings.HasPrefix(stdout, "0 passed") {
		t.Errorf("test %s: exit %d\n%s%s", tests, code, stdout, stderr)
	}
	testFiles, err := filepath.Glob(tests + "/*.yaml")
	if err != nil || len(testFiles) < 6 {
		t.Fatalf("test files of the starter library: %v, %v", testFiles, err)
	}
	for _, f := range testFiles {
		if !strings.Contains(stdout, f+": ok: ") {
			t.Errorf("test %s: %s did not pass:\n%s", tests, f, stdout)
		}
	}

	var prom struct {
		Groups []struct {
			Rules []struct {
				Alert  string            `yaml:"alert"`
				Expr   string            `yaml:"expr"`
				Labels map[string]string `yaml:"labels"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	data, err := os.ReadFile(alerting)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &prom); err != nil {
		t.Fatalf("%s: %v", alerting, err)
	}
	alerts := map[string]bool{}
	for _, g := range prom.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			for _, label := range []string{"namespace", "workload", "workload_type"} {
				if !strings.Contains(r.Expr, label) {
					t.Errorf("%s: alert %s does not carry the label %s the starter rules need", alerting, r.Alert, label)
				}
			}
			if r.Labels["severity"] == "" {
				t.Errorf("%s: alert %s has no severity label", alerting, r.Alert)
			}
		}
	}
	set, err := rules.LoadFiles(library)
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, r := range set.Rules() {
		for _, m := range r.Matchers {
			if m.Name == "alertname" {
				used[m.Value] = true
				if !alerts[m.Value] {
					t.Errorf("rule %s matches alert %s, which %s does not define", r.Name, m.Value, alerting)
				}
			}
		}
	}
	for a := range alerts {
		if !used[a] {
			t.Errorf("%s defines alert %s, which no starter rule handles", alerting, a)
		}
	}

	// The alerts the promtool tests show Prometheus raising lead to a
	// remediation of the workload they name.
	const promTests = "../../examples/prometheus/alertmedic-rules.test.yaml"
	var pt struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []struct {
					ExpLabels map[string]string `yaml:"exp_labels"`
				} `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if data, err = os.ReadFile(promTests); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &pt); err != nil {
		t.Fatalf("%s: %v", promTests, err)
	}
	fired := map[string]bool{}
	for _, tc := range pt.Tests {
		for _, art := range tc.AlertRuleTest {
			for _, exp := range art.ExpAlerts {
				fired[art.Alertname] = true
				a := &template.Alert{Status: "firing", Labels: template.KV{"alertname": art.Alertname}}
				for k, v := range exp.ExpLabels {
					a.Labels[k] = v
				}
				ms := set.Match(a)
				if len(ms) == 0 {
					t.Errorf("%s: alert %v fires, but no starter rule acts on it", promTests, a.Labels)
				}
				for _, m := range ms {
					// A rule acts on the alert's workload; evict-pod on its
					// pod, run-job on the workload's cleanup CronJob.
					want := a.Labels["workload"]
					switch m.Rule.Action {
					case v1alpha1.ActionEvictPod:
						want = a.Labels["pod"]
					case v1alpha1.ActionRunJob:
						want = a.Labels["workload"] + "-cleanup"
					}
					if m.Err != nil || m.Target.Namespace != a.Labels["namespace"] || m.Target.Name != want {
						t.Errorf("%s: alert %v: rule %s targets %v (%v), want %s", promTests, a.Labels, m.Rule.Name, m.Target, m.Err, want)
					}
				}
			}
		}
	}
	for a := range alerts {
		if !fired[a] {
			t.Errorf("%s has no test in which alert %s fires", promTests, a)
		}
	}
}
