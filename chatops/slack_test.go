package chatops

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine/approval"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/internal/testslack"
)

var alice = v1alpha1.ApprovalSpec{Channel: "C0SHOP", Users: []string{"U0ALICE"}}

// The whole path: the message is posted with the plan, an approver clicks
// Approve, the action runs once, and the message ends up saying so, without
// buttons.
func TestApproveInSlack(t *testing.T) {
	e, b, rec, msg := pendingRestart(t, alice)
	if msg.Channel != "C0SHOP" || !strings.Contains(string(msg.Blocks), "restartedAt=never") || !strings.Contains(string(msg.Blocks), ActionApprove) {
		t.Fatalf("approval message = %+v; want it in C0SHOP with the preview and the buttons", msg)
	}
	if e.restarts("web") != 0 {
		t.Fatal("restarted before anyone approved")
	}
	if code := e.click(b, approveBy("U0ALICE", msg, rec)); code != http.StatusOK {
		t.Fatalf("click answered %d, want 200", code)
	}
	waitFor(t, "the approved restart to finish", phaseIs(e, rec, v1alpha1.PhaseSucceeded))
	if st := e.get(rec).Status; st.DecidedBy != "slack:U0ALICE (alice)" || st.DecidedAt == nil {
		t.Errorf("status = %+v, want decided by slack:U0ALICE (alice)", st)
	}
	if n := e.restarts("web"); n != 1 {
		t.Errorf("restarts = %d, want 1", n)
	}
	waitFor(t, "the message to show the outcome", func() bool {
		m := e.message(rec)
		return strings.Contains(string(m.Blocks), "*Succeeded*") && strings.Contains(string(m.Blocks), "<@U0ALICE>")
	})
	if m := e.message(rec); strings.Contains(string(m.Blocks), ActionApprove) {
		t.Errorf("the buttons are still there once decided: %s", m.Blocks)
	}
	if got := interactions(b, "approved"); got != 1 {
		t.Errorf("approved interactions = %d, want 1", got)
	}
}

func TestDenyInSlack(t *testing.T) {
	e, b, rec, msg := pendingRestart(t, alice)
	c := approveBy("U0ALICE", msg, rec)
	c.ActionID = ActionDeny
	if code := e.click(b, c); code != http.StatusOK {
		t.Fatalf("click answered %d", code)
	}
	waitFor(t, "the record to be denied", phaseIs(e, rec, v1alpha1.PhaseDenied))
	waitFor(t, "the message to say denied", func() bool {
		m := string(e.message(rec).Blocks)
		return strings.Contains(m, "*Denied* by <@U0ALICE>") && !strings.Contains(m, ActionApprove)
	})
	// Approving after a denial changes nothing.
	e.click(b, approveBy("U0ALICE", msg, rec))
	waitFor(t, "the late clicker to be told", func() bool { return len(e.ws.Ephemerals()) == 1 })
	if eph := e.ws.Ephemerals()[0]; eph.User != "U0ALICE" || !strings.Contains(eph.Text, "Already denied by <@U0ALICE>") {
		t.Errorf("ephemeral = %+v", eph)
	}
	if e.restarts("web") != 0 || e.get(rec).Status.Phase != v1alpha1.PhaseDenied {
		t.Errorf("a denied restart ran")
	}
}

