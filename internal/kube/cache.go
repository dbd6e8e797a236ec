package kube

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// resyncPeriod is how often the cache hands every object to its handlers
// again (controller-runtime's default).
const resyncPeriod = 10 * time.Hour

// CacheOptions configure a Cache.
type CacheOptions struct {
	// Namespace is the one namespace cached.
	Namespace string
	// LabelSelector restricts the objects cached; nil: all.
	LabelSelector labels.Selector
	// Transform is applied to each object before it is cached (it may
	// change the object it is given).
	Transform cache.TransformFunc
}

// Cache holds the objects of one kind in one namespace, from a list and a
// watch (client-go's informer), and reads them as a Reader does. Reads
// return copies unless UnsafeDisableDeepCopy.
type Cache struct {
	informer cache.SharedIndexInformer
	obj      Object
	list     ObjectList
	gvk      schema.GroupVersionKind
}

// NewCache returns a cache of the objects of obj's kind (list is the
// kind's list) that c lists and watches.
func NewCache(c WithWatch, obj Object, list ObjectList, o CacheOptions) (*Cache, error) {
	gvks, _, err := c.Scheme().ObjectKinds(obj)
	if err != nil {
		return nil, err
	}
	opts := func(lo metav1.ListOptions) *ListOptions {
		if o.LabelSelector != nil {
			lo.LabelSelector = o.LabelSelector.String()
		}
		return &ListOptions{Namespace: o.Namespace, Raw: &lo}
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) {
			l := list.DeepCopyObject().(ObjectList)
			return l, c.List(ctx, l, opts(lo))
		},
		WatchFuncWithContext: func(ctx context.Context, lo metav1.ListOptions) (watch.Interface, error) {
			return c.Watch(ctx, list.DeepCopyObject().(ObjectList), opts(lo))
		},
	}
	inf := cache.NewSharedIndexInformerWithOptions(lw, obj, cache.SharedIndexInformerOptions{
		Indexers: cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc},
		// Every cached object is handed to the controllers again this
		// often, as controller-runtime's cache does by default: a
		// backstop for a reconcile that should have asked to look again.
		ResyncPeriod: resyncPeriod,
	})
	if o.Transform != nil {
		if err := inf.SetTransform(o.Transform); err != nil {
			return nil, err
		}
	}
	return &Cache{informer: inf, obj: obj, list: list, gvk: gvks[0]}, nil
}

// Start runs the list and watch until ctx ends.
func (c *Cache) Start(ctx context.Context) error {
	c.informer.RunWithContext(ctx)
	return nil
}

// NeedLeaderElection: every replica caches.
func (c *Cache) NeedLeaderElection() bool { return false }

// WaitForCacheSync returns once the first list is cached (true), or when
// ctx ends first (false).
func (c *Cache) WaitForCacheSync(ctx context.Context) bool {
	return cache.WaitForCacheSync(ctx.Done(), c.informer.HasSynced)
}

// HasSynced reports whether the first list is cached.
func (c *Cache) HasSynced() bool { return c.informer.HasSynced() }

// AddEventHandler calls h for every change cached.
func (c *Cache) AddEventHandler(h cache.ResourceEventHandler) error {
	_, err := c.informer.AddEventHandler(h)
	return err
}

// FieldIndexer indexes cached objects by a field, for List with
// MatchingFields.
type FieldIndexer interface {
	IndexField(ctx context.Context, obj Object, field string, extract func(Object) []string) error
}

// IndexField indexes the cached objects by field, the values extract
// gives; before Start.
func (c *Cache) IndexField(_ context.Context, obj Object, field string, extract func(Object) []string) error {
	if reflect.TypeOf(obj) != reflect.TypeOf(c.obj) {
		return fmt.Errorf("kube: the cache holds %T, not %T", c.obj, obj)
	}
	return c.informer.AddIndexers(cache.Indexers{fieldIndex(field): func(o any) ([]string, error) {
		m, ok := o.(Object)
		if !ok {
			return nil, nil
		}
		return extract(m), nil
	}})
}

func fieldIndex(field string) string { return "field:" + field }

// holds reports whether obj is of the kind cached.
func (c *Cache) holds(obj runtime.Object) bool {
	return reflect.TypeOf(obj) == reflect.TypeOf(c.obj) || reflect.TypeOf(obj) == reflect.TypeOf(c.list)
}

