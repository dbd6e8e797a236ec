package rules

import (
	"math/rand/v2"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/alertmedic/alertmedic/policy"
)

// TestProductionWarnings: what check --production-namespaces 'prod-*,payments'
// says of testdata/production, in testdata/production/warnings.golden. The
// rules there that must not be reported are below the comment in the file.
func TestProductionWarnings(t *testing.T) {
	set, err := LoadFiles("testdata/production")
	if err != nil {
		t.Fatal(err)
	}
	plain := set.Lint(LintOptions{})
	if !slices.Equal(plain, set.Warnings()) {
		t.Errorf("Lint without production namespaces differs from Warnings:\n%v\n%v", plain, set.Warnings())
	}
	ws := set.Lint(LintOptions{ProductionNamespaces: []string{"prod-*", "payments"}})
	var b strings.Builder
	reported := map[string]bool{}
	for _, w := range ws {
		b.WriteString(w.String() + "\n")
		if strings.Contains(w.Message, "production namespace") {
			name := strings.TrimPrefix(w.Message, `rule "`)
			reported[name[:strings.IndexByte(name, '"')]] = true
		}
	}
	golden(t, "production/warnings", b.String())
	for _, r := range set.Rules() {
		want := r.Line < 29 // the rules above the comment
		if reported[r.Name] != want {
			t.Errorf("rule %s (line %d): reported %v, want %v", r.Name, r.Line, reported[r.Name], want)
		}
	}
	for i := 1; i < len(ws); i++ {
		if ws[i].Line < ws[i-1].Line {
			t.Errorf("warnings out of order: %v before %v", ws[i-1], ws[i])
		}
	}
}

// The warning must never be wrong: a rule reported may act in a production
// namespace, and the namespace the message names proves it. Random rules
// over a small alphabet of namespaces and matchers are held against every
// value the label can take from that alphabet.
func TestProductionWarningsAreSound(t *testing.T) {
	values := []string{"shop", "payments", "prod-eu", "prod-x", "prod-1", "staging", "kube-system", "web"}
	matchers := []string{`="shop"`, `="payments"`, `="prod-eu"`, `=~"shop|payments"`, `=~"prod-.*"`, `=~"prod-[0-9]+"`,
		`=~"staging|web"`, `!="payments"`, `!~"prod-.*"`, `=~".*"`, `=~"(shop|prod)-eu"`}
	patterns := [][]string{{"prod-*"}, {"payments"}, {"prod-*", "payments"}, {"prod-?u"}, {"[ps]*"}}
	rng := rand.New(rand.NewPCG(3, 4))
	warned, quiet := 0, 0
	for round := range 400 {
		var ms []string
		for range 1 + rng.IntN(3) {
			ms = append(ms, singleQuote("namespace"+matchers[rng.IntN(len(matchers))]))
		}
		src := "rules:\n  - name: r\n    match: ['alertname=\"A\"', " + strings.Join(ms, ", ") + "]\n" +
			"    target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: cart}\n    action: restart\n"
		s, err := Parse("random.yaml", []byte(src))
		if err != nil {
			t.Fatalf("round %d:\n%s\n%v", round, src, err)
		}
		pats := patterns[rng.IntN(len(patterns))]
		r := s.Rules()[0]
		msg := productionRisk(newAnalysis(), r, pats)
		// The values from the alphabet the rule can act in, that are production.
		var possible []string
		for _, v := range values {
			if _, prod := policy.MatchNamespace(pats, v); prod && labelAccepts(r.Matchers, "namespace", v) {
				possible = append(possible, v)
			}
		}
		restricted := strings.Contains(src, `namespace="`) || strings.Contains(src, `namespace=~"`)
		switch {
		case msg != "":
			warned++
			// The message names a value; it must be production and accepted.
			_, after, ok := strings.Cut(msg, " label namespace be ")
			if !ok {
				t.Fatalf("round %d: the message names no value: %s", round, msg)
			}
			after = strings.TrimPrefix(after, "a production namespace such as ")
			named, _, _ := strings.Cut(after, ",")
			for _, v := range strings.Split(named, " or ") {
				if _, prod := policy.MatchNamespace(pats, v); !prod || !labelAccepts(r.Matchers, "namespace", v) {
					t.Fatalf("round %d, patterns %v: names %q, which is not a production namespace the rule can act in:\n%s\n%s", round, pats, v, src, msg)
				}
			}
		case restricted && len(possible) > 0 && finiteNamespace(r):
			t.Errorf("round %d, patterns %v: no warning, but the rule can act in %v:\n%s", round, pats, possible, src)
		default:
			quiet++
		}
	}
	if warned < 50 || quiet < 50 {
		t.Errorf("%d warned, %d quiet: the random rules do not exercise both", warned, quiet)
	}
}

// finiteNamespace reports whether a matcher of r restricts the namespace
// label to a finite list, where the warning must be complete.
func finiteNamespace(r *Rule) bool {
	an := newAnalysis()
	for _, m := range r.Matchers {
		if m.Name == "namespace" && an.accepted(m).finite {
			return true
		}
	}
	return false
}

func TestExamples(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		want    []string // some of the examples, each matching the pattern
	}{
		{"prod-*", []string{"prod-x", "prod-", "prod-1"}},
		{"payments", []string{"payments"}},
		{"team-?", []string{"team-x"}},
		{"[ps]*-eu", []string{"px-eu"}},
		{`a\*b`, []string{"a*b"}},
	} {
		got := examples([]string{tc.pattern})
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("examples(%q) = %q, want %q among them", tc.pattern, got, w)
			}
			if ok, _ := path.Match(tc.pattern, w); !ok {
				t.Errorf("%q does not match %q", w, tc.pattern)
			}
		}
	}
}
