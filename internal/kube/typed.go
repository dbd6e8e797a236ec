package kube

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Typed calls, shaped as client-go's generated clients: the object comes
// back rather than being filled in.

// Get reads the object of kind T named name in ns. As client-go's
// clients, it returns an object (empty) with an error.
func Get[T any, PT interface {
	*T
	Object
}](ctx context.Context, c Reader, ns, name string) (PT, error) {
	obj := PT(new(T))
	err := c.Get(ctx, ObjectKey{Namespace: ns, Name: name}, obj)
	return obj, err
}

// List lists the objects of list kind L in ns (all namespaces when empty)
// that o selects.
func List[L any, PL interface {
	*L
	ObjectList
}](ctx context.Context, c Reader, ns string, o metav1.ListOptions) (PL, error) {
	list := PL(new(L))
	err := c.List(ctx, list, &ListOptions{Namespace: ns, Raw: &o})
	return list, err
}

// PatchNamed patches the object of kind T named name in ns, and returns it
// as the API server answered.
func PatchNamed[T any, PT interface {
	*T
	Object
}](ctx context.Context, c Writer, ns, name string, pt types.PatchType, data []byte, o metav1.PatchOptions) (PT, error) {
	obj := PT(new(T))
	obj.SetNamespace(ns)
	obj.SetName(name)
	err := c.Patch(ctx, obj, RawPatch(pt, data), PatchOptions(o))
	return obj, err
}

// Create creates obj in ns and returns the object the API server
// answered; obj is left as it was.
func Create[T any, PT interface {
	*T
	Object
}](ctx context.Context, c Writer, ns string, obj PT, o metav1.CreateOptions) (PT, error) {
	out := obj.DeepCopyObject().(PT)
	out.SetNamespace(ns)
	err := c.Create(ctx, out, CreateOptions(o))
	return out, err
}

// Update writes obj in ns and returns the object the API server
// answered; obj is left as it was.
func Update[T any, PT interface {
	*T
	Object
}](ctx context.Context, c Writer, ns string, obj PT, o metav1.UpdateOptions) (PT, error) {
	out := obj.DeepCopyObject().(PT)
	out.SetNamespace(ns)
	err := c.Update(ctx, out, UpdateOptions(o))
	return out, err
}
