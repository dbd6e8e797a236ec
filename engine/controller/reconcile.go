package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/policy"
	"github.com/alertmedic/alertmedic/remediations"
)

// Executor performs one remediation, or plans it without changing anything,
// reads whether a target's rollout converged after it, and the Warning
// Events of the target and its pods that say why not.
type Executor interface {
	Execute(ctx context.Context, req remediations.Request) (remediations.Result, error)
	Plan(ctx context.Context, req remediations.Request) (remediations.Result, error)
	RolloutStatus(ctx context.Context, target v1alpha1.Target) (remediations.Rollout, error)
	Warnings(ctx context.Context, target v1alpha1.Target, since time.Time) ([]string, error)
	JobStatus(ctx context.Context, namespace, name string) (remediations.Rollout, error)
	RestoreHPA(ctx context.Context, namespace, record string, r v1alpha1.HPAStatus) (string, error)
}

// Options configures a Runner.
type Options struct {
	Executor Executor
	Policy   Policy
	// Identity names this replica in the records it executes.
	Identity string
	// Workers is how many records run at once (never two for one record).
	Workers int // default 4
	Logger  *slog.Logger
	Metrics *engine.Metrics
	Now     func() time.Time
	// Alertmanager silences alerts while their remediation is verified
	// (spec.silence), and says whether an alert still fires
	// (spec.verify.alertResolved); nil: none is configured.
	Alertmanager Alertmanager
	// Namespace holds the records: the leader lists the archived ones
	// there. "": records are not archived.
	Namespace string
}

// Runner executes Remediation records on the replica that holds the leader
// Lease. A record goes Pending -> Running -> Succeeded, Failed or Skipped,
// by way of Verifying when its action succeeded and its spec asks for checks,
// and a Failed one with spec.onFailure is escalated to a new record;
// the move to Running is an update guarded by the record's resourceVersion,
// so two replicas that both believe they lead cannot both run it.
type Runner struct {
	client kube.Client // cached reads, API writes
	reader kube.Reader // API reads
	opts   Options

	mu     sync.Mutex
	seeded bool
	book   *policy.Book // recent actions, by target label; guarded by mu
	// windows are the circuit breaker's published windows (engine/breaker);
	// windowsStale: read them from the API server before relying on them.
	// Guarded by mu.
	windows      policy.Windows
	windowsStale bool
	// budgets are the rules' budget windows, by policy.BudgetKey, read
	// with windows. Guarded by mu.
	budgets map[string]policy.Windows

	// superseded: for each record, the resourceVersions this runner's
	// status writes replaced, and the one its last write made (cacheBehind).
	supersededMu sync.Mutex
	superseded   map[string]*writes

	// arch indexes the archived records while this replica leads.
	arch archived
}

// writes are the versions of one record this runner's status writes
// replaced (the last few), and the version its last write made.
type writes struct {
	replaced []string
	last     string
}

// NewRunner registers a Runner with mgr: its controller and its leader gauge
// run only while mgr leads.
func NewRunner(mgr kube.Manager, opts Options) (*Runner, error) {
	opts.Policy.setDefaults()
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = engine.NewMetrics(nil)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Runner{client: mgr.GetClient(), reader: mgr.GetAPIReader(), opts: opts, book: policy.NewBook(opts.Policy.Limits), windowsStale: true,
		superseded: map[string]*writes{}, arch: archived{entries: newArchiveIndex()}}
	err := kube.AddController(mgr, r, kube.ControllerOptions{Name: "remediation", Workers: opts.Workers, Logger: opts.Logger})
	if err != nil {
		return nil, fmt.Errorf("remediation controller: %w", err)
	}
	err = mgr.Add(kube.RunnableFunc(func(ctx context.Context) error {
		opts.Metrics.Leader().Set(1)
		opts.Logger.Info("leading: this replica executes remediations", "identity", opts.Identity)
		r.arch.mu.Lock()
		r.arch.built, r.arch.entries = false, newArchiveIndex()
		r.noteArchived()
		r.arch.mu.Unlock()
		var wg sync.WaitGroup
		if opts.Namespace != "" {
			wg.Go(func() { r.indexArchived(ctx) })
		}
		wg.Go(func() { r.sweepRecords(ctx) })
		r.sweepSilences(ctx)
		<-ctx.Done()
		wg.Wait()
		opts.Metrics.Leader().Set(0)
		opts.Metrics.Archived().Set(0)
		return nil
	}))
	return r, err
}

