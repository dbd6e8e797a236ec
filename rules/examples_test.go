package rules

import (
	"os"
	"strings"
	"testing"

	"github.com/prometheus/alertmanager/template"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
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
