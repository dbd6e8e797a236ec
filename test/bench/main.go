package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alertmedic/alertmedic/internal/kube"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/alertmedic/alertmedic/internal/testcluster"
)

type options struct {
	bin, dir   string
	goBench    bool
	only       []string
	idle, load time.Duration
	conns      int
	records    []int
	slack      bool // retained records carry a posted Slack message
	cached     bool // retained records acted within the week: not archived
	// boundRecords and boundAlerts: the bound scenario's retained records
	// and the new alerts of its bad day.
	boundRecords, boundAlerts int
	stormAlerts               int
	stormBudget               time.Duration
	fastLease                 []string
	failovers                 int
}

// scenarios, in the order they run: the storm last, as it leaves the most
// objects behind.
var scenarioNames = []string{"memory", "apicost", "failover", "records", "bound", "storm"}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/alertmedic", "the alertmedic binary (make build)")
	flag.StringVar(&o.dir, "dir", "", "where to keep logs and files (default: a new temporary folder)")
	flag.BoolVar(&o.goBench, "go-bench", true, "also run the Go benchmarks (ingest in-process, alert to patch, heap profile)")
	only := flag.String("only", strings.Join(scenarioNames, ","), "scenarios to run, comma-separated: "+strings.Join(scenarioNames, ", "))
	flag.DurationVar(&o.idle, "idle", 60*time.Second, "how long alertmedic is left idle while its API requests are counted")
	flag.DurationVar(&o.load, "load", 5*time.Second, "how long each throughput measurement posts")
	flag.IntVar(&o.conns, "conns", 4, "concurrent connections of the load generator")
	records := flag.String("records", "10000,50000", "retained records to measure startup and ingest with (0 is always measured)")
	flag.BoolVar(&o.slack, "records-slack", false, "retained records carry a posted Slack message, as a rule with spec.notify all leaves them (the cache keeps such records whole)")
	flag.BoolVar(&o.cached, "records-cached", false, "retained records acted within the week, so replicas cache them (by default they are archived, as the leader leaves records a week old)")
	flag.IntVar(&o.boundRecords, "bound-records", 20000, "retained records of the bound scenario (serve's --max-records default)")
	flag.IntVar(&o.boundAlerts, "bound-alerts", 20000, "new distinct alerts of the bound scenario's bad day")
	flag.IntVar(&o.stormAlerts, "storm-alerts", 100_000, "distinct alerts in the storm, posted in notifications of 100")
	flag.DurationVar(&o.stormBudget, "storm-budget", 2*time.Minute, "longest the storm is posted for")
	fast := flag.String("fast-lease", "5s,3s,400ms", "the faster Lease setting measured: lease duration, renew deadline, retry period")
	flag.IntVar(&o.failovers, "failovers", 3, "how many times each Lease setting's leader is killed")
	flag.Parse()
	o.only = strings.Split(*only, ",")
	for _, s := range o.only {
		if !slices.Contains(scenarioNames, s) {
			fmt.Fprintf(os.Stderr, "bench: -only %q: no such scenario (have %s)\n", s, strings.Join(scenarioNames, ", "))
			os.Exit(2)
		}
	}
	for _, s := range strings.Split(*records, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 0 {
			fmt.Fprintf(os.Stderr, "bench: -records %q: want counts like 10000,50000\n", *records)
			os.Exit(2)
		}
		o.records = append(o.records, n)
	}
	o.fastLease = strings.Split(*fast, ",")
	if len(o.fastLease) != 3 {
		fmt.Fprintln(os.Stderr, "bench: -fast-lease: want lease duration, renew deadline and retry period, such as 5s,3s,1s")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	// envtest logs through controller-runtime's logger; the driver's own
	// log says what it needs.
	ctrllog.SetLogger(logr.Discard())
	if err := run(ctx, o, log); err != nil {
		log.Error("bench could not run", "err", err)
		os.Exit(1)
	}
}

