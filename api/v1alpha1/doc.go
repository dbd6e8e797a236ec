// Package v1alpha1 holds the alertmedic.io/v1alpha1 API: the Remediation
// record, one per planned action, kept in the Kubernetes API so that every
// replica shares it, it survives restarts, and people can audit it with
// kubectl get remediations.
//
// Its types are also the one vocabulary every package speaks: Action
// (restart, scale, rollback), Kind (Deployment, StatefulSet, DaemonSet),
// Target, ScaleParams with its ScaleOp (to, by, multiply) and Factor, and
// RollbackParams. Rules compile into them, the engine records them, and the
// executor takes them; their Validate methods are the one check of what a
// record may ask for, and fail closed. The labels and the annotation on every
// record (LabelRule, LabelTarget, LabelAlert, AnnotationRecordedAt) are API
// words too: people select records by them.
//
// +kubebuilder:object:generate=true
// +groupName=alertmedic.io
package v1alpha1
