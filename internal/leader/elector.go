package leader

import (
	"context"
	"errors"
	"fmt"
	"github.com/alertmedic/alertmedic/internal/kube"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ErrLost is in the error Run returns when this replica stopped leading
// without being asked to: no renewal succeeded within the renew deadline,
// or the Lease was found held by another replica or deleted.
var ErrLost = errors.New("leader election lost")

// Config is what an Elector campaigns with.
type Config struct {
	// Client reaches the Lease. It needs get, list, watch, create and
	// update on leases in Namespace. Its requests need no timeout of their
	// own (the Elector bounds each one, watches excepted).
	Client kube.WithWatch
	// Namespace and Name are the Lease's.
	Namespace, Name string
	// Identity is this replica's name in the Lease's holderIdentity.
	Identity string
	// LeaseDuration is how long a standby waits, from the last change of
	// the Lease it saw, before it takes the Lease over (the record's own
	// leaseDurationSeconds when longer). At least one second.
	LeaseDuration time.Duration
	// RenewDeadline is how long the leader goes on leading without a
	// successful renewal, counted from when the last one was sent; shorter
	// than LeaseDuration, so that it has stopped before any standby takes
	// over.
	RenewDeadline time.Duration
	// RetryPeriod is how often the leader renews, and how soon a standby
	// tries again after a takeover that failed; shorter than RenewDeadline.
	RetryPeriod time.Duration
	// Logger receives the elector's log lines (nil: none).
	Logger *slog.Logger
}

// Validate reports a Config an Elector cannot keep its promises with.
func (c Config) Validate() error {
	switch {
	case c.Client == nil:
		return errors.New("leader election: no client")
	case c.Namespace == "" || c.Name == "" || c.Identity == "":
		return errors.New("leader election: the Lease's namespace and name and this replica's identity are all needed")
	case c.LeaseDuration < time.Second:
		return fmt.Errorf("lease duration %s: want at least 1s (the Lease counts whole seconds)", c.LeaseDuration)
	case c.RenewDeadline <= 0 || c.RenewDeadline >= c.LeaseDuration:
		return fmt.Errorf("renew deadline %s: want more than 0 and less than the lease duration %s, so that a leader that cannot renew has stopped before a standby takes over", c.RenewDeadline, c.LeaseDuration)
	case c.RetryPeriod <= 0 || c.RetryPeriod >= c.RenewDeadline:
		return fmt.Errorf("retry period %s: want more than 0 and less than the renew deadline %s, so that the leader renews at least once within it", c.RetryPeriod, c.RenewDeadline)
	}
	return nil
}

// Elector campaigns for one Lease; see Run.
type Elector struct {
	cfg          Config
	log          *slog.Logger
	leases       leaseAPI
	leaseSeconds int32

	mu      sync.Mutex
	elected chan struct{} // closed when this replica first leads

	// heard is when (UnixNano, local clock) this replica last had word that
	// the API server commits writes; see Heard.
	heard *atomic.Int64
}

// New is an Elector for cfg, or the reason cfg will not do.
func New(cfg Config) (*Elector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	heard := new(atomic.Int64)
	return &Elector{
		cfg:    cfg,
		log:    log.With("lease", cfg.Namespace+"/"+cfg.Name, "identity", cfg.Identity),
		leases: leaseAPI{cfg.Client, cfg.Namespace, heard},
		heard:  heard,
		// Whole seconds, rounded up: a reader trusts the Lease that long.
		leaseSeconds: int32(math.Ceil(cfg.LeaseDuration.Seconds())),
		elected:      make(chan struct{}),
	}, nil
}

// Elected is closed once this replica has led.
func (e *Elector) Elected() <-chan struct{} { return e.elected }

// Heard is when this replica last had word that the API server commits
// writes (zero: never): a write of the Lease of its own answered, or a
// change of the Lease delivered on its watch, which is another replica's
// write committed. While a leader renews, every replica hears every
// RetryPeriod; a replica that has heard nothing for longer knows nothing
// of the API server, and should ask it.
func (e *Elector) Heard() time.Time {
	n := e.heard.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Run campaigns for the Lease until ctx ends. Once this replica holds it
// (a write of its own confirmed by the API server), Run calls lead with a
// context that ends when leadership does, or when ctx does, and goes on
// renewing until lead returns: work in flight when ctx ends completes while
// the Lease is still held. Then, if it still holds the Lease, it releases
// it (holder "", as client-go's ReleaseOnCancel does), so that a standby
// takes over at once. Run returns nil when ctx ended, lead's error when
// lead failed, and an error wrapping ErrLost when leadership was lost; it
// never returns while lead runs. A replica leads at most once per Run.
func (e *Elector) Run(ctx context.Context, lead func(context.Context) error) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	// The watch outlives ctx: while lead drains after ctx ended, the Lease
	// is still watched for another holder.
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWatch()
	seen := make(chan observed)
	wg.Go(func() { e.watch(watchCtx, seen) })

	c := &campaign{Elector: e}
	sentAt, ok := c.follow(ctx, seen)
	if !ok {
		return nil
	}
	return c.lead(ctx, sentAt, seen, lead)
}

// observed is one look at the Lease: the object, or nil when there is none.
type observed struct{ lease *coordinationv1.Lease }

// write is a write of this replica's that named it holder: the renewTime it
// wrote, and when (local clock) it was sent. A write whose answer was lost
// is confirmed later by seeing that renewTime in the Lease.
type write struct {
	renewTime time.Time
	sentAt    time.Time
}

// maxPending bounds the writes kept waiting for confirmation.
const maxPending = 16

// campaign is Run's state; only Run's goroutine touches it.
type campaign struct {
	*Elector
	// lease is the Lease as last seen (nil: there is none), once known.
	lease *coordinationv1.Lease
	known bool
	// observedAt is when (local clock) the Lease was last seen to change.
	observedAt time.Time
	// retryAt: no write before it, after one that failed.
	retryAt time.Time
	pending []write
}

// observe takes l as the Lease now; a change of its resourceVersion (or of
// its existence) restarts the standby's clock.
func (c *campaign) observe(l *coordinationv1.Lease) {
	if c.known && version(c.lease) == version(l) {
		return
	}
	c.lease, c.known, c.observedAt = l, true, time.Now()
}

// confirmed is the write of this replica's that l shows, if any.
func (c *campaign) confirmed(l *coordinationv1.Lease) (write, bool) {
	if l == nil || holder(l) != c.cfg.Identity || l.Spec.RenewTime == nil {
		return write{}, false
	}
	for _, w := range c.pending {
		if w.renewTime.Equal(l.Spec.RenewTime.Time) {
			return w, true
		}
	}
	return write{}, false
}

// expiry is how long l is trusted from when it was seen to change: the
// configured duration or the record's own, whichever is longer.
func (c *campaign) expiry(l *coordinationv1.Lease) time.Duration {
	d := c.cfg.LeaseDuration
	if l.Spec.LeaseDurationSeconds != nil {
		d = max(d, time.Duration(*l.Spec.LeaseDurationSeconds)*time.Second)
	}
	return d
}

// follow waits, as a standby, until this replica holds the Lease (true,
// and when the write that made it holder was sent) or ctx ends (false).
func (c *campaign) follow(ctx context.Context, seen <-chan observed) (time.Time, bool) {
	for {
		if w, ok := c.confirmed(c.lease); ok && time.Since(w.sentAt) < c.cfg.RenewDeadline {
			return w.sentAt, true
		}
		var due <-chan time.Time
		t := time.NewTimer(time.Hour)
		t.Stop()
		if c.known {
			// Nobody holds it: take it now. A holder: when it has not
			// changed for the Lease duration. Not before retryAt either.
			at := c.retryAt
			if c.lease != nil && holder(c.lease) != "" {
				at = later(at, c.observedAt.Add(c.expiry(c.lease)))
			}
			t.Reset(time.Until(at))
			due = t.C
		}
		select {
		case <-ctx.Done():
			t.Stop()
			return time.Time{}, false
		case o := <-seen:
			c.observe(o.lease)
		case <-due:
			if sentAt, ok := c.acquire(ctx); ok {
				return sentAt, true
			}
			c.retryAt = time.Now().Add(c.cfg.RetryPeriod)
		}
		t.Stop()
	}
}

// acquire creates the Lease, or takes it over with an update conditional
// on the version last seen. When the answer is lost, the Lease as read
// afterwards decides: this replica leads only on a write of its own that
// the API server confirmed.
func (c *campaign) acquire(ctx context.Context) (time.Time, bool) {
	old := c.lease
	sentAt, at := stamp()
	c.remember(write{renewTime: at.Time, sentAt: sentAt})
	rctx, cancel := context.WithTimeout(ctx, c.requestTimeout())
	defer cancel()
	var got *coordinationv1.Lease
	var err error
	if old == nil {
		c.log.Info("creating the Lease")
		got, err = c.leases.Create(rctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: c.cfg.Name, Namespace: c.cfg.Namespace},
			Spec:       c.spec(nil, at, false),
		}, metav1.CreateOptions{})
	} else {
		if h := holder(old); h != "" {
			c.log.Info("taking over the Lease: no change seen for the Lease duration", "holder", h, "unchanged_for", time.Since(c.observedAt).Round(time.Millisecond))
		} else {
			c.log.Info("taking over the released Lease")
		}
		l := old.DeepCopy()
		l.Spec = c.spec(old, at, false)
		got, err = c.leases.Update(rctx, l, metav1.UpdateOptions{})
	}
	if err == nil {
		c.observe(got)
		return sentAt, true
	}
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
		c.log.Info("the Lease changed first; following it", "err", err)
	} else {
		c.log.Warn("taking the Lease: no answer; reading it to learn whether the write landed", "err", err)
	}
	// A conflict: someone wrote first (the watch may not have said yet).
	// Anything else: the write may have landed. The Lease now decides.
	rctx, cancel = context.WithTimeout(ctx, c.requestTimeout())
	defer cancel()
	now, err := c.read(rctx)
	if err != nil {
		c.log.Warn("cannot read the Lease", "err", err)
		return time.Time{}, false
	}
	c.observe(now)
	if w, ok := c.confirmed(now); ok && w.sentAt.Equal(sentAt) {
		return sentAt, true
	}
	return time.Time{}, false
}

