package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/promslog"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine"
	"github.com/alertmedic/alertmedic/engine/controller"
	"github.com/alertmedic/alertmedic/engine/ingest"
	"github.com/alertmedic/alertmedic/remediations"
	"github.com/alertmedic/alertmedic/rules"
	"github.com/alertmedic/alertmedic/webhook"
)

// serveOptions are the flags of 'alertmedic serve' (defined in flags.go).
type serveOptions struct {
	listen          string
	rulePaths       stringList
	kubeconfig      string
	tokenFile       string
	basicUser       string
	basicPassFile   string
	insecureNoAuth  bool
	tlsCert, tlsKey string
	maxBodyBytes    int64
	http            httpTimeouts
	acceptTimeout   time.Duration
	kubeAPITimeout  time.Duration
	workers         int
	dryRun          bool
	namespace       string
	identity        string // empty: the host name
	leaderElect     bool
	leaseDuration   time.Duration
	renewDeadline   time.Duration
	retryPeriod     time.Duration
	policy          controller.Policy
	kubeQPS         float64
	watchRules      bool
	watchDebounce   time.Duration
	kubeBurst       int
	fieldManager    string
	shutdownTimeout time.Duration
	seenSize        int
	log             promslog.Config // Writer is set by runServe
	slack           slackOptions
}

// httpTimeouts are the HTTP server's limits on each connection.
type httpTimeouts struct {
	readHeader, read, write, idle time.Duration
}

// The webhook's credentials when no file is given: the bearer token, and
// the basic-auth username and password.
const (
	tokenEnv     = "ALERTMEDIC_WEBHOOK_TOKEN"
	basicUserEnv = "ALERTMEDIC_WEBHOOK_BASIC_AUTH_USER"
	basicPassEnv = "ALERTMEDIC_WEBHOOK_BASIC_AUTH_PASSWORD"
)

// validate checks what the flags alone can tell, and fills in the defaults
// known only at run time. Its errors are usage errors.
func (o *serveOptions) validate() error {
	if err := checkPolicyFlags("serve", o.policy.Limits); err != nil {
		return err
	}
	if len(o.rulePaths) == 0 {
		return usagef("serve: --rules is required (a rule file or a directory of them)")
	}
	if o.policy.BreakerHold != controller.BreakerSkip && o.policy.BreakerHold != controller.BreakerApproval {
		return usagef("serve: --breaker-hold %q: want skip or approval", o.policy.BreakerHold)
	}
	for _, v := range o.policy.RequireApproval {
		if err := controller.ValidRequireApproval(v); err != nil {
			return usagef("serve: --require-approval %v", err)
		}
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return usagef("serve: --tls-cert-file and --tls-key-file go together")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"http-read-header-timeout", o.http.readHeader}, {"http-read-timeout", o.http.read},
		{"http-write-timeout", o.http.write}, {"http-idle-timeout", o.http.idle},
		{"accept-timeout", o.acceptTimeout}, {"kube-api-timeout", o.kubeAPITimeout},
	} {
		if d.v <= 0 {
			return usagef("serve: --%s %s: must be positive", d.name, d.v)
		}
	}
	if o.http.write <= o.acceptTimeout {
		return usagef("serve: --http-write-timeout %s must be longer than --accept-timeout %s, or the 503 of a slow notification cannot be written", o.http.write, o.acceptTimeout)
	}
	if o.identity == "" {
		o.identity = hostname()
	}
	return nil
}

// secret reads a secret from file (trimmed; empty is an error), or else
// from the environment variable env. Secrets never come from flags.
func secret(file, env, flagName string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read --%s: %w", flagName, err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", fmt.Errorf("--%s %s is empty", flagName, file)
		}
		return s, nil
	}
	return strings.TrimSpace(os.Getenv(env)), nil
}

// webhookCredentials are what Alertmanager must send: a bearer token, a
// basic-auth pair, or both (either is then accepted).
type webhookCredentials struct {
	token, user, pass string
}

// readCredentials reads the webhook's credentials from their files or the
// environment. Without any, serve refuses to start unless --insecure-no-auth.
func readCredentials(o *serveOptions) (webhookCredentials, error) {
	var c webhookCredentials
	var err error
	if c.token, err = secret(o.tokenFile, tokenEnv, "token-file"); err != nil {
		return c, err
	}
	if c.pass, err = secret(o.basicPassFile, basicPassEnv, "basic-auth-password-file"); err != nil {
		return c, err
	}
	c.user = strings.TrimSpace(o.basicUser)
	switch {
	case c.user != "" && c.pass == "":
		return c, fmt.Errorf("--basic-auth-user %q needs a password: set --basic-auth-password-file or $%s", c.user, basicPassEnv)
	case c.user == "" && c.pass != "":
		return c, fmt.Errorf("a basic-auth password is set but no username: set --basic-auth-user or $%s", basicUserEnv)
	case c.token == "" && c.user == "" && !o.insecureNoAuth:
		return c, fmt.Errorf("no webhook token: set --token-file or $%s, or --basic-auth-user and --basic-auth-password-file (or --insecure-no-auth for local testing)", tokenEnv)
	}
	return c, nil
}

