package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// Decoding walks the yaml.Node tree instead of unmarshalling into structs.
// Struct decoding as Prometheus' rulefmt does it (the config.go types with
// KnownFields(true), plus structs of yaml.Node fields for positions) was
// run over testdata and changed 14 of the 28 golden reports:
//   - yaml.v3 gives a line but no column, in its own words, without the rule
//     or a suggestion ("line 5: field matchers not found in type
//     rules.ruleConfig" for `5:5: unknown field "matchers" in rule "typos"
//     (did you mean "match"?)`), and cannot tell apart the fields of one
//     line ({replicas: [2], min: "2"}).
//   - After any such error the checks cannot run (which fields are bad is
//     not known), so bad-many.yaml reports 1 problem instead of 8; a
//     duplicate key drops its whole mapping.
//   - A yaml.Node field holds the value, not the key, so problems placed at
//     a key (a misplaced scale block) move.
//   - It accepts what this decoder rejects: continue: "yes" loads as true,
//     scale.max: 2.9 as 2.
// Getting those back means walking the nodes anyway. Of this file, about 290
// lines are the walk (decodeRule, approval, mapping, pairs, merge, str,
// boolean, integer, list, resolve, tired); the file-level checks, syntax
// error lines, suggestions and kindName, and all of compile.go, lint.go,
// set.go and schema.go, are checks any decoder needs.
//
// When changing it, keep: each problem at the line:col of its key or value;
// every problem of a file in one report (a value of the wrong type is marked
// bad in rc.fields, so compile skips it rather than calling it missing, and
// a misspelt field is in rc.typos); the fields each mapping accepts equal to
// config.go's yaml tags, from which the schema is generated; merge keys and
// aliases; and the maxNodes and maxErrorsPerFile bounds.

// maxErrorsPerFile bounds the report for a file that is not a rule file at all.
const maxErrorsPerFile = 100

// maxNodes bounds the work of walking one file: YAML aliases can make a small
// file expand to a huge tree. A file of 10,000 rules has about 200,000.
const maxNodes = 1 << 20

// reporter collects the problems of one file.
type reporter struct {
	file     string
	problems []Problem
	errors   int
}

func (r *reporter) report(sev Severity, n *yaml.Node, format string, args ...any) {
	if sev == SeverityError {
		r.errors++
		if r.errors > maxErrorsPerFile {
			if r.errors == maxErrorsPerFile+1 {
				r.add(SeverityError, n, fmt.Sprintf("too many errors; only the first %d are shown, fix them and check again", maxErrorsPerFile))
			}
			return
		}
	}
	r.add(sev, n, fmt.Sprintf(format, args...))
}

func (r *reporter) add(sev Severity, n *yaml.Node, msg string) {
	p := Problem{File: r.file, Message: msg, Severity: sev}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	r.problems = append(r.problems, p)
}

func (r *reporter) errorf(n *yaml.Node, format string, args ...any) {
	r.report(SeverityError, n, format, args...)
}

func (r *reporter) warnf(n *yaml.Node, format string, args ...any) {
	r.report(SeverityWarning, n, format, args...)
}

// decoder turns the YAML of one file into its fileConfig.
type decoder struct {
	*reporter
	nodes int // nodes visited, against maxNodes
}

// pair is one key/value of a YAML mapping.
type pair struct {
	key  string
	k, v *yaml.Node
}

