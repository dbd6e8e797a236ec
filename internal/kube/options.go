package kube

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// The options of each call, named as controller-runtime's client names
// them, which alertmedic used before.

// GetOption modifies a Get.
type GetOption interface{ ApplyToGet(*GetOptions) }

// GetOptions are a Get's options: metav1's.
type GetOptions metav1.GetOptions

func (o *GetOptions) apply(opts []GetOption) {
	for _, opt := range opts {
		opt.ApplyToGet(o)
	}
}

// ListOption modifies a List or a Watch.
type ListOption interface{ ApplyToList(*ListOptions) }

// ListOptions are a List's options.
type ListOptions struct {
	LabelSelector labels.Selector
	FieldSelector fields.Selector
	Namespace     string
	Limit         int64
	Continue      string
	// UnsafeDisableDeepCopy lets a cached list share the cache's objects.
	UnsafeDisableDeepCopy *bool
	// Raw holds the rest; the fields above override it.
	Raw *metav1.ListOptions
}

// ApplyToList lets a ListOptions be an option itself.
func (o *ListOptions) ApplyToList(to *ListOptions) {
	if o.LabelSelector != nil {
		to.LabelSelector = o.LabelSelector
	}
	if o.FieldSelector != nil {
		to.FieldSelector = o.FieldSelector
	}
	if o.Namespace != "" {
		to.Namespace = o.Namespace
	}
	if o.Limit > 0 {
		to.Limit = o.Limit
	}
	if o.Continue != "" {
		to.Continue = o.Continue
	}
	if o.UnsafeDisableDeepCopy != nil {
		to.UnsafeDisableDeepCopy = o.UnsafeDisableDeepCopy
	}
	if o.Raw != nil {
		to.Raw = o.Raw
	}
}

func (o *ListOptions) apply(opts []ListOption) {
	for _, opt := range opts {
		opt.ApplyToList(o)
	}
}

// asListOptions is the request's parameters.
func (o *ListOptions) asListOptions() (*metav1.ListOptions, error) {
	lo := &metav1.ListOptions{}
	if o.Raw != nil {
		lo = o.Raw.DeepCopy()
	}
	if o.LabelSelector != nil {
		lo.LabelSelector = o.LabelSelector.String()
	}
	if o.FieldSelector != nil {
		lo.FieldSelector = o.FieldSelector.String()
	}
	if o.Limit > 0 {
		lo.Limit = o.Limit
	}
	if o.Continue != "" {
		lo.Continue = o.Continue
	}
	return lo, nil
}

// InNamespace lists in one namespace.
type InNamespace string

func (n InNamespace) ApplyToList(o *ListOptions) { o.Namespace = string(n) }

// Limit asks for at most this many objects a page.
type Limit int64

func (l Limit) ApplyToList(o *ListOptions) { o.Limit = int64(l) }

// Continue asks for the page after the one whose continue token it is.
type Continue string

func (c Continue) ApplyToList(o *ListOptions) { o.Continue = string(c) }

// MatchingLabels lists the objects with these labels and values.
type MatchingLabels map[string]string

func (m MatchingLabels) ApplyToList(o *ListOptions) {
	o.LabelSelector = labels.SelectorFromValidatedSet(map[string]string(m))
}

// HasLabels lists the objects that have these labels, whatever their
// values.
type HasLabels []string

func (h HasLabels) ApplyToList(o *ListOptions) {
	sel := labels.NewSelector()
	for _, l := range h {
		r, err := labels.NewRequirement(l, selection.Exists, nil)
		if err != nil {
			// A label name that is not valid selects nothing.
			r, _ = labels.NewRequirement("kube.alertmedic.io/invalid", selection.Exists, nil)
		}
		sel = sel.Add(*r)
	}
	o.LabelSelector = sel
}

// MatchingLabelsSelector lists the objects its selector selects.
type MatchingLabelsSelector struct{ labels.Selector }

func (m MatchingLabelsSelector) ApplyToList(o *ListOptions) { o.LabelSelector = m.Selector }

// MatchingFields lists the objects with these field values (an API
// server's field selector, or a cache's index).
type MatchingFields fields.Set

func (m MatchingFields) ApplyToList(o *ListOptions) {
	o.FieldSelector = fields.SelectorFromSet(fields.Set(m))
}

// UnsafeDisableDeepCopy lets a cached list share the cache's objects,
// which the caller must not change.
var UnsafeDisableDeepCopy = unsafeDisableDeepCopy(true)

type unsafeDisableDeepCopy bool

func (u unsafeDisableDeepCopy) ApplyToList(o *ListOptions) {
	b := bool(u)
	o.UnsafeDisableDeepCopy = &b
}

// The write options are metav1's own, each also an option of its verb:
// kube.PatchOptions(o) passes a metav1.PatchOptions on.

// CreateOption modifies a Create.
type CreateOption interface{ ApplyToCreate(*CreateOptions) }

// CreateOptions are a Create's options.
type CreateOptions metav1.CreateOptions

func (o CreateOptions) ApplyToCreate(to *CreateOptions) { *to = o }

func (o *CreateOptions) apply(opts []CreateOption) {
	for _, opt := range opts {
		opt.ApplyToCreate(o)
	}
}

// UpdateOption modifies an Update.
type UpdateOption interface{ ApplyToUpdate(*UpdateOptions) }

// UpdateOptions are an Update's options.
type UpdateOptions metav1.UpdateOptions

func (o UpdateOptions) ApplyToUpdate(to *UpdateOptions) { *to = o }

func (o *UpdateOptions) apply(opts []UpdateOption) {
	for _, opt := range opts {
		opt.ApplyToUpdate(o)
	}
}

// PatchOption modifies a Patch.
type PatchOption interface{ ApplyToPatch(*PatchOptions) }

// PatchOptions are a Patch's options.
type PatchOptions metav1.PatchOptions

func (o PatchOptions) ApplyToPatch(to *PatchOptions) { *to = o }

func (o *PatchOptions) apply(opts []PatchOption) {
	for _, opt := range opts {
		opt.ApplyToPatch(o)
	}
}

// FieldOwner names the field manager of a write.
type FieldOwner string

func (f FieldOwner) ApplyToCreate(o *CreateOptions) { o.FieldManager = string(f) }
func (f FieldOwner) ApplyToUpdate(o *UpdateOptions) { o.FieldManager = string(f) }
func (f FieldOwner) ApplyToPatch(o *PatchOptions)   { o.FieldManager = string(f) }

// DeleteOption modifies a Delete.
type DeleteOption interface{ ApplyToDelete(*DeleteOptions) }

// DeleteOptions are a Delete's options.
type DeleteOptions metav1.DeleteOptions

func (o *DeleteOptions) apply(opts []DeleteOption) {
	for _, opt := range opts {
		opt.ApplyToDelete(o)
	}
}

// Preconditions deletes only the object with this UID (and resource
// version, when given).
type Preconditions metav1.Preconditions

func (p Preconditions) ApplyToDelete(o *DeleteOptions) {
	pc := metav1.Preconditions(p)
	o.Preconditions = &pc
}

// PropagationPolicy says what becomes of a deleted object's dependents.
type PropagationPolicy metav1.DeletionPropagation

func (p PropagationPolicy) ApplyToDelete(o *DeleteOptions) {
	pp := metav1.DeletionPropagation(p)
	o.PropagationPolicy = &pp
}
