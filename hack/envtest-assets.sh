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
DIR="$CACHE/envtest/kube-${KUBE_VERSION}-etcd-${ETCD_VERSION}"

log() { echo "envtest-assets: $*" >&2; }
. "$(dirname "$0")/lib/assets.sh"

mkdir -p "$DIR"
# One build at a time: test packages started in parallel all ask for the
# assets; the first builds them, the others wait and reuse them.
exec 9>"$DIR/.lock"
flock 9

if [[ ! -x "$DIR/etcd" ]]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (
    cd "$work"
    go mod init alertmedic.local/etcdbuild >/dev/null 2>&1
    go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" >&2
    go_build etcd go.etcd.io/etcd/server/v3 "1/6" "$ETCD_VERSION, about 30s"
  )
  rm -rf "$work"; trap - EXIT
fi

# The API server and kubectl report $KUBE_VERSION (stamped); those built
# before they were stamped have no .stamped file beside them and are built
# again.
stamped="$DIR/.stamped"
if [[ ! -f "$stamped" ]]; then
  rm -f "$DIR/kube-apiserver" "$DIR/kubectl"
fi
if [[ ! -x "$DIR/kube-apiserver" || ! -x "$DIR/kubectl" ]]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (
    cd "$work"
    kube_module apiserverbuild kube-apiserver kubectl
    export LDFLAGS="$(kube_ldflags)"
    [[ -x "$DIR/kube-apiserver" ]] || go_build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "2/6" "$KUBE_VERSION, about 5 minutes on 2 cores"
    [[ -x "$DIR/kubectl" ]] || go_build kubectl k8s.io/kubernetes/cmd/kubectl "3/6" "$KUBE_VERSION, about 1 minute"
  )
  touch "$stamped"
  rm -rf "$work"; trap - EXIT
fi

echo "$DIR"