// Requests not signed by Slack with the app's secret, or signed too long
// ago, get 401 and change nothing; nothing about them reaches the record.
func TestForgedRequestsAreRefused(t *testing.T) {
	e, b, rec, msg := pendingRestart(t, alice)
	body := approveBy("U0ALICE", msg, rec).Body()
	now := time.Now()
	for _, tc := range []struct {
		name   string
		req    func() *http.Request
		code   int
		result string
	}{
		{"wrong secret", func() *http.Request { return testslack.Request(t, b.url, "not-the-secret", now, body) }, 401, "bad_signature"},
		{"body changed after signing", func() *http.Request {
			r := testslack.Request(t, b.url, secret, now, body)
			forged := strings.Replace(body, "U0ALICE", "U0MALLORY", 1)
			r2 := testslack.Request(t, b.url, secret, now, forged)
			r2.Header.Set("X-Slack-Signature", r.Header.Get("X-Slack-Signature"))
			return r2
		}, 401, "bad_signature"},
		{"no signature", func() *http.Request {
			r := testslack.Request(t, b.url, secret, now, body)
			r.Header.Del("X-Slack-Signature")
			return r
		}, 401, "bad_signature"},
		{"timestamp 6 minutes old", func() *http.Request { return testslack.Request(t, b.url, secret, now.Add(-6*time.Minute), body) }, 401, "stale_timestamp"},
		{"timestamp 6 minutes ahead", func() *http.Request { return testslack.Request(t, b.url, secret, now.Add(6*time.Minute), body) }, 401, "stale_timestamp"},
		{"signed but not an interaction", func() *http.Request { return testslack.Request(t, b.url, secret, now, "payload=%7Bnot+json") }, 400, "malformed"},
		{"signed without payload", func() *http.Request { return testslack.Request(t, b.url, secret, now, "foo=bar") }, 400, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := interactions(b, tc.result)
			if code := e.send(b, tc.req()); code != tc.code {
				t.Errorf("answered %d, want %d", code, tc.code)
			}
			if got := interactions(b, tc.result); got != before+1 {
				t.Errorf("%s count = %d, want %d", tc.result, got, before+1)
			}
		})
	}
	if st := e.get(rec).Status; st.Phase != v1alpha1.PhasePendingApproval || st.DecidedBy != "" {
		t.Errorf("forged requests changed the record: %+v", st)
	}
	if n := len(e.ws.Ephemerals()); n != 0 {
		t.Errorf("%d ephemeral messages sent in answer to forged requests", n)
	}
}

// Slack's signature is still valid when a captured request is sent again
// within five minutes; the approval is consumed once all the same.
func TestReplayedApprovalActsOnce(t *testing.T) {
	e, b, rec, msg := pendingRestart(t, alice)
	body := approveBy("U0ALICE", msg, rec).Body()
	signedAt := time.Now()
	for range 3 {
		if code := e.send(b, testslack.Request(t, b.url, secret, signedAt, body)); code != http.StatusOK {
			t.Fatalf("answered %d", code)
		}
	}
	waitFor(t, "the restart to finish", phaseIs(e, rec, v1alpha1.PhaseSucceeded))
	waitFor(t, "the replays to be answered", func() bool { return len(e.ws.Ephemerals()) == 2 })
	if n := e.restarts("web"); n != 1 {
		t.Errorf("restarts = %d, want 1", n)
	}
	if got := interactions(b, "already_decided"); got != 2 {
		t.Errorf("already_decided = %d, want 2", got)
	}
}

func TestUnauthorizedUserChangesNothing(t *testing.T) {
	e := newEnv(t)
	e.workload("web")
	b := e.start()
	rec := e.restartNeedingApproval("web", v1alpha1.ApprovalSpec{Channel: "C0SHOP", Users: []string{"U0ALICE"}, Groups: []string{"S0SRE"}})
	e.ws.SetGroup("S0SRE", "U0BOB")
	msg := e.posted(rec)
	e.click(b, approveBy("U0MALLORY", msg, rec))
	waitFor(t, "the clicker to be told", func() bool { return len(e.ws.Ephemerals()) == 1 })
	eph := e.ws.Ephemerals()[0]
	if eph.User != "U0MALLORY" || eph.Channel != "C0SHOP" ||
		eph.Text != "You are not allowed to approve or deny this remediation under the rules in force now; it may be decided by <@U0ALICE>, <!subteam^S0SRE>. Nothing was changed." {
		t.Errorf("ephemeral = %+v", eph)
	}
	if st := e.get(rec).Status; st.Phase != v1alpha1.PhasePendingApproval || st.DecidedBy != "" {
		t.Errorf("an unauthorised click changed the record: %+v", st)
	}
	if m := e.message(rec); m.Updates != 0 {
		t.Errorf("the message was updated %d times", m.Updates)
	}
	if got := interactions(b, "unauthorized"); got != 1 {
		t.Errorf("unauthorized = %d, want 1", got)
	}
}

