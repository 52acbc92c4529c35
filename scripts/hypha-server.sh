#!/usr/bin/env bash
# A real Hypha server for tests and local runs, on 127.0.0.1.
#
#   scripts/hypha-server.sh start|stop|kill|restart|status|env
#
# Installs the pinned hypha and hypha-rpc (scripts/python-requirements.txt) into a cached
# virtualenv, starts the server on a free port with a fixed JWT secret and a root token, waits for
# /health/readiness, and writes HYPHA_SERVER_URL and tokens to
# ~/.cache/hypha-k8s-worker/run/hypha.env. It stops only the process it started.
#
# HYPHA_INSTANCE=<name> runs a separate instance (state and env file named after it); restart keeps
# its port, so that clients reconnect to the same URL. Variables such as HYPHA_WS_IDLE_TIMEOUT,
# HYPHA_SERVER_ID or another HYPHA_JWT_SECRET are passed to the server. HYPHA_SERVER_APPS=1 also
# enables Hypha's app controller, with a local S3 emulator (moto) for its artifacts; HYPHA_PERSIST_DB=1
# keeps the server's database in a file across restart (stop removes it).
#
# Pods on the real test node (scripts/k8s-cluster.sh) reach only the node's bridge address: when that
# address (HYPHA_BRIDGE_ADDRESS, default 10.78.0.1) exists on this machine, start also relays the
# server's port there (a TCP relay, socat) and writes HYPHA_BRIDGE_URL to the env file. Start the
# cluster first, or run start again after it: a running server only gets the relay added.
set -euo pipefail

ROOT_DIR=$(cd "$(dirname "$0")/.." && pwd)
CACHE="$HOME/.cache/hypha-k8s-worker"
REQS="$ROOT_DIR/scripts/python-requirements.txt"
INSTANCE=${HYPHA_INSTANCE:-default}
STATE="$CACHE/run/hypha-$INSTANCE"
if [[ "$INSTANCE" == default ]]; then ENV_FILE="$CACHE/run/hypha.env"; else ENV_FILE="$CACHE/run/hypha-$INSTANCE.env"; fi
# fixed, so that tokens and reconnection tokens survive a restart
DEFAULT_JWT_SECRET="hypha-k8s-worker-test-secret-not-for-production"
JWT_SECRET=${HYPHA_JWT_SECRET:-$DEFAULT_JWT_SECRET}
TEST_USER=k8s-worker-test
BRIDGE_ADDRESS=${HYPHA_BRIDGE_ADDRESS:-${K8S_BRIDGE_ADDRESS:-10.78.0.1}}

log() { echo "[hypha-server:$INSTANCE] $*" >&2; }

venv_dir() {
  local hash
  hash=$(sha256sum "$REQS" | cut -c1-12)
  echo "$CACHE/hypha-venv-$hash"
}

ensure_venv() {
  local venv; venv=$(venv_dir)
  if [[ -x "$venv/bin/python" && -f "$venv/.complete" ]]; then
    echo "$venv"; return
  fi
  mkdir -p "$CACHE"
  (
    flock 9
    if [[ ! -f "$venv/.complete" ]]; then
      log "installing $(grep -E '^[a-z]' "$REQS" | tr '\n' ' ')into $venv"
      rm -rf "$venv"
      python3 -m venv "$venv"
      "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$REQS" >&2
      touch "$venv/.complete"
    fi
  ) 9>"$CACHE/.hypha-venv.lock"
  echo "$venv"
}

# prints the pid recorded in a file if that process still runs the expected program
recorded_pid() { # recorded_pid <pid file> <pattern in its command line>
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [[ -n "$pid" && -r /proc/$pid/cmdline ]] && tr '\0' ' ' </proc/"$pid"/cmdline | grep -q "$2" && echo "$pid"
}

pid_alive() { recorded_pid "$STATE/pid" "hypha.server"; }

# Closes every descriptor above 2 in the current subshell, so that a daemon exec'd from it does not
# hold what its caller had open (a pipe a test reads to EOF, a lock the caller holds).
close_inherited_fds() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd="${fd##*/}"
    if [[ "$fd" =~ ^[0-9]+$ ]] && ((fd > 2)); then
      eval "exec $fd>&-" 2>/dev/null || true
    fi
  done
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

