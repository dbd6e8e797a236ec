package rules

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	texttemplate "text/template"
	"text/template/parse"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// compiler validates ruleConfigs and compiles them into Rules.
type compiler struct {
	*reporter
	an *analysis
}

// compile returns the rule, or nil when it has errors (all reported, while
// decoding or here).
func (c *compiler) compile(rc *ruleConfig) *Rule {
	before := c.errors
	r := &Rule{Name: rc.Name, File: c.file, Line: rc.node.Line}
	c.name(rc)
	r.Matchers = c.matchers(rc)
	sequence := rc.ok("action") && rc.Action == actionSequence
	if !sequence || rc.has("target") {
		r.Kind, r.NamespaceTemplate, r.NameTemplate = c.target(rc)
	}
	r.Approval = c.approval(rc)
	if sequence {
		c.sequence(rc, r)
	} else {
		r.Action = c.action(rc)
		r.Scale = c.scale(rc, r.Action, r.Kind)
		r.Rollback = c.rollback(rc, r.Action)
		r.Evict = c.evict(rc, r.Action)
		c.actionKind(rc, r.Action, r.Kind)
		r.Verify = c.runJob(rc, r.Action, c.verify(rc))
		r.Silence = c.silence(rc, r.Verify)
		r.OnFailure = c.step(rc.OnFailure, r.Kind)
		if rc.has("sequence") {
			c.errorf(rc.keyAt("sequence"), "sequence is only used with action: sequence, but %s has action: %s; write action: sequence to run the steps in order, or remove sequence", rc.label, rc.Action)
		}
	}
	r.Continue = rc.Continue
	r.Cooldown = c.cooldown(rc)
	r.Budget = c.budget(rc)
	r.Notify = c.notify(rc)
	r.GitOps = c.gitops(rc)
	if c.errors > before || rc.invalid {
		return nil
	}
	explicitNo := rc.ok("approval.required") && !r.Approval.Required
	r.approvalDeclined = explicitNo
	n := rc.at("target.namespace")
	r.namespaceAt = position{line: n.Line, column: n.Column}
	if sequence {
		for i, sc := range rc.Sequence {
			st := r.step(i + 1)
			if risk := riskyWithoutApproval(st.Action, st.Scale, st.Evict, r.Approval.Required || explicitNo); risk != "" {
				c.warnf(sc.at("action"), "%s %s; %s", sc.label, risk, sequenceApprovalHint)
			}
		}
		return r
	}
	if risk := riskyWithoutApproval(r.Action, r.Scale, r.Evict, r.Approval.Required || explicitNo); risk != "" {
		c.warnf(rc.at("action"), "%s %s; %s", rc.label, risk, approvalHint)
	}
	return r
}

// sequenceApprovalHint says how to approve a sequence's risky step: on
// the rule, once for the whole plan.
const sequenceApprovalHint = "add an approval block to the rule (a sequence is approved once, as a whole), or write approval: {required: false} on the rule to accept the risk"

// sequence compiles the steps of action: sequence into r: the first
// step's target, action, parameters and checks are r's own, the others
// r.Then. A step without a target acts on the rule's.
func (c *compiler) sequence(rc *ruleConfig, r *Rule) {
	for _, block := range []string{"scale", "rollback", "evict", "runJob", "verify", "silence"} {
		if rc.has(block) {
			c.errorf(rc.keyAt(block), "%s in %s belongs to a step: with action: sequence, each step has its own parameters and checks; move %s into the steps that need it", block, rc.label, block)
		}
	}
	if rc.has("onFailure") {
		c.errorf(rc.keyAt("onFailure"), "onFailure does not go with action: sequence in %s: a sequence stops at its first step that does not succeed; remove onFailure", rc.label)
	}
	switch {
	case !rc.has("sequence"):
		c.missing(rc, "sequence", "list the steps, e.g. sequence: [{action: run-job, target: {kind: CronJob, namespace: NS, name: backup}}, {action: rollback}]")
		return
	case !rc.ok("sequence"):
		return
	case len(rc.Sequence) < 2:
		c.errorf(rc.at("sequence"), "sequence in %s has %d step; a sequence needs at least 2: write a single action on the rule itself", rc.label, len(rc.Sequence))
		return
	}
	var steps []*Step
	for _, sc := range rc.Sequence {
		st := &Step{Kind: r.Kind, NamespaceTemplate: r.NamespaceTemplate, NameTemplate: r.NameTemplate}
		if sc.has("target") {
			st.Kind, st.NamespaceTemplate, st.NameTemplate = c.target(sc)
		} else if !rc.has("target") {
			c.errorf(sc.node, "%s has no target, and its rule has none to act on; give the step a target, or the rule one for its steps", sc.label)
		}
		st.Action = c.action(sc)
		st.Scale = c.scale(sc, st.Action, st.Kind)
		st.Rollback = c.rollback(sc, st.Action)
		st.Evict = c.evict(sc, st.Action)
		c.actionKind(sc, st.Action, st.Kind)
		st.Verify = c.runJob(sc, st.Action, c.verify(sc))
		st.Silence = c.silence(sc, st.Verify)
		steps = append(steps, st)
	}
	first := steps[0]
	r.Kind, r.NamespaceTemplate, r.NameTemplate = first.Kind, first.NamespaceTemplate, first.NameTemplate
	r.Action, r.Scale, r.Rollback, r.Evict, r.Verify, r.Silence = first.Action, first.Scale, first.Rollback, first.Evict, first.Verify, first.Silence
	r.Then = steps[1:]
}

