package server

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/leader"
)

// newManager builds the controller manager that runs the remediation runner:
// it caches the records of one namespace. Its own leader election is off:
// with --leader-elect, leader.NewManager gates the runner behind
// alertmedic's elector (internal/leader). Its own metrics and probe servers
// are off: alertmedic serves /metrics and /readyz itself.
func newManager(cfg *rest.Config, scheme *runtime.Scheme, o *Options, log *slog.Logger) (ctrl.Manager, error) {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme,
		Logger: logr.FromSlogHandler(log.Handler()).WithName("runner"),
		Cache: cache.Options{
			DefaultNamespaces: map[string]cache.Config{o.Namespace: {}},
			// Nothing reads the records' managedFields; without them each
			// record holds less in the cache (docs/performance.md). The
			// records' own trim is in the default transform too: a
			// ByObject entry would make the manager ask the API server
			// whether records are namespaced as it is built, and serve
			// starts while the API server is down (TestServeAPIServerDown).
			DefaultTransform: trimRecord,
			// Archived records (v1alpha1.LabelArchived) are not cached:
			// the leader collects them from a list of their metadata. The
			// selector applies to the records, the only objects cached.
			DefaultLabelSelector: v1alpha1.NotArchived(),
		},
		// The runner's writes end within --kube-api-timeout; the cache's
		// watches, on the manager's own HTTP client, have no such bound.
		NewClient: func(config *rest.Config, opts client.Options) (client.Client, error) {
			config = rest.CopyConfig(config)
			config.Timeout = o.KubeAPITimeout
			opts.HTTPClient = nil // built from config, with its timeout
			return client.New(config, opts)
		},
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:  "0",
		GracefulShutdownTimeout: &o.ShutdownTimeout,
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
// runs them at once.
func leaderGate(mgr ctrl.Manager, leases coordinationv1client.LeasesGetter, o *Options, log *slog.Logger) (ctrl.Manager, error) {
	if !o.LeaderElect {
		return mgr, nil
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
		return nil, fmt.Errorf("leader election: %w", err)
	}
	return leader.NewManager(mgr, e)
}

// trimRecord is the records' cache transform: managedFields stripped, as
// for every object, and a settled record without a Slack message trimmed
// of what no reader of the cache needs (v1alpha1.TrimForCache): retained
// records are most of a replica's memory. A reader that needs a trimmed
// field reads the record from the API server (the Slack notifier does).
func trimRecord(obj any) (any, error) {
	obj, err := cache.TransformStripManagedFields()(obj)
	if err != nil {
		return obj, err
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
