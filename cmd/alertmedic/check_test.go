package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/*/*.golden from the current output")

// cli runs alertmedic with args, in process, and returns its exit code and
// output.
func cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// goldenFile compares got with path, or rewrites it with -update.
func goldenFile(t *testing.T, path, got string) {
	t.Helper()
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/alertmedic -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("output differs from %s (rerun with -update if the change is intended)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

const rulesTestdata = "../../rules/testdata/"

// TestCheckEachMistake runs check on each broken (and each warning) rule
// file of the rules package, one kind of mistake per file, and wants
// exactly the report the rules package's golden files hold: every problem,
// as file:line:col: message.
func TestCheckEachMistake(t *testing.T) {
	files, err := filepath.Glob(rulesTestdata + "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		bad, warn := strings.HasPrefix(name, "bad-"), strings.HasPrefix(name, "warn-")
		if !bad && !warn {
			continue
		}
		n++
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := cli(t, "check", path)
			want, err := os.ReadFile(rulesTestdata + name + ".golden")
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.ReplaceAll(stdout, rulesTestdata, "testdata/"); got != string(want) {
				t.Errorf("check %s:\n%s\nwant (%s.golden):\n%s", path, got, name, want)
			}
			switch {
			case bad && (code != 1 || !strings.HasPrefix(stderr, "alertmedic: check failed: ")):
				t.Errorf("exit %d, stderr %q; want 1 and the count of errors", code, stderr)
			case warn && (code != 0 || !strings.HasPrefix(stderr, "check: ok: ")):
				t.Errorf("exit %d, stderr %q; want 0: warnings do not fail without --strict", code, stderr)
			}
			if warn {
				if code, _, stderr := cli(t, "check", "--strict", path); code != 1 || !strings.Contains(stderr, "(--strict fails on warnings)") {
					t.Errorf("--strict: exit %d, stderr %q; want 1", code, stderr)
				}
			}
		})
	}
	if n < 20 {
		t.Errorf("only %d broken or warning files in %s", n, rulesTestdata)
	}
}

// TestCheckDirectory checks the whole directory of broken files at once, as
// CI does with a rules folder, in each output format.
func TestCheckDirectory(t *testing.T) {
	for _, format := range []string{"text", "json", "github"} {
		t.Run(format, func(t *testing.T) {
			code, stdout, stderr := cli(t, "check", "--format", format, rulesTestdata)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			goldenFile(t, "testdata/check/dir."+format+".golden", stdout+"stderr: "+stderr)
			if format == "json" {
				var r checkReport
				if err := json.Unmarshal([]byte(stdout), &r); err != nil {
					t.Fatalf("not JSON: %v", err)
				}
				if r.Errors == 0 || r.Warnings == 0 || len(r.Problems) != r.Errors+r.Warnings {
					t.Errorf("report counts: %+v problems, %d errors, %d warnings", len(r.Problems), r.Errors, r.Warnings)
				}
			}
		})
	}
}

func TestCheckExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string // exact, when not "*"
		stderr string // a part
	}{
		{"clean file", []string{"check", rulesTestdata + "valid.yaml"}, 0, "", "check: ok: 4 rules, 0 warnings"},
		{"flags after paths", []string{"check", rulesTestdata + "valid.yaml", "--strict", "--format", "json"}, 0,
			"{\n  \"problems\": [],\n  \"rules\": 4,\n  \"errors\": 0,\n  \"warnings\": 0\n}\n", "check: ok"},
		{"warnings pass", []string{"check", rulesTestdata + "warn-risky.yaml"}, 0, "*", "check: ok: 3 rules, 4 warnings"},
		{"strict fails on warnings", []string{"check", "--strict", rulesTestdata + "warn-risky.yaml"}, 1, "*", "alertmedic: check failed: 3 rules, 4 warnings (--strict fails on warnings)"},
		{"missing file", []string{"check", "nope.yaml"}, 1, "nope.yaml: cannot read rules: no such file or directory\n", "1 error"},
		{"empty directory", []string{"check", t.TempDir()}, 1, "*", "alertmedic: check failed: 1 error, 0 warnings"},
		{"no paths", []string{"check"}, 2, "", "check: give the rule files or directories to check"},
		{"unknown format", []string{"check", "--format", "xml", "x.yaml"}, 2, "", `check: unknown --format "xml": use text, json or github`},
		{"unknown flag", []string{"check", "--stict", "x.yaml"}, 2, "", "alertmedic: error: unknown long flag '--stict', try --help"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := cli(t, tc.args...)
			if code != tc.code || tc.stdout != "*" && stdout != tc.stdout || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("got exit %d\nstdout: %q\nstderr: %q\nwant exit %d, stdout %q, stderr with %q", code, stdout, stderr, tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}

func TestGithubAnnotation(t *testing.T) {
	code, stdout, _ := cli(t, "check", "--format", "github", rulesTestdata+"bad-yaml-syntax.yaml", rulesTestdata+"warn-empty.yaml")
	want := "::error file=../../rules/testdata/bad-yaml-syntax.yaml,line=3,title=alertmedic check::"
	if code != 1 || !strings.HasPrefix(stdout, want) {
		t.Errorf("exit %d:\n%s\nwant a line starting %s", code, stdout, want)
	}
	if got := githubEscape("a,b:c%d\ne", true); got != "a%2Cb%3Ac%25d%0Ae" {
		t.Errorf("property escape: %q", got)
	}
	if got := githubEscape("a,b:c%d\r\ne", false); got != "a,b:c%25d%0D%0Ae" {
		t.Errorf("message escape: %q", got)
	}
}

// check --production-namespaces warns of actions without approval in the
// namespaces the policy calls production, at their target.namespace; the
// output is in testdata/check/production.golden.
func TestCheckProductionNamespaces(t *testing.T) {
	dir := rulesTestdata + "production/"
	code, stdout, stderr := cli(t, "check", "--production-namespaces", "prod-*,payments", dir)
	if code != 0 {
		t.Errorf("exit %d, want 0: warnings do not fail without --strict", code)
	}
	goldenFile(t, "testdata/check/production.golden", stdout+"stderr: "+stderr)

	// The flag repeats, and comes after the paths too.
	if _, again, _ := cli(t, "check", dir, "--production-namespaces", "prod-*", "--production-namespaces", "payments"); again != stdout {
		t.Errorf("repeated flag:\n%s\nwant\n%s", again, stdout)
	}
	if code, _, stderr := cli(t, "check", "--strict", "--production-namespaces", "prod-*,payments", dir); code != 1 || !strings.Contains(stderr, "13 rules, 8 warnings (--strict fails on warnings)") {
		t.Errorf("--strict: exit %d, stderr %q; want 1 and 8 warnings", code, stderr)
	}
	// Without the flag, only the rollback warning remains.
	code, stdout, stderr = cli(t, "check", dir)
	if code != 0 || strings.Count(stdout, "\n") != 1 || strings.Contains(stdout, "production namespace") || !strings.Contains(stderr, "1 warning") {
		t.Errorf("without --production-namespaces: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, _ = cli(t, "check", "--format", "json", "--production-namespaces", "payments", dir)
	var r checkReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || code != 0 {
		t.Fatalf("json: exit %d, %v", code, err)
	}
	var prod []checkProblem
	for _, p := range r.Problems {
		if strings.Contains(p.Message, "production namespace") {
			prod = append(prod, p)
		}
	}
	if len(prod) != 2 || prod[0].Line != 6 || prod[0].Column != 43 || prod[1].Line != 15 || prod[1].Severity != "warning" {
		t.Errorf("--production-namespaces payments: %+v, want restart-ledger (6:43) and restart-listed (15:43)", prod)
	}
	if code, _, stderr := cli(t, "check", "--production-namespaces", "prod-[eu", dir); code != 2 ||
		!strings.Contains(stderr, `check: --production-namespaces: namespace pattern "prod-[eu": syntax error in pattern`) {
		t.Errorf("bad pattern: exit %d, stderr %q", code, stderr)
	}
}
