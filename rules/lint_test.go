package rules

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/alertmanager/template"
)

func TestRegexpValues(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want valueSet
	}{
		{"shop", valueSet{values: []string{"shop"}, finite: true}},
		{"shop|payments", valueSet{values: []string{"payments", "shop"}, finite: true}},
		{"(shop|pay)(-eu)?", valueSet{values: []string{"pay", "pay-eu", "shop", "shop-eu"}, finite: true}},
		{"node-[1-3]", valueSet{values: []string{"node-1", "node-2", "node-3"}, finite: true}},
		{"a{2,3}", valueSet{values: []string{"aa", "aaa"}, finite: true}},
		{"", valueSet{values: []string{""}, finite: true}},
		{`[^\x00-\x{10FFFF}]`, valueSet{values: []string{}, finite: true}},
		{".*", valueSet{all: true}},
		{"(?s:.*)", valueSet{all: true}},
		{"(.*)", valueSet{all: true}},
		{".+", valueSet{}},
		{"shop.*", valueSet{}},
		{"(?i)shop", valueSet{}},
		{"[a-z]", valueSet{}}, // 26 values: fine, but [a-z]{3} is not
		{"[a-z][a-z][a-z]", valueSet{}},
		{"^shop$", valueSet{}}, // anchors are not reasoned about
		{"(", valueSet{}},
	} {
		got := regexpValues(tc.expr)
		if tc.expr == "[a-z]" {
			if !got.finite || len(got.values) != 26 {
				t.Errorf("%q: got %+v, want the 26 letters", tc.expr, got)
			}
			continue
		}
		if got.all != tc.want.all || got.finite != tc.want.finite || !slices.Equal(got.values, tc.want.values) {
			t.Errorf("%q: got %+v, want %+v", tc.expr, got, tc.want)
		}
	}
}

func TestImplies(t *testing.T) {
	for _, tc := range []struct {
		have []string
		m    string
		want bool
	}{
		{[]string{`a="x"`}, `a="x"`, true},
		{[]string{`a="x"`}, `a="y"`, false},
		{[]string{`a="x"`}, `a=~"x|y"`, true},
		{[]string{`a=~"x|y"`}, `a=~"x|y|z"`, true},
		{[]string{`a=~"x|y"`}, `a="x"`, false},
		{[]string{`a=~"x|y"`}, `a!="z"`, true},
		{[]string{`a=~"x|y"`}, `a!~"z.*"`, true},
		{[]string{`a=~"x.*"`}, `a=~"x.*"`, true}, // the same matcher
		{[]string{`a=~"x.*"`}, `a=~"x.+"`, false},
		{[]string{`a!="x"`}, `a!="x"`, true},
		{[]string{`a!~"x|y"`}, `a!="x"`, true},
		{[]string{`a!="x"`}, `a!~"x|y"`, false},
		{[]string{`a=~".+"`}, `a!=""`, true},
		{[]string{}, `a=~".*"`, true},
		{[]string{}, `a!="x"`, false}, // the alert may have a="x"
		{[]string{}, `a=""`, false},
		{[]string{`b="x"`}, `a="x"`, false},
	} {
		var have labels.Matchers
		for _, s := range tc.have {
			have = append(have, mustMatchers(t, s)...)
		}
		m := mustMatchers(t, tc.m)[0]
		if got := newAnalysis().implies(have, m); got != tc.want {
			t.Errorf("%v implies %s: got %v, want %v", tc.have, tc.m, got, tc.want)
		}
	}
}

