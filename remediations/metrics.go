package remediations

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the remediations' Prometheus metrics.
type Metrics struct {
	outcomes    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	eventErrors prometheus.Counter
}

// NewMetrics builds the metrics and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alertmedic_remediations_total",
			Help: "Remediations run (dry runs included), by action, workload kind, outcome and reason.",
		}, []string{"action", "kind", "outcome", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "alertmedic_remediation_duration_seconds",
			Help:    "Time the Kubernetes API calls of one remediation took, by action.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"action"}),
		eventErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "alertmedic_event_errors_total",
			Help: "Events about remediations that could not be recorded on their target.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.outcomes, m.duration, m.eventErrors)
	}
	return m
}
