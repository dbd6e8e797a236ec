package server

import (
	"encoding/json"
	"fmt"
	"github.com/alertmedic/alertmedic/internal/kube"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"

	"github.com/alertmedic/alertmedic/chatops"
	"github.com/alertmedic/alertmedic/engine"
	"github.com/alertmedic/alertmedic/engine/approval"
	"github.com/alertmedic/alertmedic/remediations"
	"github.com/alertmedic/alertmedic/webhook"
)

// recorder is a prometheus.Registerer that keeps the name of every metric
// registered with it.
type recorder struct{ names map[string]bool }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (r *recorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		m := fqName.FindStringSubmatch(d.String())
		if m == nil {
			return fmt.Errorf("no name in %s", d)
		}
		r.names[m[1]] = true
	}
	return nil
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func (r *recorder) Unregister(prometheus.Collector) bool { return false }

// exported is every metric name serve registers: the same constructors Run
// calls, on a registry that only records names.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	r := &recorder{names: map[string]bool{}}
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	remediations.NewMetrics(r)
	engine.NewMetrics(r)
	chatops.NewMetrics(r)
	if _, err := webhook.NewMetrics(r); err != nil {
		t.Fatal(err)
	}
	newReloader(nil, nil, r, nil)
	var c kube.Reader // never read: Describe only
	if err := approval.RegisterWaiting(t.Context(), r, c, false, "alertmedic"); err != nil {
		t.Fatal(err)
	}
	if !r.names["alertmedic_remediations_total"] || !r.names["go_goroutines"] {
		t.Fatalf("the recorder missed metrics: %v", r.names)
	}
	return r.names
}

// Grafana's variables, replaced by values PromQL accepts before parsing.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h", "$namespace", "alertmedic")

// metricNames parses expr with Prometheus' own parser and returns the
// metric names it selects.
func metricNames(t *testing.T, where, expr string) []string {
	t.Helper()
	e, err := parser.ParseExpr(grafanaVars.Replace(expr))
	if err != nil {
		t.Errorf("%s: %q does not parse: %v", where, expr, err)
		return nil
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			names = append(names, vs.Name)
		}
		return nil
	})
	return names
}

// known reports whether name is a series of a metric alertmedic exports (a
// histogram's _bucket, _sum and _count included) or Prometheus' own up.
func known(names map[string]bool, name string) bool {
	if name == "up" || names[name] {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && names[base] {
			return true
		}
	}
	return false
}

// Every PromQL expression shipped, in the Grafana dashboard and in the
// PrometheusRule, parses with Prometheus' parser and names only metrics
// alertmedic exports: a renamed metric or a typo fails here, not on a
// dashboard that silently shows "No data".
func TestShippedPromQL(t *testing.T) {
	names := exported(t)
	root := filepath.Join("..", "..")

	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	data, err := os.ReadFile(filepath.Join(root, "manifests", "components", "grafana", "alertmedic.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	var exprs, where []string
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			exprs, where = append(exprs, q.Expr), append(where, "dashboard panel "+p.Title)
		}
	}

	var rule struct {
		Spec struct {
			Groups []struct {
				Rules []struct {
					Alert string `json:"alert"`
					Expr  string `json:"expr"`
					For   string `json:"for"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	data, err = os.ReadFile(filepath.Join(root, "manifests", "components", "monitoring", "prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &rule); err != nil {
		t.Fatalf("prometheusrule: %v", err)
	}
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("alert %s: for %q: %v", r.Alert, r.For, err)
				}
			}
			exprs, where = append(exprs, r.Expr), append(where, "alert "+r.Alert)
		}
	}
	if len(exprs) < 10 {
		t.Fatalf("found %d expressions; the files were not read as expected", len(exprs))
	}

	used := map[string]bool{}
	for i, expr := range exprs {
		ms := metricNames(t, where[i], expr)
		if len(ms) == 0 {
			t.Errorf("%s: %q selects no metric", where[i], expr)
		}
		for _, m := range ms {
			used[m] = true
			if !known(names, m) {
				t.Errorf("%s: %q: alertmedic exports no metric %s", where[i], expr, m)
			}
		}
	}
	var list []string
	for m := range used {
		list = append(list, m)
	}
	slices.Sort(list)
	t.Logf("%d expressions, metrics used: %s", len(exprs), strings.Join(list, " "))
}
