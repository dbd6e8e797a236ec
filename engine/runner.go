package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/policy"
	"github.com/alertmedic/alertmedic/remediations"
)

// Executor performs one remediation, or plans it without changing anything.
type Executor interface {
	Execute(ctx context.Context, req remediations.Request) (remediations.Result, error)
	Plan(ctx context.Context, req remediations.Request) (remediations.Result, error)
}

// Policy decides, when a record is about to run, whether it may. Zero
// values take the defaults in NewRunner. The cooldown, budget, breaker and
// namespace limits are the policy package's, which decides by them; the
// rest is what only the running bot does.
type Policy struct {
	policy.Limits
	// BreakerHold says what becomes of an action the open breaker holds
	// back: BreakerSkip (default) or BreakerApproval, which makes it wait
	// for a person (PendingApproval) until ApprovalTimeout.
	BreakerHold     string
	ApprovalTimeout time.Duration // default 30m
	// RequireApproval makes actions wait for a person whatever their rule
	// says: "restart", "scale", "scale-down", "rollback", or
	// "namespace=PATTERN" (path.Match, e.g. namespace=prod-*). They wait
	// until RequiredApprovalTimeout, decided by the default approvers.
	RequireApproval         []string
	RequiredApprovalTimeout time.Duration // default 30m
	// MaxAttempts bounds tries after transient API failures.
	MaxAttempts  int           // default 5
	RetryBackoff time.Duration // first wait, doubled each time (at most 1h); default 5s
	// ActionTimeout bounds one attempt, which runs to its end even when
	// the replica is stopping; keep it under the shutdown timeout.
	ActionTimeout time.Duration // default 20s
	// Retention keeps a finished record this long after its alert resolved;
	// MaxRetention, after it finished, when no resolved notification came.
	// A record deleted while its alert still fires lets a later re-send act
	// again, so MaxRetention should exceed the longest alert.
	Retention    time.Duration // default 24h
	MaxRetention time.Duration // default 30 days
}

func (p *Policy) setDefaults() {
	p.Limits.SetDefaults()
	if p.BreakerHold == "" {
		p.BreakerHold = BreakerSkip
	}
	if p.ApprovalTimeout <= 0 {
		p.ApprovalTimeout = 30 * time.Minute
	}
	if p.RequiredApprovalTimeout <= 0 {
		p.RequiredApprovalTimeout = 30 * time.Minute
	}
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 5
	}
	if p.RetryBackoff <= 0 {
		p.RetryBackoff = 5 * time.Second
	}
	if p.ActionTimeout <= 0 {
		p.ActionTimeout = 20 * time.Second
	}
	if p.Retention <= 0 {
		p.Retention = 24 * time.Hour
	}
	if p.MaxRetention <= 0 {
		p.MaxRetention = 30 * 24 * time.Hour
	}
}

// What the open circuit breaker does with an action (Policy.BreakerHold).
const (
	BreakerSkip     = "skip"
	BreakerApproval = "approval"
)

// RunnerOptions configures a Runner.
type RunnerOptions struct {
	Executor Executor
	Policy   Policy
	// Identity names this replica in the records it executes.
	Identity string
	// Workers is how many records run at once (never two for one record).
	Workers int // default 4
	Logger  *slog.Logger
	Metrics *Metrics
	Now     func() time.Time
}

// Runner executes Remediation records on the replica that holds the leader
// Lease. A record goes Pending -> Running -> Succeeded, Failed or Skipped;
// the move to Running is an update guarded by the record's resourceVersion,
// so two replicas that both believe they lead cannot both run it.
type Runner struct {
	client client.Client // cached reads, API writes
	reader client.Reader // API reads
	opts   RunnerOptions

	mu     sync.Mutex
	seeded bool
	book   *policy.Book // recent actions, by target label; guarded by mu
}

