package deploy

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
)

// exportedMetrics returns the names of the metrics alertmedic's code defines
// (prometheus.*Opts{Name: "alertmedic_..."} outside tests).
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	nameRE := regexp.MustCompile(`Name:\s*"(alertmedic_[a-z0-9_]+)"`)
	found := map[string]bool{}
	err := filepath.WalkDir(repo, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "test", "testdata", "bin":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range nameRE.FindAllSubmatch(src, -1) {
			found[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) == 0 {
		t.Fatal("found no alertmedic_* metric definitions in the source")
	}
	return found
}

// The monitoring component (in the production overlay; not dry-run because
// envtest has no Prometheus Operator CRDs) scrapes the Service's port, and
// its alerts use only metrics alertmedic exports.
func TestMonitoringComponent(t *testing.T) {
	objs := kustomize(t, "examples/overlays/production")
	svc := typed[corev1.Service](t, find(t, objs, "Service", "alertmedic"))
	sm := find(t, objs, "ServiceMonitor", "alertmedic")
	pr := find(t, objs, "PrometheusRule", "alertmedic")

	if sm.GetNamespace() != svc.Namespace {
		t.Errorf("ServiceMonitor in %q, Service in %q", sm.GetNamespace(), svc.Namespace)
	}
	match, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	if len(match) == 0 || !labels.SelectorFromSet(match).Matches(labels.Set(svc.Labels)) {
		t.Errorf("ServiceMonitor selector %v does not select the Service's labels %v", match, svc.Labels)
	}
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(endpoints) != 1 {
		t.Fatalf("ServiceMonitor endpoints = %v, want one", endpoints)
	}
	ep := endpoints[0].(map[string]any)
	if ep["port"] != svc.Spec.Ports[0].Name || ep["path"] != "/metrics" {
		t.Errorf("ServiceMonitor endpoint %v, want port %q path /metrics", ep, svc.Spec.Ports[0].Name)
	}

	metrics := exportedMetrics(t)
	metricRE := regexp.MustCompile(`alertmedic_[a-z0-9_]+`)
	groups, _, _ := unstructured.NestedSlice(pr.Object, "spec", "groups")
	alerts := 0
	for _, g := range groups {
		rules, _ := g.(map[string]any)["rules"].([]any)
		for _, r := range rules {
			rule := r.(map[string]any)
			name, _ := rule["alert"].(string)
			expr, _ := rule["expr"].(string)
			alerts++
			if name == "" || expr == "" {
				t.Errorf("rule %v: alert and expr are required", rule)
				continue
			}
			if strings.Count(expr, "(") != strings.Count(expr, ")") || strings.Count(expr, "{") != strings.Count(expr, "}") {
				t.Errorf("%s: unbalanced expression %q", name, expr)
			}
			for _, m := range metricRE.FindAllString(expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
				if !metrics[m] && !metrics[base] {
					t.Errorf("%s uses %s, which alertmedic does not export (it exports %v)", name, m, keys(metrics))
				}
			}
			if strings.Contains(expr, "up{") && !strings.Contains(expr, `job="`+svc.Name+`"`) {
				t.Errorf("%s: the scrape job of a ServiceMonitor is named after the Service (%q): %s", name, svc.Name, expr)
			}
			sev, _, _ := unstructured.NestedString(rule, "labels", "severity")
			if sev != "critical" && sev != "warning" {
				t.Errorf("%s: severity %q, want critical or warning", name, sev)
			}
			if s, _, _ := unstructured.NestedString(rule, "annotations", "summary"); s == "" {
				t.Errorf("%s: no summary annotation", name)
			}
		}
	}
	if alerts == 0 {
		t.Fatal("the PrometheusRule holds no alerts")
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
