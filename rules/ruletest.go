package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// Rule unit tests: a YAML file names rule files and lists alerts with the
// remediations expected for each, in the spirit of 'promtool test rules'.
// Like rule files, test files are parsed strictly and every problem is
// reported with its position. Cooldowns and budgets are decided by the
// executing replica from the records in the cluster, which rule tests do not
// model, so tests cannot state expectations about them.
//
//	ruleFiles: [../crashloop.yaml]
//	tests:
//	  - name: a crash-looping shop pod restarts its Deployment
//	    alert:
//	      labels: {alertname: KubePodCrashLooping, namespace: shop, deployment: cart}
//	    expect:
//	      - rule: restart-crashlooping
//	        action: restart
//	        target: {kind: Deployment, namespace: shop, name: cart}

// TestFile is a decoded, validated rule test file.
type TestFile struct {
	Path      string
	RuleFiles []string // rule files and directories, resolved against Path's directory
	Cases     []*TestCase
}

// TestCase is one test: an alert and the remediations expected for it.
type TestCase struct {
	Name         string
	Line, Column int // of the test in its file
	Alert        *template.Alert
	Expect       []Expectation
}

// Expectation is one remediation a test expects, in rule order.
type Expectation struct {
	Rule   string
	Action Action
	// Target is the rendered target; or, when TargetError is set, the
	// target must fail to render with an error containing TargetError.
	Target      Target
	TargetError string
	Scale       *Scale    // with ActionScale
	Rollback    *Rollback // with ActionRollback; nil means the previous revision
	Approval    bool      // a person must approve the action
}

// The YAML shapes of a test file. target, scale and rollback are those of
// rule files.
type testFileConfig struct {
	RuleFiles []string
	Tests     []*testCaseConfig
	at        map[string]*yaml.Node // field -> value node
}

type testCaseConfig struct {
	Name   string
	Alert  *alertConfig
	Expect []*expectConfig
	node   *yaml.Node
	at     map[string]*yaml.Node
}

type alertConfig struct {
	Labels, Annotations                                 map[string]string
	Status, StartsAt, EndsAt, GeneratorURL, Fingerprint string
	at                                                  map[string]*yaml.Node
}

type expectConfig struct {
	Rule, Action, TargetError string
	Target                    *targetConfig
	Scale                     *scaleConfig
	Rollback                  *rollbackConfig
	Approval                  bool
	node                      *yaml.Node
	at                        map[string]*yaml.Node // "target.kind" too
}

// LoadTestFile reads and parses one rule test file. The error, if any, is
// a *LoadError listing every problem found.
func LoadTestFile(path string) (*TestFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &LoadError{Problems: []Problem{{File: path, Message: "cannot read tests: " + err.Error()}}}
	}
	return ParseTestFile(path, data)
}

// ParseTestFile parses a rule test file; path names it in messages and is
// the base of its relative ruleFiles. The error, if any, is a *LoadError
// listing every problem found.
func ParseTestFile(path string, data []byte) (*TestFile, error) {
	r := &reporter{file: path}
	d := &testDecoder{decoder: &decoder{reporter: r}}
	fc := d.file(data)
	tf := &TestFile{Path: path}
	if fc != nil && !d.exhausted() {
		d.compile(fc, tf)
	}
	sortProblems(r.problems, nil)
	if hasErrors(r.problems) {
		return nil, &LoadError{Problems: r.problems}
	}
	return tf, nil
}

type testDecoder struct {
	*decoder
}

