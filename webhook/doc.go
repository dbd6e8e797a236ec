// Package webhook is alertmedic's HTTP edge for Alertmanager: it serves
// POST /webhook (authentication, body limits, decoding and validation of the
// version-4 payload into a Message of Alertmanager's exact JSON shape) plus
// /healthz, /readyz and /metrics, and hands accepted notifications to a
// Sink. It answers 2xx only once the Sink has accepted the work, 503 when it
// cannot, so Alertmanager retries.
package webhook
