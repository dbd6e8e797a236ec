// Command bench measures alertmedic as it runs: the alertmedic binary
// against a real API server (envtest's kube-apiserver and etcd), posted to
// over HTTP. It runs the Go benchmarks of the ingest path and the
// alert-to-patch latency, then its own scenarios (idle and loaded memory,
// already-handled notifications against a decode-only floor, API requests
// per remediation and while idle, leader failover, many retained records, a
// storm of distinct alerts) and prints one table: every figure, its target
// and its verdict. 'make bench' runs it; it is not part of 'make test'.
// docs/performance.md says what bounds each figure.
package main
