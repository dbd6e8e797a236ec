package controller

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine"
	"github.com/alertmedic/alertmedic/internal/kube"
)

// A record that ends Failed and has an onFailure chain escalates: the
// chain's first step becomes a new record (the escalation) on the same
// target for the same alert episode, carrying the rest of the chain. The
// new record is then like any other: policy, approval, action and checks
// are its own. Creating it is idempotent (its name comes from the failed
// record's), so an answer lost, a crash or a leader change between the
// create and the note on the failed record (status.escalation) never makes
// a second one.

// needsEscalation reports whether rec failed with a step left to take and
// has not yet been escalated (or told why not).
func needsEscalation(rec *v1alpha1.Remediation) bool {
	return rec.AwaitsEscalation()
}

// EscalationName is the name of the record that escalates cause: the name
// of the chain's first record with -e1, -e2, ... for its place in the
// chain.
func EscalationName(cause *v1alpha1.Remediation) string {
	root, n := cause.Name, 0
	if cause.Spec.EscalatedFrom != "" {
		if i := strings.LastIndex(cause.Name, "-e"); i > 0 {
			if k, err := strconv.Atoi(cause.Name[i+2:]); err == nil {
				root, n = cause.Name[:i], k
			}
		}
	}
	return fmt.Sprintf("%s-e%d", root, n+1)
}

// escalation is the record that takes cause's next step, recorded at now:
// cause's spec with the step's action, parameters, approval and checks,
// the rest of the chain, and a link to cause.
func escalation(cause *v1alpha1.Remediation, now time.Time) *v1alpha1.Remediation {
	step := cause.Spec.OnFailure[0]
	spec := *cause.Spec.DeepCopy()
	spec.Action, spec.Scale, spec.Rollback = step.Action, step.Scale, step.Rollback
	spec.Approval, spec.Verify, spec.Silence = step.Approval, step.Verify, step.Silence
	spec.OnFailure = nil
	if rest := cause.Spec.OnFailure[1:]; len(rest) > 0 {
		spec.OnFailure = append([]v1alpha1.Step(nil), rest...)
	}
	spec.EscalatedFrom = cause.Name
	labels := maps.Clone(cause.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[v1alpha1.LabelEscalatedFrom] = cause.Name
	return &v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{
			Name: EscalationName(cause), Namespace: cause.Namespace, Labels: labels,
			Annotations: map[string]string{v1alpha1.AnnotationRecordedAt: now.UTC().Format(time.RFC3339Nano)},
		},
		Spec: *spec.DeepCopy(),
	}
}

// escalate records the escalation of the failed record rec and notes it on
// rec. An alert that resolved before rec failed is not escalated: nothing
// acts for an alert that no longer fires. A failure to create that will
// not pass on retry (the API server refuses the record) is noted on rec;
// any other is returned, and the escalation tried again.
func (r *Runner) escalate(ctx context.Context, rec *v1alpha1.Remediation, now time.Time) (kube.Result, error) {
	return r.follow(ctx, rec, follower{
		next: escalation(rec, now), what: "escalation", stopped: "not escalated", decision: engine.DecisionEscalated,
		owns: func(got *v1alpha1.Remediation) (bool, string) {
			return got.Spec.EscalatedFrom == rec.Name,
				fmt.Sprintf("not escalated: record %s exists and escalates %q, not this record", got.Name, got.Spec.EscalatedFrom)
		},
		note: func(record, message string) error {
			return r.noteEscalation(ctx, rec, v1alpha1.EscalationStatus{Record: record, Message: message})
		},
	}, r.opts.Logger.With("record", rec.Name, "rule", rec.Spec.Rule, "target", rec.Spec.TargetRef))
}

// noteEscalation writes status.escalation of rec (patchStatus).
func (r *Runner) noteEscalation(ctx context.Context, rec *v1alpha1.Remediation, e v1alpha1.EscalationStatus) error {
	if err := r.patchStatus(ctx, rec, func(st *v1alpha1.RemediationStatus) { st.Escalation = &e }); err != nil {
		return fmt.Errorf("note the escalation of %s: %w", rec.Name, err)
	}
	return nil
}

// patchStatus writes the fields of rec's status that set changes, alone,
// with a merge patch, retried for a while: rec may be final, and other
// writers (the Slack mirror, a resolved notification) may write other
// fields of its status at the same time. A record gone is not an error.
func (r *Runner) patchStatus(ctx context.Context, rec *v1alpha1.Remediation, set func(*v1alpha1.RemediationStatus)) error {
	orig := rec.DeepCopy()
	set(&rec.Status)
	patch := kube.MergeFrom(orig)
	err := retry.OnError(retry.DefaultBackoff, func(err error) bool { return !apierrors.IsNotFound(err) && ctx.Err() == nil }, func() error {
		return r.client.Status().Patch(ctx, rec, patch)
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