func kubeConfig(path string) (*rest.Config, error) {
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

// serveCmd is 'alertmedic serve'.
func serveCmd(ctx context.Context, c *commandLine, stderr io.Writer) error {
	if err := noArgs("serve", c.extra); err != nil {
		return err
	}
	return runServe(ctx, c.serve, stderr)
}

// runServe validates o, wires the webhook, the engine, the runner and Slack
// together, and serves until ctx ends (SIGTERM) or a part fails; SIGHUP
// reloads the rules. Logs go to logOut.
func runServe(ctx context.Context, o serveOptions, logOut io.Writer) error {
	if err := o.validate(); err != nil {
		return err
	}
	o.log.Writer = logOut
	log := promslog.New(&o.log)
	stopping := new(atomic.Bool)
	log = slog.New(quietShutdown{Handler: log.Handler(), stopping: stopping})
	creds, err := readCredentials(&o)
	if err != nil {
		return err
	}
	var keyPair *webhook.KeyPair
	if o.tlsCert != "" {
		if keyPair, err = webhook.LoadKeyPair(o.tlsCert, o.tlsKey, log); err != nil {
			return err
		}
	}
	set, err := rules.LoadFiles(o.rulePaths...)
	if err != nil {
		return fmt.Errorf("load rules:\n%w", err)
	}
	cfg, err := kubeConfig(o.kubeconfig)
	if err != nil {
		return err
	}
	// client-go's default (5 per second) would make recording a large
	// notification take many seconds before Alertmanager gets its answer.
	cfg.QPS, cfg.Burst = float32(o.kubeQPS), o.kubeBurst
	// Every request of these clients ends within --kube-api-timeout. The
	// manager's watches keep cfg, without one: a timeout would cut them.
	apiCfg := rest.CopyConfig(cfg)
	apiCfg.Timeout = o.kubeAPITimeout
	clientset, err := kubernetes.NewForConfig(apiCfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	records, err := client.New(apiCfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	exec := remediations.NewExecutor(clientset, remediations.Options{
		FieldManager: o.fieldManager,
		Instance:     o.identity,
		Logger:       log,
		Metrics:      remediations.NewMetrics(reg),
	})
	metrics := engine.NewMetrics(reg)
	probe := &apiProbe{client: clientset, namespace: o.namespace, ttl: 2 * time.Second, timeout: 2 * time.Second}
	eng := ingest.New(ingest.Options{
		Client:    records,
		Namespace: o.namespace,
		Gate:      probe.check,
		SeenSize:  o.seenSize,
		Rules:     set,
		Busy:      webhook.ErrBusy,
		DryRun:    o.dryRun,
		Logger:    log,
		Metrics:   metrics,
	})
	mgr, err := newManager(cfg, scheme, &o, log)
	if err != nil {
		return err
	}
	if _, err := controller.NewRunner(mgr, controller.Options{
		Executor: exec,
		Policy:   o.policy,
		Identity: o.identity,
		Workers:  o.workers,
		Logger:   log,
		Metrics:  metrics,
	}); err != nil {
		return err
	}
	sl, err := setupSlack(&o, records, eng.Rules, reg, log)
	if err != nil {
		return err
	}
	if sl.chat != nil {
		if err := sl.chat.Register(mgr); err != nil {
			return fmt.Errorf("slack: %w", err)
		}
	}
	srv, err := webhook.NewServer(webhook.Options{
		Sink:              eng,
		BearerToken:       creds.token,
		BasicAuthUser:     creds.user,
		BasicAuthPassword: creds.pass,
		MaxBodyBytes:      o.maxBodyBytes,
		AcceptTimeout:     o.acceptTimeout,
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
	reload := newReloader(o.rulePaths, eng.SetRules, reg, log)
	reload.loaded(set)

	// Once the configuration is known good: a records namespace that does
	// not exist would make every notification fail, so refuse to start. An
	// API server not reachable yet is no reason to; /readyz reports it, and
	// the namespace, until both are fine.
	if err := probe.checkNamespace(ctx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	httpSrv := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: o.http.readHeader,
		ReadTimeout:       o.http.read,
		WriteTimeout:      o.http.write,
		IdleTimeout:       o.http.idle,
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
	if o.watchRules {
		go func() {
			if err := reload.watch(runCtx, o.watchDebounce); err != nil {
				log.Error("cannot watch the rule files; they reload on SIGHUP only", "err", err)
			}
		}()
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	log.Info("alertmedic serving", "addr", ln.Addr().String(), "rules", set.Len(), "dry_run", o.dryRun,
		"auth_bearer", creds.token != "", "auth_basic", creds.user != "", "tls", o.tlsCert != "", "slack", sl.chat != nil, "slack_socket_mode", sl.socket != nil, "version", version)

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

	log.Info("shutting down", "timeout", o.shutdownTimeout)
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.shutdownTimeout)
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
// by the shutdown itself, to be resumed by the next leader) and
// controller-runtime's report that the Lease it has just released was
// "lost" are logged at INFO, marked shutting_down=true. Before that, and
// when serve stops because something failed, nothing is changed.
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
		expected = errors.Is(err, context.Canceled) ||
			r.Message == "error received after stop sequence was engaged" && err.Error() == "leader election lost"
		return false
	})
	return expected
}

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
// as the cached answer.
type apiProbe struct {
	client    kubernetes.Interface
	namespace string
	ttl       time.Duration // how long an answer is reused
	timeout   time.Duration // bound of one check

	mu        sync.Mutex
	checked   time.Time
	last      error
	inflight  chan struct{} // closed when the running check has set last
	nsChecked bool          // the namespace was once seen to exist
}

func (p *apiProbe) check(ctx context.Context) error {
	p.mu.Lock()
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
	if _, err := p.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
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
	_, err := p.client.CoordinationV1().Leases(p.namespace).Create(ctx, lease, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
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