// NewRunner registers a Runner with mgr: its controller and its leader gauge
// run only while mgr leads.
func NewRunner(mgr manager.Manager, opts RunnerOptions) (*Runner, error) {
	opts.Policy.setDefaults()
	if opts.Workers <= 0 {
		opts.Workers = 4
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
	r := &Runner{client: mgr.GetClient(), reader: mgr.GetAPIReader(), opts: opts, book: policy.NewBook(opts.Policy.Limits)}
	skip := true
	err := ctrl.NewControllerManagedBy(mgr).For(&v1alpha1.Remediation{}).Named("remediation").
		WithOptions(controller.Options{MaxConcurrentReconciles: opts.Workers, SkipNameValidation: &skip}).
		Complete(r)
	if err != nil {
		return nil, fmt.Errorf("remediation controller: %w", err)
	}
	err = mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		opts.Metrics.leader.Set(1)
		opts.Logger.Info("leading: this replica executes remediations", "identity", opts.Identity)
		<-ctx.Done()
		opts.Metrics.leader.Set(0)
		return nil
	}))
	return r, err
}

// Reconcile moves one record forward: it reads the record, asks nextStep
// what to do, and does it. An error caused by the runner stopping (its
// context cancelled) is not one: the record stays as it is for whoever
// leads next.
func (r *Runner) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	res, err := r.reconcile(ctx, req)
	if err != nil && ctx.Err() != nil {
		r.opts.Logger.Debug("stopped while reconciling; the record is left for the next leader", "record", req.Name, "err", err)
		return ctrl.Result{}, nil
	}
	return res, err
}

func (r *Runner) reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var rec v1alpha1.Remediation
	if err := r.client.Get(ctx, req.NamespacedName, &rec); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if err := r.seed(ctx); err != nil {
		return ctrl.Result{}, err
	}
	now := r.opts.Now()
	s := nextStep(&rec, now, r.opts.Policy)
	switch s.Kind {
	case stepWait:
		return ctrl.Result{RequeueAfter: s.After}, nil
	case stepCollect:
		return r.collect(ctx, &rec)
	case stepResume:
		return r.takeOver(ctx, req, now)
	case stepExpire:
		r.opts.Metrics.decisions.WithLabelValues(DecisionExpired).Inc()
		r.opts.Logger.Info("remediation expired unapproved", "record", rec.Name, "rule", rec.Spec.Rule, "target", rec.Spec.TargetRef)
		return ctrl.Result{}, r.finish(ctx, &rec, refused(rec.Status, v1alpha1.PhaseExpired, "ApprovalTimeout",
			fmt.Sprintf("nobody approved it before %s", s.Deadline.UTC().Format(time.RFC3339)), now))
	case stepAsk:
		return r.pend(ctx, &rec, "ApprovalRequired", fmt.Sprintf("rule %s needs a person's approval", rec.Spec.Rule), nil, s.Deadline, now)
	}
	if s.CheckRequired {
		if why, plan := r.approvalRequired(ctx, &rec, now); why != "" {
			return r.pend(ctx, &rec, "PolicyRequiresApproval", why, plan, now.Add(r.opts.Policy.RequiredApprovalTimeout), now)
		}
	}
	return r.run(ctx, &rec, now, s.Admit)
}

// ValidRequireApproval checks one --require-approval value.
func ValidRequireApproval(v string) error {
	switch v {
	case "restart", "scale", "scale-down", "rollback":
		return nil
	}
	if p, ok := strings.CutPrefix(v, "namespace="); ok && p != "" {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("%q: bad pattern: %w", v, err)
		}
		return nil
	}
	return fmt.Errorf("%q: want restart, scale, scale-down, rollback or namespace=PATTERN", v)
}