// Reconcile moves one record forward: it reads the record, asks nextStep
// what to do, and does it. An error caused by the runner stopping (its
// context cancelled) is not one: the record stays as it is for whoever
// leads next.
func (r *Runner) Reconcile(ctx context.Context, req kube.Request) (kube.Result, error) {
	res, err := r.reconcile(ctx, req)
	if err != nil && ctx.Err() != nil {
		r.opts.Logger.Debug("stopped while reconciling; the record is left for the next leader", "record", req.Name, "err", err)
		return kube.Result{}, nil
	}
	return res, err
}

func (r *Runner) reconcile(ctx context.Context, req kube.Request) (kube.Result, error) {
	var rec v1alpha1.Remediation
	if err := r.client.Get(ctx, req.NamespacedName, &rec); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.Name)
		}
		return kube.Result{}, kube.IgnoreNotFound(err)
	}
	if r.cacheBehind(&rec) {
		return kube.Result{}, nil
	}
	if err := r.seed(ctx); err != nil {
		return kube.Result{}, err
	}
	now := r.opts.Now()
	if err := r.silence(ctx, &rec, now); err != nil {
		return kube.Result{}, err
	}
	s := nextStep(&rec, now, r.opts.Policy)
	switch s.Kind {
	case stepWait:
		return kube.Result{RequeueAfter: s.After}, nil
	case stepCollect:
		return r.collect(ctx, &rec)
	case stepResume:
		return r.takeOver(ctx, req, now)
	case stepExpire:
		r.opts.Metrics.Decision(engine.DecisionExpired).Inc()
		r.opts.Logger.Info("remediation expired unapproved", "record", rec.Name, "rule", rec.Spec.Rule, "target", rec.Spec.TargetRef)
		return kube.Result{}, r.finish(ctx, &rec, refused(rec.Status, v1alpha1.PhaseExpired, "ApprovalTimeout",
			fmt.Sprintf("nobody approved it before %s", s.Deadline.UTC().Format(time.RFC3339)), now))
	case stepAsk:
		return r.pend(ctx, &rec, "ApprovalRequired", fmt.Sprintf("rule %s needs a person's approval", rec.Spec.Rule), nil, s.Deadline, now)
	case stepVerify:
		return r.verify(ctx, &rec, now)
	case stepEscalate:
		return r.escalate(ctx, &rec, now)
	case stepNext:
		return r.nextStep(ctx, &rec, now)
	case stepRestoreHPA:
		return r.restoreHPA(ctx, &rec, now)
	}
	if s.Admit && rec.Status.Phase == v1alpha1.PhaseNew && laterStep(&rec) {
		why, err := r.unplannedStep(ctx, &rec)
		if err != nil {
			return kube.Result{}, err
		}
		if why != "" {
			r.opts.Metrics.Decision(engine.DecisionUnplanned).Inc()
			r.opts.Logger.Error("record not run: it claims to be a step of a sequence that does not plan it", "record", rec.Name, "rule", rec.Spec.Rule, "why", why)
			return kube.Result{}, r.finish(ctx, &rec, refused(rec.Status, v1alpha1.PhaseSkipped, "NotPlanned", why+"; nothing was changed", now))
		}
	}
	if s.CheckRequired {
		if why, plan := r.approvalRequired(ctx, &rec, now); why != "" {
			return r.pend(ctx, &rec, "PolicyRequiresApproval", why, plan, now.Add(r.opts.Policy.RequiredApprovalTimeout), now)
		}
	}
	return r.run(ctx, &rec, now, s.Admit)
}

