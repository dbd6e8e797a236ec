package rules

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

const matchRules = `
rules:
  - name: crashloop-shop
    match: ['alertname="KubePodCrashLooping"', 'namespace=~"shop|payments"']
    target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.deployment }}'}
    action: restart
  - name: crashloop-any
    match: ['alertname="KubePodCrashLooping"']
    target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.deployment }}'}
    action: restart
  - name: latency-log
    match: ['alertname="LatencyHigh"']
    target: {kind: StatefulSet, namespace: '{{ .Labels.namespace }}', name: '{{ .Annotations.statefulset }}'}
    action: rollback
    continue: true
  - name: not-info
    match: ['severity!="info"', 'team=~"db|web"']
    target: {kind: StatefulSet, namespace: '  {{ .Labels.namespace }}  ', name: '{{ .Labels.statefulset }}-{{ .Fingerprint }}'}
    action: restart
    continue: true
  - name: latency-scale
    match: ['alertname="LatencyHigh"', 'job!~"batch-.*"']
    target: {kind: StatefulSet, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.statefulset }}'}
    action: scale
    scale: {replicas: "+1", max: 5}
  - name: latency-last
    match: ['alertname="LatencyHigh"']
    target: {kind: StatefulSet, namespace: db, name: never}
    action: restart
  - name: unowned
    match: ['team=""', 'severity="page"']
    target: {kind: Deployment, namespace: ops, name: triage}
    action: restart
`

func mustParse(t testing.TB, src string) *Set {
	t.Helper()
	s, err := Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	return s
}

func alert(kv ...string) *template.Alert {
	a := &template.Alert{Status: "firing", Labels: template.KV{}, Annotations: template.KV{}, Fingerprint: "abc123"}
	for i := 0; i+1 < len(kv); i += 2 {
		if k, ok := strings.CutPrefix(kv[i], "@"); ok {
			a.Annotations[k] = kv[i+1]
		} else {
			a.Labels[kv[i]] = kv[i+1]
		}
	}
	return a
}

// summary writes matches as "rule Kind/ns/name" or "rule error".
func summary(ms []Match) []string {
	var out []string
	for _, m := range ms {
		if m.Err != nil {
			out = append(out, m.Rule.Name+" error")
			continue
		}
		out = append(out, m.Rule.Name+" "+m.Target.String())
	}
	return out
}

