package controller

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/policy"
	"github.com/alertmedic/alertmedic/remediations"
)

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
	// says: "restart", "scale", "scale-down", "rollback", "evict-pod", "run-job", or
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
	Retention    time.Duration // default 8 days: a week's report (alertmedic report) sees every record of the week
	MaxRetention time.Duration // default 30 days
	// MaxRecords bounds the finished records kept, whatever their age:
	// beyond it, those age retention would delete soonest go first (0: no
	// bound). A record not final, whose escalation or next step is not
	// recorded yet, or whose HPA raise is not put back, is never deleted
	// for it.
	MaxRecords int
	// CountSweep is how often the leader sweeps the finished records in its
	// cache: those whose retention is over, and those beyond MaxRecords,
	// are deleted then.
	CountSweep time.Duration // default 1m
	// VerifyInterval is how often the checks of a Verifying record are
	// looked at (and the target read) until they pass or their deadline.
	VerifyInterval time.Duration // default 5s
	// AlertAbsentFor is how long Alertmanager's API must go on not listing
	// an alert, without a resolved notification, before verify.alertResolved
	// takes it as resolved (Prometheus re-sends a firing alert every
	// minute, so an Alertmanager that restarted knows it again by then).
	AlertAbsentFor time.Duration // default 2m
	// SilenceSweep is how often the leader looks for silences left behind
	// (their record ended or is gone) and expires them.
	SilenceSweep time.Duration // default 10m
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
		p.Retention = 8 * 24 * time.Hour
	}
	if p.MaxRetention <= 0 {
		p.MaxRetention = 30 * 24 * time.Hour
	}
	if p.CountSweep <= 0 {
		p.CountSweep = time.Minute
	}
	if p.VerifyInterval <= 0 {
		p.VerifyInterval = 5 * time.Second
	}
	if p.AlertAbsentFor <= 0 {
		p.AlertAbsentFor = 2 * time.Minute
	}
	if p.SilenceSweep <= 0 {
		p.SilenceSweep = 10 * time.Minute
	}
}

// What the open circuit breaker does with an action (Policy.BreakerHold).
const (
	BreakerSkip     = "skip"
	BreakerApproval = "approval"
)

// ValidRequireApproval checks one --require-approval value.
func ValidRequireApproval(v string) error {
	switch v {
	case "restart", "scale", "scale-down", "rollback", "evict-pod", "run-job":
		return nil
	}
	if p, ok := strings.CutPrefix(v, "namespace="); ok && p != "" {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("%q: bad pattern: %w", v, err)
		}
		return nil
	}
	return fmt.Errorf("%q: want restart, scale, scale-down, rollback, evict-pod, run-job or namespace=PATTERN", v)
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
		// The later steps of a sequence are decided here, with the first.
		for i, st := range s.Then {
			if why := stepNeedsApproval(req, st, s.Target); why != "" {
				return fmt.Sprintf("step %d of the sequence %s, and the deployment's policy requires approval for it (--require-approval %s)", i+2, why, req), nil
			}
		}
	}
	return "", nil
}

// stepNeedsApproval says what a later step st of a sequence does that
// --require-approval req covers ("" if nothing); target is the first
// step's, which a step without its own acts on. Whether a scale to N goes
// down is only known when the step runs, so it counts as one that may.
func stepNeedsApproval(req string, st v1alpha1.Step, target v1alpha1.Target) string {
	if st.Target != nil {
		target = *st.Target
	}
	switch {
	case req == string(st.Action):
		return fmt.Sprintf("is a %s", st.Action)
	case req == "scale-down" && st.Action == v1alpha1.ActionScale && st.Scale != nil:
		sc := st.Scale
		f, err := sc.Factor.Float64()
		if sc.Op == v1alpha1.ScaleTo || sc.Op == v1alpha1.ScaleBy && sc.N < 0 || sc.Op == v1alpha1.ScaleMultiply && (err != nil || f < 1) {
			return "is a scale that may go down"
		}
	case strings.HasPrefix(req, "namespace="):
		if ok, _ := path.Match(strings.TrimPrefix(req, "namespace="), target.Namespace); ok {
			return "acts in namespace " + target.Namespace
		}
	}
	return ""
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
	if plan.Error == "" && plan.Outcome == string(remediations.Skipped) {
		return false, plan // changes nothing (at its bound, an HPA's target...)
	}
	// A scale sets replicas=N, or raises an HPA's minReplicas=N.
	count := func(s string) (int, error) {
		var n int
		format := "replicas=%d"
		if strings.HasPrefix(s, "minReplicas=") {
			format = "minReplicas=%d"
		}
		_, err := fmt.Sscanf(s, format, &n)
		return n, err
	}
	before, e1 := count(plan.Before)
	after, e2 := count(plan.After)
	return plan.Error != "" || e1 != nil || e2 != nil || after < before, plan
}

