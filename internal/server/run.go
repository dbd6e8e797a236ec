// Package server is 'alertmedic serve': from its Options, it wires the
// webhook, ingest, the remediation controller, Slack and the rule reloader
// together, and runs them until its context ends.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/promslog"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine"
	"github.com/alertmedic/alertmedic/engine/approval"
	"github.com/alertmedic/alertmedic/engine/breaker"
	"github.com/alertmedic/alertmedic/engine/controller"
	"github.com/alertmedic/alertmedic/engine/ingest"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/remediations"
	"github.com/alertmedic/alertmedic/rules"
	"github.com/alertmedic/alertmedic/silences"
	"github.com/alertmedic/alertmedic/webhook"
)

// alertmanagerTimeout bounds each request to Alertmanager's API.
const alertmanagerTimeout = 10 * time.Second

// Run validates o, wires the webhook, the engine, the runner and Slack
// together, and serves until ctx ends (SIGTERM) or a part fails; SIGHUP
// reloads the rules. Logs go to o.Log.Writer.
func Run(ctx context.Context, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if o.Identity == "" {
		o.Identity = hostname()
	}
	log := promslog.New(&o.Log)
	stopping := new(atomic.Bool)
	log = slog.New(quietShutdown{Handler: log.Handler(), stopping: stopping})
	if o.LibraryLogs {
		routeLibraryLogs(log)
	}
	creds, err := readCredentials(&o)
	if err != nil {
		return err
	}
	var keyPair *webhook.KeyPair
	if o.TLSCertFile != "" {
		if keyPair, err = webhook.LoadKeyPair(o.TLSCertFile, o.TLSKeyFile, log); err != nil {
			return err
		}
	}
	set, err := rules.LoadFiles(o.RulePaths...)
	if err != nil {
		return fmt.Errorf("load rules:\n%w", err)
	}
	cfg, err := KubeConfig(o.Kubeconfig, o.Version)
	if err != nil {
		return err
	}
	// client-go's default (5 per second) would make recording a large
	// notification take many seconds before Alertmanager gets its answer.
	cfg.QPS, cfg.Burst = float32(o.KubeQPS), o.KubeBurst
	// Every request of these clients ends within --kube-api-timeout. The
	// manager's watches keep cfg, without one: a timeout would cut them.
	apiCfg := rest.CopyConfig(cfg)
	apiCfg.Timeout = o.KubeAPITimeout
	// One scheme for every client: registering its API groups costs memory.
	scheme, err := kube.NewScheme()
	if err != nil {
		return err
	}
	// Two clients, each with its own rate limit: recording notifications
	// (ingest, and the readiness check it asks), and everything else (the
	// runner's reads and writes, the executor's actions, Slack). In a
	// storm, ingest's creates fill their limit for as long as the storm
	// lasts; sharing it, each of an action's requests waited its turn
	// behind them, and the first actions (and so the circuit breaker)
	// came seconds late.
	api, err := kube.New(apiCfg, kube.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	ingestAPI, err := kube.New(apiCfg, kube.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exec := remediations.NewExecutor(api, remediations.Options{
		FieldManager: o.FieldManager,
		Instance:     o.Identity,
		Logger:       log,
		Metrics:      remediations.NewMetrics(reg),
		GitOps:       o.GitOps,
	})
	metrics := engine.NewMetrics(reg)
	probe := &apiProbe{client: ingestAPI, namespace: o.Namespace, ttl: 2 * time.Second, timeout: 2 * time.Second}
	// The breaker's windows are watched, so the watch's client has no
	// request timeout.
	watchClient, err := kube.New(cfg, kube.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	windows := breaker.NewWatcher(watchClient, o.Namespace)
	pol := o.Policy
	eng := ingest.New(ingest.Options{
		Windows:        windows.Windows,
		BreakerApplies: func(s *v1alpha1.RemediationSpec) bool { return controller.BreakerApplies(s, pol) },
		Budgets:        windows.Budgets,
		BudgetKeys:     func(s *v1alpha1.RemediationSpec) []string { return controller.BudgetKeys(s, pol) },
		Namespaces:     &pol.Limits,
		Client:         ingestAPI,
		Namespace:      o.Namespace,
		Gate:           probe.check,
		SeenSize:       o.SeenSize,
		Rules:          set,
		Busy:           webhook.ErrBusy,
		DryRun:         o.DryRun,
		Logger:         log,
		Metrics:        metrics,
	})
	mgr, err := newManager(watchClient, api, &o, reg, log)
	if err != nil {
		return err
	}
	// The runner and the Slack notifier run on the leader only; the elector
	// watches the Lease, so its client has no request timeout (it bounds
	// each of its requests itself).
	leading, heard, err := leaderGate(mgr, watchClient, &o, log)
	if err != nil {
		return err
	}
	// While a leader renews the Lease, every replica hears of a write
	// committed every retry period: /readyz and the webhook's gate need
	// not ask the API server then.
	probe.hear(heard, probe.ttl+o.RetryPeriod)
	if err := mgr.Add(windows); err != nil {
		return fmt.Errorf("circuit breaker windows: %w", err)
	}
	// Every replica's cache holds the records, so each can say how many
	// wait for a person; the leader is not needed for that.
	if err := approval.IndexByPhase(ctx, mgr.GetFieldIndexer()); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	if err := approval.RegisterWaiting(ctx, reg, mgr.GetClient(), true, o.Namespace); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	ropts := controller.Options{
		Executor: exec,
		Policy:   o.Policy,
		Identity: o.Identity,
		Workers:  o.Workers,
		Logger:   log,
		Metrics:  metrics,
		// Archived records are listed there.
		Namespace: o.Namespace,
	}
	if o.AlertmanagerURL != "" {
		am, err := silences.New(o.AlertmanagerURL, &http.Client{Timeout: alertmanagerTimeout})
		if err != nil {
			return fmt.Errorf("--alertmanager-url: %w", err)
		}
		ropts.Alertmanager = am
		log.Info("silences: rules with silence: true silence their alert while it is verified", "alertmanager", am.URL())
	}
	if _, err := controller.NewRunner(leading, ropts); err != nil {
		return err
	}
	sl, err := setupSlack(&o, api, eng.Rules, reg, log)
	if err != nil {
		return err
	}
	if sl.chat != nil {
		if err := sl.chat.Register(leading); err != nil {
			return fmt.Errorf("slack: %w", err)
		}
	}
	srv, err := webhook.NewServer(webhook.Options{
		Sink:              eng,
		BearerToken:       creds.token,
		BasicAuthUser:     creds.user,
		BasicAuthPassword: creds.pass,
		MaxBodyBytes:      o.MaxBodyBytes,
		AcceptTimeout:     o.AcceptTimeout,
		Ready: func(ctx context.Context) error {
			if eng.Rules() == nil {
				return errors.New("no rules loaded")
			}
			return probe.check(ctx)
		},
		Gatherer:   reg,
		Registerer: reg,
		Logger:     log,
	})
	if err != nil {
		return err
	}

	if sl.http {
		srv.POST("/slack/interactions", echo.WrapHandler(sl.chat))
	}

	// Before listening: /metrics tells the rules in force from the first
	// request on.
	reload := newReloader(o.RulePaths, eng.SetRules, reg, log)
	reload.loaded(set)

	// Once the configuration is known good: a records namespace that does
	// not exist would make every notification fail, so refuse to start. An
	// API server not reachable yet is no reason to; /readyz reports it, and
	// the namespace, until both are fine.
	if err := probe.checkNamespace(ctx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	httpSrv := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: o.HTTP.ReadHeader,
		ReadTimeout:       o.HTTP.Read,
		WriteTimeout:      o.HTTP.Write,
		IdleTimeout:       o.HTTP.Idle,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if keyPair != nil {
		httpSrv.TLSConfig = keyPair.TLSConfig()
	}
	serveErr := make(chan error, 1)
	go func() {
		var err error
		if keyPair != nil {
			err = httpSrv.ServeTLS(ln, "", "")
		} else {
			err = httpSrv.Serve(ln)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			serveErr <- err
		}
		close(serveErr)
	}()

	// The manager (leader election, the records' cache, the runner) stops
	// when runCtx ends; a remediation in flight then completes first, up to
	// --shutdown-timeout.
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	mgrErr := make(chan error, 1)
	go func() { mgrErr <- mgr.Start(runCtx) }()

	if sl.socket != nil {
		go func() {
			if err := sl.chat.RunSocketMode(runCtx, sl.socket); err != nil {
				log.Error("slack socket mode stopped; clicks are not received", "err", err)
			}
		}()
	}
	if o.WatchRules {
		go func() {
			if err := reload.watch(runCtx, o.WatchDebounce); err != nil {
				log.Error("cannot watch the rule files; they reload on SIGHUP only", "err", err)
			}
		}()
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	log.Info("alertmedic serving", "addr", ln.Addr().String(), "rules", set.Len(), "dry_run", o.DryRun,
		"auth_bearer", creds.token != "", "auth_basic", creds.user != "", "tls", o.TLSCertFile != "", "slack", sl.chat != nil, "slack_socket_mode", sl.socket != nil, "version", o.Version)

	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			stopping.Store(true)
			break loop
		case err := <-serveErr:
			runErr = fmt.Errorf("http server: %w", err)
			break loop
		case err := <-mgrErr:
			// Losing the Lease ends the manager: exit, so that a fresh
			// process can campaign again with a clean state.
			runErr = fmt.Errorf("remediation runner stopped: %w", err)
			mgrErr <- nil
			break loop
		case <-hup:
			reload.reload("SIGHUP")
		}
	}

	log.Info("shutting down", "timeout", o.ShutdownTimeout)
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.ShutdownTimeout)
	defer cancel()
	// Stop taking webhooks first (in-flight requests complete), then drain.
	if err := httpSrv.Shutdown(shutCtx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	if sl.chat != nil {
		if err := sl.chat.Wait(shutCtx); err != nil {
			log.Warn("slack clicks still being handled at shutdown", "err", err)
		}
	}
	stopRun()
	select {
	case err := <-mgrErr:
		if err != nil && runErr == nil {
			runErr = err
		}
	case <-shutCtx.Done():
		log.Warn("remediation runner did not stop within --shutdown-timeout")
	}
	log.Info("stopped")
	return runErr
}

// quietShutdown keeps a normal shutdown (SIGTERM) free of ERROR lines.
// Once stopping is set, an ERROR whose err is a cancellation (work cut short
// by the shutdown itself, to be resumed by the next leader) is logged at
// INFO, marked shutting_down=true. (Releasing the Lease at shutdown is not
// an error: internal/leader's Run returns nil for it. A Lease lost while
// draining is one, and stays an ERROR.) Before that, and when serve stops
// because something failed, nothing is changed.
type quietShutdown struct {
	slog.Handler
	stopping *atomic.Bool
}

func (h quietShutdown) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError && h.stopping.Load() && expectedAtShutdown(r) {
		r.Level = slog.LevelInfo
		r.AddAttrs(slog.Bool("shutting_down", true))
	}
	return h.Handler.Handle(ctx, r)
}

func (h quietShutdown) WithAttrs(as []slog.Attr) slog.Handler {
	return quietShutdown{Handler: h.Handler.WithAttrs(as), stopping: h.stopping}
}

func (h quietShutdown) WithGroup(name string) slog.Handler {
	return quietShutdown{Handler: h.Handler.WithGroup(name), stopping: h.stopping}
}

func expectedAtShutdown(r slog.Record) bool {
	expected := false
	r.Attrs(func(a slog.Attr) bool {
		err, ok := a.Value.Any().(error)
		if a.Key != "err" || !ok {
			return true
		}
		expected = errors.Is(err, context.Canceled)
		return false
	})
	return expected
}

// KubeConfig is the Kubernetes client configuration from the kubeconfig at
// path or, when path is empty, from $KUBECONFIG, the in-cluster config or
// ~/.kube/config; its User-Agent names alertmedic's version.
func KubeConfig(path, version string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		rules.ExplicitPath = path
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes client config: %w", err)
	}
	cfg.UserAgent = "alertmedic/" + version
	return cfg, nil
}
