#!/usr/bin/env bash
# One command to see the worker work on this machine: starts a local Hypha server and a local
# Kubernetes control plane (building what is missing), builds and starts the worker against them,
# then runs the original README's k8s-job example from Python. Everything stays running.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN="$HOME/.cache/hypha-k8s-worker/run"
mkdir -p "$RUN"

echo "== Hypha server"
scripts/hypha-server.sh start
echo "== Kubernetes control plane (the first build takes several minutes)"
scripts/k8s-cluster.sh start
# shellcheck disable=SC1091
source "$RUN/hypha.env"

echo "== worker"
JAR=$(ls target/hypha-k8s-worker-*-fat.jar 2>/dev/null | head -1 || true)
if [[ -z "$JAR" || -n "$(find src/main/java src/main/resources conf pom.xml -newer "$JAR" -print -quit)" ]]; then
  mvn -q -B -DskipTests package
  JAR=$(ls target/hypha-k8s-worker-*-fat.jar | head -1)
fi
PORT=${HYPHA_K8S_WORKER_HEALTH_PORT:-8080}
if [[ -s "$RUN/worker.pid" ]] && kill -0 "$(cat "$RUN/worker.pid")" 2>/dev/null; then
  echo "worker already running (pid $(cat "$RUN/worker.pid"))"
else
  KUBECONFIG="$RUN/kubeconfig" HYPHA_SERVER_URL="$HYPHA_SERVER_URL" HYPHA_TOKEN="$HYPHA_USER_TOKEN" \
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

echo "== the README's k8s-job example"
HYPHA_SERVER_URL="$HYPHA_SERVER_URL" HYPHA_TOKEN="$HYPHA_USER_TOKEN" WORKER_SERVICE="$HYPHA_USER_WORKSPACE/k8s-worker" \
  "$HYPHA_PYTHON" scripts/py/readme_example.py

cat <<MSG

Everything is still running. Stop it with:
  kill \$(cat $RUN/worker.pid); scripts/hypha-server.sh stop; scripts/k8s-cluster.sh stop
MSG
