package replay

import (
	"slices"
	"strings"
	"time"

	"github.com/alertmedic/alertmedic/webhook"
)

// Episode is one firing episode of one alert, as ALERTS shows it.
type Episode struct {
	Labels map[string]string
	// Fingerprint is the one Alertmanager gives the alert (webhook.Fingerprint
	// of its labels).
	Fingerprint string
	// Start and End are the first and the last evaluation time at which the
	// alert was seen firing.
	Start, End time.Time
	// FiringAtStart: the alert fired at the first time of the range, so the
	// episode began earlier, at a time the range does not show.
	FiringAtStart bool
}

// Episodes rebuilds the firing episodes of each series read over [from,
// to] at step: consecutive samples no more than gap apart are one episode,
// and a longer gap ends it (the alert resolved, or its rule was not
// evaluated for longer than the gap). gap is at least step. Episodes are
// ordered by start, then fingerprint.
func Episodes(series []Series, from time.Time, step, gap time.Duration) []Episode {
	gap = max(gap, step)
	var out []Episode
	for _, s := range series {
		labels := make(map[string]string, len(s.Labels))
		for k, v := range s.Labels {
			labels[string(k)] = string(v)
		}
		fp := webhook.Fingerprint(labels)
		times := slices.Clone(s.Times)
		slices.SortFunc(times, time.Time.Compare)
		times = slices.CompactFunc(times, time.Time.Equal)
		for i := 0; i < len(times); {
			j := i
			for j+1 < len(times) && times[j+1].Sub(times[j]) <= gap {
				j++
			}
			out = append(out, Episode{Labels: labels, Fingerprint: fp, Start: times[i], End: times[j], FiringAtStart: !times[i].After(from)})
			i = j + 1
		}
	}
	slices.SortFunc(out, func(a, b Episode) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.Fingerprint, b.Fingerprint)
	})
	return out
}
