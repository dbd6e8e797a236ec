package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/alertmedic/alertmedic/internal/kube"
)

// The readiness check says so too, should the namespace be missing once
// serve runs (it was unreachable at start).
func TestProbeMissingNamespace(t *testing.T) {
	p := &apiProbe{client: cluster.Records, namespace: uniqueNamespace("gone"), ttl: time.Minute, timeout: 10 * time.Second}
	err := p.check(t.Context())
	if err == nil || !strings.Contains(err.Error(), "does not exist: create it with 'kubectl create namespace") {
		t.Errorf("check = %v, want the missing namespace named", err)
	}
	p = &apiProbe{client: cluster.Records, namespace: recordsNamespace(t), ttl: time.Minute, timeout: 10 * time.Second}
	if err := p.check(t.Context()); err != nil {
		t.Errorf("check with the namespace there = %v", err)
	}
}

// A probe whose caller gave up (its context cancelled: a /readyz client
// that disconnected) does not leave that cancellation as the answer for the
// next probes.
func TestProbeCancelledCallerDoesNotPoison(t *testing.T) {
	p := &apiProbe{client: cluster.Records, namespace: recordsNamespace(t), ttl: time.Minute, timeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := p.check(ctx); err == nil {
		t.Logf("the cancelled probe was answered from a check already done")
	}
	if err := p.check(t.Context()); err != nil {
		t.Errorf("probe after a cancelled one = %v, want nil (the API server answers)", err)
	}
}

// While the API server does not answer, probes do not queue behind the
// check in flight: a caller that gives up returns at once, and every caller
// shares the one check.
func TestProbeDoesNotBlockCallers(t *testing.T) {
	var requests atomic.Int32
	release := make(chan struct{})
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		<-release
		fmt.Fprintln(w, "ok")
	}))
	defer api.Close()
	defer close(release)
	cs, err := kube.New(&rest.Config{Host: api.URL}, kube.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The namespace counts as seen: this test is about /readyz alone.
	p := &apiProbe{client: cs, ttl: time.Minute, timeout: time.Minute, nsChecked: true}

	first := make(chan error, 1)
	go func() { first <- p.check(t.Context()) }()
	waitFor(t, "the check to reach the API server", func() bool { return requests.Load() == 1 })

	gaveUp, cancel := context.WithCancel(t.Context())
	cancel()
	returned := make(chan error, 1)
	go func() { returned <- p.check(gaveUp) }()
	select {
	case err := <-returned:
		if err == nil || !strings.Contains(err.Error(), "abandoned") {
			t.Errorf("cancelled caller got %v, want its cancellation", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("a caller that gave up is still blocked behind the check in flight")
	}

	release <- struct{}{}
	if err := <-first; err != nil {
		t.Errorf("first caller = %v, want nil", err)
	}
	if err := p.check(t.Context()); err != nil {
		t.Errorf("probe after the check = %v, want nil: a caller's cancellation was kept as the answer", err)
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("API server asked %d times, want once (one check in flight, then its answer reused)", n)
	}
}

// Word that the API server committed a write within fresh (the Lease
// renewed) answers the check without a request; older word, or a records
// namespace not seen yet, is no answer, and the API server is asked.
func TestProbeTakesWhatItHeardAsAnswer(t *testing.T) {
	var requests atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		fmt.Fprintln(w, "ok")
	}))
	defer api.Close()
	cs, err := kube.New(&rest.Config{Host: api.URL}, kube.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var heardAt atomic.Int64
	// ttl 0: without word, every check asks.
	p := &apiProbe{client: cs, timeout: time.Minute, nsChecked: true}
	p.hear(func() time.Time { return time.Unix(0, heardAt.Load()) }, 4*time.Second)

	heardAt.Store(time.Now().UnixNano())
	for range 5 {
		if err := p.check(t.Context()); err != nil {
			t.Fatalf("check = %v", err)
		}
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("API server asked %d times with a write heard of just now, want 0", n)
	}

	heardAt.Store(time.Now().Add(-time.Minute).UnixNano())
	if err := p.check(t.Context()); err != nil {
		t.Fatalf("check = %v", err)
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("API server asked %d times with the last write heard of a minute ago, want 1", n)
	}

	p.mu.Lock()
	p.nsChecked = false
	p.mu.Unlock()
	heardAt.Store(time.Now().UnixNano())
	if err := p.check(t.Context()); err != nil {
		t.Fatalf("check = %v", err)
	}
	if n := requests.Load(); n < 2 {
		t.Errorf("API server asked %d times in all, want the namespace not seen yet asked about although a write was heard of", n)
	}
}