// decodeFile parses data; when data is not YAML it reports that and
// returns no rules.
func (d *decoder) decodeFile(data []byte) *fileConfig {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var top *yaml.Node
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			d.syntaxError(err)
			return &fileConfig{}
		}
		if len(doc.Content) == 0 || doc.Content[0].Tag == "!!null" {
			continue
		}
		if top != nil {
			d.errorf(doc.Content[0], "a rule file holds a single YAML document; move these rules into the rules list of the first document, or into a file of their own")
			break
		}
		top = doc.Content[0]
	}
	fc := &fileConfig{}
	if top == nil {
		d.warnf(&yaml.Node{Line: 1, Column: 1}, "file has no rules; add a rules list or delete the file")
		return fc
	}
	top = d.resolve(top)
	if top.Kind != yaml.MappingNode {
		hint := ""
		if top.Kind == yaml.SequenceNode {
			hint = "; put this list under rules:"
		}
		d.errorf(top, "a rule file must be a mapping with a rules list, got %s%s", kindName(top), hint)
		return fc
	}
	var (
		rules   *yaml.Node
		foreign bool // another kind of file: "no rules" would be noise
	)
	for _, p := range d.pairs(top, "the top level of the file", 0) {
		if p.key != "rules" {
			if kind := otherFile(p.key); kind != "" {
				d.errorf(p.k, "unknown field %q at the top level of the file: %s", p.key, kind)
				foreign = true
				continue
			}
			d.unknownField(p, "the top level of the file", []string{"rules"})
			continue
		}
		rules = d.resolve(p.v)
	}
	switch {
	case rules == nil && foreign:
	case rules == nil || rules.Tag == "!!null" || rules.Kind == yaml.SequenceNode && len(rules.Content) == 0:
		at := top
		if rules != nil {
			at = rules
		}
		d.warnf(at, "file has no rules; add rules to the rules list or delete the file")
	case rules.Kind != yaml.SequenceNode:
		d.errorf(rules, "rules must be a list of rules (items starting with '- '), got %s", kindName(rules))
	default:
		for i, item := range rules.Content {
			if d.tired(item) {
				break
			}
			if rc := d.decodeRule(item, i+1); rc != nil {
				fc.Rules = append(fc.Rules, rc)
			}
		}
	}
	return fc
}

// otherFile says what kind of file a top-level field belongs to, when it is
// the kind of file people mistake for a rule file.
func otherFile(key string) string {
	switch key {
	case "ruleFiles", "tests":
		return "this looks like a rule test file; run it with alertmedic test, and keep it out of the rule directories"
	case "groups":
		return "this looks like a Prometheus rule file; alertmedic rule files hold a rules list (see docs/rules.md)"
	case "route", "receivers":
		return "this looks like an Alertmanager configuration; alertmedic rule files hold a rules list (see docs/rules.md)"
	}
	return ""
}

// syntaxError reports an error of the YAML parser. yaml.v3 never gives a
// column, and gives no line for errors on the first line; the lines it gives
// for parser (not scanner) errors count from 0.
func (d *decoder) syntaxError(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				line, msg = n, text
				if isParserError(msg) {
					line++
				}
			}
		}
	}
	d.errorf(&yaml.Node{Line: line}, "invalid YAML: %s; check the indentation, and quote values that start with {{, [ or { or contain ': '", msg)
}

// isParserError tells yaml.v3's parser errors from its scanner errors by
// their text (the parser's are listed in its parserc.go).
func isParserError(msg string) bool {
	for _, p := range []string{
		"did not find expected ',' or",
		"did not find expected '-' indicator",
		"did not find expected <",
		"did not find expected key",
		"did not find expected node content",
		"found duplicate %",
		"found incompatible YAML document",
		"found undefined tag handle",
	} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// ruleLabel names a rule in messages: by its name when it has a usable one,
// else by its position in the rules list.
func ruleLabel(n *yaml.Node, index int) string {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.Value == "name" && v.Kind == yaml.ScalarNode && v.Tag != "!!null" && v.Value != "" {
				return "rule " + strconv.Quote(v.Value)
			}
		}
	}
	return fmt.Sprintf("rule #%d", index)
}

// ruleKeys are the fields of a rule; stepKeys those of an onFailure step,
// which acts on its rule's target under its rule's cooldown and budget.
var (
	ruleKeys = []string{"name", "match", "target", "action", "scale", "rollback", "evict", "runJob", "continue", "cooldown", "maxPerWindow", "approval", "verify", "silence", "notify", "gitops", "onFailure", "sequence"}
	stepKeys = []string{"action", "scale", "rollback", "evict", "runJob", "approval", "verify", "silence", "onFailure"}
	// sequenceStepKeys are those of a step of action: sequence, which has
	// its own target (the rule's when left out), and is approved with its
	// rule, as one plan.
	sequenceStepKeys = []string{"action", "target", "scale", "rollback", "evict", "runJob", "verify", "silence"}
)

