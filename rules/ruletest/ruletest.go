package ruletest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/policy"
	"github.com/alertmedic/alertmedic/rules"
)

// File is a decoded, validated rule test file.
type File struct {
	Path      string
	RuleFiles []string // rule files and directories, resolved against Path's directory
	Cases     []*Case
}

// Case is one test: an alert and the remediations expected for it, or
// a sequence of notifications and the remediations, with policy's
// decisions, expected for each.
type Case struct {
	Name         string
	Line, Column int // of the test in its file
	Alert        *template.Alert
	Expect       []Expectation
	// Notifications, when set (and Alert nil), are the test's sequence.
	Notifications []*Notification
	// policies are the policy blocks of the file and of the test, applied
	// in this order over the limits the test runs with.
	policies []*policyConfig
}

// Notification is one notification of a sequence test: alerts that
// Alertmanager sends At after the test started, and the remediations
// expected, in alert order then rule order.
type Notification struct {
	At           time.Duration
	Line, Column int // of the notification in its file
	Alerts       []*template.Alert
	Expect       []Expectation
	// startsAt[i] is set when the test gives Alerts[i].StartsAt; otherwise
	// it is filled in as Alertmanager would (see Case.Run).
	startsAt []bool
}

// Limits returns the policy limits the test runs with: base (the
// deployment's, from alertmedic test's flags) under the file's policy block
// and then the test's.
func (c *Case) Limits(base policy.Limits) policy.Limits {
	for _, p := range c.policies {
		p.apply(&base)
	}
	return base
}

// Decision is what becomes of a remediation in a sequence test.
type Decision string

// Decisions besides policy's refusals (policy.Reasons).
const (
	// DecisionRun: the action runs (and is taken to succeed).
	DecisionRun Decision = "Run"
	// DecisionDuplicate: the alert episode (fingerprint and startsAt) was
	// recorded already; a re-send is not acted on twice.
	DecisionDuplicate Decision = "Duplicate"
	// DecisionPendingApproval: the rule needs a person's approval; the
	// action waits for it, and policy decides when it is approved.
	DecisionPendingApproval Decision = "PendingApproval"
)

// actionNames and kindNames list the words of the API that a test may
// expect.
func actionNames() []string {
	var out []string
	for _, a := range v1alpha1.Actions() {
		out = append(out, string(a))
	}
	return out
}

func kindNames() []string {
	var out []string
	for _, k := range v1alpha1.Kinds() {
		out = append(out, string(k))
	}
	return out
}

// decisionNames lists every decision a test can expect.
func decisionNames() []string {
	out := []string{string(DecisionRun), string(DecisionDuplicate), string(DecisionPendingApproval)}
	for _, r := range policy.Reasons() {
		out = append(out, string(r))
	}
	return out
}

// Expectation is one remediation a test expects, in rule order.
type Expectation struct {
	Rule   string
	Action v1alpha1.Action
	// Target is the rendered target; or, when TargetError is set, the
	// target must fail to render with an error containing TargetError.
	Target      v1alpha1.Target
	TargetError string
	Scale       *v1alpha1.ScaleParams    // with action scale
	Rollback    *v1alpha1.RollbackParams // with action rollback; nil means the previous revision
	Evict       *v1alpha1.EvictParams    // with action evict-pod; nil means the defaults
	Approval    bool                     // a person must approve the action
	// Then is the later steps of a sequence, each "ACTION KIND/NAMESPACE/NAME"
	// on its rendered target, in order; nil for a rule that is not one.
	Then []string
	// Decision is what becomes of the action, in a notification of a
	// sequence test; "" elsewhere and for a target that cannot render.
	Decision Decision
}

// The YAML shapes of a test file. target, scale and rollback are written
// as in rule files.
type testFileConfig struct {
	RuleFiles []string
	Tests     []*testCaseConfig
	Policy    *policyConfig
	at        map[string]*yaml.Node // field -> value node
}

type testCaseConfig struct {
	Name          string
	Alert         *alertConfig
	Expect        []*expectConfig
	Notifications []*notificationConfig
	Policy        *policyConfig
	node          *yaml.Node
	at            map[string]*yaml.Node
}

type notificationConfig struct {
	At        string
	Alerts    []*alertConfig // from alert or alerts
	alertWhat []string       // how messages name each of Alerts
	Expect    []*expectConfig
	node      *yaml.Node
	at        map[string]*yaml.Node
}

// policyConfig is a policy block: the deployment's limits, named as the
// flags of alertmedic serve are. Only the fields present are applied.
type policyConfig struct {
	DefaultCooldown, BreakerWindow, BudgetWindow string
	BreakerMax, MaxPerRule, MaxPerTarget         *int64
	AllowNamespaces, DenyNamespaces              []string
	what                                         string // how messages name the block
	at                                           map[string]*yaml.Node
	apply                                        func(*policy.Limits) // set by compilePolicy
}

