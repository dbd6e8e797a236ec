package controller

import (
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/testcluster"
	"github.com/alertmedic/alertmedic/remediations"
)

func rolloutCheck(d time.Duration) *v1alpha1.VerifySpec {
	return &v1alpha1.VerifySpec{Rollout: &v1alpha1.RolloutCheck{Timeout: metav1.Duration{Duration: d}}}
}

// cronJob creates a CronJob whose schedule does not come round during a
// test; its Job's pod succeeds, or fails with the JobFail behaviour.
func cronJob(t *testing.T, ns, name string, behaviour testcluster.Behaviour) {
	t.Helper()
	labels := map[string]string{"app": name}
	if behaviour != "" {
		labels[testcluster.BehaviourLabel] = string(behaviour)
	}
	backoff := int32(0)
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: batchv1.CronJobSpec{Schedule: "0 0 1 1 *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
			BackoffLimit: &backoff,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "job", Image: "backup:1"}}},
			},
		}}},
	}
	if _, err := cluster.Client.BatchV1().CronJobs(ns).Create(t.Context(), cj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func runJobRecord(name, ns, cronJob string) *v1alpha1.Remediation {
	return &v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.RemediationSpec{Rule: "backup-before-rollback", Action: v1alpha1.ActionRunJob,
			Target: v1alpha1.Target{Kind: v1alpha1.KindCronJob, Namespace: ns, Name: cronJob}},
	}
}

// A run-job that waits takes its Job's outcome as the record's: Succeeded
// (Verified) when the Job completes, Failed (JobFailed) with the failed
// pod's reason when it fails. Both records name their Job.
func TestRunJobOutcomeIsRecorded(t *testing.T) {
	ns := cluster.Namespace(t, "jobs")
	cronJob(t, ns, "backup", "")
	cronJob(t, ns, "cleanup", testcluster.JobFail)
	startRunner(t, ns, remediations.NewExecutor(cluster.Records, remediations.Options{}), verifyPolicy(), nil)
	ok := put(t, cluster.Records, ns, withVerify(runJobRecord("backup-ok", ns, "backup"), rolloutCheck(2*time.Minute)), v1alpha1.RemediationStatus{})
	bad := put(t, cluster.Records, ns, withVerify(runJobRecord("cleanup-fails", ns, "cleanup"), rolloutCheck(2*time.Minute)), v1alpha1.RemediationStatus{})
	waitLong(t, "both records to end", func() bool { return final(t, ok)() && final(t, bad)() })

	st := get(t, cluster.Records, ok).Status
	job := remediations.JobName("backup", "backup-ok")
	if st.Phase != v1alpha1.PhaseSucceeded || st.Reason != ReasonVerified || !strings.Contains(st.Message, "job "+job+" completed") {
		t.Errorf("record of the job that succeeds: %s %s %q, want Succeeded Verified, saying the Job completed", st.Phase, st.Reason, st.Message)
	}
	if st.Result == nil || st.Result.Job != job || st.Result.Reason != remediations.ReasonJobCreated {
		t.Errorf("result = %+v, want JobCreated naming %s", st.Result, job)
	}
	st = get(t, cluster.Records, bad).Status
	if st.Phase != v1alpha1.PhaseFailed || st.Reason != remediations.ReasonJobFailed || !strings.Contains(st.Message, "1 Failed (Error, exit code 1)") {
		t.Errorf("record of the job that fails: %s %s %q, want Failed JobFailed with the pod's reason", st.Phase, st.Reason, st.Message)
	}
	jobs, err := cluster.Client.BatchV1().Jobs(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil || len(jobs.Items) != 2 {
		t.Errorf("jobs = %d (%v), want one per record", len(jobs.Items), err)
	}
}

func evictRecord(name, ns, pod string) *v1alpha1.Remediation {
	return &v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.RemediationSpec{Rule: "evict-stuck", Action: v1alpha1.ActionEvictPod,
			Target: v1alpha1.Target{Kind: v1alpha1.KindPod, Namespace: ns, Name: pod}},
	}
}

// An evict-pod record is Succeeded once the evicted pod's Deployment has
// converged again, and Failed as BlockedByPDB, not retried, when a
// PodDisruptionBudget forbids the eviction.
func TestEvictPodOutcomeIsRecorded(t *testing.T) {
	ns := cluster.Namespace(t, "evict")
	workload(t, ns, "web", nil)
	workload(t, ns, "db", nil)
	waitLong(t, "web and db available", func() bool { return available(t, ns, "web")() && available(t, ns, "db")() })
	two := intstr.FromInt32(2)
	if _, err := cluster.Client.PolicyV1().PodDisruptionBudgets(ns).Create(t.Context(), &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &two, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitLong(t, "the budget worked out", func() bool {
		p, err := cluster.Client.PolicyV1().PodDisruptionBudgets(ns).Get(t.Context(), "db", metav1.GetOptions{})
		return err == nil && p.Status.ObservedGeneration == p.Generation && p.Status.ExpectedPods == 2
	})
	podOf := func(app string) string {
		pods, err := cluster.Client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=" + app})
		if err != nil || len(pods.Items) == 0 {
			t.Fatalf("pods of %s: %v", app, err)
		}
		return pods.Items[0].Name
	}
	webPod, dbPod := podOf("web"), podOf("db")
	startRunner(t, ns, remediations.NewExecutor(cluster.Records, remediations.Options{}), verifyPolicy(), nil)
	ok := put(t, cluster.Records, ns, withVerify(evictRecord("evict-web", ns, webPod), rolloutCheck(2*time.Minute)), v1alpha1.RemediationStatus{})
	blocked := put(t, cluster.Records, ns, withVerify(evictRecord("evict-db", ns, dbPod), rolloutCheck(2*time.Minute)), v1alpha1.RemediationStatus{})
	waitLong(t, "both records to end", func() bool { return final(t, ok)() && final(t, blocked)() })

	st := get(t, cluster.Records, ok).Status
	if st.Phase != v1alpha1.PhaseSucceeded || st.Reason != ReasonVerified || !strings.Contains(st.Message, "2/2 ready") {
		t.Errorf("evicted record: %s %s %q, want Succeeded Verified once web has 2 ready pods again", st.Phase, st.Reason, st.Message)
	}
	if st.Result == nil || st.Result.Owner == nil || st.Result.Owner.Name != "web" || st.Result.Reason != remediations.ReasonEvicted {
		t.Errorf("result = %+v, want Evicted with the owner Deployment web", st.Result)
	}
	if p, err := cluster.Client.CoreV1().Pods(ns).Get(t.Context(), webPod, metav1.GetOptions{}); !apierrors.IsNotFound(err) && (err != nil || p.DeletionTimestamp == nil) {
		t.Errorf("evicted pod %s still there: %v", webPod, err)
	}
	st = get(t, cluster.Records, blocked).Status
	if st.Phase != v1alpha1.PhaseFailed || st.Reason != remediations.ReasonBlockedByPDB || st.Attempts != 1 || !strings.Contains(st.Message, "disruption budget db") {
		t.Errorf("blocked record: %s %s after %d attempts %q, want Failed BlockedByPDB after one attempt, naming the budget", st.Phase, st.Reason, st.Attempts, st.Message)
	}
	if p, err := cluster.Client.CoreV1().Pods(ns).Get(t.Context(), dbPod, metav1.GetOptions{}); err != nil || p.DeletionTimestamp != nil {
		t.Errorf("pod %s after a blocked eviction: %v; want it untouched", dbPod, err)
	}
}
