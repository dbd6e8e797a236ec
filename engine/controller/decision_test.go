package controller

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/remediations"
)

var tNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func mt(d time.Duration) *metav1.Time { t := metav1.NewTime(tNow.Add(d)); return &t }

func mmt(d time.Duration) *metav1.MicroTime { t := metav1.NewMicroTime(tNow.Add(d)); return &t }

func testPolicy() Policy {
	p := Policy{RetryBackoff: 20 * time.Second, MaxAttempts: 4, Retention: time.Hour, MaxRetention: 48 * time.Hour}
	p.setDefaults()
	return p
}

type nextStepCase struct {
	name     string
	approval *v1alpha1.ApprovalSpec
	st       v1alpha1.RemediationStatus
	pol      func(*Policy)
	want     step
}

// Every phase, with and without a retry due, an approval, a change that may
// have been applied: what the runner does next.
func TestNextStep(t *testing.T) {
	approval := &v1alpha1.ApprovalSpec{Users: []string{"U1"}, Timeout: metav1.Duration{Duration: 30 * time.Minute}}
	sent := &v1alpha1.Write{Attempt: 1, UID: "u", Generation: 3}
	created := metav1.NewTime(tNow.Add(-10 * time.Minute))
	tests := []nextStepCase{
		{name: "new runs, admitted by policy", want: step{Kind: stepRun, Admit: true}},
		{name: "new under --require-approval is checked for it", pol: func(p *Policy) { p.RequireApproval = []string{"rollback"} },
			want: step{Kind: stepRun, Admit: true, CheckRequired: true}},
		{name: "pending (a retry of an automatic action) is not checked for --require-approval again",
			st:  v1alpha1.RemediationStatus{Phase: v1alpha1.PhasePending, Attempts: 1},
			pol: func(p *Policy) { p.RequireApproval = []string{"rollback"} }, want: step{Kind: stepRun, Admit: true}},
		{name: "retry not yet due waits for it, whatever woke the runner",
			st:   v1alpha1.RemediationStatus{Phase: v1alpha1.PhasePending, Reason: "Retrying", Attempts: 1, NextAttemptAt: mmt(20 * time.Second)},
			want: step{Kind: stepWait, After: 20 * time.Second}},
		{name: "retry due runs",
			st:   v1alpha1.RemediationStatus{Phase: v1alpha1.PhasePending, Reason: "Retrying", Attempts: 1, NextAttemptAt: mmt(-time.Second)},
			want: step{Kind: stepRun, Admit: true}},
		{name: "retry due after a change that may have applied is settled, not admitted again",
			st:   v1alpha1.RemediationStatus{Phase: v1alpha1.PhasePending, Reason: "Retrying", Attempts: 1, NextAttemptAt: mmt(-time.Second), Write: sent},
			want: step{Kind: stepRun}},
		{name: "rule approval: asked for", approval: approval, want: step{Kind: stepAsk, Deadline: created.Add(30 * time.Minute)}},
		{name: "rule approval past its timeout expires unasked", approval: &v1alpha1.ApprovalSpec{Timeout: metav1.Duration{Duration: time.Minute}},
			want: step{Kind: stepExpire, Deadline: created.Add(time.Minute)}},
		{name: "pending approval waits until its deadline", approval: approval,
			st:   v1alpha1.RemediationStatus{Phase: v1alpha1.PhasePendingApproval, ApprovalExpiresAt: mt(5 * time.Minute)},
			want: step{Kind: stepWait, After: 5 * time.Minute, Deadline: tNow.Add(5 * time.Minute)}},
		{name: "pending approval past its deadline expires",
			st:   v1alpha1.RemediationStatus{Phase: v1alpha1.PhasePendingApproval, ApprovalExpiresAt: mt(-time.Second)},
			want: step{Kind: stepExpire, Deadline: tNow.Add(-time.Second)}},
		{name: "approved runs", approval: approval,
			st:   v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseApproved, DecidedBy: "slack:U1", DecidedAt: mt(-time.Minute)},
			want: step{Kind: stepRun, Admit: true}},
		{name: "approved, retry not yet due: waits, never asks again", approval: approval,
			st: v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseApproved, Reason: "Retrying", DecidedBy: "slack:U1", DecidedAt: mt(-time.Minute),
				Attempts: 1, NextAttemptAt: mmt(time.Minute)},
			want: step{Kind: stepWait, After: time.Minute}},
		{name: "approved, retry due: runs, never asks again", approval: approval,
			st: v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseApproved, Reason: "Retrying", DecidedBy: "slack:U1", DecidedAt: mt(-time.Minute),
				Attempts: 1, NextAttemptAt: mmt(-time.Second), Write: sent},
			want: step{Kind: stepRun}},
		{name: "approved record left Pending by an older version still counts as approved", approval: approval,
			st:   v1alpha1.RemediationStatus{Phase: v1alpha1.PhasePending, DecidedBy: "kubernetes:alice", DecidedAt: mt(-time.Minute), Attempts: 1},
			want: step{Kind: stepRun, Admit: true}},
		{name: "running is resumed", st: v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseRunning, Write: sent},
			want: step{Kind: stepResume}},
		{name: "verifying never looked at is looked at (a new leader too: the deadlines are in the record)",
			st:   v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseVerifying, StartedAt: mt(-time.Minute), DecidedAt: mt(-2 * time.Minute)},
			want: step{Kind: stepVerify}},
		{name: "verifying just looked at (its own status write woke the runner) waits for the interval",
			st: v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseVerifying, Verification: &v1alpha1.Verification{StartedAt: *mmt(-time.Minute),
				LastCheckedAt: mmt(-time.Second), Rollout: &v1alpha1.CheckStatus{Deadline: *mmt(4 * time.Minute)}}},
			want: step{Kind: stepWait, After: 4 * time.Second}},
		{name: "verifying just looked at, a deadline sooner than the interval: waits for the deadline",
			st: v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseVerifying, Verification: &v1alpha1.Verification{StartedAt: *mmt(-5 * time.Minute),
				LastCheckedAt: mmt(-time.Second), Rollout: &v1alpha1.CheckStatus{Deadline: *mmt(2 * time.Second)}}},
			want: step{Kind: stepWait, After: 2 * time.Second}},
		{name: "verifying due again is looked at",
			st: v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseVerifying, Verification: &v1alpha1.Verification{StartedAt: *mmt(-time.Minute),
				LastCheckedAt: mmt(-5 * time.Second), Rollout: &v1alpha1.CheckStatus{Deadline: *mmt(4 * time.Minute)}}},
			want: step{Kind: stepVerify}},
		{name: "running is resumed even with a retry time", st: v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseRunning, NextAttemptAt: mmt(time.Hour)},
			want: step{Kind: stepResume}},
	}
	for _, p := range []v1alpha1.Phase{v1alpha1.PhaseSucceeded, v1alpha1.PhaseFailed, v1alpha1.PhaseSkipped, v1alpha1.PhaseDenied,
		v1alpha1.PhaseExpired, v1alpha1.PhaseCancelled} {
		tests = append(tests,
			nextStepCase{name: string(p) + " is kept for its retention", approval: approval,
				st:   v1alpha1.RemediationStatus{Phase: p, FinishedAt: mt(-time.Hour), DecidedAt: mt(-2 * time.Hour), NextAttemptAt: mmt(-time.Hour)},
				want: step{Kind: stepWait}}, // the sweep collects it in 47h
			nextStepCase{name: string(p) + " is collected an hour after its alert resolved",
				st:   v1alpha1.RemediationStatus{Phase: p, FinishedAt: mt(-3 * time.Hour), AlertResolvedAt: mt(-2 * time.Hour)},
				want: step{Kind: stepCollect}},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := testPolicy()
			if tt.pol != nil {
				tt.pol(&pol)
			}
			rec := &v1alpha1.Remediation{
				ObjectMeta: metav1.ObjectMeta{CreationTimestamp: created},
				Spec:       v1alpha1.RemediationSpec{Action: "restart", Approval: tt.approval},
				Status:     tt.st,
			}
			if got := nextStep(rec, tNow, pol); got != tt.want {
				t.Errorf("nextStep = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// What an attempt's outcome makes of the record: retried with the backoff
// doubling from the policy's, keeping an approval and a change that may have
// applied; final otherwise.
func TestAfterAttempt(t *testing.T) {
	pol := testPolicy()
	sent := &v1alpha1.Write{Attempt: 2, UID: "u", Generation: 3, Replicas: new(int32(10)), Before: "replicas=5", After: "replicas=10"}
	unavailable := apierrors.NewServiceUnavailable("apiserver restarting")
	timeout := fmt.Errorf("scale: %w", apierrors.NewTimeoutError("request timed out", 0))
	approvedSt := v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseRunning, DecidedBy: "slack:U1", DecidedAt: mt(-time.Minute)}
	tests := []struct {
		name      string
		st        v1alpha1.RemediationStatus
		attempts  int32
		res       remediations.Result
		err       error
		wantPhase v1alpha1.Phase
		wantWait  time.Duration
		wantWrite *v1alpha1.Write
	}{
		{name: "success is final", attempts: 1, res: remediations.Result{Outcome: remediations.Succeeded, Reason: "Restarted"},
			wantPhase: v1alpha1.PhaseSucceeded},
		{name: "success clears a settled change", attempts: 2, st: v1alpha1.RemediationStatus{Write: sent},
			res: remediations.Result{Outcome: remediations.Succeeded, Reason: "Scaled"}, wantPhase: v1alpha1.PhaseSucceeded},
		{name: "skip is final", attempts: 1, res: remediations.Result{Outcome: remediations.Skipped, Reason: "Paused"}, wantPhase: v1alpha1.PhaseSkipped},
		{name: "first transient failure waits the backoff", attempts: 1, res: remediations.Result{Outcome: remediations.Failed}, err: unavailable,
			wantPhase: v1alpha1.PhasePending, wantWait: 20 * time.Second},
		{name: "third transient failure waits four backoffs", attempts: 3, res: remediations.Result{Outcome: remediations.Failed}, err: unavailable,
			wantPhase: v1alpha1.PhasePending, wantWait: 80 * time.Second},
		{name: "transient failure at the last attempt is final", attempts: 4, res: remediations.Result{Outcome: remediations.Failed, Reason: "APIUnavailable"},
			err: unavailable, wantPhase: v1alpha1.PhaseFailed},
		{name: "an approved action retried stays approved", attempts: 1, st: approvedSt,
			res: remediations.Result{Outcome: remediations.Failed}, err: unavailable, wantPhase: v1alpha1.PhaseApproved, wantWait: 20 * time.Second},
		{name: "a lost answer keeps the change for the next attempt to settle", attempts: 2,
			res: remediations.Result{Outcome: remediations.Failed, Write: sent}, err: timeout,
			wantPhase: v1alpha1.PhasePending, wantWait: 40 * time.Second, wantWrite: sent},
		{name: "a failure before sending keeps the change still unsettled", attempts: 2, st: v1alpha1.RemediationStatus{Write: sent},
			res: remediations.Result{Outcome: remediations.Failed}, err: unavailable,
			wantPhase: v1alpha1.PhasePending, wantWait: 40 * time.Second, wantWrite: sent},
		{name: "a final failure keeps the change that may have applied, for the record", attempts: 4,
			res: remediations.Result{Outcome: remediations.Failed, Write: sent}, err: timeout, wantPhase: v1alpha1.PhaseFailed, wantWrite: sent},
		{name: "a permanent failure is final", attempts: 1, res: remediations.Result{Outcome: remediations.Failed, Reason: "Forbidden"},
			err: apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "web", fmt.Errorf("no")), wantPhase: v1alpha1.PhaseFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.st
			st.Attempts = tt.attempts
			got, wait := afterAttempt(v1alpha1.RemediationSpec{Action: "restart"}, st, tt.res, tt.err, tNow, pol)
			if got.Phase != tt.wantPhase || wait != tt.wantWait || got.Write != tt.wantWrite {
				t.Fatalf("afterAttempt = %s (wait %v, write %v), want %s (wait %v, write %v)", got.Phase, wait, got.Write, tt.wantPhase, tt.wantWait, tt.wantWrite)
			}
			if wait > 0 {
				if got.NextAttemptAt == nil || !got.NextAttemptAt.Time.Equal(tNow.Add(wait)) || got.FinishedAt != nil || got.Reason != "Retrying" {
					t.Errorf("retry status = %+v, want NextAttemptAt %v, not finished", got, tNow.Add(wait))
				}
				if !strings.Contains(got.Message, fmt.Sprintf("attempt %d", tt.attempts+1)) {
					t.Errorf("message %q does not say when the next attempt is", got.Message)
				}
				// The retry's own status write wakes the runner at once:
				// it must wait, not run.
				rec := &v1alpha1.Remediation{Status: got}
				if tt.st.DecidedAt != nil {
					rec.Spec.Approval = &v1alpha1.ApprovalSpec{Timeout: metav1.Duration{Duration: time.Minute}}
				}
				if s := nextStep(rec, tNow.Add(time.Millisecond), pol); s.Kind != stepWait || s.After != wait-time.Millisecond {
					t.Errorf("right after the retry status, nextStep = %+v, want to wait %v", s, wait-time.Millisecond)
				}
				if s := nextStep(rec, tNow.Add(wait), pol); s.Kind != stepRun {
					t.Errorf("when the retry is due, nextStep = %+v, want to run (an approval is not asked for again)", s)
				}
				return
			}
			if got.FinishedAt == nil || got.NextAttemptAt != nil || got.Result == nil || got.Result.Outcome != string(tt.res.Outcome) {
				t.Errorf("final status = %+v", got)
			}
		})
	}
}

func TestRetryWaitIsBounded(t *testing.T) {
	for n, want := range map[int32]time.Duration{1: 5 * time.Second, 2: 10 * time.Second, 5: 80 * time.Second, 40: time.Hour} {
		if got := retryWait(5*time.Second, n); got != want {
			t.Errorf("retryWait(5s, %d) = %v, want %v", n, got, want)
		}
	}
}

// The record moves to Running with the change it is about to send; a
// second change of the same attempt (after a conflict) is not another
// attempt.
func TestRunning(t *testing.T) {
	st := v1alpha1.RemediationStatus{Phase: v1alpha1.PhasePending, Reason: "Retrying", Attempts: 1, NextAttemptAt: mmt(-time.Second)}
	w := &v1alpha1.Write{UID: "u", Generation: 2, RestartedAt: "2026-11-27T12:00:00Z"}
	got := running(st, w, "replica-a", true, tNow)
	if got.Phase != v1alpha1.PhaseRunning || got.Attempts != 2 || w.Attempt != 2 || got.Write != w || got.NextAttemptAt != nil || got.ExecutedBy != "replica-a" {
		t.Errorf("running = %+v", got)
	}
	again := running(got, &v1alpha1.Write{}, "replica-a", false, tNow)
	if again.Attempts != 2 || again.Write.Attempt != 2 {
		t.Errorf("second change of one attempt = %+v, want attempt 2", again)
	}
}

func verifySpec(rollout, alert time.Duration) v1alpha1.RemediationSpec {
	s := v1alpha1.RemediationSpec{Action: "restart", TargetRef: "Deployment/shop/web", Alert: v1alpha1.AlertRef{Name: "KubePodCrashLooping"},
		Verify: &v1alpha1.VerifySpec{}}
	if rollout > 0 {
		s.Verify.Rollout = &v1alpha1.RolloutCheck{Timeout: metav1.Duration{Duration: rollout}}
	}
	if alert > 0 {
		s.Verify.AlertResolved = &v1alpha1.AlertResolvedCheck{Within: metav1.Duration{Duration: alert}}
	}
	return s
}

// An action that succeeded is Verifying when its spec has checks, each
// with its deadline from the action's end; a dry run, a skip, a failure or
// a transient failure is not verified.
func TestAfterAttemptStartsVerification(t *testing.T) {
	pol := testPolicy()
	ok := remediations.Result{Outcome: remediations.Succeeded, Reason: "Restarted", Message: "restartedAt=2026-11-27T12:00:00Z"}
	dry := verifySpec(5*time.Minute, 0)
	dry.DryRun = true
	tests := []struct {
		name      string
		spec      v1alpha1.RemediationSpec
		res       remediations.Result
		err       error
		wantPhase v1alpha1.Phase
		wantWait  time.Duration
	}{
		{"success with a rollout check is verifying", verifySpec(5*time.Minute, 0), ok, nil, v1alpha1.PhaseVerifying, pol.VerifyInterval},
		{"success with both checks is verifying", verifySpec(5*time.Minute, 15*time.Minute), ok, nil, v1alpha1.PhaseVerifying, pol.VerifyInterval},
		{"success without checks is final", v1alpha1.RemediationSpec{Action: "restart"}, ok, nil, v1alpha1.PhaseSucceeded, 0},
		{"a dry run is not verified", dry, ok, nil, v1alpha1.PhaseSucceeded, 0},
		{"a skip is not verified", verifySpec(5*time.Minute, 0), remediations.Result{Outcome: remediations.Skipped, Reason: "Paused"}, nil, v1alpha1.PhaseSkipped, 0},
		{"a failure is not verified", verifySpec(5*time.Minute, 0), remediations.Result{Outcome: remediations.Failed, Reason: "Forbidden"},
			apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "web", fmt.Errorf("no")), v1alpha1.PhaseFailed, 0},
		{"a transient failure is retried, not verified", verifySpec(5*time.Minute, 0), remediations.Result{Outcome: remediations.Failed},
			apierrors.NewServiceUnavailable("restarting"), v1alpha1.PhasePending, pol.RetryBackoff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, wait := afterAttempt(tt.spec, v1alpha1.RemediationStatus{Attempts: 1}, tt.res, tt.err, tNow, pol)
			if got.Phase != tt.wantPhase || wait != tt.wantWait {
				t.Fatalf("afterAttempt = %s (wait %v), want %s (wait %v)", got.Phase, wait, tt.wantPhase, tt.wantWait)
			}
			if got.Phase != v1alpha1.PhaseVerifying {
				if got.Verification != nil {
					t.Errorf("verification = %+v on a record that is not verified", got.Verification)
				}
				return
			}
			v := got.Verification
			if got.FinishedAt != nil || v == nil || !v.StartedAt.Time.Equal(tNow) || v.Rollout == nil || !v.Rollout.Deadline.Time.Equal(tNow.Add(5*time.Minute)) {
				t.Fatalf("verifying status = %+v, verification %+v: want not finished, the rollout due at %v", got, v, tNow.Add(5*time.Minute))
			}
			if (tt.spec.Verify.AlertResolved != nil) != (v.AlertResolved != nil) || v.AlertResolved != nil && !v.AlertResolved.Deadline.Time.Equal(tNow.Add(15*time.Minute)) {
				t.Errorf("alertResolved check = %+v, want due at %v", v.AlertResolved, tNow.Add(15*time.Minute))
			}
			if got.Result == nil || got.Result.Reason != "Restarted" || !strings.Contains(got.Message, "verifying: rollout within 5m0s") {
				t.Errorf("result %+v, message %q: want the action's result kept and the checks named", got.Result, got.Message)
			}
			if s := nextStep(&v1alpha1.Remediation{Spec: tt.spec, Status: got}, tNow, pol); s.Kind != stepVerify {
				t.Errorf("nextStep = %+v, want to verify", s)
			}
		})
	}
}