// step compiles the onFailure step rc of a rule that targets kind (nil:
// none).
func (c *compiler) step(rc *ruleConfig, kind v1alpha1.Kind) *Step {
	if rc == nil {
		return nil
	}
	s := &Step{}
	s.Action = c.action(rc)
	s.Scale = c.scale(rc, s.Action, kind)
	s.Rollback = c.rollback(rc, s.Action)
	s.Evict = c.evict(rc, s.Action)
	c.actionKind(rc, s.Action, kind)
	s.Approval = c.approval(rc)
	s.Verify = c.runJob(rc, s.Action, c.verify(rc))
	s.Silence = c.silence(rc, s.Verify)
	s.OnFailure = c.step(rc.OnFailure, kind)
	s.approvalDeclined = rc.ok("approval.required") && !s.Approval.Required
	if risk := riskyWithoutApproval(s.Action, s.Scale, s.Evict, s.Approval.Required || s.approvalDeclined); risk != "" {
		c.warnf(rc.at("action"), "%s %s; %s", rc.label, risk, approvalHint)
	}
	return s
}

// gitops checks gitops: refuse or allow.
func (c *compiler) gitops(rc *ruleConfig) v1alpha1.GitOps {
	return choice(c, rc, "gitops", rc.GitOps, []v1alpha1.GitOps{v1alpha1.GitOpsRefuse, v1alpha1.GitOpsAllow},
		"refuse or allow; refuse skips the action on a workload Argo CD or Flux manages, allow acts on it (once the GitOps tool tolerates the change)")
}

// notify checks notify: all, failures or none.
func (c *compiler) notify(rc *ruleConfig) v1alpha1.Notify {
	return choice(c, rc, "notify", rc.Notify, []v1alpha1.Notify{v1alpha1.NotifyAll, v1alpha1.NotifyFailures, v1alpha1.NotifyNone},
		"one of all, failures, none; all tells Slack of every action through its life, failures only of those that fail, none only of those waiting for approval")
}

// choice reads value, written at path, which must be one of options: ""
// when it is not written, is of the wrong YAML type (reported already) or
// is none of them (reported here: "PATH "x" in RULE is not " + notOne).
func choice[T ~string](c *compiler, rc *ruleConfig, path, value string, options []T, notOne string) T {
	if !rc.ok(path) {
		return ""
	}
	if v := T(strings.TrimSpace(value)); slices.Contains(options, v) {
		return v
	}
	c.errorf(rc.at(path), "%s %q in %s is not %s", path, value, rc.label, notOne)
	return ""
}

// missing reports a required field that is not there, at the mapping that
// should hold it.
func (c *compiler) missing(rc *ruleConfig, field, hint string) {
	if rc.typos[field] {
		return // "unknown field ... (did you mean ...?)" says it already
	}
	c.errorf(rc.at(parentPath(field)), "missing required field %q in %s; %s", field, rc.label, hint)
}

func (c *compiler) name(rc *ruleConfig) {
	switch {
	case !rc.has("name"):
		c.missing(rc, "name", "add a name such as name: restart-crashlooping")
	case !rc.ok("name"):
	case rc.Name == "":
		c.errorf(rc.at("name"), "name in %s is empty; give the rule a name such as restart-crashlooping", rc.label)
	case len(rc.Name) > maxRuleName || len(validation.IsDNS1123Label(rc.Name)) > 0:
		c.errorf(rc.at("name"), "invalid rule name %s: use at most %d lowercase letters, digits and '-', starting and ending with a letter or digit", shorten(rc.Name), maxRuleName)
	}
}

func (c *compiler) matchers(rc *ruleConfig) labels.Matchers {
	if !rc.has("match") {
		c.missing(rc, "match", `add at least one matcher, e.g. match: ['alertname="KubePodCrashLooping"']`)
		return nil
	}
	if !rc.ok("match") {
		return nil
	}
	if len(rc.Match) == 0 {
		c.errorf(rc.at("match"), `match in %s is empty; add at least one matcher, e.g. match: ['alertname="KubePodCrashLooping"']`, rc.label)
		return nil
	}
	var (
		ms    labels.Matchers
		nodes []*yaml.Node // of each matcher in ms
	)
	for i, s := range rc.Match {
		path := fmt.Sprintf("match[%d]", i)
		if !rc.ok(path) {
			continue
		}
		n := rc.at(path)
		if strings.TrimSpace(s) == "" {
			c.errorf(n, `%s in %s is empty; write a matcher such as 'alertname="KubePodCrashLooping"'`, path, rc.label)
			continue
		}
		if many, err := labels.ParseMatchers(s); err == nil && len(many) > 1 {
			items := make([]string, len(many))
			for j, m := range many {
				items[j] = singleQuote(m.String())
			}
			c.errorf(n, "matcher %s in %s holds %d matchers; give each its own list item: match: [%s]", singleQuote(s), rc.label, len(many), strings.Join(items, ", "))
			continue
		}
		m, err := labels.ParseMatcher(s)
		if err != nil {
			c.errorf(n, "invalid matcher %s in %s: %s", singleQuote(s), rc.label, matcherHint(s, err))
			continue
		}
		ms = append(ms, m)
		nodes = append(nodes, n)
	}
	if len(ms) == len(rc.Match) { // every matcher is valid

		if first, last, never := c.an.contradiction(ms); never {
			c.warnf(nodes[last], "%s", neverMessage(rc.label, ms, first, last))
		}
	}
	return ms
}

