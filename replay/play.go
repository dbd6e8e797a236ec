package replay

import (
	"context"
	"io"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/alertmedic/alertmedic/policy"
	"github.com/alertmedic/alertmedic/rules"
)

// Options say what Play replays and how it writes it.
type Options struct {
	Rules *rules.Set
	// Old, when set, are the rules before a change: Play writes what the
	// change changes (Compare).
	Old    *rules.Set
	Limits policy.Limits
	// PolicyFlags are the flags that set Limits, for people.
	PolicyFlags string
	// From and To bound the range read; From is aligned down to Step.
	From, To time.Time
	Step     time.Duration
	// Timeout bounds each query to Prometheus.
	Timeout time.Duration
	Format  string // one of Formats
	// Progress, when set, is told of each query done (see Fetch).
	Progress func(done, total int)
}

// Play reads ALERTS from the Prometheus behind api over the range, replays
// its episodes through the rules (and the old rules), and writes the result
// (or the diff) to w.
func Play(ctx context.Context, api v1.API, o Options, w io.Writer) error {
	from := o.From.Truncate(o.Step)
	in := Input{From: from, To: o.To, Step: o.Step, Gap: o.Step, PolicyFlags: o.PolicyFlags}
	rctx, cancel := context.WithTimeout(ctx, o.Timeout)
	in.Retention, _ = Retention(rctx, api) // "" when the flags API does not answer (as through some proxies)
	cancel()
	series, err := Fetch(ctx, timeoutAPI{api, o.Timeout}, from, o.To, o.Step, in.Gap, o.Progress)
	if err != nil {
		return err
	}
	in.Episodes = Episodes(series, from)
	res := Run(o.Rules, o.Limits, in)
	if o.Old == nil {
		return Write(w, res, o.Format)
	}
	return WriteDiff(w, Compare(Run(o.Old, o.Limits, in), res), o.Format)
}

// timeoutAPI bounds each range query with its own timeout, on both sides.
type timeoutAPI struct {
	v1.API
	timeout time.Duration
}

func (a timeoutAPI) QueryRange(ctx context.Context, query string, r v1.Range, opts ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	return a.API.QueryRange(ctx, query, r, append(opts, v1.WithTimeout(a.timeout))...)
}