// synced waits until the cache has listed everything, or ctx ends (an
// error): a read before then would miss objects.
func (c *Cache) synced(ctx context.Context) error {
	if c.informer.HasSynced() {
		return nil
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.informer.HasSynced) {
		return fmt.Errorf("kube: the cache of %s has not listed everything yet: %w", c.gvk.Kind, context.Cause(ctx))
	}
	return nil
}

// Get reads the cached object named key into obj; NotFound when the cache
// holds none. Until the cache has listed everything, it waits, as long as
// ctx lets it.
func (c *Cache) Get(ctx context.Context, key ObjectKey, obj Object, _ ...GetOption) error {
	if !c.holds(obj) {
		return fmt.Errorf("kube: the cache holds %T, not %T", c.obj, obj)
	}
	if err := c.synced(ctx); err != nil {
		return err
	}
	k := key.Name
	if key.Namespace != "" {
		k = key.Namespace + "/" + key.Name
	}
	item, exists, err := c.informer.GetIndexer().GetByKey(k)
	if err != nil {
		return err
	}
	if !exists {
		return apierrors.NewNotFound(schema.GroupResource{Group: c.gvk.Group, Resource: resources[c.gvk.GroupKind()].resource}, key.Name)
	}
	return copyInto(item.(runtime.Object), obj)
}

func copyInto(from runtime.Object, to runtime.Object) error {
	v := reflect.ValueOf(to)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return fmt.Errorf("kube: %T is not a pointer", to)
	}
	src := reflect.ValueOf(from.DeepCopyObject())
	if src.Type() != v.Type() {
		return fmt.Errorf("kube: cached %T, not %T", from, to)
	}
	v.Elem().Set(src.Elem())
	to.GetObjectKind().SetGroupVersionKind(from.GetObjectKind().GroupVersionKind())
	return nil
}

// List lists the cached objects that opts select, into list; it waits
// for the cache as Get does.
func (c *Cache) List(ctx context.Context, list ObjectList, opts ...ListOption) error {
	if !c.holds(list) {
		return fmt.Errorf("kube: the cache holds %T, not %T", c.list, list)
	}
	if err := c.synced(ctx); err != nil {
		return err
	}
	o := ListOptions{}
	o.apply(opts)
	var (
		objs []any
		err  error
	)
	switch {
	case o.FieldSelector != nil && !o.FieldSelector.Empty():
		field, value, ok := exactMatch(o.FieldSelector)
		if !ok {
			return fmt.Errorf("kube: a cached list selects by one field, exactly: %q", o.FieldSelector)
		}
		objs, err = c.informer.GetIndexer().ByIndex(fieldIndex(field), value)
	case o.Namespace != "":
		objs, err = c.informer.GetIndexer().ByIndex(cache.NamespaceIndex, o.Namespace)
	default:
		objs = c.informer.GetIndexer().List()
	}
	if err != nil {
		return err
	}
	items := make([]runtime.Object, 0, len(objs))
	for _, item := range objs {
		m, ok := item.(Object)
		if !ok {
			continue
		}
		if o.Namespace != "" && m.GetNamespace() != o.Namespace {
			continue
		}
		if o.LabelSelector != nil && !o.LabelSelector.Matches(labels.Set(m.GetLabels())) {
			continue
		}
		if o.UnsafeDisableDeepCopy != nil && *o.UnsafeDisableDeepCopy {
			items = append(items, m)
		} else {
			items = append(items, m.DeepCopyObject())
		}
	}
	return meta.SetList(list, items)
}

// exactMatch returns the field and value of a selector of one field
// equal to one value.
func exactMatch(s fields.Selector) (string, string, bool) {
	reqs := s.Requirements()
	if len(reqs) != 1 || reqs[0].Operator != "=" && reqs[0].Operator != "==" {
		return "", "", false
	}
	return reqs[0].Field, strings.TrimSpace(reqs[0].Value), true
}

// CachedClient reads the kind cache holds from it, and everything else,
// and every write, through api.
func CachedClient(api Client, c *Cache) Client { return cachedClient{Client: api, cache: c} }

type cachedClient struct {
	Client
	cache *Cache
}

func (c cachedClient) Get(ctx context.Context, key ObjectKey, obj Object, opts ...GetOption) error {
	if c.cache.holds(obj) {
		return c.cache.Get(ctx, key, obj, opts...)
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

func (c cachedClient) List(ctx context.Context, list ObjectList, opts ...ListOption) error {
	if c.cache.holds(list) {
		return c.cache.List(ctx, list, opts...)
	}
	return c.Client.List(ctx, list, opts...)
}