// run executes rec if policy allows (admit) and records the outcome. A
// record that is resumed (admit false) was admitted before and is not asked
// again: what it may have done is settled first.
func (r *Runner) run(ctx context.Context, rec *v1alpha1.Remediation, now time.Time, admit bool) (kube.Result, error) {
	req, perr := Request(rec)
	if perr != nil {
		// Fail closed: a parameter that does not parse never becomes a
		// default that acts.
		r.opts.Metrics.Decision(engine.DecisionInvalid).Inc()
		r.opts.Logger.Error("remediation not run: its parameters are invalid", "record", rec.Name, "rule", rec.Spec.Rule, "err", perr)
		return kube.Result{}, r.finish(ctx, rec, refused(rec.Status, v1alpha1.PhaseFailed, "InvalidParameters", perr.Error()+"; nothing was changed", now))
	}
	var booked *policy.Reservation
	if admit {
		r.mu.Lock()
		if reason, msg, window := r.refusal(ctx, rec, now); reason != "" {
			r.mu.Unlock()
			if window != nil {
				r.publish(ctx, rec.Namespace, *window, now)
			}
			if reason == "CircuitOpen" && r.opts.Policy.BreakerHold == BreakerApproval {
				return r.holdForApproval(ctx, rec, now, msg)
			}
			decision := map[string]string{"NamespaceDenied": engine.DecisionNamespaceDenied, "Cooldown": engine.DecisionCooldown, "CircuitOpen": engine.DecisionCircuitOpen,
				"RuleBudget": engine.DecisionOverBudget, "TargetBudget": engine.DecisionOverBudget}[reason]
			r.opts.Metrics.Decision(decision).Inc()
			r.opts.Logger.Info("remediation not run", "record", rec.Name, "reason", reason, "why", msg,
				"rule", rec.Spec.Rule, "target", rec.Spec.TargetRef, "fingerprint", rec.Spec.Alert.Fingerprint)
			return kube.Result{}, r.finish(ctx, rec, refused(rec.Status, v1alpha1.PhaseSkipped, reason, msg, now))
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
	// settle keeps the reservation of an action that changed its target:
	// it can no longer be given back, so a budget's end can be promised.
	settle := func() {
		if booked == nil {
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		booked.Settle()
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
		if err := r.writeStatus(ctx, rec); err != nil {
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
			return kube.Result{}, nil // changed under us: its watch event brings it back
		}
		return kube.Result{}, fmt.Errorf("mark %s running: %w", rec.Name, err)
	}
	if first {
		rec.Status.Attempts++ // an attempt that sent nothing counts too
	}
	done := r.opts.Now()
	st, wait := afterAttempt(rec.Spec, rec.Status, res, err, done, r.opts.Policy)
	if wait > 0 && st.Phase != v1alpha1.PhaseVerifying {
		if st.Write == nil {
			release(false) // certainly not applied
		}
		r.opts.Metrics.Decision(engine.DecisionRetry).Inc()
		r.opts.Logger.Warn("remediation failed transiently, will retry", "record", rec.Name, "attempt", rec.Status.Attempts,
			"at", st.NextAttemptAt.Time, "may_have_applied", st.Write != nil, "err", err)
		if uerr := r.finish(actx, rec, st); uerr != nil {
			// Still Running with its change recorded: whoever looks next
			// settles it from the target.
			return kube.Result{}, fmt.Errorf("mark %s for retry: %w", rec.Name, uerr)
		}
		return kube.Result{RequeueAfter: wait}, nil
	}
	if res.Outcome != remediations.Succeeded {
		release(true) // nothing changed on the target: no cooldown from it
	} else {
		settle()
	}
	r.opts.Metrics.Decision(engine.DecisionExecuted).Inc()
	r.opts.Metrics.AcceptedToDone(string(rec.Spec.Action), string(res.Outcome)).Observe(done.Sub(recordedAt(rec)).Seconds())
	r.opts.Metrics.AlertToDone(string(rec.Spec.Action), string(res.Outcome)).Observe(done.Sub(rec.Spec.Alert.StartsAt.Time).Seconds())
	log := r.opts.Logger.With("record", rec.Name, "rule", rec.Spec.Rule, "action", rec.Spec.Action,
		"target", rec.Spec.TargetRef, "fingerprint", rec.Spec.Alert.Fingerprint)
	if err != nil {
		log.Error("remediation failed", "reason", res.Reason, "attempts", rec.Status.Attempts, "err", err)
	} else {
		log.Info("remediation finished", "outcome", string(res.Outcome), "reason", res.Reason,
			"before", res.Before, "after", res.After, "dry_run", res.DryRun, "message", res.Message, "verifying", st.Phase == v1alpha1.PhaseVerifying)
	}
	return kube.Result{RequeueAfter: wait}, r.finish(actx, rec, st)
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
			if err := r.reader.Get(ctx, kube.ObjectKeyFromObject(rec), rec); err != nil {
				return err
			}
			if rec.Status.Phase.Final() {
				return nil
			}
			st = rec.Status
			st.Phase, st.Reason, st.Message, st.Result = want.Phase, want.Reason, want.Message, want.Result
			st.StartedAt, st.FinishedAt, st.ExecutedBy, st.Attempts = want.StartedAt, want.FinishedAt, want.ExecutedBy, want.Attempts
			st.NextAttemptAt, st.Write, st.Verification = want.NextAttemptAt, want.Write, want.Verification
			st.HPA = want.HPA
		}
		first = false
		rec.Status = st
		return r.writeStatus(ctx, rec)
	})
}

