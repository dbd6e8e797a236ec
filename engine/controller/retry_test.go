package controller

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine"
	"github.com/alertmedic/alertmedic/engine/approval"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/remediations"
)

// clock is a test clock the runner reads; it counts its readings, so a
// test can tell that the runner has looked at a record since some point.
type clock struct {
	mu    sync.Mutex
	at    time.Time
	reads int
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads++
	return c.at
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = c.at.Add(d)
}

func (c *clock) readings() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads
}

// poke makes the runner look at rec again, as any change of it would, and
// waits until it has (the runner reads the clock on every look).
func poke(t *testing.T, c kube.Client, rec *v1alpha1.Remediation, clk *clock) {
	t.Helper()
	before := clk.readings()
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		r := get(t, c, rec)
		if r.Annotations == nil {
			r.Annotations = map[string]string{}
		}
		r.Annotations["poke"] = time.Now().Format(time.RFC3339Nano)
		return c.Update(t.Context(), r)
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the runner to look at the record again", func() bool { return clk.readings() > before })
}

// flaky is an Executor that fails with a transient error n times first.
type flaky struct {
	mu    sync.Mutex
	n     int
	calls int
}

func (f *flaky) Plan(ctx context.Context, req remediations.Request) (remediations.Result, error) {
	return remediations.Result{Outcome: remediations.Succeeded, DryRun: true}, nil
}

func (f *flaky) RolloutStatus(ctx context.Context, target v1alpha1.Target) (remediations.Rollout, error) {
	return remediations.Rollout{Done: true, Status: "successfully rolled out"}, nil
}

func (f *flaky) Warnings(ctx context.Context, target v1alpha1.Target, since time.Time) ([]string, error) {
	return nil, nil
}

func (f *flaky) RestoreHPA(ctx context.Context, namespace, record string, r v1alpha1.HPAStatus) (string, error) {
	return "", nil
}

func (f *flaky) JobStatus(ctx context.Context, namespace, name string) (remediations.Rollout, error) {
	return remediations.Rollout{Done: true, Status: "job " + name + " completed"}, nil
}

