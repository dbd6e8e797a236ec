package remediations

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Component is the name alertmedic reports Events and writes under.
const Component = "alertmedic"

// Options configures an Executor. Zero values take the defaults in
// NewExecutor.
type Options struct {
	// FieldManager names alertmedic on every write (managedFields).
	FieldManager string // default "alertmedic"
	// Instance is this replica's name in the Events it records.
	Instance string // default: the host name
	Logger   *slog.Logger
	Metrics  *Metrics
	Now      func() time.Time
}

// Executor performs remediations against a Kubernetes API server.
type Executor struct {
	client kubernetes.Interface
	opts   Options
}

// NewExecutor returns an Executor acting through client.
func NewExecutor(client kubernetes.Interface, opts Options) *Executor {
	if opts.FieldManager == "" {
		opts.FieldManager = Component
	}
	if opts.Instance == "" {
		opts.Instance, _ = os.Hostname()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Executor{client: client, opts: opts}
}

// Execute performs req and records an Event on its target saying what was
// done (or, on a dry run, what would have been). Refusals and no-ops (a paused
// Deployment, already at the revision or replica count) are Skipped with a
// nil error. A failure returns an error; IsTransient tells whether trying
// again later may succeed, and nothing was changed in that case.
func (e *Executor) Execute(ctx context.Context, req Request) (Result, error) {
	res, w, err := e.execute(ctx, req)
	e.opts.Metrics.outcomes.WithLabelValues(string(req.Action), req.Target.Kind, string(res.Outcome), res.Reason).Inc()
	// A transient failure is retried; the Event waits for the final answer
	// (and would most likely fail to be written now anyway).
	if !IsTransient(err) {
		e.record(ctx, req, res, w)
	}
	return res, err
}

// Plan works out what req would do, by a server-side dry run, without
// changing anything: no write is persisted, no Event is recorded and no
// outcome is counted. It is the preview shown to whoever approves req, and
// its Generation is what req.ExpectGeneration should be set to.
func (e *Executor) Plan(ctx context.Context, req Request) (Result, error) {
	req.DryRun = true
	res, _, err := e.execute(ctx, req)
	return res, err
}

func (e *Executor) execute(ctx context.Context, req Request) (Result, *workload, error) {
	start := time.Now()
	var (
		res Result
		w   *workload
	)
	k, err := kindFor(e.client.AppsV1(), req.Target.Kind)
	if err == nil {
		switch req.Action {
		case ActionRestart:
			res, w, err = e.restart(ctx, k, req)
		case ActionScale:
			res, w, err = e.scale(ctx, k, req)
		case ActionRollback:
			res, w, err = e.rollback(ctx, k, req)
		default:
			err = fmt.Errorf("%w: action %q (want restart, scale or rollback)", errUnsupported, req.Action)
		}
	}
	e.opts.Metrics.duration.WithLabelValues(string(req.Action)).Observe(time.Since(start).Seconds())
	res.DryRun = req.DryRun
	if err != nil {
		err = fmt.Errorf("%s %s: %w", req.Action, req.Target, err)
		res.Outcome, res.Reason, res.Message = Failed, reason(err), err.Error()
	}
	return res, w, err
}

// changed reports, and sets res to say so, whether the target w is no longer
// the one req was planned against (req.ExpectGeneration).
func changed(req Request, w *workload, res *Result) bool {
	g := w.meta.GetGeneration()
	if req.ExpectGeneration == 0 || g == req.ExpectGeneration {
		return false
	}
	res.Outcome, res.Reason = Skipped, "TargetChanged"
	res.Message = fmt.Sprintf("%s changed after the action was planned (generation %d, now %d): not acting on a plan nobody approved for it",
		req.Target, req.ExpectGeneration, g)
	return true
}

func (e *Executor) patchOptions(req Request) metav1.PatchOptions {
	o := metav1.PatchOptions{FieldManager: e.opts.FieldManager}
	if req.DryRun {
		o.DryRun = []string{metav1.DryRunAll}
	}
	return o
}

func (e *Executor) updateOptions(req Request) metav1.UpdateOptions {
	o := metav1.UpdateOptions{FieldManager: e.opts.FieldManager}
	if req.DryRun {
		o.DryRun = []string{metav1.DryRunAll}
	}
	return o
}

// EventReason is the reason of the Events recorded for action: Alertmedic
// followed by the action, e.g. AlertmedicRestart.
func EventReason(a Action) string {
	s := string(a)
	if s == "" {
		return "Alertmedic"
	}
	return "Alertmedic" + strings.ToUpper(s[:1]) + s[1:]
}

// record writes the Event telling what the action did on its target. The
// Event is written synchronously (not through a broadcaster that may
// aggregate or drop it) so that each action leaves exactly one.
func (e *Executor) record(ctx context.Context, req Request, res Result, w *workload) {
	ref := corev1.ObjectReference{APIVersion: "apps/v1", Kind: req.Target.Kind, Namespace: req.Target.Namespace, Name: req.Target.Name}
	if w != nil {
		ref = w.ref
	}
	typ := corev1.EventTypeWarning
	if res.Outcome == Succeeded || strings.HasPrefix(res.Reason, "Already") {
		typ = corev1.EventTypeNormal
	}
	now := metav1.NewTime(e.opts.Now())
	ev := &corev1.Event{
		ObjectMeta:          metav1.ObjectMeta{GenerateName: req.Target.Name + ".alertmedic-", Namespace: req.Target.Namespace},
		InvolvedObject:      ref,
		Reason:              EventReason(req.Action),
		Message:             EventMessage(req, res),
		Type:                typ,
		Source:              corev1.EventSource{Component: Component, Host: e.opts.Instance},
		ReportingController: Component,
		ReportingInstance:   e.opts.Instance,
		Action:              res.Reason,
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Count:               1,
	}
	if _, err := e.client.CoreV1().Events(req.Target.Namespace).Create(ctx, ev, metav1.CreateOptions{FieldManager: e.opts.FieldManager}); err != nil {
		e.opts.Metrics.eventErrors.Inc()
		e.opts.Logger.Warn("could not record the Event of a remediation on its target",
			"target", req.Target.String(), "rule", req.Rule, "outcome", string(res.Outcome), "err", err)
	}
}

// EventMessage is the text of a remediation's Event: the outcome, what was
// done and why (rule and alert). Dry runs say so first.
func EventMessage(req Request, res Result) string {
	var b strings.Builder
	if req.DryRun {
		b.WriteString("dry run, nothing changed: ")
	}
	fmt.Fprintf(&b, "%s: %s", strings.ToLower(string(res.Outcome)), res.Message)
	fmt.Fprintf(&b, "; rule %s", req.Rule)
	if req.AlertName != "" {
		fmt.Fprintf(&b, ", alert %s", req.AlertName)
	}
	if req.Fingerprint != "" {
		fmt.Fprintf(&b, " (fingerprint %s)", req.Fingerprint)
	}
	return b.String()
}
