package rules

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func mustLoadTestFile(t *testing.T, path string) (*TestFile, *Set) {
	t.Helper()
	tf, err := LoadTestFile(path)
	if err != nil {
		t.Fatalf("LoadTestFile(%s):\n%v", path, err)
	}
	set, err := LoadFiles(tf.RuleFiles...)
	if err != nil {
		t.Fatalf("rules of %s:\n%v", path, err)
	}
	return tf, set
}

func TestTestFilePasses(t *testing.T) {
	tf, set := mustLoadTestFile(t, "testdata/ruletest/ok.yaml")
	if want := []string{filepath.Join("testdata", "ruletest", "rules.yaml")}; !reflect.DeepEqual(tf.RuleFiles, want) {
		t.Errorf("rule files: got %v, want %v (relative to the test file)", tf.RuleFiles, want)
	}
	results := tf.Run(set)
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
// shows it, in testdata/ruletest/fail.golden.
func TestRunFailures(t *testing.T) {
	tf, set := mustLoadTestFile(t, "testdata/ruletest/fail.yaml")
	var b strings.Builder
	for _, r := range tf.Run(set) {
		if r.Passed() {
			t.Errorf("%s passed; every test in fail.yaml must fail", r.Case.Name)
		}
		b.WriteString("# " + r.Case.Name + "\n")
		if r.Note != "" {
			b.WriteString("# note: " + r.Note + "\n")
		}
		b.WriteString(strings.Join(r.Diff(), "\n") + "\n")
	}
	golden(t, "ruletest/fail", b.String())
}

// What a failing test prints as got must be valid expect syntax that makes
// the test pass when pasted in.
func TestGotPastesBack(t *testing.T) {
	tf, set := mustLoadTestFile(t, "testdata/ruletest/fail.yaml")
	for _, r := range tf.Run(set) {
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
		pasted, err := ParseTestFile("testdata/ruletest/pasted.yaml", []byte(src))
		if err != nil {
			t.Fatalf("%s: got does not parse back:\n%s\n%v", r.Case.Name, src, err)
		}
		if res := pasted.Run(set); !res[0].Passed() {
			t.Errorf("%s: pasted got fails:\n%s", r.Case.Name, strings.Join(res[0].Diff(), "\n"))
		}
	}
}

func TestTestFileProblems(t *testing.T) {
	files, err := filepath.Glob("testdata/ruletest/bad-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("found %d bad test files", len(files))
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(name, func(t *testing.T) {
			tf, err := LoadTestFile(path)
			var le *LoadError
			if !errors.As(err, &le) || tf != nil {
				t.Fatalf("got %v, %v; want a *LoadError", tf, err)
			}
			golden(t, "ruletest/"+name, le.Error()+"\n")
		})
	}
	if _, err := LoadTestFile("testdata/ruletest/missing.yaml"); err == nil ||
		err.Error() != "testdata/ruletest/missing.yaml: cannot read tests: no such file or directory" {
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
		_, err := ParseTestFile("t.yaml", []byte(tc.src))
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

// FuzzParseTestFile feeds arbitrary test files to ParseTestFile: it must
// never panic, and must return either a TestFile whose tests can run or a
// *LoadError with at least one error.
func FuzzParseTestFile(f *testing.F) {
	files, _ := filepath.Glob("testdata/ruletest/*.yaml")
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("ruleFiles: [a]\ntests: [{name: x, alert: {labels: {a: b}}, expect: [{rule: r, action: scale, target: {kind: Deployment, namespace: a, name: b}, scale: {replicas: x2}}]}]\n"))
	set, err := LoadFiles("testdata/ruletest/rules.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tf, err := ParseTestFile("fuzz.yaml", data)
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) || !hasErrors(le.Problems) || tf != nil {
				t.Fatalf("got %v, %T", tf, err)
			}
			return
		}
		for _, c := range tf.Cases {
			if c.Alert == nil {
				t.Fatalf("test %q has no alert", c.Name)
			}
			r := c.Run(set)
			r.Diff()
		}
	})
}
