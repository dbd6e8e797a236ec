package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite testdata/report.* from the current output")

// now is the report's clock in these tests; the records span the eight
// days before it.
var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// rec is a record of rule created at created, its alert firing from alert
// before that.
type rec struct {
	rule    string
	created time.Duration // before now
	phase   v1alpha1.Phase
	reason  string
	// After created; zero: not set.
	started, decided, resolved time.Duration
	// After started; zero: no verification (or that check not passed).
	rolloutPassed, resolvedPassed time.Duration
	verification                  bool
	escalation                    bool // an onFailure step's record
	laterStep                     bool // a sequence's second step's record
}

func (r rec) record() v1alpha1.Remediation {
	created := now.Add(-r.created)
	at := func(d time.Duration) *metav1.Time { t := metav1.NewTime(created.Add(d)); return &t }
	x := v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(created)},
		Spec: v1alpha1.RemediationSpec{Rule: r.rule, Alert: v1alpha1.AlertRef{
			Name: "A", StartsAt: metav1.NewMicroTime(created.Add(-2 * time.Minute))}},
		Status: v1alpha1.RemediationStatus{Phase: r.phase, Reason: r.reason},
	}
	if r.escalation {
		x.Spec.EscalatedFrom = "rem-cause"
	}
	if r.laterStep {
		x.Spec.Sequence = &v1alpha1.SequenceRef{Step: 2, Of: 2, Previous: "rem-first"}
	}
	st := &x.Status
	if r.started != 0 {
		st.StartedAt = at(r.started)
	}
	if r.decided != 0 {
		st.DecidedAt, st.DecidedBy = at(r.decided), "slack:U0123"
	}
	if r.resolved != 0 {
		st.AlertResolvedAt = at(r.resolved)
	}
	if r.phase.Final() {
		st.FinishedAt = at(r.started + 10*time.Minute)
	}
	if r.verification {
		st.Verification = &v1alpha1.Verification{StartedAt: metav1.NewMicroTime(created.Add(r.started))}
		passed := func(d time.Duration) *v1alpha1.CheckStatus {
			c := &v1alpha1.CheckStatus{}
			if d != 0 {
				t := metav1.NewMicroTime(created.Add(r.started + d))
				c.PassedAt = &t
			}
			return c
		}
		st.Verification.Rollout = passed(r.rolloutPassed)
		if r.resolvedPassed != 0 {
			st.Verification.AlertResolved = passed(r.resolvedPassed)
		}
	}
	return x
}

const (
	day = 24 * time.Hour
	sec = time.Second
	min = time.Minute
)

