package leader

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/internal/kube"
)

// everywhere is a runnable every replica runs.
type everywhere struct{ kube.RunnableFunc }

func (everywhere) NeedLeaderElection() bool { return false }

// A manager's runnables that need leader election (those that say so, and
// those that say nothing) start only once the Lease is this replica's;
// the others at once. At shutdown the Lease is released only after they
// have all returned.
func TestManagerGatesLeaderOnlyRunnables(t *testing.T) {
	ns := cluster.Namespace(t, "leader-manager")
	ghost(t, ns, "gone", 3600) // held until the test releases it
	h := watchLease(t, ns)
	kc, err := kube.New(cluster.Config, kube.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := kube.NewManager(kc, kc, kube.ManagerOptions{
		Object: &coordinationv1.Lease{}, List: &coordinationv1.LeaseList{}, Cache: kube.CacheOptions{Namespace: ns},
	})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kube.New(cluster.Config, kube.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Config{Client: cs, Namespace: ns, Name: leaseName, Identity: "m",
		LeaseDuration: 60 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(mgr, e)
	if err != nil {
		t.Fatal(err)
	}
	var free, saysNothing, saysYes atomic.Bool
	var returned atomic.Int64
	hold := make(chan struct{})
	if err := m.Add(everywhere{func(ctx context.Context) error { free.Store(true); <-ctx.Done(); return nil }}); err != nil {
		t.Fatal(err)
	}
	if err := m.Add(kube.RunnableFunc(func(ctx context.Context) error {
		saysNothing.Store(true)
		<-ctx.Done()
		<-hold // work in flight
		returned.Store(time.Now().UnixNano())
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	if err := m.Add(leaderOnly{func(ctx context.Context) error { saysYes.Store(true); <-ctx.Done(); return nil }}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- m.Start(ctx) }()

	waitFor(t, "the runnable every replica runs", free.Load)
	waitFor(t, "the elector to watch the Lease", func() bool { return len(h.holders()) > 0 })
	if saysNothing.Load() || saysYes.Load() {
		t.Fatalf("leader-only runnables started while another replica holds the Lease (no NeedLeaderElection: %v, true: %v)", saysNothing.Load(), saysYes.Load())
	}
	l := lease(t, ns)
	l.Spec.HolderIdentity = new(string) // the other replica releases it
	if _, err := cluster.Client.CoordinationV1().Leases(ns).Update(t.Context(), l, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the leader-only runnables", func() bool { return saysNothing.Load() && saysYes.Load() })
	select {
	case <-m.Elected():
	default:
		t.Error("Elected() is not closed while leading")
	}

	cancel()
	waitFor(t, "the Lease renewed after the shutdown began", func() bool {
		n, _ := h.lastRenewal("m")
		return n.After(time.Now().Add(-100 * time.Millisecond))
	})
	if hs := h.holders(); hs[len(hs)-1] != "m" {
		t.Fatalf("holders %v while a leader-only runnable is still running, want m last", hs)
	}
	close(hold)
	if err := <-stopped; err != nil {
		t.Errorf("Start = %v", err)
	}
	l = lease(t, ns)
	if holderOf(l) != "" {
		t.Fatalf("Lease held by %q after the shutdown, want released", holderOf(l))
	}
	if released := l.Spec.RenewTime.Time; released.UnixNano() < returned.Load() {
		t.Errorf("released at %s, before the last leader-only runnable returned at %s", released.Format(time.StampMicro), time.Unix(0, returned.Load()).Format(time.StampMicro))
	}
}

// leaderOnly says it needs leader election.
type leaderOnly struct{ kube.RunnableFunc }

func (leaderOnly) NeedLeaderElection() bool { return true }
