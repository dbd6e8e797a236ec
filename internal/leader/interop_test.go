package leader

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// startClientGo runs client-go's LeaderElector (what controller-runtime's
// manager ran before) on the same Lease, as a replica of the previous
// version would during a rolling upgrade.
func startClientGo(t *testing.T, ns, id string, cfg *rest.Config, tm timing, releaseOnCancel bool) *candidate {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &candidate{id: id, done: make(chan struct{}), startedCh: make(chan struct{}), endedCh: make(chan struct{})}
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Name: leaseName, Namespace: ns},
			Client:     cs.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: id},
		},
		LeaseDuration: tm.lease, RenewDeadline: tm.renew, RetryPeriod: tm.retry,
		ReleaseOnCancel: releaseOnCancel,
		Name:            id,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) {
				c.mu.Lock()
				c.started = time.Now()
				c.mu.Unlock()
				close(c.startedCh)
			},
			OnStoppedLeading: func() {
				c.mu.Lock()
				c.ended = time.Now()
				c.mu.Unlock()
				if !closed(c.endedCh) {
					close(c.endedCh)
				}
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	c.stop = cancel
	go func() { defer close(c.done); le.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-c.done
	})
	return c
}

// alertmedic's elector takes the Lease over from client-go's: a Lease
// duration after the last renewal it saw when client-go's leader stops
// renewing (and not before client-go's leader has stopped), at once when
// it releases.
func TestTakesOverFromClientGo(t *testing.T) {
	t.Run("stopped renewing", func(t *testing.T) {
		ns := cluster.Namespace(t, "leader-from-cg")
		h := watchLease(t, ns)
		p := proxy(t)
		old := startClientGo(t, ns, "client-go", p.Config(), quick, false)
		waitFor(t, "client-go to lead", old.leading)
		b := start(t, ns, "b", cluster.Config, quick)
		waitFor(t, "b to see client-go's renewals", func() bool { n, _ := h.lastRenewal("client-go"); return time.Since(n) < quick.retry })
		p.Down()
		waitFor(t, "b to lead", b.leading)
		bStarted, _, _ := b.times()
		last, _ := h.lastRenewal("client-go")
		if waited := bStarted.Sub(last); waited < quick.lease {
			t.Errorf("b took over %s after client-go's last renewal, want at least the Lease duration %s", waited, quick.lease)
		}
		_, oldEnded, _ := old.times()
		if !old.stopped() || !oldEnded.Before(bStarted) {
			t.Errorf("two leaders: b led at %s, client-go stopped (%v) at %s", bStarted.Format(time.StampMilli), old.stopped(), oldEnded.Format(time.StampMilli))
		}
		if l := lease(t, ns); *l.Spec.LeaseTransitions != 1 || holderOf(l) != "b" {
			t.Errorf("Lease after the takeover: holder %q, transitions %d; want b and 1", holderOf(l), *l.Spec.LeaseTransitions)
		}
	})
	t.Run("released", func(t *testing.T) {
		long := timing{60 * time.Second, 3 * time.Second, 300 * time.Millisecond}
		ns := cluster.Namespace(t, "leader-from-cg-rel")
		old := startClientGo(t, ns, "client-go", cluster.Config, long, true)
		waitFor(t, "client-go to lead", old.leading)
		b := start(t, ns, "b", cluster.Config, long)
		h := watchLease(t, ns)
		waitFor(t, "b to see client-go's renewals", func() bool { n, _ := h.lastRenewal("client-go"); return time.Since(n) < long.retry })
		old.stop()
		waitFor(t, "b to lead", b.leading)
	})
}

// client-go's elector takes the Lease over from alertmedic's: alertmedic's
// renewals keep it waiting, a cut-off alertmedic leader stops before it
// leads, and a release lets it lead at once.
func TestClientGoTakesOver(t *testing.T) {
	t.Run("stopped renewing", func(t *testing.T) {
		ns := cluster.Namespace(t, "leader-to-cg")
		h := watchLease(t, ns)
		p := proxy(t)
		a := start(t, ns, "a", p.Config(), quick)
		waitFor(t, "a to lead", a.leading)
		next := startClientGo(t, ns, "client-go", cluster.Config, quick, false)
		from := time.Now()
		waitFor(t, "two Lease durations of a's renewals", func() bool {
			if next.leading() {
				t.Fatal("client-go took the Lease while a renewed it")
			}
			return time.Since(from) > 2*quick.lease
		})
		p.Down()
		waitFor(t, "client-go to lead", next.leading)
		nextStarted, _, _ := next.times()
		_, aEnded, _ := a.times()
		if !a.stopped() || !aEnded.Before(nextStarted) {
			t.Errorf("two leaders: client-go led at %s, a stopped (%v) at %s", nextStarted.Format(time.StampMilli), a.stopped(), aEnded.Format(time.StampMilli))
		}
		// client-go compares the Lease's times in whole seconds, so it
		// may miss renewals within the second of the one it saw change.
		last, _ := h.lastRenewal("a")
		if waited := nextStarted.Sub(last); waited < quick.lease-time.Second {
			t.Errorf("client-go took over %s after a's last renewal, want at least the Lease duration less a second, %s", waited, quick.lease-time.Second)
		}
	})
	t.Run("released", func(t *testing.T) {
		long := timing{60 * time.Second, 3 * time.Second, 300 * time.Millisecond}
		ns := cluster.Namespace(t, "leader-to-cg-rel")
		a := start(t, ns, "a", cluster.Config, long)
		waitFor(t, "a to lead", a.leading)
		next := startClientGo(t, ns, "client-go", cluster.Config, long, false)
		h := watchLease(t, ns)
		waitFor(t, "a to renew", func() bool { n, _ := h.lastRenewal("a"); return time.Since(n) < long.retry })
		a.stop()
		waitFor(t, "client-go to lead", next.leading)
	})
}