// approvalRequired says why the deployment's policy (RequireApproval)
// makes rec wait for a person, or "" if it does not. Whether a scale to N
// goes down depends on the replicas now: a dry run tells, and when it
// cannot, the scale waits for a person rather than risk it; that dry run is
// returned as the plan to show, so it is not made twice.
func (r *Runner) approvalRequired(ctx context.Context, rec *v1alpha1.Remediation, now time.Time) (string, *v1alpha1.Plan) {
	s := rec.Spec
	for _, req := range r.opts.Policy.RequireApproval {
		why := fmt.Sprintf("the deployment's policy requires approval for %s (--require-approval %s)", req, req)
		switch {
		case req == string(s.Action):
			return why, nil
		case req == "scale-down" && s.Action == v1alpha1.ActionScale && s.Scale != nil:
			if down, plan := r.scalesDown(ctx, rec, now); down {
				return why, plan
			}
		case strings.HasPrefix(req, "namespace="):
			if ok, _ := path.Match(strings.TrimPrefix(req, "namespace="), s.Target.Namespace); ok {
				return fmt.Sprintf("the deployment's policy requires approval for anything in namespace %s (--require-approval %s)", s.Target.Namespace, req), nil
			}
		}
	}
	return "", nil
}

// scalesDown reports whether rec's scale lowers the replica count, with
// the dry run that told, if one was needed.
func (r *Runner) scalesDown(ctx context.Context, rec *v1alpha1.Remediation, now time.Time) (bool, *v1alpha1.Plan) {
	sc := rec.Spec.Scale
	switch sc.Op {
	case v1alpha1.ScaleBy:
		return sc.N < 0, nil
	case v1alpha1.ScaleMultiply:
		f, err := sc.Factor.Float64()
		return err != nil || f < 1, nil
	}
	plan := r.plan(ctx, rec, now)
	var before, after int
	_, e1 := fmt.Sscanf(plan.Before, "replicas=%d", &before)
	_, e2 := fmt.Sscanf(plan.After, "replicas=%d", &after)
	return plan.Error != "" || e1 != nil || e2 != nil || after < before, plan
}

// seed learns, once, the recent actions from the records, so that a new
// leader keeps the cooldowns and the breaker where its predecessor left them.
func (r *Runner) seed(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seeded {
		return nil
	}
	var list v1alpha1.RemediationList
	if err := r.client.List(ctx, &list); err != nil {
		return fmt.Errorf("list records: %w", err)
	}
	for _, rec := range list.Items {
		st := rec.Status
		if st.StartedAt == nil || (st.Phase != v1alpha1.PhaseRunning && st.Phase != v1alpha1.PhaseSucceeded) || rec.Spec.DryRun {
			continue
		}
		r.book.Record(rec.Spec.Rule, rec.Labels[v1alpha1.LabelTarget], st.StartedAt.Time)
	}
	r.seeded = true
	return nil
}

// refusal says why policy refuses rec now ("" if it does not).
// A record a person approved is not held by the breaker (that is what the
// approval was for), but the other limits still apply.
func (r *Runner) refusal(rec *v1alpha1.Remediation, now time.Time) (reason, msg string) {
	d := r.book.Check(PolicyAction(rec), now)
	switch d.Breaker {
	case policy.BreakerOpened:
		r.opts.Metrics.breakerOpen.Set(1)
		r.opts.Logger.Warn("circuit breaker open: too many remediations in the window; automatic actions are skipped until it has room",
			"max", r.opts.Policy.BreakerMax, "window", r.opts.Policy.BreakerWindow)
	case policy.BreakerClosed:
		r.opts.Metrics.breakerOpen.Set(0)
		r.opts.Logger.Info("circuit breaker closed: automatic actions resume")
	}
	return string(d.Reason), d.Message
}

