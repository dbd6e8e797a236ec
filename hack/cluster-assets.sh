#!/usr/bin/env bash
# Builds what turns envtest's bare API server into a cluster that reconciles:
# kube-controller-manager and kube-scheduler (k8s.io/kubernetes, the same
# version as hack/envtest-assets.sh) and kwok (fake kubelets: nodes Ready,
# pods scheduled, Running and Ready without containers), from the Go module
# proxy into a cache outside the repository. Reused when already present.
#
#   hack/cluster-assets.sh            # prints the assets directory
#
# Environment:
#   ALERTMEDIC_CACHE   cache root (default ~/.cache/alertmedic)
#   KUBE_VERSION       k8s.io/kubernetes version (default v1.36.3)
#   KWOK_VERSION       sigs.k8s.io/kwok version (default v0.8.0)
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.36.3}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
CACHE="${ALERTMEDIC_CACHE:-$HOME/.cache/alertmedic}"
STAGING_VERSION="v0.${KUBE_VERSION#v1.}"
DIR="$CACHE/cluster/kube-${KUBE_VERSION}-kwok-${KWOK_VERSION}"

log() { echo "cluster-assets: $*" >&2; }

mkdir -p "$DIR"
exec 9>"$DIR/.lock"
flock 9

build_kube() {
  local work
  work="$(mktemp -d)"
  (
    cd "$work"
    go mod init alertmedic.local/clusterbuild >/dev/null 2>&1
    # k8s.io/kubernetes replaces its staging modules with ./staging paths that
    # do not exist in the module zip; point each at the published module.
    gomod="$(go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')"
    {
      echo "require k8s.io/kubernetes ${KUBE_VERSION}"
      echo "replace ("
      sed -n 's#^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/.*#\t\1 => \1 '"${STAGING_VERSION}"'#p' "$gomod"
      echo ")"
    } >>go.mod
    cat >tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
GO
    go mod tidy -e >&2 || true
    if [[ ! -x "$DIR/kube-controller-manager" ]]; then
      log "building kube-controller-manager $KUBE_VERSION (1/3, about 2 minutes on 2 cores)"
      CGO_ENABLED=0 go build -o "$DIR/kube-controller-manager.tmp" k8s.io/kubernetes/cmd/kube-controller-manager
      mv "$DIR/kube-controller-manager.tmp" "$DIR/kube-controller-manager"
    fi
    if [[ ! -x "$DIR/kube-scheduler" ]]; then
      log "building kube-scheduler $KUBE_VERSION (2/3, about 30s)"
      CGO_ENABLED=0 go build -o "$DIR/kube-scheduler.tmp" k8s.io/kubernetes/cmd/kube-scheduler
      mv "$DIR/kube-scheduler.tmp" "$DIR/kube-scheduler"
    fi
  )
  rm -rf "$work"
}

build_kwok() {
  local work
  work="$(mktemp -d)"
  (
    cd "$work"
    go mod init alertmedic.local/kwokbuild >/dev/null 2>&1
    go get "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}" >&2
    log "building kwok $KWOK_VERSION (3/3, about 3 minutes on 2 cores)"
    CGO_ENABLED=0 go build -o "$DIR/kwok.tmp" sigs.k8s.io/kwok/cmd/kwok
    mv "$DIR/kwok.tmp" "$DIR/kwok"
    # The stage files kwok ships in its module: how fake nodes and pods move
    # through their lifecycle.
    src="$(go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
    mkdir -p "$DIR/stages"
    cp "$src/kustomize/stage/node/fast/node-initialize.yaml" \
       "$src/kustomize/stage/pod/fast/pod-ready.yaml" \
       "$src/kustomize/stage/pod/fast/pod-complete.yaml" \
       "$src/kustomize/stage/pod/fast/pod-delete.yaml" "$DIR/stages/"
    chmod u+w "$DIR"/stages/*
  )
  rm -rf "$work"
}

if [[ ! -x "$DIR/kube-controller-manager" || ! -x "$DIR/kube-scheduler" ]]; then
  build_kube
fi
if [[ ! -x "$DIR/kwok" || ! -d "$DIR/stages" ]]; then
  build_kwok
fi

echo "$DIR"
