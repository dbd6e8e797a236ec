package webhook

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// answerCodes are the status codes POST /webhook answers with; their series
// are created up front so that dashboards see zeros rather than gaps.
var answerCodes = [...]int{
	http.StatusOK,
	http.StatusBadRequest,
	http.StatusUnauthorized,
	http.StatusRequestEntityTooLarge,
	http.StatusUnsupportedMediaType,
	http.StatusInternalServerError,
	http.StatusServiceUnavailable,
}

// Metrics are the webhook's Prometheus metrics.
type Metrics struct {
	notifications *prometheus.CounterVec
	alerts        *prometheus.CounterVec
	truncated     prometheus.Counter
	duration      prometheus.Histogram

	// Children resolved once, so the hot path does no label hashing.
	byCode   map[int]prometheus.Counter
	firing   prometheus.Counter
	resolved prometheus.Counter
}

// NewMetrics builds the webhook's metrics and registers them with reg (nil:
// not registered). It fails when reg already holds metrics of the same name.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alertmedic_webhook_notifications_total",
			Help: "Alertmanager notifications answered on POST /webhook, by HTTP status code.",
		}, []string{"code"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alertmedic_webhook_alerts_received_total",
			Help: "Alerts in valid notifications, by alert status (firing, resolved).",
		}, []string{"status"}),
		truncated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "alertmedic_webhook_truncated_alerts_total",
			Help: "Alerts Alertmanager left out of notifications because of the receiver's max_alerts (truncatedAlerts).",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "alertmedic_webhook_request_duration_seconds",
			Help:    "Time to answer POST /webhook, including the hand-off to the engine.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		byCode: make(map[int]prometheus.Counter, len(answerCodes)),
	}
	for _, code := range answerCodes {
		m.byCode[code] = m.notifications.WithLabelValues(strconv.Itoa(code))
	}
	m.firing = m.alerts.WithLabelValues(statusFiring)
	m.resolved = m.alerts.WithLabelValues(statusResolved)
	if reg != nil {
		cs := []prometheus.Collector{m.notifications, m.alerts, m.truncated, m.duration}
		for i, c := range cs {
			if err := reg.Register(c); err != nil {
				for _, done := range cs[:i] {
					reg.Unregister(done)
				}
				return nil, fmt.Errorf("webhook: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

// answered records one answer of POST /webhook.
func (m *Metrics) answered(code int, took time.Duration) {
	c, ok := m.byCode[code]
	if !ok {
		c = m.notifications.WithLabelValues(strconv.Itoa(code))
	}
	c.Inc()
	m.duration.Observe(took.Seconds())
}
