package remediations

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
)

// The reasons run-job ends with, besides the common ones.
const (
	ReasonJobCreated   = "JobCreated"   // Succeeded: the Job exists (created now, or by an attempt whose answer was lost)
	ReasonJobSucceeded = "JobSucceeded" // verified: the Job completed
	ReasonJobFailed    = "JobFailed"    // verification Failed: the Job failed
)

// Labels and annotations on a Job run-job creates.
const (
	// LabelRemediation names the record a Job was created for; a Job of
	// the expected name carrying it is the one an earlier attempt made.
	LabelRemediation = "alertmedic.io/remediation"
	// AnnotationInstantiate is what kubectl create job --from=cronjob/NAME
	// sets, and the CronJob controller leaves alone.
	AnnotationInstantiate = "cronjob.kubernetes.io/instantiate"
)

// JobName is the name of the Job run-job creates from cronJob for the
// record named record: the CronJob's name (at most 52 characters, as the
// API requires of CronJobs) and a hash of the record, so that every
// attempt for one record names the same Job and two records never do.
func JobName(cronJob, record string) string {
	sum := sha256.Sum256([]byte(record))
	if len(cronJob) > 52 {
		cronJob = cronJob[:52]
	}
	return strings.TrimRight(cronJob, "-.") + "-" + hex.EncodeToString(sum[:5])
}

// runJob creates a Job from the CronJob req names, as kubectl create job
// --from=cronjob/NAME does: the jobTemplate's spec, labels and
// annotations, the annotation cronjob.kubernetes.io/instantiate: manual,
// and the CronJob as controller (without blockOwnerDeletion, as kubectl).
// It is named from the record (JobName) and labelled with it, so creating
// it is idempotent: AlreadyExists with the record's label is the Job an
// earlier attempt created, whose answer may have been lost. Waiting for
// the Job is the record's rollout check (JobStatus), not this call.
func (e *Executor) runJob(ctx context.Context, req Request) (Result, *workload, error) {
	ns := req.Target.Namespace
	var res Result
	if req.Record == "" {
		return res, nil, fmt.Errorf("%w: run-job needs the record's name to name its Job", errInvalid)
	}
	cj, err := kube.Get[batchv1.CronJob](ctx, e.client, ns, req.Target.Name)
	if err != nil {
		return res, nil, err
	}
	w := &workload{meta: cj, ref: corev1.ObjectReference{APIVersion: "batch/v1", Kind: "CronJob", Namespace: ns, Name: cj.Name,
		UID: cj.UID, ResourceVersion: cj.ResourceVersion}}
	res.UID, res.Generation = string(cj.UID), cj.Generation
	name := JobName(cj.Name, req.Record)
	res.Before, res.After, res.Job = "cronjob="+cj.Name, "job="+name, name
	if p := req.Prior; p != nil {
		if p.UID != res.UID {
			res.Outcome, res.Reason = Skipped, "TargetChanged"
			res.Message = fmt.Sprintf("%s was deleted and created again after attempt %d sent its Job (uid %s, now %s): not acting on the new object", req.Target, p.Attempt, p.UID, res.UID)
			return res, w, nil
		}
	} else if changed(req, w, &res) {
		return res, w, nil
	}
	job := jobFromCronJob(cj, name, req.Record)
	change := &v1alpha1.Write{UID: res.UID, Generation: res.Generation, Job: name, Before: res.Before, After: res.After}
	opts := metav1.CreateOptions{FieldManager: e.opts.FieldManager}
	if req.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	err = send(ctx, req, change, &res, func() error {
		_, err := kube.Create(ctx, e.client, ns, job, opts)
		return err
	})
	again := ""
	if apierrors.IsAlreadyExists(err) {
		existing, gerr := kube.Get[batchv1.Job](ctx, e.client, ns, name)
		if gerr != nil {
			return res, w, fmt.Errorf("read job %s, which exists already: %w", name, gerr)
		}
		if existing.Labels[LabelRemediation] != req.Record {
			res.Write = nil
			return res, w, fmt.Errorf("%w: a Job named %s exists and was not created for %s; not touching it", errJobNameTaken, name, req.Record)
		}
		err, again = nil, " (created by an earlier attempt, whose answer was lost)"
	}
	if err != nil {
		return res, w, err
	}
	res.Write = nil
	res.Outcome, res.Reason = Succeeded, ReasonJobCreated
	res.Message = fmt.Sprintf("created job %s from %s%s", name, req.Target, again)
	if cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		res.Message += "; the CronJob is suspended, which does not stop a Job created from it"
	}
	return res, w, nil
}