// PolicyAction is what policy is asked about rec.
func PolicyAction(rec *v1alpha1.Remediation) policy.Action {
	a := policy.Action{
		Rule: rec.Spec.Rule, Target: rec.Labels[v1alpha1.LabelTarget], TargetRef: rec.Spec.TargetRef,
		Namespace: rec.Spec.Target.Namespace, Approved: rec.Status.Phase == v1alpha1.PhaseApproved,
	}
	if rec.Spec.Cooldown != nil {
		a.Cooldown = rec.Spec.Cooldown.Duration
	}
	if b := rec.Spec.Budget; b != nil {
		a.Budget = &policy.Budget{PerRule: int(b.PerRule), PerTarget: int(b.PerTarget), Window: b.Window.Duration}
	}
	return a
}

// run executes rec if policy allows (admit) and records the outcome. A
// record that is resumed (admit false) was admitted before and is not asked
// again: what it may have done is settled first.
func (r *Runner) run(ctx context.Context, rec *v1alpha1.Remediation, now time.Time, admit bool) (ctrl.Result, error) {
	req, perr := Request(rec)
	if perr != nil {
		// Fail closed: a parameter that does not parse never becomes a
		// default that acts.
		r.opts.Metrics.decisions.WithLabelValues(DecisionInvalid).Inc()
		r.opts.Logger.Error("remediation not run: its parameters are invalid", "record", rec.Name, "rule", rec.Spec.Rule, "err", perr)
		return ctrl.Result{}, r.finish(ctx, rec, refused(rec.Status, v1alpha1.PhaseFailed, "InvalidParameters", perr.Error()+"; nothing was changed", now))
	}
	var booked *policy.Reservation
	if admit {
		r.mu.Lock()
		if reason, msg := r.refusal(rec, now); reason != "" {
			r.mu.Unlock()
			if reason == "CircuitOpen" && r.opts.Policy.BreakerHold == BreakerApproval {
				return r.holdForApproval(ctx, rec, now, msg)
			}
			decision := map[string]string{"NamespaceDenied": DecisionNamespaceDenied, "Cooldown": DecisionCooldown, "CircuitOpen": DecisionCircuitOpen,
				"RuleBudget": DecisionOverBudget, "TargetBudget": DecisionOverBudget}[reason]
			r.opts.Metrics.decisions.WithLabelValues(decision).Inc()
			r.opts.Logger.Info("remediation not run", "record", rec.Name, "reason", reason, "why", msg,
				"rule", rec.Spec.Rule, "target", rec.Spec.TargetRef, "fingerprint", rec.Spec.Alert.Fingerprint)
			return ctrl.Result{}, r.finish(ctx, rec, refused(rec.Status, v1alpha1.PhaseSkipped, reason, msg, now))
		}
		if !rec.Spec.DryRun {
			booked = r.book.Reserve(PolicyAction(rec), now)
		}
		r.mu.Unlock()
	}
	// release undoes the reservation of an action that changed nothing: no
	// cooldown and no budget from it; keepBreaker keeps it for the breaker.
	release := func(keepBreaker bool) {
		if booked == nil {
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		booked.Release(keepBreaker)
	}

	// The action runs to its end even when the manager stops (SIGTERM, or
	// the Lease lost): an action cut in the middle is one whose outcome
	// the next leader has to work out.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.Policy.ActionTimeout)
	defer cancel()
	// The guard: the change is recorded in the record, moved to Running by
	// an update conditional on its resourceVersion, before it is sent; so
	// only one replica sends it, and whoever finds the record Running
	// knows what may have been applied.
	req.Prior = rec.Status.Write
	first := true
	req.BeforeWrite = func(ctx context.Context, w *v1alpha1.Write) error {
		prev := rec.Status
		rec.Status = running(rec.Status, w, r.opts.Identity, first, r.opts.Now())
		if err := r.client.Status().Update(ctx, rec); err != nil {
			rec.Status = prev
			return err
		}
		first = false
		return nil
	}
	res, err := r.opts.Executor.Execute(actx, req)
	if errors.Is(err, remediations.ErrNotSent) {
		release(false)
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil // changed under us: its watch event brings it back
		}
		return ctrl.Result{}, fmt.Errorf("mark %s running: %w", rec.Name, err)
	}
	if first {
		rec.Status.Attempts++ // an attempt that sent nothing counts too
	}
	done := r.opts.Now()
	st, wait := afterAttempt(rec.Status, res, err, done, r.opts.Policy)
	if wait > 0 {
		if st.Write == nil {
			release(false) // certainly not applied
		}
		r.opts.Metrics.decisions.WithLabelValues(DecisionRetry).Inc()
		r.opts.Logger.Warn("remediation failed transiently, will retry", "record", rec.Name, "attempt", rec.Status.Attempts,
			"at", st.NextAttemptAt.Time, "may_have_applied", st.Write != nil, "err", err)
		if uerr := r.finish(actx, rec, st); uerr != nil {
			// Still Running with its change recorded: whoever looks next
			// settles it from the target.
			return ctrl.Result{}, fmt.Errorf("mark %s for retry: %w", rec.Name, uerr)
		}
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	if res.Outcome != remediations.Succeeded {
		release(true) // nothing changed on the target: no cooldown from it
	}
	r.opts.Metrics.decisions.WithLabelValues(DecisionExecuted).Inc()
	r.opts.Metrics.acceptToDone.WithLabelValues(string(rec.Spec.Action), string(res.Outcome)).Observe(done.Sub(recordedAt(rec)).Seconds())
	r.opts.Metrics.alertToDone.WithLabelValues(string(rec.Spec.Action), string(res.Outcome)).Observe(done.Sub(rec.Spec.Alert.StartsAt.Time).Seconds())
	log := r.opts.Logger.With("record", rec.Name, "rule", rec.Spec.Rule, "action", rec.Spec.Action,
		"target", rec.Spec.TargetRef, "fingerprint", rec.Spec.Alert.Fingerprint)
	if err != nil {
		log.Error("remediation failed", "reason", res.Reason, "attempts", rec.Status.Attempts, "err", err)
	} else {
		log.Info("remediation finished", "outcome", string(res.Outcome), "reason", res.Reason,
			"before", res.Before, "after", res.After, "dry_run", res.DryRun, "message", res.Message)
	}
	return ctrl.Result{}, r.finish(actx, rec, st)
}

// recordedAt is when rec was created, as precisely as it is known.
func recordedAt(rec *v1alpha1.Remediation) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, rec.Annotations[v1alpha1.AnnotationRecordedAt]); err == nil {
		return t
	}
	return rec.CreationTimestamp.Time
}

