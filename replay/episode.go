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

// Episodes are the firing episodes of the series read from from on: each
// span of samples (see Series.Add) is one. They are ordered by start, then
// fingerprint.
func Episodes(series []Series, from time.Time) []Episode {
	var out []Episode
	for _, s := range series {
		labels := make(map[string]string, len(s.Labels))
		for k, v := range s.Labels {
			labels[string(k)] = string(v)
		}
		fp := webhook.Fingerprint(labels)
		for _, sp := range s.Spans {
			out = append(out, Episode{Labels: labels, Fingerprint: fp, Start: sp.Start, End: sp.End, FiringAtStart: !sp.Start.After(from)})
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
