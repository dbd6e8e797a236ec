package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const explainRules = "testdata/explain/rules.yaml"

// TestExplain compares what explain prints, rule by rule, with
// testdata/explain/NAME.golden.
func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		// First rule matches and stops evaluation; the rest are not reached.
		{"crashloop", []string{"--alert", `alertname="KubePodCrashLooping",namespace="shop",deployment="cart",pod="cart-7d9f"`}},
		// A matcher fails on a label the alert has, and on one it lacks.
		{"no-match", []string{"--alert", `{alertname="KubePodCrashLooping", namespace="kube-system"}`}},
		// continue: true lets the next rule act too; that one needs approval.
		{"continue-approval", []string{"--alert", `alertname="CheckoutLatencyHigh",namespace="shop",severity="critical"`}},
		// The target needs an annotation the alert does not have.
		{"render-error", []string{"--alert", `alertname="NodeAgentDown"`}},
		{"annotations", []string{"--alert", `alertname="NodeAgentDown"`, "--annotations", `daemonset="node-agent"`}},
		{"resolved", []string{"--alert", `alertname="KubePodCrashLooping",namespace="shop",deployment="cart"`, "--status", "resolved"}},
		// evict-pod of the alert's pod, then (continue) a run-job that waits.
		{"evict-and-job", []string{"--rules", "testdata/explain/actions.yaml", "--alert", `alertname="PodStuck",namespace="shop",pod="cart-7d9f-abcde"`}},
		{"sequence", []string{"--rules", "testdata/explain/sequence.yaml", "--alert", `alertname="BadRelease",namespace="shop",deployment="web"`}},
		// An Alertmanager notification with a firing and a resolved alert.
		{"payload", []string{"--payload", "testdata/explain/notification.json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"explain", "--rules", explainRules}, tc.args...)
			if tc.args[0] == "--rules" {
				args = append([]string{"explain"}, tc.args...)
			}
			code, stdout, stderr := cli(t, args...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			goldenFile(t, "testdata/explain/"+tc.name+".golden", stdout)
		})
	}
}

// Every mistake on the command line or in a payload gets an error that says
// what is wrong.
func TestExplainErrors(t *testing.T) {
	alert := `alertname="A"`
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no rules", []string{"--alert", alert}, 2, "explain: --rules is required"},
		{"no alert", []string{"--rules", explainRules}, 2, `explain: give the alert: --alert 'alertname="X",namespace="y"' or --payload FILE`},
		{"both", []string{"--rules", explainRules, "--alert", alert, "--payload", "x.json"}, 2, "explain: give --alert or --payload, not both"},
		{"status with payload", []string{"--rules", explainRules, "--payload", "x.json", "--status", "resolved"}, 2, "--annotations and --status go with --alert"},
		{"bad status", []string{"--rules", explainRules, "--alert", alert, "--status", "pending"}, 2, `explain: --status "pending": use firing or resolved`},
		{"argument", []string{"--rules", explainRules, "--alert", alert, "extra"}, 2, `explain: unexpected argument "extra"`},
		{"bad alert syntax", []string{"--rules", explainRules, "--alert", `alertname=="A"`}, 1, `alertmedic: explain: --alert "alertname==\"A\"": `},
		{"matcher not label", []string{"--rules", explainRules, "--alert", `alertname=~"A.*"`}, 1, `alertmedic: explain: --alert: alertname=~"A.*" is a matcher, not a label; an alert has values: write alertname="value"`},
		{"label twice", []string{"--rules", explainRules, "--alert", `a="1",a="2"`}, 1, "alertmedic: explain: --alert: label a is given twice"},
		{"empty alert", []string{"--rules", explainRules, "--alert", `{}`}, 1, "alertmedic: explain: --alert is empty"},
		{"missing payload", []string{"--rules", explainRules, "--payload", "testdata/explain/nope.json"}, 1, "alertmedic: explain: read payload: open testdata/explain/nope.json: no such file or directory"},
		// A payload is checked as the webhook checks it, with its messages.
		{"payload syntax", []string{"--rules", explainRules, "--payload", "testdata/explain/bad-syntax.json"}, 1,
			"alertmedic: explain: payload testdata/explain/bad-syntax.json: invalid JSON at byte offset 30: invalid character '}' looking for beginning of value"},
		{"payload type", []string{"--rules", explainRules, "--payload", "testdata/explain/bad-type.json"}, 1,
			"alertmedic: explain: payload testdata/explain/bad-type.json: invalid payload at byte offset 77: alerts[0].labels.alertname must be a string, got number"},
		{"payload version", []string{"--rules", explainRules, "--payload", "testdata/explain/bad-version.json"}, 1,
			`alertmedic: explain: payload testdata/explain/bad-version.json: unsupported payload version "3": alertmedic accepts Alertmanager's webhook payload version "4"`},
		{"payload status", []string{"--rules", explainRules, "--payload", "testdata/explain/bad-status.json"}, 1,
			`alertmedic: explain: payload testdata/explain/bad-status.json: invalid notification: status: required, must be "firing" or "resolved"; alerts[0].status: must be "firing" or "resolved", got "pending"`},
		{"payload empty", []string{"--rules", explainRules, "--payload", "testdata/explain/bad-empty.json"}, 1,
			"alertmedic: explain: payload testdata/explain/bad-empty.json: invalid notification: status: required, must be \"firing\" or \"resolved\"; alerts: must not be empty"},
		{"rules do not load", []string{"--rules", rulesTestdata + "bad-action.yaml", "--alert", alert}, 1,
			"alertmedic: explain: rules do not load (run alertmedic check):\n../../rules/testdata/bad-action.yaml:5:13: unknown action \"restrat\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := cli(t, append([]string{"explain"}, tc.args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.stderr) || stdout != "" {
				t.Errorf("got exit %d\nstdout: %s\nstderr: %s\nwant exit %d, stderr with %q", code, stdout, stderr, tc.code, tc.stderr)
			}
		})
	}
}

// A malformed payload gets, word for word, what Alertmanager would get from
// the webhook: the place in the body and what is wrong there, then nothing
// else.
func TestExplainMalformedPayload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notification.json")
	payload := `{"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "A"}, "startsAt": "yesterday"}]}`
	if err := os.WriteFile(path, []byte(payload), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := cli(t, "explain", "--rules", explainRules, "--payload", path)
	want := "alertmedic: explain: payload " + path + `: invalid payload: alerts[0].startsAt: parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"; timestamps must be RFC 3339 strings such as "2026-01-02T15:04:05Z"` + "\n"
	if code != 1 || stdout != "" || stderr != want {
		t.Errorf("exit %d\nstdout: %q\nstderr: %q\nwant exit 1, nothing on stdout, stderr %q", code, stdout, stderr, want)
	}
}
