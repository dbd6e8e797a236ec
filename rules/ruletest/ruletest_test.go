package ruletest

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/alertmedic/alertmedic/policy"
	"github.com/alertmedic/alertmedic/rules"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// golden compares got with testdata/name.golden, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./rules/ruletest/ -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (rerun with -update if the change is intended)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// hasErrors reports whether le holds an error, not only warnings.
func hasErrors(le *rules.LoadError) bool {
	return slices.ContainsFunc(le.Problems, func(p rules.Problem) bool { return p.Severity == rules.SeverityError })
}

func mustLoad(t *testing.T, path string) (*File, *rules.Set) {
	t.Helper()
	tf, err := Load(path)
	if err != nil {
		t.Fatalf("Load(%s):\n%v", path, err)
	}
	set, err := rules.LoadFiles(tf.RuleFiles...)
	if err != nil {
		t.Fatalf("rules of %s:\n%v", path, err)
	}
	return tf, set
}

func TestTestFilePasses(t *testing.T) {
	tf, set := mustLoad(t, "testdata/ok.yaml")
	if want := []string{filepath.Join("testdata", "rules.yaml")}; !reflect.DeepEqual(tf.RuleFiles, want) {
		t.Errorf("rule files: got %v, want %v (relative to the test file)", tf.RuleFiles, want)
	}
	results := tf.Run(set, policy.Limits{})
	if len(results) != 5 {
		t.Fatalf("got %d results, want 5", len(results))
	}
	for _, r := range results {
		if !r.Passed() {
			t.Errorf("%s failed:\n%s", r.Case.Name, strings.Join(r.Diff(), "\n"))
		}
	}
	c := tf.Cases[3]
	if c.Line != 21 || c.Column != 5 || c.Alert.Annotations["summary"] != "p99 over 2s" ||
		!c.Alert.StartsAt.Equal(time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)) || c.Alert.Status != "firing" {
		t.Errorf("test case decoded as %+v, alert %+v", c, c.Alert)
	}
	if len(c.Alert.Fingerprint) != 16 {
		t.Errorf("fingerprint %q: want Alertmanager's 16 hex digits", c.Alert.Fingerprint)
	}
	if results[4].Note == "" || tf.Cases[4].Alert.Status != "resolved" {
		t.Errorf("resolved alert: note %q", results[4].Note)
	}
}

// TestRunFailures: the diff of each failing test, as 'alertmedic test'
// shows it, in testdata/fail.golden.
func TestRunFailures(t *testing.T) {
	tf, set := mustLoad(t, "testdata/fail.yaml")
	var b strings.Builder
	for _, r := range tf.Run(set, policy.Limits{}) {
		if r.Passed() {
			t.Errorf("%s passed; every test in fail.yaml must fail", r.Case.Name)
		}
		b.WriteString("# " + r.Case.Name + "\n")
		if r.Note != "" {
			b.WriteString("# note: " + r.Note + "\n")
		}
		b.WriteString(strings.Join(r.Diff(), "\n") + "\n")
	}
	golden(t, "fail", b.String())
}

// What a failing test prints as got must be valid expect syntax that makes
// the test pass when pasted in.
func TestGotPastesBack(t *testing.T) {
	tf, set := mustLoad(t, "testdata/fail.yaml")
	for _, r := range tf.Run(set, policy.Limits{}) {
		if r.Case.Alert.Status != "firing" {
			continue
		}
		var labels []string
		for k, v := range r.Case.Alert.Labels {
			labels = append(labels, k+": "+yamlString(v))
		}
		src := "ruleFiles: [rules.yaml]\ntests:\n  - name: pasted\n    alert: {labels: {" + strings.Join(labels, ", ") + "}}\n"
		for _, l := range r.Got {
			src += "    " + l + "\n"
		}
		pasted, err := Parse("testdata/pasted.yaml", []byte(src))
		if err != nil {
			t.Fatalf("%s: got does not parse back:\n%s\n%v", r.Case.Name, src, err)
		}
		if res := pasted.Run(set, policy.Limits{}); !res[0].Passed() {
			t.Errorf("%s: pasted got fails:\n%s", r.Case.Name, strings.Join(res[0].Diff(), "\n"))
		}
	}
}