func matcherHint(s string, err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(s, "=="):
		return `== is not an operator; write label="value", label!="value", label=~"regex" or label!~"regex"`
	case strings.HasPrefix(msg, "bad matcher format"):
		return `write label="value", label!="value", label=~"regex" or label!~"regex"`
	case strings.Contains(msg, "unescaped double quote"):
		return `the value holds an unescaped double quote; write it as \" inside the quotes`
	case strings.Contains(msg, "UTF-8"):
		return "the value is not valid UTF-8"
	}
	// Show the expression as written, not as Alertmanager anchors it.
	if i := strings.Index(msg, "`^(?:"); i >= 0 && strings.HasSuffix(msg, ")$`") {
		msg = msg[:i] + "`" + msg[i+len("`^(?:"):len(msg)-len(")$`")] + "`"
	}
	return msg + "; fix the regular expression (Go RE2 syntax; it must match the whole value)"
}

func (c *compiler) target(rc *ruleConfig) (kind v1alpha1.Kind, ns, name *Template) {
	if !rc.has("target") {
		c.missing(rc, "target", "add target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.deployment }}'}")
		return "", nil, nil
	}
	if !rc.ok("target") {
		return "", nil, nil
	}
	t := rc.Target
	kinds := kindNames()
	switch {
	case !rc.has("target.kind"):
		c.missing(rc, "target.kind", "set it to Deployment, StatefulSet or DaemonSet (Pod for evict-pod, CronJob for run-job)")
	case !rc.ok("target.kind"):
	case strings.Contains(t.Kind, "{{"):
		c.errorf(rc.at("target.kind"), "target.kind in %s cannot be a template; write Deployment, StatefulSet or DaemonSet (Pod for evict-pod, CronJob for run-job)", rc.label)
	case !slices.Contains(kinds, t.Kind):
		c.errorf(rc.at("target.kind"), "unknown target.kind %q in %s%s; use Deployment, StatefulSet or DaemonSet (Pod for evict-pod, CronJob for run-job)", t.Kind, rc.label, didYouMean(t.Kind, kinds))
	default:
		kind = v1alpha1.Kind(t.Kind)
	}
	ns = c.template(rc, "target.namespace", t.Namespace, "'{{ .Labels.namespace }}'", "a namespace", validation.IsDNS1123Label)
	name = c.template(rc, "target.name", t.Name, "'{{ .Labels.deployment }}'", "an object name", validation.IsDNS1123Subdomain)
	return kind, ns, name
}

// template compiles the target template at path. A template without
// actions is a fixed name and is validated now rather than per alert.
func (c *compiler) template(rc *ruleConfig, path, text, example, noun string, valid func(string) []string) *Template {
	switch {
	case !rc.has(path):
		c.missing(rc, path, "set it to "+noun+" or a template such as "+example)
		return nil
	case !rc.ok(path):
		return nil
	case strings.TrimSpace(text) == "":
		c.errorf(rc.at(path), "%s in %s is empty; set it to %s or a template such as %s", path, rc.label, noun, example)
		return nil
	}
	n := rc.at(path)
	tmpl, err := texttemplate.New(path).Option("missingkey=error").Parse(text)
	if err != nil {
		c.errorf(n, "invalid template in %s of %s: %s; see https://pkg.go.dev/text/template", path, rc.label, templateError(err, path))
		return nil
	}
	if tmpl.Tree == nil || isText(tmpl.Tree.Root) {
		var b strings.Builder
		_ = tmpl.Execute(&b, nil) // only text: cannot fail
		v := strings.TrimSpace(b.String())
		if msgs := valid(v); len(msgs) > 0 {
			c.errorf(n, "%s %s in %s is not %s: %s", path, shorten(v), rc.label, "a valid "+strings.TrimPrefix(strings.TrimPrefix(noun, "an "), "a "), strings.Join(msgs, "; "))
			return nil
		}
		return &Template{text: text, fixed: true, literal: v}
	}
	ok := true
	alertFields(tmpl.Tree.Root, func(field string) {
		ok = false
		hint := ""
		if m := suggest(field, alertFieldNames()); m != "" {
			hint = " (did you mean ." + m + "?)"
		}
		c.errorf(n, "template in %s of %s uses .%s, which alerts do not have%s; use .Labels.<name>, .Annotations.<name>, .Fingerprint, .Status, .StartsAt, .EndsAt or .GeneratorURL",
			path, rc.label, field, hint)
	})
	if !ok {
		return nil
	}
	if field, key := mapLookup(tmpl.Tree.Root); field != "" {
		return &Template{text: text, field: field, key: key}
	}
	return &Template{text: text, tmpl: tmpl}
}

