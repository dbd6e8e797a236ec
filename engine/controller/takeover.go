package controller

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/remediations"
)

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
func (r *Runner) takeOver(ctx context.Context, req kube.Request, now time.Time) (kube.Result, error) {
	var rec v1alpha1.Remediation
	if err := r.reader.Get(ctx, req.NamespacedName, &rec); err != nil {
		return kube.Result{}, kube.IgnoreNotFound(err)
	}
	if rec.Status.Phase != v1alpha1.PhaseRunning {
		return kube.Result{}, nil // the cache was behind: the event it has not seen brings the record back
	}
	r.opts.Metrics.Decision(engine.DecisionInterrupted).Inc()
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
			return kube.Result{}, err
		}
		if done {
			log.Info("interrupted restart had been applied; recording it")
			st, wait := afterAttempt(rec.Spec, rec.Status, remediations.Result{Outcome: remediations.Succeeded, Reason: "Restarted",
				Message: "the restart was applied; the replica that ran it stopped before recording it"}, nil, now, r.opts.Policy)
			return kube.Result{RequeueAfter: wait}, r.finish(ctx, &rec, st)
		}
		log.Info("interrupted restart had not been applied; running it")
		return r.run(ctx, &rec, now, false)
	case s.Action == v1alpha1.ActionScale && s.Scale != nil && s.Scale.Op == v1alpha1.ScaleTo,
		s.Action == v1alpha1.ActionRollback && s.Rollback != nil && s.Rollback.ToRevision > 0:
		log.Info("interrupted action is the same when repeated; running it again")
		return r.run(ctx, &rec, now, false)
	}
	log.Warn("interrupted action may or may not have been applied; not repeating it")
	return kube.Result{}, r.finish(ctx, &rec, refused(rec.Status, v1alpha1.PhaseFailed, "Interrupted",
		fmt.Sprintf("replica %s stopped while running this; it may or may not have been applied, and running it again could act twice: check %s", rec.Status.ExecutedBy, s.TargetRef), now))
}

// restartedSince reports whether the target's restartedAt annotation is at
// or after the record's start (whole seconds, as kubectl writes it).
func (r *Runner) restartedSince(ctx context.Context, rec *v1alpha1.Remediation) (bool, error) {
	key := kube.ObjectKey{Namespace: rec.Spec.Target.Namespace, Name: rec.Spec.Target.Name}
	var tmpl *corev1.PodTemplateSpec
	switch rec.Spec.Target.Kind {
	case v1alpha1.KindDeployment:
		var o appsv1.Deployment
		tmpl = &o.Spec.Template
		if err := r.reader.Get(ctx, key, &o); err != nil {
			return false, kube.IgnoreNotFound(err)
		}
	case v1alpha1.KindStatefulSet:
		var o appsv1.StatefulSet
		tmpl = &o.Spec.Template
		if err := r.reader.Get(ctx, key, &o); err != nil {
			return false, kube.IgnoreNotFound(err)
		}
	case v1alpha1.KindDaemonSet:
		var o appsv1.DaemonSet
		tmpl = &o.Spec.Template
		if err := r.reader.Get(ctx, key, &o); err != nil {
			return false, kube.IgnoreNotFound(err)
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
