package v1alpha1

import (
	"crypto/sha256"
	"encoding/hex"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// Labels alertmedic puts on every Remediation, for selection and audit
// (kubectl get remediations -l alertmedic.io/rule=NAME).
const (
	LabelRule   = "alertmedic.io/rule"
	LabelTarget = "alertmedic.io/target" // hash of Kind/namespace/name (TargetLabel)
	LabelAlert  = "alertmedic.io/alertname"
	// LabelEscalatedFrom is on an escalation: the name of the record whose
	// failure it answers (spec.escalatedFrom).
	LabelEscalatedFrom = "alertmedic.io/escalated-from"
	// LabelPreviousStep is on a later step of a sequence: the name of the
	// record of the step before it (spec.sequence.previous).
	LabelPreviousStep = "alertmedic.io/previous-step"

	// LabelArchived ("true") is on a record the leader archived: nothing
	// more is done with it but its deletion once its retention is over.
	// Replicas do not cache archived records (a label selector), so those
	// cost no memory; the leader collects them from a list of their
	// metadata. Set once, by a metadata patch, never removed.
	LabelArchived = "alertmedic.io/archived"
	// AnnotationRetainedFrom is on an archived record: when its retention
	// period started (its alert resolved, or it finished if later),
	// RFC 3339; it is deleted --retention after.
	AnnotationRetainedFrom = "alertmedic.io/retained-from"

	// AnnotationRecordedAt is when the record was created, to the
	// nanosecond (creationTimestamp has whole seconds): the start of the
	// alert-to-remediation latency.
	AnnotationRecordedAt = "alertmedic.io/recorded-at"
)

// TargetLabel is the value of LabelTarget for a target.
func TargetLabel(kind Kind, namespace, name string) string {
	sum := sha256.Sum256([]byte(string(kind) + "/" + namespace + "/" + name))
	return hex.EncodeToString(sum[:12])
}

// NotArchived selects the records replicas cache: those without
// LabelArchived.
func NotArchived() labels.Selector {
	r, err := labels.NewRequirement(LabelArchived, selection.DoesNotExist, nil)
	if err != nil {
		panic(err) // a constant, valid key
	}
	return labels.NewSelector().Add(*r)
}
