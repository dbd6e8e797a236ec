#!/usr/bin/env bash
# Finds a real Prometheus (with promtool beside it) for the replay tests, or
# installs Debian's package; prints the prometheus binary's path. Looked for,
# in order: $PROMETHEUS (a path to the binary), a copy cached under
# ~/.cache/alertmedic/prometheus, prometheus on PATH, then
# 'apt-get install prometheus' when running as root where apt-get exists.
# Building cmd/prometheus from the Go module proxy is not tried: its web
# assets may be missing from the module, as Alertmanager's are from v0.34.
set -euo pipefail
CACHE="${ALERTMEDIC_CACHE:-$HOME/.cache/alertmedic}/prometheus"

usable() { # prometheus binary with an executable promtool beside it
  [[ -n "$1" && -x "$1" && -x "$(dirname "$1")/promtool" ]]
}

if [[ -n "${PROMETHEUS:-}" ]]; then
  if usable "$PROMETHEUS"; then echo "$PROMETHEUS"; exit 0; fi
  echo "prometheus: \$PROMETHEUS=$PROMETHEUS is not an executable with promtool beside it" >&2
  exit 1
fi
if usable "$CACHE/prometheus"; then echo "$CACHE/prometheus"; exit 0; fi
if bin="$(command -v prometheus 2>/dev/null)" && usable "$bin"; then echo "$bin"; exit 0; fi

if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "prometheus: installing Debian's prometheus package (with promtool), once" >&2
  export DEBIAN_FRONTEND=noninteractive
  # The package's service is not wanted: policy-rc.d keeps it from starting
  # where an init system would start it.
  if ! apt-get install -y --no-install-recommends prometheus >&2; then
    apt-get update >&2
    apt-get install -y --no-install-recommends prometheus >&2
  fi
  if bin="$(command -v prometheus 2>/dev/null)" && usable "$bin"; then echo "$bin"; exit 0; fi
  echo "prometheus: apt-get installed the package but no prometheus with promtool beside it is on PATH" >&2
  exit 1
fi

cat >&2 <<MSG
prometheus: no Prometheus found. The replay tests need a real one (2.x or later) with promtool beside it. Either:
  - install Debian's or Ubuntu's package as root: apt-get install prometheus
  - or put the release tarball's prometheus and promtool in $CACHE/
  - or set PROMETHEUS to the path of a prometheus binary with promtool in the same directory
MSG
exit 1