// Members of an approver user group may decide; the group's members are
// read from Slack once and cached.
func TestUserGroupMemberMayApprove(t *testing.T) {
	e := newEnv(t)
	e.workload("web")
	e.workload("api")
	b := e.start()
	e.ws.SetGroup("S0SRE", "U0CAROL", "U0BOB")
	sre := v1alpha1.ApprovalSpec{Channel: "C0SHOP", Groups: []string{"S0SRE"}}
	first := e.restartNeedingApproval("web", sre)
	second := e.restartNeedingApproval("api", sre)
	e.click(b, approveBy("U0BOB", e.posted(first), first))
	e.click(b, approveBy("U0CAROL", e.posted(second), second))
	waitFor(t, "both restarts", func() bool {
		return e.get(first).Status.Phase == v1alpha1.PhaseSucceeded && e.get(second).Status.Phase == v1alpha1.PhaseSucceeded
	})
	if got := e.ws.Calls("usergroups.users.list"); got != 1 {
		t.Errorf("usergroups.users.list called %d times, want 1 (cached)", got)
	}
	if by := e.get(second).Status.DecidedBy; by != "slack:U0CAROL (carol)" {
		t.Errorf("decided by %q", by)
	}
}

// Fifty people clicking Approve at once: one execution; the forty-nine
// others are told who approved.
func TestFiftyConcurrentApprovalsActOnce(t *testing.T) {
	e := newEnv(t)
	e.workload("web")
	b := e.start()
	users := make([]string, 50)
	for i := range users {
		users[i] = "U0" + strings.ToUpper(string(rune('A'+i%26))) + strings.Repeat("X", i/26+1)
	}
	e.ws.SetGroup("S0ONCALL", users...)
	rec := e.restartNeedingApproval("web", v1alpha1.ApprovalSpec{Channel: "C0SHOP", Groups: []string{"S0ONCALL"}})
	msg := e.posted(rec)
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Go(func() {
			if code := e.click(b, approveBy(u, msg, rec)); code != http.StatusOK {
				t.Errorf("click by %s answered %d", u, code)
			}
		})
	}
	wg.Wait()
	waitFor(t, "the restart to finish", phaseIs(e, rec, v1alpha1.PhaseSucceeded))
	waitFor(t, "all clicks to be handled", func() bool { return interactions(b, "approved")+interactions(b, "already_decided") == 50 })
	if n := e.restarts("web"); n != 1 {
		t.Errorf("restarts = %d, want 1", n)
	}
	if a := interactions(b, "approved"); a != 1 {
		t.Errorf("approved = %d, want 1", a)
	}
	waitFor(t, "the 49 others to be told", func() bool { return len(e.ws.Ephemerals()) == 49 })
	decider := e.get(rec).Status.DecidedBy
	id, _, _ := strings.Cut(strings.TrimPrefix(decider, "slack:"), " ")
	for _, eph := range e.ws.Ephemerals() {
		if !strings.HasPrefix(eph.Text, "Already approved by <@"+id+">") || eph.User == id {
			t.Errorf("ephemeral = %+v, want it to name %s", eph, id)
		}
	}
}

func TestClickAfterExpiryChangesNothing(t *testing.T) {
	e, b, rec, msg := pendingRestart(t, v1alpha1.ApprovalSpec{Channel: "C0SHOP", Users: []string{"U0ALICE"}, Timeout: metav1.Duration{Duration: 3 * time.Second}})
	waitFor(t, "the request to expire", phaseIs(e, rec, v1alpha1.PhaseExpired))
	waitFor(t, "the message to say it expired", func() bool {
		m := string(e.message(rec).Blocks)
		return strings.Contains(m, "*Expired*") && !strings.Contains(m, ActionApprove)
	})
	e.click(b, approveBy("U0ALICE", msg, rec))
	waitFor(t, "the clicker to be told", func() bool { return len(e.ws.Ephemerals()) == 1 })
	if eph := e.ws.Ephemerals()[0]; !strings.Contains(eph.Text, "expired") {
		t.Errorf("ephemeral = %+v", eph)
	}
	if e.restarts("web") != 0 || e.get(rec).Status.Phase != v1alpha1.PhaseExpired {
		t.Errorf("an expired request ran")
	}
}

