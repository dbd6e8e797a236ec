package chatops

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/prometheus/client_golang/prometheus"

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
	settledRecord(e, "settled-unposted", "7f3a")
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

// settledRecord records a restart of Deployment "cache-trimmed" that
// succeeded a moment ago and was never posted, with an alert whose texts
// and labels hold mark, and returns it.
func settledRecord(e *env, name, mark string) *v1alpha1.Remediation {
	e.t.Helper()
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	rec := &v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns,
			Labels: map[string]string{v1alpha1.LabelTarget: v1alpha1.TargetLabel("Deployment", e.ns, "cache-trimmed")}},
		Spec: v1alpha1.RemediationSpec{
			Rule: "restart-crashlooping", Action: "restart",
			Target:    v1alpha1.Target{Kind: "Deployment", Namespace: e.ns, Name: "cache-trimmed"},
			TargetRef: "Deployment/" + e.ns + "/cache-trimmed",
			Alert: v1alpha1.AlertRef{Name: "KubePodCrashLooping", Fingerprint: mark + mark + mark + mark, StartsAt: metav1.NewMicroTime(now.Time),
				Labels:  map[string]string{"alertname": "KubePodCrashLooping", "cluster": "label-" + mark},
				Summary: "Summary-" + mark + " of the alert", Description: "Description-" + mark + " of the alert", RunbookURL: "https://runbooks.example/" + mark},
		},
	}
	if err := e.records.Create(e.t.Context(), rec); err != nil {
		e.t.Fatal(err)
	}
	rec.Status = v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseSucceeded, Reason: "Restarted",
		StartedAt: &now, FinishedAt: &now, Result: &v1alpha1.ActionResult{Outcome: "Succeeded", Reason: "Restarted"}}
	if !rec.TrimmedInCache() {
		e.t.Fatal("the record is not one the cache trims: the test would prove nothing")
	}
	if err := e.records.Status().Update(e.t.Context(), rec); err != nil {
		e.t.Fatal(err)
	}
	return rec
}

// TestFinalMessageLeavesTheRecordTrimmed: once a settled record's message
// shows it settled, the record says so (status.slack.final) and replicas
// cache it trimmed like one never posted; a new leader leaves it alone,
// without reading it from the API server to render it again.
func TestFinalMessageLeavesTheRecordTrimmed(t *testing.T) {
	e := newEnv(t)
	rec := settledRecord(e, "settled-final", "9c1e")
	b := e.start()
	var got *v1alpha1.Remediation
	waitFor(t, "the posted message to be recorded final", func() bool {
		got = e.get(rec)
		return got.Status.Slack != nil && got.Status.Slack.Final
	})
	if got.Status.Slack.TS == "" || got.Status.Slack.Digest != Render(got, Approvers{}).Digest() {
		t.Fatalf("final, but Slack does not show the record as it renders: %+v", got.Status.Slack)
	}
	cached, _ := v1alpha1.CacheTransform(got.DeepCopy())
	if c := cached.(*v1alpha1.Remediation); c.Spec.Alert.Labels != nil || c.Spec.Alert.Summary != "" {
		t.Errorf("a record with a final message is cached whole: %+v", c.Spec.Alert)
	}
	b.stop()
	writes := len(e.ws.Writes())

	// A new leader, whose requests are counted.
	var reads atomic.Int64
	e.config = rest.CopyConfig(cluster.Config)
	e.config.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/remediations/"+rec.Name) {
				reads.Add(1)
			}
			return rt.RoundTrip(r)
		})
	})
	before := reconciled(t, e.reg)
	e.start()
	waitFor(t, "the new leader's notifier to look at the record", func() bool { return reconciled(t, e.reg) > before })
	time.Sleep(time.Second) // the one reconcile seen may be of the record's first event only
	if n := reads.Load(); n != 0 {
		t.Errorf("the new leader read the record from the API server %d times; a final message needs no render", n)
	}
	if n := len(e.ws.Writes()) - writes; n != 0 {
		t.Errorf("the new leader wrote to Slack %d times", n)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// reconciled is how many reconciles the notifiers of this process ended
// (controller-runtime's controller_runtime_reconcile_total, controller
// "slack").
func reconciled(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, f := range families {
		if f.GetName() != "alertmedic_reconciles_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == "slack" {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}
