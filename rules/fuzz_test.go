package rules

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary files to Parse. It must never panic, and must
// return either a Set or a *LoadError with at least one error.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.yaml")
	more, _ := filepath.Glob("testdata/*/*.yaml")
	for _, path := range append(seeds, more...) {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(matchRules))
	f.Add([]byte("a: &a {<<: *a}\nrules: [*a]\n"))
	f.Add([]byte("rules:\n  - &r {name: x, <<: [*r, *r]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data)
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) || !hasErrors(le.Problems) || s != nil {
				t.Fatalf("got %v, %T", s, err)
			}
			return
		}
		for _, r := range s.Rules() {
			if r.NamespaceTemplate == nil || r.NameTemplate == nil || r.Kind == "" || r.Action == "" || len(r.Matchers) == 0 {
				t.Fatalf("incomplete rule compiled: %+v", r)
			}
			s.Match(alert("alertname", "A", "namespace", "shop"))
		}
	})
}
