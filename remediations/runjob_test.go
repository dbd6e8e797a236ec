package remediations_test

import (
	"fmt"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/testcluster"
	"github.com/alertmedic/alertmedic/remediations"
)

// createCronJob creates a CronJob whose schedule does not come round
// during a test; its pods succeed, or fail when behaviour is JobFail.
func createCronJob(t *testing.T, ns, name string, behaviour testcluster.Behaviour) *batchv1.CronJob {
	t.Helper()
	tmpl := podTemplate(name, "busybox:1")
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	if behaviour != "" {
		tmpl.Labels[testcluster.BehaviourLabel] = string(behaviour)
	}
	cj, err := clientset().BatchV1().CronJobs(ns).Create(t.Context(), &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: batchv1.CronJobSpec{
			Schedule: "0 0 1 1 *",
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"team": "db"}, Annotations: map[string]string{"runbook": "backup"}},
				Spec:       batchv1.JobSpec{BackoffLimit: ptr(int32(0)), Template: tmpl},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cj
}

func runJobReq(ns, cronJob, record string) remediations.Request {
	return remediations.Request{
		Action: v1alpha1.ActionRunJob, Target: v1alpha1.Target{Kind: v1alpha1.KindCronJob, Namespace: ns, Name: cronJob},
		Record: record, Rule: "backup-before-rollback", AlertName: "ErrorBudgetBurn",
	}
}

// run-job creates the Job kubectl create job --from=cronjob/NAME would, a
// retry for the same record finds it instead of making a second, and the
// Job's success is what JobStatus reports.
func TestRunJobSucceeds(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	cj := createCronJob(t, ns, "backup", "")
	e := executor(t, medic())
	req := runJobReq(ns, "backup", "rem-0123456789abcdef0123")
	res, err := e.Execute(t.Context(), req)
	name := remediations.JobName("backup", req.Record)
	if err != nil || res.Outcome != remediations.Succeeded || res.Reason != remediations.ReasonJobCreated || res.Job != name {
		t.Fatalf("Execute = %+v, %v; want Succeeded JobCreated %s", res, err, name)
	}
	job, err := clientset().BatchV1().Jobs(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := job.Annotations[remediations.AnnotationInstantiate]; got != "manual" {
		t.Errorf("annotation %s = %q, want manual", remediations.AnnotationInstantiate, got)
	}
	if job.Annotations["runbook"] != "backup" || job.Labels["team"] != "db" || job.Labels[remediations.LabelRemediation] != req.Record {
		t.Errorf("labels %v, annotations %v: want the template's, and the record's label", job.Labels, job.Annotations)
	}
	ref := metav1.GetControllerOf(job)
	if ref == nil || ref.Kind != "CronJob" || ref.UID != cj.UID || ref.BlockOwnerDeletion != nil {
		t.Errorf("controller %+v, want the CronJob (without blockOwnerDeletion, as kubectl)", ref)
	}

	again, err := e.Execute(t.Context(), req)
	if err != nil || again.Outcome != remediations.Succeeded || !strings.Contains(again.Message, "earlier attempt") {
		t.Fatalf("second Execute = %+v, %v; want Succeeded, found from the earlier attempt", again, err)
	}
	jobs, err := clientset().BatchV1().Jobs(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil || len(jobs.Items) != 1 {
		t.Fatalf("jobs = %d (%v), want 1: a retry never makes a second Job", len(jobs.Items), err)
	}
	waitLong(t, "the job completed", func() (bool, error) {
		r, err := e.JobStatus(t.Context(), ns, name)
		return err == nil && r.Done && r.Reason == remediations.ReasonJobSucceeded, fmt.Errorf("%v: %+v", err, r)
	})
}

// A Job whose pod fails is reported failed, with why its pods failed.
func TestRunJobFails(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	createCronJob(t, ns, "cleanup", testcluster.JobFail)
	e := executor(t, medic())
	req := runJobReq(ns, "cleanup", "rem-fedcba9876543210fedc")
	res, err := e.Execute(t.Context(), req)
	if err != nil || res.Outcome != remediations.Succeeded {
		t.Fatalf("Execute = %+v, %v", res, err)
	}
	var r remediations.Rollout
	waitLong(t, "the job failed", func() (bool, error) {
		var err error
		r, err = e.JobStatus(t.Context(), ns, res.Job)
		return err == nil && r.Stuck && r.Reason == remediations.ReasonJobFailed, fmt.Errorf("%v: %+v", err, r)
	})
	if r.Done || !strings.Contains(r.Pods, "1 Failed (Error, exit code 1)") || !strings.Contains(r.Status, "BackoffLimitExceeded") {
		t.Errorf("failed job seen as %+v; want its pod's failure and the Job's reason", r)
	}
}

// A Job of the expected name that another record (or someone) made is
// not taken for ours; a dry run creates nothing.
func TestRunJobNameTakenAndDryRun(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	createCronJob(t, ns, "backup", "")
	e := executor(t, medic())
	req := runJobReq(ns, "backup", "rem-00000000000000000001")
	req.DryRun = true
	res, err := e.Execute(t.Context(), req)
	if err != nil || res.Outcome != remediations.Succeeded || !res.DryRun {
		t.Fatalf("dry run = %+v, %v", res, err)
	}
	if jobs, _ := clientset().BatchV1().Jobs(ns).List(t.Context(), metav1.ListOptions{}); len(jobs.Items) != 0 {
		t.Fatalf("a dry run created %d jobs", len(jobs.Items))
	}
	name := remediations.JobName("backup", req.Record)
	tmpl := podTemplate("other", "busybox:1")
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	if _, err := clientset().BatchV1().Jobs(ns).Create(t.Context(), &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       batchv1.JobSpec{Template: tmpl},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	req.DryRun = false
	res, err = e.Execute(t.Context(), req)
	if err == nil || res.Outcome != remediations.Failed || res.Reason != "JobNameTaken" {
		t.Fatalf("Execute = %+v, %v; want Failed JobNameTaken", res, err)
	}
}

func TestJobName(t *testing.T) {
	long := strings.Repeat("a", 52)
	for _, tc := range []struct{ cronJob, record string }{{"backup", "rem-1"}, {long, "rem-1"}, {"backup", "rem-2"}} {
		n := remediations.JobName(tc.cronJob, tc.record)
		if len(n) > 63 || !strings.HasPrefix(n, tc.cronJob[:min(len(tc.cronJob), 52)]) {
			t.Errorf("JobName(%q, %q) = %q", tc.cronJob, tc.record, n)
		}
	}
	if remediations.JobName("backup", "rem-1") == remediations.JobName("backup", "rem-2") {
		t.Error("two records name the same Job")
	}
}
