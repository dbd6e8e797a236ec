package controller

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/remediations"
)

// The runner's decisions are pure functions of what it observed: the record,
// the outcome of an attempt, the clock and the policy. Reconcile reads, asks
// them, and writes what they return; nothing here talks to the API server,
// so every phase and outcome is covered by table tests.

// stepKind is what the runner does with a record next.
type stepKind int

const (
	// stepWait: nothing now; look again after step.After (0: only when
	// the record changes).
	stepWait stepKind = iota
	// stepCollect: the finished record's retention has passed; delete it.
	stepCollect
	// stepResume: the record was found Running: the attempt that set it
	// stopped before recording its outcome.
	stepResume
	// stepExpire: nobody approved it before its deadline.
	stepExpire
	// stepAsk: the rule wants a person's approval; ask for it until
	// step.Deadline.
	stepAsk
	// stepRun: try the action (step.Admit: the policy may still refuse it;
	// step.CheckRequired: the deployment's --require-approval may hold it
	// for a person first).
	stepRun
)

// step is the runner's decision for a record before it acts.
type step struct {
	Kind          stepKind
	After         time.Duration
	Deadline      time.Time
	Admit         bool
	CheckRequired bool
}

// approved reports whether a person approved the record: it is Approved, or
// it carries a decision and is not final (it was approved and has been
// tried since). An approval is never asked for twice.
func approved(st v1alpha1.RemediationStatus) bool {
	return st.Phase == v1alpha1.PhaseApproved || st.DecidedAt != nil && !st.Phase.Final()
}

// nextStep decides what to do with rec at now.
func nextStep(rec *v1alpha1.Remediation, now time.Time, pol Policy) step {
	st := rec.Status
	switch {
	case st.Phase.Final():
		expiry := retainedUntil(rec, pol)
		if now.Before(expiry) {
			return step{Kind: stepWait, After: expiry.Sub(now)}
		}
		return step{Kind: stepCollect}
	case st.Phase == v1alpha1.PhaseRunning:
		return step{Kind: stepResume}
	case st.NextAttemptAt != nil && now.Before(st.NextAttemptAt.Time):
		// A retry is due later: the write of this very status woke us.
		return step{Kind: stepWait, After: st.NextAttemptAt.Sub(now)}
	case approved(st):
		return step{Kind: stepRun, Admit: st.Write == nil}
	case st.Phase == v1alpha1.PhasePendingApproval:
		deadline := approvalDeadline(rec, now, pol)
		if !now.Before(deadline) {
			return step{Kind: stepExpire, Deadline: deadline}
		}
		return step{Kind: stepWait, After: deadline.Sub(now), Deadline: deadline}
	case rec.Spec.Approval != nil:
		deadline := approvalDeadline(rec, now, pol)
		if !now.Before(deadline) {
			return step{Kind: stepExpire, Deadline: deadline}
		}
		return step{Kind: stepAsk, Deadline: deadline}
	}
	// A record whose change may have been applied was admitted by policy
	// when it was sent: it is settled, not asked about again.
	return step{Kind: stepRun, Admit: st.Write == nil, CheckRequired: st.Phase == v1alpha1.PhaseNew && len(pol.RequireApproval) > 0}
}

// approvalDeadline is when a record waiting for a person expires: the
// deadline it was given, else its rule's approval timeout from when it was
// recorded, else the breaker's from now.
func approvalDeadline(rec *v1alpha1.Remediation, now time.Time, pol Policy) time.Time {
	switch {
	case rec.Status.ApprovalExpiresAt != nil:
		return rec.Status.ApprovalExpiresAt.Time
	case rec.Spec.Approval != nil:
		return recordedAt(rec).Add(rec.Spec.Approval.Timeout.Duration)
	}
	return now.Add(pol.ApprovalTimeout)
}

