#!/usr/bin/env bash
# Full fuzz run: scripts/fuzz.sh [tries] (default 5000).
# The in-process compile property needs no server or cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
TRIES="${1:-5000}"
start=$(date +%s)
mvn -o -q test -Dtest=ManifestCompileFuzzTest -Dsurefire.failIfNoSpecifiedTests=false \
    -Djqwik.tries.default="$TRIES" -Dfuzz.tries="$TRIES"
echo "ManifestCompileFuzzTest: $TRIES tries in $(( $(date +%s) - start )) s"