// fields decodes the mapping v: it reports unknown fields, records where
// each known field's value is in at (under prefix), and hands it to fn,
// which returns false when it reported the value as wrong.
func (d *testDecoder) fields(v *yaml.Node, where, prefix string, at map[string]*yaml.Node, known []string, fn func(key string, v *yaml.Node) bool) bool {
	v = d.resolve(v)
	if v.Kind != yaml.MappingNode {
		d.errorf(v, "%s must be a mapping, got %s", where, kindName(v))
		return false
	}
	for _, p := range d.pairs(v, where, 0) {
		if !slices.Contains(known, p.key) {
			if hint := policyHint(p.key); hint != "" {
				d.errorf(p.k, "unknown field %q in %s; %s", p.key, where, hint)
				continue
			}
			d.unknownField(p, where, known)
			continue
		}
		if fn(p.key, p.v) {
			at[prefix+p.key] = d.resolve(p.v)
		}
	}
	return true
}

// policyHint explains why a test cannot expect what policy decides.
func policyHint(key string) string {
	switch strings.ToLower(key) {
	case "cooldown", "budget", "budgets", "policy", "decision":
		return "cooldowns and budgets are decided by alertmedic's policy engine, which rule tests do not model yet; test only which rules match and what they would do"
	}
	return ""
}

func (d *testDecoder) file(data []byte) *testFileConfig {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.errorf(&yaml.Node{Line: 1, Column: 1}, "test file is empty; it needs ruleFiles and tests")
			return nil
		}
		d.syntaxError(err)
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil && len(extra.Content) > 0 {
		d.errorf(extra.Content[0], "a test file holds a single YAML document; move these tests into the tests list of the first")
	} else if err != nil && !errors.Is(err, io.EOF) {
		d.syntaxError(err)
		return nil
	}
	if len(doc.Content) == 0 || doc.Content[0].Tag == "!!null" {
		d.errorf(&yaml.Node{Line: 1, Column: 1}, "test file is empty; it needs ruleFiles and tests")
		return nil
	}
	top := d.resolve(doc.Content[0])
	fc := &testFileConfig{at: map[string]*yaml.Node{}}
	if top.Kind != yaml.MappingNode {
		d.errorf(top, "a test file must be a mapping with ruleFiles and tests, got %s", kindName(top))
		return nil
	}
	if d.hasKey(top, "rules") && !d.hasKey(top, "tests") {
		d.errorf(top, "this looks like a rule file, not a rule test file: check it with alertmedic check, and name it under ruleFiles of a test file")
		return nil
	}
	d.fields(top, "the top level of the test file", "", fc.at, []string{"ruleFiles", "tests"}, func(key string, v *yaml.Node) bool {
		switch key {
		case "ruleFiles":
			var ok bool
			fc.RuleFiles, ok = d.strings(v, "ruleFiles")
			return ok
		case "tests":
			v = d.resolve(v)
			if v.Kind != yaml.SequenceNode {
				d.errorf(v, "tests must be a list of tests (items starting with '- '), got %s", kindName(v))
				return false
			}
			for i, item := range v.Content {
				if d.tired(item) {
					break
				}
				if tc := d.testCase(item, i); tc != nil {
					fc.Tests = append(fc.Tests, tc)
				}
			}
		}
		return true
	})
	if !d.hasKey(top, "ruleFiles") && !d.typo(top, "ruleFiles") {
		d.errorf(top, "missing required field \"ruleFiles\": list the rule files (or directories) to test, relative to this file, e.g. ruleFiles: [../rules.yaml]")
	}
	if !d.hasKey(top, "tests") && !d.typo(top, "tests") {
		d.errorf(top, "missing required field \"tests\": add a list of tests, each with a name, an alert and what to expect")
	}
	return fc
}

// typo reports whether mapping n has a key that is a misspelling of field
// (already reported as such), so that the field is not also reported as
// missing.
func (d *testDecoder) typo(n *yaml.Node, field string) bool {
	n = d.resolve(n)
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i].Value; k != field && suggest(k, []string{field}) == field {
			return true
		}
	}
	return false
}

