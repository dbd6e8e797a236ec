package main

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// helpFlag is one flag as 'alertmedic serve --help' shows it.
type helpFlag struct {
	name, def, env, help string
}

var (
	helpLine    = regexp.MustCompile(`^  (?:-\w, |    )--(\[no-\])?([a-z0-9.-]+)(?:=(\S+))?(?: \.\.\.)?(?:\s+(.*))?$`)
	helpEnv     = regexp.MustCompile(`\s*\(\$([A-Z_]+)\)$`)
	placeholder = regexp.MustCompile(`^[A-Z][A-Z-]*$`)
)

// serveHelp runs 'alertmedic serve --help' and reads its flags back, in the
// order shown. Bool flags show no default: that one comes from the model.
func serveHelp(t *testing.T) []helpFlag {
	t.Helper()
	t.Setenv("COLUMNS", "80")
	code, stdout, stderr := cli(t, "serve", "--help")
	if code != 0 || stderr != "" {
		t.Fatalf("serve --help: exit %d, stderr %q", code, stderr)
	}
	bools := map[string]string{}
	for _, cmd := range newCLI(nil, nil).app.Model().Commands {
		if cmd.Name != "serve" {
			continue
		}
		for _, f := range cmd.Flags {
			if f.IsBoolFlag() {
				bools[f.Name] = "false"
				if len(f.Default) > 0 {
					bools[f.Name] = f.Default[0]
				}
			}
		}
	}
	var flags []helpFlag
	for _, line := range strings.Split(stdout, "\n") {
		m := helpLine.FindStringSubmatch(line)
		switch {
		case m != nil:
			f := helpFlag{name: m[2], help: m[4]}
			switch v := m[3]; {
			case m[1] != "":
				f.def = bools[f.name]
			case strings.HasPrefix(v, `"`):
				var err error
				if f.def, err = strconv.Unquote(v); err != nil {
					t.Fatalf("help line %q: default %s: %v", line, v, err)
				}
			case !placeholder.MatchString(v):
				f.def = v
			}
			flags = append(flags, f)
		case len(flags) > 0 && strings.HasPrefix(line, "      ") && strings.TrimSpace(line) != "":
			last := &flags[len(flags)-1]
			last.help = strings.TrimSpace(last.help + " " + strings.TrimSpace(line))
		}
	}
	for i := range flags {
		if m := helpEnv.FindStringSubmatch(flags[i].help); m != nil {
			flags[i].env = m[1]
			flags[i].help = strings.TrimSuffix(flags[i].help, m[0])
		}
	}
	return slices.DeleteFunc(flags, func(f helpFlag) bool { return f.name == "help" || f.name == "version" })
}

const readmeTableHeader = "| flag | default | env | meaning |"

// readmeTable returns the rows of README.md's table of serve's flags, and
// the lines of the README before and after it.
func readmeTable(t *testing.T) (rows map[string]helpFlag, order []string, before, after []string) {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	start := slices.Index(lines, readmeTableHeader)
	if start < 0 {
		t.Fatalf("README.md has no table of serve's flags (a line %q)", readmeTableHeader)
	}
	end := start + 2
	for end < len(lines) && strings.HasPrefix(lines[end], "|") {
		end++
	}
	rows = map[string]helpFlag{}
	cell := func(s string) string { return strings.Trim(strings.TrimSpace(s), "`") }
	for _, line := range lines[start+2 : end] {
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) != 4 {
			t.Fatalf("README.md flag table row %q: want 4 cells (flag, default, env, meaning)", line)
		}
		f := helpFlag{name: strings.TrimPrefix(cell(cells[0]), "--"), def: cell(cells[1]), env: strings.TrimPrefix(cell(cells[2]), "$"), help: strings.TrimSpace(cells[3])}
		if _, dup := rows[f.name]; dup {
			t.Errorf("README.md: --%s has two rows", f.name)
		}
		rows[f.name] = f
		order = append(order, f.name)
	}
	return rows, order, lines[:start], lines[end:]
}

// README.md's table of serve's flags lists every flag of 'alertmedic serve
// --help', and no other, with the same default and environment variable.
// 'go test ./cmd/alertmedic -run TestREADMEFlagTable -update' rewrites it
// from the help, keeping the meanings written in the README.
func TestREADMEFlagTable(t *testing.T) {
	help := serveHelp(t)
	if len(help) < 40 {
		t.Fatalf("read %d flags from serve --help; the parser of the help is broken", len(help))
	}
	rows, _, before, after := readmeTable(t)
	if *updateGolden {
		table := []string{readmeTableHeader, "| --- | --- | --- | --- |"}
		for _, f := range help {
			meaning := f.help
			if r, ok := rows[f.name]; ok && r.help != "" {
				meaning = r.help
			}
			table = append(table, fmt.Sprintf("| `--%s` | %s | %s | %s |", f.name, code(f.def), code(envRef(f.env)), meaning))
		}
		out := slices.Concat(before, table, after)
		if err := os.WriteFile("../../README.md", []byte(strings.Join(out, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	seen := map[string]bool{}
	for _, f := range help {
		seen[f.name] = true
		r, ok := rows[f.name]
		if !ok {
			t.Errorf("README.md: --%s (default %q, env %q) is missing from the flag table", f.name, f.def, f.env)
			continue
		}
		if r.def != f.def {
			t.Errorf("README.md: --%s has default %q in the table, %q in serve --help", f.name, r.def, f.def)
		}
		if r.env != f.env {
			t.Errorf("README.md: --%s has env %q in the table, %q in serve --help", f.name, r.env, f.env)
		}
	}
	for name := range rows {
		if !seen[name] {
			t.Errorf("README.md: the flag table has --%s, which serve --help does not", name)
		}
	}
}

func code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + s + "`"
}

func envRef(name string) string {
	if name == "" {
		return ""
	}
	return "$" + name
}