// Every way a Verifying record moves on: checks that pass (and stay
// passed), deadlines (in the record: a new leader finds them there), a
// rollout that cannot finish, a target gone, a read that failed.
func TestAfterCheck(t *testing.T) {
	pol := testPolicy() // VerifyInterval 5s
	started := func(ago, rollout, alert time.Duration) *v1alpha1.Verification {
		v := &v1alpha1.Verification{StartedAt: *mmt(-ago)}
		if rollout > 0 {
			v.Rollout = &v1alpha1.CheckStatus{Deadline: *mmt(rollout - ago)}
		}
		if alert > 0 {
			v.AlertResolved = &v1alpha1.CheckStatus{Deadline: *mmt(alert - ago)}
		}
		return v
	}
	converged := &remediations.Rollout{Done: true, Ready: 4, Desired: 4, Status: "successfully rolled out"}
	stalled := &remediations.Rollout{Ready: 2, Desired: 4, Status: "2 of 4 new replicas updated", PodsOf: "new ReplicaSet pods",
		Pods: "2 Pending (Unschedulable: 0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.)"}
	passedRollout := started(time.Minute, 5*time.Minute, 15*time.Minute)
	passedRollout.Rollout.PassedAt, passedRollout.Rollout.Observed = mmt(-30*time.Second), "4/4 ready: successfully rolled out"
	tests := []struct {
		name       string
		spec       v1alpha1.RemediationSpec
		v          *v1alpha1.Verification
		resolvedAt *metav1.Time
		obs        observation
		wantPhase  v1alpha1.Phase
		wantReason string
		wantWait   time.Duration
		wantMsg    []string
	}{
		{name: "converged: verified", spec: verifySpec(5*time.Minute, 0), v: started(12*time.Second, 5*time.Minute, 0),
			obs: observation{Rollout: converged}, wantPhase: v1alpha1.PhaseSucceeded, wantReason: ReasonVerified,
			wantMsg: []string{"rollout finished after 12s", "4/4 ready"}},
		{name: "not yet converged: looked at again after the interval", spec: verifySpec(5*time.Minute, 0), v: started(time.Minute, 5*time.Minute, 0),
			obs: observation{Rollout: stalled}, wantPhase: v1alpha1.PhaseVerifying, wantWait: 5 * time.Second},
		{name: "not yet converged, deadline sooner than the interval: looked at on the deadline", spec: verifySpec(5*time.Minute, 0),
			v: started(5*time.Minute-2*time.Second, 5*time.Minute, 0), obs: observation{Rollout: stalled}, wantPhase: v1alpha1.PhaseVerifying, wantWait: 2 * time.Second},
		{name: "not converged at the deadline: stalled, with what was seen", spec: verifySpec(5*time.Minute, 0), v: started(5*time.Minute, 5*time.Minute, 0),
			obs: observation{Rollout: stalled}, wantPhase: v1alpha1.PhaseFailed, wantReason: ReasonRolloutStalled,
			wantMsg: []string{"rollout not finished 5m0s after the action", "2/4 ready", "new ReplicaSet pods: 2 Pending (Unschedulable"}},
		{name: "a rollout that cannot finish fails before its deadline", spec: verifySpec(5*time.Minute, 0), v: started(time.Minute, 5*time.Minute, 0),
			obs:       observation{Rollout: &remediations.Rollout{Stuck: true, Ready: 1, Desired: 4, Status: "exceeded its progress deadline"}},
			wantPhase: v1alpha1.PhaseFailed, wantReason: ReasonRolloutStalled, wantMsg: []string{"cannot finish", "progress deadline"}},
		{name: "target deleted: failed at once", spec: verifySpec(5*time.Minute, 0), v: started(time.Minute, 5*time.Minute, 0),
			obs: observation{Gone: true}, wantPhase: v1alpha1.PhaseFailed, wantReason: ReasonTargetDeleted, wantMsg: []string{"Deployment/shop/web was deleted"}},
		{name: "a read that failed is tried again before the deadline", spec: verifySpec(5*time.Minute, 0), v: started(time.Minute, 5*time.Minute, 0),
			obs: observation{Err: fmt.Errorf("apiserver restarting")}, wantPhase: v1alpha1.PhaseVerifying, wantWait: 5 * time.Second},
		{name: "a read that failed at the deadline is a stall, saying so", spec: verifySpec(5*time.Minute, 0), v: started(6*time.Minute, 5*time.Minute, 0),
			obs: observation{Err: fmt.Errorf("apiserver restarting")}, wantPhase: v1alpha1.PhaseFailed, wantReason: ReasonRolloutStalled,
			wantMsg: []string{"could not read the target: apiserver restarting"}},
		{name: "alert resolved: verified", spec: verifySpec(0, 15*time.Minute), v: started(3*time.Minute, 0, 15*time.Minute), resolvedAt: mt(-time.Minute),
			wantPhase: v1alpha1.PhaseSucceeded, wantReason: ReasonVerified, wantMsg: []string{"alert resolved 2m0s after the action"}},
		{name: "alert still firing: waits", spec: verifySpec(0, 15*time.Minute), v: started(3*time.Minute, 0, 15*time.Minute),
			wantPhase: v1alpha1.PhaseVerifying, wantWait: 5 * time.Second},
		{name: "alert still firing at its deadline: not resolved", spec: verifySpec(0, 15*time.Minute), v: started(15*time.Minute, 0, 15*time.Minute),
			wantPhase: v1alpha1.PhaseFailed, wantReason: ReasonAlertNotResolved, wantMsg: []string{"alert KubePodCrashLooping not resolved 15m0s after the action", "still firing"}},
		{name: "rollout passed earlier stays passed; the alert is still awaited", spec: verifySpec(5*time.Minute, 15*time.Minute), v: passedRollout,
			wantPhase: v1alpha1.PhaseVerifying, wantWait: 5 * time.Second},
		{name: "rollout passed earlier, alert resolved now: verified, both said", spec: verifySpec(5*time.Minute, 15*time.Minute), v: passedRollout,
			resolvedAt: mt(0), wantPhase: v1alpha1.PhaseSucceeded, wantReason: ReasonVerified, wantMsg: []string{"rollout finished after 30s", "alert resolved 1m0s after"}},
		{name: "rollout passed, alert past its deadline: not resolved, the rollout mentioned", spec: verifySpec(5*time.Minute, 15*time.Minute),
			v: func() *v1alpha1.Verification {
				v := started(16*time.Minute, 5*time.Minute, 15*time.Minute)
				v.Rollout.PassedAt, v.Rollout.Observed = mmt(-15*time.Minute), "4/4 ready: successfully rolled out"
				return v
			}(), wantPhase: v1alpha1.PhaseFailed, wantReason: ReasonAlertNotResolved, wantMsg: []string{"the rollout had finished 1m0s after the action"}},
		{name: "found Verifying by a new leader, deadline ahead: continues with the recorded deadline, not a fresh one",
			spec: verifySpec(5*time.Minute, 0), v: started(4*time.Minute+58*time.Second, 5*time.Minute, 0),
			obs: observation{Rollout: stalled}, wantPhase: v1alpha1.PhaseVerifying, wantWait: 2 * time.Second},
		{name: "found Verifying by a new leader past the deadline: stalled at the first look", spec: verifySpec(5*time.Minute, 0),
			v: started(20*time.Minute, 5*time.Minute, 0), obs: observation{Rollout: stalled}, wantPhase: v1alpha1.PhaseFailed, wantReason: ReasonRolloutStalled},
		{name: "found Verifying without deadlines (written by hand): they start now", spec: verifySpec(5*time.Minute, 0),
			obs: observation{Rollout: stalled}, wantPhase: v1alpha1.PhaseVerifying, wantWait: 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseVerifying, Reason: "Restarted", Verification: tt.v, AlertResolvedAt: tt.resolvedAt,
				Result: &v1alpha1.ActionResult{Outcome: "Succeeded", Reason: "Restarted"}}
			var before *v1alpha1.Verification
			if tt.v != nil {
				before = tt.v.DeepCopy()
			}
			got, wait := afterCheck(tt.spec, st, tt.obs, tNow, pol)
			if got.Phase != tt.wantPhase || wait != tt.wantWait || tt.wantReason != "" && got.Reason != tt.wantReason {
				t.Fatalf("afterCheck = %s %s %q (wait %v), want %s %s (wait %v)", got.Phase, got.Reason, got.Message, wait, tt.wantPhase, tt.wantReason, tt.wantWait)
			}
			for _, m := range tt.wantMsg {
				if !strings.Contains(got.Message, m) {
					t.Errorf("message %q does not say %q", got.Message, m)
				}
			}
			if got.Phase.Final() != (got.FinishedAt != nil) || got.Verification == nil || got.Verification.LastCheckedAt == nil {
				t.Errorf("status = %+v: want FinishedAt exactly when final, and the verification kept", got)
			}
			if got.Result == nil || got.Result.Reason != "Restarted" {
				t.Errorf("result = %+v, want the action's kept", got.Result)
			}
			if before != nil && (!got.Verification.StartedAt.Equal(&before.StartedAt) ||
				before.Rollout != nil && !got.Verification.Rollout.Deadline.Equal(&before.Rollout.Deadline)) {
				t.Errorf("verification = %+v, want the recorded start and deadlines kept (was %+v)", got.Verification, before)
			}
			if tt.v != nil && !reflect.DeepEqual(tt.v, before) {
				t.Errorf("afterCheck changed the status it was given")
			}
		})
	}
}

