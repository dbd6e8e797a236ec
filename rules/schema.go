package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// The JSON Schema of a rule file is generated from the YAML shapes in
// config.go: every exported field becomes a property, named by its yaml
// tag and typed by its Go type, so a field cannot be added to the format
// without appearing here. What the types cannot say (meaning, enums,
// patterns, limits) comes from schemaFields, keyed by the field's path, and
// from the same constants validation uses. Tests check that every field has
// its entry, that the fields at each level are the ones the decoder
// accepts, and that docs/rules.schema.json is what Schema returns.

// SchemaID is the $id of the rule file schema.
const SchemaID = "https://github.com/alertmedic/alertmedic/blob/main/docs/rules.schema.json"

// kindNames and actionNames are the workload kinds and actions a rule can
// use, for validation, messages and the schema alike.
func kindNames() []string {
	var out []string
	for _, k := range v1alpha1.Kinds() {
		out = append(out, string(k))
	}
	return out
}

func actionNames() []string {
	var out []string
	for _, a := range v1alpha1.Actions() {
		out = append(out, string(a))
	}
	return out
}

// jsonSchema is the subset of JSON Schema (draft-07) the rule file schema
// uses. Field order is output order.
type jsonSchema struct {
	Schema               string                 `json:"$schema,omitempty"`
	ID                   string                 `json:"$id,omitempty"`
	Title                string                 `json:"title,omitempty"`
	Description          string                 `json:"description,omitempty"`
	Type                 any                    `json:"type,omitempty"` // a name or a list of names
	Const                string                 `json:"const,omitempty"`
	Enum                 []string               `json:"enum,omitempty"`
	Pattern              string                 `json:"pattern,omitempty"`
	MinLength            *int                   `json:"minLength,omitempty"`
	MaxLength            *int                   `json:"maxLength,omitempty"`
	Minimum              *int64                 `json:"minimum,omitempty"`
	Maximum              *int64                 `json:"maximum,omitempty"`
	Default              any                    `json:"default,omitempty"`
	Examples             []any                  `json:"examples,omitempty"`
	Items                *jsonSchema            `json:"items,omitempty"`
	MinItems             *int                   `json:"minItems,omitempty"`
	MaxItems             *int                   `json:"maxItems,omitempty"`
	Properties           map[string]*jsonSchema `json:"properties,omitempty"`
	Required             []string               `json:"required,omitempty"`
	AdditionalProperties *bool                  `json:"additionalProperties,omitempty"`
	Ref                  string                 `json:"$ref,omitempty"`
	Definitions          map[string]*jsonSchema `json:"definitions,omitempty"`
	AllOf                []*jsonSchema          `json:"allOf,omitempty"`
	If                   *jsonSchema            `json:"if,omitempty"`
	Then                 *jsonSchema            `json:"then,omitempty"`
	Else                 *jsonSchema            `json:"else,omitempty"`
	Not                  *jsonSchema            `json:"not,omitempty"`
}

// schemaField is what the schema says of one field beyond its type.
type schemaField struct {
	doc       string
	required  bool
	enum      []string
	pattern   string
	minLength *int
	maxLength *int
	minimum   *int64
	maximum   *int64
	minItems  *int
	maxItems  *int
	def       any
	examples  []any
	itemDoc   string // for lists: what each item is
	itemPat   string // for lists: the pattern of each item
	orInteger bool   // a string field YAML may also write as a number
}

func ptr[T any](v T) *T { return &v }

