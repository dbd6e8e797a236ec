package controller

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine"
	"github.com/alertmedic/alertmedic/internal/faultproxy"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/internal/testlog"
)

// Which records the leader archives: only those nothing more is done with
// but their deletion.
func TestArchivable(t *testing.T) {
	now := t0.Add(30 * 24 * time.Hour)
	ago := func(d time.Duration) *metav1.Time { v := metav1.NewTime(now.Add(-d)); return &v }
	micro := metav1.NewMicroTime(now.Add(-time.Hour))
	pol := testPolicy()
	// skipped: a record the policy refused, an hour ago; its alert
	// resolved since.
	skipped := func() *v1alpha1.Remediation {
		return &v1alpha1.Remediation{Status: v1alpha1.RemediationStatus{
			Phase: v1alpha1.PhaseSkipped, Reason: "Cooldown", FinishedAt: ago(time.Hour), AlertResolvedAt: ago(30 * time.Minute)}}
	}
	// acted: a restart that succeeded, d ago.
	acted := func(d time.Duration) *v1alpha1.Remediation {
		r := skipped()
		r.Status.Phase, r.Status.StartedAt, r.Status.FinishedAt = v1alpha1.PhaseSucceeded, ago(d), ago(d)
		r.Status.Result = &v1alpha1.ActionResult{Outcome: "Succeeded"}
		return r
	}
	for _, tc := range []struct {
		name   string
		rec    func() *v1alpha1.Remediation
		am     bool
		expect bool
	}{
		{"skipped, resolved, ended an hour ago", skipped, false, true},
		{"its alert still fires: its retention's end may still move", func() *v1alpha1.Remediation {
			r := skipped()
			r.Status.AlertResolvedAt = nil
			return r
		}, false, false},
		{"not final", func() *v1alpha1.Remediation {
			r := skipped()
			r.Status.Phase, r.Status.FinishedAt = v1alpha1.PhasePendingApproval, nil
			return r
		}, false, false},
		{"failed with an escalation not yet recorded", func() *v1alpha1.Remediation {
			r := skipped()
			r.Status.Phase = v1alpha1.PhaseFailed
			r.Spec.OnFailure = []v1alpha1.Step{{Action: v1alpha1.ActionRestart}}
			return r
		}, false, false},
		{"ended within the notify window, unposted: the notifier may still post it", func() *v1alpha1.Remediation {
			r := skipped()
			r.Status.FinishedAt = ago(10 * time.Minute)
			return r
		}, false, false},
		{"its Slack message may still change", func() *v1alpha1.Remediation {
			r := skipped()
			r.Status.Slack = &v1alpha1.SlackMessage{TS: "1.2", Error: "update: ratelimited"}
			return r
		}, false, false},
		{"its Slack message is final", func() *v1alpha1.Remediation {
			r := skipped()
			r.Status.Slack = &v1alpha1.SlackMessage{TS: "1.2", Final: true}
			return r
		}, false, true},
		{"its silence is still to be expired", func() *v1alpha1.Remediation {
			r := acted(8 * 24 * time.Hour)
			r.Spec.Silence = true
			r.Status.Verification = &v1alpha1.Verification{StartedAt: micro}
			r.Status.Silence = &v1alpha1.SilenceStatus{ID: "s-1"}
			return r
		}, true, false},
		{"its silence expired", func() *v1alpha1.Remediation {
			r := acted(8 * 24 * time.Hour)
			r.Spec.Silence = true
			r.Status.Verification = &v1alpha1.Verification{StartedAt: micro}
			r.Status.Silence = &v1alpha1.SilenceStatus{ID: "s-1", ExpiredAt: &micro}
			return r
		}, true, true},
		{"acted a day ago: a new leader's policy book must still count it", func() *v1alpha1.Remediation { return acted(24 * time.Hour) }, false, false},
		{"acted eight days ago, beyond the longest cooldown", func() *v1alpha1.Remediation { return acted(8 * 24 * time.Hour) }, false, true},
		{"a dry run a day ago: the book never counts it", func() *v1alpha1.Remediation {
			r := acted(24 * time.Hour)
			r.Spec.DryRun = true
			return r
		}, false, true},
		{"archived already", func() *v1alpha1.Remediation {
			r := skipped()
			r.Labels = map[string]string{v1alpha1.LabelArchived: "true"}
			return r
		}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := archivable(tc.rec(), now, pol, tc.am); got != tc.expect {
				t.Errorf("archivable = %v, want %v", got, tc.expect)
			}
		})
	}
}