// policyFields are the fields of a policy block, each with its flag.
var policyFields = []struct{ field, flag string }{
	{"defaultCooldown", "--default-cooldown"},
	{"maxPerRule", "--max-per-rule"},
	{"maxPerTarget", "--max-per-target"},
	{"budgetWindow", "--budget-window"},
	{"breakerMax", "--breaker-max"},
	{"breakerWindow", "--breaker-window"},
	{"allowNamespaces", "--allow-namespaces"},
	{"denyNamespaces", "--deny-namespaces"},
}

type alertConfig struct {
	Labels, Annotations                                 map[string]string
	Status, StartsAt, EndsAt, GeneratorURL, Fingerprint string
	at                                                  map[string]*yaml.Node
}

type targetConfig struct{ Kind, Namespace, Name string }

type scaleConfig struct {
	Replicas string
	Min, Max *int64
}

type rollbackConfig struct{ ToRevision *int64 }

type evictConfig struct {
	AllowUnowned bool
	MinAvailable *int64
}

type expectConfig struct {
	Rule, Action, TargetError, Decision string
	Target                              *targetConfig
	Scale                               *scaleConfig
	Rollback                            *rollbackConfig
	Evict                               *evictConfig
	Approval                            bool
	Then                                []string
	node                                *yaml.Node
	at                                  map[string]*yaml.Node // "target.kind" too
}

// Load reads and parses one rule test file. The error, if any, is
// a *rules.LoadError listing every problem found.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &rules.LoadError{Problems: []rules.Problem{{File: path, Message: "cannot read tests: " + err.Error()}}}
	}
	return Parse(path, data)
}

