package replay

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Query is the series replay reads: every alert while it fires, with its
// labels (alertname and the alert's own), alertstate and __name__.
const Query = `ALERTS{alertstate="firing"}`

// MaxPointsPerQuery bounds the points of one series in one range query:
// Prometheus refuses more than 11,000 (its maximum resolution).
const MaxPointsPerQuery = 10000

// MaxChunk is the longest time one query covers, whatever the step: a
// day of a large cluster's alerts at a one-minute step is a few million
// samples, well within Prometheus' default --query.max-samples (50
// million). A query it still refuses for loading too many samples is split
// in two, down to a single step.
const MaxChunk = 24 * time.Hour

// Chunks splits the evaluation times from, from+step, ... up to to into
// ranges of at most MaxPointsPerQuery points and MaxChunk each, with no
// time in two ranges.
func Chunks(from, to time.Time, step time.Duration) []v1.Range {
	if step <= 0 || to.Before(from) {
		return nil
	}
	n := min(int64(MaxPointsPerQuery), max(1, int64(MaxChunk/step)))
	var out []v1.Range
	for t := from; !t.After(to); t = t.Add(time.Duration(n) * step) {
		end := t.Add(time.Duration(n-1) * step)
		if end.After(to) {
			end = t.Add(to.Sub(t) / step * step)
		}
		out = append(out, v1.Range{Start: t, End: end, Step: step})
	}
	return out
}

// Series is one alert's firing: its labels without alertstate and
// __name__, and the spans of time in which ALERTS had a sample no more than
// a gap after the one before, in order. Only the spans are kept, so a week
// of samples costs memory by episode, not by sample.
type Series struct {
	Labels model.LabelSet
	Spans  []Span
}

// Span is a run of samples, from the first to the last.
type Span struct{ Start, End time.Time }

// Add adds a sample at t, which is not before the samples added already: it
// extends the last span when t is at most gap after its end, else it starts
// a new one.
func (s *Series) Add(t time.Time, gap time.Duration) {
	if n := len(s.Spans); n > 0 && t.Sub(s.Spans[n-1].End) <= gap {
		if t.After(s.Spans[n-1].End) {
			s.Spans[n-1].End = t
		}
		return
	}
	s.Spans = append(s.Spans, Span{Start: t, End: t})
}

// Fetch reads Query from Prometheus over [from, to] at step, one chunk
// (Chunks) at a time and in order, and joins each alert's samples across
// chunks into spans no more than gap (at least step) apart. progress, when
// set, is called after each chunk with the chunks done and their number.
func Fetch(ctx context.Context, api v1.API, from, to time.Time, step, gap time.Duration, progress func(done, total int)) ([]Series, error) {
	gap = max(gap, step)
	chunks := Chunks(from, to, step)
	bySeries := map[model.Fingerprint]*Series{}
	var order []model.Fingerprint
	for i, r := range chunks {
		if err := fetchRange(ctx, api, r, func(m *model.SampleStream) {
			ls := alertLabels(m.Metric)
			fp := ls.Fingerprint()
			s, ok := bySeries[fp]
			if !ok {
				s = &Series{Labels: ls}
				bySeries[fp] = s
				order = append(order, fp)
			}
			for _, v := range m.Values {
				s.Add(v.Timestamp.Time().UTC(), gap)
			}
		}); err != nil {
			return nil, err
		}
		if progress != nil {
			progress(i+1, len(chunks))
		}
	}
	out := make([]Series, 0, len(order))
	for _, fp := range order {
		out = append(out, *bySeries[fp])
	}
	return out, nil
}

// fetchRange queries r and hands each series to add; a range Prometheus
// refuses for loading too many samples is queried in two halves, in order.
func fetchRange(ctx context.Context, api v1.API, r v1.Range, add func(*model.SampleStream)) error {
	val, _, _, err := api.QueryRange(ctx, Query, r)
	if err != nil {
		if tooManySamples(err) && r.End.Sub(r.Start) >= r.Step {
			mid := r.Start.Add(r.End.Sub(r.Start) / r.Step / 2 * r.Step)
			if err := fetchRange(ctx, api, v1.Range{Start: r.Start, End: mid, Step: r.Step}, add); err != nil {
				return err
			}
			return fetchRange(ctx, api, v1.Range{Start: mid.Add(r.Step), End: r.End, Step: r.Step}, add)
		}
		return fmt.Errorf("query %s from %s to %s (step %s): %w", Query, r.Start.UTC().Format(time.RFC3339), r.End.UTC().Format(time.RFC3339), model.Duration(r.Step), err)
	}
	m, ok := val.(model.Matrix)
	if !ok {
		return fmt.Errorf("query %s: Prometheus answered a %s, not a range vector", Query, val.Type())
	}
	for _, s := range m {
		add(s)
	}
	return nil
}

// tooManySamples reports whether Prometheus refused a query for the
// samples it would load (--query.max-samples).
func tooManySamples(err error) bool {
	var pe *v1.Error
	return errors.As(err, &pe) && strings.Contains(pe.Msg, "too many samples")
}

// alertLabels are an ALERTS series' labels as the alert has them.
func alertLabels(m model.Metric) model.LabelSet {
	ls := make(model.LabelSet, len(m))
	for k, v := range m {
		if k != model.MetricNameLabel && k != "alertstate" {
			ls[k] = v
		}
	}
	return ls
}

// Retention says how long the Prometheus behind api keeps its series, as
// its flags set it: --storage.tsdb.retention.time (15d when unset), and
// --storage.tsdb.retention.size when set.
func Retention(ctx context.Context, api v1.API) (string, error) {
	flags, err := api.Flags(ctx)
	if err != nil {
		return "", fmt.Errorf("read Prometheus' flags: %w", err)
	}
	keep := flags["storage.tsdb.retention.time"]
	if keep == "" || keep == "0s" {
		keep = flags["storage.tsdb.retention"] // before Prometheus 2.8
	}
	if keep == "" || keep == "0s" {
		keep = "15d"
	}
	if size := flags["storage.tsdb.retention.size"]; size != "" && size != "0B" && size != "0" {
		keep += " or " + size + ", whichever is reached first"
	}
	return keep, nil
}
