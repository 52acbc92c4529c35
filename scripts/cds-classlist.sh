#!/usr/bin/env bash
# Records src/main/cds/classlist, the classes the worker loads from its start until it is ready
# against the local Hypha server and control plane. The Dockerfile turns the list into the image's
# class-data archive, which takes the time to ready from 3.6 s to about 2 s (docs/benchmarks.md). Re-record it after
# changing dependencies: a class missing from the list is only loaded the slow way.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=src/main/cds/classlist
scripts/bench-ready.sh 1 -XX:+UseSerialGC "-XX:DumpLoadedClassList=$PWD/$OUT.new"
mv "$OUT.new" "$OUT"
echo "$(grep -vc '^[#@]' "$OUT") classes in $OUT"
