package leader

import (
	"context"
	"errors"
	"sync"

	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
)

// Manager is a controller-runtime manager (built with LeaderElection
// false) whose runnables that need leader election run only while an
// Elector leads: controller-runtime's own rule, that a runnable needs it
// unless it says otherwise (NeedLeaderElection), with caches and webhook
// servers, which the manager runs apart, left to it. Everything else is the
// wrapped manager's.
type Manager struct {
	manager.Manager
	elector *Elector

	mu      sync.Mutex
	gated   []manager.Runnable
	started bool
}

// NewManager gates mgr's leader-only runnables behind e: they start once e
// leads, and the Lease is released only after all of them have returned.
// Run's error (ErrLost) ends mgr.Start, as losing client-go's Lease does.
func NewManager(mgr manager.Manager, e *Elector) (*Manager, error) {
	m := &Manager{Manager: mgr, elector: e}
	if err := mgr.Add(gate{m}); err != nil {
		return nil, err
	}
	return m, nil
}

// Add runs r at once if it does not need leader election, and otherwise
// once this replica leads.
func (m *Manager) Add(r manager.Runnable) error {
	if !needsLeader(r) {
		return m.Manager.Add(r)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started {
		return errors.New("leader: a runnable that needs the Lease was added after the manager started")
	}
	m.gated = append(m.gated, r)
	return nil
}

// Elected is closed once this replica has led.
func (m *Manager) Elected() <-chan struct{} { return m.elector.Elected() }

func needsLeader(r manager.Runnable) bool {
	switch r := r.(type) {
	case interface{ GetCache() cache.Cache }, webhook.Server:
		return false
	case manager.LeaderElectionRunnable:
		return r.NeedLeaderElection()
	}
	return true
}

// gate is the manager's runnable (on every replica) that campaigns for
// the Lease and runs the gated runnables while it leads.
type gate struct{ m *Manager }

func (gate) NeedLeaderElection() bool { return false }

func (c gate) Start(ctx context.Context) error {
	c.m.mu.Lock()
	c.m.started = true
	gated := c.m.gated
	c.m.mu.Unlock()
	return c.m.elector.Run(ctx, func(ctx context.Context) error { return runAll(ctx, gated) })
}

// runAll starts every runnable with ctx and returns once all have
// returned; the first to fail stops the others, and its error is returned.
func runAll(ctx context.Context, rs []manager.Runnable) error {
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
