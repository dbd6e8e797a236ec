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
	if spec.Approval != nil || pol.BreakerHold == BreakerApproval || pol.Limits.BreakerMax < 0 {
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

// inBreakerWindow says why rec is skipped for having started in a
// published breaker window ("" if it is not). Guarded by r.mu.
func (r *Runner) inBreakerWindow(ctx context.Context, rec *v1alpha1.Remediation) string {
	if rec.Spec.EscalatedFrom != "" || laterStep(rec) || !BreakerApplies(&rec.Spec, r.opts.Policy) {
		return ""
	}
	if r.windowsStale {
		ws, err := breaker.Load(ctx, r.reader, rec.Namespace)
		if err != nil {
			// Not knowing the windows: the book decides alone, as it did
			// before any was published.
			r.opts.Logger.Warn("circuit breaker windows not read; deciding by this replica's book alone", "err", err)
			return ""
		}
		r.windows, r.windowsStale = ws, false
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

// publishBreakerWindow stores w for every replica. Until it is stored and
// known stored, this replica reads the windows again before relying on
// them: a write whose answer was lost may have landed.
func (r *Runner) publishBreakerWindow(ctx context.Context, namespace string, w policy.Window, now time.Time) {
	stored, err := breaker.Publish(ctx, r.client, namespace, w, now.Add(-r.opts.Policy.MaxRetention))
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.windowsStale = true
		r.opts.Logger.Warn("circuit breaker window not published; replicas record the storm's episodes one by one", "err", err)
		return
	}
	r.windows, r.windowsStale = stored, false
	r.opts.Logger.Info("circuit breaker window published: alert episodes that start in it are not acted on automatically, nor recorded",
		"from", w.From, "until", w.Until)
}
