#!/usr/bin/env bash
# Time from the worker's process start to /health/ready (connected to Hypha, service registered,
# informers watching), against the local Hypha server and control plane, over several runs.
#   scripts/bench-ready.sh [runs] [JVM options...]
# Without options the worker runs with the Dockerfile's JAVA_TOOL_OPTIONS (and a class-data archive
# made from src/main/cds/classlist as the image makes it); pass "default" for the JVM's defaults.
# Prints one line per run (with the RSS when ready) and the median.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
shift || true
RUN="$HOME/.cache/hypha-k8s-worker/run"
scripts/hypha-server.sh start >&2
scripts/k8s-cluster.sh start >&2
# shellcheck disable=SC1091
source "$RUN/hypha.env"
JAR=$(ls -t target/hypha-k8s-worker-*-fat.jar 2>/dev/null | head -1 || true)
if [[ -z "$JAR" || -n "$(find src/main/java src/main/resources conf pom.xml -newer "$JAR" -print -quit)" ]]; then
  mvn -q -B -DskipTests package >&2
  JAR=$(ls -t target/hypha-k8s-worker-*-fat.jar | head -1)
fi
if [[ $# -eq 0 ]]; then
  # the image's options, with its class-data archive made the way the Dockerfile makes it
  OPTS=$(sed -n 's/^ENV JAVA_TOOL_OPTIONS="\([^"]*\)".*/\1/p' Dockerfile)
  [[ -n "$OPTS" ]] || { echo "no ENV JAVA_TOOL_OPTIONS=\"...\" line in the Dockerfile" >&2; exit 1; }
  if [[ "$OPTS" == *"/app/app.jsa"* ]]; then
    if [[ ! -s target/app.jsa || target/app.jsa -ot "$JAR" || target/app.jsa -ot src/main/cds/classlist ]]; then
      rm -f target/app.jsa
      java -Xshare:dump -XX:SharedClassListFile=src/main/cds/classlist -XX:SharedArchiveFile=target/app.jsa -cp "$JAR" \
        >target/app.jsa.log 2>&1 || { echo "the class-data dump failed:" >&2; tail -20 target/app.jsa.log >&2; exit 1; }
    fi
    OPTS=${OPTS//\/app\/app.jsa/target\/app.jsa}
  fi
elif [[ "$1" == default ]]; then
  OPTS=""
else
  OPTS="$*"
fi
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
LOG=$(mktemp)
pid=""
trap '[[ -n "$pid" ]] && kill "$pid" 2>/dev/null; rm -f "$LOG"' EXIT
times=()
for i in $(seq 1 "$RUNS"); do
  start=$(date +%s%N)
  # shellcheck disable=SC2086
  KUBECONFIG="$RUN/kubeconfig" HYPHA_SERVER_URL="$HYPHA_SERVER_URL" HYPHA_TOKEN="$HYPHA_USER_TOKEN" \
    HYPHA_K8S_NAMESPACE=default HYPHA_K8S_WORKER_HEALTH_PORT="$PORT" HYPHA_SERVICE_ID="ready-bench-$i-$$" \
    MALLOC_ARENA_MAX=2 java $OPTS -jar "$JAR" >"$LOG" 2>&1 &
  pid=$!
  until curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { echo "the worker exited; its log:" >&2; tail -20 "$LOG" >&2; exit 1; }
    (( $(date +%s%N) - start < 90000000000 )) || { echo "the worker is not ready after 90 s; its log:" >&2; tail -20 "$LOG" >&2; exit 1; }
    sleep 0.02
  done
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  times+=("$ms")
  sleep 2
  echo "run $i: ready in $ms ms; RSS 2 s later $(awk '/VmRSS/ {printf "%d MiB", $2 / 1024}' "/proc/$pid/status")"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=""
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
echo "JVM options: ${OPTS:-(JVM defaults)}"
echo "median of $RUNS: $median ms"
