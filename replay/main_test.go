package replay_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/alertmedic/alertmedic/internal/testprometheus"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// base is the start of the synthetic week: an hour, eight days ago, so that
// every sample is far from the head (backfilled blocks must not overlap it)
// and well within retention.
var base = time.Now().UTC().Truncate(time.Hour).Add(-8 * 24 * time.Hour)

// week is the range replayed.
var week = struct{ from, to time.Time }{base, base.Add(7 * 24 * time.Hour)}

// prom is the one real Prometheus of this test binary, serving the week.
var prom *testprometheus.Prometheus

// maxSamples is the Prometheus' --query.max-samples: so low that a day of
// the week's samples is refused and Fetch must split its queries.
const maxSamples = 1000

func TestMain(m *testing.M) {
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	dir, err := os.MkdirTemp("", "alertmedic-replay-")
	if err == nil {
		prom, err = testprometheus.Start(ctx, dir, testprometheus.Options{
			OpenMetrics: openMetrics(history()),
			Args:        []string{fmt.Sprintf("--query.max-samples=%d", maxSamples)},
		})
	}
	cancel()
	if err != nil {
		// Fail, never skip: the replay is tested against a real Prometheus.
		fmt.Fprintf(os.Stderr, "replay tests: no real Prometheus: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := prom.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stop prometheus: %v\n", err)
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// sample is one ALERTS series firing (or pending) over [start, end], one
// sample a minute, as a rule evaluated every minute writes it.
type sample struct {
	labels     map[string]string
	state      string
	start, end time.Time
}

// at is base plus day days and a clock time "15:04".
func at(day int, clock string) time.Time {
	t, err := time.Parse("15:04", clock)
	if err != nil {
		panic(err)
	}
	return base.Add(time.Duration(day)*24*time.Hour + time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute)
}

func firing(labels map[string]string, start time.Time, d time.Duration) sample {
	return sample{labels: labels, state: "firing", start: start, end: start.Add(d)}
}

var (
	cart      = map[string]string{"alertname": "KubePodCrashLooping", "namespace": "shop", "deployment": "cart", "severity": "warning"}
	api       = map[string]string{"alertname": "KubePodCrashLooping", "namespace": "payments", "deployment": "api", "severity": "warning"}
	coredns   = map[string]string{"alertname": "KubePodCrashLooping", "namespace": "kube-system", "deployment": "coredns", "severity": "warning"}
	checkout  = map[string]string{"alertname": "HighLatency", "namespace": "shop", "deployment": "checkout"}
	burn      = map[string]string{"alertname": "ErrorBudgetBurn", "namespace": "payments", "deployment": "api", "severity": "critical"}
	watchdog  = map[string]string{"alertname": "Watchdog", "severity": "none"}
	diskFull  = map[string]string{"alertname": "DiskFull", "instance": "node-1"}
	minute    = time.Minute
	tenMinute = 10 * time.Minute
)

// history is the synthetic week of alerts, with known episodes. The queries
// of the replay are a day each, from base: the api's second crash loop runs
// across the boundary of two.
func history() []sample {
	return []sample{
		// Fires all week, from before it starts to after it ends: one
		// episode, already firing at the start; no rule matches it.
		firing(watchdog, base.Add(-time.Hour), 7*24*time.Hour+2*time.Hour),
		// restart-crashlooping, cooldown 30m: runs, is cooled down 28m
		// later, runs two days later.
		firing(cart, at(0, "10:00"), 20*minute),
		firing(cart, at(0, "10:28"), tenMinute),
		firing(cart, at(2, "09:00"), tenMinute),
		// Another target: runs, and runs again ten hours later, in an
		// episode that spans two queries (and stays one episode).
		firing(api, at(1, "14:00"), 5*minute),
		firing(api, at(1, "23:50"), 40*minute),
		// kube-system is denied unless allowed by name.
		firing(coredns, at(3, "08:00"), tenMinute),
		// scale-on-latency, maxPerWindow perTarget 2 in 24h: the third is
		// over budget.
		firing(checkout, at(4, "01:00"), 15*minute),
		firing(checkout, at(4, "03:00"), 15*minute),
		firing(checkout, at(4, "05:00"), 15*minute),
		// rollback-error-budget needs approval: asked twice.
		firing(burn, at(5, "12:00"), 20*minute),
		firing(burn, at(5, "12:40"), tenMinute),
		// No rule matches.
		firing(diskFull, at(6, "03:00"), 30*minute),
		// Pending only, never firing: not an episode.
		{labels: cart, state: "pending", start: at(6, "06:00"), end: at(6, "06:04")},
	}
}

// openMetrics writes the samples as the OpenMetrics text that promtool
// backfills.
func openMetrics(samples []sample) []byte {
	var b strings.Builder
	b.WriteString("# HELP ALERTS Alerts.\n# TYPE ALERTS gauge\n")
	for _, s := range samples {
		labels := map[string]string{"alertstate": s.state}
		for k, v := range s.labels {
			labels[k] = v
		}
		keys := make([]string, 0, len(labels))
		for k := range labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var ls []string
		for _, k := range keys {
			ls = append(ls, fmt.Sprintf("%s=%q", k, labels[k]))
		}
		for t := s.start; !t.After(s.end); t = t.Add(time.Minute) {
			fmt.Fprintf(&b, "ALERTS{%s} 1 %d\n", strings.Join(ls, ","), t.Unix())
		}
	}
	b.WriteString("# EOF\n")
	return []byte(b.String())
}
