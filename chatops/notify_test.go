package chatops

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/testslack"
)

// Which records get a first message, by their rule's notify and where
// they stand.
func TestPostable(t *testing.T) {
	now := t0.Add(time.Hour)
	ended := func(ago time.Duration) *metav1.Time { return &metav1.Time{Time: now.Add(-ago)} }
	for _, tc := range []struct {
		name   string
		notify v1alpha1.Notify
		st     v1alpha1.RemediationStatus
		want   bool
	}{
		{"new, not decided yet", "", v1alpha1.RemediationStatus{}, false},
		{"planned", "", v1alpha1.RemediationStatus{Phase: v1alpha1.PhasePending}, true},
		{"planned, notify all", v1alpha1.NotifyAll, v1alpha1.RemediationStatus{Phase: v1alpha1.PhasePending}, true},
		{"running", "", v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseRunning}, true},
		{"verifying", "", v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseVerifying}, true},
		{"succeeded just now", "", v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseSucceeded, FinishedAt: ended(time.Minute)}, true},
		{"succeeded an hour before it was seen", "", v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseSucceeded, FinishedAt: ended(time.Hour)}, false},
		{"skipped by policy", "", v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseSkipped, Reason: "CircuitOpen", FinishedAt: ended(0)}, false},
		{"skipped after it ran", "", v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseSkipped, Reason: "Paused", StartedAt: ended(0), FinishedAt: ended(0)}, true},
		{"failed by policy (cannot be done as written)", "", v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseFailed, FinishedAt: ended(0)}, true},
		{"waiting for approval, notify none", v1alpha1.NotifyNone, v1alpha1.RemediationStatus{Phase: v1alpha1.PhasePendingApproval}, true},
		{"waiting for approval, notify failures", v1alpha1.NotifyFailures, v1alpha1.RemediationStatus{Phase: v1alpha1.PhasePendingApproval}, true},
		{"running, notify none", v1alpha1.NotifyNone, v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseRunning}, false},
		{"failed, notify none", v1alpha1.NotifyNone, v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseFailed, FinishedAt: ended(0)}, false},
		{"running, notify failures", v1alpha1.NotifyFailures, v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseRunning}, false},
		{"verifying, notify failures", v1alpha1.NotifyFailures, v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseVerifying}, false},
		{"succeeded, notify failures", v1alpha1.NotifyFailures, v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseSucceeded, FinishedAt: ended(0)}, false},
		{"failed, notify failures", v1alpha1.NotifyFailures, v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseFailed, FinishedAt: ended(0)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := restartRecord()
			rec.CreationTimestamp = metav1.Time{Time: now.Add(-2 * time.Hour)}
			rec.Spec.Notify, rec.Status = tc.notify, tc.st
			if got := postable(rec, now); got != tc.want {
				t.Errorf("postable = %v, want %v", got, tc.want)
			}
		})
	}
}

// A rule with notify: failures posts nothing for a restart that works, and
// the runner finishes it whatever Slack does: here every post fails.
func TestQuietRuleAndSlackDownDoNotHoldTheAction(t *testing.T) {
	e := newEnv(t)
	for _, name := range []string{"web", "api"} {
		e.behaving(name, "")
		if err := cluster.WaitDeploymentAvailable(t.Context(), e.ns, name, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	e.ws.Fail("chat.postMessage", slices500(50)...)
	e.start()
	quiet := e.automaticRestart("web", time.Minute, func(r *v1alpha1.Remediation) { r.Spec.Notify = v1alpha1.NotifyFailures })
	waitFor(t, "the quiet restart to be verified", phaseIs(e, quiet, v1alpha1.PhaseSucceeded))
	if n := e.ws.Calls("chat.postMessage"); n != 0 {
		t.Errorf("%d posts for a record of a notify: failures rule that succeeded, want 0", n)
	}
	loud := e.automaticRestart("api", time.Minute)
	waitFor(t, "the restart to be verified while Slack fails every post", phaseIs(e, loud, v1alpha1.PhaseSucceeded))
	if n := e.ws.Calls("chat.postMessage"); n == 0 {
		t.Errorf("no post tried for a record of a notify: all rule")
	}
	if n := len(e.ws.Messages()); n != 0 {
		t.Errorf("%d messages in Slack, want none (every post failed)", n)
	}
}

func slices500(n int) []testslack.Failure {
	f := make([]testslack.Failure, n)
	for i := range f {
		f[i] = testslack.Failure{Status: 500}
	}
	return f
}

// TestSettledUnpostedRecordPostedWhole: a record that ended a moment ago
// and was never posted (a new leader finds it) is held trimmed in the
// cache, without the alert's labels and texts; its message shows them all
// the same, read from the API server.
func TestSettledUnpostedRecordPostedWhole(t *testing.T) {
	e := newEnv(t)
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	rec := &v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{Name: "settled-unposted", Namespace: e.ns,
			Labels: map[string]string{v1alpha1.LabelTarget: v1alpha1.TargetLabel("Deployment", e.ns, "cache-trimmed")}},
		Spec: v1alpha1.RemediationSpec{
			Rule: "restart-crashlooping", Action: "restart",
			Target:    v1alpha1.Target{Kind: "Deployment", Namespace: e.ns, Name: "cache-trimmed"},
			TargetRef: "Deployment/" + e.ns + "/cache-trimmed",
			Alert: v1alpha1.AlertRef{Name: "KubePodCrashLooping", Fingerprint: "7f3a7f3a7f3a7f3a", StartsAt: metav1.NewMicroTime(now.Time),
				Labels:  map[string]string{"alertname": "KubePodCrashLooping", "cluster": "label-7f3a"},
				Summary: "Summary-7f3a of the alert", Description: "Description-7f3a of the alert", RunbookURL: "https://runbooks.example/7f3a"},
		},
	}
	if err := e.records.Create(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	rec.Status = v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseSucceeded, Reason: "Restarted",
		StartedAt: &now, FinishedAt: &now, Result: &v1alpha1.ActionResult{Outcome: "Succeeded", Reason: "Restarted"}}
	if !rec.TrimmedInCache() {
		t.Fatal("the record is not one the cache trims: the test would prove nothing")
	}
	if err := e.records.Status().Update(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	e.start() // a new leader: the record is settled before any replica sees it
	var msg testslack.Message
	waitFor(t, "the settled record's message", func() bool {
		for _, m := range e.ws.Messages() {
			if strings.Contains(string(m.Blocks), "cache-trimmed") {
				msg = m
				return true
			}
		}
		return false
	})
	for _, want := range []string{"Summary-7f3a", "Description-7f3a", "runbooks.example/7f3a", "label-7f3a"} {
		if !strings.Contains(string(msg.Blocks), want) {
			t.Errorf("the message lacks %q, which the cache trims:\n%s", want, msg.Blocks)
		}
	}
}