// jobFromCronJob is kubectl's createJobFromCronJob (k8s.io/kubectl
// pkg/cmd/create/create_job.go), with the record's label added.
func jobFromCronJob(cj *batchv1.CronJob, name, record string) *batchv1.Job {
	annotations := map[string]string{AnnotationInstantiate: "manual"}
	maps.Copy(annotations, cj.Spec.JobTemplate.Annotations)
	labels := maps.Clone(cj.Spec.JobTemplate.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelRemediation] = record
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   cj.Namespace,
			Annotations: annotations,
			Labels:      labels,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: batchv1.SchemeGroupVersion.String(),
				Kind:       "CronJob",
				Name:       cj.Name,
				UID:        cj.UID,
				Controller: ptr.To(true),
			}},
		},
		Spec: *cj.Spec.JobTemplate.Spec.DeepCopy(),
	}
}

// JobStatus reads the Job run-job created and says whether it has
// finished: Done when it completed, Stuck (with Reason JobFailed) when it
// failed, and otherwise how far it is; a failed or unfinished Job's pods
// that did not succeed are described, with their reasons.
func (e *Executor) JobStatus(ctx context.Context, namespace, name string) (Rollout, error) {
	r := Rollout{PodsOf: "pods of job " + name, Desired: 1}
	j, err := kube.Get[batchv1.Job](ctx, e.client, namespace, name)
	if err != nil {
		return r, fmt.Errorf("read job %s/%s: %w", namespace, name, err)
	}
	if j.Spec.Completions != nil {
		r.Desired = *j.Spec.Completions
	}
	r.Ready = j.Status.Succeeded
	r.Status = fmt.Sprintf("job %s: %d succeeded, %d failed, %d active", name, j.Status.Succeeded, j.Status.Failed, j.Status.Active)
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			r.Done = true
			r.Reason = ReasonJobSucceeded
			r.Status = fmt.Sprintf("job %s completed: %d succeeded", name, j.Status.Succeeded)
			return r, nil
		case batchv1.JobFailed:
			r.Stuck, r.Reason = true, ReasonJobFailed
			r.Status = fmt.Sprintf("job %s failed (%s: %s): %d failed, %d succeeded", name, c.Reason, c.Message, j.Status.Failed, j.Status.Succeeded)
		}
	}
	if j.Status.Failed == 0 && !r.Stuck {
		return r, nil
	}
	pods, err := e.pods(ctx, namespace, j.Spec.Selector, nil)
	if err != nil {
		return r, fmt.Errorf("read the pods of job %s: %w", name, err)
	}
	var failed []corev1.Pod
	for _, p := range pods {
		if p.Status.Phase == corev1.PodFailed {
			failed = append(failed, p)
		}
	}
	r.Pods = failedPods(failed)
	return r, nil
}

// failedPods says why the failed pods of a Job failed: "2 Failed (Error,
// exit code 1)", grouped.
func failedPods(pods []corev1.Pod) string {
	counts := map[string]int{}
	var keys []string
	for i := range pods {
		why := "Failed"
		if r := pods[i].Status.Reason; r != "" {
			why += " " + r
		}
		for _, cs := range pods[i].Status.ContainerStatuses {
			if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
				why = fmt.Sprintf("Failed (%s, exit code %d)", t.Reason, t.ExitCode)
				break
			}
		}
		if counts[why] == 0 {
			keys = append(keys, why)
		}
		counts[why]++
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", counts[k], k)
	}
	return strings.Join(parts, ", ")
}
