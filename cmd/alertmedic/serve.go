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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

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
	queueSize       int
	dryRun          bool
	fieldManager    string
	shutdownTimeout time.Duration
	logLevel        string
	logFormat       string
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
	fs.IntVar(&o.workers, "workers", 4, "remediations run at once")
	fs.IntVar(&o.queueSize, "queue-size", 1000, "remediations waiting to run; past it webhooks get 503 and Alertmanager retries")
	fs.BoolVar(&o.dryRun, "dry-run", false, "plan, log and record Events, but change no workload (server-side dry-run)")
	fs.StringVar(&o.fieldManager, "field-manager", "alertmedic", "field manager name on every write")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long SIGTERM waits for queued and running remediations")
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
	if len(o.rulePaths) == 0 {
		fmt.Fprintln(stderr, "serve: --rules is required (a rule file or a directory of them)")
		return nil, errUsage
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

// readToken returns the webhook token from --token-file or the environment.
func readToken(o *serveOptions) (string, error) {
	if o.tokenFile != "" {
		b, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return "", fmt.Errorf("read --token-file: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", fmt.Errorf("--token-file %s is empty", o.tokenFile)
		}
		return tok, nil
	}
	if tok := strings.TrimSpace(os.Getenv(tokenEnv)); tok != "" {
		return tok, nil
	}
	if o.insecureNoAuth {
		return "", nil
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
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exec := remediations.NewExecutor(client, remediations.Options{
		FieldManager: o.fieldManager,
		Logger:       log,
		Metrics:      remediations.NewMetrics(reg),
	})
	probe := &apiProbe{client: client, ttl: 2 * time.Second}
	eng := engine.New(engine.Options{
		Gate:      probe.check,
		Executor:  exec,
		Rules:     set,
		Busy:      webhook.ErrBusy,
		Workers:   o.workers,
		QueueSize: o.queueSize,
		DryRun:    o.dryRun,
		Logger:    log,
		Metrics:   engine.NewMetrics(reg),
	})
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

	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { eng.Run(runCtx) })

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	log.Info("alertmedic serving", "addr", ln.Addr().String(), "rules", set.Len(), "dry_run", o.dryRun,
		"auth", token != "", "tls", o.tlsCert != "", "version", version)

	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-serveErr:
			runErr = fmt.Errorf("http server: %w", err)
			break loop
		case <-hup:
			next, err := rules.LoadFiles(o.rulePaths...)
			if err != nil {
				log.Error("rule reload refused; previous rules stay in force", "err", err)
				continue
			}
			eng.SetRules(next)
			log.Info("rules reloaded", "rules", next.Len())
		}
	}

	log.Info("shutting down", "timeout", o.shutdownTimeout)
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.shutdownTimeout)
	defer cancel()
	// Stop taking webhooks first (in-flight requests complete), then drain.
	if err := httpSrv.Shutdown(shutCtx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	if err := eng.Shutdown(shutCtx); err != nil {
		log.Warn("engine shutdown", "err", err)
	}
	stopRun()
	wg.Wait()
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
