package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/rules"
	"github.com/alertmedic/alertmedic/webhook"
)

// explainOptions are the flags of 'alertmedic explain' (defined in
// flags.go).
type explainOptions struct {
	rulePaths   stringList
	alert       string
	annotations string
	status      string
	payload     string
}

func (o *explainOptions) validate(extra []string) error {
	usage := func(format string, args ...any) error {
		return usagef("explain: "+format, args...)
	}
	switch {
	case len(extra) > 0:
		return usage("unexpected argument %q; give rule files with --rules", extra[0])
	case len(o.rulePaths) == 0:
		return usage("--rules is required (a rule file or a directory of them)")
	case o.alert == "" && o.payload == "":
		return usage(`give the alert: --alert 'alertname="X",namespace="y"' or --payload FILE`)
	case o.alert != "" && o.payload != "":
		return usage("give --alert or --payload, not both")
	case o.payload != "" && (o.annotations != "" || o.status != "firing"):
		return usage("--annotations and --status go with --alert; a payload carries its own")
	case o.status != "firing" && o.status != "resolved":
		return usage("--status %q: use firing or resolved", o.status)
	}
	return nil
}

func explainCmd(c *commandLine, stdout io.Writer) error {
	o := &c.explain
	if err := o.validate(c.extra); err != nil {
		return err
	}
	var (
		alerts []*template.Alert
		err    error
	)
	if o.payload != "" {
		alerts, err = readPayload(o.payload, os.Stdin)
	} else {
		var a *template.Alert
		a, err = alertFromFlags(o)
		alerts = []*template.Alert{a}
	}
	if err != nil {
		return fmt.Errorf("explain: %w", err)
	}
	set, err := rules.LoadFiles(o.rulePaths...)
	if err != nil {
		return fmt.Errorf("explain: rules do not load (run alertmedic check):\n%w", err)
	}
	for i, a := range alerts {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		if len(alerts) > 1 {
			fmt.Fprintf(stdout, "=== alert %d of %d\n", i+1, len(alerts))
		}
		writeExplanation(stdout, set, a)
	}
	return nil
}

// alertFromFlags builds the alert of --alert, --annotations and --status.
func alertFromFlags(o *explainOptions) (*template.Alert, error) {
	lbls, err := parseLabels("--alert", o.alert)
	if err != nil {
		return nil, err
	}
	a := &template.Alert{Status: o.status, Labels: lbls, Annotations: template.KV{}}
	if o.annotations != "" {
		if a.Annotations, err = parseLabels("--annotations", o.annotations); err != nil {
			return nil, err
		}
	}
	a.Fingerprint = webhook.Fingerprint(a.Labels)
	return a, nil
}

// parseLabels reads name="value" pairs, separated by commas, in
// Alertmanager's matcher syntax (braces optional).
func parseLabels(flagName, s string) (template.KV, error) {
	ms, err := labels.ParseMatchers(s)
	if err != nil {
		return nil, fmt.Errorf(`%s %q: %w; write name="value" pairs separated by commas, such as 'alertname="KubePodCrashLooping",namespace="shop"'`, flagName, s, err)
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf(`%s is empty; give name="value" pairs such as 'alertname="KubePodCrashLooping",namespace="shop"'`, flagName)
	}
	kv := template.KV{}
	for _, m := range ms {
		if m.Type != labels.MatchEqual {
			return nil, fmt.Errorf(`%s: %s is a matcher, not a label; an alert has values: write %s="value"`, flagName, m, m.Name)
		}
		if _, dup := kv[m.Name]; dup {
			return nil, fmt.Errorf("%s: label %s is given twice", flagName, m.Name)
		}
		if m.Value == "" {
			continue // an empty label is no label, as in Alertmanager
		}
		kv[m.Name] = m.Value
	}
	return kv, nil
}

// maxPayloadBytes bounds a payload read by explain.
const maxPayloadBytes = 16 << 20

// readPayload reads an Alertmanager webhook notification, checked as the
// webhook checks it, and returns its alerts.
func readPayload(path string, stdin io.Reader) ([]*template.Alert, error) {
	in, name := stdin, "standard input"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("read payload: %w", err)
		}
		defer f.Close()
		in, name = f, path
	}
	msg, err := webhook.Decode(in, maxPayloadBytes)
	if err != nil {
		return nil, fmt.Errorf("payload %s: %w", name, err)
	}
	out := make([]*template.Alert, len(msg.Alerts))
	for i := range msg.Alerts {
		a := &msg.Alerts[i]
		if a.Annotations == nil {
			a.Annotations = template.KV{}
		}
		out[i] = a
	}
	return out, nil
}

