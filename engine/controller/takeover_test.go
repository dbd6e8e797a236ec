package controller

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine"
	"github.com/alertmedic/alertmedic/remediations"
)

// A leader that stopped after applying a restart but before recording it:
// the next leader sees the annotation and records the success, without a
// second restart.
func TestTakeOverAppliedRestart(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	c := cluster.NewClient(t, cluster.Config)
	started := time.Now().Add(-time.Minute).Truncate(time.Second)
	workload(t, ns, "web", map[string]string{remediations.RestartedAtAnnotation: started.Format(time.RFC3339)})
	rec := put(t, c, ns, restartRecord("rem-applied", ns, "web"), v1alpha1.RemediationStatus{
		Phase: v1alpha1.PhaseRunning, StartedAt: &metav1.Time{Time: started}, ExecutedBy: "old-leader", Attempts: 1})
	m := startRunner(t, ns, remediations.NewExecutor(cluster.Records, remediations.Options{}), Policy{}, time.Now)
	waitFor(t, "the record to finish", phaseIs(t, c, rec, v1alpha1.PhaseSucceeded))
	if got := get(t, c, rec).Status; got.Reason != "Restarted" || got.Attempts != 1 {
		t.Errorf("status = %+v, want Restarted after 1 attempt", got)
	}
	evs, err := cluster.Client.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{FieldSelector: "reportingComponent=" + remediations.Component}) // not the controllers'
	if err != nil {
		t.Fatal(err)
	}
	if len(evs.Items) != 0 {
		t.Errorf("events = %d, want 0 (no second restart)", len(evs.Items))
	}
	if n := testutil.ToFloat64(m.Decision(engine.DecisionInterrupted)); n != 1 {
		t.Errorf("interrupted = %v, want 1", n)
	}
}

// The stopped leader had not got as far as the patch: the restart is run.
func TestTakeOverRestartNotApplied(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	c := cluster.NewClient(t, cluster.Config)
	workload(t, ns, "web", nil)
	rec := put(t, c, ns, restartRecord("rem-not-applied", ns, "web"), v1alpha1.RemediationStatus{
		Phase: v1alpha1.PhaseRunning, StartedAt: &metav1.Time{Time: time.Now().Add(-time.Minute)}, ExecutedBy: "old-leader", Attempts: 1})
	startRunner(t, ns, remediations.NewExecutor(cluster.Records, remediations.Options{}), Policy{}, time.Now)
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
	ns := cluster.Namespace(t, "records")
	c := cluster.NewClient(t, cluster.Config)
	workload(t, ns, "web", nil)
	rec := &v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{Name: "rem-scale-by"},
		Spec: v1alpha1.RemediationSpec{Rule: "scale-on-latency", Action: "scale", Scale: &v1alpha1.ScaleParams{Op: "by", N: 2},
			Target: v1alpha1.Target{Kind: "Deployment", Namespace: ns, Name: "web"}},
	}
	rec = put(t, c, ns, rec, v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseRunning, StartedAt: &metav1.Time{Time: time.Now()}, ExecutedBy: "old-leader"})
	startRunner(t, ns, remediations.NewExecutor(cluster.Records, remediations.Options{}), Policy{}, time.Now)
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
			ns := cluster.Namespace(t, "records")
			c := cluster.NewClient(t, cluster.Config)
			workload(t, ns, "web", nil)
			apps := cluster.Client.AppsV1().Deployments(ns)
			d, err := apps.Get(t.Context(), "web", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			w := tc.write
			w.Attempt, w.UID, w.Generation = 1, string(d.UID), d.Generation
			if tc.applied { // what the stopped leader's write did
				// The controllers write the Deployment's status meanwhile:
				// read again on a conflict (its generation stays).
				if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
					d, err := apps.Get(t.Context(), "web", metav1.GetOptions{})
					if err != nil {
						return err
					}
					if w.RestartedAt != "" {
						d.Spec.Template.Annotations = map[string]string{remediations.RestartedAtAnnotation: w.RestartedAt}
					} else {
						d.Spec.Replicas = w.Replicas
					}
					_, err = apps.Update(t.Context(), d, metav1.UpdateOptions{})
					return err
				}); err != nil {
					t.Fatal(err)
				}
			}
			rec := put(t, c, ns, tc.rec(ns), v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseRunning,
				StartedAt: &metav1.Time{Time: time.Now().Add(-time.Minute)}, ExecutedBy: "old-leader", Attempts: 1, Write: &w})
			startRunner(t, ns, remediations.NewExecutor(cluster.Records, remediations.Options{}), Policy{}, time.Now)
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
			evs, err := cluster.Client.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{FieldSelector: "reportingComponent=" + remediations.Component}) // not the controllers'
			if err != nil {
				t.Fatal(err)
			}
			if len(evs.Items) != 1 || evs.Items[0].Type != corev1.EventTypeNormal {
				t.Errorf("events = %d, want exactly one for the action", len(evs.Items))
			}
		})
	}
}
