package controller

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
)

// Finished records are deleted after their retention: counted from when the
// alert resolved, or from when they finished if it never did.
func TestFinishedRecordsAreCollected(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	c := cluster.NewClient(t, cluster.Config)
	long := metav1.NewTime(time.Now().Add(-25 * time.Hour))
	resolved := put(t, c, ns, restartRecord("rem-resolved", ns, "a"), v1alpha1.RemediationStatus{
		Phase: v1alpha1.PhaseSucceeded, FinishedAt: &long, AlertResolvedAt: &long})
	firing := put(t, c, ns, restartRecord("rem-still-firing", ns, "b"), v1alpha1.RemediationStatus{
		Phase: v1alpha1.PhaseSucceeded, FinishedAt: &long})
	m := startRunner(t, ns, &flaky{}, Policy{Retention: 24 * time.Hour, MaxRetention: 72 * time.Hour}, time.Now)
	waitFor(t, "the resolved record to be collected", func() bool {
		err := c.Get(t.Context(), kube.ObjectKeyFromObject(resolved), &v1alpha1.Remediation{})
		return apierrors.IsNotFound(err)
	})
	if err := c.Get(t.Context(), kube.ObjectKeyFromObject(firing), &v1alpha1.Remediation{}); err != nil {
		t.Errorf("the record of a still-firing alert was collected: %v", err)
	}
	if n := testutil.ToFloat64(m.Collected()); n != 1 {
		t.Errorf("collected = %v, want 1", n)
	}
}

// A record whose retention ends while the runner leads is collected by
// the leader's sweep, though nothing about it changed: no timer per record
// holds it in the work queue.
func TestRecordsAreCollectedWhenTheirRetentionEnds(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	c := cluster.NewClient(t, cluster.Config)
	// Due 3 s from now: resolved a day ago, less 3 s.
	resolved := metav1.NewTime(time.Now().Add(-24*time.Hour + 3*time.Second))
	due := put(t, c, ns, restartRecord("rem-due", ns, "a"), v1alpha1.RemediationStatus{
		Phase: v1alpha1.PhaseSucceeded, FinishedAt: &resolved, AlertResolvedAt: &resolved})
	m := startRunner(t, ns, &flaky{}, Policy{Retention: 24 * time.Hour, MaxRetention: 72 * time.Hour,
		CountSweep: 200 * time.Millisecond}, time.Now)
	time.Sleep(time.Second)
	if gone(t, c, due) {
		t.Fatal("collected before its retention ended")
	}
	waitFor(t, "the record to be collected once its retention ended", func() bool { return gone(t, c, due) })
	if n := testutil.ToFloat64(m.Collected()); n != 1 {
		t.Errorf("collected = %v, want 1", n)
	}
}

// Beyond Policy.MaxRecords finished records, the excess is deleted, those
// age retention would delete soonest first; records that are not final, or
// still owe something (an HPA raise to put back), are never deleted for it.
func TestFinishedRecordsAreBoundedByCount(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	c := cluster.NewClient(t, cluster.Config)
	now := time.Now()
	// Eight finished records, all well within their age retention: the
	// alerts of rem-0 to rem-5 resolved, rem-0 longest ago; rem-6 and rem-7
	// never resolved.
	var recs []*v1alpha1.Remediation
	for i := range 8 {
		finished := metav1.NewTime(now.Add(-time.Duration(10-i) * time.Hour))
		st := v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseSucceeded, FinishedAt: &finished}
		if i < 6 {
			st.AlertResolvedAt = &finished
		}
		recs = append(recs, put(t, c, ns, restartRecord(fmt.Sprintf("rem-%d", i), ns, fmt.Sprintf("app-%d", i)), st))
	}
	// Not final, and one whose raise of an HPA is still to be put back,
	// though it finished first of all: kept whatever the bound.
	running := put(t, c, ns, restartRecord("rem-pending", ns, "app-p"), v1alpha1.RemediationStatus{Phase: v1alpha1.PhasePendingApproval})
	first := metav1.NewTime(now.Add(-20 * time.Hour))
	restoreAt := metav1.NewMicroTime(now.Add(time.Hour))
	hpa := put(t, c, ns, restartRecord("rem-hpa", ns, "app-h"), v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseSucceeded,
		FinishedAt: &first, AlertResolvedAt: &first, HPA: &v1alpha1.HPAStatus{Name: "app-h", RestoreAt: restoreAt}})

	m := startRunner(t, ns, &flaky{}, Policy{MaxRecords: 5, CountSweep: 100 * time.Millisecond,
		Retention: 24 * time.Hour, MaxRetention: 72 * time.Hour}, time.Now)
	// Nine finished (eight and rem-hpa), five kept: four go, the oldest
	// resolved ones.
	waitFor(t, "four finished records to be collected", func() bool {
		return gone(t, c, recs[0]) && gone(t, c, recs[1]) && gone(t, c, recs[2]) && gone(t, c, recs[3])
	})
	for _, rec := range append(recs[4:], running, hpa) {
		if gone(t, c, rec) {
			t.Errorf("%s was collected", rec.Name)
		}
	}
	if n := testutil.ToFloat64(m.Collected()); n != 4 {
		t.Errorf("collected = %v, want 4", n)
	}
}

