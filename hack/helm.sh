#!/usr/bin/env bash
# Builds Helm from the Go module proxy into the cache, for the chart tests;
# reused when present. Prints the binary's path.
#
# Stamped as Helm's own Makefile stamps a release: without these, helm
# template and lint assume Kubernetes v1.20 (and refuse the chart's
# kubeVersion) and helm version says "v3.20".
set -euo pipefail
HELM_VERSION="${HELM_VERSION:-v3.20.1}"
HELM_K8S_MINOR="${HELM_K8S_MINOR:-35}"   # the k8s.io/client-go v0.35.x Helm v3.20.1 is built with
CACHE="${ALERTMEDIC_CACHE:-$HOME/.cache/alertmedic}"
BIN="$CACHE/helm-$HELM_VERSION/helm"
if [[ ! -x "$BIN" ]]; then
  echo "helm: building $HELM_VERSION (about two minutes, once)" >&2
  mkdir -p "$(dirname "$BIN")"
  LDFLAGS="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  LDFLAGS+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    LDFLAGS+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$HELM_K8S_MINOR"
  done
  # Into a folder of its own first, so that a build cut short never leaves a
  # binary the next run would trust.
  tmp="$(mktemp -d "$CACHE/helm-build.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  GOFLAGS=-mod=mod GOBIN="$tmp" CGO_ENABLED=0 \
    go install -ldflags "$LDFLAGS" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
  mv "$tmp/helm" "$BIN"
fi
echo "$BIN"