func (d *testDecoder) testCase(n *yaml.Node, index int) *testCaseConfig {
	n = d.resolve(n)
	what := fmt.Sprintf("tests[%d]", index)
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s must be a mapping with name, alert and expect, got %s", what, kindName(n))
		return nil
	}
	tc := &testCaseConfig{node: n, at: map[string]*yaml.Node{}}
	d.fields(n, what, "", tc.at, []string{"name", "alert", "expect"}, func(key string, v *yaml.Node) bool {
		var ok bool
		switch key {
		case "name":
			tc.Name, ok = d.str(v, "name", what, "")
		case "alert":
			tc.Alert, ok = d.alert(v, what+".alert")
		case "expect":
			v = d.resolve(v)
			if v.Kind != yaml.SequenceNode {
				d.errorf(v, "%s.expect must be a list of expected remediations (write expect: [] when nothing should happen), got %s", what, kindName(v))
				return false
			}
			ok = true
			for i, item := range v.Content {
				if d.tired(item) {
					break
				}
				if e := d.expect(item, fmt.Sprintf("%s.expect[%d]", what, i)); e != nil {
					tc.Expect = append(tc.Expect, e)
				} else {
					ok = false
				}
			}
		}
		return ok
	})
	for _, f := range []struct{ field, hint string }{
		{"name", "give the test a name that says what it checks"},
		{"alert", "add alert: {labels: {alertname: ..., ...}}"},
		{"expect", "list the expected remediations, or write expect: [] when nothing should happen"},
	} {
		if !d.hasKey(n, f.field) && !d.typo(n, f.field) {
			d.errorf(n, "missing required field %q in %s; %s", f.field, what, f.hint)
		}
	}
	return tc
}

// hasKey reports whether mapping n has key, whatever its value.
func (d *testDecoder) hasKey(n *yaml.Node, key string) bool {
	for _, p := range (&decoder{reporter: &reporter{}}).pairs(n, "", 0) {
		if p.key == key {
			return true
		}
	}
	return false
}

func (d *testDecoder) alert(v *yaml.Node, what string) (*alertConfig, bool) {
	a := &alertConfig{at: map[string]*yaml.Node{}}
	known := []string{"labels", "annotations", "status", "startsAt", "endsAt", "generatorURL", "fingerprint"}
	ok := d.fields(v, what, "", a.at, known, func(key string, v *yaml.Node) bool {
		var ok bool
		switch key {
		case "labels":
			a.Labels, ok = d.labelMap(v, what+".labels")
		case "annotations":
			a.Annotations, ok = d.labelMap(v, what+".annotations")
		case "status":
			a.Status, ok = d.str(v, "status", what, "")
		case "startsAt":
			a.StartsAt, ok = d.str(v, "startsAt", what, "")
		case "endsAt":
			a.EndsAt, ok = d.str(v, "endsAt", what, "")
		case "generatorURL":
			a.GeneratorURL, ok = d.str(v, "generatorURL", what, "")
		case "fingerprint":
			a.Fingerprint, ok = d.str(v, "fingerprint", what, "")
		}
		return ok
	})
	if ok {
		if v := d.resolve(v); !d.hasKey(v, "labels") && !d.typo(v, "labels") {
			d.errorf(d.resolve(v), "missing required field \"labels\" in %s; add labels: {alertname: ..., ...}", what)
		}
	}
	return a, ok
}

// labelMap decodes a mapping of label names to values. Values may be any
// scalar (8080 is the label value "8080").
func (d *testDecoder) labelMap(v *yaml.Node, what string) (map[string]string, bool) {
	v = d.resolve(v)
	if v.Kind != yaml.MappingNode {
		d.errorf(v, "%s must be a mapping of names to values, got %s", what, kindName(v))
		return nil, false
	}
	out := map[string]string{}
	ok := true
	for _, p := range d.pairs(v, what, 0) {
		val := d.resolve(p.v)
		switch {
		case p.key == "":
			d.errorf(p.k, "%s has an empty name", what)
			ok = false
		case !utf8.ValidString(p.key) || !utf8.ValidString(val.Value):
			d.errorf(p.k, "%s.%s is not valid UTF-8", what, p.key)
			ok = false
		case val.Kind != yaml.ScalarNode || val.Tag == "!!null":
			d.errorf(val, "%s.%s must be a value (a string), got %s", what, p.key, kindName(val))
			ok = false
		default:
			out[p.key] = val.Value
		}
	}
	return out, ok
}

