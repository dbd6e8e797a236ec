package controller

import (
	"context"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/internal/testcluster"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) {
	testcluster.MainWith(m, "the controller tests", testcluster.Options{Full: true}, &cluster)
}

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// startRunner runs a Runner (no leader election: it always leads) over the
// records of ns until the test ends.
func startRunner(t *testing.T, ns string, exec Executor, pol Policy, now func() time.Time) *engine.Metrics {
	t.Helper()
	m, _ := startStoppableRunner(t, ns, exec, pol, now)
	return m
}

// startStoppableRunner is startRunner, and stop stops it (as a leader that
// goes away) and waits until it has.
func startStoppableRunner(t *testing.T, ns string, exec Executor, pol Policy, now func() time.Time) (m *engine.Metrics, stop func()) {
	t.Helper()
	return startRunnerWith(t, ns, Options{Executor: exec, Policy: pol, Now: now})
}

// startRunnerWith is startStoppableRunner with more of the runner's
// Options (its identity and metrics are the tests').
func startRunnerWith(t *testing.T, ns string, opts Options) (m *engine.Metrics, stop func()) {
	t.Helper()
	return startRunnerOn(t, cluster.Config, ns, opts)
}

// startRunnerOn is startRunnerWith talking to the API server through cfg.
func startRunnerOn(t *testing.T, cfg *rest.Config, ns string, opts Options) (m *engine.Metrics, stop func()) {
	t.Helper()
	kc, err := kube.New(cfg, kube.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := kube.NewManager(kc, kc, kube.ManagerOptions{
		Object: &v1alpha1.Remediation{}, List: &v1alpha1.RemediationList{},
		// As serve's: settled records trimmed (v1alpha1.TrimForCache).
		Cache: kube.CacheOptions{Namespace: ns, Transform: v1alpha1.CacheTransform, LabelSelector: v1alpha1.NotArchived()},
	})
	if err != nil {
		t.Fatal(err)
	}
	m = engine.NewMetrics(nil)
	opts.Identity, opts.Metrics = "test-runner", m
	if opts.Namespace == "" {
		opts.Namespace = ns // as serve's: archived records are listed there
	}
	if _, err := NewRunner(mgr, opts); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("manager: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return m, stop
}

var waitFor = testcluster.WaitFor

// put creates rec in ns with the given status, as a replica would have left it.
func put(t *testing.T, c kube.Client, ns string, rec *v1alpha1.Remediation, st v1alpha1.RemediationStatus) *v1alpha1.Remediation {
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
		// A runner already running may act on the record between its
		// create and this write; the record is then put as it says.
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			rec.Status = st
			err := c.Status().Update(t.Context(), rec)
			if apierrors.IsConflict(err) {
				if gerr := c.Get(t.Context(), kube.ObjectKeyFromObject(rec), rec); gerr != nil {
					return gerr
				}
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return rec
}

// gone reports whether rec is deleted from the API server.
func gone(t *testing.T, c kube.Client, rec *v1alpha1.Remediation) bool {
	t.Helper()
	return apierrors.IsNotFound(c.Get(t.Context(), kube.ObjectKeyFromObject(rec), &v1alpha1.Remediation{}))
}

// putArchived creates a succeeded restart of target in ns as the leader
// leaves it archived: its alert resolved at retainedFrom.
func putArchived(t *testing.T, c kube.Client, ns, name, target string, retainedFrom time.Time) *v1alpha1.Remediation {
	t.Helper()
	at := metav1.NewTime(retainedFrom.Truncate(time.Second))
	rec := restartRecord(name, ns, target)
	rec.Labels = map[string]string{v1alpha1.LabelArchived: "true"}
	rec.Annotations = map[string]string{v1alpha1.AnnotationRetainedFrom: retainedFrom.UTC().Format(time.RFC3339Nano)}
	return put(t, c, ns, rec, v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseSucceeded, FinishedAt: &at, AlertResolvedAt: &at})
}

func get(t *testing.T, c kube.Client, rec *v1alpha1.Remediation) *v1alpha1.Remediation {
	t.Helper()
	var out v1alpha1.Remediation
	if err := c.Get(t.Context(), kube.ObjectKeyFromObject(rec), &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func phaseIs(t *testing.T, c kube.Client, rec *v1alpha1.Remediation, p v1alpha1.Phase) func() bool {
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