// writeExplanation writes, rule by rule, what set makes of alert a.
func writeExplanation(w io.Writer, set *rules.Set, a *template.Alert) {
	fmt.Fprintf(w, "alert %s (%s)\n", labelString(a.Labels), a.Status)
	if len(a.Annotations) > 0 {
		fmt.Fprintf(w, "annotations %s\n", labelString(a.Annotations))
	}
	verdicts := set.Explain(a)
	for i := range verdicts {
		fmt.Fprintln(w)
		writeVerdict(w, &verdicts[i], i+1, len(verdicts))
	}
	fmt.Fprintln(w)
	var acting []*rules.Verdict
	for i := range verdicts {
		if verdicts[i].Acts() {
			acting = append(acting, &verdicts[i])
		}
	}
	switch {
	case a.Status != "firing":
		fmt.Fprintln(w, "result: nothing is done: the alert is resolved, and alertmedic acts on firing alerts only (above: what would happen if it fired)")
	case len(acting) == 0:
		fmt.Fprintln(w, "result: nothing is done: no rule matches")
	default:
		fmt.Fprintln(w, "result:")
		for _, v := range acting {
			switch {
			case v.Err != nil:
				fmt.Fprintf(w, "  %s: nothing is done: the target cannot be rendered\n", v.Rule.Name)
			case v.Rule.Approval.Required:
				fmt.Fprintf(w, "  %s: %s once a person approves\n", v.Rule.Name, planString(v))
			default:
				fmt.Fprintf(w, "  %s: %s\n", v.Rule.Name, planString(v))
			}
		}
	}
	fmt.Fprintln(w, "note: cooldowns and budgets are not evaluated by explain; a rule test with notifications over time does (alertmedic test)")
}

func writeVerdict(w io.Writer, v *rules.Verdict, n, total int) {
	r := v.Rule
	var state string
	switch {
	case v.Acts() && v.Err != nil:
		state = "MATCHES, but cannot act"
	case v.Acts():
		state = "MATCHES"
	case v.Reached:
		state = "does not match"
	case v.Matched:
		state = fmt.Sprintf("not reached: rule %q matched first (it would match)", v.StoppedBy.Name)
	default:
		state = fmt.Sprintf("not reached: rule %q matched first (it would not match either)", v.StoppedBy.Name)
	}
	fmt.Fprintf(w, "rule %d/%d %s (%s:%d): %s\n", n, total, r.Name, r.File, r.Line, state)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, mv := range v.Matchers {
		mark := "✓"
		if !mv.Holds {
			mark = "✗"
		}
		value := fmt.Sprintf("%s is %q", mv.Matcher.Name, mv.Value)
		if !mv.Present {
			value = mv.Matcher.Name + " is not set"
		}
		fmt.Fprintf(tw, "  %s %s\t%s\n", mark, mv.Matcher, value)
	}
	tw.Flush()
	if !v.Matched {
		return
	}
	switch {
	case v.Err != nil:
		fmt.Fprintf(w, "  target:   %s\n", rootCause(v.Err))
	case len(r.Then) == 0:
		fmt.Fprintf(w, "  target:   %s\n", targetString(v.Target))
	}
	if len(r.Then) > 0 {
		fmt.Fprintf(w, "  action:   sequence of %d steps, each once the one before succeeded; it stops at the first that does not\n", 1+len(r.Then))
		fmt.Fprintf(w, "  step 1:   %s%s; verify %s\n", actionString(r), stepTarget(v, 0), verifyString(r.Action, r.Verify))
		for i, st := range r.Then {
			fmt.Fprintf(w, "  step %d:   %s%s; verify %s\n", i+2, stepAction(st.Action, st.Scale, st.Rollback, st.Evict), stepTarget(v, i+1), verifyString(st.Action, st.Verify))
		}
		fmt.Fprintf(w, "  approval: %s, once for the whole sequence\n", approvalString(r.Approval))
	} else {
		fmt.Fprintf(w, "  action:   %s\n", actionString(r))
	}
	if len(r.Then) == 0 {
		fmt.Fprintf(w, "  approval: %s\n", approvalString(r.Approval))
		fmt.Fprintf(w, "  verify:   %s\n", verifyString(r.Action, r.Verify))
	}
	if r.Cooldown > 0 {
		fmt.Fprintf(w, "  cooldown: %s\n", model.Duration(r.Cooldown))
	}
	label := "on failure"
	for st := r.OnFailure; st != nil; st = st.OnFailure {
		fmt.Fprintf(w, "  %s: %s; approval %s; verify %s\n", label, stepAction(st.Action, st.Scale, st.Rollback, st.Evict), approvalString(st.Approval), verifyString(st.Action, st.Verify))
		label = "then, on failure"
	}
	if !v.Reached {
		return
	}
	switch {
	case v.Err != nil && r.Continue:
		fmt.Fprintln(w, "  nothing is done for this rule (logged as a render error); continue: true, so evaluation goes on")
	case v.Err != nil:
		fmt.Fprintln(w, "  nothing is done for this rule (logged as a render error), and evaluation stops here: it has no continue: true")
	case r.Continue:
		fmt.Fprintln(w, "  continue: true, so evaluation goes on")
	case n < total:
		fmt.Fprintln(w, "  evaluation stops here: the rule has no continue: true")
	}
}

