#!/usr/bin/env bash
# make demo: alertmedic on a local cluster that reconciles (kube-apiserver,
# etcd, kube-controller-manager, kube-scheduler, kwok with a fake node),
# driven by a real Alertmanager configured from examples/alertmanager.yml.
# Alerts are posted to Alertmanager's API as Prometheus posts them;
# Alertmanager routes them to alertmedic, which restarts shop/cart, scales
# shop/checkout up and rolls it back from a bad release; Alertmanager's
# re-sends then change nothing. Everything it starts is stopped on exit,
# on success, failure or Ctrl-C.
#
# Environment: DEMO_PORT (alertmedic, default 18080), DEMO_AM_PORT
# (Alertmanager, default 19093); a busy port is skipped for the next free one.
set -euo pipefail
cd "$(dirname "$0")/.."

bold() { printf '\033[1m%s\033[0m\n' "$*"; }
say() { printf '\n'; bold "==> $*  [$((SECONDS - began))s]"; }
# tell prints the narrative of a step: what happens and why.
tell() { printf '    %s\n' "$@"; }
fail() { echo "demo: $*" >&2; exit 1; }
wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local limit=$1 what=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS > deadline)); then fail "timed out after ${limit}s waiting for $what"; fi
    sleep 0.2
  done
}
free_port() { # free_port FIRST: FIRST or the next port nothing listens on
  local p=$1
  while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}

began=$SECONDS
# The terminal's stderr, for cleanup: a signal's trap may run inside a
# command whose output goes to /dev/null.
exec 7>&2
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if ((rc == 130 || rc == 143)); then
    echo "demo: interrupted; stopping everything it started" >&7
  elif ((rc != 0)); then
    if [[ -s "$WORK/kubeconfig" ]]; then
      echo "--- the records and the shop ---" >&7
      "$KUBECTL" --kubeconfig "$WORK/kubeconfig" --request-timeout=5s -n alertmedic get remediations -o wide >&7 2>&1 || true
      "$KUBECTL" --kubeconfig "$WORK/kubeconfig" --request-timeout=5s -n shop get deploy,rs,pods -o wide >&7 2>&1 || true
    fi
    for name in alertmedic alertmanager devcluster; do
      [[ -s "$WORK/$name.log" ]] || continue
      echo "--- last lines of $name's log ---" >&7
      tail -n 30 "$WORK/$name.log" >&7
    done
  fi
  # The last started first; devcluster stops the cluster's processes itself.
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill -TERM "${PIDS[i]}" 2>/dev/null || true
    wait "${PIDS[i]}" 2>/dev/null || true
  done
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
start() { # start NAME COMMAND...: in the background, logging to $WORK/NAME.log
  local name=$1; shift
  "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
}

bold "alertmedic demo"
tell "A local Kubernetes cluster runs two Deployments: shop/cart, and shop/checkout, just" \
  "rolled out to a bad release (v2). Three alerts are posted to a real Alertmanager," \
  "configured from examples/alertmanager.yml, which sends them to alertmedic; by the rules" \
  "in examples/rules/demo.yaml, alertmedic restarts cart, scales checkout up and rolls it" \
  "back to v1. Alertmanager keeps re-sending the alerts; nothing is done twice."

say "building alertmedic, Alertmanager and the local cluster (cached after the first run)"
make --no-print-directory -s build
BIN=bin/alertmedic
AM_BIN="$(hack/alertmanager.sh)"
KUBEBUILDER_ASSETS="$(hack/envtest-assets.sh)"
ALERTMEDIC_CLUSTER_ASSETS="$(hack/cluster-assets.sh)"
export KUBEBUILDER_ASSETS ALERTMEDIC_CLUSTER_ASSETS
KUBECTL="$KUBEBUILDER_ASSETS/kubectl"
go build -o bin/devcluster ./hack/devcluster  # relinked only when its sources change
echo "Alertmanager: $AM_BIN"

say "starting a local cluster: kube-apiserver, etcd, kube-controller-manager, kube-scheduler, kwok (one fake node)"
start devcluster bin/devcluster -full -kubeconfig "$WORK/kubeconfig"
wait_for 120 "the cluster" test -s "$WORK/kubeconfig"
export KUBECONFIG="$WORK/kubeconfig"
k() { "$KUBECTL" --request-timeout=10s "$@"; }
k get nodes

