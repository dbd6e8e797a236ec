package rules

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/alertmanager/template"
)

// benchSet has n rules with distinct alertnames (each also with a regex
// matcher), plus three rules without an equality matcher.
func benchSet(b *testing.B, n int) *Set {
	b.Helper()
	var src strings.Builder
	src.WriteString("rules:\n")
	for i := range n {
		fmt.Fprintf(&src, "  - name: rule-%d\n    match: ['alertname=\"Alert%d\"', 'namespace=~\"shop|payments\"']\n"+
			"    target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.deployment }}'}\n    action: restart\n", i, i)
	}
	for i := range 3 {
		fmt.Fprintf(&src, "  - name: catch-all-%d\n    match: ['severity=~\"page|critical\"', 'team!=\"sre\"']\n"+
			"    target: {kind: Deployment, namespace: ops, name: triage}\n    action: restart\n", i)
	}
	s, err := Parse("bench.yaml", []byte(src.String()))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkMatch matches a stream of alerts where one in ten matches a rule.
func BenchmarkMatch(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		s := benchSet(b, n)
		alerts := make([]*template.Alert, 100)
		for i := range alerts {
			name := fmt.Sprintf("Unrelated%d", i)
			if i%10 == 0 {
				name = fmt.Sprintf("Alert%d", i*7919%n)
			}
			alerts[i] = &template.Alert{Status: "firing", Fingerprint: "0123456789abcdef", Labels: template.KV{
				"alertname": name, "namespace": "shop", "deployment": "cart", "severity": "warning",
				"pod": "cart-5d8f7c9b4-x2x7q", "prometheus": "monitoring/k8s",
			}}
		}
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				s.Match(alerts[i%len(alerts)])
				i++
			}
		})
		b.Run(fmt.Sprintf("rules=%d/hit", n), func(b *testing.B) {
			b.ReportAllocs()
			a := alerts[10]
			for b.Loop() {
				s.Match(a)
			}
		})
		b.Run(fmt.Sprintf("rules=%d/miss", n), func(b *testing.B) {
			b.ReportAllocs()
			a := alerts[1]
			for b.Loop() {
				s.Match(a)
			}
		})
	}
}

// BenchmarkParse compiles a file of 1,000 rules.
func BenchmarkParse(b *testing.B) {
	var src strings.Builder
	src.WriteString("rules:\n")
	for i := range 1000 {
		fmt.Fprintf(&src, "  - name: rule-%d\n    match: ['alertname=\"Alert%d\"', 'namespace=~\"shop|payments\"']\n"+
			"    target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.deployment }}'}\n    action: scale\n"+
			"    scale: {replicas: \"+1\", max: 5}\n    cooldown: 30m\n", i, i)
	}
	data := []byte(src.String())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("bench.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}
