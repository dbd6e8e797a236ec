package remediations

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	appsclient "k8s.io/client-go/kubernetes/typed/apps/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// workload is one live object of a kind alertmedic acts on, as read from the
// API server: what restart and the Events need.
type workload struct {
	meta     metav1.Object
	template *corev1.PodTemplateSpec
	paused   bool
	ref      corev1.ObjectReference
}

// kind is what every action needs of one workload kind. There is one small
// type per kind, as kubectl's polymorphichelpers has.
type kind interface {
	get(ctx context.Context, ns, name string) (*workload, error)
	patch(ctx context.Context, ns, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions) (metav1.Object, error)
}

// scaler is a kind with a scale subresource.
type scaler interface {
	getScale(ctx context.Context, ns, name string) (*autoscalingv1.Scale, error)
	updateScale(ctx context.Context, ns, name string, s *autoscalingv1.Scale, opts metav1.UpdateOptions) (*autoscalingv1.Scale, error)
}

// rollbacker is a kind that can go back to an earlier revision of its
// template.
type rollbacker interface {
	planRollback(ctx context.Context, ns, name string, to revisionRef) (*rollbackPlan, error)
}

func objectRef(k v1alpha1.Kind, m metav1.Object) corev1.ObjectReference {
	return corev1.ObjectReference{
		APIVersion:      appsv1.SchemeGroupVersion.String(),
		Kind:            string(k),
		Namespace:       m.GetNamespace(),
		Name:            m.GetName(),
		UID:             m.GetUID(),
		ResourceVersion: m.GetResourceVersion(),
	}
}

type deployments struct{ c appsclient.AppsV1Interface }

func (k deployments) get(ctx context.Context, ns, name string) (*workload, error) {
	d, err := k.c.Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return &workload{meta: d, template: &d.Spec.Template, paused: d.Spec.Paused, ref: objectRef(v1alpha1.KindDeployment, d)}, nil
}

func (k deployments) patch(ctx context.Context, ns, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions) (metav1.Object, error) {
	return k.c.Deployments(ns).Patch(ctx, name, pt, data, opts)
}

func (k deployments) getScale(ctx context.Context, ns, name string) (*autoscalingv1.Scale, error) {
	return k.c.Deployments(ns).GetScale(ctx, name, metav1.GetOptions{})
}

func (k deployments) updateScale(ctx context.Context, ns, name string, s *autoscalingv1.Scale, opts metav1.UpdateOptions) (*autoscalingv1.Scale, error) {
	return k.c.Deployments(ns).UpdateScale(ctx, name, s, opts)
}

type statefulSets struct{ c appsclient.AppsV1Interface }

func (k statefulSets) get(ctx context.Context, ns, name string) (*workload, error) {
	s, err := k.c.StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return &workload{meta: s, template: &s.Spec.Template, ref: objectRef(v1alpha1.KindStatefulSet, s)}, nil
}

func (k statefulSets) patch(ctx context.Context, ns, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions) (metav1.Object, error) {
	return k.c.StatefulSets(ns).Patch(ctx, name, pt, data, opts)
}

func (k statefulSets) getScale(ctx context.Context, ns, name string) (*autoscalingv1.Scale, error) {
	return k.c.StatefulSets(ns).GetScale(ctx, name, metav1.GetOptions{})
}

func (k statefulSets) updateScale(ctx context.Context, ns, name string, s *autoscalingv1.Scale, opts metav1.UpdateOptions) (*autoscalingv1.Scale, error) {
	return k.c.StatefulSets(ns).UpdateScale(ctx, name, s, opts)
}

type daemonSets struct{ c appsclient.AppsV1Interface }

func (k daemonSets) get(ctx context.Context, ns, name string) (*workload, error) {
	d, err := k.c.DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return &workload{meta: d, template: &d.Spec.Template, ref: objectRef(v1alpha1.KindDaemonSet, d)}, nil
}

func (k daemonSets) patch(ctx context.Context, ns, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions) (metav1.Object, error) {
	return k.c.DaemonSets(ns).Patch(ctx, name, pt, data, opts)
}

// kindFor returns the type for a workload kind.
func kindFor(c appsclient.AppsV1Interface, name v1alpha1.Kind) (kind, error) {
	switch name {
	case v1alpha1.KindDeployment:
		return deployments{c}, nil
	case v1alpha1.KindStatefulSet:
		return statefulSets{c}, nil
	case v1alpha1.KindDaemonSet:
		return daemonSets{c}, nil
	}
	if err := name.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", errUnsupported, err)
	}
	return nil, fmt.Errorf("%w: kind %q", errUnsupported, name)
}