// mapLookup recognises a template that is only {{ .Labels.x }} or
// {{ .Annotations.x }} and returns "Labels" or "Annotations" and x.
func mapLookup(root *parse.ListNode) (field, key string) {
	if len(root.Nodes) != 1 {
		return "", ""
	}
	action, ok := root.Nodes[0].(*parse.ActionNode)
	if !ok || len(action.Pipe.Decl) > 0 || len(action.Pipe.Cmds) != 1 || len(action.Pipe.Cmds[0].Args) != 1 {
		return "", ""
	}
	f, ok := action.Pipe.Cmds[0].Args[0].(*parse.FieldNode)
	if !ok || len(f.Ident) != 2 || f.Ident[0] != "Labels" && f.Ident[0] != "Annotations" {
		return "", ""
	}
	return f.Ident[0], f.Ident[1]
}

// templateError drops text/template's "template: NAME:LINE: " prefix when
// the template is a single line, so the message reads plainly.
func templateError(err error, name string) string {
	msg := strings.TrimPrefix(err.Error(), "template: "+name+":")
	if line, rest, ok := strings.Cut(msg, ": "); ok {
		if _, err := strconv.Atoi(line); err == nil {
			if line == "1" {
				return rest
			}
			return "line " + line + ": " + rest
		}
	}
	return msg
}

func isText(list *parse.ListNode) bool {
	if list == nil {
		return true
	}
	for _, n := range list.Nodes {
		if n.Type() != parse.NodeText {
			return false
		}
	}
	return true
}

// alertFieldNames lists what a template can use on the alert: the fields of
// github.com/prometheus/alertmanager/template.Alert (a test keeps this list
// in step with the type).
func alertFieldNames() []string {
	return []string{"Status", "Labels", "Annotations", "StartsAt", "EndsAt", "GeneratorURL", "Fingerprint"}
}

// alertFields calls bad for each field a template reads from the alert (its
// top-level dot) that alerts do not have, such as .labels for .Labels.
// Inside with and range the dot is something else, so those bodies are not
// checked.
func alertFields(node parse.Node, bad func(field string)) {
	known := alertFieldNames()
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.ElseList)
		case *parse.TemplateNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n != nil {
				for _, cmd := range n.Cmds {
					walk(cmd)
				}
			}
		case *parse.CommandNode:
			for _, arg := range n.Args {
				walk(arg)
			}
		case *parse.ChainNode:
			walk(n.Node)
		case *parse.FieldNode:
			if !slices.Contains(known, n.Ident[0]) {
				bad(n.Ident[0])
			}
		case *parse.VariableNode:
			if len(n.Ident) > 1 && n.Ident[0] == "$" && !slices.Contains(known, n.Ident[1]) {
				bad(n.Ident[1])
			}
		}
	}
	walk(node)
}

func didYouMean(s string, options []string) string {
	if m := suggest(s, options); m != "" {
		return fmt.Sprintf(" (did you mean %q?)", m)
	}
	return ""
}

func (c *compiler) action(rc *ruleConfig) v1alpha1.Action {
	actions := actionNames()
	switch {
	case !rc.has("action"):
		c.missing(rc, "action", "use restart, scale, rollback, evict-pod or run-job")
	case !rc.ok("action"):
	case rc.Action == actionSequence:
		c.errorf(rc.at("action"), "action sequence in %s: only a rule can be a sequence, not a step; use restart, scale, rollback, evict-pod or run-job", rc.label)
	case !slices.Contains(actions, rc.Action):
		use := "restart, scale, rollback, evict-pod or run-job"
		if rc.depth == 0 && rc.seq == 0 {
			use = "restart, scale, rollback, evict-pod, run-job, or sequence to run several in order"
			actions = append(actions, actionSequence)
		}
		c.errorf(rc.at("action"), "unknown action %q in %s%s; use %s", rc.Action, rc.label, didYouMean(rc.Action, actions), use)
	default:
		return v1alpha1.Action(rc.Action)
	}
	return ""
}

// misplaced reports a parameter block given for another action.
func (c *compiler) misplaced(rc *ruleConfig, block string, action v1alpha1.Action) {
	owner := map[string]v1alpha1.Action{"evict": v1alpha1.ActionEvictPod, "runJob": v1alpha1.ActionRunJob}[block]
	if owner == "" {
		owner = v1alpha1.Action(block)
	}
	c.errorf(rc.keyAt(block), "%s is only used with action: %s, but %s has action: %s; remove %s or change the action", block, owner, rc.label, action, block)
}

