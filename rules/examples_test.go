package rules

import (
	"os"
	"strings"
	"testing"

	"github.com/prometheus/alertmanager/template"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/policy"
)

// The rule files users copy from must load as shown.
func TestDocumentedExamplesLoad(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	i := strings.Index(text, "## Rule files")
	if i < 0 {
		t.Fatal(`README.md has no "## Rule files" section`)
	}
	block := text[i:]
	start := strings.Index(block, "```yaml\n")
	end := strings.Index(block[start+8:], "```")
	if start < 0 || end < 0 {
		t.Fatal("no yaml block in the README's rule section")
	}
	set, err := Parse("README.md", []byte(block[start+8:start+8+end]))
	if err != nil {
		t.Fatalf("README rule example:\n%v", err)
	}
	if set.Len() != 3 {
		t.Errorf("README example has %d rules, want 3", set.Len())
	}

	demo, err := LoadFiles("../examples/rules")
	if err != nil {
		t.Fatalf("examples/rules:\n%v", err)
	}
	a := &template.Alert{Status: "firing", Labels: template.KV{
		"alertname": "KubePodCrashLooping", "namespace": "shop", "deployment": "cart"}}
	m := demo.Match(a)
	if len(m) != 1 || m[0].Err != nil || m[0].Target != (v1alpha1.Target{Kind: "Deployment", Namespace: "shop", Name: "cart"}) {
		t.Errorf("examples/rules on a crash-looping shop/cart alert: %+v", m)
	}
}

// The sequence test docs/rules.md shows runs, and passes, against the
// starter library it names.
func TestDocumentedSequencePasses(t *testing.T) {
	doc, err := os.ReadFile("../docs/rules.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	i := strings.Index(text, "### Sequences")
	if i < 0 {
		t.Fatal(`docs/rules.md has no "### Sequences" section`)
	}
	block := text[i:]
	start := strings.Index(block, "```yaml\n")
	end := strings.Index(block[start+8:], "```")
	if start < 0 || end < 0 {
		t.Fatal("no yaml block in the Sequences section of docs/rules.md")
	}
	tf, err := ParseTestFile("../examples/rules/starter/tests/documented.yaml", []byte(block[start+8:start+8+end]))
	if err != nil {
		t.Fatalf("the documented sequence test:\n%v", err)
	}
	set, err := LoadFiles(tf.RuleFiles...)
	if err != nil {
		t.Fatal(err)
	}
	results := tf.Run(set, policy.Limits{})
	if len(results) == 0 {
		t.Fatal("the documented sequence test has no tests")
	}
	for _, r := range results {
		if len(r.Steps) == 0 || !r.Passed() {
			t.Errorf("documented test %q: %d notifications, passed %v", r.Case.Name, len(r.Steps), r.Passed())
		}
	}
}
