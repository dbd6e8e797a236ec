package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"k8s.io/client-go/tools/cache"
)

var errStarted = errors.New("kube: a runnable was added after the manager started")

// RunAll starts every runnable with ctx and returns once all have
// returned; the first to fail before ctx ends stops the others, and its
// error is returned.
func RunAll(ctx context.Context, rs []Runnable) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for _, r := range rs {
		wg.Go(func() {
			if err := r.Start(ctx); err != nil && ctx.Err() == nil {
				once.Do(func() { first = err })
				cancel()
			}
		})
	}
	wg.Wait()
	return first
}

// Runnable is something a Manager runs until its context ends.
type Runnable interface {
	Start(ctx context.Context) error
}

// RunnableFunc is a function as a Runnable.
type RunnableFunc func(ctx context.Context) error

func (f RunnableFunc) Start(ctx context.Context) error { return f(ctx) }

// LeaderElectionRunnable says whether a Runnable needs the Lease (one
// that does not say does).
type LeaderElectionRunnable interface {
	NeedLeaderElection() bool
}

// NeedsLeader reports whether r needs the Lease.
func NeedsLeader(r Runnable) bool {
	if l, ok := r.(LeaderElectionRunnable); ok {
		return l.NeedLeaderElection()
	}
	return true
}

// Manager runs a cache of one kind and the runnables that read it, as
// controller-runtime's manager does: the cache first, the rest once it
// has listed everything.
type Manager interface {
	// GetClient reads the cached kind from the cache, and everything else
	// from the API server; it writes to the API server.
	GetClient() Client
	// GetAPIReader reads from the API server.
	GetAPIReader() Client
	GetCache() *Cache
	GetFieldIndexer() FieldIndexer
	// Registerer takes the metrics of the controllers added to the
	// manager (nil: none).
	Registerer() prometheus.Registerer
	Add(r Runnable) error
	Start(ctx context.Context) error
}

// ManagerOptions configure NewManager.
type ManagerOptions struct {
	// Object and List are the kind cached (alertmedic's records).
	Object Object
	List   ObjectList
	Cache  CacheOptions
	// GracefulShutdownTimeout bounds how long Start waits, once its
	// context ends, for the runnables to return (0: 30 s; negative: no
	// bound).
	GracefulShutdownTimeout time.Duration
	Logger                  *slog.Logger
	// Registerer takes the controllers' metrics (nil: none).
	Registerer prometheus.Registerer
}

// NewManager returns a manager whose cache lists and watches through
// watch (a client whose requests have no timeout: one would cut the
// watch), and whose client and API reader are api. It asks the API server
// nothing until it starts.
func NewManager(watch WithWatch, api Client, o ManagerOptions) (Manager, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.GracefulShutdownTimeout == 0 {
		o.GracefulShutdownTimeout = 30 * time.Second
	}
	c, err := NewCache(watch, o.Object, o.List, o.Cache)
	if err != nil {
		return nil, err
	}
	return &manager{api: api, cache: c, client: CachedClient(api, c), o: o}, nil
}

type manager struct {
	api    Client
	cache  *Cache
	client Client
	o      ManagerOptions

	mu        sync.Mutex
	runnables []Runnable
	started   bool
}

func (m *manager) GetClient() Client             { return m.client }
func (m *manager) GetAPIReader() Client          { return m.api }
func (m *manager) GetCache() *Cache              { return m.cache }
func (m *manager) GetFieldIndexer() FieldIndexer { return m.cache }

func (m *manager) Registerer() prometheus.Registerer { return m.o.Registerer }

func (m *manager) Add(r Runnable) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started {
		return errStarted
	}
	m.runnables = append(m.runnables, r)
	return nil
}

// Start runs the cache, waits for it to list everything, then runs every
// runnable; when ctx ends, or a runnable fails, it ends the runnables,
// waits for them (up to the graceful shutdown timeout), and then ends the
// cache. A runnable's error is Start's.
func (m *manager) Start(ctx context.Context) error {
	m.mu.Lock()
	if m.started {
		m.mu.Unlock()
		return errors.New("kube: the manager was started twice")
	}
	m.started = true
	runnables := m.runnables
	m.mu.Unlock()

	cacheCtx, stopCache := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCache()
	cacheDone := make(chan struct{})
	go func() {
		defer close(cacheDone)
		_ = m.cache.Start(cacheCtx)
	}()
	if !cache.WaitForCacheSync(ctx.Done(), m.cache.HasSynced) {
		stopCache()
		<-cacheDone
		return nil
	}

	errc := make(chan error, 1)
	go func() { errc <- RunAll(ctx, runnables) }()
	var err error
	select {
	case err = <-errc: // all have returned: one failed, or all ended early
		if err == nil {
			<-ctx.Done()
		}
	case <-ctx.Done():
		var timeout <-chan time.Time
		if m.o.GracefulShutdownTimeout > 0 {
			timeout = time.After(m.o.GracefulShutdownTimeout)
		}
		select {
		case err = <-errc:
		case <-timeout:
			m.o.Logger.Error("runnables still running after the graceful shutdown timeout", "timeout", m.o.GracefulShutdownTimeout)
			err = fmt.Errorf("kube: runnables did not end within %s", m.o.GracefulShutdownTimeout)
		}
	}
	stopCache()
	<-cacheDone
	return err
}