// Execute records its change through req.BeforeWrite, as the real
// executor does, then fails or succeeds.
func (f *flaky) Execute(ctx context.Context, req remediations.Request) (remediations.Result, error) {
	if req.BeforeWrite != nil {
		if err := req.BeforeWrite(ctx, &v1alpha1.Write{UID: "test", Generation: 1, Before: "restartedAt=never", After: "restartedAt=now"}); err != nil {
			return remediations.Result{}, fmt.Errorf("%w: %w", remediations.ErrNotSent, err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls <= f.n {
		return remediations.Result{Outcome: remediations.Failed}, apierrors.NewServiceUnavailable("apiserver restarting")
	}
	return remediations.Result{Outcome: remediations.Succeeded, Reason: "Restarted"}, nil
}

func (f *flaky) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func TestTransientFailureIsRetried(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	c := cluster.NewClient(t, cluster.Config)
	exec := &flaky{n: 2}
	m := startRunner(t, ns, exec, Policy{RetryBackoff: 10 * time.Millisecond}, time.Now)
	rec := put(t, c, ns, restartRecord("rem-flaky", ns, "web"), v1alpha1.RemediationStatus{})
	waitFor(t, "the record to succeed", phaseIs(t, c, rec, v1alpha1.PhaseSucceeded))
	if st := get(t, c, rec).Status; st.Attempts != 3 {
		t.Errorf("attempts = %d, want 3", st.Attempts)
	}
	if n := testutil.ToFloat64(m.Decision(engine.DecisionRetry)); n != 2 {
		t.Errorf("retries = %v, want 2", n)
	}
}

func TestTransientFailureGivesUpAfterMaxAttempts(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	c := cluster.NewClient(t, cluster.Config)
	exec := &flaky{n: 100}
	startRunner(t, ns, exec, Policy{RetryBackoff: 5 * time.Millisecond, MaxAttempts: 3}, time.Now)
	rec := put(t, c, ns, restartRecord("rem-down", ns, "web"), v1alpha1.RemediationStatus{})
	waitFor(t, "the record to fail", phaseIs(t, c, rec, v1alpha1.PhaseFailed))
	if st := get(t, c, rec).Status; st.Attempts != 3 || exec.calls != 3 {
		t.Errorf("attempts = %d, calls = %d, want 3 and 3", st.Attempts, exec.calls)
	}
}

// After a transient failure the next attempt waits for the backoff: the
// status write that records the retry wakes the runner at once, and a poke
// does too, but nothing is tried before NextAttemptAt.
func TestRetryWaitsForItsBackoff(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	c := cluster.NewClient(t, cluster.Config)
	clk := &clock{at: time.Now()}
	exec := &flaky{n: 1}
	const backoff = 20 * time.Second
	m := startRunner(t, ns, exec, Policy{RetryBackoff: backoff}, clk.Now)
	rec := put(t, c, ns, restartRecord("rem-backoff", ns, "web"), v1alpha1.RemediationStatus{})
	waitFor(t, "the first attempt to fail", func() bool { st := get(t, c, rec).Status; return st.Reason == "Retrying" || st.Phase.Final() })
	st := get(t, c, rec).Status
	if st.Phase != v1alpha1.PhasePending || st.NextAttemptAt == nil || st.NextAttemptAt.Sub(clk.Now()) < backoff-time.Second || st.Attempts != 1 {
		t.Fatalf("status after a transient failure = %+v, want Pending with the next attempt %v from now", st, backoff)
	}
	poke(t, c, rec, clk)
	poke(t, c, rec, clk)
	if n := exec.count(); n != 1 {
		t.Fatalf("attempts before the backoff passed = %d, want 1", n)
	}
	clk.advance(backoff)
	poke(t, c, rec, clk)
	waitFor(t, "the second attempt to succeed", phaseIs(t, c, rec, v1alpha1.PhaseSucceeded))
	if n, st := exec.count(), get(t, c, rec).Status; n != 2 || st.Attempts != 2 || st.NextAttemptAt != nil {
		t.Errorf("calls = %d, status = %+v, want 2 attempts and no retry pending", n, st)
	}
	if n := testutil.ToFloat64(m.Decision(engine.DecisionRetry)); n != 1 {
		t.Errorf("retries = %v, want 1", n)
	}
}

// A person's approval survives a transient failure: the record is retried
// as Approved and runs, never asks again, and does not expire.
func TestApprovalSurvivesATransientFailure(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	c := cluster.NewClient(t, cluster.Config)
	clk := &clock{at: time.Now()}
	exec := &flaky{n: 1}
	rec := restartRecord("rem-approved-retry", ns, "web")
	rec.Spec.Approval = &v1alpha1.ApprovalSpec{Users: []string{"U1"}, Timeout: metav1.Duration{Duration: 30 * time.Minute}}
	rec = put(t, c, ns, rec, v1alpha1.RemediationStatus{})
	m := startRunner(t, ns, exec, Policy{RetryBackoff: time.Minute}, clk.Now)
	waitFor(t, "the record to await approval", phaseIs(t, c, rec, v1alpha1.PhasePendingApproval))
	if _, err := approval.Decide(t.Context(), c, kube.ObjectKeyFromObject(rec), true, "slack:U1", clk.Now()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the approved action to fail once", func() bool { st := get(t, c, rec).Status; return st.Reason == "Retrying" || st.Phase.Final() })
	if st := get(t, c, rec).Status; st.Phase != v1alpha1.PhaseApproved || st.DecidedBy != "slack:U1" {
		t.Fatalf("status after the failure = %+v, want still Approved by slack:U1", st)
	}
	// Past the approval's own deadline too: an approved action does not
	// expire while it is retried.
	clk.advance(31 * time.Minute)
	poke(t, c, rec, clk)
	waitFor(t, "the retry to succeed", phaseIs(t, c, rec, v1alpha1.PhaseSucceeded))
	if n := testutil.ToFloat64(m.Decision(engine.DecisionAwaitApproval)); n != 1 {
		t.Errorf("asked for approval %v times, want 1", n)
	}
	if n := exec.count(); n != 2 {
		t.Errorf("calls = %d, want 2", n)
	}
}
