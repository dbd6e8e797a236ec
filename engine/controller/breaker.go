package controller

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine/breaker"
	"github.com/alertmedic/alertmedic/policy"
)

// The circuit breaker's windows (engine/breaker): when the leader's breaker
// opens, it publishes the window from now until the breaker has room (as
// counted then), and from then on skips every automatic action for an
// episode that started in a published window. Replicas that know the
// window do not record such episodes at all.

// BreakerApplies reports whether the circuit breaker decides spec's
// action: an action that runs without a person. An action that waits for
// approval (its rule's, or the deployment's --require-approval, or the
// breaker's own with --breaker-hold approval) is not held back by the
// breaker once approved, so it is never left unrecorded. Whether a scale
// goes down is only known when it runs, so any scale counts as one that
// may, where --require-approval scale-down applies.
func BreakerApplies(spec *v1alpha1.RemediationSpec, pol Policy) bool {
	if pol.BreakerHold == BreakerApproval || pol.Limits.BreakerMax < 0 {
		return false
	}
	return RunsWithoutPerson(spec, pol)
}

// RunsWithoutPerson reports whether spec's action runs without a person's
// approval: neither its rule nor the deployment's --require-approval asks
// for one (for the first step or any later one).
func RunsWithoutPerson(spec *v1alpha1.RemediationSpec, pol Policy) bool {
	if spec.Approval != nil {
		return false
	}
	steps := append([]v1alpha1.Step{{Action: spec.Action, Target: &spec.Target}}, spec.Then...)
	for _, req := range pol.RequireApproval {
		for _, st := range steps {
			t := spec.Target
			if st.Target != nil {
				t = *st.Target
			}
			switch {
			case req == string(st.Action), req == "scale-down" && st.Action == v1alpha1.ActionScale:
				return false
			case strings.HasPrefix(req, "namespace="):
				if ok, _ := path.Match(strings.TrimPrefix(req, "namespace="), t.Namespace); ok {
					return false
				}
			}
		}
	}
	return true
}

// BudgetKey is the rule budget (policy.BudgetKey) whose published
// windows decide spec's episodes: "" when none does, because its rule has
// no budget, or its action waits for a person (who may approve it once the
// budget has room), or policy would not hold it back anyway.
func BudgetKey(spec *v1alpha1.RemediationSpec, pol Policy) string {
	l, a, ok := windowed(spec, pol)
	if !ok {
		return ""
	}
	return l.BudgetKey(a)
}

// TargetBudgetKey is the target budget (policy.TargetBudgetKey: spec's
// target and the perTarget budget that applies to it) whose published
// windows decide spec's episodes, under the same conditions as BudgetKey.
func TargetBudgetKey(spec *v1alpha1.RemediationSpec, pol Policy) string {
	l, a, ok := windowed(spec, pol)
	if !ok {
		return ""
	}
	return l.TargetBudgetKey(a)
}

// CooldownKey is the target's cooldown (policy.CooldownKey) whose
// published windows decide spec's episodes, under the same conditions as
// BudgetKey.
func CooldownKey(spec *v1alpha1.RemediationSpec, pol Policy) string {
	l, a, ok := windowed(spec, pol)
	if !ok {
		return ""
	}
	return l.CooldownKey(a)
}

