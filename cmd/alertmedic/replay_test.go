package main

import (
	"net"
	"strings"
	"testing"
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