func TestMatch(t *testing.T) {
	s := mustParse(t, matchRules)
	for _, tc := range []struct {
		name  string
		alert *template.Alert
		want  []string
	}{
		{"first match wins", alert("alertname", "KubePodCrashLooping", "namespace", "shop", "deployment", "cart"),
			[]string{"crashloop-shop Deployment/shop/cart"}},
		{"regex rules out the first, second wins", alert("alertname", "KubePodCrashLooping", "namespace", "billing", "deployment", "api"),
			[]string{"crashloop-any Deployment/billing/api"}},
		{"continue keeps evaluating, unindexed rule merged in order", alert("alertname", "LatencyHigh", "namespace", "db", "statefulset", "pg", "team", "db", "@statefulset", "pg-ann"),
			[]string{"latency-log StatefulSet/db/pg-ann", "not-info StatefulSet/db/pg-abc123", "latency-scale StatefulSet/db/pg"}},
		{"negative regex skips a rule", alert("alertname", "LatencyHigh", "namespace", "db", "statefulset", "pg", "job", "batch-nightly", "@statefulset", "pg"),
			[]string{"latency-log StatefulSet/db/pg", "latency-last StatefulSet/db/never"}},
		{"negative equality", alert("alertname", "Other", "severity", "info", "team", "db"), nil},
		{"unindexed rule alone", alert("alertname", "Other", "severity", "warning", "team", "web", "namespace", "web", "statefulset", "fe"),
			[]string{"not-info StatefulSet/web/fe-abc123"}},
		{"empty value matches a missing label", alert("alertname", "Other", "severity", "page"),
			[]string{"unowned Deployment/ops/triage"}},
		{"empty value does not match a set label", alert("alertname", "Other", "severity", "page", "team", "sre"), nil},
		{"no match", alert("alertname", "Watchdog"), nil},
		{"no labels", alert(), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := summary(s.Match(tc.alert)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMatchNil(t *testing.T) {
	var s *Set
	if s.Match(alert("alertname", "A")) != nil || s.Len() != 0 || s.Rules() != nil {
		t.Error("nil Set is not empty")
	}
	if mustParse(t, matchRules).Match(nil) != nil {
		t.Error("nil alert matched")
	}
}

func TestMatchRender(t *testing.T) {
	s := mustParse(t, `
rules:
  - name: render
    match: ['alertname="A"']
    target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: '{{ .Annotations.owner }}{{ .Labels.suffix }}'}
    action: restart
`)
	long := strings.Repeat("a", 300)
	for _, tc := range []struct {
		name  string
		alert *template.Alert
		want  string // target, or the error
		field string // RenderError.Field when an error is expected
	}{
		{"labels and annotations", alert("alertname", "A", "namespace", "shop", "@owner", "cart", "suffix", "-v2"), "Deployment/shop/cart-v2", ""},
		{"subdomain name with dots", alert("alertname", "A", "namespace", "shop", "@owner", "cart.v2", "suffix", ""), "Deployment/shop/cart.v2", ""},
		{"missing label", alert("alertname", "A", "@owner", "cart", "suffix", ""),
			`rule "render": cannot render target.namespace: <.Labels.namespace>: map has no entry for key "namespace"`, "namespace"},
		{"missing annotation", alert("alertname", "A", "namespace", "shop", "suffix", ""),
			`rule "render": cannot render target.name: <.Annotations.owner>: map has no entry for key "owner"`, "name"},
		{"empty result", alert("alertname", "A", "namespace", "  ", "@owner", "cart", "suffix", ""),
			`rule "render": cannot render target.namespace: rendered to an empty string`, "namespace"},
		{"invalid name", alert("alertname", "A", "namespace", "shop", "@owner", "Bad_Name", "suffix", ""),
			`rule "render": cannot render target.name: "Bad_Name" is not a valid Kubernetes name: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`, "name"},
		{"namespace with a dot", alert("alertname", "A", "namespace", "shop.prod", "@owner", "cart", "suffix", ""),
			`rule "render": cannot render target.namespace: "shop.prod" is not a valid Kubernetes namespace: must not contain dots`, "namespace"},
		{"name too long", alert("alertname", "A", "namespace", "shop", "@owner", long, "suffix", ""),
			`rule "render": cannot render target.name: "` + long[:64] + `"... (300 characters) is not a valid Kubernetes name: must be no more than 253 characters`, "name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := s.Match(tc.alert)
			if len(ms) != 1 {
				t.Fatalf("got %d matches, want 1", len(ms))
			}
			m := ms[0]
			if tc.field == "" {
				if m.Err != nil || m.Target.String() != tc.want {
					t.Fatalf("got %s, %v; want %s", m.Target, m.Err, tc.want)
				}
				return
			}
			var re *RenderError
			if !errors.As(m.Err, &re) {
				t.Fatalf("got error %v (%T), want a *RenderError", m.Err, m.Err)
			}
			if re.Rule != "render" || re.Field != tc.field || m.Err.Error() != tc.want {
				t.Errorf("got %+v\n%s\nwant field %s\n%s", re, m.Err, tc.field, tc.want)
			}
			if m.Target != (v1alpha1.Target{}) {
				t.Errorf("got target %s along with an error", m.Target)
			}
		})
	}
}

func TestMatchRenderStartsAt(t *testing.T) {
	s := mustParse(t, `
rules:
  - name: dated
    match: ['alertname="A"']
    target: {kind: Deployment, namespace: shop, name: 'cart-{{ .StartsAt.Format "20060102" }}'}
    action: restart
`)
	a := alert("alertname", "A")
	a.StartsAt = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	if got := summary(s.Match(a)); !reflect.DeepEqual(got, []string{"dated Deployment/shop/cart-20261122"}) {
		t.Errorf("got %q", got)
	}
}

func TestMatchDoesNotModifyAlert(t *testing.T) {
	s := mustParse(t, matchRules)
	a := alert("alertname", "LatencyHigh", "namespace", "db", "statefulset", "pg", "team", "db", "@statefulset", "pg")
	before := alert("alertname", "LatencyHigh", "namespace", "db", "statefulset", "pg", "team", "db", "@statefulset", "pg")
	s.Match(a)
	if !reflect.DeepEqual(a, before) {
		t.Errorf("alert changed: %+v", a)
	}
}

func TestMatchNoMatchDoesNotAllocate(t *testing.T) {
	s := mustParse(t, matchRules)
	a := alert("alertname", "Watchdog", "severity", "info", "namespace", "shop")
	if n := testing.AllocsPerRun(100, func() { s.Match(a) }); n != 0 {
		t.Errorf("got %v allocations per Match without a match, want 0", n)
	}
}

// TestMatchAgreesWithScan checks the index against the definition: a scan
// of every rule in order.
func TestMatchAgreesWithScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"alertname", "severity", "team", "namespace"}
	values := []string{"a", "b", "c", ""}
	matcher := func() string {
		name, value := names[rng.IntN(len(names))], values[rng.IntN(len(values))]
		op := []string{"=", "=", "=", "!=", "=~", "!~"}[rng.IntN(6)]
		if op == "=~" || op == "!~" {
			value += "|" + values[rng.IntN(len(values))]
		}
		return fmt.Sprintf("'%s%s%q'", name, op, value)
	}
	var src strings.Builder
	src.WriteString("rules:\n")
	for i := range 300 {
		ms := []string{matcher()}
		for rng.IntN(2) == 0 {
			ms = append(ms, matcher())
		}
		fmt.Fprintf(&src, "  - {name: r%d, match: [%s], target: {kind: Deployment, namespace: ns, name: n}, action: restart, continue: %v}\n",
			i, strings.Join(ms, ", "), rng.IntN(4) != 0)
	}
	s := mustParse(t, src.String())
	if len(s.byLabel) < 2 || len(s.fallback) == 0 {
		t.Fatalf("test rules do not exercise the index: %d label names, %d fallback rules", len(s.byLabel), len(s.fallback))
	}
	scan := func(a *template.Alert) []string {
		var out []string
		for _, r := range s.Rules() {
			if r.Matches(a.Labels) {
				out = append(out, r.Name)
				if !r.Continue {
					break
				}
			}
		}
		return out
	}
	for range 2000 {
		a := alert()
		for _, n := range names {
			if v := values[rng.IntN(len(values))]; v != "" {
				a.Labels[n] = v
			}
		}
		var got []string
		for _, m := range s.Match(a) {
			got = append(got, m.Rule.Name)
		}
		if want := scan(a); !reflect.DeepEqual(got, want) {
			t.Fatalf("alert %v: got %v, want %v", a.Labels, got, want)
		}
	}
}

func TestMatchConcurrent(t *testing.T) {
	s := mustParse(t, matchRules)
	alerts := []*template.Alert{
		alert("alertname", "KubePodCrashLooping", "namespace", "shop", "deployment", "cart"),
		alert("alertname", "LatencyHigh", "namespace", "db", "statefulset", "pg", "team", "db", "@statefulset", "pg"),
		alert("alertname", "KubePodCrashLooping", "deployment", "cart"), // render error
		alert("alertname", "Watchdog"),
	}
	want := make([][]string, len(alerts))
	for i, a := range alerts {
		want[i] = summary(s.Match(a))
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				k := (g + i) % len(alerts)
				if got := summary(s.Match(alerts[k])); !reflect.DeepEqual(got, want[k]) {
					select {
					case errs <- fmt.Sprintf("alert %d: got %q, want %q", k, got, want[k]):
					default:
					}
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestTemplateLookupAgreesWithTextTemplate checks the shortcut for
// '{{ .Labels.x }}' against text/template itself.
func TestTemplateLookupAgreesWithTextTemplate(t *testing.T) {
	s := mustParse(t, `
rules:
  - name: fast
    match: ['alertname="A"']
    target: {kind: Deployment, namespace: '{{ .Labels.ns }}', name: '{{- .Annotations.owner -}}'}
    action: restart
  - name: slow
    match: ['alertname="A"']
    target: {kind: Deployment, namespace: '{{ .Labels.ns }}{{ "" }}', name: '{{ .Annotations.owner }}{{ "" }}'}
    action: restart
`)
	fast, slow := s.Rules()[0], s.Rules()[1]
	if fast.NamespaceTemplate.field != "Labels" || fast.NameTemplate.field != "Annotations" || slow.NamespaceTemplate.field != "" {
		t.Fatal("shortcut not taken where expected")
	}
	// The shortcut is all a rule keeps of such a template: a parsed
	// text/template is some 1 KB, two per rule, held for as long as the
	// rules are loaded.
	if fast.NamespaceTemplate.tmpl != nil || fast.NameTemplate.tmpl != nil || slow.NamespaceTemplate.tmpl == nil {
		t.Fatal("the shortcut keeps a parsed template, or the general case lost it")
	}
	for _, a := range []*template.Alert{
		alert("ns", "shop", "@owner", "cart"),
		alert("ns", " shop\n", "@owner", "  "),
		alert("@owner", "cart"),
		alert("ns", "shop"),
		{Labels: nil, Annotations: nil},
		nil,
	} {
		for _, tmpl := range [][2]*Template{{fast.NamespaceTemplate, slow.NamespaceTemplate}, {fast.NameTemplate, slow.NameTemplate}} {
			fv, ferr := tmpl[0].Execute(a)
			sv, serr := tmpl[1].Execute(a)
			if fv != sv || (ferr == nil) != (serr == nil) {
				t.Errorf("alert %+v: shortcut gives %q, %v; text/template gives %q, %v", a, fv, ferr, sv, serr)
			}
		}
		if a == nil {
			continue
		}
		_, ferr := fast.Target(a)
		_, serr := slow.Target(a)
		if fmt.Sprint(ferr) != strings.Replace(fmt.Sprint(serr), `"slow"`, `"fast"`, 1) {
			t.Errorf("alert %+v: shortcut error %v, text/template error %v", a, ferr, serr)
		}
	}
}

// TestExplainAgreesWithMatch: the verdicts that act are what Match returns,
// for the hand-written rules and for random ones.
func TestExplainAgreesWithMatch(t *testing.T) {
	s := mustParse(t, matchRules)
	rng := rand.New(rand.NewPCG(3, 4))
	names := []string{"alertname", "namespace", "severity", "team", "job", "deployment", "statefulset"}
	values := []string{"KubePodCrashLooping", "LatencyHigh", "shop", "payments", "info", "page", "db", "web", "batch-1", "cart", ""}
	acting := 0
	for range 3000 {
		a := alert("@statefulset", "db-0")
		for _, n := range names {
			if v := values[rng.IntN(len(values))]; v != "" {
				a.Labels[n] = v
			}
		}
		var got []Match
		verdicts := s.Explain(a)
		if len(verdicts) != s.Len() {
			t.Fatalf("got %d verdicts for %d rules", len(verdicts), s.Len())
		}
		for i, v := range verdicts {
			if v.Rule != s.rules[i] || len(v.Matchers) != len(v.Rule.Matchers) {
				t.Fatalf("verdict %d is not about rule %d: %+v", i, i, v)
			}
			holds := true
			for _, mv := range v.Matchers {
				holds = holds && mv.Holds
				if _, ok := a.Labels[mv.Matcher.Name]; ok != mv.Present || a.Labels[mv.Matcher.Name] != mv.Value {
					t.Fatalf("matcher verdict %+v for labels %v", mv, a.Labels)
				}
			}
			if holds != v.Matched || v.Matched != v.Rule.Matches(a.Labels) {
				t.Fatalf("rule %s: Matched %v, matchers say %v", v.Rule.Name, v.Matched, holds)
			}
			if v.Acts() {
				got = append(got, Match{Rule: v.Rule, Target: v.Target, Err: v.Err})
			}
		}
		want := s.Match(a)
		if summary(got) == nil && want == nil {
			continue
		}
		acting++
		if !reflect.DeepEqual(summary(got), summary(want)) {
			t.Fatalf("alert %v: Explain acts on %v, Match returns %v", a.Labels, summary(got), summary(want))
		}
	}
	if acting < 100 {
		t.Errorf("only %d of 3000 random alerts matched a rule", acting)
	}
}

func TestExplainStoppedBy(t *testing.T) {
	s := mustParse(t, matchRules)
	vs := s.Explain(alert("alertname", "LatencyHigh", "namespace", "db", "statefulset", "pg", "job", "api", "team", "db"))
	type row struct {
		name              string
		matched, reached  bool
		stoppedBy, target string
	}
	var got []row
	for _, v := range vs {
		r := row{name: v.Rule.Name, matched: v.Matched, reached: v.Reached}
		if v.StoppedBy != nil {
			r.stoppedBy = v.StoppedBy.Name
		}
		if v.Matched && v.Err == nil {
			r.target = v.Target.String()
		}
		got = append(got, r)
	}
	want := []row{
		{"crashloop-shop", false, true, "", ""},
		{"crashloop-any", false, true, "", ""},
		{"latency-log", true, true, "", ""}, // its target is an annotation this alert lacks
		{"not-info", true, true, "", "StatefulSet/db/pg-abc123"},
		{"latency-scale", true, true, "", "StatefulSet/db/pg"},
		{"latency-last", true, false, "latency-scale", "StatefulSet/db/never"},
		{"unowned", false, false, "latency-scale", ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if vs[2].Err == nil {
		t.Error("latency-log: want a render error for the missing annotation")
	}
	if (*Set)(nil).Explain(alert()) != nil || s.Explain(nil) != nil {
		t.Error("Explain on nil must return nil")
	}
}
