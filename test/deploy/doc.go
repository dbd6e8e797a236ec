// Package deploy tests what platform teams install: the kustomize manifests
// in manifests/ and the example overlays (applied with server-side dry-run
// to a real kube-apiserver), the least-privilege RBAC (exercised as
// alertmedic's ServiceAccount), the container image's static binary, and the
// example Alertmanager configuration. It holds tests only.
package deploy
