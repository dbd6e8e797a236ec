package chatops

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/url"
	"time"

	"github.com/slack-go/slack"
)

// API is the part of Slack's Web API chatops uses; *slack.Client has it.
type API interface {
	PostMessageContext(ctx context.Context, channelID string, options ...slack.MsgOption) (string, string, error)
	UpdateMessageContext(ctx context.Context, channelID, timestamp string, options ...slack.MsgOption) (string, string, string, error)
	PostEphemeralContext(ctx context.Context, channelID, userID string, options ...slack.MsgOption) (string, error)
	GetUserGroupMembersContext(ctx context.Context, userGroup string, options ...slack.GetUserGroupMembersOption) ([]string, error)
}

// Retry bounds how Slack API calls are retried.
type Retry struct {
	// Attempts is how many times a call is tried in all; default 4.
	Attempts int
	// Backoff is the first wait after a failure, doubled (with jitter) after
	// each; default 500ms. A 429's Retry-After is honoured when longer.
	Backoff time.Duration
	// MaxWait is the longest single wait: a Retry-After beyond it ends the
	// call with the error, to be tried again later; default 30s.
	MaxWait time.Duration
	// Timeout bounds each try; default 10s.
	Timeout time.Duration
}

func (r *Retry) setDefaults() {
	if r.Attempts <= 0 {
		r.Attempts = 4
	}
	if r.Backoff <= 0 {
		r.Backoff = 500 * time.Millisecond
	}
	if r.MaxWait <= 0 {
		r.MaxWait = 30 * time.Second
	}
	if r.Timeout <= 0 {
		r.Timeout = 10 * time.Second
	}
}

// call runs one Slack API call f, retrying what may succeed later: rate
// limits (429, after their Retry-After), Slack's 5xx answers, timeouts and
// connection failures. Slack's own error answers (channel_not_found,
// not_in_channel, invalid_auth...) are not retried.
func (c *Chat) call(ctx context.Context, method string, f func(ctx context.Context) error) error {
	r := c.retry
	wait := r.Backoff
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, r.Timeout)
		err := f(cctx)
		cancel()
		if err == nil {
			c.metrics.calls.WithLabelValues(method, "ok").Inc()
			return nil
		}
		after, retryable := retryAfter(err)
		if ctx.Err() != nil {
			retryable = false // our own deadline or shutdown, not Slack's
		}
		if !retryable || attempt >= r.Attempts || after > r.MaxWait {
			c.metrics.calls.WithLabelValues(method, "error").Inc()
			return err
		}
		c.metrics.calls.WithLabelValues(method, "retried").Inc()
		d := max(after, wait+rand.N(wait/2+1))
		wait *= 2
		c.logger.Debug("slack call failed, retrying", "method", method, "attempt", attempt, "in", d, "err", err)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			c.metrics.calls.WithLabelValues(method, "error").Inc()
			return err
		case <-t.C:
		}
	}
}

// retryAfter says whether err may go away if the call is tried again, and
// how long Slack asked to wait first.
func retryAfter(err error) (time.Duration, bool) {
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return rl.RetryAfter, true
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		return 0, sc.Code >= 500 || sc.Code == 408
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return 0, true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return 0, true
	}
	var ue *url.Error
	return 0, errors.As(err, &ue)
}
