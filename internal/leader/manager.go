package leader

import (
	"context"
	"errors"
	"sync"

	"github.com/alertmedic/alertmedic/internal/kube"
)

// Manager is a kube.Manager whose runnables that need leader election run
// only while an Elector leads: a runnable needs it unless it says otherwise
// (kube.NeedsLeader). Everything else is the wrapped manager's.
type Manager struct {
	kube.Manager
	elector *Elector

	mu      sync.Mutex
	gated   []kube.Runnable
	started bool
}

// NewManager gates mgr's leader-only runnables behind e: they start once e
// leads, and the Lease is released only after all of them have returned.
// Run's error (ErrLost) ends mgr.Start, as losing client-go's Lease does.
func NewManager(mgr kube.Manager, e *Elector) (*Manager, error) {
	m := &Manager{Manager: mgr, elector: e}
	if err := mgr.Add(gate{m}); err != nil {
		return nil, err
	}
	return m, nil
}

// Add runs r at once if it does not need leader election, and otherwise
// once this replica leads.
func (m *Manager) Add(r kube.Runnable) error {
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

func needsLeader(r kube.Runnable) bool { return kube.NeedsLeader(r) }

// gate is the manager's runnable (on every replica) that campaigns for
// the Lease and runs the gated runnables while it leads.
type gate struct{ m *Manager }

func (gate) NeedLeaderElection() bool { return false }

func (c gate) Start(ctx context.Context) error {
	c.m.mu.Lock()
	c.m.started = true
	gated := c.m.gated
	c.m.mu.Unlock()
	return c.m.elector.Run(ctx, func(ctx context.Context) error { return kube.RunAll(ctx, gated) })
}
