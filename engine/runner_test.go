package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/testcluster"
	"github.com/alertmedic/alertmedic/policy"
	"github.com/alertmedic/alertmedic/remediations"
)

// startRunner runs a Runner (no leader election: it always leads) over the
// records of ns until the test ends.
func startRunner(t *testing.T, ns string, exec Executor, pol Policy, now func() time.Time) *Metrics {
	t.Helper()
	mgr, err := ctrl.NewManager(cluster.Config, ctrl.Options{
		Scheme:                 cluster.Scheme,
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}},
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(nil)
	if _, err := NewRunner(mgr, RunnerOptions{Executor: exec, Policy: pol, Identity: "test-runner", Metrics: m, Now: now}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	return m
}

var waitFor = testcluster.WaitFor

// put creates rec in ns with the given status, as a replica would have left it.
func put(t *testing.T, c client.Client, ns string, rec *v1alpha1.Remediation, st v1alpha1.RemediationStatus) *v1alpha1.Remediation {
	t.Helper()
	rec.Namespace = ns
	if rec.Labels == nil {
		rec.Labels = map[string]string{}
	}
	rec.Labels[v1alpha1.LabelTarget] = v1alpha1.TargetLabel(rec.Spec.Target.Kind, rec.Spec.Target.Namespace, rec.Spec.Target.Name)
	rec.Spec.TargetRef = rec.Spec.Target.String()
	if rec.Spec.Alert.Name == "" {
		rec.Spec.Alert = v1alpha1.AlertRef{Name: "KubePodCrashLooping", Fingerprint: "0123456789abcdef", StartsAt: metav1.NewMicroTime(t0)}
	}
	if err := c.Create(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	if st.Phase != "" {
		rec.Status = st
		if err := c.Status().Update(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
	}
	return rec
}

func get(t *testing.T, c client.Client, rec *v1alpha1.Remediation) *v1alpha1.Remediation {
	t.Helper()
	var out v1alpha1.Remediation
	if err := c.Get(t.Context(), client.ObjectKeyFromObject(rec), &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func phaseIs(t *testing.T, c client.Client, rec *v1alpha1.Remediation, p v1alpha1.Phase) func() bool {
	return func() bool { return get(t, c, rec).Status.Phase == p }
}

func workload(t *testing.T, ns, name string, annotations map[string]string) {
	t.Helper()
	replicas := int32(2)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}, Annotations: annotations},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
			},
		},
	}
	if _, err := cluster.Client.AppsV1().Deployments(ns).Create(t.Context(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func restartRecord(name, ns, target string) *v1alpha1.Remediation {
	return &v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.RemediationSpec{Rule: "restart-crashlooping", Action: "restart",
			Target: v1alpha1.Target{Kind: "Deployment", Namespace: ns, Name: target}},
	}
}

// A leader that stopped after applying a restart but before recording it:
// the next leader sees the annotation and records the success, without a
// second restart.
func TestTakeOverAppliedRestart(t *testing.T) {
	ns := recordsNamespace(t)
	c := newClient(t, cluster.Config)
	started := time.Now().Add(-time.Minute).Truncate(time.Second)
	workload(t, ns, "web", map[string]string{remediations.RestartedAtAnnotation: started.Format(time.RFC3339)})
	rec := put(t, c, ns, restartRecord("rem-applied", ns, "web"), v1alpha1.RemediationStatus{
		Phase: v1alpha1.PhaseRunning, StartedAt: &metav1.Time{Time: started}, ExecutedBy: "old-leader", Attempts: 1})
	m := startRunner(t, ns, remediations.NewExecutor(cluster.Client, remediations.Options{}), Policy{}, time.Now)
	waitFor(t, "the record to finish", phaseIs(t, c, rec, v1alpha1.PhaseSucceeded))
	if got := get(t, c, rec).Status; got.Reason != "Restarted" || got.Attempts != 1 {
		t.Errorf("status = %+v, want Restarted after 1 attempt", got)
	}
	evs, err := cluster.Client.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs.Items) != 0 {
		t.Errorf("events = %d, want 0 (no second restart)", len(evs.Items))
	}
	if n := testutil.ToFloat64(m.decisions.WithLabelValues(DecisionInterrupted)); n != 1 {
		t.Errorf("interrupted = %v, want 1", n)
	}
}

// The stopped leader had not got as far as the patch: the restart is run.
func TestTakeOverRestartNotApplied(t *testing.T) {
	ns := recordsNamespace(t)
	c := newClient(t, cluster.Config)
	workload(t, ns, "web", nil)
	rec := put(t, c, ns, restartRecord("rem-not-applied", ns, "web"), v1alpha1.RemediationStatus{
		Phase: v1alpha1.PhaseRunning, StartedAt: &metav1.Time{Time: time.Now().Add(-time.Minute)}, ExecutedBy: "old-leader", Attempts: 1})
	startRunner(t, ns, remediations.NewExecutor(cluster.Client, remediations.Options{}), Policy{}, time.Now)
	waitFor(t, "the record to finish", phaseIs(t, c, rec, v1alpha1.PhaseSucceeded))
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Spec.Template.Annotations[remediations.RestartedAtAnnotation] == "" {
		t.Errorf("not restarted")
	}
	if st := get(t, c, rec).Status; st.ExecutedBy != "test-runner" || st.Attempts != 2 {
		t.Errorf("status = %+v, want run by the new leader as attempt 2", st)
	}
}

// A relative scale may or may not have been applied; running it again could
// scale twice. It is failed for a person to check, and nothing is changed.
func TestTakeOverRelativeScaleIsNotRepeated(t *testing.T) {
	ns := recordsNamespace(t)
	c := newClient(t, cluster.Config)
	workload(t, ns, "web", nil)
	rec := &v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{Name: "rem-scale-by"},
		Spec: v1alpha1.RemediationSpec{Rule: "scale-on-latency", Action: "scale", Scale: &v1alpha1.ScaleParams{Op: "by", N: 2},
			Target: v1alpha1.Target{Kind: "Deployment", Namespace: ns, Name: "web"}},
	}
	rec = put(t, c, ns, rec, v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseRunning, StartedAt: &metav1.Time{Time: time.Now()}, ExecutedBy: "old-leader"})
	startRunner(t, ns, remediations.NewExecutor(cluster.Client, remediations.Options{}), Policy{}, time.Now)
	waitFor(t, "the record to fail", phaseIs(t, c, rec, v1alpha1.PhaseFailed))
	if st := get(t, c, rec).Status; st.Reason != "Interrupted" {
		t.Errorf("status = %+v, want Interrupted", st)
	}
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 2 {
		t.Errorf("replicas = %d, want 2 (not scaled again)", *d.Spec.Replicas)
	}
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
	ns := recordsNamespace(t)
	c := newClient(t, cluster.Config)
	exec := &flaky{n: 2}
	m := startRunner(t, ns, exec, Policy{RetryBackoff: 10 * time.Millisecond}, time.Now)
	rec := put(t, c, ns, restartRecord("rem-flaky", ns, "web"), v1alpha1.RemediationStatus{})
	waitFor(t, "the record to succeed", phaseIs(t, c, rec, v1alpha1.PhaseSucceeded))
	if st := get(t, c, rec).Status; st.Attempts != 3 {
		t.Errorf("attempts = %d, want 3", st.Attempts)
	}
	if n := testutil.ToFloat64(m.decisions.WithLabelValues(DecisionRetry)); n != 2 {
		t.Errorf("retries = %v, want 2", n)
	}
}