// bench is what every scenario shares.
type bench struct {
	o          options
	log        *slog.Logger
	cluster    *testcluster.Cluster
	kube       kube.WithWatch // QPS raised: the driver's own setup is fast
	kubeconfig string
	rules      string // 1,000 rules; rule-0 matches KubePodCrashLooping
	tokenFile  string
	t          *table
	template   *recordTemplate // a finished record, for the records scenario
	zero       recordsFigures  // the records scenario with none retained
}

func run(ctx context.Context, o options, log *slog.Logger) error {
	begin := time.Now()
	if o.dir == "" {
		d, err := os.MkdirTemp("", "alertmedic-bench-")
		if err != nil {
			return err
		}
		o.dir = d
	}
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("the alertmedic binary (make build): %w", err)
	}
	o.bin = bin
	b := &bench{o: o, log: log, t: &table{}}
	log.Info("bench starting", "dir", o.dir)

	if o.goBench {
		// Before the driver's own cluster: the benchmarks start theirs.
		b.goBenchmarks(ctx)
	}

	cluster, err := testcluster.Start()
	if err != nil {
		return err
	}
	defer cluster.Stop()
	b.cluster = cluster
	fast := rest.CopyConfig(cluster.Config)
	fast.QPS, fast.Burst = 5000, 5000
	if b.kube, err = kube.New(fast, kube.Options{}); err != nil {
		return err
	}
	if b.kubeconfig, err = cluster.Kubeconfig(o.dir); err != nil {
		return err
	}
	b.rules = filepath.Join(o.dir, "rules.yaml")
	b.tokenFile = filepath.Join(o.dir, "token")
	if err := os.WriteFile(b.rules, []byte(rulesText(1000)), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(b.tokenFile, []byte(token+"\n"), 0o600); err != nil {
		return err
	}

	for _, s := range []struct {
		name string
		run  func(context.Context) error
	}{
		{"memory", b.memory}, {"apicost", b.apiCost}, {"failover", b.failover},
		{"records", b.manyRecords}, {"bound", b.bound}, {"storm", b.storm},
	} {
		if !slices.Contains(o.only, s.name) {
			continue
		}
		if ctx.Err() != nil {
			break // interrupted: print what was measured
		}
		log.Info("scenario", "name", s.name)
		start := time.Now()
		if err := s.run(ctx); err != nil {
			log.Error("scenario failed", "name", s.name, "err", err)
			b.t.failed(s.name, err)
		}
		log.Info("scenario done", "name", s.name, "took", time.Since(start).Round(time.Second))
	}
	fmt.Printf("\nalertmedic bench: %s, GOMAXPROCS %d, %s in all; logs in %s\n\n", bin, numCPU(), time.Since(begin).Round(time.Second), o.dir)
	b.t.print(os.Stdout)
	return nil
}

// rulesText is n rules; rule-0 matches KubePodCrashLooping, the others
// nothing sent here (as cmd/alertmedic's benchmarks load them).
func rulesText(n int) string {
	var sb strings.Builder
	sb.WriteString("rules:\n")
	for i := range n {
		alertname := fmt.Sprintf("Other%d", i)
		if i == 0 {
			alertname = "KubePodCrashLooping"
		}
		fmt.Fprintf(&sb, `  - name: rule-%d
    match: ['alertname="%s"', 'severity="critical"']
    target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.deployment }}'}
    action: restart
    verify: {rollout: false} # nothing reconciles on this API server: no rollout to see converge
`, i, alertname)
	}
	return sb.String()
}

// serve starts alertmedic with its records in namespace ns (which must
// exist) and the given extra flags.
func (b *bench) serve(name, ns string, extra ...string) (*proc, error) {
	args := append([]string{"serve", "--listen", "ADDR", "--kubeconfig", b.kubeconfig, "--rules", b.rules,
		"--token-file", b.tokenFile, "--namespace", ns, "--identity", name, "--log.format", "json"}, extra...)
	return startProc(b.o.dir, name, b.o.bin, args...)
}

func (b *bench) namespace(ctx context.Context, ns string) error {
	err := b.kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	if kube.IgnoreAlreadyExists(err) != nil {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	return nil
}