func (c *compiler) scale(rc *ruleConfig, action v1alpha1.Action, kind v1alpha1.Kind) *v1alpha1.ScaleParams {
	if action == "" {
		return nil // unknown or missing action, already reported
	}
	if action != v1alpha1.ActionScale {
		if rc.has("scale") {
			c.misplaced(rc, "scale", action)
		}
		return nil
	}
	if kind == v1alpha1.KindDaemonSet {
		c.errorf(rc.at("action"), "%s scales a DaemonSet, which cannot be scaled (it runs one pod per node); use action restart or rollback, or target a Deployment or StatefulSet", rc.label)
	}
	if !rc.has("scale") {
		c.errorf(rc.at("action"), `action scale in %s needs a scale block, e.g. scale: {replicas: "+1", max: 10}`, rc.label)
		return nil
	}
	if !rc.ok("scale") {
		return nil
	}
	cfg := rc.Scale
	sc := &v1alpha1.ScaleParams{}
	ok := true
	switch {
	case !rc.has("scale.replicas"):
		c.missing(rc, "scale.replicas", `use "4" to scale to 4, "+2" or "-1" to scale by, or "x2" or "x1.5" to multiply`)
		ok = false
	case !rc.ok("scale.replicas"):
		ok = false
	default:
		if msg := parseReplicas(strings.TrimSpace(cfg.Replicas), sc); msg != "" {
			c.errorf(rc.at("scale.replicas"), "scale.replicas %q in %s %s", cfg.Replicas, rc.label, msg)
			ok = false
		}
	}
	if cfg.Min != nil {
		switch {
		case *cfg.Min < 0:
			c.errorf(rc.at("scale.min"), "scale.min (%d) in %s must be 0 or more", *cfg.Min, rc.label)
			ok = false
		case *cfg.Min > math.MaxInt32:
			c.errorf(rc.at("scale.min"), "scale.min (%d) in %s is too large; the most is %d", *cfg.Min, rc.label, math.MaxInt32)
			ok = false
		default:
			sc.Min = int32(*cfg.Min)
		}
	}
	if cfg.Max != nil {
		switch {
		case *cfg.Max < 1:
			c.errorf(rc.at("scale.max"), "scale.max (%d) in %s must be at least 1; leave it out for no upper bound", *cfg.Max, rc.label)
			ok = false
		case *cfg.Max > math.MaxInt32:
			c.errorf(rc.at("scale.max"), "scale.max (%d) in %s is too large; the most is %d", *cfg.Max, rc.label, math.MaxInt32)
			ok = false
		default:
			sc.Max = int32(*cfg.Max)
		}
	}
	h := choice(c, rc, "scale.hpa", cfg.HPA, []v1alpha1.HPAMode{v1alpha1.HPARefuse, v1alpha1.HPARaise},
		"refuse or raise; refuse skips a scale of a workload a HorizontalPodAutoscaler scales, raise raises the HPA's minReplicas for hpaFor instead")
	switch {
	case rc.ok("scale.hpa") && h == "": // none of them: reported
		ok = false
	case h == "":
		if rc.ok("scale.hpaFor") {
			c.errorf(rc.keyAt("scale.hpaFor"), "scale.hpaFor in %s is how long a raised HPA minReplicas lasts, but scale.hpa is not raise; remove hpaFor or write hpa: raise", rc.label)
			ok = false
		}
	case h == v1alpha1.HPARefuse:
		sc.HPA = h
		if rc.has("scale.hpaFor") {
			c.errorf(rc.keyAt("scale.hpaFor"), "scale.hpaFor in %s is how long a raised HPA minReplicas lasts, but scale.hpa is refuse; remove hpaFor or write hpa: raise", rc.label)
			ok = false
		}
	case h == v1alpha1.HPARaise:
		sc.HPA = h
		switch {
		case !rc.has("scale.hpaFor"):
			c.missing(rc, "scale.hpaFor", "say how long the HPA's minReplicas stays raised, such as hpaFor: 30m")
			ok = false
		case rc.ok("scale.hpaFor"):
			d, dok := c.duration(rc, "scale.hpaFor", cfg.HPAFor)
			switch {
			case !dok:
				ok = false
			case d < minVerifyWindow || d > maxVerifyWindow:
				c.errorf(rc.at("scale.hpaFor"), "scale.hpaFor %s in %s is out of range; use between %s and %s", cfg.HPAFor, rc.label, humanDuration(minVerifyWindow), humanDuration(maxVerifyWindow))
				ok = false
			default:
				sc.HPAFor = &metav1.Duration{Duration: d}
			}
		}
	}
	if !ok {
		return nil
	}
	switch {
	case sc.Max > 0 && sc.Max < sc.Min:
		c.errorf(rc.at("scale.max"), "scale.max (%d) is below scale.min (%d) in %s; raise scale.max or lower scale.min", sc.Max, sc.Min, rc.label)
	case sc.Op == v1alpha1.ScaleTo && sc.Max > 0 && sc.N > sc.Max:
		c.errorf(rc.at("scale.replicas"), "scale.replicas (%d) is above scale.max (%d) in %s; lower scale.replicas or raise scale.max", sc.N, sc.Max, rc.label)
	case sc.Op == v1alpha1.ScaleTo && sc.N < sc.Min:
		c.errorf(rc.at("scale.replicas"), "scale.replicas (%d) is below scale.min (%d) in %s; raise scale.replicas or lower scale.min", sc.N, sc.Min, rc.label)
	case !rc.has("scale.max") && (sc.Op == v1alpha1.ScaleBy && sc.N > 0 || sc.Op == v1alpha1.ScaleMultiply && factor(sc) > 1):
		c.warnf(rc.at("scale"), "scale.max is not set in %s, so repeated alerts can add replicas without limit; set scale.max", rc.label)
	case !rc.has("scale.min") && sc.Op == v1alpha1.ScaleBy && sc.N < 0:
		c.warnf(rc.at("scale"), "scale.min is not set in %s, so repeated alerts can scale down to 0 replicas; set scale.min", rc.label)
	}
	return sc
}