// week is records over eight days: every phase and reason, and some
// outside the 7-day window.
var week = []rec{
	// restart: verified twice, one failed, one skipped by cooldown.
	{rule: "restart-crashlooping", created: 6 * day, phase: v1alpha1.PhaseSucceeded, reason: "Verified",
		started: 10 * sec, resolved: 4 * min, verification: true, rolloutPassed: 90 * sec, resolvedPassed: 4*min - 10*sec},
	{rule: "restart-crashlooping", created: 3 * day, phase: v1alpha1.PhaseSucceeded, reason: "Verified",
		started: 20 * sec, resolved: 2 * min, verification: true, rolloutPassed: 40 * sec, resolvedPassed: 2*min - 20*sec},
	{rule: "restart-crashlooping", created: 2 * day, phase: v1alpha1.PhaseSkipped, reason: "Cooldown"},
	{rule: "restart-crashlooping", created: 1 * day, phase: v1alpha1.PhaseFailed, reason: "RolloutStalled",
		started: 5 * sec, verification: true},
	// Its escalation, a rollback 11 minutes later, verified: an action of
	// the rule, not an episode; no alert → action sample.
	{rule: "restart-crashlooping", created: 1*day - 11*min, phase: v1alpha1.PhaseSucceeded, reason: "Verified",
		started: 5 * sec, verification: true, rolloutPassed: 60 * sec, escalation: true},
	// At the window's start: in. Just before it, and in the future: out.
	{rule: "restart-crashlooping", created: 7 * day, phase: v1alpha1.PhaseSkipped, reason: "CircuitOpen"},
	{rule: "restart-crashlooping", created: 7*day + sec, phase: v1alpha1.PhaseSucceeded, reason: "Verified",
		started: 10 * sec, verification: true, rolloutPassed: time.Hour},
	{rule: "restart-crashlooping", created: 8 * day, phase: v1alpha1.PhaseFailed, reason: "Interrupted", started: sec},
	{rule: "restart-crashlooping", created: -time.Minute, phase: v1alpha1.PhaseFailed, reason: "Interrupted", started: sec},
	// rollback with approval: approved and verified, denied, expired,
	// cancelled, still waiting; resolved before the action started (no
	// action → resolved sample).
	{rule: "rollback-bad-deploy", created: 5 * day, phase: v1alpha1.PhaseSucceeded, reason: "Verified",
		decided: 4 * min, started: 4*min + sec, resolved: 9 * min, verification: true, rolloutPassed: 3 * min},
	{rule: "rollback-bad-deploy", created: 4 * day, phase: v1alpha1.PhaseDenied, reason: "Denied", decided: 6 * min},
	{rule: "rollback-bad-deploy", created: 4*day - time.Hour, phase: v1alpha1.PhaseExpired, reason: "ApprovalTimeout"},
	{rule: "rollback-bad-deploy", created: 2 * day, phase: v1alpha1.PhaseCancelled, reason: "AlertResolved", resolved: 3 * min},
	{rule: "rollback-bad-deploy", created: time.Hour, phase: v1alpha1.PhaseFailed, reason: "RolloutStalled",
		decided: time.Minute, started: 2 * time.Minute, resolved: time.Minute, verification: true},
	{rule: "rollback-bad-deploy", created: 10 * min, phase: v1alpha1.PhasePendingApproval, reason: "RuleRequiresApproval"},
	// scale: succeeded with nothing to check, at its maximum (acted, then
	// skipped), over budget, running.
	{rule: "scale-up", created: 6*day + 5*time.Hour, phase: v1alpha1.PhaseSucceeded, reason: "", started: 3 * sec},
	// The second step of a sequence, an hour after the alert fired: an
	// action of the rule, not an episode; no alert → action sample.
	{rule: "scale-up", created: 6*day + 4*time.Hour, phase: v1alpha1.PhaseSucceeded, reason: "", started: 3 * sec, laterStep: true},
	{rule: "scale-up", created: 6 * day, phase: v1alpha1.PhaseSkipped, reason: "AtMaximum", started: 4 * sec},
	{rule: "scale-up", created: 5 * day, phase: v1alpha1.PhaseSkipped, reason: "RuleBudget"},
	{rule: "scale-up", created: time.Minute, phase: v1alpha1.PhaseRunning, started: 30 * sec},
}

func records() []v1alpha1.Remediation {
	out := make([]v1alpha1.Remediation, len(week))
	for i, r := range week {
		out[i] = r.record()
	}
	return out
}

func ds(n int, p50, p90 time.Duration) Durations { return Durations{N: n, P50: p50, P90: p90} }

