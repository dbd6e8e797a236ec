package remediations

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
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

type deployments struct{ c kube.Client }

func (k deployments) get(ctx context.Context, ns, name string) (*workload, error) {
	d, err := kube.Get[appsv1.Deployment](ctx, k.c, ns, name)
	if err != nil {
		return nil, err
	}
	return &workload{meta: d, template: &d.Spec.Template, paused: d.Spec.Paused, ref: objectRef(v1alpha1.KindDeployment, d)}, nil
}

func (k deployments) patch(ctx context.Context, ns, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions) (metav1.Object, error) {
	return kube.PatchNamed[appsv1.Deployment](ctx, k.c, ns, name, pt, data, opts)
}

func (k deployments) getScale(ctx context.Context, ns, name string) (*autoscalingv1.Scale, error) {
	return getScale(ctx, k.c, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})
}

func (k deployments) updateScale(ctx context.Context, ns, name string, s *autoscalingv1.Scale, opts metav1.UpdateOptions) (*autoscalingv1.Scale, error) {
	return updateScale(ctx, k.c, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}, s, opts)
}

type statefulSets struct{ c kube.Client }

func (k statefulSets) get(ctx context.Context, ns, name string) (*workload, error) {
	s, err := kube.Get[appsv1.StatefulSet](ctx, k.c, ns, name)
	if err != nil {
		return nil, err
	}
	return &workload{meta: s, template: &s.Spec.Template, ref: objectRef(v1alpha1.KindStatefulSet, s)}, nil
}

func (k statefulSets) patch(ctx context.Context, ns, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions) (metav1.Object, error) {
	return kube.PatchNamed[appsv1.StatefulSet](ctx, k.c, ns, name, pt, data, opts)
}

func (k statefulSets) getScale(ctx context.Context, ns, name string) (*autoscalingv1.Scale, error) {
	return getScale(ctx, k.c, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})
}

func (k statefulSets) updateScale(ctx context.Context, ns, name string, s *autoscalingv1.Scale, opts metav1.UpdateOptions) (*autoscalingv1.Scale, error) {
	return updateScale(ctx, k.c, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}, s, opts)
}

// getScale reads the scale subresource of obj (named by its namespace and
// name); as client-go's clients, it returns a Scale with an error.
func getScale(ctx context.Context, c kube.Client, obj kube.Object) (*autoscalingv1.Scale, error) {
	s := &autoscalingv1.Scale{}
	err := c.SubResource("scale").Get(ctx, obj, s)
	return s, err
}

// updateScale writes s to obj's scale subresource and returns the Scale
// the API server answered; s is left as it was.
func updateScale(ctx context.Context, c kube.Client, obj kube.Object, s *autoscalingv1.Scale, opts metav1.UpdateOptions) (*autoscalingv1.Scale, error) {
	out := s.DeepCopy()
	err := c.SubResource("scale").Update(ctx, obj, out, kube.UpdateOptions(opts))
	return out, err
}

type daemonSets struct{ c kube.Client }

func (k daemonSets) get(ctx context.Context, ns, name string) (*workload, error) {
	d, err := kube.Get[appsv1.DaemonSet](ctx, k.c, ns, name)
	if err != nil {
		return nil, err
	}
	return &workload{meta: d, template: &d.Spec.Template, ref: objectRef(v1alpha1.KindDaemonSet, d)}, nil
}

func (k daemonSets) patch(ctx context.Context, ns, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions) (metav1.Object, error) {
	return kube.PatchNamed[appsv1.DaemonSet](ctx, k.c, ns, name, pt, data, opts)
}

// kindFor returns the type for a workload kind.
func kindFor(c kube.Client, name v1alpha1.Kind) (kind, error) {
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
