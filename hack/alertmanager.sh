#!/usr/bin/env bash
# Builds a real Alertmanager from the Go module proxy into the cache, for the
# end-to-end tests; reused when present. Prints the binary's path.
set -euo pipefail
AM_VERSION="${AM_VERSION:-v0.31.1}"   # v0.34.x does not build from the module: its UI assets are not in it
CACHE="${ALERTMEDIC_CACHE:-$HOME/.cache/alertmedic}"
BIN="$CACHE/alertmanager-$AM_VERSION/alertmanager"
if [[ ! -x "$BIN" ]]; then
  echo "alertmanager: building $AM_VERSION (about a minute, once)" >&2
  mkdir -p "$(dirname "$BIN")"
  GOFLAGS=-mod=mod GOBIN="$(dirname "$BIN")" CGO_ENABLED=0 \
    go install "github.com/prometheus/alertmanager/cmd/alertmanager@$AM_VERSION" >&2
fi
echo "$BIN"
