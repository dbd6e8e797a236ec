#!/usr/bin/env bash
# Regenerates code and manifests from the API types: DeepCopy methods and the
# CRD under manifests/crds. controller-gen is built once into the cache.
set -euo pipefail
cd "$(dirname "$0")/.."
CONTROLLER_TOOLS_VERSION="${CONTROLLER_TOOLS_VERSION:-v0.23.0}"
CACHE="${ALERTMEDIC_CACHE:-$HOME/.cache/alertmedic}"
GEN="$CACHE/bin/controller-gen-$CONTROLLER_TOOLS_VERSION"
if [[ ! -x "$GEN" ]]; then
  echo "generate: building controller-gen $CONTROLLER_TOOLS_VERSION" >&2
  GOFLAGS=-mod=mod GOBIN="$CACHE/bin/tmp" go install "sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_TOOLS_VERSION"
  mkdir -p "$CACHE/bin" && mv "$CACHE/bin/tmp/controller-gen" "$GEN" && rmdir "$CACHE/bin/tmp"
fi
OUT="${1:-.}"
"$GEN" object paths=./api/... output:dir="$OUT/api/v1alpha1"
"$GEN" crd paths=./api/... output:crd:dir="$OUT/manifests/crds"