// Parse parses a rule test file; path names it in messages and is
// the base of its relative ruleFiles. The error, if any, is a *rules.LoadError
// listing every problem found.
func Parse(path string, data []byte) (*File, error) {
	d := &testDecoder{Decoder: rules.NewDecoder(path)}
	fc := d.file(data)
	tf := &File{Path: path}
	if fc != nil && !d.Exhausted() {
		d.compile(fc, tf)
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	return tf, nil
}

// testDecoder decodes a test file with the decoder of rule files.
type testDecoder struct {
	*rules.Decoder
}

// fields decodes the mapping v: it reports unknown fields, records where
// each known field's value is in at (under prefix), and hands it to fn,
// which returns false when it reported the value as wrong.
func (d *testDecoder) fields(v *yaml.Node, where, prefix string, at map[string]*yaml.Node, known []string, fn func(key string, v *yaml.Node) bool) bool {
	v = d.Resolve(v)
	if v.Kind != yaml.MappingNode {
		d.Errorf(v, "%s must be a mapping, got %s", where, rules.KindName(v))
		return false
	}
	for _, p := range d.Fields(v, where) {
		if !slices.Contains(known, p.Name) {
			if hint := policyHint(p.Name, where); hint != "" {
				d.Errorf(p.Key, "unknown field %q in %s; %s", p.Name, where, hint)
				continue
			}
			d.UnknownField(p, where, known)
			continue
		}
		if fn(p.Name, p.Value) {
			at[prefix+p.Name] = d.Resolve(p.Value)
		}
	}
	return true
}

// policyHint says where a test states what policy decides, for a field
// that is not known where it was written.
func policyHint(key, where string) string {
	k := strings.ToLower(key)
	expect := strings.Contains(where, "expect[")
	sequence := strings.Contains(where, "notifications[")
	switch k {
	case "cooldown", "budget", "budgets", "maxperwindow", "reason", "refused", "decision", "policy":
	default:
		return ""
	}
	switch {
	case strings.HasPrefix(where, "the policy of") && k == "cooldown":
		return "the deployment's default cooldown is defaultCooldown (a rule's own is in its rule file)"
	case strings.HasPrefix(where, "the policy of"):
		return ""
	case k == "policy" && (expect || sequence):
		return "a policy block goes at the top of the test file or in a test, not in " + map[bool]string{true: "an expectation", false: "a notification"}[expect]
	case expect && sequence:
		return "expect what becomes of the action as decision: " + strings.Join(decisionNames(), ", ") + "; cooldowns and budgets come from the rule, or from a policy block (the deployment's defaults)"
	case expect && k == "decision":
		return "decisions are expected in the notifications of a test, where policy decides over time; give the test notifications, each with at, alert and expect"
	case expect:
		return "what policy decides (cooldowns, budgets, the circuit breaker, namespaces) is tested with notifications over time: give the test notifications, each with at, alert and expect, and expect decision: Cooldown"
	case sequence && k == "decision":
		return "a decision goes in each item of expect, beside the rule it is about"
	case k == "decision" || k == "reason" || k == "refused":
		return ""
	}
	return "the deployment's defaults go in a policy block (policy: {defaultCooldown: 30m, maxPerTarget: 3}); a rule's own are in its rule file"
}

func (d *testDecoder) file(data []byte) *testFileConfig {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.Errorf(&yaml.Node{Line: 1, Column: 1}, "test file is empty; it needs ruleFiles and tests")
			return nil
		}
		d.SyntaxError(err)
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil && len(extra.Content) > 0 {
		d.Errorf(extra.Content[0], "a test file holds a single YAML document; move these tests into the tests list of the first")
	} else if err != nil && !errors.Is(err, io.EOF) {
		d.SyntaxError(err)
		return nil
	}
	if len(doc.Content) == 0 || doc.Content[0].Tag == "!!null" {
		d.Errorf(&yaml.Node{Line: 1, Column: 1}, "test file is empty; it needs ruleFiles and tests")
		return nil
	}
	top := d.Resolve(doc.Content[0])
	fc := &testFileConfig{at: map[string]*yaml.Node{}}
	if top.Kind != yaml.MappingNode {
		d.Errorf(top, "a test file must be a mapping with ruleFiles and tests, got %s", rules.KindName(top))
		return nil
	}
	if d.hasKey(top, "rules") && !d.hasKey(top, "tests") {
		d.Errorf(top, "this looks like a rule file, not a rule test file: check it with alertmedic check, and name it under ruleFiles of a test file")
		return nil
	}
	d.fields(top, "the top level of the test file", "", fc.at, []string{"ruleFiles", "tests", "policy"}, func(key string, v *yaml.Node) bool {
		switch key {
		case "policy":
			var ok bool
			fc.Policy, ok = d.policy(v, "the policy of the test file")
			return ok
		case "ruleFiles":
			var ok bool
			fc.RuleFiles, ok = d.strings(v, "ruleFiles")
			return ok
		case "tests":
			v = d.Resolve(v)
			if v.Kind != yaml.SequenceNode {
				d.Errorf(v, "tests must be a list of tests (items starting with '- '), got %s", rules.KindName(v))
				return false
			}
			for i, item := range v.Content {
				if d.Tired(item) {
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
		d.Errorf(top, "missing required field \"ruleFiles\": list the rule files (or directories) to test, relative to this file, e.g. ruleFiles: [../rules.yaml]")
	}
	if !d.hasKey(top, "tests") && !d.typo(top, "tests") {
		d.Errorf(top, "missing required field \"tests\": add a list of tests, each with a name, an alert and what to expect")
	}
	return fc
}

// typo reports whether mapping n has a key that is a misspelling of field
// (already reported as such), so that the field is not also reported as
// missing.
func (d *testDecoder) typo(n *yaml.Node, field string) bool {
	n = d.Resolve(n)
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i].Value; k != field && rules.Suggest(k, []string{field}) == field {
			return true
		}
	}
	return false
}

func (d *testDecoder) testCase(n *yaml.Node, index int) *testCaseConfig {
	n = d.Resolve(n)
	what := fmt.Sprintf("tests[%d]", index)
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, "%s must be a mapping with name, alert and expect, got %s", what, rules.KindName(n))
		return nil
	}
	tc := &testCaseConfig{node: n, at: map[string]*yaml.Node{}}
	d.fields(n, what, "", tc.at, []string{"name", "alert", "expect", "notifications", "policy"}, func(key string, v *yaml.Node) bool {
		var ok bool
		switch key {
		case "name":
			tc.Name, ok = d.StringValue(v, "name", what, "")
		case "alert":
			tc.Alert, ok = d.alert(v, what+".alert")
		case "expect":
			tc.Expect, ok = d.expectList(v, what)
		case "policy":
			tc.Policy, ok = d.policy(v, "the policy of "+what)
		case "notifications":
			v = d.Resolve(v)
			if v.Kind != yaml.SequenceNode {
				d.Errorf(v, "%s.notifications must be a list of notifications (items starting with '- ', each with at, alert and expect), got %s", what, rules.KindName(v))
				return false
			}
			if len(v.Content) == 0 {
				d.Errorf(v, "%s.notifications is empty; list the notifications, each with at, alert and expect", what)
				return false
			}
			ok = true
			for i, item := range v.Content {
				if d.Tired(item) {
					break
				}
				if nc := d.notification(item, fmt.Sprintf("%s.notifications[%d]", what, i)); nc != nil {
					tc.Notifications = append(tc.Notifications, nc)
				} else {
					ok = false
				}
			}
		}
		return ok
	})
	has := func(field string) bool { return d.hasKey(n, field) || d.typo(n, field) }
	if !has("name") {
		d.Errorf(n, "missing required field %q in %s; %s", "name", what, "give the test a name that says what it checks")
	}
	switch {
	case d.hasKey(n, "notifications"):
		if d.hasKey(n, "alert") {
			d.Errorf(d.keyNode(n, "alert", n), "%s has both alert and notifications; give one alert with expect, or a sequence of notifications each with its own alert and expect", what)
		}
		if d.hasKey(n, "expect") {
			d.Errorf(d.keyNode(n, "expect", n), "expect of %s goes in each of its notifications; move it there", what)
		}
	case !has("alert"):
		d.Errorf(n, "missing required field %q in %s; %s", "alert", what, "add alert: {labels: {alertname: ..., ...}} (or notifications: for a sequence over time)")
	default:
		if !has("expect") {
			d.Errorf(n, "missing required field %q in %s; %s", "expect", what, "list the expected remediations, or write expect: [] when nothing should happen")
		}
		if d.hasKey(n, "policy") {
			d.Errorf(d.keyNode(n, "policy", n), "policy of %s changes nothing: a test with one alert states which rules act, not what policy decides; give the test notifications to test policy's decisions", what)
		}
	}
	return tc
}