healthy() {
  local port; port=$(cat "$STATE/port" 2>/dev/null) || return 1
  curl -sf "http://127.0.0.1:$port/health/readiness" >/dev/null 2>&1
}

root_token() {
  # generated once per instance; long enough that the server's weak-token check does not apply
  if [[ ! -s "$STATE/root-token" ]]; then
    python3 -c 'import secrets; print(secrets.token_urlsafe(48))' >"$STATE/root-token"
    chmod 600 "$STATE/root-token"
  fi
  cat "$STATE/root-token"
}

bridge_alive() { recorded_pid "$STATE/bridge-pid" "hypha-bridge"; }

# The server's port on the bridge address too, for pods; nothing if the bridge is not there.
start_bridge() {
  local port; port=$(cat "$STATE/port")
  sed -i '/^HYPHA_BRIDGE_URL=/d' "$ENV_FILE" 2>/dev/null || true
  if ! ip -4 addr show 2>/dev/null | grep -q "inet $BRIDGE_ADDRESS/"; then
    stop_bridge; return 0
  fi
  if ! bridge_alive >/dev/null || [[ "$(cat "$STATE/bridge-port" 2>/dev/null)" != "$port" ]]; then
    stop_bridge
    command -v socat >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends socat >&2
    # socat under its own name, so that its command line tells it apart from any other socat
    ln -sf "$(command -v socat)" "$STATE/hypha-bridge"
    (close_inherited_fds; exec setsid "$STATE/hypha-bridge" "TCP-LISTEN:$port,bind=$BRIDGE_ADDRESS,reuseaddr,fork" \
      "TCP:127.0.0.1:$port" >>"$STATE/bridge.log" 2>&1 </dev/null) &
    echo $! >"$STATE/bridge-pid"
    echo "$port" >"$STATE/bridge-port"
    local i
    for i in $(seq 1 40); do
      curl -sf "http://$BRIDGE_ADDRESS:$port/health/readiness" >/dev/null 2>&1 && break
      sleep 0.25
    done
    curl -sf "http://$BRIDGE_ADDRESS:$port/health/readiness" >/dev/null 2>&1 ||
      { log "the relay on $BRIDGE_ADDRESS:$port does not answer; see $STATE/bridge.log"; return 1; }
    log "also on http://$BRIDGE_ADDRESS:$port (for pods on the real node)"
  fi
  echo "HYPHA_BRIDGE_URL=http://$BRIDGE_ADDRESS:$port" >>"$ENV_FILE"
}

stop_bridge() {
  local pid
  if pid=$(bridge_alive); then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  fi
  rm -f "$STATE/bridge-pid" "$STATE/bridge-port"
}