// refusal says why policy refuses rec now ("" if it does not).
// A record a person approved is not held by the breaker (that is what the
// approval was for), but the other limits still apply.
func (r *Runner) refusal(ctx context.Context, rec *v1alpha1.Remediation, now time.Time) (reason, msg string, publish *publication) {
	// A sequence is admitted as a whole: one that could not finish for
	// the namespace of a later step does not start.
	l := r.book.Limits()
	for i, st := range rec.Spec.Then {
		if st.Target != nil && !policy.NamespaceAllowed(st.Target.Namespace, l.AllowNamespaces, l.DenyNamespaces) {
			return string(policy.NamespaceDenied), fmt.Sprintf("step %d of the sequence acts in namespace %s, which is not one alertmedic may act in (--allow-namespaces / --deny-namespaces); no step was run", i+2, st.Target.Namespace), nil
		}
	}
	if msg := r.inBreakerWindow(ctx, rec); msg != "" && !PolicyAction(rec).Approved &&
		policy.NamespaceAllowed(rec.Spec.Target.Namespace, l.AllowNamespaces, l.DenyNamespaces) {
		return string(policy.CircuitOpen), msg, nil
	}
	if reason, msg := r.inBudgetWindow(ctx, rec); reason != "" && policy.NamespaceAllowed(rec.Spec.Target.Namespace, l.AllowNamespaces, l.DenyNamespaces) {
		return string(reason), msg, nil
	}
	d := r.book.Check(PolicyAction(rec), now)
	switch d.Breaker {
	case policy.BreakerOpened:
		r.opts.Metrics.BreakerOpen().Set(1)
		r.opts.Logger.Warn("circuit breaker open: too many remediations in the window; automatic actions are skipped until it has room",
			"max", r.opts.Policy.BreakerMax, "window", r.opts.Policy.BreakerWindow)
	case policy.BreakerClosed:
		r.opts.Metrics.BreakerOpen().Set(0)
		r.opts.Logger.Info("circuit breaker closed: automatic actions resume")
	}
	if d.Reason == policy.CircuitOpen && BreakerApplies(&rec.Spec, r.opts.Policy) {
		if w, ok := r.breakerWindow(now); ok {
			publish = &publication{window: w}
		}
	}
	if d.Reason == policy.RuleBudget || d.Reason == policy.TargetBudget || d.Reason == policy.Cooldown {
		if p, ok := r.budgetWindow(rec, d.Reason, now); ok {
			publish = p
		}
	}
	return string(d.Reason), d.Message, publish
}

// PolicyAction is what policy is asked about rec.
func PolicyAction(rec *v1alpha1.Remediation) policy.Action {
	a := policy.Action{
		Rule: rec.Spec.Rule, Target: rec.Labels[v1alpha1.LabelTarget], TargetRef: rec.Spec.TargetRef,
		Namespace: rec.Spec.Target.Namespace, Approved: rec.Status.Phase == v1alpha1.PhaseApproved,
		Escalation: rec.Spec.EscalatedFrom != "", Continuation: laterStep(rec),
	}
	if rec.Spec.Cooldown != nil {
		a.Cooldown = rec.Spec.Cooldown.Duration
	}
	if b := rec.Spec.Budget; b != nil {
		a.Budget = &policy.Budget{PerRule: int(b.PerRule), PerTarget: int(b.PerTarget), Window: b.Window.Duration}
	}
	return a
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
	// Read only, and possibly tens of thousands: not copied out of the
	// cache (a copy of each would double the heap at every leader's start).
	if err := r.client.List(ctx, &list, kube.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("list records: %w", err)
	}
	// Archived records are not in the cache: none acted within the book's
	// horizon (archivable).
	for i := range list.Items {
		rec := &list.Items[i]
		if at, ok := actedAt(rec); ok {
			r.book.Record(rec.Spec.Rule, rec.Labels[v1alpha1.LabelTarget], at)
		}
	}
	r.seeded = true
	return nil
}
