#!/usr/bin/env bash
# Builds kube-apiserver, etcd and kubectl from the Go module proxy into a cache outside
# the repository, for envtest. Reused when already present.
#
#   hack/envtest-assets.sh            # prints the assets directory
#
# Environment:
#   ALERTMEDIC_CACHE   cache root (default ~/.cache/alertmedic)
#   KUBE_VERSION       k8s.io/kubernetes version (default v1.36.3)
#   ETCD_VERSION       go.etcd.io/etcd/server/v3 version (default v3.6.5)
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.36.3}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.5}"
CACHE="${ALERTMEDIC_CACHE:-$HOME/.cache/alertmedic}"
STAGING_VERSION="v0.${KUBE_VERSION#v1.}"
DIR="$CACHE/envtest/kube-${KUBE_VERSION}-etcd-${ETCD_VERSION}"

log() { echo "envtest-assets: $*" >&2; }

mkdir -p "$DIR"
# One build at a time: test packages started in parallel all ask for the
# assets; the first builds them, the others wait and reuse them.
exec 9>"$DIR/.lock"
flock 9

if [[ ! -x "$DIR/etcd" ]]; then
  log "building etcd $ETCD_VERSION (about 30s)"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (
    cd "$work"
    go mod init alertmedic.local/etcdbuild >/dev/null 2>&1
    go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" >&2
    CGO_ENABLED=0 go build -o "$DIR/etcd.tmp" go.etcd.io/etcd/server/v3
  )
  mv "$DIR/etcd.tmp" "$DIR/etcd"
  rm -rf "$work"; trap - EXIT
fi

if [[ ! -x "$DIR/kube-apiserver" || ! -x "$DIR/kubectl" ]]; then
  log "building kube-apiserver and kubectl $KUBE_VERSION (about 6 minutes on 2 cores, once)"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (
    cd "$work"
    go mod init alertmedic.local/apiserverbuild >/dev/null 2>&1
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
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
    go mod tidy -e >&2 || true
    [[ -x "$DIR/kube-apiserver" ]] || CGO_ENABLED=0 go build -o "$DIR/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
    CGO_ENABLED=0 go build -o "$DIR/kubectl.tmp" k8s.io/kubernetes/cmd/kubectl
  )
  [[ -x "$DIR/kube-apiserver" ]] || mv "$DIR/kube-apiserver.tmp" "$DIR/kube-apiserver"
  mv "$DIR/kubectl.tmp" "$DIR/kubectl"
  rm -rf "$work"; trap - EXIT
fi

echo "$DIR"
