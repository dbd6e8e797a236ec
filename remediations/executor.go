package remediations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
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
	// GitOps is the deployment's choice for targets Argo CD or Flux
	// manages, for rules that make none ("": refuse scale and rollback,
	// allow restart).
	GitOps v1alpha1.GitOps
}

// Executor performs remediations against a Kubernetes API server.
type Executor struct {
	client kube.Client
	opts   Options
}

// NewExecutor returns an Executor acting through client.
func NewExecutor(client kube.Client, opts Options) *Executor {
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
	if errors.Is(err, ErrNotSent) {
		return res, err // not an outcome: whoever refused it acts instead
	}
	e.opts.Metrics.outcomes.WithLabelValues(string(req.Action), string(req.Target.Kind), string(res.Outcome), res.Reason).Inc()
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
	req.DryRun, req.Prior, req.BeforeWrite = true, nil, nil
	res, _, err := e.execute(ctx, req)
	return res, err
}

func (e *Executor) execute(ctx context.Context, req Request) (Result, *workload, error) {
	start := time.Now()
	var (
		res Result
		w   *workload
	)
	// Fail closed: parameters that do not validate never act (a factor of
	// 0 or "" is not a scale to zero, nor to the minimum).
	err := v1alpha1.ValidateAction(req.Action, v1alpha1.Params{Scale: req.Scale, Rollback: req.Rollback, Evict: req.Evict})
	if err != nil {
		err = fmt.Errorf("%w: %w", errInvalid, err)
	} else if kerr := req.Action.ValidateKind(req.Target.Kind); kerr != nil {
		err = fmt.Errorf("%w: %w", errUnsupported, kerr)
	}
	var k kind
	switch {
	case err != nil:
	case req.Action == v1alpha1.ActionEvictPod:
		res, w, err = e.evict(ctx, req)
	case req.Action == v1alpha1.ActionRunJob:
		res, w, err = e.runJob(ctx, req)
	default:
		k, err = kindFor(e.client, req.Target.Kind)
	}
	if err == nil && k != nil {
		switch req.Action {
		case v1alpha1.ActionRestart:
			res, w, err = e.restart(ctx, k, req)
		case v1alpha1.ActionScale:
			res, w, err = e.scale(ctx, k, req)
		case v1alpha1.ActionRollback:
			res, w, err = e.rollback(ctx, k, req)
		default:
			err = fmt.Errorf("%w: action %q (want restart, scale, rollback, evict-pod or run-job)", errUnsupported, req.Action)
		}
	}
	e.opts.Metrics.duration.WithLabelValues(string(req.Action)).Observe(time.Since(start).Seconds())
	res.DryRun = req.DryRun
	if err != nil && apierrors.IsNotFound(err) && !req.DryRun && (req.ExpectUID != "" || req.Prior != nil) {
		// Planned (or sent to) an object that is gone now: nothing to act
		// on any more, which is not a failure of the action.
		res.Outcome, res.Reason = Skipped, "NotFound"
		res.Message = fmt.Sprintf("%s was deleted after the action was planned: nothing to act on", req.Target)
		return res, w, nil
	}
	if err != nil {
		err = fmt.Errorf("%s %s: %w", req.Action, req.Target, err)
		res.Outcome, res.Reason, res.Message = Failed, reason(err), err.Error()
		if res.Write != nil {
			res.Message += fmt.Sprintf(" (after sending %s -> %s, which may have been applied)", res.Write.Before, res.Write.After)
		}
	}
	return res, w, err
}

// changed reports, and sets res to say so, whether the target w is no longer
// the one req was planned against (req.ExpectUID, req.ExpectGeneration).
func changed(req Request, w *workload, res *Result) bool {
	g := w.meta.GetGeneration()
	if uid := string(w.meta.GetUID()); req.ExpectUID != "" && uid != req.ExpectUID {
		res.Outcome, res.Reason = Skipped, "TargetChanged"
		res.Message = fmt.Sprintf("%s was deleted and created again after the action was planned (uid %s, now %s): not acting on an object nobody approved it for",
			req.Target, req.ExpectUID, uid)
		return true
	}
	if req.ExpectGeneration == 0 || g == req.ExpectGeneration {
		return false
	}
	res.Outcome, res.Reason = Skipped, "TargetChanged"
	res.Message = fmt.Sprintf("%s changed after the action was planned (generation %d, now %d): not acting on a plan nobody approved for it",
		req.Target, req.ExpectGeneration, g)
	return true
}

