// Package v1alpha1 holds the alertmedic.io/v1alpha1 API: the Remediation
// record, one per planned action, kept in the Kubernetes API so that every
// replica shares it, it survives restarts, and people can audit it with
// kubectl get remediations.
//
// +kubebuilder:object:generate=true
// +groupName=alertmedic.io
package v1alpha1