// expectList decodes the expect list of what.
func (d *testDecoder) expectList(v *yaml.Node, what string) ([]*expectConfig, bool) {
	v = d.Resolve(v)
	if v.Kind != yaml.SequenceNode {
		d.Errorf(v, "%s.expect must be a list of expected remediations (write expect: [] when nothing should happen), got %s", what, rules.KindName(v))
		return nil, false
	}
	var out []*expectConfig
	ok := true
	for i, item := range v.Content {
		if d.Tired(item) {
			break
		}
		if e := d.expect(item, fmt.Sprintf("%s.expect[%d]", what, i)); e != nil {
			out = append(out, e)
		} else {
			ok = false
		}
	}
	return out, ok
}

// notification decodes one item of a test's notifications.
func (d *testDecoder) notification(n *yaml.Node, what string) *notificationConfig {
	n = d.Resolve(n)
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, "%s must be a mapping with at, alert and expect, got %s", what, rules.KindName(n))
		return nil
	}
	nc := &notificationConfig{node: n, at: map[string]*yaml.Node{}}
	ok := d.fields(n, what, "", nc.at, []string{"at", "alert", "alerts", "expect"}, func(key string, v *yaml.Node) bool {
		var ok bool
		switch key {
		case "at":
			nc.At, ok = d.StringValue(v, "at", what, "")
		case "alert":
			var a *alertConfig
			if a, ok = d.alert(v, what+".alert"); ok {
				nc.Alerts, nc.alertWhat = append(nc.Alerts, a), append(nc.alertWhat, what+".alert")
			}
		case "alerts":
			v = d.Resolve(v)
			if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
				d.Errorf(v, "%s.alerts must be a non-empty list of alerts (each with labels), got %s", what, rules.KindName(v))
				return false
			}
			ok = true
			for i, item := range v.Content {
				if d.Tired(item) {
					break
				}
				awhat := fmt.Sprintf("%s.alerts[%d]", what, i)
				a, good := d.alert(item, awhat)
				if good {
					nc.Alerts, nc.alertWhat = append(nc.Alerts, a), append(nc.alertWhat, awhat)
				}
				ok = ok && good
			}
		case "expect":
			nc.Expect, ok = d.expectList(v, what)
		}
		return ok
	})
	has := func(field string) bool { return d.hasKey(n, field) || d.typo(n, field) }
	if !has("at") {
		d.Errorf(n, "missing required field \"at\" in %s; say when Alertmanager sends it, as a duration since the test started, such as at: 0m or at: 10m", what)
	}
	switch {
	case d.hasKey(n, "alert") && d.hasKey(n, "alerts"):
		d.Errorf(d.keyNode(n, "alerts", n), "%s has both alert and alerts; use alerts: [...] for several alerts in one notification", what)
	case !has("alert") && !has("alerts"):
		d.Errorf(n, "missing required field \"alert\" in %s; add alert: {labels: {alertname: ..., ...}}, or alerts: [...] for several in one notification", what)
	}
	if !has("expect") {
		d.Errorf(n, "missing required field \"expect\" in %s; list the expected remediations with their decisions, or write expect: [] when nothing should happen", what)
	}
	if !ok {
		return nil
	}
	return nc
}

// policy decodes a policy block.
func (d *testDecoder) policy(v *yaml.Node, what string) (*policyConfig, bool) {
	pc := &policyConfig{what: what, at: map[string]*yaml.Node{}}
	known := make([]string, len(policyFields))
	for i, f := range policyFields {
		known[i] = f.field
	}
	ok := d.fields(v, what, "", pc.at, known, func(key string, v *yaml.Node) bool {
		var ok bool
		switch key {
		case "defaultCooldown":
			pc.DefaultCooldown, ok = d.StringValue(v, key, what, "")
		case "breakerWindow":
			pc.BreakerWindow, ok = d.StringValue(v, key, what, "")
		case "budgetWindow":
			pc.BudgetWindow, ok = d.StringValue(v, key, what, "")
		case "breakerMax":
			pc.BreakerMax, ok = d.IntValue(v, key, what)
		case "maxPerRule":
			pc.MaxPerRule, ok = d.IntValue(v, key, what)
		case "maxPerTarget":
			pc.MaxPerTarget, ok = d.IntValue(v, key, what)
		case "allowNamespaces", "denyNamespaces":
			var list []string
			if list, ok = d.namespaces(v, key, what); ok {
				if key == "allowNamespaces" {
					pc.AllowNamespaces = list
				} else {
					pc.DenyNamespaces = list
				}
			}
		}
		return ok
	})
	return pc, ok
}

