package kube

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
)

// Object is a Kubernetes object of the scheme.
type Object interface {
	metav1.Object
	runtime.Object
}

// ObjectList is a list of objects of the scheme.
type ObjectList interface {
	metav1.ListInterface
	runtime.Object
}

// ObjectKey names an object: its namespace (empty for a cluster-scoped
// one) and name.
type ObjectKey = types.NamespacedName

// ObjectKeyFromObject returns obj's key.
func ObjectKeyFromObject(obj Object) ObjectKey {
	return ObjectKey{Namespace: obj.GetNamespace(), Name: obj.GetName()}
}

// IgnoreNotFound returns nil for a NotFound error, and err otherwise.
func IgnoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// IgnoreAlreadyExists returns nil for an AlreadyExists error, and err
// otherwise.
func IgnoreAlreadyExists(err error) error {
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// Reader reads objects.
type Reader interface {
	Get(ctx context.Context, key ObjectKey, obj Object, opts ...GetOption) error
	List(ctx context.Context, list ObjectList, opts ...ListOption) error
}

// Writer writes objects.
type Writer interface {
	Create(ctx context.Context, obj Object, opts ...CreateOption) error
	Update(ctx context.Context, obj Object, opts ...UpdateOption) error
	Patch(ctx context.Context, obj Object, patch Patch, opts ...PatchOption) error
	Delete(ctx context.Context, obj Object, opts ...DeleteOption) error
}

// StatusWriter writes an object's status subresource.
type StatusWriter interface {
	Update(ctx context.Context, obj Object, opts ...UpdateOption) error
	Patch(ctx context.Context, obj Object, patch Patch, opts ...PatchOption) error
}

// SubResourceClient reads and writes one subresource of objects (scale,
// eviction): obj names the object, sub is the subresource's body or
// answer.
type SubResourceClient interface {
	Get(ctx context.Context, obj, sub Object) error
	Create(ctx context.Context, obj, sub Object, opts ...CreateOption) error
	Update(ctx context.Context, obj, sub Object, opts ...UpdateOption) error
}

// Client reads and writes objects.
type Client interface {
	Reader
	Writer
	Status() StatusWriter
	SubResource(name string) SubResourceClient
	Scheme() *runtime.Scheme
	// RESTClient is the REST client of the core group, for requests to
	// the API server's own paths (such as /readyz).
	RESTClient() (rest.Interface, error)
}

// WithWatch is a Client that can also watch.
type WithWatch interface {
	Client
	Watch(ctx context.Context, list ObjectList, opts ...ListOption) (watch.Interface, error)
}

// Options configure New.
type Options struct {
	// Scheme is the objects' scheme; NewScheme's when nil.
	Scheme *runtime.Scheme
}

// New returns a client of the API server cfg names. It asks the API
// server nothing until it is used.
func New(cfg *rest.Config, o Options) (WithWatch, error) {
	if o.Scheme == nil {
		s, err := NewScheme()
		if err != nil {
			return nil, err
		}
		o.Scheme = s
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.UserAgent == "" {
		cfg.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	return &client{
		cfg: cfg, hc: hc, scheme: o.Scheme,
		codecs: serializer.NewCodecFactory(o.Scheme), params: runtime.NewParameterCodec(o.Scheme),
		rest: map[schema.GroupVersion]rest.Interface{},
	}, nil
}

type client struct {
	cfg    *rest.Config
	hc     *http.Client
	scheme *runtime.Scheme
	codecs serializer.CodecFactory
	params runtime.ParameterCodec

	mu   sync.Mutex
	rest map[schema.GroupVersion]rest.Interface
}

// target is where an object's requests go.
type target struct {
	rest.Interface
	gvk      schema.GroupVersionKind
	resource resourceInfo
}

// in is r for the target's resource in namespace ns.
func (t *target) in(r *rest.Request, ns string) *rest.Request {
	return r.NamespaceIfScoped(ns, t.resource.namespaced).Resource(t.resource.resource)
}

// targetFor returns the target of obj's kind (a list's items' kind).
func (c *client) targetFor(obj runtime.Object) (*target, error) {
	gvk, err := c.kindOf(obj)
	if err != nil {
		return nil, err
	}
	if _, isList := obj.(metav1.ListInterface); isList {
		gvk.Kind = strings.TrimSuffix(gvk.Kind, "List")
	}
	res, ok := resources[gvk.GroupKind()]
	if !ok {
		return nil, fmt.Errorf("kube: no resource known for kind %s", gvk.GroupKind())
	}
	rc, err := c.restFor(gvk.GroupVersion())
	if err != nil {
		return nil, err
	}
	return &target{Interface: rc, gvk: gvk, resource: res}, nil
}

// kindOf returns obj's kind: its own for a metadata-only object, which
// names it, and the scheme's otherwise.
func (c *client) kindOf(obj runtime.Object) (schema.GroupVersionKind, error) {
	switch obj.(type) {
	case *metav1.PartialObjectMetadata, *metav1.PartialObjectMetadataList:
		gvk := obj.GetObjectKind().GroupVersionKind()
		if gvk.Kind == "" {
			return gvk, fmt.Errorf("kube: a metadata-only %T must name its kind", obj)
		}
		return gvk, nil
	}
	gvks, _, err := c.scheme.ObjectKinds(obj)
	if err != nil {
		return schema.GroupVersionKind{}, err
	}
	if len(gvks) != 1 {
		return schema.GroupVersionKind{}, fmt.Errorf("kube: %T has %d kinds in the scheme, want 1", obj, len(gvks))
	}
	return gvks[0], nil
}

// restFor returns the REST client of a group version, made once.
func (c *client) restFor(gv schema.GroupVersion) (rest.Interface, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rc, ok := c.rest[gv]; ok {
		return rc, nil
	}
	cfg := rest.CopyConfig(c.cfg)
	cfg.GroupVersion = &gv
	cfg.APIPath = "/apis"
	if gv.Group == "" {
		cfg.APIPath = "/api"
	}
	cfg.NegotiatedSerializer = c.codecs.WithoutConversion()
	rc, err := rest.RESTClientForConfigAndClient(cfg, c.hc)
	if err != nil {
		return nil, err
	}
	c.rest[gv] = rc
	return rc, nil
}

func (c *client) Scheme() *runtime.Scheme { return c.scheme }

func (c *client) Get(ctx context.Context, key ObjectKey, obj Object, opts ...GetOption) error {
	t, err := c.targetFor(obj)
	if err != nil {
		return err
	}
	o := GetOptions{}
	o.apply(opts)
	r := t.in(t.Get(), key.Namespace).Name(key.Name).VersionedParams((*metav1.GetOptions)(&o), c.params)
	return c.into(ctx, r, t, obj)
}

func (c *client) List(ctx context.Context, list ObjectList, opts ...ListOption) error {
	t, err := c.targetFor(list)
	if err != nil {
		return err
	}
	o := ListOptions{}
	o.apply(opts)
	lo, err := o.asListOptions()
	if err != nil {
		return err
	}
	r := t.in(t.Get(), o.Namespace).VersionedParams(lo, c.params)
	return c.into(ctx, r, t, list)
}

func (c *client) Watch(ctx context.Context, list ObjectList, opts ...ListOption) (watch.Interface, error) {
	t, err := c.targetFor(list)
	if err != nil {
		return nil, err
	}
	o := ListOptions{}
	o.apply(opts)
	lo, err := o.asListOptions()
	if err != nil {
		return nil, err
	}
	lo.Watch = true
	r := t.in(t.Get(), o.Namespace).VersionedParams(lo, c.params)
	if isMetadata(list) {
		r.SetHeader("Accept", metadataAccept)
	}
	return r.Watch(ctx)
}

// named is a request of verb for obj, named by its namespace and name, or
// for its subresource sub.
func (c *client) named(obj Object, verb func(rest.Interface) *rest.Request, sub string) (*rest.Request, error) {
	r, err := c.collection(obj, verb)
	if err != nil {
		return nil, err
	}
	r = r.Name(obj.GetName())
	if sub != "" {
		r = r.SubResource(sub)
	}
	return r, nil
}

// collection is a request of verb for the resource of obj's kind in obj's
// namespace.
func (c *client) collection(obj Object, verb func(rest.Interface) *rest.Request) (*rest.Request, error) {
	t, err := c.targetFor(obj)
	if err != nil {
		return nil, err
	}
	return t.in(verb(t.Interface), obj.GetNamespace()), nil
}

func (c *client) Create(ctx context.Context, obj Object, opts ...CreateOption) error {
	return c.create(ctx, obj, "", obj, opts)
}

// create posts body to obj's resource, or to its subresource sub, and
// decodes the answer into body.
func (c *client) create(ctx context.Context, obj Object, sub string, body Object, opts []CreateOption) error {
	o := CreateOptions{}
	o.apply(opts)
	var (
		r   *rest.Request
		err error
	)
	if sub == "" {
		r, err = c.collection(obj, rest.Interface.Post) // a new object: to its resource
	} else {
		r, err = c.named(obj, rest.Interface.Post, sub)
	}
	if err != nil {
		return err
	}
	return decode(r.Body(body).VersionedParams((*metav1.CreateOptions)(&o), c.params).Do(ctx), body)
}

func (c *client) Update(ctx context.Context, obj Object, opts ...UpdateOption) error {
	return c.update(ctx, obj, "", obj, opts)
}

// update puts body to obj, or to its subresource sub, and decodes the
// answer into body.
func (c *client) update(ctx context.Context, obj Object, sub string, body Object, opts []UpdateOption) error {
	r, err := c.named(obj, rest.Interface.Put, sub)
	if err != nil {
		return err
	}
	o := UpdateOptions{}
	o.apply(opts)
	return decode(r.Body(body).VersionedParams((*metav1.UpdateOptions)(&o), c.params).Do(ctx), body)
}

func (c *client) Patch(ctx context.Context, obj Object, patch Patch, opts ...PatchOption) error {
	return c.patch(ctx, obj, "", patch, opts)
}

func (c *client) patch(ctx context.Context, obj Object, sub string, patch Patch, opts []PatchOption) error {
	data, err := patch.Data(obj)
	if err != nil {
		return err
	}
	r, err := c.named(obj, func(ri rest.Interface) *rest.Request { return ri.Patch(patch.Type()) }, sub)
	if err != nil {
		return err
	}
	o := PatchOptions{}
	o.apply(opts)
	return decode(r.Body(data).VersionedParams((*metav1.PatchOptions)(&o), c.params).Do(ctx), obj)
}

func (c *client) Delete(ctx context.Context, obj Object, opts ...DeleteOption) error {
	r, err := c.named(obj, rest.Interface.Delete, "")
	if err != nil {
		return err
	}
	o := DeleteOptions{}
	o.apply(opts)
	return r.Body((*metav1.DeleteOptions)(&o)).Do(ctx).Error()
}

func (c *client) Status() StatusWriter { return statusWriter{c} }

func (c *client) RESTClient() (rest.Interface, error) {
	return c.restFor(schema.GroupVersion{Version: "v1"})
}

func (c *client) SubResource(name string) SubResourceClient { return subResource{c, name} }

type subResource struct {
	c    *client
	name string
}

func (s subResource) Get(ctx context.Context, obj, sub Object) error {
	r, err := s.c.named(obj, rest.Interface.Get, s.name)
	if err != nil {
		return err
	}
	return decode(r.Do(ctx), sub)
}

func (s subResource) Create(ctx context.Context, obj, sub Object, opts ...CreateOption) error {
	return s.c.create(ctx, obj, s.name, sub, opts)
}

func (s subResource) Update(ctx context.Context, obj, sub Object, opts ...UpdateOption) error {
	return s.c.update(ctx, obj, s.name, sub, opts)
}

type statusWriter struct{ c *client }

func (s statusWriter) Update(ctx context.Context, obj Object, opts ...UpdateOption) error {
	return s.c.update(ctx, obj, "status", obj, opts)
}

func (s statusWriter) Patch(ctx context.Context, obj Object, patch Patch, opts ...PatchOption) error {
	return s.c.patch(ctx, obj, "status", patch, opts)
}

// Accept headers asking the API server for a list's metadata only, and an
// object's (a watch's events are objects).
const (
	metadataListAccept = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
	metadataAccept     = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
)

func isMetadata(obj runtime.Object) bool {
	switch obj.(type) {
	case *metav1.PartialObjectMetadata, *metav1.PartialObjectMetadataList:
		return true
	}
	return false
}

// into sends r and decodes the answer into obj; a metadata-only object is
// asked for as such.
func (c *client) into(ctx context.Context, r *rest.Request, t *target, obj runtime.Object) error {
	if !isMetadata(obj) {
		return decode(r.Do(ctx), obj)
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	if _, isList := obj.(*metav1.PartialObjectMetadataList); isList {
		r.SetHeader("Accept", metadataListAccept)
	} else {
		r.SetHeader("Accept", metadataAccept)
	}
	if err := decode(r.Do(ctx), obj); err != nil {
		return err
	}
	// The answer's kind is meta.k8s.io's; the object keeps the one asked
	// for, as a metadata-only object read again needs it.
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	if l, ok := obj.(*metav1.PartialObjectMetadataList); ok {
		item := t.gvk
		for i := range l.Items {
			l.Items[i].SetGroupVersionKind(item)
		}
	}
	return nil
}

// decode decodes the answer into a new object of obj's type and, when it
// is one, replaces obj with it: decoding into obj itself would leave the
// fields the answer does not name (a list's continue token on its last
// page) as they were, and an error leaves obj as it was.
func decode(res rest.Result, obj runtime.Object) error {
	fresh := reflect.New(reflect.TypeOf(obj).Elem()).Interface().(runtime.Object)
	if err := res.Into(fresh); err != nil {
		return err
	}
	reflect.ValueOf(obj).Elem().Set(reflect.ValueOf(fresh).Elem())
	return nil
}
