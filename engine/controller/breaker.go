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
	if spec.EscalatedFrom != "" || spec.Sequence != nil && spec.Sequence.Step > 1 || !RunsWithoutPerson(spec, pol) {
		return ""
	}
	a := policy.Action{Rule: spec.Rule}
	if b := spec.Budget; b != nil {
		a.Budget = &policy.Budget{PerRule: int(b.PerRule), PerTarget: int(b.PerTarget), Window: b.Window.Duration}
	}
	l := pol.Limits
	l.SetDefaults()
	return l.BudgetKey(a)
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
// its rule's budget published ("" if it is not). Guarded by r.mu.
func (r *Runner) inBudgetWindow(ctx context.Context, rec *v1alpha1.Remediation) string {
	key := BudgetKey(&rec.Spec, r.opts.Policy)
	if key == "" || !r.loadWindows(ctx, rec.Namespace) {
		return ""
	}
	w, ok := r.budgets[key].Contains(rec.Spec.Alert.StartsAt.Time)
	if !ok {
		return ""
	}
	perRule, window := r.book.RuleBudget(PolicyAction(rec))
	return fmt.Sprintf("the alert episode started at %s, while rule %s had used its budget (%d actions within %s; from %s until %s); not acting automatically",
		rec.Spec.Alert.StartsAt.UTC().Format(time.RFC3339), rec.Spec.Rule, perRule, window, w.From.UTC().Format(time.RFC3339), w.Until.UTC().Format(time.RFC3339))
}

// budgetWindow is the window to publish for rec's rule now that the book
// refused rec as RuleBudget at now: from now until the budget has room,
// when that can be promised. Guarded by r.mu.
func (r *Runner) budgetWindow(rec *v1alpha1.Remediation, now time.Time) (*publication, bool) {
	key := BudgetKey(&rec.Spec, r.opts.Policy)
	if key == "" {
		return nil, false
	}
	until, ok := r.book.RuleBudgetRoomAt(PolicyAction(rec), now)
	if !ok || !now.Before(until) {
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
		stored, err := breaker.PublishBudget(ctx, r.client, namespace, p.budget, w, keepSince)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err != nil {
			r.windowsStale = true
			r.opts.Logger.Warn("budget window not published; replicas record the rule's episodes one by one", "budget", p.budget, "err", err)
			return
		}
		r.budgets = stored
		r.opts.Logger.Info("budget window published: the rule's alert episodes that start in it are not acted on automatically, nor recorded",
			"budget", p.budget, "from", w.From, "until", w.Until)
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
