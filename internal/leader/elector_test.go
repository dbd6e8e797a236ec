package leader

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"

	"github.com/alertmedic/alertmedic/internal/faultproxy"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/internal/testcluster"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) { testcluster.Main(m, "the leader election tests", &cluster) }

var waitFor = testcluster.WaitFor

const leaseName = "alertmedic"

// timing is a Lease setting for one test.
type timing struct{ lease, renew, retry time.Duration }

// quick: a standby waits 4 s, a leader gives up after 2 s without a renewal:
// far enough apart that taking over at the renew deadline, or a leader
// that does not stop, shows.
var quick = timing{4 * time.Second, 2 * time.Second, 300 * time.Millisecond}

// candidate is one replica's elector, run by a test; lead records when it
// started and when its context ended, and returns once drain is closed (at
// once unless the test holds it).
type candidate struct {
	e     *Elector
	id    string
	done  chan struct{}
	err   error
	stop  context.CancelFunc
	drain chan struct{}

	mu                         sync.Mutex
	started, ended, returned   time.Time
	leaseAtStart               *coordinationv1.Lease
	startedCh, endedCh, leadCh chan struct{}
}

// start runs a candidate; its lead returns, once its context ends, when
// hold is closed (nil: at once).
func start(t *testing.T, ns, id string, cfg *rest.Config, tm timing, hold ...chan struct{}) *candidate {
	t.Helper()
	cs, err := kube.New(cfg, kube.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Config{Client: cs, Namespace: ns, Name: leaseName, Identity: id,
		LeaseDuration: tm.lease, RenewDeadline: tm.renew, RetryPeriod: tm.retry,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	c := &candidate{e: e, id: id, done: make(chan struct{}), stop: cancel, drain: make(chan struct{}),
		startedCh: make(chan struct{}), endedCh: make(chan struct{}), leadCh: make(chan struct{})}
	if len(hold) > 0 {
		c.drain = hold[0]
	} else {
		close(c.drain)
	}
	go func() {
		defer close(c.done)
		c.err = e.Run(ctx, c.lead(ns))
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-c.done:
		case <-time.After(30 * time.Second):
			t.Errorf("%s: Run did not return within 30s of its context ending", id)
		}
	})
	return c
}

func (c *candidate) lead(ns string) func(context.Context) error {
	return func(ctx context.Context) error {
		// What the API server says as this replica starts leading.
		l, _ := cluster.Client.CoordinationV1().Leases(ns).Get(context.WithoutCancel(ctx), leaseName, metav1.GetOptions{})
		c.mu.Lock()
		c.started, c.leaseAtStart = time.Now(), l
		c.mu.Unlock()
		close(c.startedCh)
		<-ctx.Done()
		c.mu.Lock()
		c.ended = time.Now()
		c.mu.Unlock()
		close(c.endedCh)
		<-c.drain
		c.mu.Lock()
		c.returned = time.Now()
		c.mu.Unlock()
		close(c.leadCh)
		return nil
	}
}

func (c *candidate) leading() bool { return closed(c.startedCh) }
func (c *candidate) stopped() bool { return closed(c.endedCh) }
func (c *candidate) exited() bool  { return closed(c.done) }

func (c *candidate) times() (started, ended, returned time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.started, c.ended, c.returned
}

func closed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// history records every version of the Lease the test itself sees.
type history struct {
	mu       sync.Mutex
	versions []*coordinationv1.Lease
}

func watchLease(t *testing.T, ns string) *history {
	t.Helper()
	w, err := cluster.Client.CoordinationV1().Leases(ns).Watch(t.Context(), metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", leaseName).String()})
	if err != nil {
		t.Fatal(err)
	}
	h := &history{}
	go func() {
		for ev := range w.ResultChan() {
			if l, ok := ev.Object.(*coordinationv1.Lease); ok && (ev.Type == watch.Added || ev.Type == watch.Modified) {
				h.mu.Lock()
				h.versions = append(h.versions, l)
				h.mu.Unlock()
			}
		}
	}()
	t.Cleanup(w.Stop)
	return h
}

// lastRenewal is the renewTime of the last version held by id.
func (h *history) lastRenewal(id string) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var at time.Time
	for _, l := range h.versions {
		if holderOf(l) == id && l.Spec.RenewTime != nil {
			at = l.Spec.RenewTime.Time
		}
	}
	return at, !at.IsZero()
}

func (h *history) holders() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var hs []string
	for _, l := range h.versions {
		if len(hs) == 0 || hs[len(hs)-1] != holderOf(l) {
			hs = append(hs, holderOf(l))
		}
	}
	return hs
}

func (h *history) heldBy(id string) bool {
	hs := h.holders()
	return len(hs) > 0 && hs[len(hs)-1] == id
}

