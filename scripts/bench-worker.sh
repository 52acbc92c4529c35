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
    JAR=$(ls -t target/hypha-k8s-worker-*-fat.jar 2>/dev/null | head -1 || true)
    if [[ -z "$JAR" || -n "$(find src/main pom.xml -newer "$JAR" -print -quit)" ]]; then
      mvn -q -B -DskipTests package >&2
      JAR=$(ls -t target/hypha-k8s-worker-*-fat.jar | head -1)
    fi
    # a copy of its own, so that a build during the run does not change the jar under the worker
    mkdir -p target/bench-jars
    WORKER_CP="$PWD/target/bench-jars/worker-$$.jar"
    cp "$JAR" "$WORKER_CP"
    java -Xshare:dump -XX:SharedClassListFile=src/main/cds/classlist -XX:SharedArchiveFile="${WORKER_CP%.jar}.jsa" -cp "$WORKER_CP" \
      >"${WORKER_CP%.jar}.jsa.log" 2>&1 || { echo "the class-data dump failed: ${WORKER_CP%.jar}.jsa.log" >&2; exit 1; }
    export BENCH_CDS_ARCHIVE="${WORKER_CP%.jar}.jsa"
  else
    ARGS+=("$a")
  fi
done
exec java -Xmx512m -Dsurefire.test.class.path="$WORKER_CP" -cp "$CP" io.hypha.bench.WorkerBench "${ARGS[@]}"
