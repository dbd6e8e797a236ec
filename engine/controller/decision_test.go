package controller

import (
	"fmt"
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
		{name: "running is resumed even with a retry time", st: v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseRunning, NextAttemptAt: mmt(time.Hour)},
			want: step{Kind: stepResume}},
	}
	for _, p := range []v1alpha1.Phase{v1alpha1.PhaseSucceeded, v1alpha1.PhaseFailed, v1alpha1.PhaseSkipped, v1alpha1.PhaseDenied,
		v1alpha1.PhaseExpired, v1alpha1.PhaseCancelled} {
		tests = append(tests,
			nextStepCase{name: string(p) + " is kept for its retention", approval: approval,
				st:   v1alpha1.RemediationStatus{Phase: p, FinishedAt: mt(-time.Hour), DecidedAt: mt(-2 * time.Hour), NextAttemptAt: mmt(-time.Hour)},
				want: step{Kind: stepWait, After: 47 * time.Hour}},
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
			got, wait := afterAttempt(st, tt.res, tt.err, tNow, pol)
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
