#!/usr/bin/env bash
# Builds what turns envtest's bare API server into a cluster that reconciles:
# kube-controller-manager and kube-scheduler (k8s.io/kubernetes, the same
# version as hack/envtest-assets.sh) and kwok (fake kubelets: nodes Ready,
# pods scheduled, Running and Ready without containers), from the Go module
# proxy into a cache outside the repository. Reused when already present.
# The kwok stage files (how fake nodes and pods move through their
# lifecycle) are not cached: they are in internal/testcluster/stages.
#
# It continues hack/envtest-assets.sh's count of the first run's builds
# (4/6 to 6/6). kwok's modules are downloaded while kube-controller-manager
# compiles: on a fresh machine the one waits on the network, the other on
# the CPU.
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
DIR="$CACHE/cluster/kube-${KUBE_VERSION}-kwok-${KWOK_VERSION}"

log() { echo "cluster-assets: $*" >&2; }
. "$(dirname "$0")/lib/assets.sh"

mkdir -p "$DIR"
exec 9>"$DIR/.lock"
flock 9

build_kube() {
  local work
  work="$(mktemp -d)"
  (
    cd "$work"
    kube_module clusterbuild kube-controller-manager kube-scheduler
    [[ -x "$DIR/kube-controller-manager" ]] || go_build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "4/6" "$KUBE_VERSION, about 2 minutes on 2 cores"
    [[ -x "$DIR/kube-scheduler" ]] || go_build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "5/6" "$KUBE_VERSION, about 30s"
  )
  rm -rf "$work"
}

# fetch_kwok prepares the module kwok is built in ($1) and downloads
# what it needs; build_kwok builds it there.
fetch_kwok() {
  (
    cd "$1"
    go mod init alertmedic.local/kwokbuild >/dev/null 2>&1
    go get "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}" >&2
  )
}

build_kwok() {
  (
    cd "$1"
    go_build kwok sigs.k8s.io/kwok/cmd/kwok "6/6" "$KWOK_VERSION, about 3 minutes on 2 cores"
  )
}

kwok_work=""
fetch_pid=""
trap 'rm -rf "$kwok_work"' EXIT
if [[ ! -x "$DIR/kwok" ]]; then
  kwok_work="$(mktemp -d)"
  fetch_kwok "$kwok_work" &
  fetch_pid=$!
fi
if [[ ! -x "$DIR/kube-controller-manager" || ! -x "$DIR/kube-scheduler" ]]; then
  build_kube
fi
if [[ -n "$fetch_pid" ]]; then
  wait "$fetch_pid"
  build_kwok "$kwok_work"
fi

echo "$DIR"
