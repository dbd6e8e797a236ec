package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine"
	"github.com/alertmedic/alertmedic/remediations"
	"github.com/alertmedic/alertmedic/rules"
	"github.com/alertmedic/alertmedic/webhook"
)

// serveOptions are the flags of 'alertmedic serve'.
type serveOptions struct {
	listen          string
	rulePaths       stringList
	kubeconfig      string
	tokenFile       string
	insecureNoAuth  bool
	tlsCert, tlsKey string
	maxBodyBytes    int64
	workers         int
	dryRun          bool
	namespace       string
	identity        string
	leaderElect     bool
	leaseDuration   time.Duration
	renewDeadline   time.Duration
	retryPeriod     time.Duration
	policy          engine.Policy
	kubeQPS         float64
	watchRules      bool
	watchDebounce   time.Duration
	kubeBurst       int
	fieldManager    string
	shutdownTimeout time.Duration
	logLevel        string
	logFormat       string
	slack           slackOptions
}

// stringList is a repeatable, comma-separated flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}

// tokenEnv holds the webhook bearer token when no --token-file is given.
const tokenEnv = "ALERTMEDIC_WEBHOOK_TOKEN"

func parseServe(args []string, stderr io.Writer) (*serveOptions, error) {
	o := &serveOptions{}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.listen, "listen", ":8080", "address to serve HTTP on")
	fs.Var(&o.rulePaths, "rules", "rule file or directory (repeatable, comma-separated)")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig path (default: $KUBECONFIG, in-cluster config, ~/.kube/config)")
	fs.StringVar(&o.tokenFile, "token-file", "", "file holding the bearer token Alertmanager must send (default: $"+tokenEnv+")")
	fs.BoolVar(&o.insecureNoAuth, "insecure-no-auth", false, "accept webhooks without authentication (local testing only)")
	fs.StringVar(&o.tlsCert, "tls-cert-file", "", "serve HTTPS with this certificate")
	fs.StringVar(&o.tlsKey, "tls-key-file", "", "private key for --tls-cert-file")
	fs.Int64Var(&o.maxBodyBytes, "max-body-bytes", 4<<20, "largest webhook body accepted; larger gets 413")
	fs.IntVar(&o.workers, "workers", 4, "remediations run at once (on the leader)")
	fs.StringVar(&o.namespace, "namespace", envOr("POD_NAMESPACE", "alertmedic"), "namespace of the Remediation records and the leader Lease")
	fs.StringVar(&o.identity, "identity", envOr("POD_NAME", hostname()), "this replica's name in the Lease and the records")
	fs.BoolVar(&o.leaderElect, "leader-elect", true, "execute only while holding the Lease (false: this replica always executes; for a single replica)")
	fs.DurationVar(&o.leaseDuration, "leader-elect-lease-duration", 15*time.Second, "how long a Lease holder is trusted without renewing")
	fs.DurationVar(&o.renewDeadline, "leader-elect-renew-deadline", 10*time.Second, "how long the leader tries to renew before giving up")
	fs.DurationVar(&o.retryPeriod, "leader-elect-retry-period", 2*time.Second, "how often replicas try to acquire or renew the Lease")
	policyFlags(fs, &o.policy.Limits)
	fs.StringVar(&o.policy.BreakerHold, "breaker-hold", engine.BreakerSkip, "what becomes of actions the open breaker holds back: skip, or approval (they wait for 'alertmedic approve')")
	fs.DurationVar(&o.policy.ApprovalTimeout, "breaker-approval-timeout", 30*time.Minute, "with --breaker-hold=approval: how long a held action waits for approval")
	fs.Var((*stringList)(&o.policy.RequireApproval), "require-approval", "actions that wait for a person whatever their rule says: restart, scale, scale-down, rollback, namespace=PATTERN (comma-separated)")
	fs.DurationVar(&o.policy.RequiredApprovalTimeout, "approval-timeout", 30*time.Minute, "how long an action --require-approval holds waits for approval")
	fs.IntVar(&o.policy.MaxAttempts, "max-attempts", 5, "tries of an action that fails because the API server is unavailable")
	fs.DurationVar(&o.policy.RetryBackoff, "retry-backoff", 5*time.Second, "wait before the second try of an action after a transient failure, doubled for each try after it (at most 1h)")
	fs.DurationVar(&o.policy.Retention, "retention", 24*time.Hour, "keep a finished record this long after its alert resolved")
	fs.DurationVar(&o.policy.MaxRetention, "max-retention", 30*24*time.Hour, "keep a finished record this long when its alert never resolved")
	fs.BoolVar(&o.dryRun, "dry-run", false, "plan, log and record Events, but change no workload (server-side dry-run)")
	fs.BoolVar(&o.watchRules, "watch-rules", true, "reload the rule files when they change on disk (as SIGHUP does)")
	fs.DurationVar(&o.watchDebounce, "watch-debounce", time.Second, "changes to the rule files within this long of each other are one reload")
	fs.Float64Var(&o.kubeQPS, "kube-api-qps", 50, "sustained requests per second to the Kubernetes API server")
	fs.IntVar(&o.kubeBurst, "kube-api-burst", 100, "requests allowed in a burst above --kube-api-qps (a 100-alert notification records at once)")
	fs.StringVar(&o.fieldManager, "field-manager", "alertmedic", "field manager name on every write")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long SIGTERM waits for running remediations")
	addSlackFlags(fs, &o.slack)
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "json", "json or text")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errUsage
		}
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "serve: unexpected argument %q\n", fs.Arg(0))
		return nil, errUsage
	}
	if err := checkPolicyFlags(stderr, "serve", o.policy.Limits); err != nil {
		return nil, err
	}
	if len(o.rulePaths) == 0 {
		fmt.Fprintln(stderr, "serve: --rules is required (a rule file or a directory of them)")
		return nil, errUsage
	}
	if o.policy.BreakerHold != engine.BreakerSkip && o.policy.BreakerHold != engine.BreakerApproval {
		fmt.Fprintf(stderr, "serve: --breaker-hold %q: want skip or approval\n", o.policy.BreakerHold)
		return nil, errUsage
	}
	for _, v := range o.policy.RequireApproval {
		if err := engine.ValidRequireApproval(v); err != nil {
			fmt.Fprintf(stderr, "serve: --require-approval %v\n", err)
			return nil, errUsage
		}
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		fmt.Fprintln(stderr, "serve: --tls-cert-file and --tls-key-file go together")
		return nil, errUsage
	}
	return o, nil
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", errUsage, level)
	}
	hopts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, hopts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, hopts)), nil
	}
	return nil, fmt.Errorf("%w: --log-format %q: want json or text", errUsage, format)
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