// lead runs lead while renewing the Lease; see Run.
func (c *campaign) lead(ctx context.Context, sentAt time.Time, seen <-chan observed, lead func(context.Context) error) error {
	c.mu.Lock()
	select {
	case <-c.elected:
	default:
		close(c.elected)
	}
	c.mu.Unlock()
	c.log.Info("holding the Lease")
	last := sentAt // when the last renewal known to have landed was sent
	c.pending = nil
	leadCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- lead(leadCtx) }()
	lost := func(reason string) error {
		stop()
		c.log.Error("stopped leading", "reason", reason, "since_last_renewal", time.Since(last).Round(time.Millisecond))
		<-done
		return fmt.Errorf("%w: %s", ErrLost, reason)
	}
	tick := time.NewTicker(c.cfg.RetryPeriod)
	defer tick.Stop()
	// The watch may still deliver versions older than the write that made
	// this replica leader (when the standby learnt of a newer one by
	// reading it): until it delivers one naming this replica, another
	// holder in it is history, not news.
	caughtUp := false
	for {
		expire := time.NewTimer(time.Until(last.Add(c.cfg.RenewDeadline)))
		select {
		case err := <-done:
			expire.Stop()
			c.release(ctx, last)
			switch {
			case ctx.Err() == nil && err == nil:
				// Nothing would execute until the process restarts.
				return errors.New("leader: the leader-only work ended while this replica led")
			case err != nil && !(ctx.Err() != nil && errors.Is(err, context.Canceled)):
				return err
			}
			return nil
		case <-expire.C:
			return lost(fmt.Sprintf("no renewal succeeded within the renew deadline (%s)", c.cfg.RenewDeadline))
		case o := <-seen:
			// The renewals' answers keep c.lease; the watch says only
			// whether another holds the Lease, or that a renewal whose
			// answer was lost landed.
			switch {
			case o.lease != nil && holder(o.lease) == c.cfg.Identity:
				caughtUp = true
			case !caughtUp:
			case o.lease == nil:
				expire.Stop()
				return lost("the Lease was deleted")
			default:
				expire.Stop()
				return lost("the Lease is held by " + quoted(holder(o.lease)))
			}
			if w, ok := c.confirmed(o.lease); ok && w.sentAt.After(last) {
				last = w.sentAt
			}
		case <-tick.C:
			at, err := c.renew(ctx, last)
			if err != nil {
				expire.Stop()
				return lost(err.Error())
			}
			if at.After(last) {
				last = at
			}
		}
		expire.Stop()
	}
}