func holderOf(l *coordinationv1.Lease) string {
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func proxy(t *testing.T) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.Start(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func lease(t *testing.T, ns string) *coordinationv1.Lease {
	t.Helper()
	l, err := cluster.Client.CoordinationV1().Leases(ns).Get(t.Context(), leaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// A leader cut off from the API server stops leading at its renew
// deadline; the standby takes the Lease over no sooner than a Lease
// duration after the last renewal, so never while the old leader still
// leads.
func TestCutOffLeaderStopsBeforeTheStandbyTakesOver(t *testing.T) {
	ns := cluster.Namespace(t, "leader-cut")
	h := watchLease(t, ns)
	p := proxy(t)
	a := start(t, ns, "a", p.Config(), quick)
	waitFor(t, "a to lead", a.leading)
	b := start(t, ns, "b", cluster.Config, quick)
	from := time.Now()
	waitFor(t, "two Lease durations of a's renewals", func() bool {
		if b.leading() {
			t.Fatal("b took the Lease while a renewed it")
		}
		return time.Since(from) > 2*quick.lease
	})

	p.Down() // a renews no more, and cannot release either
	waitFor(t, "a to stop leading", a.stopped)
	waitFor(t, "b to lead", b.leading)
	waitFor(t, "a's Run to return", a.exited)
	if !errors.Is(a.err, ErrLost) {
		t.Errorf("a's Run returned %v, want ErrLost", a.err)
	}
	_, aEnded, _ := a.times()
	bStarted, _, _ := b.times()
	if !aEnded.Before(bStarted) {
		t.Errorf("two leaders: b started leading at %s, a stopped only at %s", bStarted.Format(time.StampMilli), aEnded.Format(time.StampMilli))
	}
	last, ok := h.lastRenewal("a")
	if !ok {
		t.Fatal("no renewal of a seen")
	}
	// b saw the last renewal after a wrote it (renewTime is a's clock,
	// taken before sending it): b must have waited a Lease duration since.
	if waited := bStarted.Sub(last); waited < quick.lease {
		t.Errorf("b took over %s after a's last renewal, want at least the Lease duration %s", waited, quick.lease)
	}
	if got := holderOf(b.leaseAtStart); got != "b" {
		t.Errorf("b started leading while the Lease named %q", got)
	}
	if l := lease(t, ns); *l.Spec.LeaseTransitions != 1 || *l.Spec.LeaseDurationSeconds != 4 {
		t.Errorf("Lease after the takeover: transitions %d, duration %ds; want 1 and 4", *l.Spec.LeaseTransitions, *l.Spec.LeaseDurationSeconds)
	}
}

// A leader whose renewals are answered late counts its renew deadline from
// when it sent its last renewal that landed, not from when it heard so:
// the standby counts from when it saw that renewal, about when it was
// sent. Here each answer comes 1 s after the write, then the leader is cut
// off: counted from the answer, it would lead until 3.4 s after its last
// renewal, past the standby's takeover at 3 s.
func TestRenewDeadlineCountsFromTheSend(t *testing.T) {
	tm := timing{lease: 3 * time.Second, renew: 2400 * time.Millisecond, retry: 300 * time.Millisecond}
	const late = time.Second // under the elector's request timeout (renew / 2)
	ns := cluster.Namespace(t, "leader-late")
	h := watchLease(t, ns)
	p := proxy(t)
	a := start(t, ns, "a", p.Config(), tm)
	waitFor(t, "a to lead", a.leading)
	b := start(t, ns, "b", cluster.Config, tm)
	// Three renewals answered late, then nothing from a gets through: its
	// last renewal that landed is one it heard of, 1 s late.
	p.Add(faultproxy.Rule{Name: "late", Method: "PUT", Path: "/leases/" + leaseName, AnswerDelay: late, Times: 3})
	p.Add(faultproxy.Rule{Name: "cut", Cut: true})
	waitFor(t, "a to stop leading", a.stopped)
	waitFor(t, "b to lead", b.leading)
	if n := p.Hits("late"); n != 3 {
		t.Fatalf("%d renewals answered late, want 3", n)
	}
	_, aEnded, _ := a.times()
	bStarted, _, _ := b.times()
	if !aEnded.Before(bStarted) {
		t.Errorf("two leaders: b started leading at %s, a stopped only at %s", bStarted.Format(time.StampMilli), aEnded.Format(time.StampMilli))
	}
	last, ok := h.lastRenewal("a")
	if !ok {
		t.Fatal("no renewal of a seen")
	}
	if waited := bStarted.Sub(last); waited < tm.lease {
		t.Errorf("b took over %s after a's last renewal, want at least the Lease duration %s", waited, tm.lease)
	}
}

// A renewal whose answer is lost (a cut connection, or a 504 from a proxy)
// may have landed: the leader reads the Lease and, finding its own
// renewal there, goes on leading. Every answer is lost for three times the
// renew deadline, so a leader that trusted only answers would stop. A
// renewal that hangs (the API server, or the way to it, stalls) is given
// up at the elector's request timeout, half the renew deadline, and the
// next one keeps the Lease: one stalled request does not cost the
// leadership.
func TestRenewalFaultsKeepTheLease(t *testing.T) {
	for _, tc := range []struct {
		name string
		rule faultproxy.Rule
		// hits reports whether the rule applied as the case needs.
		hits func(n int) bool
	}{
		{"answer lost, connection cut", faultproxy.Rule{After: faultproxy.DropAnswer}, func(n int) bool { return n >= 3 }},
		{"answer lost, 504", faultproxy.Rule{After: faultproxy.Answer504}, func(n int) bool { return n >= 3 }},
		// Held past the renew deadline; dropped unsent when a gives up on it.
		{"one renewal hung", faultproxy.Rule{Delay: 5 * quick.renew, Times: 1}, func(n int) bool { return n == 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := cluster.Namespace(t, "leader-renew-fault")
			h := watchLease(t, ns)
			p := proxy(t)
			a := start(t, ns, "a", p.Config(), quick)
			waitFor(t, "a to lead", a.leading)
			b := start(t, ns, "b", cluster.Config, quick)
			rule := tc.rule
			rule.Name, rule.Method, rule.Path = "renewal", "PUT", "/leases/"+leaseName
			remove := p.Add(rule)
			from := time.Now()
			waitFor(t, "three renew deadlines", func() bool {
				if a.stopped() {
					t.Fatal("a stopped leading though its renewals landed or one only hung")
				}
				return time.Since(from) > 3*quick.renew
			})
			remove()
			if n := p.Hits("renewal"); !tc.hits(n) {
				t.Fatalf("the fault applied to %d renewals; not what the case needs", n)
			}
			if b.leading() || !h.heldBy("a") {
				t.Errorf("b leads (%v) or the Lease moved (holders %v) while a kept renewing", b.leading(), h.holders())
			}
		})
	}
}

// A takeover whose answer is lost: when the write landed, the standby
// leads on the Lease as read back, once (one transition); when it did not
// (a 504 without forwarding it), it does not lead until a write of its own
// is confirmed.
func TestTakeoverAnswerLost(t *testing.T) {
	for _, tc := range []struct {
		name string
		rule faultproxy.Rule
	}{
		{"landed, connection cut", faultproxy.Rule{After: faultproxy.DropAnswer}},
		{"landed, 504", faultproxy.Rule{After: faultproxy.Answer504}},
		{"not applied, 504", faultproxy.Rule{Status: 504}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := cluster.Namespace(t, "leader-take-lost")
			ghost(t, ns, "gone", 1)
			p := proxy(t)
			r := tc.rule
			r.Name, r.Method, r.Path, r.Times = "takeover", "PUT", "/leases/"+leaseName, 1
			p.Add(r)
			b := start(t, ns, "b", p.Config(), quick)
			waitFor(t, "b to lead", b.leading)
			if p.Hits("takeover") != 1 {
				t.Fatalf("the takeover's rule applied %d times, want 1", p.Hits("takeover"))
			}
			if got := holderOf(b.leaseAtStart); got != "b" {
				t.Errorf("b started leading while the Lease named %q", got)
			}
			if n := *lease(t, ns).Spec.LeaseTransitions; n != 1 {
				t.Errorf("leaseTransitions = %d after one takeover, want 1 (b took the Lease again from itself)", n)
			}
		})
	}
}

// ghost makes the Lease held by holder, who never renews it.
func ghost(t *testing.T, ns, holder string, secs int32) {
	t.Helper()
	now := metav1.NewMicroTime(time.Now())
	var zero int32
	if _, err := cluster.Client.CoordinationV1().Leases(ns).Create(t.Context(), &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: leaseName, Namespace: ns},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, AcquireTime: &now, RenewTime: &now, LeaseTransitions: &zero},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// On shutdown the leader keeps renewing while its work finishes, and
// releases the Lease only after it has: the standby then takes over at once.
// The Lease is a minute long, so a standby that waited for it to run out
// would not lead within the test's wait.
func TestShutdownReleasesAfterWorkEnds(t *testing.T) {
	long := timing{60 * time.Second, 3 * time.Second, 300 * time.Millisecond}
	ns := cluster.Namespace(t, "leader-release")
	h := watchLease(t, ns)
	hold := make(chan struct{})
	a := start(t, ns, "a", cluster.Config, long, hold)
	waitFor(t, "a to lead", a.leading)
	b := start(t, ns, "b", cluster.Config, long)
	waitFor(t, "b to see a's renewals", func() bool { n, _ := h.lastRenewal("a"); return time.Since(n) < long.retry })

	a.stop() // SIGTERM: a's work in flight goes on
	waitFor(t, "a's work to be told to stop", a.stopped)
	_, ended, _ := a.times()
	waitFor(t, "a to renew for longer than its renew deadline after the shutdown began", func() bool {
		n, _ := h.lastRenewal("a")
		return n.After(ended.Add(long.renew))
	})
	if b.leading() || a.exited() {
		t.Fatalf("while a's work was in flight: b leads %v, a's Run returned %v", b.leading(), a.exited())
	}
	close(hold)
	waitFor(t, "b to lead", b.leading)
	waitFor(t, "a's Run to return", a.exited)
	if a.err != nil {
		t.Errorf("a's Run returned %v after a shutdown, want nil", a.err)
	}
	_, _, returned := a.times()
	bStarted, _, _ := b.times()
	if !returned.Before(bStarted) {
		t.Errorf("b led at %s, before a's work returned at %s", bStarted.Format(time.StampMilli), returned.Format(time.StampMilli))
	}
	if hs := h.holders(); len(hs) < 3 || hs[len(hs)-2] != "" {
		t.Errorf("holders %v, want a, then released (\"\"), then b", hs)
	}
}

// A Lease deleted while a standby follows is created again.
func TestDeletedLeaseIsCreatedAgain(t *testing.T) {
	ns := cluster.Namespace(t, "leader-deleted")
	ghost(t, ns, "gone", 3600)
	b := start(t, ns, "b", cluster.Config, quick)
	h := watchLease(t, ns)
	if err := cluster.Client.CoordinationV1().Leases(ns).Delete(t.Context(), leaseName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to lead", b.leading)
	if !h.heldBy("b") {
		t.Errorf("holders %v, want b last", h.holders())
	}
}

// A standby that learnt of a version of the Lease by reading it (its
// watch lagging behind) takes over, then its watch delivers that older
// version, held by the previous holder: history, not a loss of the Lease.
func TestLaggingWatchAfterTakeover(t *testing.T) {
	ns := cluster.Namespace(t, "leader-lagging")
	ghost(t, ns, "gone", 1)
	p := proxy(t)
	// b lists the Lease at once; its watch opens 12 s later, from the
	// listed version, and replays what happened meanwhile.
	p.Add(faultproxy.Rule{Name: "slow watch", Path: "/leases", Kind: faultproxy.WatchOnly, Delay: 12 * time.Second, Times: 1})
	b := start(t, ns, "b", p.Config(), quick)
	waitFor(t, "b to list the Lease", func() bool { return p.Hits("slow watch") == 1 })
	// The old holder renews once, unseen by b's watch: b's first takeover
	// conflicts, it reads this version, and takes over a Lease duration
	// after that, while its watch still has this version to deliver.
	l := lease(t, ns)
	now := metav1.NewMicroTime(time.Now())
	l.Spec.RenewTime = &now
	if _, err := cluster.Client.CoordinationV1().Leases(ns).Update(t.Context(), l, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to lead", b.leading)
	from := time.Now()
	waitFor(t, "b to lead past its watch's catching up", func() bool {
		if b.stopped() {
			t.Fatal("b stopped leading on a version of the Lease older than its own")
		}
		return time.Since(from) > 12*time.Second
	})
}

// While a leader renews, every replica hears of writes committed, the
// leader from its own renewals and a standby from its watch; a replica cut
// off from the API server hears nothing more, so that what it heard last
// grows old and the readiness check asks the API server again.
func TestHeardWhileTheLeaderRenews(t *testing.T) {
	ns := cluster.Namespace(t, "leader-heard")
	a := start(t, ns, "a", cluster.Config, quick)
	waitFor(t, "a to lead", a.leading)
	p := proxy(t)
	b := start(t, ns, "b", p.Config(), quick)
	for _, c := range []*candidate{a, b} {
		for range 3 {
			before := c.e.Heard()
			waitFor(t, c.id+" to hear of a write after "+before.Format(time.RFC3339Nano), func() bool { return c.e.Heard().After(before) })
		}
	}
	if b.leading() {
		t.Fatalf("b leads while a renews")
	}

	p.Down()
	cut := b.e.Heard()
	time.Sleep(5 * quick.retry) // a renews some 5 times meanwhile
	if got := b.e.Heard(); !got.Equal(cut) {
		t.Errorf("b, cut off from the API server, heard of a write at %s (last before the cut %s)", got.Format(time.RFC3339Nano), cut.Format(time.RFC3339Nano))
	}
	if err := p.Up(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to hear again once the API server is back", func() bool { return b.e.Heard().After(cut) })
}