// finish writes st as rec's status. On a conflict (another writer, such as
// the Slack mirror, updated the record) it re-reads the record and writes
// st's phase and outcome over the fresh one, unless the record meanwhile
// became final: then someone else decided it, and that stands.
func (r *Runner) finish(ctx context.Context, rec *v1alpha1.Remediation, st v1alpha1.RemediationStatus) error {
	want := st
	first := true
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if !first {
			if err := r.reader.Get(ctx, client.ObjectKeyFromObject(rec), rec); err != nil {
				return err
			}
			if rec.Status.Phase.Final() {
				return nil
			}
			st = rec.Status
			st.Phase, st.Reason, st.Message, st.Result = want.Phase, want.Reason, want.Message, want.Result
			st.StartedAt, st.FinishedAt, st.ExecutedBy, st.Attempts = want.StartedAt, want.FinishedAt, want.ExecutedBy, want.Attempts
			st.NextAttemptAt, st.Write = want.NextAttemptAt, want.Write
		}
		first = false
		rec.Status = st
		return r.client.Status().Update(ctx, rec)
	})
}

// takeOver handles a record found Running: the attempt that set it stopped
// before writing its outcome (a replica stopped, or the outcome could not be
// written), or a stale cache says so. It is never blindly run again: the
// change the attempt recorded before sending it is settled from the target
// (applied: Succeeded with its Event; not applied: sent again, the very same
// change; the target replaced or changed by someone else: not acted on).
// A record Running without a recorded change (left by an older version)
// is checked as before: a restart whose annotation is there succeeded;
// actions that are the same when repeated are run again; others are Failed
// as Interrupted for a person to check.
func (r *Runner) takeOver(ctx context.Context, req ctrl.Request, now time.Time) (ctrl.Result, error) {
	var rec v1alpha1.Remediation
	if err := r.reader.Get(ctx, req.NamespacedName, &rec); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if rec.Status.Phase != v1alpha1.PhaseRunning {
		return ctrl.Result{}, nil // the cache was behind: the event it has not seen brings the record back
	}
	r.opts.Metrics.decisions.WithLabelValues(DecisionInterrupted).Inc()
	log := r.opts.Logger.With("record", rec.Name, "target", rec.Spec.TargetRef, "executed_by", rec.Status.ExecutedBy)
	if w := rec.Status.Write; w != nil {
		log.Info("interrupted attempt had recorded its change; settling it from the target", "attempt", w.Attempt, "change", w.Before+" -> "+w.After)
		return r.run(ctx, &rec, now, false)
	}
	s := rec.Spec
	switch {
	case s.Action == v1alpha1.ActionRestart && rec.Status.StartedAt != nil:
		done, err := r.restartedSince(ctx, &rec)
		if err != nil {
			return ctrl.Result{}, err
		}
		if done {
			log.Info("interrupted restart had been applied; recording it")
			st := refused(rec.Status, v1alpha1.PhaseSucceeded, "Restarted", "the restart was applied; the replica that ran it stopped before recording it", now)
			st.Result = &v1alpha1.ActionResult{Outcome: string(remediations.Succeeded), Reason: "Restarted"}
			return ctrl.Result{}, r.finish(ctx, &rec, st)
		}
		log.Info("interrupted restart had not been applied; running it")
		return r.run(ctx, &rec, now, false)
	case s.Action == v1alpha1.ActionScale && s.Scale != nil && s.Scale.Op == v1alpha1.ScaleTo,
		s.Action == v1alpha1.ActionRollback && s.Rollback != nil && s.Rollback.ToRevision > 0:
		log.Info("interrupted action is the same when repeated; running it again")
		return r.run(ctx, &rec, now, false)
	}
	log.Warn("interrupted action may or may not have been applied; not repeating it")
	return ctrl.Result{}, r.finish(ctx, &rec, refused(rec.Status, v1alpha1.PhaseFailed, "Interrupted",
		fmt.Sprintf("replica %s stopped while running this; it may or may not have been applied, and running it again could act twice: check %s", rec.Status.ExecutedBy, s.TargetRef), now))
}