// renew writes one renewal, conditional on the version last seen; it
// returns when the renewal the Lease now shows as this replica's was sent
// (zero when none is known to have landed), or why this replica no longer
// holds the Lease. It keeps renewing after ctx ends: lead may still be
// finishing work.
func (c *campaign) renew(ctx context.Context, last time.Time) (time.Time, error) {
	deadline := last.Add(c.cfg.RenewDeadline)
	sentAt, at := stamp()
	c.remember(write{renewTime: at.Time, sentAt: sentAt})
	rctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), earlier(deadline, sentAt.Add(c.requestTimeout())))
	defer cancel()
	l := c.lease.DeepCopy()
	l.Spec = c.spec(c.lease, at, true)
	got, err := c.leases.Update(rctx, l, metav1.UpdateOptions{})
	if err == nil {
		c.lease, c.pending = got, nil
		return sentAt, nil
	}
	// A conflict: another write came first, maybe an earlier renewal whose
	// answer was lost. Anything else: this one may have landed. Either way
	// the Lease now decides.
	c.log.Warn("renewing the Lease failed; reading it", "err", err)
	rctx, cancel = context.WithDeadline(context.WithoutCancel(ctx), earlier(deadline, time.Now().Add(c.requestTimeout())))
	defer cancel()
	now, err := c.read(rctx)
	switch {
	case err != nil:
		c.log.Warn("cannot read the Lease", "err", err)
		return time.Time{}, nil
	case now == nil:
		return time.Time{}, errors.New("the Lease was deleted")
	case holder(now) != c.cfg.Identity:
		return time.Time{}, errors.New("the Lease is held by " + quoted(holder(now)))
	}
	c.lease = now
	if w, ok := c.confirmed(now); ok {
		return w.sentAt, nil
	}
	return time.Time{}, nil
}