func TestTransientFailureGivesUpAfterMaxAttempts(t *testing.T) {
	ns := recordsNamespace(t)
	c := newClient(t, cluster.Config)
	exec := &flaky{n: 100}
	startRunner(t, ns, exec, Policy{RetryBackoff: 5 * time.Millisecond, MaxAttempts: 3}, time.Now)
	rec := put(t, c, ns, restartRecord("rem-down", ns, "web"), v1alpha1.RemediationStatus{})
	waitFor(t, "the record to fail", phaseIs(t, c, rec, v1alpha1.PhaseFailed))
	if st := get(t, c, rec).Status; st.Attempts != 3 || exec.calls != 3 {
		t.Errorf("attempts = %d, calls = %d, want 3 and 3", st.Attempts, exec.calls)
	}
}

// A record that needs approval waits, then expires after its timeout.
func TestApprovalWaitsThenExpires(t *testing.T) {
	ns := recordsNamespace(t)
	c := newClient(t, cluster.Config)
	exec := &flaky{}
	rec := restartRecord("rem-approval", ns, "web")
	rec.Spec.Approval = &v1alpha1.ApprovalSpec{Channel: "C1", Users: []string{"U1"}, Timeout: metav1.Duration{Duration: 30 * time.Minute}}
	rec = put(t, c, ns, rec, v1alpha1.RemediationStatus{})
	var (
		mu     sync.Mutex
		offset time.Duration
	)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(offset) }
	startRunner(t, ns, exec, Policy{}, now)
	waitFor(t, "the record to await approval", phaseIs(t, c, rec, v1alpha1.PhasePendingApproval))
	// 31 minutes later (the clock moves; the record is looked at again).
	mu.Lock()
	offset = 31 * time.Minute
	mu.Unlock()
	// Make the runner look again (it would on its own at the deadline); the
	// runner may be writing the status meanwhile, so retry on conflict.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		r := get(t, c, rec)
		r.Annotations = map[string]string{"poke": "1"}
		return c.Update(t.Context(), r)
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the record to expire", phaseIs(t, c, rec, v1alpha1.PhaseExpired))
	if exec.calls != 0 {
		t.Errorf("an unapproved action ran %d times", exec.calls)
	}
}