// restartedSince reports whether the target's restartedAt annotation is at
// or after the record's start (whole seconds, as kubectl writes it).
func (r *Runner) restartedSince(ctx context.Context, rec *v1alpha1.Remediation) (bool, error) {
	key := client.ObjectKey{Namespace: rec.Spec.Target.Namespace, Name: rec.Spec.Target.Name}
	var tmpl *corev1.PodTemplateSpec
	switch rec.Spec.Target.Kind {
	case v1alpha1.KindDeployment:
		var o appsv1.Deployment
		tmpl = &o.Spec.Template
		if err := r.reader.Get(ctx, key, &o); err != nil {
			return false, client.IgnoreNotFound(err)
		}
	case v1alpha1.KindStatefulSet:
		var o appsv1.StatefulSet
		tmpl = &o.Spec.Template
		if err := r.reader.Get(ctx, key, &o); err != nil {
			return false, client.IgnoreNotFound(err)
		}
	case v1alpha1.KindDaemonSet:
		var o appsv1.DaemonSet
		tmpl = &o.Spec.Template
		if err := r.reader.Get(ctx, key, &o); err != nil {
			return false, client.IgnoreNotFound(err)
		}
	default:
		return false, nil
	}
	at, err := time.Parse(time.RFC3339, tmpl.Annotations[remediations.RestartedAtAnnotation])
	if err != nil {
		return false, nil
	}
	return !at.Before(rec.Status.StartedAt.Time.Truncate(time.Second)), nil
}