// actionSequence is the rule action that runs the steps of its sequence
// in order. It is a rule's, not a record's: each step's record has its
// step's action.
const actionSequence = "sequence"

func (d *decoder) decodeRule(n *yaml.Node, index int) *ruleConfig {
	n = d.resolve(n)
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "rule #%d must be a mapping of fields (name, match, target, action, ...), got %s", index, kindName(n))
		return nil
	}
	rc := &ruleConfig{node: n, fields: map[string]fieldNodes{}, typos: map[string]bool{}}
	before := d.errors
	defer func() { rc.invalid = d.errors > before }()
	what := ruleLabel(n, index)
	rc.label, rc.rule = what, what
	d.mapping(rc, "", n, what, ruleKeys, func(key string, v *yaml.Node) bool { return d.field(rc, key, v, what) })
	return rc
}

// decodeStep decodes the onFailure step v of rc: a mapping of stepKeys,
// nested at most v1alpha1.MaxEscalations deep.
func (d *decoder) decodeStep(rc *ruleConfig, v *yaml.Node) bool {
	v = d.resolve(v)
	depth := rc.depth + 1
	label := strings.Repeat("onFailure.", depth-1) + "onFailure of " + rc.rule
	if depth > v1alpha1.MaxEscalations {
		d.errorf(v, "%s escalates more than %d times; an onFailure chain may have at most %d steps: remove the innermost onFailure", rc.rule, v1alpha1.MaxEscalations, v1alpha1.MaxEscalations)
		return false
	}
	if v.Kind != yaml.MappingNode {
		d.errorf(v, "onFailure in %s must be a mapping of fields (action, scale, rollback, evict, runJob, approval, verify, silence, onFailure), got %s", rc.label, kindName(v))
		return false
	}
	step := &ruleConfig{node: v, fields: map[string]fieldNodes{}, typos: map[string]bool{}, depth: depth, label: label, rule: rc.rule}
	d.mapping(step, "", v, label, stepKeys, func(key string, v *yaml.Node) bool { return d.field(step, key, v, label) })
	rc.OnFailure = step
	return true
}

// decodeSequence decodes the sequence v of rule rc: a list of at most
// v1alpha1.MaxSequenceSteps mappings of sequenceStepKeys.
func (d *decoder) decodeSequence(rc *ruleConfig, v *yaml.Node) bool {
	v = d.resolve(v)
	if v.Kind != yaml.SequenceNode {
		d.errorf(v, "sequence in %s must be a list of steps, each a mapping of fields (%s), got %s", rc.label, strings.Join(sequenceStepKeys, ", "), kindName(v))
		return false
	}
	if n := len(v.Content); n > v1alpha1.MaxSequenceSteps {
		d.errorf(v, "sequence in %s has %d steps; a sequence may have at most %d: split the work between rules or drop a step", rc.label, n, v1alpha1.MaxSequenceSteps)
		return false
	}
	ok := true
	rc.Sequence = nil
	for i, item := range v.Content {
		item = d.resolve(item)
		label := fmt.Sprintf("step %d of the sequence of %s", i+1, rc.rule)
		if item.Kind != yaml.MappingNode {
			d.errorf(item, "%s must be a mapping of fields (%s), got %s", label, strings.Join(sequenceStepKeys, ", "), kindName(item))
			ok = false
			continue
		}
		step := &ruleConfig{node: item, fields: map[string]fieldNodes{}, typos: map[string]bool{}, seq: i + 1, label: label, rule: rc.rule}
		d.mapping(step, "", item, label, sequenceStepKeys, func(key string, v *yaml.Node) bool { return d.field(step, key, v, label) })
		rc.Sequence = append(rc.Sequence, step)
	}
	return ok
}