func (d *testDecoder) expect(v *yaml.Node, what string) *expectConfig {
	v = d.resolve(v)
	e := &expectConfig{node: v, at: map[string]*yaml.Node{}}
	known := []string{"rule", "action", "target", "targetError", "scale", "rollback", "approval"}
	ok := d.fields(v, what, "", e.at, known, func(key string, v *yaml.Node) bool {
		var ok bool
		switch key {
		case "rule":
			e.Rule, ok = d.str(v, "rule", what, "")
		case "action":
			e.Action, ok = d.str(v, "action", what, "")
		case "targetError":
			e.TargetError, ok = d.str(v, "targetError", what, "")
		case "approval":
			e.Approval, ok = d.boolean(v, "approval", what)
		case "target":
			e.Target = &targetConfig{}
			ok = d.fields(v, "target of "+what, "target.", e.at, []string{"kind", "namespace", "name"}, func(key string, v *yaml.Node) bool {
				var ok bool
				switch key {
				case "kind":
					e.Target.Kind, ok = d.str(v, "target.kind", what, "")
				case "namespace":
					e.Target.Namespace, ok = d.str(v, "target.namespace", what, "")
				case "name":
					e.Target.Name, ok = d.str(v, "target.name", what, "")
				}
				return ok
			})
		case "scale":
			e.Scale = &scaleConfig{}
			ok = d.fields(v, "scale of "+what, "scale.", e.at, []string{"replicas", "min", "max"}, func(key string, v *yaml.Node) bool {
				var ok bool
				switch key {
				case "replicas":
					e.Scale.Replicas, ok = d.str(v, "scale.replicas", what, "")
				case "min":
					e.Scale.Min, ok = d.integer(v, "scale.min", what)
				case "max":
					e.Scale.Max, ok = d.integer(v, "scale.max", what)
				}
				return ok
			})
		case "rollback":
			e.Rollback = &rollbackConfig{}
			ok = d.fields(v, "rollback of "+what, "rollback.", e.at, []string{"toRevision"}, func(_ string, v *yaml.Node) bool {
				var ok bool
				e.Rollback.ToRevision, ok = d.integer(v, "rollback.toRevision", what)
				return ok
			})
		}
		return ok
	})
	if !ok {
		return nil
	}
	return e
}

// strings decodes a non-empty list of non-empty strings.
func (d *testDecoder) strings(v *yaml.Node, field string) ([]string, bool) {
	v = d.resolve(v)
	if v.Kind != yaml.SequenceNode {
		hint := ""
		if v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
			hint = fmt.Sprintf("; write it as a list: %s: [%s]", field, v.Value)
		}
		d.errorf(v, "%s must be a list, got %s%s", field, kindName(v), hint)
		return nil, false
	}
	if len(v.Content) == 0 {
		d.errorf(v, "%s is empty; list the rule files (or directories) to test", field)
		return nil, false
	}
	var out []string
	ok := true
	for i, item := range v.Content {
		s, good := d.str(item, fmt.Sprintf("%s[%d]", field, i), "the test file", "")
		if good && strings.TrimSpace(s) == "" {
			d.errorf(d.resolve(item), "%s[%d] is empty", field, i)
			good = false
		}
		ok = ok && good
		out = append(out, s)
	}
	return out, ok
}