// Finished records are deleted after their retention: counted from when the
// alert resolved, or from when they finished if it never did.
func TestFinishedRecordsAreCollected(t *testing.T) {
	ns := recordsNamespace(t)
	c := newClient(t, cluster.Config)
	long := metav1.NewTime(time.Now().Add(-25 * time.Hour))
	resolved := put(t, c, ns, restartRecord("rem-resolved", ns, "a"), v1alpha1.RemediationStatus{
		Phase: v1alpha1.PhaseSucceeded, FinishedAt: &long, AlertResolvedAt: &long})
	firing := put(t, c, ns, restartRecord("rem-still-firing", ns, "b"), v1alpha1.RemediationStatus{
		Phase: v1alpha1.PhaseSucceeded, FinishedAt: &long})
	m := startRunner(t, ns, &flaky{}, Policy{Retention: 24 * time.Hour, MaxRetention: 72 * time.Hour}, time.Now)
	waitFor(t, "the resolved record to be collected", func() bool {
		err := c.Get(t.Context(), client.ObjectKeyFromObject(resolved), &v1alpha1.Remediation{})
		return apierrors.IsNotFound(err)
	})
	if err := c.Get(t.Context(), client.ObjectKeyFromObject(firing), &v1alpha1.Remediation{}); err != nil {
		t.Errorf("the record of a still-firing alert was collected: %v", err)
	}
	if n := testutil.ToFloat64(m.collected); n != 1 {
		t.Errorf("collected = %v, want 1", n)
	}
}

// budgetRecords puts n records of rule on target (a Deployment name), each a
// new episode, with the rule's budget b (nil: the global defaults).
func budgetRecords(t *testing.T, c client.Client, ns, rule, target string, n int, b *v1alpha1.BudgetSpec) []*v1alpha1.Remediation {
	t.Helper()
	var out []*v1alpha1.Remediation
	for i := range n {
		rec := restartRecord(fmt.Sprintf("rem-%s-%s-%d", rule, target, i), ns, target)
		rec.Spec.Rule, rec.Spec.Budget = rule, b
		out = append(out, put(t, c, ns, rec, v1alpha1.RemediationStatus{}))
	}
	return out
}

func phases(t *testing.T, c client.Client, recs []*v1alpha1.Remediation) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, r := range recs {
		st := get(t, c, r).Status
		out[string(st.Phase)+"/"+st.Reason]++
	}
	return out
}

func allDone(t *testing.T, c client.Client, recs []*v1alpha1.Remediation) func() bool {
	return func() bool {
		for _, r := range recs {
			if !get(t, c, r).Status.Phase.Final() {
				return false
			}
		}
		return true
	}
}

// maxPerWindow: past a rule's budget (on one target, or across its targets)
// actions are Skipped with the reason; rules without one take the defaults.
func TestBudgets(t *testing.T) {
	ns := recordsNamespace(t)
	c := newClient(t, cluster.Config)
	exec := &flaky{}
	m := startRunner(t, ns, exec, Policy{Limits: policy.Limits{PerTarget: 1, BudgetWindow: time.Hour}}, time.Now)
	hour := metav1.Duration{Duration: time.Hour}

	perTarget := budgetRecords(t, c, ns, "restart-a", "a", 3, &v1alpha1.BudgetSpec{PerTarget: 2, Window: hour})
	waitFor(t, "the per-target records", allDone(t, c, perTarget))
	if got := phases(t, c, perTarget); got["Succeeded/Restarted"] != 2 || got["Skipped/TargetBudget"] != 1 {
		t.Errorf("perTarget 2 of 3: %v", got)
	}
	var perRule []*v1alpha1.Remediation
	for _, target := range []string{"b", "c", "d"} {
		perRule = append(perRule, budgetRecords(t, c, ns, "restart-many", target, 1, &v1alpha1.BudgetSpec{PerRule: 2, Window: hour})...)
	}
	waitFor(t, "the per-rule records", allDone(t, c, perRule))
	if got := phases(t, c, perRule); got["Succeeded/Restarted"] != 2 || got["Skipped/RuleBudget"] != 1 {
		t.Errorf("perRule 2 over 3 targets: %v", got)
	}
	// No maxPerWindow on the rule: the default of one per target holds.
	defaults := budgetRecords(t, c, ns, "restart-plain", "e", 2, nil)
	waitFor(t, "the default-budget records", allDone(t, c, defaults))
	if got := phases(t, c, defaults); got["Succeeded/Restarted"] != 1 || got["Skipped/TargetBudget"] != 1 {
		t.Errorf("default perTarget 1 of 2: %v", got)
	}
	if exec.calls != 5 {
		t.Errorf("executions = %d, want 5", exec.calls)
	}
	if n := testutil.ToFloat64(m.decisions.WithLabelValues(DecisionOverBudget)); n != 3 {
		t.Errorf("over_budget = %v, want 3", n)
	}
	for _, r := range append(perTarget, perRule...) {
		if st := get(t, c, r).Status; st.Phase == v1alpha1.PhaseSkipped && !strings.Contains(st.Message, "maxPerWindow") {
			t.Errorf("skip message %q does not name the budget", st.Message)
		}
	}
}

