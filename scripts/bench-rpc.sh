#!/usr/bin/env bash
# RPC benchmark: echo round trips through one Hypha server, the Java client next to the Python
# reference client, with the provider in either language. Prints a Markdown table.
#   [BENCH_INSTANCE=name] scripts/bench-rpc.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."

CALLS=${BENCH_CALLS:-3000}
BIG_CALLS=${BENCH_BIG_CALLS:-100}
# Every caller first makes as many calls as it will measure, and at least this many: the Java
# client's JIT compiles its message path once per process, over the first few hundred 1 MiB calls
# (several seconds of compiler CPU), and a measured span that still holds that is not a steady
# state. The Python client's figure does not change with the warm-up; both get the same.
WARMUP_MIN=${BENCH_WARMUP_MIN:-500}
if [[ "${1:-}" == "--quick" ]]; then CALLS=300; BIG_CALLS=20; WARMUP_MIN=${BENCH_WARMUP_MIN:-100}; fi

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
  "${cmd[@]}" bench "${COMMON[@]}" --service "$2" --concurrency "$3" --payload "$4" --calls "$5" --warmup "$(( $5 > WARMUP_MIN ? $5 : WARMUP_MIN ))" | grep "^{" | tail -1
}

RESULTS=$(mktemp)
echo "| caller | provider | payload | in flight | calls | p50 ms | p99 ms | calls/s | caller CPU ms/call | of it JIT ms/call | caller GCs per 1,000 calls |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for provider in py-echo java-echo; do
  for spec in "16 1 $CALLS" "16 64 $((CALLS * 3))" "1048576 1 $BIG_CALLS" "1048576 64 $((BIG_CALLS * 2))"; do
    read -r payload inflight calls <<<"$spec"
    for caller in java python; do
      line=$(run "$caller" "$provider" "$inflight" "$payload" "$calls")
      echo "$provider $line" >>"$RESULTS"
      "$HYPHA_PYTHON" - "$line" "$provider" <<'PYEOF'
import json, sys
r = json.loads(sys.argv[1])
size = "1 MiB" if r["payload"] >= 1 << 20 else "%d B" % r["payload"]
jit = "%.3f" % r["jit_ms_per_call"] if "jit_ms_per_call" in r else "–"
print("| %s | %s | %s | %d | %d | %.2f | %.2f | %.0f | %.3f | %s | %.1f |" % (r["client"], sys.argv[2], size, r["concurrency"], r["calls"],
      r["p50_ms"], r["p99_ms"], r["calls_per_s"], r["cpu_ms_per_call"], jit, r["gc_per_1000_calls"]))
PYEOF
    done
  done
done

# Java against Python, row by row: the figures the targets are about
echo
echo "| provider | payload | in flight | p50 Java / Python | CPU per call Java / Python | Java CPU per call without its JIT / Python |"
echo "|---|---|---|---|---|---|"
"$HYPHA_PYTHON" - "$RESULTS" <<'PYEOF'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    provider, _, js = line.partition(" ")
    r = json.loads(js)
    rows[(provider, r["payload"], r["concurrency"], r["client"])] = r
for (provider, payload, inflight, client), j in rows.items():
    p = rows.get((provider, payload, inflight, "python"))
    if client != "java" or p is None:
        continue
    size = "1 MiB" if payload >= 1 << 20 else "%d B" % payload
    steady = j["cpu_ms_per_call"] - j.get("jit_ms_per_call", 0)
    print("| %s | %s | %d | %.2f / %.2f ms (%.2f×) | %.3f / %.3f ms (%.2f×) | %.3f ms (%.2f×) |" % (
        provider, size, inflight, j["p50_ms"], p["p50_ms"], j["p50_ms"] / p["p50_ms"],
        j["cpu_ms_per_call"], p["cpu_ms_per_call"], j["cpu_ms_per_call"] / p["cpu_ms_per_call"],
        steady, steady / p["cpu_ms_per_call"]))
PYEOF
rm -f "$RESULTS"