// compile validates the decoded shapes into tf.
func (d *testDecoder) compile(fc *testFileConfig, tf *TestFile) {
	base := filepath.Dir(tf.Path)
	for _, f := range fc.RuleFiles {
		if !filepath.IsAbs(f) {
			f = filepath.Join(base, f)
		}
		tf.RuleFiles = append(tf.RuleFiles, f)
	}
	names := map[string]*yaml.Node{}
	for i, tc := range fc.Tests {
		what := fmt.Sprintf("tests[%d]", i)
		c := &TestCase{Name: tc.Name, Line: tc.node.Line, Column: tc.node.Column}
		if n, ok := tc.at["name"]; ok {
			switch first, dup := names[tc.Name]; {
			case strings.TrimSpace(tc.Name) == "":
				d.errorf(n, "name of %s is empty; say what the test checks", what)
			case dup:
				d.errorf(n, "test name %q is used twice (first on line %d); give each test its own name", tc.Name, first.Line)
			default:
				names[tc.Name] = n
			}
		}
		if tc.Alert != nil {
			c.Alert = d.compileAlert(tc.Alert, what+".alert")
		}
		for j, e := range tc.Expect {
			if x, ok := d.compileExpect(e, fmt.Sprintf("%s.expect[%d]", what, j)); ok {
				c.Expect = append(c.Expect, x)
			}
		}
		tf.Cases = append(tf.Cases, c)
	}
}

func (d *testDecoder) compileAlert(ac *alertConfig, what string) *template.Alert {
	a := &template.Alert{
		Status:       "firing",
		Labels:       template.KV(ac.Labels),
		Annotations:  template.KV(ac.Annotations),
		GeneratorURL: ac.GeneratorURL,
		Fingerprint:  ac.Fingerprint,
	}
	if a.Labels == nil {
		a.Labels = template.KV{}
	}
	if a.Annotations == nil {
		a.Annotations = template.KV{}
	}
	if n, ok := ac.at["labels"]; ok && len(ac.Labels) == 0 {
		d.errorf(n, "%s.labels is empty; an alert has at least an alertname", what)
	}
	if n, ok := ac.at["status"]; ok {
		switch ac.Status {
		case "firing", "resolved":
			a.Status = ac.Status
		default:
			d.errorf(n, "%s.status %q must be firing or resolved", what, ac.Status)
		}
	}
	for _, t := range []struct {
		field string
		text  string
		to    *time.Time
	}{{"startsAt", ac.StartsAt, &a.StartsAt}, {"endsAt", ac.EndsAt, &a.EndsAt}} {
		n, ok := ac.at[t.field]
		if !ok {
			continue
		}
		ts, err := time.Parse(time.RFC3339, t.text)
		if err != nil {
			d.errorf(n, "%s.%s %q is not a time; write it as RFC 3339, such as 2026-01-02T15:04:05Z", what, t.field, t.text)
			continue
		}
		*t.to = ts
	}
	if a.Fingerprint == "" {
		// As Alertmanager computes it.
		ls := make(model.LabelSet, len(a.Labels))
		for k, v := range a.Labels {
			ls[model.LabelName(k)] = model.LabelValue(v)
		}
		a.Fingerprint = ls.Fingerprint().String()
	}
	return a
}

