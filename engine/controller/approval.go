package controller

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine"
	"github.com/alertmedic/alertmedic/internal/kube"
)

// holdForApproval turns an action the open breaker holds back into one
// waiting for a person.
func (r *Runner) holdForApproval(ctx context.Context, rec *v1alpha1.Remediation, now time.Time, why string) (kube.Result, error) {
	r.opts.Metrics.Decision(engine.DecisionCircuitOpen).Inc()
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
func (r *Runner) pend(ctx context.Context, rec *v1alpha1.Remediation, reason, msg string, plan *v1alpha1.Plan, deadline, now time.Time) (kube.Result, error) {
	if plan == nil {
		plan = r.plan(ctx, rec, now)
	}
	t := metav1.NewTime(deadline)
	rec.Status.Phase, rec.Status.Reason, rec.Status.ApprovalExpiresAt = v1alpha1.PhasePendingApproval, reason, &t
	rec.Status.Plan = plan
	rec.Status.Message = fmt.Sprintf("%s; approve with 'alertmedic approve %s' before %s", msg, rec.Name, deadline.UTC().Format(time.RFC3339))
	if err := r.writeStatus(ctx, rec); err != nil {
		if apierrors.IsConflict(err) {
			return kube.Result{}, nil // changed under us: its watch event brings it back
		}
		return kube.Result{}, kube.IgnoreNotFound(err)
	}
	r.opts.Metrics.Decision(engine.DecisionAwaitApproval).Inc()
	r.opts.Logger.Info("remediation awaits approval", "record", rec.Name, "reason", reason, "rule", rec.Spec.Rule,
		"target", rec.Spec.TargetRef, "expires", deadline)
	return kube.Result{RequeueAfter: deadline.Sub(now)}, nil
}