func TestBuild(t *testing.T) {
	rep := Build(records(), 7*day, now)
	if rep.From != now.Add(-7*day) || rep.To != now || rep.Records != 17 {
		t.Errorf("window %s..%s, %d records; want %s..%s, 17", rep.From, rep.To, rep.Records, now.Add(-7*day), now)
	}
	// alert → action adds 2m (the alert fired 2m before its record).
	want := []Row{{
		Rule: "restart-crashlooping", Matched: 5, Escalated: 1, Acted: 4,
		Skipped: Counts{"Cooldown": 1, "CircuitOpen": 1}, Verified: 3, Failed: Counts{"RolloutStalled": 1},
		AlertToAction:    ds(3, 2*min+10*sec, 2*min+20*sec),
		ActionToVerified: ds(3, 100*sec, 230*sec),
		ActionToResolved: ds(2, 100*sec, 230*sec),
	}, {
		Rule: "rollback-bad-deploy", Matched: 6, Acted: 2, Approved: 2, Denied: 1, Expired: 1, Cancelled: 1, InFlight: 1,
		Skipped: Counts{}, Verified: 1, Failed: Counts{"RolloutStalled": 1},
		AlertToAction:    ds(2, 4*min, 6*min+sec),
		ActionToVerified: ds(1, 3*min, 3*min),
		ActionToResolved: ds(1, 5*min-sec, 5*min-sec),
	}, {
		Rule: "scale-up", Matched: 4, LaterSteps: 1, Acted: 4, Skipped: Counts{"AtMaximum": 1, "RuleBudget": 1}, Unverified: 2, InFlight: 1,
		Failed:        Counts{},
		AlertToAction: ds(3, 2*min+4*sec, 2*min+30*sec),
	}, {
		Rule: AllRules, Matched: 15, Escalated: 1, LaterSteps: 1, Acted: 10, Approved: 2, Denied: 1, Expired: 1, Cancelled: 1, InFlight: 2,
		Skipped:  Counts{"Cooldown": 1, "CircuitOpen": 1, "AtMaximum": 1, "RuleBudget": 1},
		Verified: 4, Unverified: 2, Failed: Counts{"RolloutStalled": 2},
		AlertToAction:    ds(8, 2*min+10*sec, 6*min+sec),
		ActionToVerified: ds(4, 100*sec, 230*sec),
		ActionToResolved: ds(3, 230*sec, 5*min-sec),
	}}
	if len(rep.Rules) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(rep.Rules), len(want), rep.Rules)
	}
	for i := range want {
		if !reflect.DeepEqual(rep.Rules[i], want[i]) {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, rep.Rules[i], want[i])
		}
	}
}

func TestBuildWindow(t *testing.T) {
	for _, tc := range []struct {
		since   time.Duration
		records int
	}{
		{time.Hour, 3}, // the running scale, the waiting and the failed rollback (at the start)
		{2 * day, 7},   // and the failed restart and its escalation, the cancelled rollback, the skipped restart
		{7 * day, 17},  // the window's start is in
		{30 * day, 19}, // and the two older ones; never the future one
	} {
		if got := Build(records(), tc.since, now).Records; got != tc.records {
			t.Errorf("since %s: %d records, want %d", tc.since, got, tc.records)
		}
	}
	if got := Build(nil, 7*day, now); len(got.Rules) != 0 {
		t.Errorf("no records: %+v", got.Rules)
	}
	one := Build(records(), 5*time.Minute, now)
	if len(one.Rules) != 1 || one.Rules[0].Rule != "scale-up" {
		t.Errorf("one rule: want its row alone, no row for all rules: %+v", one.Rules)
	}
}

func TestPercentiles(t *testing.T) {
	s := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Second
		}
		return out
	}
	for _, tc := range []struct {
		in       []time.Duration
		p50, p90 int
	}{
		{s(7), 7, 7},
		{s(2, 1), 1, 2},
		{s(3, 1, 2), 2, 3},
		{s(10, 9, 8, 7, 6, 5, 4, 3, 2, 1), 5, 9},
		{s(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11), 6, 10},
		{s(1, 1, 1, 1, 1, 1, 1, 1, 1, 100), 1, 1},
	} {
		got := percentiles(tc.in)
		want := ds(len(tc.in), time.Duration(tc.p50)*time.Second, time.Duration(tc.p90)*time.Second)
		if got != want {
			t.Errorf("%v: got %+v, want %+v", tc.in, got, want)
		}
	}
	if got := percentiles(nil); got != (Durations{}) {
		t.Errorf("no samples: %+v", got)
	}
}

// The three formats, from the week's records: golden files.
func TestFormats(t *testing.T) {
	rep := Build(records(), 7*day, now)
	for _, f := range []struct{ format, file string }{{"text", "report.txt"}, {"markdown", "report.md"}, {"json", "report.json"}} {
		t.Run(f.format, func(t *testing.T) {
			var b bytes.Buffer
			if err := Write(&b, rep, f.format, "alertmedic"); err != nil {
				t.Fatal(err)
			}
			golden(t, f.file, b.Bytes())
		})
	}
	var b bytes.Buffer
	if err := Write(&b, Build(nil, 7*day, now), "markdown", "alertmedic"); err != nil {
		t.Fatal(err)
	}
	golden(t, "empty.md", b.Bytes())
	if err := Write(&b, rep, "html", "alertmedic"); err == nil || err.Error() != `unknown format "html": want one of text, json, markdown` {
		t.Errorf("unknown format: %v", err)
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
