package controller

import (
	"fmt"
	"strings"
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
	// stepVerify: the action succeeded and its checks (spec.verify) are
	// looked at until they pass or their deadline passes.
	stepVerify
	// stepEscalate: the record failed and its spec.onFailure has a step
	// that has not been recorded yet.
	stepEscalate
	// stepNext: the record, a step of a sequence, succeeded and the next
	// step (spec.then) has not been recorded yet.
	stepNext
	// stepRestoreHPA: the minReplicas the action raised on a
	// HorizontalPodAutoscaler is due to be put back.
	stepRestoreHPA
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
	case needsEscalation(rec):
		return step{Kind: stepEscalate}
	case needsNextStep(rec):
		return step{Kind: stepNext}
	case st.HPA != nil && st.HPA.RestoredAt == nil && st.Phase != v1alpha1.PhaseRunning && !now.Before(st.HPA.RestoreAt.Time):
		return step{Kind: stepRestoreHPA}
	case st.HPA != nil && st.HPA.RestoredAt == nil && st.Phase.Final():
		// Kept, whatever its retention, until the raise is put back.
		return step{Kind: stepWait, After: st.HPA.RestoreAt.Sub(now)}
	case st.Phase.Final():
		if now.Before(retainedUntil(rec, pol)) {
			// No timer per record: the leader's sweep (sweepRecords)
			// collects it once its retention is over. Retained records
			// are most of the cache; a timer each held them in the work
			// queue too, for days.
			return step{Kind: stepWait}
		}
		return step{Kind: stepCollect}
	case st.Phase == v1alpha1.PhaseRunning:
		return step{Kind: stepResume}
	case st.Phase == v1alpha1.PhaseVerifying:
		// Whoever leads looks, from the record alone. The check's own
		// status write wakes the runner at once: it waits for the next
		// look, due an interval after the last, or at a deadline.
		if next := nextCheck(st.Verification, pol); now.Before(next) {
			return step{Kind: stepWait, After: next.Sub(now)}
		}
		return step{Kind: stepVerify}
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
	// A later step of a sequence was decided with its first.
	return step{Kind: stepRun, Admit: st.Write == nil, CheckRequired: st.Phase == v1alpha1.PhaseNew && len(pol.RequireApproval) > 0 && !laterStep(rec)}
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
// stays in Write for the next attempt to settle. A success whose spec asks
// for checks (and is no dry run) is Verifying, looked at again after
// pol.VerifyInterval. Anything else is final.
func afterAttempt(spec v1alpha1.RemediationSpec, st v1alpha1.RemediationStatus, res remediations.Result, err error, now time.Time, pol Policy) (v1alpha1.RemediationStatus, time.Duration) {
	if res.Write != nil {
		st.Write = res.Write
	}
	if res.HPA != nil {
		st.HPA = res.HPA
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
	st.Result = &v1alpha1.ActionResult{Outcome: string(res.Outcome), Reason: res.Reason, Before: res.Before, After: res.After, Owner: res.Owner, Job: res.Job}
	if err == nil {
		st.Write = nil // settled: nothing left that may or may not have been applied
	}
	if st.Phase == v1alpha1.PhaseSucceeded && err == nil {
		if v := startVerification(spec, now); v != nil {
			st.Phase, st.FinishedAt, st.Verification = v1alpha1.PhaseVerifying, nil, v
			st.Message = "verifying: " + checksText(spec.Verify)
			if res.Message != "" {
				st.Message = res.Message + "; " + st.Message
			}
			return st, pol.VerifyInterval
		}
	}
	return st, 0
}

// startVerification is the verification of an action of spec that
// succeeded at now: each check of spec.verify with its deadline; nil when
// there is nothing to check (no checks, or a dry run, which changed
// nothing).
func startVerification(spec v1alpha1.RemediationSpec, now time.Time) *v1alpha1.Verification {
	vs := spec.Verify
	if vs == nil || spec.DryRun || vs.Rollout == nil && vs.AlertResolved == nil {
		return nil
	}
	v := &v1alpha1.Verification{StartedAt: metav1.NewMicroTime(now)}
	if vs.Rollout != nil {
		v.Rollout = &v1alpha1.CheckStatus{Deadline: metav1.NewMicroTime(now.Add(vs.Rollout.Timeout.Duration))}
	}
	if vs.AlertResolved != nil {
		v.AlertResolved = &v1alpha1.CheckStatus{Deadline: metav1.NewMicroTime(now.Add(vs.AlertResolved.Within.Duration))}
	}
	return v
}

// checksText names the checks of vs: "rollout within 5m0s, alert resolved
// within 15m0s".
func checksText(vs *v1alpha1.VerifySpec) string {
	var parts []string
	if vs.Rollout != nil {
		parts = append(parts, "rollout within "+vs.Rollout.Timeout.Duration.String())
	}
	if vs.AlertResolved != nil {
		parts = append(parts, "alert resolved within "+vs.AlertResolved.Within.Duration.String())
	}
	return strings.Join(parts, ", ")
}

// The reasons a Verifying record ends with.
const (
	ReasonVerified         = "Verified"         // Succeeded: every check passed
	ReasonRolloutStalled   = "RolloutStalled"   // Failed: the rollout did not converge by its deadline, or cannot
	ReasonAlertNotResolved = "AlertNotResolved" // Failed: no resolved notification by its deadline
	ReasonTargetDeleted    = "TargetDeleted"    // Failed: the target is gone; nothing left to verify
)

// observation is what the runner saw of a Verifying record's target: its
// rollout, or why it could not read it. Nil Rollout and Err: not read
// (no rollout check left to do).
type observation struct {
	Rollout *remediations.Rollout
	Err     error
	// Gone: the target no longer exists.
	Gone bool
	// Firing is whether Alertmanager's API lists the alert (nil: not
	// asked); AlertErr why it could not be asked.
	Firing   *bool
	AlertErr error
}

// afterCheck is a Verifying record's status after looking at its checks at
// now, with obs the target as read, and how long until it is looked at
// again (0: it is final). A check passes once and stays passed; the record
// is Succeeded (Verified) when every check passed, Failed when one has not
// by its deadline (or the rollout cannot converge: stuck, or the target
// gone), and otherwise looked at again after pol.VerifyInterval, or at the
// next deadline if that is sooner.
func afterCheck(spec v1alpha1.RemediationSpec, st v1alpha1.RemediationStatus, obs observation, now time.Time, pol Policy) (v1alpha1.RemediationStatus, time.Duration) {
	if st.Verification == nil {
		// Verifying without its deadlines (written by hand): start them now.
		st.Verification = startVerification(spec, now)
		if st.Verification == nil {
			return verifyDone(st, v1alpha1.PhaseSucceeded, ReasonVerified, "nothing to verify", now), 0
		}
	}
	v := st.Verification.DeepCopy()
	st.Verification = v
	t := metav1.NewMicroTime(now)
	v.LastCheckedAt = &t
	if c := v.Rollout; c != nil && c.PassedAt == nil {
		switch {
		case obs.Gone:
			c.Observed = "the target was deleted"
			return verifyDone(st, v1alpha1.PhaseFailed, ReasonTargetDeleted,
				fmt.Sprintf("%s was deleted %s after the action: nothing left to verify", spec.TargetRef, since(v, now)), now), 0
		case obs.Err != nil:
			c.Observed = "could not read the target: " + obs.Err.Error()
		case obs.Rollout != nil:
			c.Observed = obs.Rollout.String()
			if obs.Rollout.Done {
				c.PassedAt = &t
			} else if obs.Rollout.Stuck {
				if r := obs.Rollout.Reason; r != "" {
					return verifyDone(st, v1alpha1.PhaseFailed, r, fmt.Sprintf("%s (%s after the action)", c.Observed, since(v, now)), now), 0
				}
				return verifyDone(st, v1alpha1.PhaseFailed, ReasonRolloutStalled,
					fmt.Sprintf("rollout cannot finish (%s after the action): %s", since(v, now), c.Observed), now), 0
			}
		}
	}
	if c := v.AlertResolved; c != nil && c.PassedAt == nil {
		switch {
		case st.AlertResolvedAt != nil:
			at := metav1.NewMicroTime(st.AlertResolvedAt.Time)
			c.PassedAt, c.Observed = &at, "resolved at "+at.UTC().Format(time.RFC3339)
		case obs.AlertErr != nil:
			c.Observed = "still firing: no resolved notification (could not ask Alertmanager: " + obs.AlertErr.Error() + ")"
		case obs.Firing == nil:
			c.Observed = "still firing: no resolved notification"
		case *obs.Firing:
			c.AbsentSince, c.Observed = nil, "still firing: no resolved notification, and Alertmanager lists it"
		default:
			// Alertmanager no longer lists it: resolved, or forgotten by an
			// Alertmanager that restarted, which knows it again once
			// Prometheus re-sends it. Only a run of absent looks as long as
			// pol.AlertAbsentFor counts.
			if c.AbsentSince == nil {
				c.AbsentSince = &t
			}
			gone := now.Sub(c.AbsentSince.Time)
			since := c.AbsentSince.UTC().Format(time.RFC3339)
			if gone >= pol.AlertAbsentFor {
				at := *c.AbsentSince
				c.PassedAt = &at
				c.Observed = fmt.Sprintf("resolved: Alertmanager has not listed it since %s (no resolved notification)", since)
			} else {
				c.Observed = fmt.Sprintf("no resolved notification; Alertmanager has not listed it since %s (resolved once that lasts %s)", since, pol.AlertAbsentFor)
			}
		}
	}
	if c := v.Rollout; c != nil && c.PassedAt == nil && !now.Before(c.Deadline.Time) {
		return verifyDone(st, v1alpha1.PhaseFailed, ReasonRolloutStalled,
			fmt.Sprintf("rollout not finished %s after the action: %s", c.Deadline.Sub(v.StartedAt.Time), c.Observed), now), 0
	}
	if c := v.AlertResolved; c != nil && c.PassedAt == nil && !now.Before(c.Deadline.Time) {
		msg := fmt.Sprintf("alert %s not resolved %s after the action: %s", spec.Alert.Name, c.Deadline.Sub(v.StartedAt.Time), c.Observed)
		if r := v.Rollout; r != nil && r.PassedAt != nil {
			msg += fmt.Sprintf(" (the rollout had finished %s after the action: %s)", r.PassedAt.Sub(v.StartedAt.Time), r.Observed)
		}
		return verifyDone(st, v1alpha1.PhaseFailed, ReasonAlertNotResolved, msg, now), 0
	}
	var wait time.Duration
	var passed []string
	for _, c := range []struct {
		name string
		c    *v1alpha1.CheckStatus
	}{{"rollout", v.Rollout}, {"alert resolved", v.AlertResolved}} {
		switch {
		case c.c == nil:
		case c.c.PassedAt == nil:
			left := c.c.Deadline.Sub(now)
			if wait == 0 || left < wait {
				wait = left
			}
		case c.name == "rollout":
			passed = append(passed, fmt.Sprintf("rollout finished after %s (%s)", max(c.c.PassedAt.Sub(v.StartedAt.Time), 0).Round(100*time.Millisecond), c.c.Observed))
		default:
			passed = append(passed, fmt.Sprintf("alert resolved %s after the action", max(c.c.PassedAt.Sub(v.StartedAt.Time), 0).Round(100*time.Millisecond)))
		}
	}
	if wait > 0 {
		return st, min(wait, pol.VerifyInterval)
	}
	return verifyDone(st, v1alpha1.PhaseSucceeded, ReasonVerified, "verified: "+strings.Join(passed, "; "), now), 0
}

// nextCheck is when the checks of v are due to be looked at: an interval
// after the last look, or an open check's deadline if sooner; the zero time
// (now) when never looked at.
func nextCheck(v *v1alpha1.Verification, pol Policy) time.Time {
	if v == nil || v.LastCheckedAt == nil {
		return time.Time{}
	}
	next := v.LastCheckedAt.Add(pol.VerifyInterval)
	for _, c := range []*v1alpha1.CheckStatus{v.Rollout, v.AlertResolved} {
		if c != nil && c.PassedAt == nil && c.Deadline.Time.Before(next) {
			next = c.Deadline.Time
		}
	}
	return next
}

// since is how long after the action now is.
func since(v *v1alpha1.Verification, now time.Time) time.Duration {
	return now.Sub(v.StartedAt.Time).Round(100 * time.Millisecond)
}

// verifyDone is the final status of a Verifying record.
func verifyDone(st v1alpha1.RemediationStatus, phase v1alpha1.Phase, reason, msg string, now time.Time) v1alpha1.RemediationStatus {
	t := metav1.NewTime(now)
	st.Phase, st.Reason, st.Message, st.FinishedAt = phase, reason, msg, &t
	return st
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
