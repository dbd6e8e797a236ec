// Package deploy tests what platform teams install: the kustomize manifests
// in manifests/ and the example overlays, and the Helm chart in
// charts/alertmedic with its values examples (applied with server-side
// dry-run to a real kube-apiserver, and compared with each other), the
// least-privilege RBAC of both (exercised as alertmedic's ServiceAccount),
// the install guide's Helm commands, the container image's static binary,
// and the example Alertmanager configuration. It holds tests only.
package deploy