func TestTestFileProblems(t *testing.T) {
	files, err := filepath.Glob("testdata/bad-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("found %d bad test files", len(files))
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(name, func(t *testing.T) {
			tf, err := Load(path)
			var le *rules.LoadError
			if !errors.As(err, &le) || tf != nil {
				t.Fatalf("got %v, %v; want a *rules.LoadError", tf, err)
			}
			golden(t, name, le.Error()+"\n")
		})
	}
	if _, err := Load("testdata/missing.yaml"); err == nil ||
		err.Error() != "testdata/missing.yaml: cannot read tests: no such file or directory" {
		t.Errorf("missing file: got %v", err)
	}
	for _, tc := range []struct{ src, want string }{
		{"", "t.yaml:1:1: test file is empty; it needs ruleFiles and tests"},
		{"# nothing\n", "t.yaml:1:1: test file is empty; it needs ruleFiles and tests"},
		{"ruleFiles: [r.yaml]\ntests: []\n---\ntests: []\n", "t.yaml:4:1: a test file holds a single YAML document; move these tests into the tests list of the first"},
		{"ruleFiles: r.yaml\ntests: []\n", "t.yaml:1:12: ruleFiles must be a list, got a string (\"r.yaml\"); write it as a list: ruleFiles: [r.yaml]"},
		{"ruleFiles: [r.yaml]\n", "t.yaml:1:1: missing required field \"tests\": add a list of tests, each with a name, an alert and what to expect"},
		{"rules:\n  - name: x\n", "t.yaml:1:1: this looks like a rule file, not a rule test file: check it with alertmedic check, and name it under ruleFiles of a test file"},
	} {
		_, err := Parse("t.yaml", []byte(tc.src))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q:\ngot  %v\nwant %s", tc.src, err, tc.want)
		}
	}
}

func TestLineDiff(t *testing.T) {
	for _, tc := range []struct {
		a, b, want []string
	}{
		{nil, nil, nil},
		{[]string{"x"}, []string{"x"}, []string{"  x"}},
		{[]string{"x", "y"}, []string{"x", "z"}, []string{"  x", "- y", "+ z"}},
		{[]string{"a"}, []string{"a", "b", "c"}, []string{"  a", "+ b", "+ c"}},
		{[]string{"a", "b", "c"}, []string{"c"}, []string{"- a", "- b", "  c"}},
	} {
		if got := lineDiff(tc.a, tc.b); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("lineDiff(%q, %q) = %q, want %q", tc.a, tc.b, got, tc.want)
		}
	}
}

// yamlString must read back as the same string.
func TestYAMLString(t *testing.T) {
	for _, s := range []string{"", "shop", "cart-1", "a.b", "true", "no", "8080", "1e3", "-x", `map has no entry for key "deployment"`, "it's", "{{ x }}", "a: b", "#c", " lead"} {
		var back string
		if err := yaml.Unmarshal([]byte("v: "+yamlString(s)), &struct{ V *string }{&back}); err != nil {
			t.Errorf("%q written as %s: %v", s, yamlString(s), err)
			continue
		}
		if back != s {
			t.Errorf("%q written as %s reads back as %q", s, yamlString(s), back)
		}
	}
}

// FuzzParseTestFile feeds arbitrary test files to Parse: it must
// never panic, and must return either a File whose tests can run or a
// *rules.LoadError with at least one error.
func FuzzParseTestFile(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("ruleFiles: [a]\ntests: [{name: x, alert: {labels: {a: b}}, expect: [{rule: r, action: scale, target: {kind: Deployment, namespace: a, name: b}, scale: {replicas: x2}}]}]\n"))
	set, err := rules.LoadFiles("testdata/rules.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tf, err := Parse("fuzz.yaml", data)
		if err != nil {
			var le *rules.LoadError
			if !errors.As(err, &le) || !hasErrors(le) || tf != nil {
				t.Fatalf("got %v, %T", tf, err)
			}
			return
		}
		for _, c := range tf.Cases {
			if (c.Alert == nil) == (len(c.Notifications) == 0) {
				t.Fatalf("test %q has no alert, or both an alert and notifications", c.Name)
			}
			for _, n := range c.Notifications {
				if len(n.Alerts) == 0 {
					t.Fatalf("test %q has a notification without alerts", c.Name)
				}
			}
			r := c.Run(set, policy.Limits{})
			r.Diff()
		}
	})
}

