// Package testprometheus runs a real Prometheus for tests: it finds (or
// installs) one with hack/prometheus.sh, backfills a TSDB from OpenMetrics
// text with promtool, and serves that storage on a free port until stopped.
// Tests that use it fail, never skip, when no Prometheus can be had.
package testprometheus