// field decodes the field key of a rule or step.
func (d *decoder) field(rc *ruleConfig, key string, v *yaml.Node, what string) bool {
	var ok bool
	switch key {
	case "name":
		rc.Name, ok = d.str(v, "name", what, "")
	case "match":
		rc.Match, ok = d.list(rc, "match", v, what)
	case "target":
		rc.Target = &targetConfig{}
		t := rc.Target
		ok = d.mapping(rc, "target", v, what, []string{"kind", "namespace", "name"}, func(key string, v *yaml.Node) bool {
			var ok bool
			switch key {
			case "kind":
				t.Kind, ok = d.str(v, "target.kind", what, "")
			case "namespace":
				t.Namespace, ok = d.str(v, "target.namespace", what, "; quote templates: namespace: '{{ .Labels.namespace }}'")
			case "name":
				t.Name, ok = d.str(v, "target.name", what, "; quote templates: name: '{{ .Labels.deployment }}'")
			}
			return ok
		})
	case "action":
		rc.Action, ok = d.str(v, "action", what, "")
	case "scale":
		rc.Scale = &scaleConfig{}
		s := rc.Scale
		ok = d.mapping(rc, "scale", v, what, []string{"replicas", "min", "max", "hpa", "hpaFor"}, func(key string, v *yaml.Node) bool {
			var ok bool
			switch key {
			case "replicas":
				s.Replicas, ok = d.str(v, "scale.replicas", what, "")
			case "min":
				s.Min, ok = d.integer(v, "scale.min", what)
			case "max":
				s.Max, ok = d.integer(v, "scale.max", what)
			case "hpa":
				s.HPA, ok = d.str(v, "scale.hpa", what, "")
			case "hpaFor":
				s.HPAFor, ok = d.str(v, "scale.hpaFor", what, "")
			}
			return ok
		})
	case "rollback":
		rc.Rollback = &rollbackConfig{}
		r := rc.Rollback
		ok = d.mapping(rc, "rollback", v, what, []string{"toRevision"}, func(_ string, v *yaml.Node) bool {
			var ok bool
			r.ToRevision, ok = d.integer(v, "rollback.toRevision", what)
			return ok
		})
	case "evict":
		rc.Evict = &evictConfig{}
		ev := rc.Evict
		ok = d.mapping(rc, "evict", v, what, []string{"allowUnowned", "minAvailable"}, func(key string, v *yaml.Node) bool {
			var ok bool
			switch key {
			case "allowUnowned":
				var b bool
				if b, ok = d.boolean(v, "evict.allowUnowned", what); ok {
					ev.AllowUnowned = &b
				}
			case "minAvailable":
				ev.MinAvailable, ok = d.integer(v, "evict.minAvailable", what)
			}
			return ok
		})
	case "runJob":
		rc.RunJob = &runJobConfig{}
		j := rc.RunJob
		ok = d.mapping(rc, "runJob", v, what, []string{"wait", "timeout"}, func(key string, v *yaml.Node) bool {
			var ok bool
			switch key {
			case "wait":
				var b bool
				if b, ok = d.boolean(v, "runJob.wait", what); ok {
					j.Wait = &b
				}
			case "timeout":
				j.Timeout, ok = d.str(v, "runJob.timeout", what, "")
			}
			return ok
		})
	case "continue":
		rc.Continue, ok = d.boolean(v, "continue", what)
	case "cooldown":
		rc.Cooldown, ok = d.str(v, "cooldown", what, "")
	case "maxPerWindow":
		rc.Budget = &budgetConfig{}
		b := rc.Budget
		ok = d.mapping(rc, "maxPerWindow", v, what, []string{"perRule", "perTarget", "window"}, func(key string, v *yaml.Node) bool {
			var ok bool
			switch key {
			case "perRule":
				b.PerRule, ok = d.integer(v, "maxPerWindow.perRule", what)
			case "perTarget":
				b.PerTarget, ok = d.integer(v, "maxPerWindow.perTarget", what)
			case "window":
				b.Window, ok = d.str(v, "maxPerWindow.window", what, "")
			}
			return ok
		})
	case "approval":
		rc.Approval = &approvalConfig{}
		ok = d.approval(rc, v, what)
	case "verify":
		rc.Verify = &verifyConfig{}
		ok = d.verify(rc, v, what)
	case "silence":
		rc.Silence, ok = d.boolean(v, "silence", what)
	case "notify":
		rc.Notify, ok = d.str(v, "notify", what, "")
	case "gitops":
		rc.GitOps, ok = d.str(v, "gitops", what, "")
	case "onFailure":
		ok = d.decodeStep(rc, v)
	case "sequence":
		ok = d.decodeSequence(rc, v)
	}
	return ok
}