// settle decides what became of req.Prior, a change an earlier attempt sent
// whose answer was lost, from the target w as read now. It returns true with
// res set when the outcome is known: applied (the generation moved past the
// one the change was sent against, and applied() sees the state it sets) is
// Succeeded with reason; a target deleted and created again is Skipped; a
// target changed by someone else is Failed as OutcomeUnknown, because acting
// again could act twice. It returns false when the change was certainly not
// applied (the generation has not moved: every change alertmedic sends
// moves it), and the caller sends exactly req.Prior again.
func settle(req Request, w *workload, applied func() bool, reason string, res *Result) bool {
	p := req.Prior
	uid, g := string(w.meta.GetUID()), w.meta.GetGeneration()
	res.UID, res.Generation = uid, g
	switch {
	case uid != p.UID:
		res.Outcome, res.Reason = Skipped, "TargetChanged"
		res.Message = fmt.Sprintf("%s was deleted and created again after attempt %d sent its change (uid %s, now %s): not acting on the new object",
			req.Target, p.Attempt, p.UID, uid)
	case g == p.Generation:
		return false
	case applied():
		res.Outcome, res.Reason, res.Before, res.After = Succeeded, reason, p.Before, p.After
		res.Message = fmt.Sprintf("%s -> %s, applied by attempt %d, whose answer was lost", p.Before, p.After, p.Attempt)
	default:
		res.Outcome, res.Reason, res.Before = Failed, "OutcomeUnknown", p.Before
		res.Message = fmt.Sprintf("%s changed (generation %d, now %d) and does not show %s: attempt %d's change may or may not have been applied before someone else changed it; not acting again: check %s",
			req.Target, p.Generation, g, p.After, p.Attempt, req.Target)
	}
	return true
}

// send hands the change w to req.BeforeWrite, then sends it with write.
// After an error from write, other than a conflict (which the API server
// answers only when nothing was applied), res.Write holds w: it may have
// been applied.
func send(ctx context.Context, req Request, w *v1alpha1.Write, res *Result, write func() error) error {
	if req.BeforeWrite != nil {
		if err := req.BeforeWrite(ctx, w); err != nil {
			return fmt.Errorf("%w: %w", ErrNotSent, err)
		}
	}
	if err := write(); err != nil {
		if !apierrors.IsConflict(err) {
			res.Write = w
		}
		return err
	}
	return nil
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
// followed by the action in CamelCase, e.g. AlertmedicRestart,
// AlertmedicEvictPod.
func EventReason(a v1alpha1.Action) string {
	var b strings.Builder
	b.WriteString("Alertmedic")
	for w := range strings.SplitSeq(string(a), "-") {
		if w != "" {
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return b.String()
}

// record writes the Event telling what the action did on its target. The
// Event is written synchronously (not through a broadcaster that may
// aggregate or drop it) so that each action leaves exactly one.
func (e *Executor) record(ctx context.Context, req Request, res Result, w *workload) {
	ref := corev1.ObjectReference{APIVersion: apiVersion(req.Target.Kind), Kind: string(req.Target.Kind), Namespace: req.Target.Namespace, Name: req.Target.Name}
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
	if _, err := kube.Create(ctx, e.client, req.Target.Namespace, ev, metav1.CreateOptions{FieldManager: e.opts.FieldManager}); err != nil {
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

// apiVersion is the API version of the objects of kind k.
func apiVersion(k v1alpha1.Kind) string {
	switch k {
	case v1alpha1.KindPod:
		return "v1"
	case v1alpha1.KindCronJob:
		return "batch/v1"
	}
	return "apps/v1"
}