func TestOverCount(t *testing.T) {
	at := func(h int) *metav1.Time { v := metav1.NewTime(t0.Add(time.Duration(h) * time.Hour)); return &v }
	rec := func(name string, phase v1alpha1.Phase, finished, resolved *metav1.Time) v1alpha1.Remediation {
		return v1alpha1.Remediation{ObjectMeta: metav1.ObjectMeta{Name: name},
			Status: v1alpha1.RemediationStatus{Phase: phase, FinishedAt: finished, AlertResolvedAt: resolved}}
	}
	pol := Policy{Retention: 24 * time.Hour, MaxRetention: 72 * time.Hour}
	recs := []v1alpha1.Remediation{
		rec("firing-old", v1alpha1.PhaseSucceeded, at(0), nil),     // until 72h
		rec("resolved-new", v1alpha1.PhaseFailed, at(5), at(6)),    // until 30h
		rec("resolved-old", v1alpha1.PhaseSkipped, at(1), at(2)),   // until 26h
		rec("running", v1alpha1.PhaseRunning, nil, nil),            // not final
		rec("resolved-mid", v1alpha1.PhaseSucceeded, at(3), at(3)), // until 27h
	}
	// Archived records: all collectable, their retention's end indexed.
	archived := []archivedRecord{
		{name: "archived-older", archivedEntry: archivedEntry{until: t0.Add(25 * time.Hour).UnixNano()}},
		{name: "archived-later", archivedEntry: archivedEntry{until: t0.Add(28 * time.Hour).UnixNano()}},
	}
	for _, tc := range []struct {
		max      int
		archived []archivedRecord
		want     []string
	}{
		{0, nil, nil},
		{4, nil, nil},
		{3, nil, []string{"resolved-old"}},
		{1, nil, []string{"resolved-old", "resolved-mid", "resolved-new"}},
		{-1, nil, nil},
		// Six finished: the soonest retention ends go first, whether
		// the record is archived or cached.
		{6, archived, nil},
		{4, archived, []string{"archived-older", "resolved-old"}},
		{3, archived, []string{"archived-older", "resolved-old", "resolved-mid"}},
	} {
		var got []string
		hot, old := overCount(recs, tc.archived, tc.max, pol)
		for _, r := range hot {
			got = append(got, r.Name)
		}
		for _, a := range old {
			got = append(got, a.name)
		}
		slices.SortFunc(got, func(a, b string) int { return cmp.Compare(order[a], order[b]) })
		if !slices.Equal(got, tc.want) {
			t.Errorf("max %d: %v, want %v", tc.max, got, tc.want)
		}
	}
}

// order is the retention end of TestOverCount's records, to compare
// what overCount chose in one order.
var order = map[string]int{"archived-older": 25, "resolved-old": 26, "resolved-mid": 27, "archived-later": 28, "resolved-new": 30, "firing-old": 72}
