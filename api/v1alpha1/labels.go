package v1alpha1

import (
	"crypto/sha256"
	"encoding/hex"
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