// readToken returns the webhook token from --token-file or the environment.
func readToken(o *serveOptions) (string, error) {
	tok, err := secret(o.tokenFile, tokenEnv, "token-file")
	if err != nil || tok != "" || o.insecureNoAuth {
		return tok, err
	}
	return "", fmt.Errorf("no webhook token: set --token-file or $%s (or --insecure-no-auth for local testing)", tokenEnv)
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

func serve(ctx context.Context, args []string, _, stderr io.Writer) error {
	o, err := parseServe(args, stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, o.logLevel, o.logFormat)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return errUsage
	}
	token, err := readToken(o)
	if err != nil {
		return err
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
	clientset, err := kubernetes.NewForConfig(cfg)
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
	records, err := client.New(cfg, client.Options{Scheme: scheme})
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
	probe := &apiProbe{client: clientset, ttl: 2 * time.Second}
	eng := engine.New(engine.Options{
		Client:    records,
		Namespace: o.namespace,
		Gate:      probe.check,
		Rules:     set,
		Busy:      webhook.ErrBusy,
		DryRun:    o.dryRun,
		Logger:    log,
		Metrics:   metrics,
	})
	mgr, err := newManager(cfg, scheme, o, log)
	if err != nil {
		return err
	}
	if _, err := engine.NewRunner(mgr, engine.RunnerOptions{
		Executor: exec,
		Policy:   o.policy,
		Identity: o.identity,
		Workers:  o.workers,
		Logger:   log,
		Metrics:  metrics,
	}); err != nil {
		return err
	}
	sl, err := setupSlack(o, records, eng.Rules, reg, log, stderr)
	if err != nil {
		return err
	}
	if sl.chat != nil {
		if err := sl.chat.Register(mgr); err != nil {
			return fmt.Errorf("slack: %w", err)
		}
	}
	srv, err := webhook.NewServer(webhook.Options{
		Sink:         eng,
		BearerToken:  token,
		MaxBodyBytes: o.maxBodyBytes,
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

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	httpSrv := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() {
		var err error
		if o.tlsCert != "" {
			err = httpSrv.ServeTLS(ln, o.tlsCert, o.tlsKey)
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
		"auth", token != "", "tls", o.tlsCert != "", "slack", sl.chat != nil, "slack_socket_mode", sl.socket != nil, "version", version)

	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
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

// apiProbe checks that the API server answers, caching the answer briefly so
// that /readyz probes do not load it.
type apiProbe struct {
	client kubernetes.Interface
	ttl    time.Duration

	mu      sync.Mutex
	checked time.Time
	last    error
}

func (p *apiProbe) check(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.checked) < p.ttl {
		return p.last
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := p.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		p.last = fmt.Errorf("kubernetes API server not reachable: %w", err)
	} else {
		p.last = nil
	}
	p.checked = time.Now()
	return p.last
}