// parseReplicas reads a scale.replicas spec into sc, or says what is wrong
// with it (as the end of a sentence that starts with the spec).
func parseReplicas(s string, sc *v1alpha1.ScaleParams) string {
	const usage = `; use "4" to scale to 4, "+2" or "-1" to scale by, or "x2" or "x1.5" to multiply`
	if s == "" {
		return "is empty" + usage
	}
	switch {
	case s[0] == 'x':
		num := s[1:]
		whole, frac, _ := strings.Cut(num, ".")
		if !isDigits(whole) || strings.Contains(num, ".") && !isDigits(frac) {
			return "is not a valid factor" + usage
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || math.IsInf(f, 0) {
			return "is not a valid factor" + usage
		}
		if f == 0 {
			return "multiplies by 0; the factor must be greater than 0 (to scale to zero, use \"0\")"
		}
		if f == 1 {
			return "multiplies by 1, which changes nothing; use a factor other than 1"
		}
		sc.Op, sc.Factor = v1alpha1.ScaleMultiply, v1alpha1.FactorOf(f)
	case s[0] == '+' || s[0] == '-':
		if !isDigits(s[1:]) {
			return "is not a valid step" + usage
		}
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return fmt.Sprintf("is out of range; replicas are at most %d", math.MaxInt32)
		}
		if n == 0 {
			return "changes nothing; use a step other than 0"
		}
		sc.Op, sc.N = v1alpha1.ScaleBy, int32(n)
	case isDigits(s):
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return fmt.Sprintf("is out of range; replicas are at most %d", math.MaxInt32)
		}
		sc.Op, sc.N = v1alpha1.ScaleTo, int32(n)
	default:
		return "is not valid" + usage
	}
	return ""
}

