package replay

import (
	"testing"
	"time"

	"github.com/alertmedic/alertmedic/policy"
	"github.com/alertmedic/alertmedic/rules"
	"github.com/prometheus/common/model"
)

// Chunks cover every evaluation time of the range once, each within
// Prometheus' 11,000 points and a day.
func TestChunks(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		span, step time.Duration
		chunks     int
	}{
		{7 * 24 * time.Hour, time.Minute, 8}, // 10,081 points: seven days and the last point
		{7 * 24 * time.Hour, 5 * time.Second, 7*24*720/MaxPointsPerQuery + 1},
		{time.Hour, time.Minute, 1},
		{0, time.Minute, 1},
		{90 * time.Second, time.Minute, 1}, // 2 points: from and from+1m
	} {
		chunks := Chunks(from, from.Add(tc.span), tc.step)
		if len(chunks) != tc.chunks {
			t.Errorf("%s at %s: %d chunks, want %d", tc.span, tc.step, len(chunks), tc.chunks)
		}
		next := from
		points := 0
		for _, c := range chunks {
			n := int(c.End.Sub(c.Start)/tc.step) + 1
			if !c.Start.Equal(next) || n > MaxPointsPerQuery || c.End.Sub(c.Start) > MaxChunk || c.End.After(from.Add(tc.span)) {
				t.Errorf("%s at %s: chunk %s..%s (%d points) after %s", tc.span, tc.step, c.Start, c.End, n, next)
			}
			points += n
			next = c.End.Add(tc.step)
		}
		if want := int(tc.span/tc.step) + 1; points != want {
			t.Errorf("%s at %s: %d points in all, want %d", tc.span, tc.step, points, want)
		}
	}
}

// A pause of more than the gap splits an episode; equal labels make one
// fingerprint, the one Alertmanager computes.
func TestEpisodes(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	minute := func(m int) time.Time { return from.Add(time.Duration(m) * time.Minute) }
	series := func(gap time.Duration, ms ...int) Series {
		s := Series{Labels: model.LabelSet{"alertname": "A", "namespace": "shop"}}
		for _, m := range ms {
			s.Add(minute(m), gap)
		}
		return s
	}
	s := series(time.Minute, 0, 1, 2, 2, 4, 5, 9)
	eps := Episodes([]Series{s}, from)
	if len(eps) != 3 || !eps[0].Start.Equal(from) || !eps[0].End.Equal(minute(2)) || !eps[0].FiringAtStart ||
		!eps[1].Start.Equal(minute(4)) || !eps[1].End.Equal(minute(5)) || eps[1].FiringAtStart || !eps[2].Start.Equal(minute(9)) {
		t.Errorf("episodes %+v", eps)
	}
	if want := s.Labels.Fingerprint().String(); eps[0].Fingerprint != want {
		t.Errorf("fingerprint %s, want %s", eps[0].Fingerprint, want)
	}
	if eps := Episodes([]Series{series(2*time.Minute, 0, 1, 2, 4, 5, 9)}, from); len(eps) != 2 {
		t.Errorf("with a gap of 2m: %d episodes, want 2", len(eps))
	}
}

// ALERTS has no annotations: a target rendered from one does not render in
// a replay, and is counted as a target error, not as an action.
func TestRunAnnotationTarget(t *testing.T) {
	set, err := rules.Parse("r.yaml", []byte(`rules:
  - name: restart-from-runbook
    match: ['alertname="A"']
    target: {kind: Deployment, namespace: shop, name: '{{ .Annotations.deployment }}'}
    action: restart
`))
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := Series{Labels: model.LabelSet{"alertname": "A"}}
	s.Add(from.Add(time.Hour), time.Minute)
	res := Run(set, policy.Limits{}, Input{From: from, To: from.Add(2 * time.Hour), Step: time.Minute, Episodes: Episodes([]Series{s}, from)})
	if r := res.Rules[0]; r.Matched != 1 || r.TargetErrors != 1 || r.Run != 0 || len(res.Unmatched) != 0 {
		t.Errorf("rule %+v, unmatched %+v; want 1 matched, 1 target error", r, res.Unmatched)
	}
}
