#!/usr/bin/env bash
# Regenerates code and manifests from the API types: DeepCopy methods and the
# CRD under manifests/crds; and the Helm chart's copies of manifests/ files
# (CRD, RBAC rules, admission policy, alerts, dashboard), so that the chart
# and the kustomize base have one source. controller-gen is built once into
# the cache.
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
# The chart reads these with .Files.Get (and installs crds/ as they are):
# edit manifests/, then run make generate.
CHART="$OUT/charts/alertmedic"
mkdir -p "$CHART/crds" "$CHART/files"
cp "$OUT/manifests/crds/alertmedic.io_remediations.yaml" "$CHART/crds/"
cp manifests/rbac/clusterrole.yaml "$CHART/files/clusterrole.yaml"
cp manifests/rbac/role.yaml "$CHART/files/role.yaml"
cp manifests/admission/policy.yaml "$CHART/files/admission-policy.yaml"
cp manifests/admission/binding.yaml "$CHART/files/admission-binding.yaml"
cp manifests/components/monitoring/prometheusrule.yaml "$CHART/files/prometheusrule.yaml"
cp manifests/components/grafana/alertmedic.json "$CHART/files/dashboard.json"