func (d *decoder) verify(rc *ruleConfig, v *yaml.Node, what string) bool {
	c := rc.Verify
	return d.mapping(rc, "verify", v, what, []string{"rollout", "timeout", "alertResolved"}, func(key string, v *yaml.Node) bool {
		var ok bool
		switch key {
		case "rollout":
			var b bool
			if b, ok = d.boolean(v, "verify.rollout", what); ok {
				c.Rollout = &b
			}
		case "timeout":
			c.Timeout, ok = d.str(v, "verify.timeout", what, "")
		case "alertResolved":
			c.AlertResolved = &alertResolvedConfig{}
			ok = d.mapping(rc, "verify.alertResolved", v, what, []string{"within"}, func(_ string, v *yaml.Node) bool {
				var ok bool
				c.AlertResolved.Within, ok = d.str(v, "verify.alertResolved.within", what, "")
				return ok
			})
		}
		return ok
	})
}

func (d *decoder) approval(rc *ruleConfig, v *yaml.Node, what string) bool {
	a := rc.Approval
	known := []string{"required", "channel", "approvers", "timeout"}
	return d.mapping(rc, "approval", v, what, known, func(key string, v *yaml.Node) bool {
		var ok bool
		switch key {
		case "required":
			var b bool
			if b, ok = d.boolean(v, "approval.required", what); ok {
				a.Required = &b
			}
		case "channel":
			a.Channel, ok = d.str(v, "approval.channel", what, "")
		case "timeout":
			a.Timeout, ok = d.str(v, "approval.timeout", what, "")
		case "approvers":
			ok = d.mapping(rc, "approval.approvers", v, what, []string{"users", "groups"}, func(key string, v *yaml.Node) bool {
				var ok bool
				switch key {
				case "users":
					a.Approvers.Users, ok = d.list(rc, "approval.approvers.users", v, what)
				case "groups":
					a.Approvers.Groups, ok = d.list(rc, "approval.approvers.groups", v, what)
				}
				return ok
			})
		}
		return ok
	})
}

// mapping decodes the mapping v found at path (the rule itself when path is
// empty): it reports unknown fields, hands each known one to fn, and records
// where each field is and whether fn could decode it.
func (d *decoder) mapping(rc *ruleConfig, path string, v *yaml.Node, what string, known []string, fn func(key string, v *yaml.Node) bool) bool {
	v = d.resolve(v)
	where := what
	if path != "" {
		where = path + " of " + what
	}
	if v.Kind != yaml.MappingNode {
		d.errorf(v, "%s in %s must be a mapping, got %s", path, what, kindName(v))
		return false
	}
	for _, p := range d.pairs(v, where, 0) {
		prefix := ""
		if path != "" {
			prefix = path + "."
		}
		if !slices.Contains(known, p.key) {
			if rc.seq > 0 && path == "" && slices.Contains(ruleKeys, p.key) {
				why := "a sequence is approved once, as a whole: give its rule the approval"
				if p.key != "approval" {
					why = "match, cooldown, budgets, notify and gitops are its rule's, and a sequence stops at its first failure rather than escalating"
				}
				d.errorf(p.k, "%s cannot have %s: %s; valid fields are %s", where, p.key, why, strings.Join(known, ", "))
				continue
			}
			if rc.depth > 0 && path == "" && slices.Contains(ruleKeys, p.key) {
				d.errorf(p.k, "%s cannot have %s: an escalation acts on its rule's target, and match, cooldown, budgets, notify and gitops are its rule's; valid fields are %s", where, p.key, strings.Join(known, ", "))
				continue
			}
			if meant := d.unknownField(p, where, known); meant != "" {
				rc.typos[prefix+meant] = true
			}
			continue
		}
		field := prefix + p.key
		ok := fn(p.key, p.v)
		rc.fields[field] = fieldNodes{key: p.k, value: d.resolve(p.v), bad: !ok}
	}
	return true
}

