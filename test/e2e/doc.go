// Package e2e tests alertmedic end to end with real components only: alerts
// posted to a real Alertmanager's v2 API (built from the Go module proxy by
// hack/alertmanager.sh) are routed by it to the alertmedic binary, run as a
// subprocess, which acts on a real kube-apiserver and etcd (envtest). It
// holds tests only; docs/e2e.md says what they prove.
package e2e