pods() { # pods APP: the app's pods that are not going away
  k -n shop get pods -l "app=$1" --sort-by=.metadata.name -o go-template='{{range .items}}{{if not .metadata.deletionTimestamp}}{{.metadata.name}}{{"\t"}}{{(index .spec.containers 0).image}}{{"\t"}}{{range .status.conditions}}{{if eq .type "Ready"}}Ready={{.status}}{{end}}{{end}}{{"\n"}}{{end}}{{end}}'
}
show_pods() { # show_pods APP...
  local app
  for app in "$@"; do pods "$app"; done | column -t -N POD,IMAGE,READY
}
show_rs() {
  k -n shop get rs -l app=checkout --sort-by=.metadata.creationTimestamp \
    -o custom-columns='REPLICASET:.metadata.name,REVISION:.metadata.annotations.deployment\.kubernetes\.io/revision,IMAGE:.spec.template.spec.containers[0].image,DESIRED:.spec.replicas,READY:.status.readyReplicas'
}
rolled_out() { # rolled_out DEPLOYMENT REPLICAS: every pod updated and Ready, no old one left
  k -n shop rollout status "deploy/$1" --timeout=1s &&
    [[ "$(pods "$1" | grep -c 'Ready=True$')" == "$2" && "$(pods "$1" | wc -l)" == "$2" ]]
}

say "deploying the shop: cart (2 pods) and checkout (2 pods, image checkout:v1)"
k apply -f examples/demo/shop.yaml
shop_out() { rolled_out cart 2 && rolled_out checkout 2; }
wait_for 60 "shop/cart and shop/checkout to roll out" shop_out

say "releasing checkout:v2, the bad release (kubectl set image: revision 2)"
tell "The Deployment controller replaces checkout's pods; the ReplicaSet of v1 is kept as history."
k -n shop set image deploy/checkout checkout=registry.example.com/shop/checkout:v2
v2_out() { rolled_out checkout 2 && [[ "$(pods checkout)" != *:v1* ]]; }
wait_for 60 "shop/checkout to roll out v2" v2_out
show_rs
echo
show_pods cart checkout
CART_BEFORE="$(pods cart | cut -f1)"
CHECKOUT_BEFORE="$(pods checkout | cut -f1)"

say "starting alertmedic with examples/rules/demo.yaml (records in namespace alertmedic)"
k create namespace alertmedic
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/token"
PORT=$(free_port "${DEMO_PORT:-18080}")
start alertmedic "$BIN" serve --listen "127.0.0.1:$PORT" --rules examples/rules/demo.yaml \
  --token-file "$WORK/token" --leader-elect-retry-period 500ms --log.format logfmt
wait_for 30 "alertmedic to be ready" curl -sf "http://127.0.0.1:$PORT/readyz"
"$BIN" check examples/rules/demo.yaml

say "starting Alertmanager with examples/alertmanager.yml"
tell "Changed for a local demo: where alertmedic listens, where the token is, and the" \
  "alertmedic route's timers (group_wait 10s -> 1s, group_interval 1m -> 2s," \
  "repeat_interval 1h -> 1s: with repeat_interval under group_interval, Alertmanager" \
  "re-sends every alert at each group_interval, every 2s, so that the demo shows" \
  "re-sends within seconds):"
sed -e "s#url: http://alertmedic.alertmedic.svc:8080/webhook#url: http://127.0.0.1:$PORT/webhook#" \
  -e "s#credentials_file: /etc/alertmanager/secrets/alertmedic-webhook/token#credentials_file: $WORK/token#" \
  -e 's#^      group_wait: 10s#      group_wait: 1s#' \
  -e 's#^      group_interval: 1m#      group_interval: 2s#' \
  -e 's#^      repeat_interval: 1h#      repeat_interval: 1s#' \
  examples/alertmanager.yml >"$WORK/alertmanager.yml"
changes="$(diff examples/alertmanager.yml "$WORK/alertmanager.yml" | grep '^>' || true)"
[[ "$(grep -c . <<<"$changes")" == 5 ]] || fail "examples/alertmanager.yml no longer has the lines the demo changes; got: $changes"
sed 's/^> */      /' <<<"$changes"
AM_PORT=$(free_port "${DEMO_AM_PORT:-19093}")
AM="http://127.0.0.1:$AM_PORT"
start alertmanager "$AM_BIN" --config.file="$WORK/alertmanager.yml" --storage.path="$WORK/am-data" \
  --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address=
wait_for 30 "Alertmanager to be ready" curl -sf "$AM/-/ready"
echo "Alertmanager ready at $AM"

# The alerts as Prometheus posts them (examples/demo/alerts.json); the
# crash-looping pod is one of cart's real pods.
CART_POD="$(head -n 1 <<<"$CART_BEFORE")"
sed "s/CART_POD/$CART_POD/g" examples/demo/alerts.json >"$WORK/alerts.json"
post_alerts() {
  curl -sSf -X POST "$AM/api/v2/alerts" -H 'Content-Type: application/json' --data-binary @"$WORK/alerts.json" >/dev/null
}
metric() { # metric URL SERIES: the value of one series, 0 when absent
  curl -s "$1/metrics" | awk -v s="$2" '$1 == s { print $2; found = 1 } END { if (!found) print 0 }'
}
records() { k -n alertmedic get remediations -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}'; }
medic_events() { k -n shop get events -o jsonpath='{range .items[*]}{.reason}{"\n"}{end}' | grep -c '^Alertmedic' || true; }