start() {
  mkdir -p "$STATE"
  if pid_alive >/dev/null && healthy; then
    log "already running on port $(cat "$STATE/port")"
    start_bridge
    return 0
  fi
  local venv port root
  venv=$(ensure_venv)
  port=${HYPHA_PORT:-}
  [[ -z "$port" && -n "${KEEP_PORT:-}" && -s "$STATE/port" ]] && port=$(cat "$STATE/port")
  [[ -z "$port" ]] && port=$(free_port)
  echo "$port" >"$STATE/port"
  root=$(root_token)
  local extra=()
  if [[ "${HYPHA_SERVER_APPS:-}" == 1 ]]; then
    start_s3 "$venv"
    extra=(--enable-server-apps --enable-s3 --endpoint-url="http://127.0.0.1:$(cat "$STATE/s3-port")"
           --access-key-id=test --secret-access-key=testtest --region-name=us-east-1 --workspace-bucket=hypha-workspaces)
  fi
  if [[ "${HYPHA_PERSIST_DB:-}" == 1 ]]; then
    # apps and other artifacts kept in a file across restart, as a deployment keeps them in its database
    extra+=(--database-uri="sqlite+aiosqlite:///$STATE/hypha.db")
  fi
  log "starting on 127.0.0.1:$port${extra:+ with server apps}"
  (
    close_inherited_fds
    cd "$STATE"
    HYPHA_JWT_SECRET="$JWT_SECRET" exec setsid "$venv/bin/python" -m hypha.server \
      --host=127.0.0.1 --port="$port" --root-token="$root" "${extra[@]}" >>"$STATE/server.log" 2>&1 </dev/null
  ) &
  echo $! >"$STATE/pid"
  local i
  for i in $(seq 1 120); do
    if healthy; then break; fi
    if ! pid_alive >/dev/null; then
      log "the server exited; last lines of $STATE/server.log:"; tail -20 "$STATE/server.log" >&2; return 1
    fi
    sleep 0.5
  done
  if ! healthy; then
    log "not ready after 60 s; last lines of $STATE/server.log:"; tail -20 "$STATE/server.log" >&2; return 1
  fi
  local user_token
  user_token=$(HYPHA_JWT_SECRET="$JWT_SECRET" "$venv/bin/python" - "$TEST_USER" <<'PY'
import sys
from hypha.core import UserInfo, UserPermission
from hypha.core.auth import _generate_presigned_token, create_scope
user = sys.argv[1]
ws = "ws-user-" + user
info = UserInfo(id=user, is_anonymous=False, email=None, parent=None, roles=["user"], expires_at=None,
                scope=create_scope(workspaces={ws: UserPermission.admin}, current_workspace=ws))
print(_generate_presigned_token(info, 30 * 24 * 3600))
PY
)
  umask 077
  cat >"$ENV_FILE" <<ENV
HYPHA_SERVER_URL=http://127.0.0.1:$port
HYPHA_PORT=$port
HYPHA_ROOT_TOKEN=$root
HYPHA_TOKEN=$root
HYPHA_USER_TOKEN=$user_token
HYPHA_USER_WORKSPACE=ws-user-$TEST_USER
HYPHA_JWT_SECRET=$JWT_SECRET
HYPHA_PYTHON=$venv/bin/python
ENV
  log "ready in $((i / 2)) s: http://127.0.0.1:$port (env: $ENV_FILE)"
  start_bridge
}

s3_alive() { recorded_pid "$STATE/s3-pid" "moto_server"; }

# an in-memory S3 for the app controller; kept across server restarts so that artifacts survive them
start_s3() {
  local venv=$1 port
  if s3_alive >/dev/null; then return 0; fi
  port=$(free_port)
  echo "$port" >"$STATE/s3-port"
  (close_inherited_fds; exec setsid "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >>"$STATE/s3.log" 2>&1 </dev/null) &
  echo $! >"$STATE/s3-pid"
  local i
  for i in $(seq 1 60); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && return 0
    sleep 0.25
  done
  log "the S3 emulator did not start; see $STATE/s3.log"; return 1
}

stop_s3() {
  local pid
  if pid=$(s3_alive); then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  fi
  rm -f "$STATE/s3-pid"
}

stop() {
  local signal=${1:-TERM} pid
  if ! pid=$(pid_alive); then
    log "not running"; rm -f "$STATE/pid"; return 0
  fi
  # setsid made it a process group leader: signal the group, so nothing it spawned lingers
  kill -"$signal" -- "-$pid" 2>/dev/null || kill -"$signal" "$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 40); do
    pid_alive >/dev/null || break
    sleep 0.25
  done
  if pid_alive >/dev/null; then
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$STATE/pid"
  log "stopped ($signal)"
}

case "${1:-}" in
  start) start ;;
  stop) stop TERM; stop_s3; stop_bridge; rm -f "$STATE/hypha.db" ;;
  kill) stop KILL ;;
  restart) stop TERM; KEEP_PORT=1 start ;;
  status)
    if pid_alive >/dev/null && healthy; then log "running on port $(cat "$STATE/port")"; else log "not running"; exit 1; fi ;;
  env) cat "$ENV_FILE" ;;
  *) echo "usage: $0 start|stop|kill|restart|status|env" >&2; exit 2 ;;
esac
