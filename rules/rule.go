package rules

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/alertmanager/template"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// Rule is one compiled remediation rule. Rules belong to a Set, are shared
// by all its callers and must not be modified.
type Rule struct {
	Name     string
	File     string // file the rule was loaded from
	Line     int    // line of the rule in File
	Matchers labels.Matchers
	Kind     v1alpha1.Kind
	Action   v1alpha1.Action
	Scale    *v1alpha1.ScaleParams    // set when Action is scale, else nil
	Rollback *v1alpha1.RollbackParams // set when Action is rollback, else nil
	Evict    *v1alpha1.EvictParams    // set when Action is evict-pod and the rule has an evict block, else nil
	Continue bool                     // keep evaluating later rules after this one matched
	Cooldown time.Duration
	Budget   Budget   // zero: no per-rule limits beyond the global defaults
	Approval Approval // Required false: the action runs without a human
	// Verify is what must be seen after the action succeeded before its
	// record is Succeeded; nil: nothing (verify: {rollout: false}).
	Verify *v1alpha1.VerifySpec
	// Silence asks for an Alertmanager silence of the alert while the
	// rollout is verified.
	Silence bool
	// Notify says which of the rule's records are told in Slack
	// ("": all).
	Notify v1alpha1.Notify
	// GitOps is the rule's choice for targets Argo CD or Flux manage
	// ("": serve's --gitops, else the action's default).
	GitOps v1alpha1.GitOps
	// OnFailure is the escalation when the action fails (nil: none).
	OnFailure *Step
	// Then is the rest of an action: sequence, in order (nil: the rule
	// is not a sequence). The rule's own Kind, target templates, Action,
	// parameters and checks are those of the sequence's first step;
	// Approval is the whole sequence's.
	Then []*Step

	NamespaceTemplate *Template // renders Target.Namespace
	NameTemplate      *Template // renders Target.Name

	namespaceAt      position // of target.namespace in File, for warnings
	approvalDeclined bool     // approval: {required: false}: the risk is accepted
}

// Step is an onFailure escalation (an action on the rule's target, with
// its own parameters, approval and checks, taken when the action before it
// ends Failed; OnFailure is the next one) or a later step of a sequence (an
// action on its own target, with its own parameters and checks, taken when
// the step before it succeeded; it has no approval or OnFailure).
type Step struct {
	// Kind and the templates are a sequence step's target (the rule's
	// when the step names none); nil templates for an escalation.
	Kind              v1alpha1.Kind
	NamespaceTemplate *Template
	NameTemplate      *Template

	Action    v1alpha1.Action
	Scale     *v1alpha1.ScaleParams
	Rollback  *v1alpha1.RollbackParams
	Evict     *v1alpha1.EvictParams
	Approval  Approval
	Verify    *v1alpha1.VerifySpec
	Silence   bool
	OnFailure *Step

	approvalDeclined bool
}

// step is the n-th step of the rule's sequence, from 1 (the rule's own
// action is the first).
func (r *Rule) step(n int) *Step {
	if n > 1 {
		return r.Then[n-2]
	}
	return &Step{Kind: r.Kind, NamespaceTemplate: r.NamespaceTemplate, NameTemplate: r.NameTemplate,
		Action: r.Action, Scale: r.Scale, Rollback: r.Rollback, Evict: r.Evict, Verify: r.Verify, Silence: r.Silence}
}

// Matches reports whether every matcher of the rule matches the labels.
// A label the alert does not have reads as "", as in Alertmanager.
func (r *Rule) Matches(lbls template.KV) bool {
	for _, m := range r.Matchers {
		if !m.Matches(lbls[m.Name]) {
			return false
		}
	}
	return true
}

// Target renders the rule's target for alert a (of a sequence, its first
// step's). The error is a *RenderError; the Target is only returned when
// it names a valid namespace and object name.
func (r *Rule) Target(a *template.Alert) (v1alpha1.Target, error) {
	return r.target(0, r.Kind, r.NamespaceTemplate, r.NameTemplate, a)
}

// Targets renders the rule's target and, for a sequence, the targets of
// its later steps (Then), for alert a. A sequence is planned whole: if any
// step's target cannot be rendered, none is returned.
func (r *Rule) Targets(a *template.Alert) (v1alpha1.Target, []v1alpha1.Target, error) {
	first, err := r.Target(a)
	if err != nil || len(r.Then) == 0 {
		return first, nil, err
	}
	then := make([]v1alpha1.Target, len(r.Then))
	for i, st := range r.Then {
		if then[i], err = r.target(i+2, st.Kind, st.NamespaceTemplate, st.NameTemplate, a); err != nil {
			return v1alpha1.Target{}, nil, err
		}
	}
	return first, then, nil
}

