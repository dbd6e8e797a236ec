package kube_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/internal/testcluster"
)

const phaseField = "status.phase"

func byPhase(o kube.Object) []string { return []string{string(o.(*v1alpha1.Remediation).Status.Phase)} }

// startCache caches the records of ns that are not archived, each marked
// by the transform, indexed by phase.
func startCache(t *testing.T, c kube.WithWatch, ns string) *kube.Cache {
	t.Helper()
	cc, err := kube.NewCache(c, &v1alpha1.Remediation{}, &v1alpha1.RemediationList{}, kube.CacheOptions{
		Namespace: ns, LabelSelector: v1alpha1.NotArchived(),
		Transform: func(o any) (any, error) {
			if r, ok := o.(*v1alpha1.Remediation); ok {
				r.Annotations = map[string]string{"cached": "yes"}
			}
			return o, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := cc.IndexField(t.Context(), &v1alpha1.Remediation{}, phaseField, byPhase); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	go func() { _ = cc.Start(ctx) }()
	if !cc.WaitForCacheSync(ctx) {
		t.Fatal("the cache did not sync")
	}
	return cc
}

func TestCache(t *testing.T) {
	c, ctx := newClient(t), t.Context()
	ns, other := cluster.Namespace(t, "kube-cache"), cluster.Namespace(t, "kube-cache-other")
	for _, r := range []*v1alpha1.Remediation{
		record(ns, "rem-a", nil), record(ns, "rem-b", nil),
		record(ns, "rem-old", map[string]string{v1alpha1.LabelArchived: "true"}),
		record(other, "rem-x", nil),
	} {
		if err := c.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	running := &v1alpha1.Remediation{}
	if err := c.Get(ctx, kube.ObjectKey{Namespace: ns, Name: "rem-b"}, running); err != nil {
		t.Fatal(err)
	}
	running.Status.Phase = v1alpha1.PhaseRunning
	if err := c.Status().Update(ctx, running); err != nil {
		t.Fatal(err)
	}
	cc := startCache(t, c, ns)

	got := &v1alpha1.Remediation{}
	if err := cc.Get(ctx, kube.ObjectKey{Namespace: ns, Name: "rem-a"}, got); err != nil || got.Annotations["cached"] != "yes" {
		t.Fatalf("Get = %v, annotations %v; want the transformed record", err, got.Annotations)
	}
	got.Annotations["cached"] = "changed by the caller"
	again := &v1alpha1.Remediation{}
	if err := cc.Get(ctx, kube.ObjectKey{Namespace: ns, Name: "rem-a"}, again); err != nil || again.Annotations["cached"] != "yes" {
		t.Errorf("a change to a copy read from the cache reached the cache: %q", again.Annotations["cached"])
	}
	for _, name := range []string{"rem-old", "nope"} {
		if err := cc.Get(ctx, kube.ObjectKey{Namespace: ns, Name: name}, &v1alpha1.Remediation{}); !apierrors.IsNotFound(err) {
			t.Errorf("Get(%s) = %v, want NotFound (archived, or none)", name, err)
		}
	}
	if err := cc.Get(ctx, kube.ObjectKey{Namespace: other, Name: "rem-x"}, &v1alpha1.Remediation{}); !apierrors.IsNotFound(err) {
		t.Errorf("Get of another namespace's record = %v, want NotFound", err)
	}

	var all, byIndex v1alpha1.RemediationList
	if err := cc.List(ctx, &all, kube.InNamespace(ns)); err != nil || len(all.Items) != 2 {
		t.Errorf("List = %d, %v; want the 2 records not archived", len(all.Items), err)
	}
	if err := cc.List(ctx, &byIndex, kube.MatchingFields{phaseField: string(v1alpha1.PhaseRunning)}); err != nil ||
		len(byIndex.Items) != 1 || byIndex.Items[0].Name != "rem-b" {
		t.Errorf("List by the phase index = %v, %v; want rem-b", byIndex.Items, err)
	}

	// A change reaches the cache by the watch.
	if err := c.Create(ctx, record(ns, "rem-c", nil)); err != nil {
		t.Fatal(err)
	}
	testcluster.WaitFor(t, "the watch to cache rem-c", func() bool {
		return cc.Get(ctx, kube.ObjectKey{Namespace: ns, Name: "rem-c"}, &v1alpha1.Remediation{}) == nil
	})

	// The cached client reads records from the cache, and the rest, and
	// its writes, through the API server.
	cached := kube.CachedClient(c, cc)
	if err := cached.Get(ctx, kube.ObjectKey{Namespace: ns, Name: "rem-old"}, &v1alpha1.Remediation{}); !apierrors.IsNotFound(err) {
		t.Errorf("cached Get of an archived record = %v, want NotFound: it reads the cache", err)
	}
	d := deployment(ns, "web")
	if err := cached.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := cached.Get(ctx, kube.ObjectKeyFromObject(d), &appsv1.Deployment{}); err != nil {
		t.Errorf("cached Get of a Deployment = %v, want it read from the API server", err)
	}
	if err := cc.Get(ctx, kube.ObjectKeyFromObject(d), &appsv1.Deployment{}); err == nil || !strings.Contains(err.Error(), "the cache holds") {
		t.Errorf("the cache's own Get of a kind it does not hold = %v, want an error saying so", err)
	}
}

// recorder is a Reconciler that notes when each object was reconciled and
// answers as answer says.
type recorder struct {
	mu      sync.Mutex
	calls   map[string][]time.Time
	active  map[string]int
	overlap atomic.Bool
	answer  func(name string, n int) (kube.Result, error)
}

func (r *recorder) Reconcile(_ context.Context, req kube.Request) (kube.Result, error) {
	r.mu.Lock()
	r.calls[req.Name] = append(r.calls[req.Name], time.Now())
	n := len(r.calls[req.Name])
	if r.active[req.Name]++; r.active[req.Name] > 1 {
		r.overlap.Store(true)
	}
	r.mu.Unlock()
	time.Sleep(5 * time.Millisecond)
	defer func() {
		r.mu.Lock()
		r.active[req.Name]--
		r.mu.Unlock()
	}()
	return r.answer(req.Name, n)
}

func (r *recorder) times(name string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.calls[name]...)
}

// The controller retries a failed reconcile after a backoff that doubles
// (5 ms, 10 ms, 20 ms, ...), counts a panic as a failure, waits as long as
// a reconcile asks before the next, and never reconciles one object twice
// at once.
func TestController(t *testing.T) {
	c, ctx := newClient(t), t.Context()
	ns := cluster.Namespace(t, "kube-controller")
	cc, err := kube.NewCache(c, &v1alpha1.Remediation{}, &v1alpha1.RemediationList{}, kube.CacheOptions{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{calls: map[string][]time.Time{}, active: map[string]int{}, answer: func(name string, n int) (kube.Result, error) {
		switch {
		case name == "rem-fails" && n <= 5:
			return kube.Result{}, errors.New("not yet")
		case name == "rem-panics" && n == 1:
			panic("a bug")
		case name == "rem-later" && n == 1:
			return kube.Result{RequeueAfter: 700 * time.Millisecond}, nil
		}
		return kube.Result{}, nil
	}}
	ctl, err := kube.NewController(cc, r, kube.ControllerOptions{Name: "test", Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = cc.Start(runCtx) }()
	go func() { _ = ctl.Start(runCtx) }()
	for _, name := range []string{"rem-fails", "rem-panics", "rem-later", "rem-busy"} {
		if err := c.Create(ctx, record(ns, name, nil)); err != nil {
			t.Fatal(err)
		}
	}
	// Many changes of one object while it is being reconciled.
	for i := range 20 {
		busy := &v1alpha1.Remediation{}
		if err := c.Get(ctx, kube.ObjectKey{Namespace: ns, Name: "rem-busy"}, busy); err != nil {
			t.Fatal(err)
		}
		busy.Labels = map[string]string{"n": string(rune('a' + i))}
		if err := c.Update(ctx, busy); err != nil {
			t.Fatal(err)
		}
	}
	testcluster.WaitFor(t, "six reconciles of the failing record", func() bool { return len(r.times("rem-fails")) >= 6 })
	testcluster.WaitFor(t, "a retry of the panicking record", func() bool { return len(r.times("rem-panics")) >= 2 })
	testcluster.WaitFor(t, "a second reconcile of the record that asked for one", func() bool { return len(r.times("rem-later")) >= 2 })

	fails := r.times("rem-fails")
	for i := 1; i < 6; i++ {
		// The backoff before retry i is 5 ms × 2^(i-1); the reconcile
		// itself takes 5 ms more.
		want := 5 * time.Millisecond << (i - 1)
		if gap := fails[i].Sub(fails[i-1]); gap < want {
			t.Errorf("retry %d came %s after the failure before it, want at least %s", i, gap, want)
		}
	}
	if later := r.times("rem-later"); later[1].Sub(later[0]) < 700*time.Millisecond {
		t.Errorf("the reconcile asked for 700ms later came after %s", later[1].Sub(later[0]))
	}
	if r.overlap.Load() {
		t.Error("one record was reconciled twice at once")
	}
}

// The manager starts its runnables once the cache has listed everything,
// ends them before the cache, and gives up on them after its graceful
// shutdown timeout; a runnable's error ends it.
func TestManager(t *testing.T) {
	ctx := t.Context()
	ns := cluster.Namespace(t, "kube-manager")
	c := newClient(t)
	if err := c.Create(ctx, record(ns, "rem-a", nil)); err != nil {
		t.Fatal(err)
	}
	newManager := func(grace time.Duration) kube.Manager {
		m, err := kube.NewManager(c, c, kube.ManagerOptions{
			Object: &v1alpha1.Remediation{}, List: &v1alpha1.RemediationList{},
			Cache: kube.CacheOptions{Namespace: ns}, GracefulShutdownTimeout: grace,
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	m := newManager(10 * time.Second)
	var sawRecord, watchedAfterStop atomic.Bool
	err := m.Add(kube.RunnableFunc(func(rctx context.Context) error {
		sawRecord.Store(m.GetClient().Get(rctx, kube.ObjectKey{Namespace: ns, Name: "rem-a"}, &v1alpha1.Remediation{}) == nil)
		<-rctx.Done()
		// Work in flight at shutdown writes, and reads its write back
		// from the cache, which still watches.
		wctx := context.WithoutCancel(rctx)
		if err := m.GetClient().Create(wctx, record(ns, "rem-late", nil)); err != nil {
			return err
		}
		for range 100 {
			if m.GetCache().Get(wctx, kube.ObjectKey{Namespace: ns, Name: "rem-late"}, &v1alpha1.Remediation{}) == nil {
				watchedAfterStop.Store(true)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Start(runCtx) }()
	testcluster.WaitFor(t, "the runnable to start", func() bool { return sawRecord.Load() })
	stop()
	if err := <-done; err != nil {
		t.Errorf("Start = %v", err)
	}
	if !watchedAfterStop.Load() {
		t.Error("the cache stopped watching before the runnable ended")
	}
	if err := m.Add(kube.RunnableFunc(func(context.Context) error { return nil })); err == nil {
		t.Error("Add after Start = nil, want an error")
	}

	stuck := newManager(300 * time.Millisecond)
	_ = stuck.Add(kube.RunnableFunc(func(context.Context) error { select {} }))
	runCtx, stop = context.WithCancel(ctx)
	go func() { done <- stuck.Start(runCtx) }()
	time.Sleep(500 * time.Millisecond)
	stop()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "did not end within 300ms") {
			t.Errorf("Start with a runnable that never ends = %v, want the timeout", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Start did not give up on a runnable that never ends")
	}

	failing := newManager(10 * time.Second)
	boom := errors.New("boom")
	var ended atomic.Bool
	_ = failing.Add(kube.RunnableFunc(func(context.Context) error { return boom }))
	_ = failing.Add(kube.RunnableFunc(func(rctx context.Context) error { <-rctx.Done(); ended.Store(true); return nil }))
	if err := failing.Start(ctx); !errors.Is(err, boom) || !ended.Load() {
		t.Errorf("Start with a failing runnable = %v (the others ended: %v), want its error once all ended", err, ended.Load())
	}
}