// writeStatus writes rec's status, conditional on its resourceVersion, and
// notes that version as superseded: until the cache has the write, a
// reconcile that reads the record from it sees a version this runner knows
// is old (cacheBehind).
func (r *Runner) writeStatus(ctx context.Context, rec *v1alpha1.Remediation) error {
	prev := rec.ResourceVersion
	if err := r.client.Status().Update(ctx, rec); err != nil {
		return err
	}
	r.noteWrite(rec.Name, prev, rec.ResourceVersion)
	return nil
}

// noteWrite notes that this runner's status write replaced version prev of
// record name with version now.
func (r *Runner) noteWrite(name, prev, now string) {
	r.supersededMu.Lock()
	defer r.supersededMu.Unlock()
	w := r.superseded[name]
	if w == nil {
		w = &writes{}
		r.superseded[name] = w
	}
	if len(w.replaced) == maxReplaced {
		w.replaced = w.replaced[1:]
	}
	w.replaced = append(w.replaced, prev)
	w.last = now
}

// maxReplaced bounds the versions of one record cacheBehind remembers;
// one status write rarely follows another by more than a couple before the
// cache catches up.
const maxReplaced = 8

// cacheBehind reports whether rec, as read from the cache, is a version
// this runner's own status write has replaced. The write's watch event is
// on its way and brings the record back; acting on the old version would
// be acting on what is no longer so (a record found Running that has
// since finished would be taken over, at the cost of a read from the API
// server to find that out). Only equality is used: a resourceVersion says
// nothing of order.
func (r *Runner) cacheBehind(rec *v1alpha1.Remediation) bool {
	r.supersededMu.Lock()
	defer r.supersededMu.Unlock()
	w, ok := r.superseded[rec.Name]
	switch {
	case !ok:
		return false
	case rec.ResourceVersion == w.last:
		delete(r.superseded, rec.Name) // the cache has caught up
		return false
	}
	return slices.Contains(w.replaced, rec.ResourceVersion)
}

// forget drops what cacheBehind knows of a record that is gone.
func (r *Runner) forget(name string) {
	r.supersededMu.Lock()
	delete(r.superseded, name)
	r.supersededMu.Unlock()
}
