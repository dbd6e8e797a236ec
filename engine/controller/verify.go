package controller

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/remediations"
)

// verify looks at the checks of a Verifying record: it reads the target's
// rollout when that check is still open, asks afterCheck, and writes what
// it returns. Nothing here is in memory: the deadlines are in the record,
// so whichever replica leads next carries on from the record alone.
func (r *Runner) verify(ctx context.Context, rec *v1alpha1.Remediation, now time.Time) (kube.Result, error) {
	var obs observation
	if v := rec.Status.Verification; v == nil || v.Rollout != nil && v.Rollout.PassedAt == nil {
		if rec.Spec.Verify != nil && rec.Spec.Verify.Rollout != nil {
			ro, err := r.rollout(ctx, rec)
			switch {
			case apierrors.IsNotFound(err):
				obs.Gone = true
			case err != nil:
				if ctx.Err() != nil {
					return kube.Result{}, err
				}
				obs.Err = err
				r.opts.Logger.Warn("could not read the rollout of a remediation's target; trying again", "record", rec.Name, "target", rec.Spec.TargetRef, "err", err)
			default:
				obs.Rollout = &ro
			}
		}
	}
	if v := rec.Status.Verification; v != nil && v.AlertResolved != nil && v.AlertResolved.PassedAt == nil &&
		rec.Status.AlertResolvedAt == nil && r.opts.Alertmanager != nil {
		firing, err := r.opts.Alertmanager.Firing(ctx, rec.Spec.Alert.Fingerprint, rec.Spec.Alert.Labels)
		if err != nil {
			if ctx.Err() != nil {
				return kube.Result{}, err
			}
			obs.AlertErr = err
			r.opts.Logger.Warn("could not ask Alertmanager whether the alert still fires; trying again", "record", rec.Name, "err", err)
		} else {
			obs.Firing = &firing
		}
	}
	checked := r.opts.Now()
	st, wait := afterCheck(rec.Spec, rec.Status, obs, checked, r.opts.Policy)
	if obs.Rollout != nil {
		r.readWarnings(ctx, rec, &st)
	}
	if st.Phase.Final() {
		r.observeVerification(rec, st, checked)
	}
	if err := r.finish(ctx, rec, st); err != nil {
		return kube.Result{}, fmt.Errorf("record the verification of %s: %w", rec.Name, err)
	}
	return kube.Result{RequeueAfter: wait}, nil
}

// observeVerification counts how a verification ended, and logs it.
func (r *Runner) observeVerification(rec *v1alpha1.Remediation, st v1alpha1.RemediationStatus, at time.Time) {
	action := string(rec.Spec.Action)
	r.opts.Metrics.Verification(action, st.Reason).Inc()
	log := r.opts.Logger.With("record", rec.Name, "rule", rec.Spec.Rule, "action", action, "target", rec.Spec.TargetRef,
		"fingerprint", rec.Spec.Alert.Fingerprint, "reason", st.Reason, "message", st.Message)
	if st.Phase != v1alpha1.PhaseSucceeded {
		log.Warn("remediation not verified")
		return
	}
	if v := st.Verification; v != nil {
		r.opts.Metrics.ActionToVerified(action).Observe(at.Sub(v.StartedAt.Time).Seconds())
	}
	log.Info("remediation verified")
}

// readWarnings keeps in the rollout check the last Warning Events of the
// target and its pods, read while the check is open and once more as it
// passes or fails, so that whoever reads the record (the Slack message,
// kubectl) sees why its pods are not ready without a terminal. Only Events
// seen since the action started count. A failed read keeps what was read
// before: it is a diagnosis, not a verdict.
func (r *Runner) readWarnings(ctx context.Context, rec *v1alpha1.Remediation, st *v1alpha1.RemediationStatus) {
	if st.Verification == nil || st.Verification.Rollout == nil {
		return
	}
	since := st.Verification.StartedAt.Time
	if st.StartedAt != nil {
		since = st.StartedAt.Time
	}
	target := rec.Spec.Target
	switch rec.Spec.Action {
	case v1alpha1.ActionEvictPod: // the workload that owned the pod
		if res := st.Result; res != nil && res.Owner != nil {
			target = *res.Owner
		} else {
			return
		}
	case v1alpha1.ActionRunJob: // the Job's failed pods are in the check's message
		return
	}
	w, err := r.opts.Executor.Warnings(ctx, target, since)
	if err != nil {
		r.opts.Logger.Warn("could not read the Warning Events of a remediation's target", "record", rec.Name, "target", rec.Spec.TargetRef, "err", err)
		return
	}
	st.Verification.Rollout.Warnings = w
}

// rollout reads what a record's rollout check waits for: the target's
// rollout; for evict-pod, the rollout of the workload that owned the pod
// (a pod without one has nothing to converge: passed); for run-job, the
// Job it created, whose success or failure ends the check; for a scale
// that raised an HPA's minimum, the target scaled up to it.
func (r *Runner) rollout(ctx context.Context, rec *v1alpha1.Remediation) (remediations.Rollout, error) {
	res := rec.Status.Result
	switch rec.Spec.Action {
	case v1alpha1.ActionEvictPod:
		if res == nil || res.Owner == nil {
			return remediations.Rollout{Done: true, Status: "the evicted pod had no workload to converge"}, nil
		}
		return r.opts.Executor.RolloutStatus(ctx, *res.Owner)
	case v1alpha1.ActionRunJob:
		if res == nil || res.Job == "" {
			return remediations.Rollout{}, fmt.Errorf("%s records no Job to wait for", rec.Name)
		}
		return r.opts.Executor.JobStatus(ctx, rec.Spec.Target.Namespace, res.Job)
	}
	ro, err := r.opts.Executor.RolloutStatus(ctx, rec.Spec.Target)
	if h := rec.Status.HPA; err == nil && h != nil && ro.Done && ro.Desired < h.RaisedTo {
		// A raised HPA minimum is done when the HPA's controller has
		// scaled the target up to it, not while it still runs as before.
		ro.Done = false
		ro.Status = fmt.Sprintf("waiting for HorizontalPodAutoscaler %s to scale it to at least %d (now %d)", h.Name, h.RaisedTo, ro.Desired)
	}
	return ro, err
}