// pairs lists the key/value pairs of mapping n with merge keys (<<)
// expanded; a key written in n wins over the same key merged in. It reports
// keys that are not plain strings and keys written twice.
func (d *decoder) pairs(n *yaml.Node, where string, depth int) []pair {
	var own, merged []pair
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if d.tired(k) {
			return nil
		}
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			merged = append(merged, d.merge(v, where, depth)...)
			continue
		}
		kr := d.resolve(k)
		if kr.Kind != yaml.ScalarNode || kr.Tag == "!!null" {
			d.errorf(k, "field names in %s must be plain words, got %s; quote values that start with {{", where, kindName(kr))
			continue
		}
		if first, dup := seen[kr.Value]; dup {
			d.errorf(k, "field %q is set twice in %s (first on line %d); remove one", kr.Value, where, first.Line)
			continue
		}
		seen[kr.Value] = k
		own = append(own, pair{key: kr.Value, k: k, v: v})
	}
	for _, p := range merged {
		if _, dup := seen[p.key]; !dup {
			seen[p.key] = p.k
			own = append(own, p)
		}
	}
	return own
}

// merge returns the pairs a merge key brings in: from one mapping, or from
// a list of mappings where the earlier ones win.
func (d *decoder) merge(v *yaml.Node, where string, depth int) []pair {
	if depth >= 10 {
		d.errorf(v, "merge keys (<<) in %s nest more than 10 deep; flatten them", where)
		return nil
	}
	v = d.resolve(v)
	switch v.Kind {
	case yaml.MappingNode:
		return d.pairs(v, where, depth+1)
	case yaml.SequenceNode:
		var out []pair
		seen := map[string]bool{}
		for _, item := range v.Content {
			item = d.resolve(item)
			if item.Kind != yaml.MappingNode {
				d.errorf(item, "<< in %s must merge a mapping or a list of mappings, got %s", where, kindName(item))
				continue
			}
			for _, p := range d.pairs(item, where, depth+1) {
				if !seen[p.key] {
					seen[p.key] = true
					out = append(out, p)
				}
			}
		}
		return out
	}
	d.errorf(v, "<< in %s must merge a mapping or a list of mappings, got %s", where, kindName(v))
	return nil
}

// unknownField reports a field that is not in known and returns the known
// field it probably is, if any.
func (d *decoder) unknownField(p pair, where string, known []string) string {
	if s := suggest(p.key, known); s != "" {
		d.errorf(p.k, "unknown field %q in %s (did you mean %q?)", p.key, where, s)
		return s
	}
	d.errorf(p.k, "unknown field %q in %s; valid fields are %s", p.key, where, strings.Join(known, ", "))
	return ""
}

// str decodes a scalar as a string; an empty value gives "" (validation says
// whether that is allowed).
func (d *decoder) str(v *yaml.Node, field, what, hint string) (string, bool) {
	v = d.resolve(v)
	if v.Kind != yaml.ScalarNode {
		d.errorf(v, "%s in %s must be a string, got %s%s", field, what, kindName(v), hint)
		return "", false
	}
	if v.Tag == "!!null" {
		return "", true
	}
	return v.Value, true
}

func (d *decoder) boolean(v *yaml.Node, field, what string) (bool, bool) {
	v = d.resolve(v)
	var b bool
	if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" || v.Decode(&b) != nil {
		d.errorf(v, "%s in %s must be true or false, got %s", field, what, kindName(v))
		return false, false
	}
	return b, true
}

