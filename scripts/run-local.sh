#!/usr/bin/env bash
# One command to see the worker work on this machine: starts a local Kubernetes cluster (control plane,
# kwok's node and a real node) and a local Hypha server (building what is missing), builds the worker's
# image from the Dockerfile, deploys it in-cluster the README's way (namespace hypha, secret
# hypha-secrets, ./deploy-worker.sh), then runs the original README's k8s-job example from Python: its
# log lines come from a real container on the real node. Everything stays running.
#
#   scripts/run-local.sh           the worker in-cluster, the Job in a real container (needs root)
#   scripts/run-local.sh --kwok    the fast path: the worker as a local process, the Job on kwok's
#                                  simulated node (its log is the simulated pod log)
set -euo pipefail
cd "$(dirname "$0")/.."
RUN="$HOME/.cache/hypha-k8s-worker/run"
mkdir -p "$RUN"
MODE=real
case "${1:-}" in
  --kwok) MODE=kwok ;;
  "") ;;
  *) echo "usage: $0 [--kwok]" >&2; exit 2 ;;
esac

echo "== Kubernetes cluster (the first build takes several minutes)"
if [[ "$MODE" == kwok ]]; then
  scripts/k8s-cluster.sh status >/dev/null 2>&1 || K8S_REAL_NODE="${K8S_REAL_NODE:-0}" scripts/k8s-cluster.sh start
else
  scripts/k8s-cluster.sh start
fi
echo "== Hypha server"
scripts/hypha-server.sh start
# shellcheck disable=SC1091
source "$RUN/hypha.env"
export KUBECONFIG="$RUN/kubeconfig"

if [[ "$MODE" == kwok ]]; then
  echo "== worker (local process; Jobs on kwok's node)"
  JAR=$(ls target/hypha-k8s-worker-*-fat.jar 2>/dev/null | head -1 || true)
  if [[ -z "$JAR" || -n "$(find src/main/java src/main/resources conf pom.xml -newer "$JAR" -print -quit)" ]]; then
    mvn -q -B -DskipTests package
    JAR=$(ls target/hypha-k8s-worker-*-fat.jar | head -1)
  fi
  PORT=${HYPHA_K8S_WORKER_HEALTH_PORT:-8080}
  if [[ -s "$RUN/worker.pid" ]] && kill -0 "$(cat "$RUN/worker.pid")" 2>/dev/null; then
    echo "worker already running (pid $(cat "$RUN/worker.pid"))"
  else
    HYPHA_SERVER_URL="$HYPHA_SERVER_URL" HYPHA_TOKEN="$HYPHA_USER_TOKEN" \
      HYPHA_K8S_NAMESPACE=default HYPHA_K8S_WORKER_HEALTH_PORT="$PORT" \
      nohup java -jar "$JAR" >"$RUN/worker.log" 2>&1 &
    echo $! >"$RUN/worker.pid"
  fi
  for _ in $(seq 1 60); do
    curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null && break
    sleep 1
  done
  curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null || { echo "the worker is not ready; see $RUN/worker.log"; tail -20 "$RUN/worker.log"; exit 1; }
  echo "worker ready: health on http://127.0.0.1:$PORT/health/ready, log in $RUN/worker.log"
  STOP_HINT="kill \$(cat $RUN/worker.pid); scripts/hypha-server.sh stop; scripts/k8s-cluster.sh stop"
else
  echo "== images (cached; the worker's from the Dockerfile)"
  scripts/images.sh build all
  scripts/images.sh import
  KUBECTL="$(ls "$HOME"/.cache/hypha-k8s-worker/k8s-bins/*/kubectl | head -1)"
  echo "== worker (in-cluster, on the real node)"
  # the README's Quick Start
  "$KUBECTL" get namespace hypha >/dev/null 2>&1 || "$KUBECTL" create namespace hypha
  "$KUBECTL" create secret generic hypha-secrets -n hypha --from-literal=HYPHA_AGENTS_TOKEN="$HYPHA_USER_TOKEN" \
    --dry-run=client -o yaml | "$KUBECTL" apply -f - >/dev/null
  # Pods reach Hypha and the API server at the node's bridge address only (no cluster DNS, no kube-proxy);
  # the worker and its Jobs go to the real node, which is tainted against everything else.
  BRIDGE_HOST="${HYPHA_BRIDGE_URL#http://}"
  BRIDGE_HOST="${BRIDGE_HOST%%:*}"
  cat >"$RUN/run-local-values.yaml" <<VALUES
image: {repository: localhost/hypha-k8s-worker, tag: local, pullPolicy: Never}
hypha: {serverUrl: "$HYPHA_BRIDGE_URL", workspace: "$HYPHA_USER_WORKSPACE", serviceId: k8s-worker}
kubernetes:
  jobNodeSelector: {hypha.test/node: real}
  jobTolerations: [{key: hypha.test/node, operator: Equal, value: real, effect: NoSchedule}]
policy:
  resources:
    defaultRequests: {cpu: 50m, memory: 64Mi}
extraEnv:
  - {name: KUBERNETES_SERVICE_HOST, value: "$BRIDGE_HOST"}
  - {name: KUBERNETES_SERVICE_PORT, value: "6443"}
nodeSelector: {hypha.test/node: real}
tolerations: [{key: hypha.test/node, operator: Equal, value: real, effect: NoSchedule}]
VALUES
  ./deploy-worker.sh -f "$RUN/run-local-values.yaml"
  "$KUBECTL" get pods -n hypha -l app.kubernetes.io/name=hypha-k8s-worker -o wide
  STOP_HINT="helm uninstall hypha-k8s-worker -n hypha; scripts/hypha-server.sh stop; scripts/k8s-cluster.sh stop"
fi

echo "== the README's k8s-job example"
HYPHA_SERVER_URL="$HYPHA_SERVER_URL" HYPHA_TOKEN="$HYPHA_USER_TOKEN" WORKER_SERVICE="$HYPHA_USER_WORKSPACE/k8s-worker" \
  "$HYPHA_PYTHON" scripts/py/readme_example.py

if [[ "$MODE" == real ]]; then
  cat <<MSG

The same with kubectl (KUBECONFIG=$KUBECONFIG, kubectl is $KUBECTL):
  kubectl get pods -n hypha -o wide
  kubectl logs -n hypha -l app.kubernetes.io/name=hypha-k8s-worker
  kubectl logs -n hypha <the pod printed above>
MSG
fi
cat <<MSG

Everything is still running. Stop it with:
  $STOP_HINT
MSG
