package server

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/internal/leader"
)

// newManager builds the manager that runs the remediation runner: it
// caches the records of one namespace, and its client's requests end
// within --kube-api-timeout (the cache's watches, on a client of their
// own, have no such bound). It asks the API server nothing until it
// starts: serve starts while the API server is down
// (TestServeAPIServerDown). With --leader-elect, leader.NewManager gates
// the runner behind alertmedic's elector (internal/leader).
func newManager(watch kube.WithWatch, api kube.Client, o *Options, reg prometheus.Registerer, log *slog.Logger) (kube.Manager, error) {
	mgr, err := kube.NewManager(watch, api, kube.ManagerOptions{
		Object: &v1alpha1.Remediation{},
		List:   &v1alpha1.RemediationList{},
		Cache: kube.CacheOptions{
			Namespace: o.Namespace,
			// Archived records (v1alpha1.LabelArchived) are not cached:
			// the leader collects them from a list of their metadata.
			LabelSelector: v1alpha1.NotArchived(),
			// Nothing reads the records' managedFields; without them each
			// record holds less in the cache (docs/performance.md); and a
			// settled record is trimmed (v1alpha1.TrimForCache).
			Transform: trimRecord,
		},
		GracefulShutdownTimeout: o.ShutdownTimeout,
		Logger:                  log,
		Registerer:              reg,
	})
	if err != nil {
		return nil, fmt.Errorf("controller manager: %w", err)
	}
	return mgr, nil
}

// leaseName is the leader Lease's name, in --namespace.
const leaseName = "alertmedic"

// leaderGate gates mgr's leader-only runnables (the runner, the Slack
// notifier) behind the Lease; with --no-leader-elect it is mgr itself, which
// runs them at once. heard is the elector's Heard (nil without one).
func leaderGate(mgr kube.Manager, leases kube.WithWatch, o *Options, log *slog.Logger) (gated kube.Manager, heard func() time.Time, err error) {
	if !o.LeaderElect {
		return mgr, nil, nil
	}
	e, err := leader.New(leader.Config{
		Client:        leases,
		Namespace:     o.Namespace,
		Name:          leaseName,
		Identity:      o.Identity,
		LeaseDuration: o.LeaseDuration,
		RenewDeadline: o.RenewDeadline,
		RetryPeriod:   o.RetryPeriod,
		Logger:        log,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("leader election: %w", err)
	}
	gated, err = leader.NewManager(mgr, e)
	return gated, e.Heard, err
}

// trimRecord is the records' cache transform: managedFields stripped, as
// for every object, and a settled record without a Slack message trimmed
// of what no reader of the cache needs (v1alpha1.TrimForCache): retained
// records are most of a replica's memory. A reader that needs a trimmed
// field reads the record from the API server (the Slack notifier does).
func trimRecord(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok && m.GetManagedFields() != nil {
		m.SetManagedFields(nil)
	}
	return v1alpha1.CacheTransform(obj)
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "alertmedic"
	}
	return h
}