// rootCause drops the "rule ...: " prefix of a render error, which the
// explanation already says.
func rootCause(err error) string {
	var re *rules.RenderError
	if errors.As(err, &re) {
		msg := err.Error()
		return strings.TrimPrefix(msg, fmt.Sprintf("rule %q: ", re.Rule))
	}
	return err.Error()
}

// planString is what a rule that acts does: its action on its target,
// or each step of its sequence on its own.
func planString(v *rules.Verdict) string {
	out := fmt.Sprintf("%s %s", v.Rule.Action, targetString(v.Target))
	for i, t := range v.Then {
		out += fmt.Sprintf(", then %s %s", v.Rule.Then[i].Action, targetString(t))
	}
	return out
}

// stepTarget is " on TARGET" for step i (from 0) of v's sequence, when it
// rendered.
func stepTarget(v *rules.Verdict, i int) string {
	switch {
	case v.Err != nil:
		return ""
	case i == 0:
		return " on " + targetString(v.Target)
	}
	return " on " + targetString(v.Then[i-1])
}

func targetString(t v1alpha1.Target) string {
	return fmt.Sprintf("%s %s/%s", t.Kind, t.Namespace, t.Name)
}

func actionString(r *rules.Rule) string { return stepAction(r.Action, r.Scale, r.Rollback, r.Evict) }

// stepAction says what an action does, with its parameters.
func stepAction(a v1alpha1.Action, sc *v1alpha1.ScaleParams, rb *v1alpha1.RollbackParams, ev *v1alpha1.EvictParams) string {
	switch a {
	case v1alpha1.ActionEvictPod:
		s := "evict-pod through the Eviction API (PodDisruptionBudgets hold)"
		if ev != nil && ev.MinAvailable > 0 {
			s += fmt.Sprintf(", keeping at least %d other ready pods of its workload", ev.MinAvailable)
		}
		if ev != nil && ev.AllowUnowned {
			return s + ", pods without a controller too"
		}
		return s + ", only pods a controller owns"
	case v1alpha1.ActionRunJob:
		return "run-job: a Job from the CronJob's template, as kubectl create job --from=cronjob"
	case v1alpha1.ActionScale:
		s := fmt.Sprintf("scale, replicas %s", sc.Replicas())
		switch {
		case sc.Max > 0:
			s += fmt.Sprintf(", within %d..%d", sc.Min, sc.Max)
		case sc.Min > 0:
			s += fmt.Sprintf(", at least %d (no upper bound)", sc.Min)
		default:
			s += " (no bounds)"
		}
		if sc.HPA == v1alpha1.HPARaise && sc.HPAFor != nil {
			s += fmt.Sprintf("; with a HorizontalPodAutoscaler: raise its minReplicas for %s", model.Duration(sc.HPAFor.Duration))
		}
		return s
	case v1alpha1.ActionRollback:
		if rb.ToRevision > 0 {
			return fmt.Sprintf("rollback to revision %d", rb.ToRevision)
		}
		return "rollback to the previous revision"
	}
	return string(a)
}

// verifyString says what is checked after the action before its record is
// Succeeded.
func verifyString(a v1alpha1.Action, v *v1alpha1.VerifySpec) string {
	if v == nil {
		return "nothing: the record is Succeeded when the API call succeeds"
	}
	var parts []string
	if v.Rollout != nil {
		what := map[v1alpha1.Action]string{
			v1alpha1.ActionEvictPod: "the owning workload's rollout converged",
			v1alpha1.ActionRunJob:   "the Job succeeded",
		}[a]
		if what == "" {
			what = "rollout converged"
		}
		parts = append(parts, what+" within "+model.Duration(v.Rollout.Timeout.Duration).String())
	}
	if v.AlertResolved != nil {
		parts = append(parts, "alert resolved within "+model.Duration(v.AlertResolved.Within.Duration).String())
	}
	return strings.Join(parts, ", ")
}

func approvalString(a rules.Approval) string {
	if !a.Required {
		return "not required"
	}
	var who []string
	who = append(who, a.Users...)
	who = append(who, a.Groups...)
	s := "required, from " + strings.Join(who, ", ")
	if a.Channel != "" {
		s += " in " + a.Channel
	}
	return s + fmt.Sprintf(", within %s", model.Duration(a.Timeout))
}

// labelString writes labels sorted by name, the way Alertmanager does.
func labelString(kv template.KV) string {
	names := kv.SortedPairs().Names()
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s=%q", n, kv[n])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