// The target changes between the request and the approval: the approved
// plan is stale and is not applied, and the message says why.
func TestTargetChangedWhilePending(t *testing.T) {
	e, b, rec, msg := pendingRestart(t, alice)
	d, err := cluster.Client.AppsV1().Deployments(e.ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Template.Spec.Containers[0].Image = "app:2"
	if _, err := cluster.Client.AppsV1().Deployments(e.ns).Update(t.Context(), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.click(b, approveBy("U0ALICE", msg, rec))
	waitFor(t, "the record to finish", func() bool { return e.get(rec).Status.Phase.Final() })
	if st := e.get(rec).Status; st.Phase != v1alpha1.PhaseSkipped || st.Reason != "TargetChanged" {
		t.Fatalf("status = %+v, want Skipped TargetChanged", st)
	}
	waitFor(t, "the message to say the plan was stale", func() bool {
		return strings.Contains(string(e.message(rec).Blocks), "the target changed after the plan was made")
	})
	if n := e.restarts("web"); n != 0 {
		t.Errorf("restarts = %d, want 0", n)
	}
}

// The replica that posted the message stops; a new one takes over the
// buttons: the click decides the record and the same message is updated.
func TestApprovalAfterBotRestart(t *testing.T) {
	e := newEnv(t)
	e.workload("web")
	first := e.start()
	rec := e.restartNeedingApproval("web", alice)
	msg := e.posted(rec)
	waitFor(t, "the record to name its message", func() bool {
		s := e.get(rec).Status.Slack
		return s != nil && s.TS == msg.TS && s.Channel == msg.Channel
	})
	first.stop()

	second := e.start()
	if code := e.click(second, approveBy("U0ALICE", msg, rec)); code != http.StatusOK {
		t.Fatalf("click answered %d", code)
	}
	waitFor(t, "the restart to finish", phaseIs(e, rec, v1alpha1.PhaseSucceeded))
	waitFor(t, "the message to be updated", func() bool { return strings.Contains(string(e.message(rec).Blocks), "*Succeeded*") })
	if n := len(e.ws.Messages()); n != 1 {
		t.Errorf("%d messages posted, want 1 (the restart posted again?)", n)
	}
	if n := e.restarts("web"); n != 1 {
		t.Errorf("restarts = %d, want 1", n)
	}
}

// Approving from a terminal updates the Slack message too.
func TestTerminalApprovalIsMirrored(t *testing.T) {
	e := newEnv(t)
	e.workload("web")
	e.start()
	rec := e.restartNeedingApproval("web", alice)
	e.posted(rec)
	if _, err := approval.Decide(t.Context(), e.records, kube.ObjectKeyFromObject(rec), true, "kubernetes:alice@example.com", time.Now()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the message to show the terminal approval", func() bool {
		m := string(e.message(rec).Blocks)
		return strings.Contains(m, "*Approved* by `kubernetes:alice@example.com`") && strings.Contains(m, "*Succeeded*")
	})
}

// Slack rate-limits and fails: the message is posted once it answers,
// waiting as long as Retry-After says.
func TestSlackFailuresAreRetried(t *testing.T) {
	e := newEnv(t)
	e.workload("web")
	b := e.start()
	e.ws.Fail("chat.postMessage", testslack.Failure{Status: 429, RetryAfter: 1}, testslack.Failure{Status: 503}, testslack.Failure{Status: 500})
	start := time.Now()
	rec := e.restartNeedingApproval("web", alice)
	e.posted(rec)
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("posted %s after a 429 with Retry-After: 1", waited)
	}
	if n := e.ws.Calls("chat.postMessage"); n != 4 {
		t.Errorf("chat.postMessage calls = %d, want 4", n)
	}
	if n := len(e.ws.Messages()); n != 1 {
		t.Errorf("messages = %d, want 1", n)
	}
	if r := testutil.ToFloat64(b.metrics.calls.WithLabelValues("chat.postMessage", "retried")); r != 3 {
		t.Errorf("retried = %v, want 3", r)
	}
}