// namespaces decodes a list of namespace patterns (it may be empty).
func (d *testDecoder) namespaces(v *yaml.Node, field, what string) ([]string, bool) {
	v = d.Resolve(v)
	if v.Kind != yaml.SequenceNode {
		hint := ""
		if v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
			hint = fmt.Sprintf("; write it as a list: %s: [%s]", field, yamlString(v.Value))
		}
		d.Errorf(v, "%s in %s must be a list of namespace patterns, got %s%s", field, what, rules.KindName(v), hint)
		return nil, false
	}
	out := []string{}
	ok := true
	for i, item := range v.Content {
		s, good := d.StringValue(item, fmt.Sprintf("%s[%d]", field, i), what, "")
		if good {
			if err := policy.CheckPattern(s); err != nil {
				d.Errorf(d.Resolve(item), "%s[%d] in %s: %v", field, i, what, err)
				good = false
			}
		}
		ok = ok && good
		out = append(out, s)
	}
	return out, ok
}

// hasKey reports whether mapping n has key, whatever its value.
func (d *testDecoder) hasKey(n *yaml.Node, key string) bool {
	for _, p := range rules.NewDecoder("").Fields(n, "") {
		if p.Name == key {
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
			a.Status, ok = d.StringValue(v, "status", what, "")
		case "startsAt":
			a.StartsAt, ok = d.StringValue(v, "startsAt", what, "")
		case "endsAt":
			a.EndsAt, ok = d.StringValue(v, "endsAt", what, "")
		case "generatorURL":
			a.GeneratorURL, ok = d.StringValue(v, "generatorURL", what, "")
		case "fingerprint":
			a.Fingerprint, ok = d.StringValue(v, "fingerprint", what, "")
		}
		return ok
	})
	if ok {
		if v := d.Resolve(v); !d.hasKey(v, "labels") && !d.typo(v, "labels") {
			d.Errorf(d.Resolve(v), "missing required field \"labels\" in %s; add labels: {alertname: ..., ...}", what)
		}
	}
	return a, ok
}

// labelMap decodes a mapping of label names to values. Values may be any
// scalar (8080 is the label value "8080").
func (d *testDecoder) labelMap(v *yaml.Node, what string) (map[string]string, bool) {
	v = d.Resolve(v)
	if v.Kind != yaml.MappingNode {
		d.Errorf(v, "%s must be a mapping of names to values, got %s", what, rules.KindName(v))
		return nil, false
	}
	out := map[string]string{}
	ok := true
	for _, p := range d.Fields(v, what) {
		val := d.Resolve(p.Value)
		switch {
		case p.Name == "":
			d.Errorf(p.Key, "%s has an empty name", what)
			ok = false
		case !utf8.ValidString(p.Name) || !utf8.ValidString(val.Value):
			d.Errorf(p.Key, "%s.%s is not valid UTF-8", what, p.Name)
			ok = false
		case val.Kind != yaml.ScalarNode || val.Tag == "!!null":
			d.Errorf(val, "%s.%s must be a value (a string), got %s", what, p.Name, rules.KindName(val))
			ok = false
		default:
			out[p.Name] = val.Value
		}
	}
	return out, ok
}

