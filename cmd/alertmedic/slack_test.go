package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/chatops"
	"github.com/alertmedic/alertmedic/internal/testslack"
)

const slackSecret = "e2e-signing-secret"

// slackServe runs alertmedic serve with Slack approvals against ws.
func slackServe(t *testing.T, ws *testslack.Workspace, rulesPath string, extra ...string) *serving {
	t.Helper()
	dir := t.TempDir()
	botFile, secretFile := filepath.Join(dir, "bot-token"), filepath.Join(dir, "signing-secret")
	if err := os.WriteFile(botFile, []byte(testslack.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secretFile, []byte(slackSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--rules", rulesPath, "--slack-bot-token-file", botFile, "--slack-signing-secret-file", secretFile,
		"--slack-api-url", ws.GetAPIURL(), "--slack-channel", "C0OPS"}, extra...)
	return startServe(t, kubeconfig(t), args...)
}

// slackMessage waits for the one message in Slack and returns it.
func slackMessage(t *testing.T, ws *testslack.Workspace, cond func(string) bool) testslack.Message {
	t.Helper()
	var msg testslack.Message
	waitFor(t, "the Slack message", func() bool {
		ms := ws.Messages()
		if len(ms) > 1 {
			t.Fatalf("%d messages posted, want 1", len(ms))
		}
		if len(ms) == 1 && cond(string(ms[0].Blocks)) {
			msg = ms[0]
			return true
		}
		return false
	})
	return msg
}

func clickAs(t *testing.T, s *serving, user, action string, msg testslack.Message, rec string) int {
	t.Helper()
	c := testslack.Click{User: user, UserName: "someone", Channel: msg.Channel, TS: msg.TS, ActionID: action, Value: rec}
	resp, err := http.DefaultClient.Do(testslack.Request(t, s.url+"/slack/interactions", slackSecret, time.Now(), c.Body()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Alertmanager's notification -> approval request in Slack -> a signed
// click -> the restart, and the message says so.
func TestSlackApprovalThroughServe(t *testing.T) {
	ws := testslack.Start(t)
	work := deployments(t, 1)
	s := slackServe(t, ws, approvalRules(t))
	records := recordsNamespace(t)
	mustPost(t, s, notification(t, "{}:{}", crashLooping(work, "app-0", t0)))
	rec := pendingRecord(t, records)
	msg := slackMessage(t, ws, func(b string) bool { return strings.Contains(b, chatops.ActionApprove) })
	if msg.Channel != "C0123456" {
		t.Errorf("posted in %s, want the rule's channel C0123456", msg.Channel)
	}
	if code := clickAs(t, s, "U0123", chatops.ActionApprove, msg, rec.Name); code != http.StatusOK {
		t.Fatalf("click answered %d", code)
	}
	slackMessage(t, ws, func(b string) bool { return strings.Contains(b, "*Succeeded*") })
	if n := restartEvents(t, work, "app-0"); n != 1 {
		t.Errorf("restarts = %d, want 1", n)
	}
	// The endpoint is not behind the webhook's bearer token, and forged
	// clicks are refused there.
	req := testslack.Request(t, s.url+"/slack/interactions", "wrong-secret", time.Now(), "payload=%7B%7D")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("forged click answered %d, want 401", resp.StatusCode)
	}
}

// The alert resolves while the approval waits: the request is cancelled,
// the message says so without buttons, and a late click changes nothing.
func TestSlackResolvedAlertCancelsRequest(t *testing.T) {
	ws := testslack.Start(t)
	work := deployments(t, 1)
	s := slackServe(t, ws, approvalRules(t))
	records := recordsNamespace(t)
	a := crashLooping(work, "app-0", t0)
	mustPost(t, s, notification(t, "{}:{}", a))
	rec := pendingRecord(t, records)
	msg := slackMessage(t, ws, func(b string) bool { return strings.Contains(b, chatops.ActionApprove) })
	a.Status, a.EndsAt = "resolved", t0.Add(10*time.Minute)
	mustPost(t, s, notification(t, "{}:{}", a))
	slackMessage(t, ws, func(b string) bool {
		return strings.Contains(b, "the alert resolved before anyone approved") && !strings.Contains(b, chatops.ActionApprove)
	})
	clickAs(t, s, "U0123", chatops.ActionApprove, msg, rec.Name)
	waitFor(t, "the late clicker to be told", func() bool { return len(ws.Ephemerals()) == 1 })
	if eph := ws.Ephemerals()[0]; !strings.Contains(eph.Text, "cancelled") {
		t.Errorf("ephemeral = %+v", eph)
	}
	recs := recordsIn(t, records)
	if len(recs) != 1 || recs[0].Status.Phase != v1alpha1.PhaseCancelled {
		t.Errorf("records = %+v", recs)
	}
	if n := restartEvents(t, work, "app-0"); n != 0 {
		t.Errorf("restarts = %d, want 0", n)
	}
}

func TestSlackUsageErrors(t *testing.T) {
	rulesPath := approvalRules(t)
	dir := t.TempDir()
	bot := filepath.Join(dir, "bot")
	if err := os.WriteFile(bot, []byte("xoxb-1"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A flag combination that cannot work is a usage error (2); a token
	// file that cannot be read is a failure to start (1).
	for _, tc := range []struct {
		args []string
		want string
		code int
	}{
		{[]string{"--slack-channel", "C0OPS"}, "Slack is configured but has no bot token", 2},
		{[]string{"--slack-bot-token-file", bot}, "Slack buttons need a way back in", 2},
		{[]string{"--slack-bot-token-file", bot, "--slack-app-token-file", bot, "--slack-approvers", "alice"}, `--slack-approvers "alice": want Slack user ids`, 2},
		{[]string{"--slack-bot-token-file", filepath.Join(dir, "missing")}, "read --slack-bot-token-file", 1},
	} {
		args := append([]string{"serve", "--insecure-no-auth", "--kubeconfig", kubeconfig(t), "--rules", rulesPath, "--listen", "127.0.0.1:0"}, tc.args...)
		code, _, stderr := cliRun(args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("serve %v = %d, stderr %q; want %d and an error saying %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}