// factor is the multiplier of a scale, 0 when it has none that reads.
func factor(sc *v1alpha1.ScaleParams) float64 {
	f, err := sc.Factor.Float64()
	if err != nil {
		return 0
	}
	return f
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func (c *compiler) rollback(rc *ruleConfig, action v1alpha1.Action) *v1alpha1.RollbackParams {
	if action == "" {
		return nil
	}
	if action != v1alpha1.ActionRollback {
		if rc.has("rollback") {
			c.misplaced(rc, "rollback", action)
		}
		return nil
	}
	rb := &v1alpha1.RollbackParams{}
	if rc.Rollback != nil && rc.Rollback.ToRevision != nil {
		if rev := *rc.Rollback.ToRevision; rev < 1 {
			c.errorf(rc.at("rollback.toRevision"), "rollback.toRevision (%d) in %s must be 1 or more; leave it out to roll back to the previous revision", rev, rc.label)
		} else {
			rb.ToRevision = rev
		}
	}
	return rb
}

// actionKind checks that the action acts on the target's kind: evict-pod
// on a Pod, run-job on a CronJob, the others on a workload. A step acts
// on its rule's target, so the same holds for it.
func (c *compiler) actionKind(rc *ruleConfig, action v1alpha1.Action, kind v1alpha1.Kind) {
	if action == "" || kind == "" || action.ValidateKind(kind) == nil {
		return
	}
	hint := map[v1alpha1.Action]string{
		v1alpha1.ActionEvictPod: "target: {kind: Pod, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.pod }}'}",
		v1alpha1.ActionRunJob:   "target: {kind: CronJob, namespace: NAMESPACE, name: CRONJOB}",
	}[action]
	if hint == "" {
		hint = "a target of kind Deployment, StatefulSet or DaemonSet"
	}
	where := "the target"
	if rc.depth > 0 || rc.seq > 0 && !rc.has("target") {
		where = "the rule's target"
	}
	c.errorf(rc.at("action"), "action %s in %s cannot act on %s, a %s; it needs %s", action, rc.label, where, kind, hint)
}

// evict compiles the evict block of an evict-pod action (nil: the
// defaults, a controller required and no minAvailable guard).
func (c *compiler) evict(rc *ruleConfig, action v1alpha1.Action) *v1alpha1.EvictParams {
	if action == "" {
		return nil
	}
	if action != v1alpha1.ActionEvictPod {
		if rc.has("evict") {
			c.misplaced(rc, "evict", action)
		}
		return nil
	}
	cfg := rc.Evict
	if cfg == nil || !rc.ok("evict") {
		return nil
	}
	ev := &v1alpha1.EvictParams{}
	if cfg.AllowUnowned != nil {
		ev.AllowUnowned = *cfg.AllowUnowned
	}
	if m := cfg.MinAvailable; m != nil {
		switch {
		case *m < 0:
			c.errorf(rc.at("evict.minAvailable"), "evict.minAvailable (%d) in %s must be 0 or more; it is how many other ready pods the owning workload must keep", *m, rc.label)
		case *m > math.MaxInt32:
			c.errorf(rc.at("evict.minAvailable"), "evict.minAvailable (%d) in %s is too large; the most is %d", *m, rc.label, math.MaxInt32)
		default:
			ev.MinAvailable = int32(*m)
		}
	}
	return ev
}

// runJob compiles the runJob block of a run-job action into its checks:
// wait: true waits for the Job (the rollout check, runJob.timeout long),
// whose success or failure then ends the record. vs is the verify block,
// which for run-job may only hold alertResolved.
func (c *compiler) runJob(rc *ruleConfig, action v1alpha1.Action, vs *v1alpha1.VerifySpec) *v1alpha1.VerifySpec {
	if action == "" {
		return vs
	}
	if action != v1alpha1.ActionRunJob {
		if rc.has("runJob") {
			c.misplaced(rc, "runJob", action)
		}
		return vs
	}
	if rc.has("verify.rollout") || rc.has("verify.timeout") {
		c.errorf(rc.keyAt("verify"), "verify.rollout and verify.timeout are not for action run-job in %s; write runJob: {wait: true, timeout: 30m} to wait for the Job", rc.label)
	}
	cfg := rc.RunJob
	if cfg == nil || !rc.ok("runJob") {
		return vs
	}
	wait := cfg.Wait != nil && *cfg.Wait
	if !wait {
		if rc.has("runJob.timeout") {
			c.errorf(rc.keyAt("runJob.timeout"), "runJob.timeout in %s is how long to wait for the Job, but runJob.wait is not true; add wait: true or remove the timeout", rc.label)
		}
		return vs
	}
	if !rc.ok("runJob.timeout") && rc.has("runJob.timeout") {
		return vs
	}
	d, ok := c.duration(rc, "runJob.timeout", cfg.Timeout)
	if !ok {
		return vs
	}
	if d < minVerifyWindow || d > maxVerifyWindow {
		c.errorf(rc.at("runJob.timeout"), "runJob.timeout %s in %s is out of range; use between %s and %s", cfg.Timeout, rc.label, humanDuration(minVerifyWindow), humanDuration(maxVerifyWindow))
		return vs
	}
	if vs == nil {
		vs = &v1alpha1.VerifySpec{}
	}
	vs.Rollout = &v1alpha1.RolloutCheck{Timeout: metav1.Duration{Duration: d}}
	return vs
}

func (c *compiler) cooldown(rc *ruleConfig) time.Duration {
	if !rc.ok("cooldown") {
		return 0
	}
	d, ok := c.duration(rc, "cooldown", rc.Cooldown)
	if ok && d > maxCooldown {
		c.errorf(rc.at("cooldown"), "cooldown %s in %s is longer than %s; use %s or less", rc.Cooldown, rc.label, humanDuration(maxCooldown), humanDuration(maxCooldown))
	}
	return d
}

// budget validates maxPerWindow: counts of at least 1, a window up to a day.
func (c *compiler) budget(rc *ruleConfig) Budget {
	b := rc.Budget
	if b == nil || rc.bad("maxPerWindow") {
		return Budget{}
	}
	out := Budget{Window: defaultBudgetWindow}
	count := func(path string, v *int64) int {
		if v == nil || rc.bad(path) {
			return 0
		}
		if *v < 1 || *v > 1000 {
			c.errorf(rc.at(path), "%s in %s is %d; use a count from 1 to 1000 (leave it out for no limit)", path, rc.label, *v)
			return 0
		}
		return int(*v)
	}
	out.PerRule = count("maxPerWindow.perRule", b.PerRule)
	out.PerTarget = count("maxPerWindow.perTarget", b.PerTarget)
	if b.PerRule == nil && b.PerTarget == nil && !rc.typos["maxPerWindow.perRule"] && !rc.typos["maxPerWindow.perTarget"] {
		c.errorf(rc.at("maxPerWindow"), "maxPerWindow in %s sets no limit; add perRule, perTarget or both, e.g. maxPerWindow: {perTarget: 3, window: 1h}", rc.label)
	}
	if rc.ok("maxPerWindow.window") {
		if d, ok := c.duration(rc, "maxPerWindow.window", b.Window); ok {
			if d > maxBudgetWindow {
				c.errorf(rc.at("maxPerWindow.window"), "maxPerWindow.window %s in %s is longer than %s; use %s or less", b.Window, rc.label, humanDuration(maxBudgetWindow), humanDuration(maxBudgetWindow))
			} else {
				out.Window = d
			}
		}
	}
	return out
}

// humanDuration writes a limit the way the format's documentation does:
// 7d, 24h, 1m.
func humanDuration(d time.Duration) string {
	if d > 24*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	if d >= time.Hour && d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return model.Duration(d).String()
}

// duration parses a Prometheus duration (30s, 5m, 1h30m, 1d).
func (c *compiler) duration(rc *ruleConfig, path, s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		c.errorf(rc.at(path), "%s in %s is empty; remove it or set a duration such as 30m", path, rc.label)
		return 0, false
	}
	d, err := model.ParseDuration(s)
	if err != nil {
		c.errorf(rc.at(path), "invalid %s %q in %s; use a duration with a unit, such as 30s, 10m, 2h or 1d", path, s, rc.label)
		return 0, false
	}
	return time.Duration(d), true
}

