package kube

import (
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// NewScheme returns a scheme of the API groups alertmedic reads or writes,
// and its own.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, autoscalingv1.AddToScheme, autoscalingv2.AddToScheme,
		coordinationv1.AddToScheme, policyv1.AddToScheme, batchv1.AddToScheme, authenticationv1.AddToScheme,
		authorizationv1.AddToScheme, eventsv1.AddToScheme, v1alpha1.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	// The options every request's parameters are encoded from, and the
	// metadata-only lists.
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	if err := metav1.AddMetaToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// resourceInfo is a kind's REST resource.
type resourceInfo struct {
	resource   string
	namespaced bool
}

// resources are the kinds alertmedic reads or writes: what a REST mapper
// would ask the API server's discovery for. These have been the same since
// each group version went GA.
var resources = map[schema.GroupKind]resourceInfo{
	{Group: "", Kind: "Pod"}:                                         {"pods", true},
	{Group: "", Kind: "Namespace"}:                                   {"namespaces", false},
	{Group: "", Kind: "ConfigMap"}:                                   {"configmaps", true},
	{Group: "", Kind: "Event"}:                                       {"events", true},
	{Group: "", Kind: "Secret"}:                                      {"secrets", true},
	{Group: "apps", Kind: "Deployment"}:                              {"deployments", true},
	{Group: "apps", Kind: "StatefulSet"}:                             {"statefulsets", true},
	{Group: "apps", Kind: "DaemonSet"}:                               {"daemonsets", true},
	{Group: "apps", Kind: "ReplicaSet"}:                              {"replicasets", true},
	{Group: "apps", Kind: "ControllerRevision"}:                      {"controllerrevisions", true},
	{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}:          {"horizontalpodautoscalers", true},
	{Group: "coordination.k8s.io", Kind: "Lease"}:                    {"leases", true},
	{Group: "policy", Kind: "PodDisruptionBudget"}:                   {"poddisruptionbudgets", true},
	{Group: "batch", Kind: "Job"}:                                    {"jobs", true},
	{Group: "batch", Kind: "CronJob"}:                                {"cronjobs", true},
	{Group: "events.k8s.io", Kind: "Event"}:                          {"events", true},
	{Group: "authentication.k8s.io", Kind: "TokenReview"}:            {"tokenreviews", false},
	{Group: "authentication.k8s.io", Kind: "SelfSubjectReview"}:      {"selfsubjectreviews", false},
	{Group: "authorization.k8s.io", Kind: "SubjectAccessReview"}:     {"subjectaccessreviews", false},
	{Group: "authorization.k8s.io", Kind: "SelfSubjectAccessReview"}: {"selfsubjectaccessreviews", false},
	{Group: v1alpha1.GroupVersion.Group, Kind: "Remediation"}:        {"remediations", true},
}