func (d *testDecoder) expect(v *yaml.Node, what string) *expectConfig {
	v = d.Resolve(v)
	e := &expectConfig{node: v, at: map[string]*yaml.Node{}}
	known := []string{"rule", "action", "target", "targetError", "scale", "rollback", "evict", "approval", "then"}
	if strings.Contains(what, "notifications[") {
		known = append(known, "decision")
	}
	ok := d.fields(v, what, "", e.at, known, func(key string, v *yaml.Node) bool {
		var ok bool
		switch key {
		case "decision":
			e.Decision, ok = d.StringValue(v, "decision", what, "")
		case "rule":
			e.Rule, ok = d.StringValue(v, "rule", what, "")
		case "action":
			e.Action, ok = d.StringValue(v, "action", what, "")
		case "targetError":
			e.TargetError, ok = d.StringValue(v, "targetError", what, "")
		case "approval":
			e.Approval, ok = d.BoolValue(v, "approval", what)
		case "then":
			if v = d.Resolve(v); v.Kind != yaml.SequenceNode {
				d.Errorf(v, "then in %s must be a list of steps such as ['rollback Deployment/shop/web'], got %s", what, rules.KindName(v))
				break
			}
			ok = true
			for i, item := range v.Content {
				s, good := d.StringValue(item, fmt.Sprintf("then[%d]", i), what, "")
				ok = ok && good
				e.Then = append(e.Then, s)
			}
		case "target":
			e.Target = &targetConfig{}
			ok = d.fields(v, "target of "+what, "target.", e.at, []string{"kind", "namespace", "name"}, func(key string, v *yaml.Node) bool {
				var ok bool
				switch key {
				case "kind":
					e.Target.Kind, ok = d.StringValue(v, "target.kind", what, "")
				case "namespace":
					e.Target.Namespace, ok = d.StringValue(v, "target.namespace", what, "")
				case "name":
					e.Target.Name, ok = d.StringValue(v, "target.name", what, "")
				}
				return ok
			})
		case "scale":
			e.Scale = &scaleConfig{}
			ok = d.fields(v, "scale of "+what, "scale.", e.at, []string{"replicas", "min", "max"}, func(key string, v *yaml.Node) bool {
				var ok bool
				switch key {
				case "replicas":
					e.Scale.Replicas, ok = d.StringValue(v, "scale.replicas", what, "")
				case "min":
					e.Scale.Min, ok = d.IntValue(v, "scale.min", what)
				case "max":
					e.Scale.Max, ok = d.IntValue(v, "scale.max", what)
				}
				return ok
			})
		case "rollback":
			e.Rollback = &rollbackConfig{}
			ok = d.fields(v, "rollback of "+what, "rollback.", e.at, []string{"toRevision"}, func(_ string, v *yaml.Node) bool {
				var ok bool
				e.Rollback.ToRevision, ok = d.IntValue(v, "rollback.toRevision", what)
				return ok
			})
		case "evict":
			e.Evict = &evictConfig{}
			ok = d.fields(v, "evict of "+what, "evict.", e.at, []string{"allowUnowned", "minAvailable"}, func(key string, v *yaml.Node) bool {
				var ok bool
				switch key {
				case "allowUnowned":
					e.Evict.AllowUnowned, ok = d.BoolValue(v, "evict.allowUnowned", what)
				case "minAvailable":
					e.Evict.MinAvailable, ok = d.IntValue(v, "evict.minAvailable", what)
				}
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
	v = d.Resolve(v)
	if v.Kind != yaml.SequenceNode {
		hint := ""
		if v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
			hint = fmt.Sprintf("; write it as a list: %s: [%s]", field, v.Value)
		}
		d.Errorf(v, "%s must be a list, got %s%s", field, rules.KindName(v), hint)
		return nil, false
	}
	if len(v.Content) == 0 {
		d.Errorf(v, "%s is empty; list the rule files (or directories) to test", field)
		return nil, false
	}
	var out []string
	ok := true
	for i, item := range v.Content {
		s, good := d.StringValue(item, fmt.Sprintf("%s[%d]", field, i), "the test file", "")
		if good && strings.TrimSpace(s) == "" {
			d.Errorf(d.Resolve(item), "%s[%d] is empty", field, i)
			good = false
		}
		ok = ok && good
		out = append(out, s)
	}
	return out, ok
}

// compile validates the decoded shapes into tf.
func (d *testDecoder) compile(fc *testFileConfig, tf *File) {
	base := filepath.Dir(tf.Path)
	for _, f := range fc.RuleFiles {
		if !filepath.IsAbs(f) {
			f = filepath.Join(base, f)
		}
		tf.RuleFiles = append(tf.RuleFiles, f)
	}
	var filePolicy []*policyConfig
	if fc.Policy != nil && d.compilePolicy(fc.Policy) {
		filePolicy = append(filePolicy, fc.Policy)
	}
	names := map[string]*yaml.Node{}
	for i, tc := range fc.Tests {
		what := fmt.Sprintf("tests[%d]", i)
		c := &Case{Name: tc.Name, Line: tc.node.Line, Column: tc.node.Column, policies: filePolicy}
		if n, ok := tc.at["name"]; ok {
			switch first, dup := names[tc.Name]; {
			case strings.TrimSpace(tc.Name) == "":
				d.Errorf(n, "name of %s is empty; say what the test checks", what)
			case dup:
				d.Errorf(n, "test name %q is used twice (first on line %d); give each test its own name", tc.Name, first.Line)
			default:
				names[tc.Name] = n
			}
		}
		if len(tc.Notifications) > 0 {
			d.compileSequence(tc, c, what)
			tf.Cases = append(tf.Cases, c)
			continue
		}
		c.policies = nil // a test with one alert runs no policy
		if tc.Alert != nil {
			c.Alert, _ = d.compileAlert(tc.Alert, what+".alert", false)
		}
		for j, e := range tc.Expect {
			if x, ok := d.compileExpect(e, fmt.Sprintf("%s.expect[%d]", what, j), false); ok {
				c.Expect = append(c.Expect, x)
			}
		}
		tf.Cases = append(tf.Cases, c)
	}
}

// compileSequence validates the notifications and the policy of tc into c.
func (d *testDecoder) compileSequence(tc *testCaseConfig, c *Case, what string) {
	if tc.Policy != nil && d.compilePolicy(tc.Policy) {
		c.policies = append(slices.Clip(c.policies), tc.Policy)
	}
	var prev *Notification
	for j, nc := range tc.Notifications {
		nwhat := fmt.Sprintf("%s.notifications[%d]", what, j)
		n := &Notification{Line: nc.node.Line, Column: nc.node.Column}
		if an, ok := nc.at["at"]; ok {
			at, err := model.ParseDuration(strings.TrimSpace(nc.At))
			switch {
			case err != nil:
				d.Errorf(an, "%s.at %q is not a duration; write the time since the test started, such as 0m, 90s or 1h30m", nwhat, nc.At)
			case prev != nil && time.Duration(at) < prev.At:
				d.Errorf(an, "%s.at %s is before the notification above it (at %s); list notifications in the order Alertmanager sends them", nwhat, nc.At, offset(prev.At))
			default:
				n.At = time.Duration(at)
			}
		}
		for k, ac := range nc.Alerts {
			a, given := d.compileAlert(ac, nc.alertWhat[k], true)
			n.Alerts = append(n.Alerts, a)
			n.startsAt = append(n.startsAt, given)
		}
		for k, e := range nc.Expect {
			if x, ok := d.compileExpect(e, fmt.Sprintf("%s.expect[%d]", nwhat, k), true); ok {
				n.Expect = append(n.Expect, x)
			}
		}
		c.Notifications = append(c.Notifications, n)
		prev = n
	}
}

// compilePolicy validates a policy block and sets its apply function. It
// returns false when the block has errors (reported).
func (d *testDecoder) compilePolicy(pc *policyConfig) bool {
	what := pc.what
	ok := true
	var sets []func(*policy.Limits)
	duration := func(field, text string, positive bool, to func(*policy.Limits, time.Duration)) {
		n, has := pc.at[field]
		if !has {
			return
		}
		v, err := model.ParseDuration(strings.TrimSpace(text))
		switch {
		case err != nil:
			d.Errorf(n, "%s %q in %s is not a duration; use a duration with a unit, such as 30s, 10m, 2h or 1d", field, text, what)
		case positive && v == 0:
			d.Errorf(n, "%s in %s must be longer than 0", field, what)
		case field == "budgetWindow" && time.Duration(v) > policy.MaxBudgetWindow:
			d.Errorf(n, "%s %s in %s is longer than %s; use %s or less", field, text, what, rules.HumanDuration(policy.MaxBudgetWindow), rules.HumanDuration(policy.MaxBudgetWindow))
		default:
			sets = append(sets, func(l *policy.Limits) { to(l, time.Duration(v)) })
			return
		}
		ok = false
	}
	count := func(field string, v *int64, min int64, hint string, to func(*policy.Limits, int)) {
		n, has := pc.at[field]
		if !has || v == nil {
			return
		}
		if *v < min || field == "breakerMax" && *v == 0 {
			d.Errorf(n, "%s (%d) in %s %s", field, *v, what, hint)
			ok = false
			return
		}
		sets = append(sets, func(l *policy.Limits) { to(l, int(*v)) })
	}
	duration("defaultCooldown", pc.DefaultCooldown, false, func(l *policy.Limits, v time.Duration) { l.Cooldown = v })
	count("maxPerRule", pc.MaxPerRule, 0, "must be 0 (no limit) or more", func(l *policy.Limits, v int) { l.PerRule = v })
	count("maxPerTarget", pc.MaxPerTarget, 0, "must be 0 (no limit) or more", func(l *policy.Limits, v int) { l.PerTarget = v })
	duration("budgetWindow", pc.BudgetWindow, true, func(l *policy.Limits, v time.Duration) { l.BudgetWindow = v })
	count("breakerMax", pc.BreakerMax, -1, "must be 1 or more, or -1 for no circuit breaker", func(l *policy.Limits, v int) { l.BreakerMax = v })
	duration("breakerWindow", pc.BreakerWindow, true, func(l *policy.Limits, v time.Duration) { l.BreakerWindow = v })
	if _, has := pc.at["allowNamespaces"]; has {
		allow := pc.AllowNamespaces
		sets = append(sets, func(l *policy.Limits) { l.AllowNamespaces = allow })
	}
	if _, has := pc.at["denyNamespaces"]; has {
		deny := pc.DenyNamespaces
		sets = append(sets, func(l *policy.Limits) { l.DenyNamespaces = deny })
	}
	pc.apply = func(l *policy.Limits) {
		for _, set := range sets {
			set(l)
		}
	}
	return ok
}

// testStart is when every sequence test starts: notifications' at and
// startsAt given as durations count from it.
func testStart() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

// offset writes a duration since the test started as a test file does.
func offset(d time.Duration) string { return model.Duration(d).String() }

// compileAlert validates an alert. In a sequence, startsAt may also be a
// duration since the test started; given reports whether it is set.
func (d *testDecoder) compileAlert(ac *alertConfig, what string, sequence bool) (a *template.Alert, given bool) {
	a = &template.Alert{
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
		d.Errorf(n, "%s.labels is empty; an alert has at least an alertname", what)
	}
	if n, ok := ac.at["status"]; ok {
		switch ac.Status {
		case "firing", "resolved":
			a.Status = ac.Status
		default:
			d.Errorf(n, "%s.status %q must be firing or resolved", what, ac.Status)
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
		if sequence && t.field == "startsAt" {
			if since, err := model.ParseDuration(strings.TrimSpace(t.text)); err == nil {
				*t.to, given = testStart().Add(time.Duration(since)), true
				continue
			}
		}
		ts, err := time.Parse(time.RFC3339, t.text)
		if err != nil {
			hint := ""
			if sequence && t.field == "startsAt" {
				hint = ", or as a duration since the test started, such as 10m"
			}
			d.Errorf(n, "%s.%s %q is not a time; write it as RFC 3339, such as 2026-01-02T15:04:05Z%s", what, t.field, t.text, hint)
			continue
		}
		*t.to = ts
		given = given || t.field == "startsAt"
	}
	if a.Fingerprint == "" {
		// As Alertmanager computes it.
		ls := make(model.LabelSet, len(a.Labels))
		for k, v := range a.Labels {
			ls[model.LabelName(k)] = model.LabelValue(v)
		}
		a.Fingerprint = ls.Fingerprint().String()
	}
	return a, given
}

// compileExpect validates one expected remediation; in a sequence it says
// what becomes of it (decision).
func (d *testDecoder) compileExpect(e *expectConfig, what string, sequence bool) (Expectation, bool) {
	x := Expectation{Rule: e.Rule, TargetError: e.TargetError, Approval: e.Approval}
	ok := true
	fail := func(n *yaml.Node, format string, args ...any) {
		d.Errorf(n, format, args...)
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
			fail(n, "unknown action %q in %s%s; use restart, scale, rollback, evict-pod or run-job", e.Action, what, rules.DidYouMean(e.Action, actions))
		} else {
			x.Action = v1alpha1.Action(e.Action)
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
			fail(n, "unknown target.kind %q in %s%s; use Deployment, StatefulSet, DaemonSet, Pod or CronJob", e.Target.Kind, what, rules.DidYouMean(e.Target.Kind, kinds))
		}
		x.Target = v1alpha1.Target{Kind: v1alpha1.Kind(e.Target.Kind), Namespace: e.Target.Namespace, Name: e.Target.Name}
	}
	if n, has := e.at["scale"]; has && x.Action != "" && x.Action != v1alpha1.ActionScale {
		fail(d.keyNode(e.node, "scale", n), "scale in %s is only for action: scale; remove it", what)
	}
	if n, has := e.at["rollback"]; has && x.Action != "" && x.Action != v1alpha1.ActionRollback {
		fail(d.keyNode(e.node, "rollback", n), "rollback in %s is only for action: rollback; remove it", what)
	}
	if n, has := e.at["evict"]; has && x.Action != "" && x.Action != v1alpha1.ActionEvictPod {
		fail(d.keyNode(e.node, "evict", n), "evict in %s is only for action: evict-pod; remove it", what)
	}
	for i, step := range e.Then {
		action, ref, _ := strings.Cut(strings.TrimSpace(step), " ")
		parts := strings.Split(strings.TrimSpace(ref), "/")
		if !slices.Contains(actions, action) || len(parts) != 3 || !slices.Contains(kindNames(), parts[0]) || parts[1] == "" || parts[2] == "" {
			fail(e.at["then"], "then[%d] %q in %s is not a step; write each later step of a sequence as ACTION KIND/NAMESPACE/NAME, such as rollback Deployment/shop/web", i, step, what)
			continue
		}
		x.Then = append(x.Then, action+" "+strings.Join(parts, "/"))
	}
	if sequence {
		n, has := e.at["decision"]
		switch {
		case has && hasErr:
			fail(d.keyNode(e.node, "decision", n), "%s expects a targetError, and a target that cannot be rendered is never acted on; remove decision", what)
		case has && !slices.Contains(decisionNames(), e.Decision):
			fail(n, "unknown decision %q in %s%s; use %s", e.Decision, what, rules.DidYouMean(e.Decision, decisionNames()), strings.Join(decisionNames(), ", "))
		case has:
			x.Decision = Decision(e.Decision)
		case !hasErr && !d.hasKey(e.node, "decision") && !d.typo(e.node, "decision"):
			fail(e.node, "missing required field \"decision\" in %s; say what becomes of the action: Run, or why not (%s)", what, strings.Join(decisionNames()[1:], ", "))
		}
	}
	if x.Action == v1alpha1.ActionScale {
		x.Scale = d.compileScale(e, what, fail)
	}
	if x.Action == v1alpha1.ActionRollback && e.Rollback != nil && e.Rollback.ToRevision != nil {
		if *e.Rollback.ToRevision < 1 {
			fail(e.at["rollback.toRevision"], "rollback.toRevision in %s must be 1 or more; leave rollback out for the previous revision", what)
		} else {
			x.Rollback = &v1alpha1.RollbackParams{ToRevision: *e.Rollback.ToRevision}
		}
	}
	if x.Action == v1alpha1.ActionEvictPod && e.Evict != nil {
		x.Evict = &v1alpha1.EvictParams{AllowUnowned: e.Evict.AllowUnowned}
		if m := e.Evict.MinAvailable; m != nil {
			if *m < 0 || *m > math.MaxInt32 {
				fail(e.at["evict.minAvailable"], "evict.minAvailable in %s must be 0 or more", what)
			} else {
				x.Evict.MinAvailable = int32(*m)
			}
		}
	}
	return x, ok
}

func (d *testDecoder) compileScale(e *expectConfig, what string, fail func(*yaml.Node, string, ...any)) *v1alpha1.ScaleParams {
	n, has := e.at["scale"]
	if !has {
		if !d.hasKey(e.node, "scale") {
			fail(e.at["action"], `%s expects action scale but says nothing of scale; add scale: {replicas: "+1", max: 5} as the rule has it`, what)
		}
		return nil
	}
	sc := &v1alpha1.ScaleParams{}
	rn, has := e.at["scale.replicas"]
	if !has {
		fail(n, `missing scale.replicas in %s, such as replicas: "+1"`, what)
		return nil
	}
	if msg := rules.ParseReplicas(strings.TrimSpace(e.Scale.Replicas), sc); msg != "" {
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
