package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/alertmedic/alertmedic/policy"
	"github.com/alertmedic/alertmedic/replay"
	"github.com/alertmedic/alertmedic/rules"
)

// replayOptions are the flags of 'alertmedic replay' (defined in flags.go).
type replayOptions struct {
	prometheus   string
	rulePaths    stringList
	diffPaths    stringList
	since, until string
	step         time.Duration
	format       string
	timeout      time.Duration
	limits       policy.Limits
}

const replayHelp = `Replay Prometheus' alert history through the rules and policy: what would they have done last week?

Reads ALERTS{alertstate="firing"} from Prometheus over --since..--until, rebuilds each alert's firing episodes (a pause of more than --step between samples ends one), and plays them, in order, through the rules and the policy as 'alertmedic serve' decides: cooldowns, budgets, the circuit breaker, namespaces, rules that need approval. Prints per rule the episodes matched, the actions that would have run, those policy would have skipped and why, the approvals that would have been asked, the targets acted on and the busiest hour; then the episodes that matched no rule, and what a replay cannot tell.

--diff OLD_RULES replays the same episodes through the old rules too and prints only what the change to the rules changes: the comment a reviewer wants on a pull request (--format markdown). Queries are split by time so that each stays within Prometheus' limits; a progress line is shown on a terminal. The policy flags are those of 'alertmedic serve'. No cluster is needed.

Exit status: 0 replayed, 1 Prometheus could not be read or the rules do not load, 2 usage error.`

func (o *replayOptions) validate(extra []string) error {
	usage := func(format string, args ...any) error { return usagef("replay: "+format, args...) }
	if err := checkPolicyFlags("replay", o.limits); err != nil {
		return err
	}
	switch {
	case len(extra) > 0:
		return usage("unexpected argument %q; give rule files with --rules", extra[0])
	case o.prometheus == "":
		return usage("--prometheus is required: the URL of the Prometheus whose ALERTS to read, such as http://prometheus:9090")
	case len(o.rulePaths) == 0:
		return usage("--rules is required (a rule file or a directory of them)")
	case o.step <= 0:
		return usage("--step must be above 0, got %s", o.step)
	case o.timeout <= 0:
		return usage("--query-timeout must be above 0, got %s", o.timeout)
	}
	if u, err := url.Parse(o.prometheus); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usage("--prometheus %q is not an http(s) URL, such as http://prometheus:9090", o.prometheus)
	}
	return nil
}

// replayTime reads --since or --until: an RFC 3339 time, or a duration
// (7d, 36h) before base.
func replayTime(flag, v string, base time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	d, err := model.ParseDuration(v)
	if err != nil {
		return time.Time{}, usagef("replay: --%s %q is neither a duration (7d, 36h) nor an RFC 3339 time (2026-01-02T15:04:05Z)", flag, v)
	}
	return base.Add(-time.Duration(d)), nil
}

func replayCmd(ctx context.Context, c *commandLine, stdout, stderr io.Writer) error {
	o := &c.replay
	if err := o.validate(c.extra); err != nil {
		return err
	}
	now := time.Now()
	to := now
	if o.until != "" {
		var err error
		if to, err = replayTime("until", o.until, now); err != nil {
			return err
		}
	}
	from, err := replayTime("since", o.since, to)
	if err != nil {
		return err
	}
	if !from.Before(to) {
		return usagef("replay: --since (%s) must be before --until (%s)", from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	}
	if to.After(now) {
		to = now
	}
	set, err := rules.LoadFiles(o.rulePaths...)
	if err != nil {
		return fmt.Errorf("replay: rules do not load (run alertmedic check):\n%w", err)
	}
	var old *rules.Set
	if len(o.diffPaths) > 0 {
		if old, err = rules.LoadFiles(o.diffPaths...); err != nil {
			return fmt.Errorf("replay: the old rules of --diff do not load:\n%w", err)
		}
	}
	client, err := promapi.NewClient(promapi.Config{Address: o.prometheus})
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	opts := replay.Options{Rules: set, Old: old, Limits: o.limits, PolicyFlags: limitsString(o.limits),
		From: from, To: to, Step: o.step, Timeout: o.timeout, Format: o.format}
	if isTerminal(stderr) {
		opts.Progress = func(done, total int) {
			fmt.Fprintf(stderr, "\rreading ALERTS from %s: %d/%d queries", o.prometheus, done, total)
			if done == total {
				fmt.Fprint(stderr, "\r\033[K")
			}
		}
	}
	if err := replay.Play(ctx, v1.NewAPI(client), opts, stdout); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	return nil
}

// isTerminal reports whether w is a terminal, where a progress line that
// rewrites itself reads well.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && !strings.EqualFold(os.Getenv("TERM"), "dumb")
}