// TestSequencePasses plays the sequence tests of sequence.yaml, which
// between them expect every decision there is.
func TestSequencePasses(t *testing.T) {
	tf, set := mustLoad(t, "testdata/sequence.yaml")
	results := tf.Run(set, policy.Limits{})
	if len(results) != 9 {
		t.Fatalf("got %d results, want 9", len(results))
	}
	seen := map[string]bool{}
	for _, r := range results {
		if !r.Passed() {
			for i, st := range r.Steps {
				t.Errorf("%s: notifications[%d]:\n%s\n%s", r.Case.Name, i, strings.Join(st.Notes, "\n"), strings.Join(st.Diff(), "\n"))
			}
		}
		if len(r.Steps) != len(r.Case.Notifications) || r.Case.Alert != nil {
			t.Errorf("%s: %d steps for %d notifications", r.Case.Name, len(r.Steps), len(r.Case.Notifications))
		}
		for _, st := range r.Steps {
			for _, l := range st.Got {
				if d, ok := strings.CutPrefix(l, "    decision: "); ok {
					seen[d] = true
				}
			}
		}
	}
	for _, d := range decisionNames() {
		if !seen[d] {
			t.Errorf("no test in sequence.yaml ends in decision %s", d)
		}
	}

	// Decoding: times, alerts and the startsAt Alertmanager would send.
	first := tf.Cases[0]
	if n := first.Notifications[3]; n.At != 10*time.Minute || n.Line != 24 || n.Column != 9 || len(n.Alerts) != 1 || n.startsAt[0] {
		t.Errorf("notifications[3] decoded as %+v", n)
	}
	steps := results[0].Steps
	for i, want := range []time.Duration{0, 0, 0, 10 * time.Minute, 10 * time.Minute, 10 * time.Minute, 45 * time.Minute} {
		if got := steps[i].Alerts[0].StartsAt; !got.Equal(testStart().Add(want)) {
			t.Errorf("notifications[%d]: startsAt %s, want %s", i, FormatTime(got), offset(want))
		}
	}
	if n := tf.Cases[3].Notifications[1]; !n.startsAt[0] || !n.Alerts[0].StartsAt.Equal(testStart().Add(10*time.Minute)) {
		t.Errorf("startsAt: 10m decoded as %v (given %v)", n.Alerts[0].StartsAt, n.startsAt[0])
	}
	if a := tf.Cases[4].Notifications[0].Alerts[0]; FormatTime(a.StartsAt) != "2025-12-31T23:00:00Z" {
		t.Errorf("an RFC 3339 startsAt before the test reads back as %s", FormatTime(a.StartsAt))
	}
	if l := results[6].Limits; l.BreakerMax != 2 || l.BreakerWindow != 10*time.Minute || l.BudgetWindow != policy.DefaultBudgetWindow {
		t.Errorf("breaker test ran under %+v", l)
	}
	if !strings.Contains(strings.Join(results[1].Steps[0].Notes, "\n"), "restart-oom: Cooldown: Deployment/shop/cart was acted on 0s ago; cooldown 30m0s") {
		t.Errorf("notes of the second pod: %q", results[1].Steps[0].Notes)
	}
}

// TestSequenceFailures: each failing notification, with the notes on why
// actions did not run and the diff, in testdata/sequence-fail.golden.
func TestSequenceFailures(t *testing.T) {
	tf, set := mustLoad(t, "testdata/sequence-fail.yaml")
	var b strings.Builder
	for _, r := range tf.Run(set, policy.Limits{}) {
		if r.Passed() {
			t.Errorf("%s passed; every test in sequence-fail.yaml must fail", r.Case.Name)
		}
		b.WriteString("# " + r.Case.Name + "\n")
		for i, st := range r.Steps {
			if st.Passed() {
				continue
			}
			fmt.Fprintf(&b, "## notifications[%d] at %s\n", i, offset(st.Notification.At))
			for _, n := range st.Notes {
				b.WriteString("# note: " + n + "\n")
			}
			b.WriteString(strings.Join(st.Diff(), "\n") + "\n")
		}
	}
	golden(t, "sequence-fail", b.String())
}

// What a failing sequence test prints as got, pasted into the test, makes
// it pass: the decisions read back as they are written.
func TestSequenceGotPastesBack(t *testing.T) {
	for _, file := range []string{"sequence-fail.yaml", "sequence.yaml"} {
		tf, set := mustLoad(t, "testdata/"+file)
		for _, r := range tf.Run(set, policy.Limits{}) {
			var src strings.Builder
			src.WriteString("ruleFiles: [policy-rules.yaml]\ntests:\n  - name: pasted\n    notifications:\n")
			for _, st := range r.Steps {
				fmt.Fprintf(&src, "      - at: %s\n        alerts:\n", offset(st.Notification.At))
				for _, a := range st.Alerts {
					var labels []string
					for k, v := range a.Labels {
						labels = append(labels, k+": "+yamlString(v))
					}
					fmt.Fprintf(&src, "          - {labels: {%s}, status: %s, startsAt: %s}\n", strings.Join(labels, ", "), a.Status, yamlString(FormatTime(a.StartsAt)))
				}
				for _, l := range st.Got {
					src.WriteString("        " + l + "\n")
				}
			}
			// The limits the test ran under, written out in full.
			l := r.Limits
			quoted := func(ps []string) string {
				out := make([]string, len(ps))
				for i, p := range ps {
					out[i] = yamlString(p)
				}
				return strings.Join(out, ", ")
			}
			fmt.Fprintf(&src, "    policy: {defaultCooldown: %s, maxPerRule: %d, maxPerTarget: %d, budgetWindow: %s, breakerMax: %d, breakerWindow: %s, allowNamespaces: [%s], denyNamespaces: [%s]}\n",
				offset(l.Cooldown), l.PerRule, l.PerTarget, offset(l.BudgetWindow), l.BreakerMax, offset(l.BreakerWindow), quoted(l.AllowNamespaces), quoted(l.DenyNamespaces))
			pasted, err := Parse("testdata/pasted.yaml", []byte(src.String()))
			if err != nil {
				t.Fatalf("%s: got does not parse back:\n%s\n%v", r.Case.Name, src.String(), err)
			}
			if res := pasted.Run(set, policy.Limits{}); !res[0].Passed() {
				t.Errorf("%s: pasted got fails:\n%s", r.Case.Name, src.String())
			}
		}
	}
}

