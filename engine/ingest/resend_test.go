package ingest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// recordName hashes the very bytes RecordName(EpisodeKey(...)) does: the
// names of records already in clusters must not change.
func TestRecordNameIsTheEpisodeKeys(t *testing.T) {
	long := strings.Repeat("x", 300)
	for _, tc := range []struct {
		rule   string
		target v1alpha1.Target
		fp     string
		at     time.Time
	}{
		{"restart-crashlooping", v1alpha1.Target{Kind: "Deployment", Namespace: "shop", Name: "cart"}, "0123456789abcdef", t0},
		{"r", v1alpha1.Target{Kind: "StatefulSet", Namespace: "a", Name: "b"}, "", t0.Add(123456789 * time.Nanosecond)},
		{long, v1alpha1.Target{Kind: "DaemonSet", Namespace: long, Name: long}, "fedcba9876543210", t0.In(time.FixedZone("x", 3600))},
		{"", v1alpha1.Target{}, "", time.Time{}},
	} {
		a := &template.Alert{Fingerprint: tc.fp, StartsAt: tc.at}
		if got, want := recordName(tc.rule, tc.target, a), RecordName(EpisodeKey(tc.rule, tc.target, a)); got != want {
			t.Errorf("recordName(%.20q, %v, %q, %v) = %s, want %s", tc.rule, tc.target, tc.fp, tc.at, got, want)
		}
	}
}

// A notification that holds only re-sends of episodes this replica saw
// recorded needs no write, so it is accepted even while the gate (the API
// server unreachable) refuses work; one with a new episode is refused.
func TestResendsNeedNoGate(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	down := false
	busy := errors.New("busy sentinel")
	e := New(Options{Client: cluster.NewClient(t, cluster.Config), Namespace: ns, Busy: busy, Rules: mustRules(t, testRules),
		Gate: func(context.Context) error {
			if down {
				return errors.New("api down")
			}
			return nil
		}})
	first := alert("firing", "KubePodCrashLooping", map[string]string{"namespace": "a", "deployment": "x"}, t0)
	if err := e.Accept(t.Context(), message(first)); err != nil {
		t.Fatal(err)
	}
	down = true
	if err := e.Accept(t.Context(), message(first)); err != nil {
		t.Errorf("a re-send while the gate refuses: %v, want accepted", err)
	}
	second := alert("firing", "KubePodCrashLooping", map[string]string{"namespace": "a", "deployment": "y"}, t0)
	if err := e.Accept(t.Context(), message(first, second)); !errors.Is(err, busy) {
		t.Errorf("a new episode while the gate refuses: %v, want busy", err)
	}
}
