#!/usr/bin/env bash
# Runs staticcheck on the module (arguments: the packages, default ./...).
# staticcheck is built once into the cache from the Go module proxy, at a
# version that understands the Go release in go.mod.
set -euo pipefail
cd "$(dirname "$0")/.."
STATICCHECK_VERSION="${STATICCHECK_VERSION:-v0.8.2}"
CACHE="${ALERTMEDIC_CACHE:-$HOME/.cache/alertmedic}"
BIN="$CACHE/bin/staticcheck-$STATICCHECK_VERSION"
if [[ ! -x "$BIN" ]]; then
  echo "staticcheck: building honnef.co/go/tools/cmd/staticcheck $STATICCHECK_VERSION" >&2
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  GOFLAGS=-mod=mod GOBIN="$tmp" go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
  mkdir -p "$CACHE/bin" && mv "$tmp/staticcheck" "$BIN"
fi
if [[ $# -eq 0 ]]; then
  set -- ./...
fi
"$BIN" "$@"
