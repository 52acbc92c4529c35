#!/usr/bin/env bash
# Worker benchmarks: start latency and throughput next to a direct fabric8 baseline, API requests
# per session next to the original worker's polling, and the worker's footprint. Prints Markdown.
#   scripts/bench-worker.sh [--quick] [--only latency|throughput|api|logs|cpu|footprint] [--profile] [--cds]
# --profile records a JFR profile of the worker (target/bench-worker.jfr) and prints where its CPU
# samples fall. The worker runs with the Dockerfile's JAVA_TOOL_OPTIONS and MALLOC_ARENA_MAX; with
# --cds it runs as the image does, from the fat jar with a class-data archive made from
# src/main/cds/classlist, else from Maven's classes without one.
# A lever can be tried without editing anything: BENCH_JVM_EXTRA="-XX:..." adds JVM options after the
# image's, HYPHA_K8S_WORKER_* settings are passed to the worker; BENCH_SERVICE_ID names its service.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/hypha-server.sh start >&2
scripts/k8s-cluster.sh start >&2
mvn -q -B -DskipTests test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath -Dmdep.includeScope=test >&2
CP="target/test-classes:target/classes:$(cat target/bench.classpath)"
# the worker runs as its own JVM: by default with the same classpath
WORKER_CP="$CP"
ARGS=()
for a in "$@"; do
  if [[ "$a" == --cds ]]; then
    mvn -q -B -DskipTests package >&2
    WORKER_CP=$(ls -t "$PWD"/target/hypha-k8s-worker-*-fat.jar | head -1)
    rm -f target/bench-app.jsa
    java -Xshare:dump -XX:SharedClassListFile=src/main/cds/classlist -XX:SharedArchiveFile=target/bench-app.jsa -cp "$WORKER_CP" \
      >target/bench-app.jsa.log 2>&1 || { echo "the class-data dump failed: target/bench-app.jsa.log" >&2; exit 1; }
    export BENCH_CDS_ARCHIVE="$PWD/target/bench-app.jsa"
  else
    ARGS+=("$a")
  fi
done
exec java -Xmx512m -Dsurefire.test.class.path="$WORKER_CP" -cp "$CP" io.hypha.bench.WorkerBench "${ARGS[@]}"