// The leader archives a record nothing more is done with, noting when its
// retention started; a record whose action the policy book still counts
// is left in the cache.
func TestSettledRecordsAreArchived(t *testing.T) {
	ns := cluster.Namespace(t, "archive")
	c := cluster.NewClient(t, cluster.Config)
	hourAgo := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))
	resolved := metav1.NewTime(time.Now().Add(-30 * time.Minute).Truncate(time.Second))
	done := put(t, c, ns, restartRecord("rem-skipped", ns, "a"), v1alpha1.RemediationStatus{
		Phase: v1alpha1.PhaseSkipped, Reason: "Cooldown", FinishedAt: &hourAgo, AlertResolvedAt: &resolved})
	recent := put(t, c, ns, restartRecord("rem-acted", ns, "b"), v1alpha1.RemediationStatus{
		Phase: v1alpha1.PhaseSucceeded, StartedAt: &hourAgo, FinishedAt: &hourAgo, AlertResolvedAt: &resolved,
		Result: &v1alpha1.ActionResult{Outcome: "Succeeded", Reason: "Restarted"}})
	m := startRunner(t, ns, &flaky{}, Policy{Retention: 24 * time.Hour, MaxRetention: 72 * time.Hour, CountSweep: 200 * time.Millisecond}, time.Now)
	var got *v1alpha1.Remediation
	waitFor(t, "the settled record to be archived", func() bool {
		got = get(t, c, done)
		return got.Labels[v1alpha1.LabelArchived] == "true"
	})
	if from := got.Annotations[v1alpha1.AnnotationRetainedFrom]; from != resolved.UTC().Format(time.RFC3339Nano) {
		t.Errorf("retained from %q, want when its alert resolved, %s", from, resolved.UTC().Format(time.RFC3339Nano))
	}
	if got.Status.Phase != v1alpha1.PhaseSkipped || got.Spec.Alert.Name == "" {
		t.Errorf("archiving changed the record: %+v", got.Status)
	}
	time.Sleep(time.Second) // five sweeps
	if l := get(t, c, recent).Labels[v1alpha1.LabelArchived]; l != "" {
		t.Errorf("a record that acted an hour ago was archived (%q): a new leader's policy book would not count it", l)
	}
	wantArchived(t, m, 1, "the settled record archived")
}

// Archived records are not in any replica's cache: a new leader collects
// them once their retention is over from its index of them, listed as it
// starts leading.
func TestArchivedRecordsAreCollected(t *testing.T) {
	ns := cluster.Namespace(t, "archive")
	c := cluster.NewClient(t, cluster.Config)
	now := time.Now()
	// Two named as alertmedic names records (the index holds them
	// compactly), one not.
	over := putArchived(t, c, ns, "rem-0000000000000000000a", "a", now.Add(-25*time.Hour))               // retention ended an hour ago
	soon := putArchived(t, c, ns, "rem-000000000000000000b0", "b", now.Add(-24*time.Hour+3*time.Second)) // ends in 3 s
	kept := putArchived(t, c, ns, "rem-kept", "c", now.Add(-time.Hour))                                  // ends in 23 h
	m, stop := startStoppableRunner(t, ns, &flaky{}, Policy{Retention: 24 * time.Hour, MaxRetention: 72 * time.Hour, CountSweep: 200 * time.Millisecond}, time.Now)
	waitFor(t, "the archived record past its retention to be collected", func() bool { return gone(t, c, over) })
	if gone(t, c, soon) {
		t.Fatal("an archived record was collected before its retention ended")
	}
	waitFor(t, "the archived record to be collected when its retention ends", func() bool { return gone(t, c, soon) })
	if gone(t, c, kept) {
		t.Error("an archived record within its retention was collected")
	}
	if n := testutil.ToFloat64(m.Collected()); n != 2 {
		t.Errorf("collected = %v, want 2", n)
	}
	wantArchived(t, m, 1, "the record within its retention")
	stop()
	wantArchived(t, m, 0, "after leading")
}

// Beyond MaxRecords, archived records count with those cached, and the
// soonest to end their retention go first, whichever they are.
func TestArchivedRecordsCountTowardsTheBound(t *testing.T) {
	ns := cluster.Namespace(t, "archive")
	c := cluster.NewClient(t, cluster.Config)
	now := time.Now()
	var archived []*v1alpha1.Remediation
	for i, h := range []int{10, 8} { // retention started 10 and 8 hours ago
		archived = append(archived, putArchived(t, c, ns, "rem-archived-"+string(rune('a'+i)), "x", now.Add(-time.Duration(h)*time.Hour)))
	}
	var cached []*v1alpha1.Remediation
	for i, h := range []int{9, 7} { // finished and still firing: not archivable
		at := metav1.NewTime(now.Add(-time.Duration(h) * time.Hour).Truncate(time.Second))
		cached = append(cached, put(t, c, ns, restartRecord("rem-cached-"+string(rune('a'+i)), ns, "y"),
			v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseSucceeded, FinishedAt: &at}))
	}
	// Retention 24h, max 24h for firing ones: ends in 14h (archived a),
	// 15h (cached a), 16h (archived b), 17h (cached b). Two of four kept.
	startRunner(t, ns, &flaky{}, Policy{Retention: 24 * time.Hour, MaxRetention: 24 * time.Hour, MaxRecords: 2,
		CountSweep: 200 * time.Millisecond}, time.Now)
	waitFor(t, "the two records ending their retention soonest to be collected", func() bool {
		return gone(t, c, archived[0]) && gone(t, c, cached[0])
	})
	time.Sleep(time.Second)
	for _, rec := range []*v1alpha1.Remediation{archived[1], cached[1]} {
		if gone(t, c, rec) {
			t.Errorf("%s was collected", rec.Name)
		}
	}
}