// A leader that stopped after sending its change and before recording the
// outcome left the record Running with the change: the next leader settles
// it from the target, acting at most once, and the action gets its Event.
func TestTakeOverSettlesTheRecordedChange(t *testing.T) {
	scaleBy2 := func(name, ns string) *v1alpha1.Remediation {
		return &v1alpha1.Remediation{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: v1alpha1.RemediationSpec{Rule: "scale-on-latency", Action: "scale", Scale: &v1alpha1.ScaleParams{Op: "by", N: 2},
				Target: v1alpha1.Target{Kind: "Deployment", Namespace: ns, Name: "web"}}}
	}
	for _, tc := range []struct {
		name    string
		rec     func(ns string) *v1alpha1.Remediation
		write   v1alpha1.Write
		applied bool
		check   func(t *testing.T, d *appsv1.Deployment)
	}{
		{name: "restart applied", rec: func(ns string) *v1alpha1.Remediation { return restartRecord("rem-restart", ns, "web") },
			write: v1alpha1.Write{RestartedAt: "2026-11-27T09:00:00Z", Before: "restartedAt=never", After: "restartedAt=2026-11-27T09:00:00Z"}, applied: true,
			check: func(t *testing.T, d *appsv1.Deployment) {
				if got := d.Spec.Template.Annotations[remediations.RestartedAtAnnotation]; got != "2026-11-27T09:00:00Z" {
					t.Errorf("restartedAt = %q, want the stopped leader's, not a second restart", got)
				}
			}},
		{name: "scale by +2 applied", rec: func(ns string) *v1alpha1.Remediation { return scaleBy2("rem-scale-applied", ns) },
			write: v1alpha1.Write{Replicas: new(int32(4)), Before: "replicas=2", After: "replicas=4"}, applied: true,
			check: func(t *testing.T, d *appsv1.Deployment) {
				if *d.Spec.Replicas != 4 {
					t.Errorf("replicas = %d, want 4 (not 6)", *d.Spec.Replicas)
				}
			}},
		{name: "scale by +2 not applied", rec: func(ns string) *v1alpha1.Remediation { return scaleBy2("rem-scale-not-applied", ns) },
			write: v1alpha1.Write{Replicas: new(int32(4)), Before: "replicas=2", After: "replicas=4"}, applied: false,
			check: func(t *testing.T, d *appsv1.Deployment) {
				if *d.Spec.Replicas != 4 {
					t.Errorf("replicas = %d, want 4 (sent once, by the new leader)", *d.Spec.Replicas)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := recordsNamespace(t)
			c := newClient(t, cluster.Config)
			workload(t, ns, "web", nil)
			apps := cluster.Client.AppsV1().Deployments(ns)
			d, err := apps.Get(t.Context(), "web", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			w := tc.write
			w.Attempt, w.UID, w.Generation = 1, string(d.UID), d.Generation
			if tc.applied { // what the stopped leader's write did
				if w.RestartedAt != "" {
					d.Spec.Template.Annotations = map[string]string{remediations.RestartedAtAnnotation: w.RestartedAt}
				} else {
					d.Spec.Replicas = w.Replicas
				}
				if _, err := apps.Update(t.Context(), d, metav1.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			rec := put(t, c, ns, tc.rec(ns), v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseRunning,
				StartedAt: &metav1.Time{Time: time.Now().Add(-time.Minute)}, ExecutedBy: "old-leader", Attempts: 1, Write: &w})
			startRunner(t, ns, remediations.NewExecutor(cluster.Client, remediations.Options{}), Policy{}, time.Now)
			waitFor(t, "the record to finish", func() bool { return get(t, c, rec).Status.Phase.Final() })
			st := get(t, c, rec).Status
			if st.Phase != v1alpha1.PhaseSucceeded || st.Write != nil {
				t.Errorf("status = %+v, want Succeeded with nothing left to settle", st)
			}
			if tc.applied && !strings.Contains(st.Message, "applied by attempt 1") {
				t.Errorf("message %q does not say the stopped leader's attempt applied it", st.Message)
			}
			d, err = apps.Get(t.Context(), "web", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, d)
			evs, err := cluster.Client.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(evs.Items) != 1 || evs.Items[0].Type != corev1.EventTypeNormal {
				t.Errorf("events = %d, want exactly one for the action", len(evs.Items))
			}
		})
	}
}
