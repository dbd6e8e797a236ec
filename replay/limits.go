package replay

import (
	"fmt"
)

// limitsOf says what the replay of res cannot tell.
func limitsOf(res *Result) []string {
	out := []string{
		fmt.Sprintf("Resolution is the step (%s): an episode is seen to start up to a step late, one shorter than a step may be missed, and a pause of more than %s between samples (a resolved alert, a rule not evaluated, a Prometheus restart) splits an episode in two. Without staleness markers (backfilled data) an episode ends up to 5m late.", res.Step, res.Gap),
		"ALERTS fires after the alerting rule's for: has passed; alertmedic would act a little later still, after Alertmanager's group_wait. Each episode is played once, at its first firing sample.",
		"Alerts that Alertmanager silenced, inhibited or routed elsewhere still appear in ALERTS: alertmedic would not have received them. Only this Prometheus' alerts are seen.",
		"ALERTS carries no annotations: a target rendered from .Annotations does not render here (counted as target errors).",
		"Actions are taken to succeed; verification, onFailure escalations, --require-approval, --breaker-hold and what people would have decided are not played. Approvals are counted as asked, and do not count against policy.",
	}
	if res.FiringAtStart > 0 {
		out = append(out, fmt.Sprintf("%s already firing when the range starts began earlier, at a time the range does not show; played as starting at %s.", plural(res.FiringAtStart, "episode"), res.From.Format(timeFormat)))
	}
	if res.Retention != "" {
		out = append(out, fmt.Sprintf("This Prometheus keeps ALERTS for %s (--storage.tsdb.retention.time); a range reaching further back sees only what it kept.", res.Retention))
	} else {
		out = append(out, "This Prometheus did not say how long it keeps ALERTS (its flags API did not answer); a range reaching further back than its retention sees only what it kept.")
	}
	return out
}

// timeFormat writes every time of a replay.
const timeFormat = "2006-01-02T15:04:05Z07:00"