// BudgetKeys are the published budget and cooldown windows that decide
// spec's episodes: BudgetKey, TargetBudgetKey and CooldownKey, those not
// "".
func BudgetKeys(spec *v1alpha1.RemediationSpec, pol Policy) []string {
	l, a, ok := windowed(spec, pol)
	if !ok {
		return nil
	}
	var keys []string
	for _, k := range []string{l.BudgetKey(a), l.TargetBudgetKey(a), l.CooldownKey(a)} {
		if k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// windowed says whether published budget and cooldown windows decide
// spec's episodes at all: an action that runs without a person, and is
// neither an escalation nor a later step of a sequence (which the
// cooldown and budgets do not hold back as they do a first action); with
// the limits (defaults filled in) and the action policy is asked about.
func windowed(spec *v1alpha1.RemediationSpec, pol Policy) (policy.Limits, policy.Action, bool) {
	l := pol.Limits
	if spec.EscalatedFrom != "" || spec.Sequence != nil && spec.Sequence.Step > 1 || !RunsWithoutPerson(spec, pol) {
		return l, policy.Action{}, false
	}
	a := policy.Action{Rule: spec.Rule, TargetRef: spec.TargetRef}
	if spec.Cooldown != nil {
		a.Cooldown = spec.Cooldown.Duration
	}
	if b := spec.Budget; b != nil {
		a.Budget = &policy.Budget{PerRule: int(b.PerRule), PerTarget: int(b.PerTarget), Window: b.Window.Duration}
	}
	l.SetDefaults()
	return l, a, true
}

// loadWindows reads the published windows, the breaker's and the rules'
// budgets', when this replica's copy may be stale; false when they could
// not be read: the book decides alone, as it did before any was
// published. Guarded by r.mu.
func (r *Runner) loadWindows(ctx context.Context, namespace string) bool {
	if !r.windowsStale {
		return true
	}
	ws, bs, err := breaker.Load(ctx, r.reader, namespace)
	if err != nil {
		r.opts.Logger.Warn("circuit breaker and budget windows not read; deciding by this replica's book alone", "err", err)
		return false
	}
	r.windows, r.budgets, r.windowsStale = ws, bs, false
	return true
}

// inBudgetWindow says why rec is skipped for having started in a window
// published for its rule's budget, its target's budget or its target's
// cooldown ("" if it is not). Guarded by r.mu.
func (r *Runner) inBudgetWindow(ctx context.Context, rec *v1alpha1.Remediation) (reason policy.Reason, msg string) {
	pol := r.opts.Policy
	a := PolicyAction(rec)
	started := rec.Spec.Alert.StartsAt.Time
	for _, c := range []struct {
		key    string
		reason policy.Reason
	}{
		{CooldownKey(&rec.Spec, pol), policy.Cooldown},
		{BudgetKey(&rec.Spec, pol), policy.RuleBudget},
		{TargetBudgetKey(&rec.Spec, pol), policy.TargetBudget},
	} {
		if c.key == "" || !r.loadWindows(ctx, rec.Namespace) {
			continue
		}
		w, ok := r.budgets[c.key].Contains(started)
		if !ok {
			continue
		}
		span := fmt.Sprintf("from %s until %s", w.From.UTC().Format(time.RFC3339), w.Until.UTC().Format(time.RFC3339))
		var why string
		switch c.reason {
		case policy.Cooldown:
			why = fmt.Sprintf("%s was in its cooldown (%s; %s)", rec.Spec.TargetRef, r.book.Limits().CooldownOf(a), span)
		case policy.RuleBudget:
			perRule, window := r.book.RuleBudget(a)
			why = fmt.Sprintf("rule %s had used its budget (%d actions within %s; %s)", rec.Spec.Rule, perRule, window, span)
		default:
			perTarget, window := r.book.TargetBudget(a)
			why = fmt.Sprintf("%s had used its budget (maxPerWindow.perTarget %d within %s; %s)", rec.Spec.TargetRef, perTarget, window, span)
		}
		return c.reason, fmt.Sprintf("the alert episode started at %s, while %s; not acting automatically", started.UTC().Format(time.RFC3339), why)
	}
	return "", ""
}

// budgetWindow is the window to publish now that the book refused rec at
// now for reason (Cooldown, RuleBudget or TargetBudget): from now until
// the cooldown ends or the budget has room, when that can be promised.
// Guarded by r.mu.
func (r *Runner) budgetWindow(rec *v1alpha1.Remediation, reason policy.Reason, now time.Time) (*publication, bool) {
	var (
		key   string
		until time.Time
		ok    bool
		a     = PolicyAction(rec)
	)
	switch reason {
	case policy.Cooldown:
		key = CooldownKey(&rec.Spec, r.opts.Policy)
		until, ok = r.book.CooldownRoomAt(a, now)
	case policy.RuleBudget:
		key = BudgetKey(&rec.Spec, r.opts.Policy)
		until, ok = r.book.RuleBudgetRoomAt(a, now)
	case policy.TargetBudget:
		key = TargetBudgetKey(&rec.Spec, r.opts.Policy)
		until, ok = r.book.TargetBudgetRoomAt(a, now)
	}
	if key == "" || !ok || !now.Before(until) {
		return nil, false
	}
	if cur, ok := r.budgets[key].Contains(now); ok && !cur.Until.Before(until) {
		return nil, false
	}
	return &publication{budget: key, window: policy.Window{From: now, Until: until}}, true
}

// publication is a window to publish: the breaker's (budget "") or a
// rule budget's.
type publication struct {
	budget string
	window policy.Window
}

// inBreakerWindow says why rec is skipped for having started in a
// published breaker window ("" if it is not). Guarded by r.mu.
func (r *Runner) inBreakerWindow(ctx context.Context, rec *v1alpha1.Remediation) string {
	if rec.Spec.EscalatedFrom != "" || laterStep(rec) || !BreakerApplies(&rec.Spec, r.opts.Policy) {
		return ""
	}
	if !r.loadWindows(ctx, rec.Namespace) {
		return ""
	}
	w, ok := r.windows.Contains(rec.Spec.Alert.StartsAt.Time)
	if !ok {
		return ""
	}
	return fmt.Sprintf("the alert episode started at %s, while the circuit breaker was open (from %s until %s); not acting automatically",
		rec.Spec.Alert.StartsAt.UTC().Format(time.RFC3339), w.From.UTC().Format(time.RFC3339), w.Until.UTC().Format(time.RFC3339))
}

// breakerWindow is the window to publish now that the book refused an
// action as CircuitOpen at now: from now until the breaker has room.
// ok is false when the published windows cover it already. Guarded by r.mu.
func (r *Runner) breakerWindow(now time.Time) (policy.Window, bool) {
	w := policy.Window{From: now, Until: r.book.BreakerRoomAt(now)}
	if !w.From.Before(w.Until) {
		return w, false
	}
	if cur, ok := r.windows.Contains(now); ok && !cur.Until.Before(w.Until) {
		return w, false
	}
	return w, true
}

// publish stores p for every replica. Until it is stored and known
// stored, this replica reads the windows again before relying on them: a
// write whose answer was lost may have landed.
func (r *Runner) publish(ctx context.Context, namespace string, p publication, now time.Time) {
	keepSince := now.Add(-r.opts.Policy.MaxRetention)
	w := p.window
	if p.budget != "" {
		stored, dropped, err := breaker.PublishBudget(ctx, r.client, namespace, p.budget, w, keepSince)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err != nil {
			r.windowsStale = true
			r.opts.Logger.Warn("budget window not published; replicas record the episodes it would hold one by one", "budget", p.budget, "err", err)
			return
		}
		r.budgets = stored
		r.opts.Logger.Info("budget window published: the alert episodes it holds that start in it are not acted on automatically, nor recorded",
			"budget", p.budget, "from", w.From, "until", w.Until)
		if dropped > 0 {
			r.opts.Logger.Warn("too many target windows to publish: those that end soonest are forgotten, and replicas record the episodes they would have held one by one (the leader still skips them)",
				"max", breaker.MaxTargetWindows, "forgotten", dropped)
		}
		return
	}
	stored, err := breaker.Publish(ctx, r.client, namespace, w, keepSince)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.windowsStale = true
		r.opts.Logger.Warn("circuit breaker window not published; replicas record the storm's episodes one by one", "err", err)
		return
	}
	r.windows = stored
	r.opts.Logger.Info("circuit breaker window published: alert episodes that start in it are not acted on automatically, nor recorded",
		"from", w.From, "until", w.Until)
}
