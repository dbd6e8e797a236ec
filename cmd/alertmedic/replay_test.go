package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alertmedic/alertmedic/internal/testprometheus"
)

// Each mistake on replay's command line is a usage error (exit 2) that
// says what to give instead; a Prometheus that cannot be reached is a
// failure (exit 1) that names it.
func TestReplayErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	rulesFile := "../../examples/rules/demo.yaml"
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no prometheus", []string{"--rules", rulesFile}, 2, "replay: --prometheus is required"},
		{"no rules", []string{"--prometheus", "http://p:9090"}, 2, "replay: --rules is required"},
		{"not a URL", []string{"--prometheus", "prometheus:9090", "--rules", rulesFile}, 2, `--prometheus "prometheus:9090" is not an http(s) URL`},
		{"bad since", []string{"--prometheus", "http://p:9090", "--rules", rulesFile, "--since", "last week"}, 2, `--since "last week" is neither a duration`},
		{"since after until", []string{"--prometheus", "http://p:9090", "--rules", rulesFile, "--since", "2026-01-02T00:00:00Z", "--until", "2026-01-01T00:00:00Z"}, 2, "must be before --until"},
		{"zero step", []string{"--prometheus", "http://p:9090", "--rules", rulesFile, "--step", "0s"}, 2, "--step must be above 0"},
		{"bad format", []string{"--prometheus", "http://p:9090", "--rules", rulesFile, "--format", "html"}, 2, "enum value must be one of text,json,markdown,github"},
		{"bad namespace pattern", []string{"--prometheus", "http://p:9090", "--rules", rulesFile, "--allow-namespaces", "prod-["}, 2, "replay:"},
		{"rules do not load", []string{"--prometheus", "http://p:9090", "--rules", "no-such-rules.yaml"}, 1, "replay: rules do not load"},
		{"prometheus down", []string{"--prometheus", closed, "--rules", rulesFile}, 1, "replay: query ALERTS{alertstate=\"firing\"}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := cli(t, append([]string{"replay"}, tc.args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tc.code, tc.want)
			}
		})
	}
}

// The command, run as a user would in CI, against a real Prometheus that
// holds two crash loops of one Deployment, 20 minutes apart: with a 30m
// cooldown the first would run and the second be skipped; --diff against
// rules without the cooldown says the change stops one action.
func TestReplayCommand(t *testing.T) {
	start := time.Now().UTC().Truncate(time.Hour).Add(-48 * time.Hour)
	var b strings.Builder
	b.WriteString("# HELP ALERTS Alerts.\n# TYPE ALERTS gauge\n")
	for _, from := range []time.Time{start.Add(10 * time.Hour), start.Add(10*time.Hour + 20*time.Minute)} {
		for m := range 10 {
			fmt.Fprintf(&b, "ALERTS{alertname=\"KubePodCrashLooping\",alertstate=\"firing\",deployment=\"cart\",namespace=\"shop\"} 1 %d\n",
				from.Add(time.Duration(m)*time.Minute).Unix())
		}
	}
	b.WriteString("# EOF\n")
	dir := t.TempDir()
	prom, err := testprometheus.Start(t.Context(), dir, testprometheus.Options{OpenMetrics: []byte(b.String())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prom.Stop() })
	write := func(name, cooldown string) string {
		p := filepath.Join(dir, name)
		text := "rules:\n  - name: restart-crashlooping\n    match: ['alertname=\"KubePodCrashLooping\"']\n" +
			"    target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.deployment }}'}\n    action: restart\n" + cooldown
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	newRules, oldRules := write("new.yaml", "    cooldown: 30m\n"), write("old.yaml", "")
	args := []string{"replay", "--prometheus", prom.URL, "--rules", newRules, "--since", start.Format(time.RFC3339), "--until", start.Add(24 * time.Hour).Format(time.RFC3339)}

	code, out, stderr := cli(t, append(args, "--format", "json")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		Episodes int `json:"episodes"`
		Rules    []struct {
			Rule    string         `json:"rule"`
			Matched int            `json:"matched"`
			Run     int            `json:"run"`
			Skipped map[string]int `json:"skipped"`
		} `json:"rules"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("json output: %v\n%s", err, out)
	}
	if res.Episodes != 2 || len(res.Rules) != 1 || res.Rules[0].Matched != 2 || res.Rules[0].Run != 1 || res.Rules[0].Skipped["Cooldown"] != 1 {
		t.Errorf("replay = %+v, want 2 episodes: 1 run, 1 skipped by the cooldown", res)
	}
	code, out, stderr = cli(t, append(args, "--diff", oldRules, "--format", "markdown")...)
	if code != 0 || !strings.Contains(out, "| `restart-crashlooping` | 2 | 2 → 1 | Cooldown 0 → 1 |") {
		t.Errorf("--diff: exit %d, stderr %s\n%s", code, stderr, out)
	}
}
