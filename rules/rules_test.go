package rules

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/alertmanager/template"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
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
		t.Fatalf("%v (run go test ./rules/ -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (rerun with -update if the change is intended)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func mustParseFile(t *testing.T, path string) *Set {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(path, data)
	if err != nil {
		t.Fatalf("Parse(%s):\n%v", path, err)
	}
	return s
}

func mustMatchers(t *testing.T, ss ...string) labels.Matchers {
	t.Helper()
	var ms labels.Matchers
	for _, s := range ss {
		m, err := labels.ParseMatcher(s)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	return ms
}

func TestParseValid(t *testing.T) {
	s := mustParseFile(t, "testdata/valid.yaml")
	if w := s.Warnings(); len(w) != 0 {
		t.Errorf("unexpected warnings: %v", w)
	}
	type want struct {
		name, ns, nameTmpl string
		kind               v1alpha1.Kind
		line               int
		matchers           labels.Matchers
		action             v1alpha1.Action
		scale              *v1alpha1.ScaleParams
		rollback           *v1alpha1.RollbackParams
		cont               bool
		cooldown           time.Duration
		approval           Approval
	}
	wants := []want{{
		name: "restart-crashlooping", line: 3, kind: v1alpha1.KindDeployment,
		ns: "{{ .Labels.namespace }}", nameTmpl: "{{ .Labels.deployment }}",
		matchers: mustMatchers(t, `alertname="KubePodCrashLooping"`, `namespace=~"shop|payments"`),
		action:   v1alpha1.ActionRestart, cooldown: 30 * time.Minute,
	}, {
		name: "scale-latency", line: 12, kind: v1alpha1.KindStatefulSet,
		ns: "db", nameTmpl: "{{ .Labels.statefulset }}",
		matchers: mustMatchers(t, `alertname="LatencyHigh"`, `severity!="info"`),
		action:   v1alpha1.ActionScale, scale: &v1alpha1.ScaleParams{Op: v1alpha1.ScaleBy, N: 2, Min: 2, Max: 10}, cont: true,
	}, {
		name: "rollback-bad-deploy", line: 21, kind: v1alpha1.KindDeployment,
		ns: "{{ .Labels.namespace }}", nameTmpl: "{{ .Annotations.deployment }}",
		matchers: mustMatchers(t, `alertname="ErrorBudgetBurn"`, `severity="critical"`),
		action:   v1alpha1.ActionRollback, rollback: &v1alpha1.RollbackParams{ToRevision: 5},
		approval: Approval{Required: true, Channel: "C0123456", Users: []string{"U0123"}, Groups: []string{"S0456"}, Timeout: time.Hour},
	}, {
		name: "restart-daemon", line: 32, kind: v1alpha1.KindDaemonSet,
		ns: "kube-system", nameTmpl: "agent",
		matchers: mustMatchers(t, `job!~"node-exporter|kubelet"`, `alertname=~"Node.*"`),
		action:   v1alpha1.ActionRestart,
		approval: Approval{Required: true, Channel: "C0123456", Groups: []string{"S0456"}, Timeout: 30 * time.Minute},
	}}
	rules := s.Rules()
	if len(rules) != len(wants) || s.Len() != len(wants) {
		t.Fatalf("got %d rules (Len %d), want %d", len(rules), s.Len(), len(wants))
	}
	for i, w := range wants {
		r := rules[i]
		t.Run(w.name, func(t *testing.T) {
			if r.Name != w.name || r.File != "testdata/valid.yaml" || r.Line != w.line {
				t.Errorf("got %s at %s:%d, want %s at line %d", r.Name, r.File, r.Line, w.name, w.line)
			}
			if r.Matchers.String() != w.matchers.String() {
				t.Errorf("matchers: got %s, want %s", r.Matchers, w.matchers)
			}
			if r.Kind != w.kind || r.Action != w.action || r.Continue != w.cont || r.Cooldown != w.cooldown {
				t.Errorf("got kind=%s action=%s continue=%v cooldown=%v, want %s %s %v %v",
					r.Kind, r.Action, r.Continue, r.Cooldown, w.kind, w.action, w.cont, w.cooldown)
			}
			if !reflect.DeepEqual(r.Scale, w.scale) {
				t.Errorf("scale: got %+v, want %+v", r.Scale, w.scale)
			}
			if !reflect.DeepEqual(r.Rollback, w.rollback) {
				t.Errorf("rollback: got %+v, want %+v", r.Rollback, w.rollback)
			}
			if !reflect.DeepEqual(r.Approval, w.approval) {
				t.Errorf("approval: got %+v, want %+v", r.Approval, w.approval)
			}
			if r.NamespaceTemplate.String() != w.ns || r.NameTemplate.String() != w.nameTmpl {
				t.Errorf("templates: got %q, %q, want %q, %q", r.NamespaceTemplate, r.NameTemplate, w.ns, w.nameTmpl)
			}
		})
	}
}

func TestParseScaleSpecs(t *testing.T) {
	for _, tc := range []struct {
		replicas string
		want     v1alpha1.ScaleParams
	}{
		{`"4"`, v1alpha1.ScaleParams{Op: v1alpha1.ScaleTo, N: 4}},
		{`4`, v1alpha1.ScaleParams{Op: v1alpha1.ScaleTo, N: 4}},
		{`"0"`, v1alpha1.ScaleParams{Op: v1alpha1.ScaleTo, N: 0}},
		{`"+2"`, v1alpha1.ScaleParams{Op: v1alpha1.ScaleBy, N: 2}},
		{`+2`, v1alpha1.ScaleParams{Op: v1alpha1.ScaleBy, N: 2}}, // YAML reads +2 as the number 2; the text keeps the sign
		{`"-1"`, v1alpha1.ScaleParams{Op: v1alpha1.ScaleBy, N: -1, Min: 1}},
		{`x2`, v1alpha1.ScaleParams{Op: v1alpha1.ScaleMultiply, Factor: "2"}},
		{`"x1.5"`, v1alpha1.ScaleParams{Op: v1alpha1.ScaleMultiply, Factor: "1.5"}},
		{`x0.5`, v1alpha1.ScaleParams{Op: v1alpha1.ScaleMultiply, Factor: "0.5", Min: 1}},
	} {
		t.Run(tc.replicas, func(t *testing.T) {
			src := `rules:
  - name: s
    match: ['alertname="A"']
    target: {kind: Deployment, namespace: shop, name: cart}
    action: scale
    scale: {replicas: ` + tc.replicas + `, min: ` + strconv.Itoa(int(tc.want.Min)) + `, max: 20}
`
			s, err := Parse("scale.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Max = 20
			if got := *s.Rules()[0].Scale; got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseMergeKeys(t *testing.T) {
	s := mustParseFile(t, "testdata/ok-merge-keys.yaml")
	rules := s.Rules()
	if len(rules) != 3 {
		t.Fatalf("got %d rules, want 3", len(rules))
	}
	slow := rules[1]
	if slow.Name != "restart-cart-slow" || slow.Action != v1alpha1.ActionRestart || slow.Cooldown != time.Hour ||
		slow.Matchers.String() != `{alertname="CartSlow"}` || !slow.Approval.Required || slow.NameTemplate.String() != "cart" {
		t.Errorf("merged rule: %+v", slow)
	}
	if g := rules[2].Approval.Groups; len(g) != 1 || g[0] != "S0456" {
		t.Errorf("aliased approval: %+v", rules[2].Approval)
	}
}

// TestParseProblems checks the exact report for each kind of mistake (and
// for files that load with warnings) against testdata/NAME.golden.
func TestParseProblems(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		bad, warn := strings.HasPrefix(name, "bad-"), strings.HasPrefix(name, "warn-")
		if !bad && !warn {
			continue
		}
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Parse(path, data)
			var got string
			if bad {
				var le *LoadError
				if !errors.As(err, &le) {
					t.Fatalf("got %v, want a *LoadError", err)
				}
				if s != nil {
					t.Error("got a Set along with the error")
				}
				got = le.Error() + "\n"
			} else {
				if err != nil {
					t.Fatalf("unexpected error:\n%v", err)
				}
				if len(s.Warnings()) == 0 {
					t.Fatal("got no warnings")
				}
				for _, w := range s.Warnings() {
					got += w.String() + "\n"
				}
			}
			golden(t, name, got)
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	data, err := os.ReadFile("testdata/bad-many.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse("bad-many.yaml", data)
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("got %v, want a *LoadError", err)
	}
	for _, want := range []string{
		`invalid rule name "Bad_Name"`,
		`unknown field "matchers" in rule "Bad_Name" (did you mean "match"?)`,
		`unknown target.kind "Deploy"`,
		`invalid template in target.namespace`,
		`scale.max (3) is below scale.min (5)`,
		`invalid cooldown "forever"`,
		`invalid matcher 'alertname=~"("'`,
		`rule "second" requires approval but names no approvers`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("report lacks %q:\n%v", want, err)
		}
	}
	line := 0
	for _, p := range le.Problems {
		if p.File != "bad-many.yaml" || p.Line < line || p.Column == 0 || p.Severity != SeverityError {
			t.Errorf("problem out of order or without position: %+v", p)
		}
		line = p.Line
	}
}

func TestLoadFilesDuplicateAcrossFiles(t *testing.T) {
	_, err := LoadFiles("testdata/dup/a.yaml", "testdata/dup/b.yaml")
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("got %v, want a *LoadError", err)
	}
	golden(t, "dup", le.Error()+"\n")
}

func TestLoadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	rule := func(name string) string {
		return "rules:\n  - name: " + name + "\n    match: ['alertname=\"" + name + "\"']\n" +
			"    target: {kind: Deployment, namespace: shop, name: cart}\n    action: restart\n"
	}
	write("rules/b.yml", rule("b"))
	write("rules/a.yaml", rule("a"))
	write("rules/.hidden.yaml", "not: [yaml")
	write("rules/notes.txt", "not rules")
	write("rules/sub/c.yaml", rule("c"))
	extra := write("extra.rules", rule("z"))
	write("empty/README", "")

	names := func(s *Set) string {
		var ns []string
		for _, r := range s.Rules() {
			ns = append(ns, r.Name)
		}
		return strings.Join(ns, ",")
	}
	for _, tc := range []struct {
		name  string
		paths []string
		want  string // rule names, or the error
		warns int
	}{
		{"directory in name order", []string{dir + "/rules"}, "a,b", 0},
		{"path order first", []string{extra, dir + "/rules"}, "z,a,b", 0},
		{"file named twice is read once", []string{dir + "/rules/a.yaml", dir + "/rules"}, "a,b", 0},
		{"empty directory among others warns", []string{dir + "/rules", dir + "/empty"}, "a,b", 1},
		{"no files", []string{dir + "/empty"}, "error: no rule files found (none in " + dir + "/empty); give rule files, or directories holding *.yaml or *.yml files", 0},
		{"no paths", nil, "error: no rule files found (no paths given); give rule files, or directories holding *.yaml or *.yml files", 0},
		{"missing path", []string{dir + "/nope.yaml"}, "error: " + dir + "/nope.yaml: cannot read rules: no such file or directory", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := LoadFiles(tc.paths...)
			if strings.HasPrefix(tc.want, "error: ") {
				var le *LoadError
				if !errors.As(err, &le) || err.Error() != strings.TrimPrefix(tc.want, "error: ") {
					t.Fatalf("got error %v, want %s", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := names(s); got != tc.want {
				t.Errorf("got rules %s, want %s", got, tc.want)
			}
			if len(s.Warnings()) != tc.warns {
				t.Errorf("got warnings %v, want %d", s.Warnings(), tc.warns)
			}
		})
	}
}

func TestProblemString(t *testing.T) {
	for _, tc := range []struct {
		p    Problem
		want string
	}{
		{Problem{File: "a.yaml", Line: 3, Column: 5, Message: "m"}, "a.yaml:3:5: m"},
		{Problem{File: "a.yaml", Line: 3, Message: "m"}, "a.yaml:3: m"},
		{Problem{File: "a.yaml", Message: "m"}, "a.yaml: m"},
		{Problem{Message: "m"}, "m"},
		{Problem{File: "a.yaml", Line: 1, Column: 1, Message: "m", Severity: SeverityWarning}, "a.yaml:1:1: warning: m"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

// TestAlertFieldNames keeps the fields templates may use in step with
// Alertmanager's template.Alert.
func TestAlertFieldNames(t *testing.T) {
	typ := reflect.TypeFor[template.Alert]()
	var fields []string
	for i := range typ.NumField() {
		fields = append(fields, typ.Field(i).Name)
	}
	if !reflect.DeepEqual(fields, alertFieldNames()) {
		t.Errorf("template.Alert has fields %v; alertFieldNames says %v", fields, alertFieldNames())
	}
}

// TestParseAliasBomb: aliases can make a small file expand enormously; the
// walk stops with one clear error instead of running for minutes.
func TestParseAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("rules:\n  - name: a\n    match: &l [" + strings.Repeat(`'a="b"', `, 50000) + "]\n")
	for i := range 25 {
		fmt.Fprintf(&b, "  - {name: r%d, match: *l, target: {kind: Deployment, namespace: a, name: b}, action: restart}\n", i)
	}
	start := time.Now()
	_, err := Parse("bomb.yaml", []byte(b.String()))
	var le *LoadError
	if !errors.As(err, &le) || len(le.Problems) != 1 || !strings.Contains(le.Problems[0].Message, "expands to more than") {
		t.Fatalf("got %v", err)
	}
	t.Logf("%s in %v", le.Problems[0], time.Since(start))
}