// retainedUntil is when a finished record may be deleted: Retention after
// its alert resolved, or MaxRetention after it finished if no resolved
// notification came.
func retainedUntil(rec *v1alpha1.Remediation, pol Policy) time.Time {
	finished := rec.CreationTimestamp.Time
	if rec.Status.FinishedAt != nil {
		finished = rec.Status.FinishedAt.Time
	}
	if rec.Status.AlertResolvedAt == nil {
		return finished.Add(pol.MaxRetention)
	}
	resolved := rec.Status.AlertResolvedAt.Time
	if resolved.Before(finished) {
		resolved = finished
	}
	return resolved.Add(pol.Retention)
}

// running is rec's status as the attempt that sends change w records it,
// before sending it: Running, by whom, which attempt, and the change, so
// that whoever finds it Running can tell whether the change was applied.
// first is whether this is the attempt's first change (a conflict on the
// target makes an attempt send a second one).
func running(st v1alpha1.RemediationStatus, w *v1alpha1.Write, identity string, first bool, now time.Time) v1alpha1.RemediationStatus {
	if first {
		st.Attempts++
	}
	w.Attempt = st.Attempts
	t := metav1.NewTime(now)
	st.Phase, st.Reason, st.Message = v1alpha1.PhaseRunning, "", ""
	st.StartedAt, st.ExecutedBy, st.NextAttemptAt, st.Write = &t, identity, nil, w
	return st
}

// afterAttempt is rec's status after an attempt that ended with res and
// err, and how long until the record is looked at again (0: it is final).
// A transient failure with attempts left goes back to waiting, Approved if
// a person approved it, until NextAttemptAt; the change it may have applied
// stays in Write for the next attempt to settle. Anything else is final.
func afterAttempt(st v1alpha1.RemediationStatus, res remediations.Result, err error, now time.Time, pol Policy) (v1alpha1.RemediationStatus, time.Duration) {
	if res.Write != nil {
		st.Write = res.Write
	}
	attempts := max(st.Attempts, 1)
	if err != nil && remediations.IsTransient(err) && int(attempts) < pol.MaxAttempts {
		wait := retryWait(pol.RetryBackoff, attempts)
		next := metav1.NewMicroTime(now.Add(wait))
		phase := v1alpha1.PhasePending
		if approved(st) {
			phase = v1alpha1.PhaseApproved
		}
		st.Phase, st.Reason, st.Message, st.NextAttemptAt = phase, "Retrying",
			fmt.Sprintf("attempt %d failed: %v; attempt %d at %s", attempts, err, attempts+1, next.UTC().Format(time.RFC3339)), &next
		return st, wait
	}
	t := metav1.NewTime(now)
	st.Phase, st.Reason, st.Message = v1alpha1.Phase(res.Outcome), res.Reason, res.Message
	if st.Phase == "" {
		st.Phase = v1alpha1.PhaseFailed
	}
	st.FinishedAt, st.NextAttemptAt = &t, nil
	st.Result = &v1alpha1.ActionResult{Outcome: string(res.Outcome), Reason: res.Reason, Before: res.Before, After: res.After}
	if err == nil {
		st.Write = nil // settled: nothing left that may or may not have been applied
	}
	return st, 0
}

// retryWait is the wait before the attempt after attempt n: backoff,
// doubled each time, at most an hour.
func retryWait(backoff time.Duration, n int32) time.Duration {
	wait := backoff
	for i := int32(1); i < n && wait < time.Hour; i++ {
		wait *= 2
	}
	return min(wait, time.Hour)
}

// refused is rec's status when it is not run: Skipped for reason, or Failed
// when what it asks cannot be done as written.
func refused(st v1alpha1.RemediationStatus, phase v1alpha1.Phase, reason, msg string, now time.Time) v1alpha1.RemediationStatus {
	t := metav1.NewTime(now)
	st.Phase, st.Reason, st.Message, st.FinishedAt, st.NextAttemptAt = phase, reason, msg, &t, nil
	return st
}
