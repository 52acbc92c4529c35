#!/usr/bin/env bash
# Full fuzz run: scripts/fuzz.sh [tries] (default 5000).
# The in-process compile property needs nothing running; the call fuzz test needs the shared Hypha
# server and cluster, so it runs under the heavy-test lock.
set -euo pipefail
cd "$(dirname "$0")/.."
TRIES="${1:-5000}"
start=$(date +%s)
mvn -o -q test -Dtest=ManifestCompileFuzzTest -Dsurefire.failIfNoSpecifiedTests=false \
    -Djqwik.tries.default="$TRIES" -Dfuzz.tries="$TRIES"
echo "ManifestCompileFuzzTest: $TRIES tries in $(( $(date +%s) - start )) s"
start=$(date +%s)
flock -o /tmp/hypha-k8s-heavy.lock mvn -o -q test -Dtest=WorkerCallFuzzTest -Dsurefire.failIfNoSpecifiedTests=false \
    -Dfuzz.tries="$TRIES"
echo "WorkerCallFuzzTest: $TRIES calls in $(( $(date +%s) - start )) s"