// The warnings must never be wrong: a rule reported as never matching must
// not match any alert, and a shadowed rule must never be returned by Match.
// Random rule files are held against every alert over a small alphabet of
// label values.
func TestWarningsAreSound(t *testing.T) {
	values := []string{"", "x", "y", "z", "shop", "payments", "kube-system", "shop-eu"}
	names := []string{"alertname", "namespace", "team"}
	ops := []string{"=", "!=", "=~", "!~"}
	regexps := []string{"x|y", "shop.*", ".*", ".+", "shop|payments", "(shop|payments)(-eu)?", "[xy]", "z?"}
	rng := rand.New(rand.NewPCG(1, 2))
	nevers, shadows := 0, 0
	if len(names) != 3 {
		t.Fatal("the alert loop below enumerates three labels")
	}
	for round := range 300 {
		var src strings.Builder
		src.WriteString("rules:\n")
		n := 2 + rng.IntN(5)
		for i := range n {
			var ms []string
			for range 1 + rng.IntN(3) {
				name, op := names[rng.IntN(len(names))], ops[rng.IntN(len(ops))]
				v := values[rng.IntN(len(values))]
				if strings.Contains(op, "~") {
					v = regexps[rng.IntN(len(regexps))]
				}
				ms = append(ms, singleQuote(name+op+`"`+v+`"`))
			}
			cont := ""
			if rng.IntN(4) == 0 {
				cont = "\n    continue: true"
			}
			src.WriteString("  - name: r" + string(rune('a'+i)) + "\n    match: [" + strings.Join(ms, ", ") + "]\n" +
				"    target: {kind: Deployment, namespace: shop, name: cart}\n    action: restart" + cont + "\n")
		}
		s, err := Parse("random.yaml", []byte(src.String()))
		if err != nil {
			t.Fatalf("round %d:\n%s\n%v", round, src.String(), err)
		}
		never, shadowed := map[string]bool{}, map[string]bool{}
		for _, w := range s.Warnings() {
			name := w.Message[len(`rule "`):]
			name = name[:strings.IndexByte(name, '"')]
			switch {
			case strings.Contains(w.Message, "can never match"):
				never[name] = true
				nevers++
			case strings.Contains(w.Message, "never acts"):
				shadowed[name] = true
				shadows++
			}
		}
		// Every alert over the alphabet: len(values)^len(names) of them.
		all := s.Rules()
		for i := 0; i < len(values)*len(values)*len(values); i++ {
			a := &template.Alert{Status: "firing", Labels: template.KV{}}
			for j, name := range names {
				if v := values[i/pow(len(values), j)%len(values)]; v != "" {
					a.Labels[name] = v
				}
			}
			for _, r := range all {
				if never[r.Name] && r.Matches(a.Labels) {
					t.Fatalf("round %d: %s said to never match, but matches %v:\n%s", round, r.Name, a.Labels, src.String())
				}
			}
			for _, m := range s.Match(a) {
				if shadowed[m.Rule.Name] {
					t.Fatalf("round %d: %s said to be shadowed, but Match returns it for %v:\n%s", round, m.Rule.Name, a.Labels, src.String())
				}
			}
		}
	}
	// The test proves nothing unless the warnings were given.
	if nevers < 20 || shadows < 20 {
		t.Errorf("only %d never-match and %d shadow warnings in 300 random rule files", nevers, shadows)
	}
	t.Logf("%d never-match and %d shadow warnings checked", nevers, shadows)
}

func TestShadowAcrossFiles(t *testing.T) {
	s, err := LoadFiles("testdata/shadow")
	if err != nil {
		t.Fatal(err)
	}
	var got string
	for _, w := range s.Warnings() {
		got += w.String() + "\n"
	}
	golden(t, "shadow", got)
}

// A shadow warning must not hide errors, nor appear for rules that did not
// compile.
func TestShadowWithErrors(t *testing.T) {
	_, err := Parse("x.yaml", []byte(`rules:
  - name: first
    match: ['alertname="A"']
    target: {kind: Deployment, namespace: shop, name: cart}
    action: restart
  - name: second
    match: ['alertname="A"', 'x="y"']
    target: {kind: Deployment, namespace: shop, name: cart}
    action: restart
  - name: broken
    match: ['alertname="A"']
    target: {kind: Deployment, namespace: shop, name: cart}
    action: restart
    cooldwn: 5m
`))
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("got %v", err)
	}
	want := `x.yaml:7:12: warning: rule "second" never acts: rule "first" (x.yaml:2), match: ['alertname="A"'], matches every alert it matches and comes first without continue: true; move "second" above "first", add continue: true to "first", or remove "second"
x.yaml:14:5: unknown field "cooldwn" in rule "broken" (did you mean "cooldown"?)`
	if err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
}

// Shadow analysis compares rules with equality matchers only with rules
// that share one; thousands of them must still load fast (BenchmarkParse
// measures it) and find the one shadowed rule at the end.
func TestShadowManyRules(t *testing.T) {
	var src strings.Builder
	src.WriteString("rules:\n")
	for i := range 4000 {
		src.WriteString("  - {name: r" + strconv.Itoa(i) + ", match: ['alertname=\"A" + strconv.Itoa(i) + "\"', 'x!=\"y\"'], target: {kind: Deployment, namespace: a, name: b}, action: restart}\n")
	}
	src.WriteString("  - {name: last, match: ['alertname=\"A2000\"', 'x=\"z\"'], target: {kind: Deployment, namespace: a, name: b}, action: restart}\n")
	s, err := Parse("many.yaml", []byte(src.String()))
	if err != nil {
		t.Fatal(err)
	}
	w := s.Warnings()
	if len(w) != 1 || !strings.HasPrefix(w[0].Message, `rule "last" never acts: rule "r2000"`) {
		t.Errorf("got %v", w)
	}
}

func pow(b, e int) int {
	n := 1
	for range e {
		n *= b
	}
	return n
}