say "Prometheus fires three alerts at Alertmanager (POST /api/v2/alerts)"
tell "KubePodCrashLooping   shop/cart      -> rule restart-crashlooping (pod $CART_POD crash loops)" \
  "CheckoutLatencyHigh   shop/checkout  -> rule scale-on-latency     (double the replicas, at most 6)" \
  "CheckoutErrorRateHigh shop/checkout  -> rule rollback-bad-deploy  (critical: back to the previous revision)" \
  "Alertmanager waits group_wait, then sends each alert to alertmedic's webhook."
acted_at=$SECONDS
post_alerts
three_done() { [[ "$(records | grep -c '^Succeeded$')" == 3 ]]; }
wait_for 60 "three Succeeded records" three_done
echo "alertmedic acted on all three, and saw each rollout converge (Succeeded, Verified), within $((SECONDS - acted_at))s of the alerts reaching Alertmanager"
wait_for 60 "shop/cart's restart to roll out" rolled_out cart 2
v1_back() { rolled_out checkout 4 && [[ "$(pods checkout)" != *:v2* ]]; }
wait_for 60 "shop/checkout's rollback to roll out at 4 pods" v1_back

say "what alertmedic did, as the cluster shows it"
bold "Restart of shop/cart: new pods replaced the old ones"
tell "before: $(paste -sd' ' <<<"$CART_BEFORE")"
show_pods cart
echo
bold "Scale and rollback of shop/checkout: 2 -> 4 pods, back on checkout:v1"
tell "before: $(paste -sd' ' <<<"$CHECKOUT_BEFORE") (checkout:v2)" \
  "The Deployment went back to v1's ReplicaSet, which became revision 3, as kubectl rollout undo does."
show_rs
echo
show_pods checkout
echo
bold "alertmedic's Events on the workloads"
{
  printf 'OBJECT\tREASON\tMESSAGE\n'
  k -n shop get events --sort-by=.metadata.creationTimestamp \
    -o jsonpath='{range .items[*]}{.involvedObject.kind}/{.involvedObject.name}{"\t"}{.reason}{"\t"}{.message}{"\n"}{end}' |
    awk -F '\t' '$2 ~ /^Alertmedic/'
} | column -t -s $'\t'
echo
bold "The records, one per alert episode (kubectl -n alertmedic get remediations -o wide)"
k -n alertmedic get remediations -o wide

say "Alertmanager keeps re-sending, Prometheus keeps firing: nothing is done twice"
tell "Every 2s Alertmanager re-sends each alert (repeat_interval), and the demo posts the" \
  "alerts again as Prometheus does at each evaluation. alertmedic answers each re-send" \
  "200 and finds the episode's record already there: deduplicated, no second action."
sent='alertmanager_notifications_total{integration="webhook"}' # alertmedic is the only webhook
dedup='alertmedic_engine_decisions_total{decision="deduplicated"}'
am_before=$(metric "$AM" "$sent")
dedup_before=$(metric "http://127.0.0.1:$PORT" "$dedup")
records_before=$(records | wc -l)
events_before=$(medic_events)
pods_before="$(pods cart; pods checkout)"
post_alerts
at_least() { # at_least URL SERIES N
  local v; v=$(metric "$1" "$2"); ((${v%.*} >= $3))
}
wait_for 30 "Alertmanager to re-send every alert twice more" at_least "$AM" "$sent" $((${am_before%.*} + 6))
wait_for 10 "alertmedic to count the re-sends" at_least "http://127.0.0.1:$PORT" "$dedup" $((${dedup_before%.*} + 6))
am_after=$(metric "$AM" "$sent")
curl -s "http://127.0.0.1:$PORT/metrics" >"$WORK/metrics"
dedup_after=$(awk -v s="$dedup" '$1 == s { print $2 }' "$WORK/metrics")
records_after=$(records | wc -l)
events_after=$(medic_events)
pods_after="$(pods cart; pods checkout)"
printf '%-52s %8s %8s\n' "" before after
printf '%-52s %8s %8s\n' "Alertmanager: notifications sent to alertmedic" "$am_before" "$am_after"
printf '%-52s %8s %8s\n' "alertmedic: re-sends deduplicated" "$dedup_before" "$dedup_after"
printf '%-52s %8s %8s\n' "Remediation records" "$records_before" "$records_after"
printf '%-52s %8s %8s\n' "alertmedic Events in shop" "$events_before" "$events_after"
if [[ "$pods_before" == "$pods_after" ]]; then
  echo "pods of cart and checkout: the same $(wc -l <<<"$pods_after") pods, unchanged"
else
  fail "pods changed during the re-sends: before $pods_before, after $pods_after"
fi
((records_after == records_before && events_after == events_before)) || fail "records or Events changed during the re-sends: a re-send acted again"
echo
grep -E '^alertmedic_(engine_decisions|remediations)_total' "$WORK/metrics"

say "demo finished in $((SECONDS - began))s; stopping Alertmanager, alertmedic and the cluster"