// With an Alertmanager to ask and no resolved notification, alertResolved
// passes once Alertmanager's API has gone on not listing the alert for
// AlertAbsentFor: a look that finds it listed again starts the run over,
// and a run shorter than that at the deadline fails.
func TestAlertResolvedByAlertmanager(t *testing.T) {
	pol := testPolicy() // AlertAbsentFor 2m
	spec := verifySpec(0, 10*time.Minute)
	st := v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseVerifying, Verification: startVerification(spec, tNow)}
	yes, no := true, false
	look := func(at time.Duration, firing *bool) {
		t.Helper()
		st, _ = afterCheck(spec, st, observation{Firing: firing}, tNow.Add(at), pol)
	}
	check := func() *v1alpha1.CheckStatus { return st.Verification.AlertResolved }

	look(time.Minute, &no)
	if c := check(); st.Phase != v1alpha1.PhaseVerifying || c.AbsentSince == nil || !c.AbsentSince.Time.Equal(tNow.Add(time.Minute)) || c.PassedAt != nil {
		t.Fatalf("first absent look: %s %+v, want Verifying, absent since 1m", st.Phase, c)
	}
	look(2*time.Minute, &yes) // an Alertmanager that restarted knows it again
	if c := check(); c.AbsentSince != nil || !strings.Contains(c.Observed, "Alertmanager lists it") {
		t.Fatalf("listed again: %+v, want the run of absent looks over", c)
	}
	look(3*time.Minute, &no)
	look(4*time.Minute+59*time.Second, &no)
	if st.Phase != v1alpha1.PhaseVerifying || !strings.Contains(check().Observed, "resolved once that lasts 2m0s") {
		t.Fatalf("absent 1m59s: %s %+v, want still Verifying", st.Phase, check())
	}
	look(5*time.Minute, nil) // not asked (no answer this time): the run goes on
	look(5*time.Minute+time.Second, &no)
	if c := check(); st.Phase != v1alpha1.PhaseSucceeded || st.Reason != ReasonVerified || c.PassedAt == nil || !c.PassedAt.Time.Equal(tNow.Add(3*time.Minute)) ||
		!strings.Contains(c.Observed, "Alertmanager has not listed it since") {
		t.Fatalf("absent 2m: %s %s %+v, want Succeeded Verified, resolved when it was first absent", st.Phase, st.Reason, c)
	}

	// Absent, but not for long enough, at the deadline: Failed.
	st = v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseVerifying, Verification: startVerification(spec, tNow)}
	look(9*time.Minute, &no)
	look(10*time.Minute, &no)
	if st.Phase != v1alpha1.PhaseFailed || st.Reason != ReasonAlertNotResolved || !strings.Contains(st.Message, "Alertmanager has not listed it since") {
		t.Errorf("deadline after 1m absent: %s %s %q, want Failed AlertNotResolved saying what was seen", st.Phase, st.Reason, st.Message)
	}
	// Alertmanager cannot be asked: said, and nothing passes.
	st = v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseVerifying, Verification: startVerification(spec, tNow)}
	st, _ = afterCheck(spec, st, observation{AlertErr: errors.New("connection refused")}, tNow.Add(time.Minute), pol)
	if c := check(); st.Phase != v1alpha1.PhaseVerifying || c.PassedAt != nil || !strings.Contains(c.Observed, "could not ask Alertmanager: connection refused") {
		t.Errorf("Alertmanager down: %s %+v", st.Phase, c)
	}
}
