#!/usr/bin/env bash
# make demo: a local API server, a sample Deployment, alertmedic with the
# example rules, and one Alertmanager notification that restarts, scales and
# rolls the Deployment back. Everything it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS > deadline)); then echo "demo: timed out waiting for $what" >&2; return 1; fi
    sleep 0.2
  done
}

ASSETS="$(hack/envtest-assets.sh)"
export KUBEBUILDER_ASSETS="$ASSETS"
KUBECTL="$ASSETS/kubectl"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

say "building alertmedic"
make --no-print-directory build
BIN=bin/alertmedic

say "starting a local kube-apiserver and etcd"
go build -o "$WORK/devcluster" ./hack/devcluster
"$WORK/devcluster" -kubeconfig "$WORK/kubeconfig" 2>"$WORK/devcluster.log" &
PIDS+=($!)
wait_for 120 "the API server" test -s "$WORK/kubeconfig"
export KUBECONFIG="$WORK/kubeconfig"
k() { "$KUBECTL" "$@"; }

say "creating shop/checkout (2 replicas, revision 2 running image checkout:v2) and shop/cart"
k apply -f examples/demo/checkout.yaml
UID_=$(k -n shop get deploy checkout -o jsonpath='{.metadata.uid}')
sed "s/DEPLOYMENT_UID/$UID_/" examples/demo/replicasets.yaml.tmpl | k apply -f -
k -n shop get deploy,rs

say "starting alertmedic with examples/rules/demo.yaml (records in namespace alertmedic)"
k create namespace alertmedic
echo "demo-token-$RANDOM$RANDOM" >"$WORK/token"
PORT=${DEMO_PORT:-18080}
"$BIN" serve --listen "127.0.0.1:$PORT" --rules examples/rules/demo.yaml \
  --token-file "$WORK/token" --log.format logfmt >"$WORK/alertmedic.log" 2>&1 &
PIDS+=($!)
wait_for 30 "alertmedic to be ready" curl -sf "http://127.0.0.1:$PORT/readyz"
echo "ready: $(curl -s "http://127.0.0.1:$PORT/readyz")"

post() {
  curl -sS -X POST "http://127.0.0.1:$PORT/webhook" \
    -H "Authorization: Bearer $(cat "$WORK/token")" \
    -H 'Content-Type: application/json' --data-binary @examples/demo/notification.json
  echo
}
say "Alertmanager notifies: KubePodCrashLooping, CheckoutLatencyHigh, CheckoutErrorRateHigh"
post

image() { k -n shop get deploy checkout -o jsonpath='{.spec.template.spec.containers[0].image}'; }
replicas() { k -n shop get deploy checkout -o jsonpath='{.spec.replicas}'; }
restarted() { k -n shop get deploy cart -o jsonpath='{.spec.template.metadata.annotations.kubectl\.kubernetes\.io/restartedAt}'; }
wait_for 30 "the rollback" bash -c "[[ \$('$KUBECTL' -n shop get deploy checkout -o jsonpath='{.spec.template.spec.containers[0].image}') == *:v1 ]]"
wait_for 30 "the scale-up" bash -c "[[ \$('$KUBECTL' -n shop get deploy checkout -o jsonpath='{.spec.replicas}') == 4 ]]"
wait_for 30 "the restart" bash -c "[[ -n \$('$KUBECTL' -n shop get deploy cart -o jsonpath='{.spec.template.metadata.annotations}') ]]"
wait_for 30 "three Events" bash -c "[[ \$('$KUBECTL' -n shop get events -o name | wc -l) -ge 3 ]]"

say "what changed"
echo "shop/checkout replicas:          2 -> $(replicas)"
echo "shop/checkout image (rollback):  registry.example.com/shop/checkout:v2 -> $(image)"
echo "shop/cart restartedAt:           $(restarted)"
k -n shop get events -o custom-columns=OBJECT:.involvedObject.name,REASON:.reason,TYPE:.type,MESSAGE:.message
wait_for 30 "three finished records" bash -c "[[ \$('$KUBECTL' -n alertmedic get remediations -o jsonpath='{.items[*].status.phase}') == 'Succeeded Succeeded Succeeded' ]]"
echo
echo "The records (one per alert episode; kubectl -n alertmedic get remediations):"
k -n alertmedic get remediations -o wide

say "Alertmanager re-sends the same group (group_interval): nothing is done twice"
post
wait_for 10 "the duplicate to be counted" bash -c "curl -s http://127.0.0.1:$PORT/metrics | grep -q 'alertmedic_engine_decisions_total{decision=\"deduplicated\"} 3'"
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^alertmedic_(engine_decisions|remediations)_total' || true
echo "Events in shop: $(k -n shop get events -o name | wc -l) (still 3: nothing acted twice)"
echo "Records: $(k -n alertmedic get remediations -o name | wc -l) (still 3: one per episode)"

say "alertmedic's log"
cat "$WORK/alertmedic.log"
say "demo finished; cleaning up"