func (c *compiler) approval(rc *ruleConfig) Approval {
	cfg := rc.Approval
	if cfg == nil || !rc.ok("approval") {
		return Approval{}
	}
	a := Approval{Required: cfg.Required != nil && *cfg.Required, Channel: cfg.Channel}
	if rc.ok("approval.channel") && strings.TrimSpace(cfg.Channel) == "" {
		c.errorf(rc.at("approval.channel"), "approval.channel in %s is empty; set the Slack channel ID (such as C0123456) or leave it out", rc.label)
	}
	a.Users = c.slackIDs(rc, "approval.approvers.users", cfg.Approvers.Users, "UW", "a Slack user ID; use the member ID (such as U0123ABCD) from the user's Slack profile")
	a.Groups = c.slackIDs(rc, "approval.approvers.groups", cfg.Approvers.Groups, "S", "a Slack user group ID; use the group ID (such as S0456EFGH)")
	if a.Required && len(cfg.Approvers.Users)+len(cfg.Approvers.Groups) == 0 &&
		!rc.bad("approval.approvers") && !rc.bad("approval.approvers.users") && !rc.bad("approval.approvers.groups") &&
		!rc.typos["approval.approvers"] && !rc.typos["approval.approvers.users"] && !rc.typos["approval.approvers.groups"] {
		implied := ""
		if !rc.has("approval.required") {
			implied = " (an approval block means approval.required: true unless it says false)"
		}
		c.errorf(rc.keyAt("approval.required"), "%s requires approval%s but names no approvers; add approval.approvers.users (Slack user IDs such as U0123ABCD) or approval.approvers.groups (user group IDs such as S0456EFGH)", rc.label, implied)
	}
	if !rc.bad("approval.timeout") { // set by applyDefaults when left out
		if d, ok := c.duration(rc, "approval.timeout", cfg.Timeout); ok {
			if d < minApprovalTimeout || d > maxApprovalTimeout {
				c.errorf(rc.at("approval.timeout"), "approval.timeout %s in %s is out of range; use between %s and %s", cfg.Timeout, rc.label, humanDuration(minApprovalTimeout), humanDuration(maxApprovalTimeout))
			}
			a.Timeout = d
		}
	}
	return a
}

// verify compiles the verify block (filled in by applyDefaults: the
// rollout checked within 5m unless the rule says otherwise).
func (c *compiler) verify(rc *ruleConfig) *v1alpha1.VerifySpec {
	cfg := rc.Verify
	if cfg == nil || rc.bad("verify") {
		return nil
	}
	window := func(path, text string) (time.Duration, bool) {
		d, ok := c.duration(rc, path, text)
		if ok && (d < minVerifyWindow || d > maxVerifyWindow) {
			c.errorf(rc.at(path), "%s %s in %s is out of range; use between %s and %s", path, text, rc.label, humanDuration(minVerifyWindow), humanDuration(maxVerifyWindow))
			return 0, false
		}
		return d, ok
	}
	vs := &v1alpha1.VerifySpec{}
	rollout := cfg.Rollout != nil && *cfg.Rollout
	if !rc.bad("verify.timeout") {
		if d, ok := window("verify.timeout", cfg.Timeout); ok && rollout {
			vs.Rollout = &v1alpha1.RolloutCheck{Timeout: metav1.Duration{Duration: d}}
		}
	}
	if rc.ok("verify.rollout") && !rollout && rc.has("verify.timeout") {
		c.errorf(rc.keyAt("verify.timeout"), "verify.timeout in %s is the rollout's deadline, but verify.rollout is false; remove the timeout or the rollout: false", rc.label)
	}
	if a := cfg.AlertResolved; a != nil && rc.ok("verify.alertResolved") {
		switch {
		case !rc.has("verify.alertResolved.within"):
			c.missing(rc, "verify.alertResolved.within", "say how long the alert may take to resolve after the action, such as within: 15m")
		case rc.ok("verify.alertResolved.within"):
			if d, ok := window("verify.alertResolved.within", a.Within); ok {
				vs.AlertResolved = &v1alpha1.AlertResolvedCheck{Within: metav1.Duration{Duration: d}}
			}
		}
	}
	if vs.Rollout == nil && vs.AlertResolved == nil {
		return nil
	}
	return vs
}

// silence checks silence: true: a silence lasts the rollout's check, so it
// needs one; and it would mute the resolved notification that
// verify.alertResolved waits for, so the two do not go together.
func (c *compiler) silence(rc *ruleConfig, v *v1alpha1.VerifySpec) bool {
	if !rc.Silence || !rc.ok("silence") || rc.bad("verify") {
		return false
	}
	switch {
	case v != nil && v.AlertResolved != nil:
		c.errorf(rc.at("silence"), "silence in %s would mute the resolved notification that verify.alertResolved waits for; remove one of them", rc.label)
	case v == nil || v.Rollout == nil:
		c.errorf(rc.at("silence"), "silence in %s lasts while the rollout is verified, but verify.rollout is false; remove silence or the rollout: false", rc.label)
	default:
		return true
	}
	return false
}

// slackIDs checks a list of Slack IDs whose first letter is one of prefixes.
func (c *compiler) slackIDs(rc *ruleConfig, path string, ids []string, prefixes, want string) []string {
	var out []string
	for i, id := range ids {
		item := fmt.Sprintf("%s[%d]", path, i)
		if !rc.ok(item) {
			continue
		}
		if !isSlackID(id, prefixes) {
			c.errorf(rc.at(item), "%s %q in %s is not %s", item, id, rc.label, want)
			continue
		}
		out = append(out, id)
	}
	return out
}

func isSlackID(s, prefixes string) bool {
	if len(s) < 2 || !strings.ContainsRune(prefixes, rune(s[0])) {
		return false
	}
	for _, r := range s[1:] {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}
