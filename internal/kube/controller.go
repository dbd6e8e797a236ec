package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Request names the object a reconcile is for.
type Request struct{ types.NamespacedName }

// Result says when to reconcile an object again: after RequeueAfter, or,
// with Requeue, after the queue's backoff; neither: on its next change.
type Result struct {
	Requeue      bool
	RequeueAfter time.Duration
}

// Reconciler brings the world in line with one object.
type Reconciler interface {
	Reconcile(ctx context.Context, req Request) (Result, error)
}

// ControllerOptions configure a Controller.
type ControllerOptions struct {
	// Name is the controller's, in its log lines.
	Name string
	// Workers is how many objects are reconciled at once (never one
	// object twice at once); 1 when zero.
	Workers int
	Logger  *slog.Logger
	// Registerer takes the controller's alertmedic_reconciles_total (nil:
	// not registered).
	Registerer prometheus.Registerer
}

// Controller reconciles each object of a cache when it changes, and when
// its reconcile asks to again, as controller-runtime's controller does: an
// error retries with backoff (5 ms doubling to 1000 s), a panic is an
// error.
type Controller struct {
	cache *Cache
	r     Reconciler
	o     ControllerOptions
	queue workqueue.TypedRateLimitingInterface[Request]
	total *prometheus.CounterVec
}

// reconcilesTotal counts reconciles by controller and result; controllers
// registered with one registry share it.
func reconcilesTotal(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "alertmedic_reconciles_total",
		Help: "Reconciles of a record by a controller (remediation: the runner; slack: the Slack mirror), by result: success, error (retried with backoff), requeue_after (asked to look again later).",
	}, []string{"controller", "result"})
	if reg == nil {
		return v, nil
	}
	if err := reg.Register(v); err != nil {
		if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing, nil
			}
		}
		return nil, err
	}
	return v, nil
}

// NewController returns a controller of c's objects; add it to a manager
// (it needs the Lease unless the manager runs without one).
func NewController(c *Cache, r Reconciler, o ControllerOptions) (*Controller, error) {
	if o.Workers <= 0 {
		o.Workers = 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	total, err := reconcilesTotal(o.Registerer)
	if err != nil {
		return nil, err
	}
	ctl := &Controller{cache: c, r: r, o: o, total: total, queue: workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[Request](), workqueue.TypedRateLimitingQueueConfig[Request]{Name: o.Name})}
	err = c.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    ctl.enqueue,
		UpdateFunc: func(_, obj any) { ctl.enqueue(obj) },
		DeleteFunc: ctl.enqueue,
	})
	return ctl, err
}

func (c *Controller) enqueue(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	m, ok := obj.(Object)
	if !ok {
		return
	}
	c.queue.Add(Request{types.NamespacedName{Namespace: m.GetNamespace(), Name: m.GetName()}})
}

// Start waits for the cache, then reconciles until ctx ends, and returns
// once every reconcile under way has returned.
func (c *Controller) Start(ctx context.Context) error {
	log := c.o.Logger.With("controller", c.o.Name)
	if !c.cache.WaitForCacheSync(ctx) {
		c.queue.ShutDown()
		return nil
	}
	log.Info("Starting workers", "worker count", c.o.Workers)
	var wg sync.WaitGroup
	for range c.o.Workers {
		wg.Go(func() {
			for c.next(ctx, log) {
			}
		})
	}
	<-ctx.Done()
	c.queue.ShutDown()
	log.Info("Shutdown signal received, waiting for all workers to finish")
	wg.Wait()
	log.Info("All workers finished")
	return nil
}

// next reconciles the next object of the queue; false once it is shut down.
func (c *Controller) next(ctx context.Context, log *slog.Logger) bool {
	req, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	defer c.queue.Done(req)
	res, err := c.reconcile(ctx, req)
	result := "success"
	switch {
	case err != nil:
		result = "error"
		c.queue.AddRateLimited(req)
		log.Error("Reconciler error", "namespace", req.Namespace, "name", req.Name, "err", err)
	case res.RequeueAfter > 0:
		result = "requeue_after"
		c.queue.Forget(req)
		c.queue.AddAfter(req, res.RequeueAfter)
	case res.Requeue:
		result = "requeue"
		c.queue.AddRateLimited(req)
	default:
		c.queue.Forget(req)
	}
	c.total.WithLabelValues(c.o.Name, result).Inc()
	return true
}

func (c *Controller) reconcile(ctx context.Context, req Request) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v [recovered]\n%s", p, debug.Stack())
		}
	}()
	return c.r.Reconcile(ctx, req)
}

// AddController adds to mgr a controller of the objects its cache holds;
// its reconciles are counted in the manager's registry.
func AddController(mgr Manager, r Reconciler, o ControllerOptions) error {
	if o.Registerer == nil {
		o.Registerer = mgr.Registerer()
	}
	c, err := NewController(mgr.GetCache(), r, o)
	if err != nil {
		return err
	}
	return mgr.Add(c)
}