// Patterns of values the schema can check; validation says the same in
// compile.go.
const (
	namePattern     = `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	durationPattern = `^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$`
	replicasPattern = `^\s*([0-9]+|[+-][0-9]+|x[0-9]+(\.[0-9]+)?)\s*$`
	matcherPattern  = `^\s*\S.*$`
	userPattern     = `^[UW][A-Z0-9]+$`
	groupPattern    = `^S[A-Z0-9]+$`
)

// schemaFields documents every field of the rule file, by path.
func schemaFields() map[string]schemaField {
	templateDoc := "A Go template over the alert (.Labels.x, .Annotations.x, .Fingerprint, .StartsAt, ...), or a fixed %s. " +
		"An alert that lacks a label the template uses, or renders to an invalid name, is not acted on."
	return map[string]schemaField{
		"rules": {doc: "The remediation rules, evaluated in order for each firing alert: the first that matches acts, and later ones only when it says continue: true."},
		"rules[].name": {doc: "Unique name of the rule across every loaded rule file: lowercase letters, digits and '-'.", required: true,
			pattern: namePattern, minLength: ptr(1), maxLength: ptr(maxRuleName), examples: []any{"restart-crashlooping"}},
		"rules[].match": {doc: "Alertmanager matchers (label=\"value\", label!=\"value\", label=~\"regex\", label!~\"regex\"; regexes are anchored), one per item; all must hold on the alert's labels.",
			required: true, minItems: ptr(1), itemDoc: "One Alertmanager matcher, such as alertname=\"KubePodCrashLooping\".", itemPat: matcherPattern,
			examples: []any{[]any{`alertname="KubePodCrashLooping"`, `namespace=~"shop|payments"`}}},
		"rules[].target":           {doc: "The object to act on, rendered from the alert: a workload, the Pod for evict-pod, the CronJob for run-job. Required, but for action: sequence, where it is the target of the steps that name none."},
		"rules[].target.kind":      {doc: "The kind of object: Deployment, StatefulSet or DaemonSet for restart, scale and rollback; Pod for evict-pod; CronJob for run-job.", required: true, enum: kindNames()},
		"rules[].target.namespace": {doc: fmt.Sprintf(templateDoc, "namespace"), required: true, minLength: ptr(1), examples: []any{"{{ .Labels.namespace }}"}},
		"rules[].target.name":      {doc: fmt.Sprintf(templateDoc, "object name"), required: true, minLength: ptr(1), examples: []any{"{{ .Labels.deployment }}"}},
		"rules[].action":           {doc: "What to do: restart (kubectl rollout restart), scale (through the scale subresource), rollback (kubectl rollout undo), evict-pod (the Eviction API, as kubectl drain: PodDisruptionBudgets hold), run-job (a Job from a CronJob, as kubectl create job --from=cronjob/NAME), or sequence (the steps of sequence, in order).", required: true, enum: append(actionNames(), actionSequence)},
		"step.action":              {doc: "What to do: restart, scale, rollback, evict-pod or run-job.", required: true, enum: actionNames()},
		"sequenceStep.action":      {doc: "What this step does: restart, scale, rollback, evict-pod or run-job.", required: true, enum: actionNames()},
		"sequenceStep.target":      {doc: "The object this step acts on, rendered from the alert; unset, the rule's target."},
		"rules[].sequence": {doc: fmt.Sprintf("The steps of action: sequence, run in order, each as its own record: a step runs once the one before it succeeded (its checks passed), and the sequence stops at the first step that does not. The rule's approval covers the whole sequence and is asked once, showing every step; the rule's cooldown and budgets admit the sequence when it starts, and do not hold back its later steps. At most %d steps.", v1alpha1.MaxSequenceSteps),
			minItems: ptr(2), maxItems: ptr(v1alpha1.MaxSequenceSteps)},
		"rules[].scale": {doc: "The parameters of action: scale, and only of it."},
		"rules[].scale.replicas": {doc: `"4" scales to 4, "+2" or "-1" scales by, "x2" or "x1.5" multiplies (rounded up).`, required: true,
			pattern: replicasPattern, orInteger: true, examples: []any{"+1", "x2", "4"}},
		"rules[].scale.min": {doc: "The fewest replicas the result may have.", minimum: ptr[int64](0), def: 0},
		"rules[].scale.max": {doc: "The most replicas the result may have; unset means unbounded (and check warns when the rule scales up).", minimum: ptr[int64](1)},
		"rules[].scale.hpa": {doc: "What to do when a HorizontalPodAutoscaler scales the target, which would undo a direct scale within seconds: refuse (the default: Skipped, reason HPAManaged) or raise (raise the HPA's minReplicas to the count asked, within its maxReplicas and scale.max, for hpaFor, then put it back).",
			enum: []string{string(v1alpha1.HPARefuse), string(v1alpha1.HPARaise)}},
		"rules[].scale.hpaFor": {doc: fmt.Sprintf("With hpa: raise, how long the HPA's minReplicas stays raised: a duration between %s and %s.", humanDuration(minVerifyWindow), humanDuration(maxVerifyWindow)),
			pattern: durationPattern, minLength: ptr(1), examples: []any{"30m"}},
		"rules[].rollback":            {doc: "The parameters of action: rollback, and only of it."},
		"rules[].rollback.toRevision": {doc: "The revision to roll back to; unset means the previous one.", minimum: ptr[int64](1)},
		"rules[].evict":               {doc: "The parameters of action: evict-pod, and only of it."},
		"rules[].evict.allowUnowned":  {doc: "Evict a pod that no controller owns (nothing will create it again); refused (Skipped, Unowned) otherwise.", def: false},
		"rules[].evict.minAvailable":  {doc: "How many other ready pods the owning workload must keep; an eviction that would leave fewer is Skipped as WouldGoBelowMinAvailable. 0: no guard beyond the pod's PodDisruptionBudgets, which always hold.", minimum: ptr[int64](0), def: 0},
		"rules[].runJob":              {doc: "The parameters of action: run-job, and only of it."},
		"rules[].runJob.wait":         {doc: "Wait for the Job: its success is the record's (Succeeded, Verified), its failure too (Failed, JobFailed, with its failed pods' reasons). Without it the record is Succeeded once the Job is created.", def: false},
		"rules[].runJob.timeout": {doc: fmt.Sprintf("How long the Job may take when wait is true: a duration between %s and %s.", humanDuration(minVerifyWindow), humanDuration(maxVerifyWindow)),
			pattern: durationPattern, minLength: ptr(1), def: humanDuration(defaultJobTimeout)},
		"rules[].continue": {doc: "Evaluate later rules too when this one matches.", def: false},
		"rules[].cooldown": {doc: fmt.Sprintf("A Prometheus duration (30s, 10m, 2h, 1d) of at most %s.", humanDuration(maxCooldown)),
			pattern: durationPattern, minLength: ptr(1), examples: []any{"30m"}},
		"rules[].maxPerWindow":           {doc: "Budgets: how many actions may run within window, counting this rule's actions on any target (perRule) and actions on one target by any rule (perTarget). Past a budget the action is skipped with the reason."},
		"rules[].maxPerWindow.perRule":   {doc: "The most actions this rule may take within the window, on all targets together.", minimum: ptr[int64](1), maximum: ptr[int64](1000)},
		"rules[].maxPerWindow.perTarget": {doc: "The most actions on one target within the window, whichever rule takes them.", minimum: ptr[int64](1), maximum: ptr[int64](1000)},
		"rules[].maxPerWindow.window": {doc: fmt.Sprintf("A duration of at most %s.", humanDuration(maxBudgetWindow)),
			pattern: durationPattern, minLength: ptr(1), def: humanDuration(defaultBudgetWindow)},
		"rules[].approval":                  {doc: "Whether a person must approve the action in Slack first. A block without required means required: true; write approval: {required: false} to run a risky action without approval on purpose."},
		"rules[].approval.required":         {doc: "Whether approval is required; true when left out of an approval block."},
		"rules[].approval.channel":          {doc: "The Slack channel ID to ask in, such as C0123456.", minLength: ptr(1)},
		"rules[].approval.approvers":        {doc: "Who may approve; required when approval is required."},
		"rules[].approval.approvers.users":  {doc: "Slack member IDs.", itemDoc: "A Slack member ID, such as U0123ABCD.", itemPat: userPattern},
		"rules[].approval.approvers.groups": {doc: "Slack user group IDs.", itemDoc: "A Slack user group ID, such as S0456EFGH.", itemPat: groupPattern},
		"rules[].approval.timeout": {doc: fmt.Sprintf("How long to wait for a decision: a duration between %s and %s.", humanDuration(minApprovalTimeout), humanDuration(maxApprovalTimeout)),
			pattern: durationPattern, minLength: ptr(1), def: humanDuration(defaultApprovalTimeout)},
		"rules[].verify":         {doc: "What must be seen after the action succeeded before its record is Succeeded (Verifying until then; Failed when a check is not seen by its deadline). Every action's rollout is checked by default; write verify: {rollout: false} to end the record when the API call succeeds."},
		"rules[].verify.rollout": {doc: "Wait for the target to converge as kubectl rollout status says: the latest spec observed, every replica updated and available. For evict-pod, the workload that owned the pod. Not for run-job, which waits with runJob.wait.", def: true},
		"rules[].verify.timeout": {doc: fmt.Sprintf("How long the rollout may take after the action: a duration between %s and %s.", humanDuration(minVerifyWindow), humanDuration(maxVerifyWindow)),
			pattern: durationPattern, minLength: ptr(1), def: humanDuration(defaultVerifyTimeout)},
		"rules[].silence": {doc: "Silence the alert in Alertmanager (its labels exactly; serve --alertmanager-url) while the rollout is verified: the silence ends at the rollout check's deadline at the latest and is expired as soon as the record ends. Needs verify.rollout and no verify.alertResolved, whose resolved notification a silence would mute.", def: false},
		"rules[].notify": {doc: "Which of the rule's records are told in Slack when Slack is configured (a record waiting for approval always is): all, every record, in one message updated through its life; failures, only records that end Failed; none, no other.",
			enum: []string{string(v1alpha1.NotifyAll), string(v1alpha1.NotifyFailures), string(v1alpha1.NotifyNone)}, def: string(v1alpha1.NotifyAll)},
		"rules[].gitops": {doc: "What to do when Argo CD or Flux manages the target (its tracking annotation or labels): refuse (Skipped, reason GitOpsManaged) or allow (act; configure the GitOps tool to tolerate the change first). Unset: serve's --gitops, else refuse for scale and rollback, allow for restart.",
			enum: []string{string(v1alpha1.GitOpsRefuse), string(v1alpha1.GitOpsAllow)}},
		"rules[].onFailure":            {doc: fmt.Sprintf("The escalation: what to do on the same target when this action fails (its API call fails, or a verify check does not pass in time), as a new record linked to this one. It has its own action, parameters, approval and checks, and may have its own onFailure, at most %d steps deep. The rule's cooldown does not hold it back (the failed action it answers is what the cooldown is about), but it counts in the budgets and the circuit breaker like any action.", v1alpha1.MaxEscalations)},
		"rules[].verify.alertResolved": {doc: "Wait for a resolved notification of the alert's episode."},
		"rules[].verify.alertResolved.within": {doc: fmt.Sprintf("How long the alert may take to resolve after the action: a duration between %s and %s.", humanDuration(minVerifyWindow), humanDuration(maxVerifyWindow)),
			required: true, pattern: durationPattern, minLength: ptr(1), examples: []any{"15m"}},
	}
}

// Schema returns the JSON Schema (draft-07) of a rule file, as indented
// JSON ending in a newline.
func Schema() []byte {
	fields := schemaFields()
	s := schemaOf(reflect.TypeFor[fileConfig](), "", fields)
	s.Schema = "http://json-schema.org/draft-07/schema#"
	s.ID = SchemaID
	s.Title = "alertmedic rule file"
	s.Description = "Remediation rules for alertmedic: which Alertmanager alerts restart, scale or roll back which Kubernetes workloads. " +
		"Generated by 'alertmedic schema'; 'alertmedic check' validates more than this schema can (templates, regexes, bounds)."
	rule := s.Properties["rules"].Items
	step := schemaOf(reflect.TypeFor[ruleConfig](), "step", fields)
	step.Description = "An escalation: what to do on the rule's target when the action before it fails (ends Failed: its API call failed, or a verify check did not pass in time)."
	seq := schemaOf(reflect.TypeFor[ruleConfig](), "sequenceStep", fields)
	seq.Description = "A step of a sequence: an action on its own target (the rule's when it names none), with its own parameters and checks, run when the step before it succeeded."
	s.Definitions = map[string]*jsonSchema{"step": step, "sequenceStep": seq}
	// A rule names its target, but a sequence may leave it to its steps.
	rule.AllOf = append(rule.AllOf, &jsonSchema{
		If:   &jsonSchema{Properties: map[string]*jsonSchema{"action": {Const: actionSequence}}, Required: []string{"action"}},
		Then: &jsonSchema{Required: []string{"sequence"}},
		Else: &jsonSchema{Required: []string{"target"}},
	})
	// A parameter block goes with its action, and only with it.
	for _, r := range []*jsonSchema{rule, step, seq} {
		for _, block := range []string{"scale", "rollback", "evict", "runJob"} {
			action := map[string]string{"evict": string(v1alpha1.ActionEvictPod), "runJob": string(v1alpha1.ActionRunJob)}[block]
			if action == "" {
				action = block
			}
			r.AllOf = append(r.AllOf, &jsonSchema{
				If:   &jsonSchema{Properties: map[string]*jsonSchema{"action": {Const: action}}, Required: []string{"action"}},
				Else: &jsonSchema{Not: &jsonSchema{Required: []string{block}}},
			})
		}
		r.AllOf[len(r.AllOf)-4].Then = &jsonSchema{Required: []string{"scale"}}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic(fmt.Sprintf("rules: encoding the schema: %v", err)) // only plain values: cannot fail
	}
	return b.Bytes()
}

// schemaOf describes Go type t found at path.
func schemaOf(t reflect.Type, path string, fields map[string]schemaField) *jsonSchema {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	f, ok := fields[path]
	if rest, isStep := cutDefinition(path); isStep && !ok {
		f = fields["rules[]."+rest] // a step's fields are documented as the rule's
	}
	s := &jsonSchema{Description: f.doc, Enum: f.enum, Pattern: f.pattern, MinLength: f.minLength, MaxLength: f.maxLength,
		Minimum: f.minimum, Maximum: f.maximum, MinItems: f.minItems, MaxItems: f.maxItems, Default: f.def, Examples: f.examples}
	switch t.Kind() {
	case reflect.String:
		s.Type = "string"
		if f.orInteger {
			s.Type = []string{"string", "integer"}
		}
	case reflect.Bool:
		s.Type = "boolean"
	case reflect.Int, reflect.Int32, reflect.Int64:
		s.Type = "integer"
	case reflect.Slice:
		s.Type = "array"
		s.Items = schemaOf(t.Elem(), path+"[]", fields)
		if s.Items.Type == "string" {
			s.Items.Description, s.Items.Pattern = f.itemDoc, f.itemPat
		}
	case reflect.Struct:
		s.Type = "object"
		s.AdditionalProperties = ptr(false)
		s.Properties = map[string]*jsonSchema{}
		for i := range t.NumField() {
			sf := t.Field(i)
			if !sf.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
			if keys, ok := definitionKeys[path]; ok && !slices.Contains(keys, name) {
				continue
			}
			p := name
			if path != "" {
				p = path + "." + name
			}
			if def := sf.Tag.Get("schema"); def != "" {
				s.Properties[name] = &jsonSchema{Ref: "#/definitions/" + def}
				if sf.Type.Kind() == reflect.Slice {
					f := fields[p]
					s.Properties[name] = &jsonSchema{Description: f.doc, Type: "array", MinItems: f.minItems, MaxItems: f.maxItems,
						Items: &jsonSchema{Ref: "#/definitions/" + def}}
				}
				continue
			}
			s.Properties[name] = schemaOf(sf.Type, p, fields)
			if req, isStep := cutDefinition(p); fields[p].required || isStep && !hasEntry(fields, p) && fields["rules[]."+req].required {
				s.Required = append(s.Required, name)
			}
		}
	default:
		panic(fmt.Sprintf("rules: no JSON Schema for %s at %s", t, path)) // a new type in config.go: teach schemaOf
	}
	return s
}

// definitionKeys are the fields of each definition: a step has some of a
// rule's.
var definitionKeys = map[string][]string{"step": stepKeys, "sequenceStep": sequenceStepKeys}

// cutDefinition returns path without the name of the definition it is in
// ("step.action" is "action"), and whether it is in one.
func cutDefinition(path string) (string, bool) {
	for def := range definitionKeys {
		if rest, ok := strings.CutPrefix(path, def+"."); ok {
			return rest, true
		}
	}
	return path, false
}

func hasEntry(fields map[string]schemaField, path string) bool {
	_, ok := fields[path]
	return ok
}

// schemaPaths lists the paths of every field of the rule file shapes, for
// the test that each has its entry in schemaFields.
func schemaPaths() []string {
	var out []string
	var walk func(t reflect.Type, path string)
	walk = func(t reflect.Type, path string) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			if t.Kind() == reflect.Slice {
				path += "[]"
			}
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return
		}
		for i := range t.NumField() {
			sf := t.Field(i)
			if !sf.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
			p := name
			if path != "" {
				p = path + "." + name
			}
			out = append(out, p)
			if sf.Tag.Get("schema") == "" { // a definition refers to itself: its fields are the rule's
				walk(sf.Type, p)
			}
		}
	}
	walk(reflect.TypeFor[fileConfig](), "")
	return out
}
