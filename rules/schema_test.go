package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const committedSchema = "../docs/rules.schema.json"

// TestSchemaCommitted fails when docs/rules.schema.json is not what the
// code generates. Refresh it with
//
//	go run ./cmd/alertmedic schema > docs/rules.schema.json
//
// (or go test ./rules -run TestSchemaCommitted -update).
func TestSchemaCommitted(t *testing.T) {
	got := Schema()
	if *update {
		if err := os.WriteFile(committedSchema, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(committedSchema)
	if err != nil {
		t.Fatalf("%v: generate it with: go run ./cmd/alertmedic schema > docs/rules.schema.json", err)
	}
	if string(got) != string(want) {
		t.Errorf("docs/rules.schema.json is stale; regenerate it with: go run ./cmd/alertmedic schema > docs/rules.schema.json")
	}
	var v any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
}

// Every field of the YAML shapes is documented, and nothing else is.
func TestSchemaDocumentsEveryField(t *testing.T) {
	paths := schemaPaths()
	fields := schemaFields()
	for p := range fields {
		// A definition's own entry overrides the rule field it shares.
		if rest, ok := cutDefinition(p); ok {
			if def, _, _ := strings.Cut(p, "."); !slices.Contains(definitionKeys[def], strings.Split(rest, ".")[0]) || !slices.Contains(paths, "rules[]."+rest) {
				t.Errorf("%s documents a field the definition does not have", p)
			}
			delete(fields, p)
		}
	}
	if got, want := slices.Sorted(maps.Keys(fields)), slices.Sorted(slices.Values(paths)); !slices.Equal(got, want) {
		t.Errorf("schemaFields documents %v\nthe YAML shapes have %v", got, want)
	}
	for p, f := range fields {
		if f.doc == "" {
			t.Errorf("%s has no description", p)
		}
	}
}

// The properties at each level of the schema are the fields the decoder
// accepts there, as its "valid fields are ..." message lists them.
func TestSchemaFieldsAreTheDecoders(t *testing.T) {
	var s jsonSchema
	if err := json.Unmarshal(Schema(), &s); err != nil {
		t.Fatal(err)
	}
	rule := s.Properties["rules"].Items
	const base = "name: x\n    match: ['a=\"b\"']\n    target: {kind: Deployment, namespace: a, name: b}\n    action: restart\n"
	for _, tc := range []struct {
		level  string
		schema *jsonSchema
		src    string
	}{
		{"file", &s, "zzz: 1\n"},
		{"rule", rule, "rules:\n  - " + base + "    zzz: 1\n"},
		{"target", rule.Properties["target"], "rules:\n  - name: x\n    match: ['a=\"b\"']\n    target: {kind: Deployment, namespace: a, name: b, zzz: 1}\n    action: restart\n"},
		{"scale", rule.Properties["scale"], "rules:\n  - " + base + "    scale: {zzz: 1}\n"},
		{"rollback", rule.Properties["rollback"], "rules:\n  - " + base + "    rollback: {zzz: 1}\n"},
		{"approval", rule.Properties["approval"], "rules:\n  - " + base + "    approval: {zzz: 1}\n"},
		{"approvers", rule.Properties["approval"].Properties["approvers"], "rules:\n  - " + base + "    approval: {approvers: {zzz: 1}}\n"},
		{"onFailure", s.Definitions["step"], "rules:\n  - " + base + "    onFailure: {action: rollback, zzz: 1}\n"},
	} {
		_, err := Parse("probe.yaml", []byte(tc.src))
		var le *LoadError
		if !errors.As(err, &le) {
			t.Fatalf("%s: got %v", tc.level, err)
		}
		var accepted []string
		for _, p := range le.Problems {
			if _, list, ok := strings.Cut(p.Message, "valid fields are "); ok && strings.Contains(p.Message, `"zzz"`) {
				accepted = strings.Split(list, ", ")
			}
		}
		if accepted == nil {
			t.Fatalf("%s: no unknown-field report in %v", tc.level, err)
		}
		slices.Sort(accepted)
		if got := slices.Sorted(maps.Keys(tc.schema.Properties)); !slices.Equal(got, accepted) {
			t.Errorf("%s: schema has %v, the decoder accepts %v", tc.level, got, accepted)
		}
	}
}

// TestSchemaValidates holds rule files against the schema, as an editor
// would: the files that load must validate, and the mistakes a schema can
// express must not.
func TestSchemaValidates(t *testing.T) {
	var s jsonSchema
	if err := json.Unmarshal(Schema(), &s); err != nil {
		t.Fatal(err)
	}
	good, _ := filepath.Glob("testdata/warn-*.yaml")
	more, _ := filepath.Glob("../examples/rules/*.yaml")
	good = append(append(good, more...), "testdata/valid.yaml", "testdata/ok-merge-keys.yaml")
	starter, _ := filepath.Glob("../examples/rules/*/*.yaml")
	good = append(good, starter...)
	for _, path := range good {
		if strings.Contains(path, "warn-empty") || strings.Contains(path, "warn-no-rules") {
			continue // no rules list at all: a warning, not a rule file
		}
		if _, err := Parse(path, mustRead(t, path)); err != nil {
			continue // not a rule file (a test file in a library folder)
		}
		if errs := validateSchema(&s, yamlValue(t, path), "$"); len(errs) > 0 {
			t.Errorf("%s loads but fails the schema:\n  %s", path, strings.Join(errs, "\n  "))
		}
	}
	for _, tc := range []struct {
		file string
		want string // one of the schema errors
	}{
		{"bad-action.yaml", `$.rules[0].action: "restrat" is not one of [restart scale rollback evict-pod run-job sequence]`},
		{"bad-kind.yaml", `$.rules[0].target.kind: "deployment" is not one of [Deployment StatefulSet DaemonSet Pod CronJob]`},
		{"bad-name.yaml", `$.rules[0].name: "Restart_Pods" does not match`},
		{"bad-unknown-field.yaml", `unknown property`},
		{"bad-missing.yaml", `$.rules[0]: missing required property "name"`},
		{"rules:\n  - {name: x, match: 'a=\"b\"', target: {kind: Deployment, namespace: a, name: b}, action: restart}\n", `$.rules[0].match: want array`},
		{"rules:\n  - {name: x, match: ['a=\"b\"'], target: {kind: Deployment, namespace: a, name: b}, action: scale}\n", `$.rules[0]: missing required property "scale"`},
		{"rules:\n  - {name: x, match: ['a=\"b\"'], target: {kind: Deployment, namespace: a, name: b}, action: restart, cooldown: 30}\n", `$.rules[0].cooldown: want string`},
		{"rules:\n  - {name: x, match: ['a=\"b\"'], target: {kind: Deployment, namespace: a, name: b}, action: restart, approval: {approvers: {users: [bob]}}}\n", `$.rules[0].approval.approvers.users[0]: "bob" does not match`},
		{"bad-rollback.yaml", `$.rules[1]: must not have "rollback"`},
		{"bad-scale.yaml", `$.rules[2].scale.replicas: "double" does not match`},
		{"bad-rules-not-list.yaml", `$.rules: want array`},
		{"rules:\n  - {name: x, match: ['a=\"b\"'], target: {kind: Deployment, namespace: a, name: b}, action: restart, evict: {minAvailable: 1}}\n", `$.rules[0]: must not have "evict"`},
		{"rules:\n  - {name: x, match: ['a=\"b\"'], target: {kind: CronJob, namespace: a, name: b}, action: run-job, runJob: {wait: yes}}\n", `$.rules[0].runJob.wait: want boolean`},
		{"rules:\n  - {name: x, match: ['a=\"b\"'], target: {kind: Deployment, namespace: a, name: b}, action: restart, onFailure: {action: rollback, onFailure: {action: scale}}}\n", `$.rules[0].onFailure.onFailure: missing required property "scale"`},
		{"rules:\n  - {name: x, match: ['a=\"b\"'], target: {kind: Deployment, namespace: a, name: b}, action: restart, onFailure: {action: rollback, cooldown: 1h}}\n", `$.rules[0].onFailure: unknown property "cooldown"`},
		{"rules:\n  - {name: x, match: ['a=\"b\"'], target: {kind: Deployment, namespace: a, name: b}, action: restart, notify: loud}\n", `$.rules[0].notify: "loud" is not one of`},
	} {
		var v any
		if strings.Contains(tc.file, "\n") {
			if err := yaml.Unmarshal([]byte(tc.file), &v); err != nil {
				t.Fatal(err)
			}
		} else {
			v = yamlValue(t, "testdata/"+tc.file)
		}
		errs := validateSchema(&s, v, "$")
		if !slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, tc.want) }) {
			t.Errorf("%s: want an error with %q, got:\n  %s", tc.file, tc.want, strings.Join(errs, "\n  "))
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// yamlValue reads a YAML file as JSON sees it: maps, lists, strings,
// numbers and booleans.
func yamlValue(t *testing.T, path string) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(mustRead(t, path), &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// validateSchema checks v against the part of JSON Schema the rule file
// schema uses, and lists what fails.
func validateSchema(s *jsonSchema, v any, at string) []string { return validateIn(s, s, v, at) }

// validateIn checks v against s, part of the schema root, whose
// definitions a $ref names.
func validateIn(root, s *jsonSchema, v any, at string) []string {
	if name, ok := strings.CutPrefix(s.Ref, "#/definitions/"); ok {
		s = root.Definitions[name]
	}
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, at+": "+fmt.Sprintf(format, args...)) }
	if s.Type != nil && !hasType(s.Type, v) {
		fail("want %v, got %T", s.Type, v)
		return errs
	}
	if s.Const != "" && v != s.Const {
		fail("want %q", s.Const)
	}
	if str, ok := v.(string); ok {
		if s.Enum != nil && !slices.Contains(s.Enum, str) {
			fail("%q is not one of %v", str, s.Enum)
		}
		if s.Pattern != "" && !regexp.MustCompile(s.Pattern).MatchString(str) {
			fail("%q does not match %s", str, s.Pattern)
		}
		if s.MinLength != nil && len([]rune(str)) < *s.MinLength || s.MaxLength != nil && len([]rune(str)) > *s.MaxLength {
			fail("%q has the wrong length", str)
		}
	}
	if n, ok := v.(int); ok {
		if s.Minimum != nil && int64(n) < *s.Minimum || s.Maximum != nil && int64(n) > *s.Maximum {
			fail("%d is out of range", n)
		}
	}
	if list, ok := v.([]any); ok {
		if s.MinItems != nil && len(list) < *s.MinItems {
			fail("fewer than %d items", *s.MinItems)
		}
		for i, item := range list {
			if s.Items != nil {
				errs = append(errs, validateIn(root, s.Items, item, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
	}
	if m, ok := v.(map[string]any); ok {
		for _, r := range s.Required {
			if _, ok := m[r]; !ok {
				fail("missing required property %q", r)
			}
		}
		keys := slices.Collect(maps.Keys(m))
		sort.Strings(keys)
		for _, k := range keys {
			p, ok := s.Properties[k]
			switch {
			case ok:
				errs = append(errs, validateIn(root, p, m[k], at+"."+k)...)
			case s.AdditionalProperties != nil && !*s.AdditionalProperties:
				fail("unknown property %q", k)
			}
		}
	}
	for _, sub := range s.AllOf {
		errs = append(errs, validateIn(root, sub, v, at)...)
	}
	if s.If != nil {
		if len(validateIn(root, s.If, v, at)) == 0 {
			if s.Then != nil {
				errs = append(errs, validateIn(root, s.Then, v, at)...)
			}
		} else if s.Else != nil {
			if s.Else.Not != nil && len(validateIn(root, s.Else.Not, v, at)) == 0 {
				fail("must not have %q", s.Else.Not.Required[0])
			}
		}
	}
	return errs
}

func hasType(t any, v any) bool {
	var names []string
	switch t := t.(type) {
	case string:
		names = []string{t}
	case []any:
		for _, n := range t {
			names = append(names, n.(string))
		}
	}
	for _, n := range names {
		switch v.(type) {
		case string:
			if n == "string" {
				return true
			}
		case int:
			if n == "integer" {
				return true
			}
		case bool:
			if n == "boolean" {
				return true
			}
		case []any:
			if n == "array" {
				return true
			}
		case map[string]any:
			if n == "object" {
				return true
			}
		}
	}
	return false
}