func (d *decoder) integer(v *yaml.Node, field, what string) (*int64, bool) {
	v = d.resolve(v)
	if v.Kind != yaml.ScalarNode || v.Tag != "!!int" {
		hint := ""
		if _, err := strconv.ParseInt(v.Value, 10, 64); err == nil && v.Kind == yaml.ScalarNode {
			hint = "; remove the quotes"
		}
		d.errorf(v, "%s in %s must be a whole number, got %s%s", field, what, kindName(v), hint)
		return nil, false
	}
	var i int64
	if err := v.Decode(&i); err != nil {
		d.errorf(v, "%s in %s is out of range: %s", field, what, v.Value)
		return nil, false
	}
	return &i, true
}

// list decodes a list of strings and records where each item is, as
// path[i]. An item that is not a string is reported and kept as "" so that
// indexes still line up.
func (d *decoder) list(rc *ruleConfig, path string, v *yaml.Node, what string) ([]string, bool) {
	v = d.resolve(v)
	if v.Kind != yaml.SequenceNode {
		hint := ""
		if v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
			hint = fmt.Sprintf("; write it as a list: %s: [%s]", path[strings.LastIndexByte(path, '.')+1:], singleQuote(v.Value))
		}
		d.errorf(v, "%s in %s must be a list, got %s%s", path, what, kindName(v), hint)
		return nil, false
	}
	out := make([]string, len(v.Content))
	for i, item := range v.Content {
		if d.tired(item) {
			break
		}
		field := fmt.Sprintf("%s[%d]", path, i)
		s, ok := d.str(item, field, what, "")
		out[i] = s
		rc.fields[field] = fieldNodes{key: item, value: d.resolve(item), bad: !ok}
	}
	return out, true
}

// resolve follows aliases to the node they name.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 10; i++ {
		n = n.Alias
	}
	return n
}

// tired counts a visit to n and says whether the file has gone past
// maxNodes; it reports that once.
func (d *decoder) tired(n *yaml.Node) bool {
	d.nodes++
	if d.nodes == maxNodes {
		d.errorf(n, "the file expands to more than %d YAML nodes (through aliases?); simplify it", maxNodes)
	}
	return d.nodes >= maxNodes
}

// exhausted reports whether the walk stopped at maxNodes.
func (d *decoder) exhausted() bool { return d.nodes >= maxNodes }

// kindName describes a node for "got ..." in messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "nothing"
		case "!!bool":
			return "a boolean (" + n.Value + ")"
		case "!!int", "!!float":
			return "a number (" + n.Value + ")"
		case "!!str":
			return "a string (" + quote(n.Value) + ")"
		}
		return "a " + strings.TrimPrefix(n.Tag, "!!") + " (" + strconv.Quote(n.Value) + ")"
	}
	return "nothing"
}

// quote quotes s for a message, with single quotes when s holds double
// quotes (as matchers do) so that it reads as written.
func quote(s string) string {
	if strings.Contains(s, `"`) {
		return singleQuote(s)
	}
	return strconv.Quote(s)
}

// singleQuote quotes s the YAML way, for fix-it hints.
func singleQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// suggest returns the option s was most likely meant to be, or "".
func suggest(s string, options []string) string {
	norm := func(x string) string {
		return strings.ToLower(strings.NewReplacer("_", "", "-", "", " ", "").Replace(x))
	}
	ns := norm(s)
	best, bestScore := "", 3
	for _, o := range options {
		no := norm(o)
		if no == ns {
			return o
		}
		score := editDistance(ns, no)
		if min(len(ns), len(no)) >= 3 && (strings.HasPrefix(no, ns) || strings.HasPrefix(ns, no)) {
			score = min(score, 2)
		}
		if len(no) <= 3 && score > 1 {
			continue
		}
		if score < bestScore {
			best, bestScore = o, score
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, for short words.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return max(len(a), len(b))
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