// release gives the Lease up (holder "") if this replica still holds it:
// its last renewal is within the renew deadline, and the Lease, read again
// after a conflict or a lost answer, still names it.
func (c *campaign) release(ctx context.Context, last time.Time) {
	if time.Since(last) >= c.cfg.RenewDeadline {
		c.log.Warn("not releasing the Lease: no renewal succeeded within the renew deadline")
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.RenewDeadline)
	defer cancel()
	for range 5 {
		_, at := stamp()
		l := c.lease.DeepCopy()
		l.Spec.HolderIdentity = new(string)
		l.Spec.LeaseDurationSeconds = ptrTo[int32](1)
		l.Spec.AcquireTime, l.Spec.RenewTime = &at, &at
		_, err := c.leases.Update(rctx, l, metav1.UpdateOptions{})
		if err == nil {
			c.log.Info("released the Lease")
			return
		}
		now, rerr := c.read(rctx)
		if rerr != nil {
			c.log.Warn("cannot release the Lease; a standby takes over when it expires", "err", err)
			return
		}
		if now == nil || holder(now) != c.cfg.Identity {
			c.log.Info("released the Lease") // this write, or another holder's
			return
		}
		c.lease = now
	}
	c.log.Warn("cannot release the Lease; a standby takes over when it expires")
}

// read is the Lease as the API server has it now; nil when there is none.
func (c *campaign) read(ctx context.Context) (*coordinationv1.Lease, error) {
	l, err := c.leases.Get(ctx, c.cfg.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the Lease: %w", err)
	}
	return l, nil
}

func (c *campaign) remember(w write) {
	if len(c.pending) == maxPending {
		c.pending = c.pending[1:]
	}
	c.pending = append(c.pending, w)
}

// requestTimeout bounds one request: half the renew deadline, so that a
// leader whose request hangs still has time for another.
func (c *campaign) requestTimeout() time.Duration { return c.cfg.RenewDeadline / 2 }

// spec is the Lease as this replica writes it when taking it (renewing
// false) or renewing it, in the fields and manner of client-go's LeaseLock:
// a takeover counts a transition and sets acquireTime; a renewal keeps
// both.
func (e *Elector) spec(old *coordinationv1.Lease, at metav1.MicroTime, renewing bool) coordinationv1.LeaseSpec {
	s := coordinationv1.LeaseSpec{
		HolderIdentity:       ptrTo(e.cfg.Identity),
		LeaseDurationSeconds: ptrTo(e.leaseSeconds),
		AcquireTime:          &at,
		RenewTime:            &at,
		LeaseTransitions:     ptrTo[int32](0),
	}
	if old != nil {
		n := int32(0)
		if old.Spec.LeaseTransitions != nil {
			n = *old.Spec.LeaseTransitions
		}
		if renewing {
			if old.Spec.AcquireTime != nil {
				s.AcquireTime = old.Spec.AcquireTime
			}
		} else {
			n++
		}
		s.LeaseTransitions = &n
	}
	return s
}

// stamp is now twice: on the local clock (monotonic), and as written in
// the Lease (wall clock, in the microseconds the Lease keeps), so that the
// Lease read back can be matched to the write exactly.
func stamp() (time.Time, metav1.MicroTime) {
	now := time.Now()
	return now, metav1.NewMicroTime(now.Round(0).UTC().Truncate(time.Microsecond))
}

func holder(l *coordinationv1.Lease) string {
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func version(l *coordinationv1.Lease) string {
	if l == nil {
		return ""
	}
	return l.ResourceVersion
}

func quoted(s string) string { return fmt.Sprintf("%q", s) }

func ptrTo[T any](v T) *T { return &v }

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