// The limits a sequence test runs with: the deployment's (base), then the
// file's policy block, then the test's, field by field.
func TestSequenceLimits(t *testing.T) {
	src := `ruleFiles: [policy-rules.yaml]
policy: {maxPerRule: 3, denyNamespaces: [], budgetWindow: 2h}
tests:
  - name: file and test
    policy: {maxPerRule: 5, allowNamespaces: ['prod-*'], breakerMax: -1}
    notifications: [{at: 0m, alert: {labels: {alertname: A}}, expect: []}]
  - name: file only
    notifications: [{at: 0m, alert: {labels: {alertname: A}}, expect: []}]
  - name: one alert
    alert: {labels: {alertname: A}}
    expect: []
`
	tf, err := Parse("testdata/limits.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	base := policy.Limits{Cooldown: time.Hour, PerRule: 1, PerTarget: 2, DenyNamespaces: []string{"payments"}, BreakerMax: 20}
	for i, want := range []policy.Limits{
		{Cooldown: time.Hour, PerRule: 5, PerTarget: 2, BudgetWindow: 2 * time.Hour, DenyNamespaces: []string{}, AllowNamespaces: []string{"prod-*"}, BreakerMax: -1},
		{Cooldown: time.Hour, PerRule: 3, PerTarget: 2, BudgetWindow: 2 * time.Hour, DenyNamespaces: []string{}, BreakerMax: 20},
		base,
	} {
		if got := tf.Cases[i].Limits(base); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: limits\ngot  %+v\nwant %+v", tf.Cases[i].Name, got, want)
		}
	}
	if len(base.DenyNamespaces) != 1 {
		t.Errorf("Limits changed its base: %+v", base)
	}
}

// The sequence test docs/rules.md shows runs, and passes, against the
// starter library it names.
func TestDocumentedSequencePasses(t *testing.T) {
	doc, err := os.ReadFile("../../docs/rules.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	i := strings.Index(text, "### Sequences")
	if i < 0 {
		t.Fatal(`docs/rules.md has no "### Sequences" section`)
	}
	block := text[i:]
	start := strings.Index(block, "```yaml\n")
	end := strings.Index(block[start+8:], "```")
	if start < 0 || end < 0 {
		t.Fatal("no yaml block in the Sequences section of docs/rules.md")
	}
	tf, err := Parse("../../examples/rules/starter/tests/documented.yaml", []byte(block[start+8:start+8+end]))
	if err != nil {
		t.Fatalf("the documented sequence test:\n%v", err)
	}
	set, err := rules.LoadFiles(tf.RuleFiles...)
	if err != nil {
		t.Fatal(err)
	}
	results := tf.Run(set, policy.Limits{})
	if len(results) == 0 {
		t.Fatal("the documented sequence test has no tests")
	}
	for _, r := range results {
		if len(r.Steps) == 0 || !r.Passed() {
			t.Errorf("documented test %q: %d notifications, passed %v", r.Case.Name, len(r.Steps), r.Passed())
		}
	}
}

// TestRecordCarriesRulePolicy: a rule's own cooldown and budgets reach
// policy on the record the webhook path writes (ingest.NewRecord, asked
// with controller.PolicyAction), under deployment limits stricter than the
// rule's, so that a record which lost them is decided by the deployment's.
func TestRecordCarriesRulePolicy(t *testing.T) {
	tf, set := mustLoad(t, "testdata/record-policy.yaml")
	results := tf.Run(set, policy.Limits{})
	if len(results) != 3 {
		t.Fatalf("got %d results, want 3", len(results))
	}
	for _, r := range results {
		for i, st := range r.Steps {
			if !st.Passed() {
				t.Errorf("%s: notifications[%d]:\n%s\n%s", r.Case.Name, i, strings.Join(st.Notes, "\n"), strings.Join(st.Diff(), "\n"))
			}
		}
	}
}
