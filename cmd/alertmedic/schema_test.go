package main

import (
	"os"
	"testing"

	"github.com/alertmedic/alertmedic/rules"
)

// 'alertmedic schema' prints the committed docs/rules.schema.json (the
// rules package's TestSchemaCommitted keeps that file current).
func TestSchemaCommand(t *testing.T) {
	code, stdout, stderr := cli(t, "schema")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	if stdout != string(rules.Schema()) {
		t.Error("alertmedic schema does not print rules.Schema()")
	}
	committed, err := os.ReadFile("../../docs/rules.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if stdout != string(committed) {
		t.Error("docs/rules.schema.json is stale; regenerate it with: go run ./cmd/alertmedic schema > docs/rules.schema.json")
	}
	if code, _, stderr := cli(t, "schema", "extra"); code != 2 || stderr != "schema: unexpected argument \"extra\"\n" {
		t.Errorf("schema extra: exit %d, stderr %q", code, stderr)
	}
}
