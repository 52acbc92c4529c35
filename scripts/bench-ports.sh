#!/usr/bin/env bash
# Web ports benchmark: a session's web app (src/test/resources/py/web_app.py in python:3.11 on the
# real node) through Hypha's /apps/ URL and the worker's proxy, next to the same requests sent
# straight to the pod in the same run: requests/s, p50/p99 and MiB/s for small responses and 10 MiB
# downloads and uploads, and the worker's CPU per proxied request. Prints Markdown.
#   scripts/bench-ports.sh [--quick]
# The worker runs with the Dockerfile's JAVA_TOOL_OPTIONS, from Maven's classes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/k8s-cluster.sh start >&2
scripts/hypha-server.sh start >&2
mvn -q -B -o -DskipTests test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath -Dmdep.includeScope=test >&2
CP="target/test-classes:target/classes:$(cat target/bench.classpath)"
exec java -Xmx512m ${BENCH_JAVA_OPTS:-} -Dsurefire.test.class.path="$CP" -cp "$CP" io.hypha.bench.WebPortsBench "$@"