// Slack refuses the message for good: the record says why, a metric
// counts it, and the approval can still be given from a terminal.
func TestUnpostableMessageIsRecorded(t *testing.T) {
	e := newEnv(t)
	e.workload("web")
	b := e.start()
	e.ws.Fail("chat.postMessage", testslack.Failure{Error: "not_in_channel"}, testslack.Failure{Error: "not_in_channel"}, testslack.Failure{Error: "not_in_channel"})
	rec := e.restartNeedingApproval("web", alice)
	waitFor(t, "the failure to be recorded", func() bool {
		s := e.get(rec).Status.Slack
		return s != nil && s.Failures == 1
	})
	st := e.get(rec).Status
	if !strings.Contains(st.Slack.Error, "not_in_channel") || !strings.Contains(st.Slack.Error, "/invite") || st.Slack.TS != "" {
		t.Errorf("status.slack = %+v", st.Slack)
	}
	if f := testutil.ToFloat64(b.metrics.failures.WithLabelValues("post")); f != 1 {
		t.Errorf("post failures = %v, want 1", f)
	}
	if st.Phase != v1alpha1.PhasePendingApproval {
		t.Fatalf("phase = %s", st.Phase)
	}
	if _, err := approval.Decide(t.Context(), e.records, kube.ObjectKeyFromObject(rec), true, "kubernetes:alice", time.Now()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the restart", phaseIs(e, rec, v1alpha1.PhaseSucceeded))
}

// An action the circuit breaker holds has no rule approvers: it goes to
// the default channel, and the default approvers decide.
func TestDefaultChannelAndApprovers(t *testing.T) {
	e, b, rec, msg := pendingRestart(t, v1alpha1.ApprovalSpec{}, func(o *Options) { o.DefaultApprovers = Approvers{Users: []string{"U0DEFAULT"}} })
	if msg.Channel != "C0OPS" {
		t.Errorf("posted in %s, want the default C0OPS", msg.Channel)
	}
	e.click(b, approveBy("U0DEFAULT", msg, rec))
	waitFor(t, "the restart", phaseIs(e, rec, v1alpha1.PhaseSucceeded))
}

// Clicks wait for nothing slow: the HTTP answer comes within AckWithin even
// when Slack's user group lookup hangs, and the decision follows.
func TestSlowWorkIsAnsweredInTime(t *testing.T) {
	e := newEnv(t)
	e.workload("web")
	b := e.start(func(o *Options) { o.AckWithin = 200 * time.Millisecond })
	e.ws.SetGroup("S0SRE", "U0BOB")
	// The lookup fails twice with a 1-second Retry-After: over two seconds.
	e.ws.Fail("usergroups.users.list", testslack.Failure{Status: 429, RetryAfter: 1}, testslack.Failure{Status: 429, RetryAfter: 1})
	rec := e.restartNeedingApproval("web", v1alpha1.ApprovalSpec{Channel: "C0SHOP", Groups: []string{"S0SRE"}})
	msg := e.posted(rec)
	start := time.Now()
	if code := e.click(b, approveBy("U0BOB", msg, rec)); code != http.StatusOK {
		t.Fatalf("answered %d", code)
	}
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("answered after %s; Slack gives up after 3s", took)
	}
	if e.get(rec).Status.Phase != v1alpha1.PhasePendingApproval {
		t.Fatalf("decided before the group lookup finished?")
	}
	waitFor(t, "the restart", phaseIs(e, rec, v1alpha1.PhaseSucceeded))
}
