package engine

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Decisions taken for alerts (on every replica) and for records (by the
// leader), the values of alertmedic_engine_decisions_total's label.
const (
	DecisionRecorded        = "recorded"         // a new episode: a record was created
	DecisionDeduplicated    = "deduplicated"     // the episode was recorded before
	DecisionResolvedIgnored = "resolved_ignored" // a resolved alert: never acted on
	DecisionCancelled       = "cancelled"        // resolved while its record waited
	DecisionNoMatch         = "no_match"
	DecisionRenderError     = "render_error"
	DecisionNotReady        = "not_ready" // refused with 503: the API server is unreachable

	DecisionExecuted        = "executed"
	DecisionCooldown        = "cooldown"
	DecisionCircuitOpen     = "circuit_open"
	DecisionOverBudget      = "over_budget"
	DecisionNamespaceDenied = "namespace_denied"
	DecisionAwaitApproval   = "awaiting_approval"
	DecisionExpired         = "expired"
	DecisionInterrupted     = "interrupted"  // found Running after a leader change
	DecisionRetry           = "retry"        // transient failure, tried again
	DecisionInvalid         = "invalid"      // parameters that do not parse: Failed, nothing done
	DecisionEscalated       = "escalated"    // a failed record's onFailure step recorded as a new record
	DecisionNextStep        = "next_step"    // a succeeded step's next step of its sequence recorded as a new record
	DecisionNotRecorded     = "not_recorded" // an episode that started in a published circuit breaker window: counted, not recorded (its action would be skipped)
	DecisionUnplanned       = "unplanned"    // a record claiming to be a later step of a sequence that its previous step does not plan: Skipped
)

// Metrics are the engine's Prometheus metrics, shared by its rooms: ingest
// and the controller both count decisions in
// alertmedic_engine_decisions_total, so the metrics are built and
// registered once, here, and handed to both.
type Metrics struct {
	decisions   *prometheus.CounterVec
	matched     *prometheus.CounterVec
	breakerOpen prometheus.Gauge
	leader      prometheus.Gauge
	// acceptToDone is from the record's creation (the notification
	// accepted) to the end of the action; alertToDone from the alert's
	// startsAt, which includes the rule's "for", Alertmanager's
	// group_wait and any wait for approval.
	acceptToDone *prometheus.HistogramVec
	alertToDone  *prometheus.HistogramVec
	collected    prometheus.Counter
	archived     prometheus.Gauge
	// verifications counts how the checks after an action ended;
	// actionToVerified is from the action's end to the last check passing.
	verifications    *prometheus.CounterVec
	actionToVerified *prometheus.HistogramVec
	// silences counts the calls to Alertmanager's silences API.
	silences *prometheus.CounterVec

	// The counters of decisions and of matches by rule, kept once made:
	// every notification counts in them, and a label lookup (hashing the
	// label values under the vector's lock) costs more than this.
	decided sync.Map // decision -> prometheus.Counter
	ruled   sync.Map // rule name -> prometheus.Counter
}

// NewMetrics builds the engine's metrics and registers them with reg (nil:
// not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alertmedic_engine_decisions_total",
			Help: "Decisions taken for alerts and their remediation records, by decision.",
		}, []string{"decision"}),
		matched: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alertmedic_alerts_matched_total",
			Help: "Firing alerts matched, by rule.",
		}, []string{"rule"}),
		breakerOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "alertmedic_circuit_breaker_open",
			Help: "1 while the circuit breaker holds automatic actions back (too many in its window).",
		}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "alertmedic_leader",
			Help: "1 on the replica that executes remediations.",
		}),
		acceptToDone: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "alertmedic_accepted_to_done_seconds",
			Help:    "Time from accepting the notification (the record created) to the end of the action, by action and outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800},
		}, []string{"action", "outcome"}),
		alertToDone: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "alertmedic_alert_to_done_seconds",
			Help:    "Time from the alert's startsAt to the end of its action, by action and outcome: includes the alert rule's for, Alertmanager's group_wait and any wait for approval.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200},
		}, []string{"action", "outcome"}),
		archived: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "alertmedic_records_archived",
			Help: "Archived Remediation records in the leader's index (which it deletes from when their retention ends, or beyond --max-records); 0 on a standby.",
		}),
		collected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "alertmedic_records_collected_total",
			Help: "Finished Remediation records deleted after their retention, or beyond --max-records.",
		}),
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alertmedic_verifications_total",
			Help: "Verifications after a successful action, by action and result: Verified, RolloutStalled, AlertNotResolved or TargetDeleted.",
		}, []string{"action", "result"}),
		actionToVerified: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "alertmedic_action_to_verified_seconds",
			Help:    "Time from the end of a successful action to its verification (every check passed), by action.",
			Buckets: []float64{1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600},
		}, []string{"action"}),
		silences: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alertmedic_silences_total",
			Help: "Alertmanager silences of alerts being remediated, by op (create: made; adopt: found one an earlier create whose answer was lost made; expire: the record ended; sweep: left behind, expired by the leader) and result (ok, error).",
		}, []string{"op", "result"}),
	}
	if reg != nil {
		reg.MustRegister(m.decisions, m.matched, m.breakerOpen, m.leader, m.acceptToDone, m.alertToDone, m.collected, m.archived,
			m.verifications, m.actionToVerified, m.silences)
	}
	return m
}

