package controller

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine"
	"github.com/alertmedic/alertmedic/internal/kube"
)

// A rule's sequence runs as a chain of records: the first step's record is
// planned from the alert like any other; when a step's record ends
// Succeeded (its action done and its checks passed), spec.then[0] becomes
// the next record, on its own target, carrying the rest. A step that does
// not succeed (Failed, Skipped, Expired, Cancelled) stops the sequence
// there. Policy and approval decide the sequence as a whole at its first
// step: the approval shows and covers every step, --require-approval and
// the namespace lists look at every step, and the cooldown, budgets and
// breaker admit the sequence when it starts, not again at each step (a
// sequence stopped half-way by its own cooldown would be worse than none).
// Creating the next record is idempotent, as an escalation's is.

// needsNextStep reports whether rec is a step of a sequence that succeeded
// and whose next step has not been recorded yet (or told why not).
func needsNextStep(rec *v1alpha1.Remediation) bool {
	return rec.AwaitsNextStep()
}

// laterStep reports whether rec is a step of a sequence after the first.
func laterStep(rec *v1alpha1.Remediation) bool {
	return rec.Spec.Sequence != nil && rec.Spec.Sequence.Step > 1
}

// NextStepName is the name of the record of the step after rec: the first
// step's name with -s2, -s3, ... for the step's place in the sequence.
func NextStepName(rec *v1alpha1.Remediation) string {
	root := rec.Name
	if laterStep(rec) {
		suffix := "-s" + strconv.Itoa(int(rec.Spec.Sequence.Step))
		root = strings.TrimSuffix(rec.Name, suffix)
	}
	return fmt.Sprintf("%s-s%d", root, rec.Spec.Sequence.Step+1)
}

// nextStepRecord is the record of the step after prev, recorded at now:
// prev's spec with the step's target, action, parameters and checks, the
// rest of the sequence, no approval of its own (the sequence's was asked
// at its first step), and a link to prev.
func nextStepRecord(prev *v1alpha1.Remediation, now time.Time) *v1alpha1.Remediation {
	step := prev.Spec.Then[0]
	spec := *prev.Spec.DeepCopy()
	spec.Action, spec.Scale, spec.Rollback, spec.Evict = step.Action, step.Scale, step.Rollback, step.Evict
	spec.Verify, spec.Silence = step.Verify, step.Silence
	if step.Target != nil {
		spec.Target = *step.Target
	}
	spec.TargetRef = spec.Target.String()
	spec.Approval = nil
	spec.Then = nil
	if rest := prev.Spec.Then[1:]; len(rest) > 0 {
		spec.Then = append([]v1alpha1.Step(nil), rest...)
	}
	spec.Sequence = &v1alpha1.SequenceRef{Step: prev.Spec.Sequence.Step + 1, Of: prev.Spec.Sequence.Of, Previous: prev.Name}
	labels := maps.Clone(prev.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[v1alpha1.LabelTarget] = v1alpha1.TargetLabel(spec.Target.Kind, spec.Target.Namespace, spec.Target.Name)
	labels[v1alpha1.LabelPreviousStep] = prev.Name
	return &v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{
			Name: NextStepName(prev), Namespace: prev.Namespace, Labels: labels,
			Annotations: map[string]string{v1alpha1.AnnotationRecordedAt: now.UTC().Format(time.RFC3339Nano)},
		},
		Spec: *spec.DeepCopy(),
	}
}

// nextStep records the next step of the succeeded step rec and notes it on
// rec. An alert that resolved before rec succeeded stops the sequence:
// nothing acts for an alert that no longer fires.
func (r *Runner) nextStep(ctx context.Context, rec *v1alpha1.Remediation, now time.Time) (kube.Result, error) {
	return r.follow(ctx, rec, follower{
		next: nextStepRecord(rec, now), what: "next step", stopped: "sequence stopped", decision: engine.DecisionNextStep,
		owns: func(got *v1alpha1.Remediation) (bool, string) {
			return got.Spec.Sequence != nil && got.Spec.Sequence.Previous == rec.Name,
				fmt.Sprintf("sequence stopped: record %s exists and is not the next step of this record", got.Name)
		},
		note: func(record, message string) error {
			return r.noteNext(ctx, rec, v1alpha1.NextStatus{Record: record, Message: message})
		},
	}, r.opts.Logger.With("record", rec.Name, "rule", rec.Spec.Rule, "step", rec.Spec.Sequence.Step, "of", rec.Spec.Sequence.Of))
}

// noteNext writes status.next of rec (patchStatus).
func (r *Runner) noteNext(ctx context.Context, rec *v1alpha1.Remediation, n v1alpha1.NextStatus) error {
	if err := r.patchStatus(ctx, rec, func(st *v1alpha1.RemediationStatus) { st.Next = &n }); err != nil {
		return fmt.Errorf("note the next step of %s: %w", rec.Name, err)
	}
	return nil
}

// unplannedStep says why the later step rec is not one its sequence
// planned ("" when it is): its previous step must have succeeded, and rec
// must be exactly the record that step makes next. A later step carries no
// approval of its own and is not held by the cooldown, budgets or breaker,
// so a record that merely claims to be one must not run on that claim.
func (r *Runner) unplannedStep(ctx context.Context, rec *v1alpha1.Remediation) (string, error) {
	prevName := rec.Spec.Sequence.Previous
	if prevName == "" {
		return fmt.Sprintf("step %d of a sequence names no previous step", rec.Spec.Sequence.Step), nil
	}
	var prev v1alpha1.Remediation
	err := r.reader.Get(ctx, kube.ObjectKey{Namespace: rec.Namespace, Name: prevName}, &prev)
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Sprintf("its previous step %s does not exist", prevName), nil
	case err != nil:
		return "", fmt.Errorf("read previous step %s of %s: %w", prevName, rec.Name, err)
	case prev.Status.Phase != v1alpha1.PhaseSucceeded:
		return fmt.Sprintf("its previous step %s is %s, not Succeeded", prevName, prev.Status.Phase), nil
	case len(prev.Spec.Then) == 0 || prev.Spec.Sequence == nil:
		return fmt.Sprintf("its previous step %s plans no next step", prevName), nil
	}
	want := nextStepRecord(&prev, time.Time{})
	if want.Name != rec.Name || !apiequality.Semantic.DeepEqual(want.Spec, rec.Spec) {
		return fmt.Sprintf("it is not the step that %s plans next (%s)", prevName, want.Name), nil
	}
	return "", nil
}