func (d *testDecoder) compileExpect(e *expectConfig, what string) (Expectation, bool) {
	x := Expectation{Rule: e.Rule, TargetError: e.TargetError, Approval: e.Approval}
	ok := true
	fail := func(n *yaml.Node, format string, args ...any) {
		d.errorf(n, format, args...)
		ok = false
	}
	for _, f := range []string{"rule", "action"} {
		if !d.hasKey(e.node, f) && !d.typo(e.node, f) {
			fail(e.node, "missing required field %q in %s", f, what)
		}
	}
	if n, has := e.at["rule"]; has && strings.TrimSpace(e.Rule) == "" {
		fail(n, "rule in %s is empty; name the rule expected to act", what)
	}
	actions := actionNames()
	if n, has := e.at["action"]; has {
		if !slices.Contains(actions, e.Action) {
			fail(n, "unknown action %q in %s%s; use restart, scale or rollback", e.Action, what, didYouMean(e.Action, actions))
		} else {
			x.Action = Action(e.Action)
		}
	}
	_, hasTarget := e.at["target"]
	_, hasErr := e.at["targetError"]
	switch {
	case hasTarget && hasErr:
		fail(e.at["targetError"], "%s has both target and targetError; expect a rendered target or a render error, not both", what)
	case !hasTarget && !hasErr && !d.hasKey(e.node, "target") && !d.typo(e.node, "target"):
		fail(e.node, "missing required field \"target\" in %s; add target: {kind: Deployment, namespace: ..., name: ...} (or targetError: when the target cannot be rendered)", what)
	case hasErr && strings.TrimSpace(e.TargetError) == "":
		fail(e.at["targetError"], "targetError in %s is empty; give a part of the expected error, such as: map has no entry for key \"deployment\"", what)
	case hasTarget:
		kinds := kindNames()
		for _, f := range []string{"kind", "namespace", "name"} {
			if _, has := e.at["target."+f]; !has {
				fail(e.at["target"], "missing target.%s in %s", f, what)
			}
		}
		if n, has := e.at["target.kind"]; has && !slices.Contains(kinds, e.Target.Kind) {
			fail(n, "unknown target.kind %q in %s%s; use Deployment, StatefulSet or DaemonSet", e.Target.Kind, what, didYouMean(e.Target.Kind, kinds))
		}
		x.Target = Target(*e.Target)
	}
	if n, has := e.at["scale"]; has && x.Action != "" && x.Action != ActionScale {
		fail(d.keyNode(e.node, "scale", n), "scale in %s is only for action: scale; remove it", what)
	}
	if n, has := e.at["rollback"]; has && x.Action != "" && x.Action != ActionRollback {
		fail(d.keyNode(e.node, "rollback", n), "rollback in %s is only for action: rollback; remove it", what)
	}
	if x.Action == ActionScale {
		x.Scale = d.compileScale(e, what, fail)
	}
	if x.Action == ActionRollback && e.Rollback != nil && e.Rollback.ToRevision != nil {
		if *e.Rollback.ToRevision < 1 {
			fail(e.at["rollback.toRevision"], "rollback.toRevision in %s must be 1 or more; leave rollback out for the previous revision", what)
		} else {
			x.Rollback = &Rollback{ToRevision: *e.Rollback.ToRevision}
		}
	}
	return x, ok
}

func (d *testDecoder) compileScale(e *expectConfig, what string, fail func(*yaml.Node, string, ...any)) *Scale {
	n, has := e.at["scale"]
	if !has {
		if !d.hasKey(e.node, "scale") {
			fail(e.at["action"], `%s expects action scale but says nothing of scale; add scale: {replicas: "+1", max: 5} as the rule has it`, what)
		}
		return nil
	}
	sc := &Scale{}
	rn, has := e.at["scale.replicas"]
	if !has {
		fail(n, `missing scale.replicas in %s, such as replicas: "+1"`, what)
		return nil
	}
	if msg := parseReplicas(strings.TrimSpace(e.Scale.Replicas), sc); msg != "" {
		fail(rn, "scale.replicas %q in %s %s", e.Scale.Replicas, what, msg)
		return nil
	}
	for _, b := range []struct {
		field string
		v     *int64
		to    *int32
	}{{"min", e.Scale.Min, &sc.Min}, {"max", e.Scale.Max, &sc.Max}} {
		if b.v == nil {
			continue
		}
		if *b.v < 0 || *b.v > 1<<31-1 {
			fail(e.at["scale."+b.field], "scale.%s (%d) in %s is out of range", b.field, *b.v, what)
			continue
		}
		*b.to = int32(*b.v)
	}
	return sc
}

// keyNode returns the key node of field in mapping n, or def.
func (d *testDecoder) keyNode(n *yaml.Node, field string, def *yaml.Node) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == field {
			return n.Content[i]
		}
	}
	return def
}