// An archive write whose answer is lost (a 504 or a cut connection after
// the API server applied it) leaves the record out of the cache: the
// leader collects it all the same when its retention ends.
func TestArchiveAnswerLost(t *testing.T) {
	for _, lost := range []struct {
		name  string
		after faultproxy.AfterFault
	}{{"504", faultproxy.Answer504}, {"cut", faultproxy.DropAnswer}} {
		t.Run(lost.name, func(t *testing.T) {
			ns := cluster.Namespace(t, "archive")
			c := cluster.NewClient(t, cluster.Config)
			proxy, err := faultproxy.Start(cluster.Config)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = proxy.Close() })
			proxy.Add(faultproxy.Rule{Name: "archive", Method: http.MethodPatch, Path: "/remediations/rem-lost", After: lost.after, Times: 1})
			// Its retention ends 4 s from now.
			from := metav1.NewTime(time.Now().Add(-24*time.Hour + 4*time.Second).Truncate(time.Second))
			rec := put(t, c, ns, restartRecord("rem-lost", ns, "a"), v1alpha1.RemediationStatus{
				Phase: v1alpha1.PhaseSkipped, Reason: "Cooldown", FinishedAt: &from, AlertResolvedAt: &from})
			startRunnerOn(t, proxy.Config(), ns, Options{Executor: &flaky{}, Now: time.Now,
				Policy: Policy{Retention: 24 * time.Hour, MaxRetention: 72 * time.Hour, CountSweep: 200 * time.Millisecond}})
			waitFor(t, "the archive write to land", func() bool {
				var got v1alpha1.Remediation
				err := c.Get(t.Context(), kube.ObjectKeyFromObject(rec), &got)
				return apierrors.IsNotFound(err) || err == nil && got.Labels[v1alpha1.LabelArchived] == "true"
			})
			if n := proxy.Hits("archive"); n != 1 {
				t.Fatalf("the fault hit %d archive writes, want 1", n)
			}
			waitFor(t, "the archived record to be collected when its retention ends", func() bool { return gone(t, c, rec) })
		})
	}
}

// Archived records someone else deleted (kubectl delete) are not counted
// towards MaxRecords: the leader's index still held them, and counted
// with them the bound would have deleted records still within it. Before
// it deletes for the count, the leader asks the API server how many
// records there are, and lists the archived ones again if its index holds
// more.
func TestArchivedRecordsDeletedByOthersDoNotCount(t *testing.T) {
	ns := cluster.Namespace(t, "archive")
	c := cluster.NewClient(t, cluster.Config)
	now := time.Now()
	// Retention 24h, max 24h for firing ones: the archived records end in
	// 23h and 22h, the cached ones in 15h and 17h.
	archived := []*v1alpha1.Remediation{
		putArchived(t, c, ns, "rem-000000000000000000a1", "x", now.Add(-time.Hour)),
		putArchived(t, c, ns, "rem-000000000000000000a2", "x", now.Add(-2*time.Hour)),
	}
	firing := func(name string, h int) *v1alpha1.Remediation {
		at := metav1.NewTime(now.Add(-time.Duration(h) * time.Hour).Truncate(time.Second))
		return put(t, c, ns, restartRecord(name, ns, "y"), v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseSucceeded, FinishedAt: &at})
	}
	first := firing("rem-cached-a", 9)
	logs := &testlog.Buffer{}
	m, _ := startRunnerWith(t, ns, Options{Executor: &flaky{}, Now: time.Now, Logger: slog.New(slog.NewJSONHandler(logs, nil)),
		Policy: Policy{Retention: 24 * time.Hour, MaxRetention: 24 * time.Hour, MaxRecords: 3, CountSweep: 200 * time.Millisecond}})
	waitFor(t, "the leader to index the two archived records", func() bool {
		return strings.Contains(logs.String(), `"msg":"archived records indexed","records":2`)
	})
	wantArchived(t, m, 2, "once listed")
	for _, rec := range archived {
		if err := c.Delete(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
	}
	second := firing("rem-cached-b", 7)
	// Two records are left, under the bound of three; counted with the
	// index's two, four would be over it, and the first cached record,
	// soonest to end, would go.
	waitFor(t, "the leader to list the archived records again, or to collect one", func() bool {
		return strings.Contains(logs.String(), `"msg":"archived records indexed","records":0`) || gone(t, c, first)
	})
	time.Sleep(time.Second) // some sweeps more
	for _, rec := range []*v1alpha1.Remediation{first, second} {
		if gone(t, c, rec) {
			t.Errorf("%s was collected, though the records were within the bound", rec.Name)
		}
	}
	wantArchived(t, m, 0, "after the records were listed again")
}

// wantArchived checks the gauge of the leader's index of archived records.
func wantArchived(t *testing.T, m *engine.Metrics, want float64, when string) {
	t.Helper()
	if v := testutil.ToFloat64(m.Archived()); v != want {
		t.Errorf("alertmedic_records_archived = %v, want %v (%s)", v, want, when)
	}
}
