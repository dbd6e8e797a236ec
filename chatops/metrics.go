package chatops

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are chatops' Prometheus metrics.
type Metrics struct {
	calls        *prometheus.CounterVec
	interactions *prometheus.CounterVec
	failures     *prometheus.CounterVec
	groupLookups *prometheus.CounterVec
}

// NewMetrics builds the metrics and registers them with reg (nil: not
// registered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alertmedic_slack_api_calls_total",
			Help: "Slack Web API calls by method and outcome: ok, retried (failed, tried again) or error (failed for good).",
		}, []string{"method", "outcome"}),
		interactions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alertmedic_slack_interactions_total",
			Help: "Slack button clicks and requests by result: approved, denied, already_decided, unauthorized, not_found, error, ignored, bad_signature, stale_timestamp, malformed.",
		}, []string{"result"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alertmedic_slack_message_failures_total",
			Help: "Approval messages that could not be posted or updated after retries, by operation (post, update); the record's status.slack.error says why.",
		}, []string{"op"}),
		groupLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alertmedic_slack_usergroup_lookups_total",
			Help: "Slack user group membership lookups by source: cache or api.",
		}, []string{"source"}),
	}
	if reg != nil {
		reg.MustRegister(m.calls, m.interactions, m.failures, m.groupLookups)
	}
	return m
}