// holdForApproval turns an action the open breaker holds back into one
// waiting for a person.
func (r *Runner) holdForApproval(ctx context.Context, rec *v1alpha1.Remediation, now time.Time, why string) (ctrl.Result, error) {
	r.opts.Metrics.decisions.WithLabelValues(DecisionCircuitOpen).Inc()
	return r.pend(ctx, rec, "CircuitOpen", why+"; a person may approve it", nil, now.Add(r.opts.Policy.ApprovalTimeout), now)
}

// plan is a dry run of rec's action against its target as it is now.
func (r *Runner) plan(ctx context.Context, rec *v1alpha1.Remediation, now time.Time) *v1alpha1.Plan {
	req, err := Request(rec)
	if err != nil {
		return &v1alpha1.Plan{PlannedAt: metav1.NewTime(now), Error: err.Error()}
	}
	res, err := r.opts.Executor.Plan(ctx, req)
	plan := &v1alpha1.Plan{PlannedAt: metav1.NewTime(now), Generation: res.Generation, UID: res.UID,
		Outcome: string(res.Outcome), Reason: res.Reason, Message: res.Message, Before: res.Before, After: res.After}
	if err != nil {
		plan.Error = err.Error()
		r.opts.Logger.Warn("could not plan an action waiting for approval; it is shown without a preview", "record", rec.Name, "err", err)
	}
	return plan
}

// pend writes PendingApproval with its deadline and the plan the approver
// sees: a dry run of the action against the target as it is now. The action
// later runs only if the target's generation is still the planned one.
// A plan already made for the decision to pend is passed in; nil makes one.
func (r *Runner) pend(ctx context.Context, rec *v1alpha1.Remediation, reason, msg string, plan *v1alpha1.Plan, deadline, now time.Time) (ctrl.Result, error) {
	if plan == nil {
		plan = r.plan(ctx, rec, now)
	}
	t := metav1.NewTime(deadline)
	rec.Status.Phase, rec.Status.Reason, rec.Status.ApprovalExpiresAt = v1alpha1.PhasePendingApproval, reason, &t
	rec.Status.Plan = plan
	rec.Status.Message = fmt.Sprintf("%s; approve with 'alertmedic approve %s' before %s", msg, rec.Name, deadline.UTC().Format(time.RFC3339))
	if err := r.client.Status().Update(ctx, rec); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{}, nil // changed under us: its watch event brings it back
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	r.opts.Metrics.decisions.WithLabelValues(DecisionAwaitApproval).Inc()
	r.opts.Logger.Info("remediation awaits approval", "record", rec.Name, "reason", reason, "rule", rec.Spec.Rule,
		"target", rec.Spec.TargetRef, "expires", deadline)
	return ctrl.Result{RequeueAfter: deadline.Sub(now)}, nil
}

// collect deletes a finished record whose retention has passed.
func (r *Runner) collect(ctx context.Context, rec *v1alpha1.Remediation) (ctrl.Result, error) {
	uid, rv := rec.UID, rec.ResourceVersion
	err := r.client.Delete(ctx, rec, client.Preconditions{UID: &uid, ResourceVersion: &rv})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		if apierrors.IsConflict(err) {
			return ctrl.Result{}, nil // changed under us: its watch event brings it back
		}
		return ctrl.Result{}, fmt.Errorf("delete expired record %s: %w", rec.Name, err)
	}
	r.opts.Metrics.collected.Inc()
	r.opts.Logger.Debug("record collected after its retention", "record", rec.Name, "phase", string(rec.Status.Phase))
	return ctrl.Result{}, nil
}
