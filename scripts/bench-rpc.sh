#!/usr/bin/env bash
# RPC benchmark: echo round trips through one Hypha server, the Java client next to the Python
# reference client, with the provider in either language. Prints a Markdown table.
#   [BENCH_INSTANCE=name] scripts/bench-rpc.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."

CALLS=${BENCH_CALLS:-3000}
BIG_CALLS=${BENCH_BIG_CALLS:-100}
if [[ "${1:-}" == "--quick" ]]; then CALLS=300; BIG_CALLS=20; fi

# a private server, stopped at the end; BENCH_INSTANCE names another one so that two runs can overlap
export HYPHA_INSTANCE=${BENCH_INSTANCE:-bench}
[[ "$HYPHA_INSTANCE" != default ]] || { echo "BENCH_INSTANCE must not be the shared default server" >&2; exit 2; }
# the default limit (200 frames/s per connection) would disconnect a benchmark client
export HYPHA_WS_MSG_RATE_LIMIT=1000000 HYPHA_WS_MSG_BURST_LIMIT=1000000
scripts/hypha-server.sh start >&2
trap 'scripts/hypha-server.sh stop >&2 || true; kill $(jobs -p) 2>/dev/null || true' EXIT
# shellcheck disable=SC1090
source "$HOME/.cache/hypha-k8s-worker/run/hypha-$HYPHA_INSTANCE.env"

# the Java client runs from the production jar; its command line is a test class, compiled by package
JAR=$(ls target/hypha-k8s-worker-*-fat.jar 2>/dev/null | head -1 || true)
CLI=target/test-classes/io/hypha/bench/HyphaRpcCli.class
if [[ -z "$JAR" || ! -f "$CLI" || -n "$(find src/main/java src/main/resources src/test/java/io/hypha/bench pom.xml -newer "$JAR" -print -quit)" ]]; then
  mvn -q -B -DskipTests package >&2
  JAR=$(ls target/hypha-k8s-worker-*-fat.jar | head -1)
fi
# only the command line's classes next to the jar: the rest of target/test-classes (logback-test.xml)
# would change how the client under measurement logs
CLI_CP=target/bench-rpc-cli
rm -rf "$CLI_CP" && mkdir -p "$CLI_CP/io/hypha/bench" && cp target/test-classes/io/hypha/bench/HyphaRpcCli*.class "$CLI_CP/io/hypha/bench/"
JAVA=(java -Xmx512m -cp "$CLI_CP:$JAR" io.hypha.bench.HyphaRpcCli)
PY=("$HYPHA_PYTHON" scripts/py/bench_rpc.py)
# the Java client paces itself below the server's default limit; this server allows far more
COMMON=(--server-url "$HYPHA_SERVER_URL" --token "$HYPHA_ROOT_TOKEN" --send-rate 1000000)

# providers: one echo service in each language, fed on a pipe that stays open
mkfifo_keep() { local f; f=$(mktemp -u); mkfifo "$f"; echo "$f"; }
start_provider() { # name command...
  local name=$1; shift
  local fifo; fifo=$(mkfifo_keep)
  "$@" <"$fifo" >"target/bench-$name.out" 2>"target/bench-$name.err" &
  exec {fd}>"$fifo"
  for _ in $(seq 1 120); do grep -q '"ready"' "target/bench-$name.out" 2>/dev/null && break; sleep 0.5; done
  grep -q '"ready"' "target/bench-$name.out" || { cat "target/bench-$name.err" >&2; exit 1; }
}
mkdir -p target
start_provider java-echo "${JAVA[@]}" serve-echo "${COMMON[@]}" --service-id java-echo
start_provider py-echo "${PY[@]}" serve-echo "${COMMON[@]}" --service-id py-echo

run() { # caller provider concurrency payload calls
  local cmd
  if [[ $1 == java ]]; then cmd=("${JAVA[@]}"); else cmd=("${PY[@]}"); fi
  "${cmd[@]}" bench "${COMMON[@]}" --service "$2" --concurrency "$3" --payload "$4" --calls "$5" --warmup "$(( $5 / 5 ))" | grep "^{" | tail -1
}

echo "| caller | provider | payload | in flight | calls | p50 ms | p99 ms | calls/s | caller CPU ms/call | caller GCs per 1,000 calls |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for provider in py-echo java-echo; do
  for spec in "16 1 $CALLS" "16 64 $((CALLS * 3))" "1048576 1 $BIG_CALLS" "1048576 64 $((BIG_CALLS * 2))"; do
    read -r payload inflight calls <<<"$spec"
    for caller in java python; do
      line=$(run "$caller" "$provider" "$inflight" "$payload" "$calls")
      "$HYPHA_PYTHON" - "$line" "$provider" <<'PYEOF'
import json, sys
r = json.loads(sys.argv[1])
size = "1 MiB" if r["payload"] >= 1 << 20 else "%d B" % r["payload"]
print("| %s | %s | %s | %d | %d | %.2f | %.2f | %.0f | %.3f | %.1f |" % (r["client"], sys.argv[2], size, r["concurrency"], r["calls"],
      r["p50_ms"], r["p99_ms"], r["calls_per_s"], r["cpu_ms_per_call"], r["gc_per_1000_calls"]))
PYEOF
    done
  done
done
