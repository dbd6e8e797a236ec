package server

import (
	"context"
	"errors"
	"fmt"
	"github.com/alertmedic/alertmedic/internal/kube"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// noNamespaceError is the records namespace missing from the cluster.
type noNamespaceError struct{ namespace string }

func (e *noNamespaceError) Error() string {
	return fmt.Sprintf("the records namespace %q does not exist: create it with 'kubectl create namespace %s' (or apply manifests/namespace.yaml), or set --namespace to the namespace alertmedic runs in", e.namespace, e.namespace)
}

// apiProbe checks that the API server answers and that the records
// namespace exists, caching the answer briefly so that /readyz probes and
// notifications do not load the API server. Concurrent callers share one
// check in flight; the check runs on its own deadline, so a caller that
// gives up (a cancelled probe) neither ends it nor leaves its cancellation
// as the cached answer. Once the namespace has been seen, word that the
// API server committed a write within fresh (heard: the Lease renewed) is
// the answer, and nothing is asked.
type apiProbe struct {
	client    kube.Client
	namespace string
	ttl       time.Duration // how long an answer is reused
	timeout   time.Duration // bound of one check
	heard     func() time.Time
	fresh     time.Duration

	mu        sync.Mutex
	checked   time.Time
	last      error
	inflight  chan struct{} // closed when the running check has set last
	nsChecked bool          // the namespace was once seen to exist
}

// hear makes heard, when it is younger than fresh, the probe's answer; nil
// heard: none.
func (p *apiProbe) hear(heard func() time.Time, fresh time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.heard, p.fresh = heard, fresh
}

func (p *apiProbe) check(ctx context.Context) error {
	p.mu.Lock()
	if p.heard != nil && p.nsChecked && time.Since(p.heard()) < p.fresh {
		p.mu.Unlock()
		return nil
	}
	if p.inflight == nil {
		if !p.checked.IsZero() && time.Since(p.checked) < p.ttl {
			err := p.last
			p.mu.Unlock()
			return err
		}
		p.inflight = make(chan struct{})
		go p.run(context.WithoutCancel(ctx), p.inflight)
	}
	done := p.inflight
	p.mu.Unlock()
	select {
	case <-done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.last
	case <-ctx.Done():
		return fmt.Errorf("kubernetes API server check abandoned: %w", ctx.Err())
	}
}

// run makes one check and publishes its answer.
func (p *apiProbe) run(ctx context.Context, done chan struct{}) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	err := p.ping(ctx)
	p.mu.Lock()
	p.last, p.checked, p.inflight = err, time.Now(), nil
	p.mu.Unlock()
	close(done)
}

func (p *apiProbe) ping(ctx context.Context) error {
	rc, err := p.client.RESTClient()
	if err != nil {
		return err
	}
	if _, err := rc.Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
		return fmt.Errorf("kubernetes API server not reachable: %w", err)
	}
	p.mu.Lock()
	known := p.nsChecked
	p.mu.Unlock()
	if known {
		return nil
	}
	return p.checkNamespace(ctx)
}

// checkNamespace tells whether the records namespace exists, with the
// permissions alertmedic already has there: a server-side dry-run create of
// its leader Lease (nothing is written) fails NotFound, naming the
// namespace, only when the namespace is missing.
func (p *apiProbe) checkNamespace(ctx context.Context) error {
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "alertmedic", Namespace: p.namespace}}
	_, err := kube.Create(ctx, p.client, p.namespace, lease, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	var status apierrors.APIStatus
	answered := errors.As(err, &status)
	switch {
	case err == nil:
	case apierrors.IsNotFound(err) && status.Status().Details != nil && status.Status().Details.Kind == "namespaces":
		return &noNamespaceError{namespace: p.namespace}
	case !answered:
		// Not reachable: neither confirmed nor ruled out; asked again on
		// the next check.
		return nil
	}
	// Created (dry run), AlreadyExists, or Forbidden: the namespace is
	// there, or the records' own writes will tell.
	p.mu.Lock()
	p.nsChecked = true
	p.mu.Unlock()
	return nil
}