// target renders one target of the rule: of its sequence's step-th step
// (0: the rule's own).
func (r *Rule) target(step int, kind v1alpha1.Kind, nsT, nameT *Template, a *template.Alert) (v1alpha1.Target, error) {
	ns, err := r.render(step, "namespace", nsT, a, validLabel)
	if err != nil {
		return v1alpha1.Target{}, err
	}
	name, err := r.render(step, "name", nameT, a, validSubdomain)
	if err != nil {
		return v1alpha1.Target{}, err
	}
	return v1alpha1.Target{Kind: kind, Namespace: ns, Name: name}, nil
}

func (r *Rule) render(step int, field string, t *Template, a *template.Alert, valid func(string) []string) (string, error) {
	v, err := t.Execute(a)
	if err != nil {
		return "", &RenderError{Rule: r.Name, Step: step, Field: field, Err: err}
	}
	if v == "" {
		return "", &RenderError{Rule: r.Name, Step: step, Field: field, Err: errors.New("rendered to an empty string")}
	}
	if msgs := valid(v); len(msgs) > 0 {
		return "", &RenderError{Rule: r.Name, Step: step, Field: field, Value: v,
			Err: fmt.Errorf("%s is not a valid Kubernetes %s: %s", shorten(v), field, strings.Join(msgs, "; "))}
	}
	return v, nil
}

// RenderError says why a matching rule's target could not be rendered for
// an alert: a template error (such as a label the alert lacks), an empty
// result, or a result that is not a valid Kubernetes name.
type RenderError struct {
	Rule  string // rule name
	Step  int    // the sequence step whose target it is (from 2); 0: the rule's own
	Field string // "namespace" or "name"
	Value string // the rendered text, when it rendered but is not a valid name
	Err   error
}

func (e *RenderError) Error() string {
	cause := e.Err.Error()
	// Drop text/template's `template: NAME:1:10: executing "NAME" at `.
	if _, after, ok := strings.Cut(cause, `executing "target.`+e.Field+`" at `); ok {
		cause = after
	}
	if e.Step > 0 {
		return fmt.Sprintf("rule %q: cannot render target.%s of sequence step %d: %s", e.Rule, e.Field, e.Step, cause)
	}
	return fmt.Sprintf("rule %q: cannot render target.%s: %s", e.Rule, e.Field, cause)
}

func (e *RenderError) Unwrap() error { return e.Err }

// Template is a compiled target template: Go text/template source run with
// the *template.Alert as data (.Labels.x, .Annotations.x, .Fingerprint,
// .StartsAt, ...), where a missing label is an error. The result is trimmed
// of surrounding space.
type Template struct {
	text    string
	fixed   bool   // text has no actions: literal is the result
	literal string // the result when fixed
	// The common template '{{ .Labels.x }}' (or .Annotations.x) is read
	// straight from the map, without text/template's reflection, and
	// keeps no parsed template (some 1 KB each, two per rule).
	field, key string
	tmpl       *texttemplate.Template // any other template
}

// String returns the template source as written in the rule file.
func (t *Template) String() string { return t.text }

// Execute renders the template for alert a.
func (t *Template) Execute(a *template.Alert) (string, error) {
	if t.fixed {
		return t.literal, nil
	}
	if a == nil {
		return "", errors.New("no alert to render")
	}
	if t.field != "" {
		kv := a.Labels
		if t.field == "Annotations" {
			kv = a.Annotations
		}
		v, ok := kv[t.key]
		if !ok {
			return "", fmt.Errorf("<.%s.%s>: map has no entry for key %q", t.field, t.key, t.key)
		}
		return strings.TrimSpace(v), nil
	}
	var b bytes.Buffer
	if err := t.tmpl.Execute(&b, a); err != nil {
		return "", err
	}
	return strings.TrimSpace(b.String()), nil
}

// shorten quotes s for a message, cut to a readable length.
func shorten(s string) string {
	const n = 64
	if len(s) > n {
		return fmt.Sprintf("%q... (%d characters)", s[:n], len(s))
	}
	return fmt.Sprintf("%q", s)
}
