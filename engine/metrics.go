package engine

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Decisions the engine takes for an alert or a planned remediation.
const (
	DecisionQueued              = "queued"
	DecisionDeduplicated        = "deduplicated"
	DecisionResolvedIgnored     = "resolved_ignored"
	DecisionNoMatch             = "no_match"
	DecisionRenderError         = "render_error"
	DecisionApprovalUnavailable = "approval_unavailable"
	DecisionQueueFull           = "queue_full"
	DecisionNotReady            = "not_ready"
)

// Metrics are the engine's Prometheus metrics.
type Metrics struct {
	decisions     *prometheus.CounterVec
	matched       *prometheus.CounterVec
	queueDepth    prometheus.Gauge
	queueCapacity prometheus.Gauge
	retries       prometheus.Counter
	latency       *prometheus.HistogramVec
}

// NewMetrics builds the engine's metrics and registers them with reg (nil:
// not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alertmedic_engine_decisions_total",
			Help: "Decisions taken for alerts and planned remediations, by decision.",
		}, []string{"decision"}),
		matched: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alertmedic_alerts_matched_total",
			Help: "Firing alerts matched, by rule.",
		}, []string{"rule"}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "alertmedic_queue_depth",
			Help: "Remediations waiting for a worker.",
		}),
		queueCapacity: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "alertmedic_queue_capacity",
			Help: "Remediations the queue can hold; past it notifications are refused with 503.",
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "alertmedic_remediation_retries_total",
			Help: "Retries of remediations after a transient API failure.",
		}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "alertmedic_alert_to_remediation_seconds",
			Help:    "Time from accepting an alert to the end of its remediation, by action and outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"action", "outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.decisions, m.matched, m.queueDepth, m.queueCapacity, m.retries, m.latency)
	}
	return m
}
