#!/usr/bin/env bash
# Worker benchmarks: start latency and throughput next to a direct fabric8 baseline, API requests
# per session next to the original worker's polling, and the worker's footprint. Prints Markdown.
#   scripts/bench-worker.sh [--quick] [--only latency|throughput|api|footprint] [--profile]
# --profile records a JFR profile of the worker (target/bench-worker.jfr) and prints where its CPU
# samples fall. The worker runs with the Dockerfile's JAVA_TOOL_OPTIONS and MALLOC_ARENA_MAX.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/hypha-server.sh start >&2
scripts/k8s-cluster.sh start >&2
mvn -q -B -DskipTests test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath -Dmdep.includeScope=test >&2
CP="target/test-classes:target/classes:$(cat target/bench.classpath)"
# the worker runs as its own JVM and needs the same classpath
exec java -Xmx512m -Dsurefire.test.class.path="$CP" -cp "$CP" io.hypha.bench.WorkerBench "$@"