// Decision is the count of decision d (one of the Decision values).
func (m *Metrics) Decision(d string) prometheus.Counter { return child(&m.decided, m.decisions, d) }

// Matched is the count of firing alerts that rule matched.
func (m *Metrics) Matched(rule string) prometheus.Counter { return child(&m.ruled, m.matched, rule) }

// child is the counter of vec for the one label value v, from cache once
// made. The vector never forgets a child, so neither does the cache.
func child(cache *sync.Map, vec *prometheus.CounterVec, v string) prometheus.Counter {
	if c, ok := cache.Load(v); ok {
		return c.(prometheus.Counter)
	}
	c, _ := cache.LoadOrStore(v, vec.WithLabelValues(v))
	return c.(prometheus.Counter)
}

// BreakerOpen is 1 while the circuit breaker holds automatic actions back.
func (m *Metrics) BreakerOpen() prometheus.Gauge { return m.breakerOpen }

// Leader is 1 on the replica that executes remediations.
func (m *Metrics) Leader() prometheus.Gauge { return m.leader }

// AcceptedToDone observes the time from the record's creation to the end of
// its action, by action and outcome.
func (m *Metrics) AcceptedToDone(action, outcome string) prometheus.Observer {
	return m.acceptToDone.WithLabelValues(action, outcome)
}

// AlertToDone observes the time from the alert's startsAt to the end of its
// action, by action and outcome.
func (m *Metrics) AlertToDone(action, outcome string) prometheus.Observer {
	return m.alertToDone.WithLabelValues(action, outcome)
}

// Archived is how many archived records the leader's index holds.
func (m *Metrics) Archived() prometheus.Gauge { return m.archived }

// Collected is the count of finished records deleted after their retention
// or beyond Policy.MaxRecords.
func (m *Metrics) Collected() prometheus.Counter { return m.collected }

// Verification is the count of verifications of action that ended with
// result (the record's reason: Verified, RolloutStalled, ...).
func (m *Metrics) Verification(action, result string) prometheus.Counter {
	return m.verifications.WithLabelValues(action, result)
}

// ActionToVerified observes the time from the end of a successful action to
// its verification, by action.
func (m *Metrics) ActionToVerified(action string) prometheus.Observer {
	return m.actionToVerified.WithLabelValues(action)
}

// Silence is the count of silence calls of op (create, adopt, expire,
// sweep) that ended with result (ok, error).
func (m *Metrics) Silence(op, result string) prometheus.Counter {
	return m.silences.WithLabelValues(op, result)
}
