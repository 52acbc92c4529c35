#!/usr/bin/env bash
# A throw-away Kubernetes control plane on 127.0.0.1 for the k8s-tagged tests:
# etcd, kube-apiserver (RBAC on), kube-controller-manager, kube-scheduler and
# kwok faking one node and its kubelet; next to it a real node (kubelet, containerd,
# runc and the CNI bridge plugin) on a private bridge, tainted so that only pods
# that ask for it run there (K8S_REAL_NODE=0 leaves it out).
#
#   scripts/k8s-cluster.sh build    compile the binaries once, cache them
#   scripts/k8s-cluster.sh start    (build if needed,) start all, wait until ready; a cluster
#                                   that runs is reused, one whose etcd runs gets the components
#                                   that are down started again (its data kept), else it is laid anew
#   scripts/k8s-cluster.sh stop     stop what start launched, and any process of the run dir
#                                   left without its pid file
#   scripts/k8s-cluster.sh status   exit 0 only if every component is up
#   scripts/k8s-cluster.sh stop-component|start-component|restart-component <component>
#                                   one component of a running cluster (fault tests), e.g.
#                                   restart-component kube-apiserver; its data and certificates stay
#
# Environment (defaults): K8S_ETCD_CLIENT_PORT (2379), K8S_ETCD_PEER_PORT (2380),
# K8S_ETCD_METRICS_PORT (2381), K8S_APISERVER_PORT (6443), K8S_KCM_PORT (10257),
# K8S_SCHEDULER_PORT (10259), K8S_KWOK_PORT (10247), K8S_START_TIMEOUT (120 s per
# component), K8S_STOP_TIMEOUT (20 s from SIGTERM to SIGKILL),
# HYPHA_K8S_CACHE_DIR ($HOME/.cache/hypha-k8s-worker), K8S_REAL_NODE (1),
# K8S_BRIDGE (hypha0), K8S_BRIDGE_ADDRESS (10.78.0.1, a /24 on that bridge).
#
# See docs/k8s-test-cluster.md.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
K8S_MOD_DIR="$REPO_DIR/tools/k8s-bins"
KWOK_MOD_DIR="$REPO_DIR/tools/kwok"
STAGES_FILE="$REPO_DIR/scripts/k8s/kwok-stages.yaml"

CACHE_DIR="${HYPHA_K8S_CACHE_DIR:-$HOME/.cache/hypha-k8s-worker}"
RUN_DIR="$CACHE_DIR/run/k8s"
KUBECONFIG_OUT="$CACHE_DIR/run/kubeconfig"

ETCD_CLIENT_PORT="${K8S_ETCD_CLIENT_PORT:-2379}"
ETCD_PEER_PORT="${K8S_ETCD_PEER_PORT:-2380}"
ETCD_METRICS_PORT="${K8S_ETCD_METRICS_PORT:-2381}"
APISERVER_PORT="${K8S_APISERVER_PORT:-6443}"
KCM_PORT="${K8S_KCM_PORT:-10257}"
SCHEDULER_PORT="${K8S_SCHEDULER_PORT:-10259}"
KWOK_PORT="${K8S_KWOK_PORT:-10247}"
START_TIMEOUT="${K8S_START_TIMEOUT:-120}"
STOP_TIMEOUT="${K8S_STOP_TIMEOUT:-20}"

NODE_NAME="kwok-node-0"

# The real node: root only (network, mounts, cgroups). Pods on it reach the bridge address and
# each other, nothing else: no IP forwarding, no NAT, no default route.
REAL_NODE="${K8S_REAL_NODE:-1}"
REAL_NODE_NAME="hypha-real-node"
REAL_NODE_LABEL="hypha.test/node"
BRIDGE="${K8S_BRIDGE:-hypha0}"
BRIDGE_ADDRESS="${K8S_BRIDGE_ADDRESS:-10.78.0.1}"
BRIDGE_SUBNET="${BRIDGE_ADDRESS%.*}.0/24"
CONTAINERD_STATE="/run/hypha-k8s-worker/containerd"
CONTAINERD_SOCKET="$CONTAINERD_STATE/containerd.sock"
CONTAINERD_ROOT="$CACHE_DIR/containerd"
KUBELET_DIR="$RUN_DIR/kubelet"
POD_LOGS_DIR="$RUN_DIR/pod-logs"
# kubelet sets these while it runs (protectKernelDefaults would make it exit here); stop puts them back
KUBELET_SYSCTLS=(kernel.panic kernel.panic_on_oops vm.overcommit_memory)
# Fixed tokens: the cluster only listens on loopback and holds test data only.
ADMIN_TOKEN="hypha-test-admin-token"
KCM_TOKEN="hypha-test-kcm-token"
SCHEDULER_TOKEN="hypha-test-scheduler-token"
KWOK_TOKEN="hypha-test-kwok-token"

COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
if [[ "$REAL_NODE" == 1 ]]; then
  # apiserver-bridge: the API server's port on the bridge address, for pods (a TCP relay; TLS stays end to end)
  COMPONENTS+=(apiserver-bridge containerd kubelet)
fi

log() { printf '[k8s-cluster] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

mod_version() { # mod_version <go.mod> <module path>
  awk -v m="$2" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$1"
}

versions() {
  K8S_VERSION="$(mod_version "$K8S_MOD_DIR/go.mod" k8s.io/kubernetes)"
  KWOK_VERSION="$(mod_version "$KWOK_MOD_DIR/go.mod" sigs.k8s.io/kwok)"
  [[ -n "$K8S_VERSION" && -n "$KWOK_VERSION" ]] || die "cannot read versions from tools/*/go.mod"
  command -v go >/dev/null || die "go is not installed"
  GO_VERSION="$(go env GOVERSION)"
  BIN_DIR="$CACHE_DIR/k8s-bins/$K8S_VERSION-$KWOK_VERSION-$GO_VERSION"
}

binaries_present() {
  local b
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok; do
    [[ -x "$BIN_DIR/$b" ]] || return 1
  done
  [[ "$REAL_NODE" != 1 || -x "$BIN_DIR/kubelet" ]]
}

# Reads `go build -v` package names and prints a line every 100 packages, so a
# build of several minutes shows it is moving without flooding the terminal.
progress() { # progress <label> <expected package count> <full log>
  local label="$1" total="$2" full="$3" n=0 line
  while IFS= read -r line; do
    printf '%s\n' "$line" >>"$full"
    if [[ "$line" == *": "* || "$line" == "#"* ]]; then
      printf '%s\n' "$line" >&2 # compiler diagnostics
      continue
    fi
    n=$((n + 1))
    if ((n % 100 == 0)); then
      log "$label: compiled $n packages (of at most $total, cached ones are not listed)"
    fi
  done
  log "$label: compiled $n packages"
}

go_build() { # go_build <label> <module dir> <ldflags> <go build args...>
  local label="$1" dir="$2" ldflags="$3" total
  shift 3
  # Also fetches exactly the modules the build needs (not the whole module graph).
  log "$label: resolving packages and downloading modules"
  total="$(cd "$dir" && go list -deps "${@:3}" | wc -l)" ||
    die "$label: go list failed in $dir (is the Go module proxy reachable?)"
  log "$label: building (go build -v, full log in $BUILD_LOG)"
  (cd "$dir" && CGO_ENABLED=0 go build -v -trimpath -ldflags "$ldflags" "$@" 2>&1) |
    progress "$label" "$total" "$BUILD_LOG"
  return "${PIPESTATUS[0]}"
}

cmd_build() {
  versions
  mkdir -p "$CACHE_DIR/k8s-bins"
  if binaries_present; then
    log "reusing cached binaries in $BIN_DIR"
    return 0
  fi
  # One build at a time: a second caller waits, then finds the binaries.
  exec 9>"$CACHE_DIR/k8s-bins/.build.lock"
  if ! flock -n 9; then
    log "another build is running; waiting for its lock"
    flock 9
  fi
  if binaries_present; then
    exec 9>&-
    log "reusing cached binaries in $BIN_DIR"
    return 0
  fi

  local tmp start minor ver_pkg ldflags_k8s
  tmp="$BIN_DIR.tmp"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  BUILD_LOG="$CACHE_DIR/k8s-bins/build-$K8S_VERSION.log"
  start=$SECONDS

  # Without these the binaries report v0.0.0-master, which /version, kubectl
  # and fabric8's getKubernetesVersion() would then show.
  minor="${K8S_VERSION#v1.}"
  minor="${minor%%.*}"
  ldflags_k8s="-s -w"
  for ver_pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags_k8s+=" -X $ver_pkg.gitVersion=$K8S_VERSION -X $ver_pkg.gitMajor=1"
    ldflags_k8s+=" -X $ver_pkg.gitMinor=$minor -X $ver_pkg.gitTreeState=clean"
    ldflags_k8s+=" -X $ver_pkg.buildDate=1970-01-01T00:00:00Z"
  done

  if [[ -x "$BIN_DIR/kube-apiserver" && -x "$BIN_DIR/kwok" && ! -x "$BIN_DIR/kubelet" ]]; then
    # a cache from before the real node: only kubelet is missing
    log "building kubelet $K8S_VERSION into $BIN_DIR"
    go_build "kubelet" "$K8S_MOD_DIR" "$ldflags_k8s" -o "$tmp/kubelet" k8s.io/kubernetes/cmd/kubelet ||
      die "kubelet build failed, see $BUILD_LOG"
    mv "$tmp/kubelet" "$BIN_DIR/kubelet"
    rm -rf "$tmp"
    exec 9>&-
    log "built kubelet in $((SECONDS - start)) s"
    return 0
  fi
  : >"$BUILD_LOG"
  log "building Kubernetes $K8S_VERSION, etcd and kwok $KWOK_VERSION with $GO_VERSION into $BIN_DIR"
  log "a cold build takes about 10 minutes on 2 cores (plus ~0.9 GB of module downloads)"

  go_build "kubernetes" "$K8S_MOD_DIR" "$ldflags_k8s" -o "$tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes/cmd/kubelet ||
    die "kubernetes build failed, see $BUILD_LOG"
  # Built alone because go build would name the binary after the package, "server".
  go_build "etcd" "$K8S_MOD_DIR" "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3 ||
    die "etcd build failed, see $BUILD_LOG"
  # Own module graph: the k8s staging replaces would force kwok onto libraries it was not built against.
  go_build "kwok" "$KWOK_MOD_DIR" "-s -w" -o "$tmp/kwok" sigs.k8s.io/kwok/cmd/kwok ||
    die "kwok build failed, see $BUILD_LOG"

  rm -rf "$BIN_DIR"
  mv "$tmp" "$BIN_DIR"
  exec 9>&- # the daemons started next must not inherit (and hold) the lock
  log "built in $((SECONDS - start)) s: $(du -sh "$BIN_DIR" | cut -f1) in $BIN_DIR"
}

# ---------------------------------------------------------------- runtime

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

kubectl_admin() { "$BIN_DIR/kubectl" --kubeconfig="$KUBECONFIG_OUT" --request-timeout=10s "$@"; }

admin_curl() { # admin_curl <curl args...>: talks to the apiserver as the admin
  curl -sS --max-time 5 --cacert "$RUN_DIR/pki/ca.crt" \
    -H "Authorization: Bearer $ADMIN_TOKEN" "$@"
}

# The PID recorded for a component, if that process is still the one started
# by this script (PIDs get reused; the command line names our run dir).
live_pid() { # live_pid <component>
  local pidfile="$RUN_DIR/$1.pid" pid cmdline
  [[ -f "$pidfile" ]] || return 1
  pid="$(<"$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ && -r "/proc/$pid/cmdline" ]] || return 1
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmdline" == *"/$1 "* && "$cmdline" == *"$RUN_DIR"* ]] || return 1
  printf '%s\n' "$pid"
}

healthy() { # healthy <component>: its own health endpoint answers ok
  case "$1" in
    # not piped to grep -q: with pipefail, grep leaving early fails the pipeline whenever curl still writes
    etcd) [[ "$(curl -fsS --max-time 3 "http://127.0.0.1:$ETCD_CLIENT_PORT/health" 2>/dev/null)" == *'"health":"true"'* ]] ;;
    kube-apiserver) [[ "$(admin_curl -f "https://127.0.0.1:$APISERVER_PORT/readyz" 2>/dev/null)" == ok ]] ;;
    kube-controller-manager) [[ "$(curl -fsSk --max-time 3 "https://127.0.0.1:$KCM_PORT/healthz" 2>/dev/null)" == ok ]] ;;
    kube-scheduler) [[ "$(curl -fsSk --max-time 3 "https://127.0.0.1:$SCHEDULER_PORT/healthz" 2>/dev/null)" == ok ]] ;;
    kwok) [[ "$(curl -fsSk --max-time 3 "https://127.0.0.1:$KWOK_PORT/healthz" 2>/dev/null)" == ok ]] ;;
    apiserver-bridge) [[ "$(admin_curl -f "https://$BRIDGE_ADDRESS:$APISERVER_PORT/readyz" 2>/dev/null)" == ok ]] ;;
    containerd) ctr --address "$CONTAINERD_SOCKET" version >/dev/null 2>&1 ;;
    kubelet) [[ "$(curl -fsS --max-time 3 "http://127.0.0.1:10248/healthz" 2>/dev/null)" == ok ]] ;;
    node | real-node)
      local n="$NODE_NAME"
      [[ "$1" == real-node ]] && n="$REAL_NODE_NAME"
      [[ "$("$BIN_DIR/kubectl" --kubeconfig="$KUBECONFIG_OUT" --request-timeout=3s get node "$n" \
        -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
      ;;
  esac
}

wait_for() { # wait_for <component>
  local deadline=$((SECONDS + START_TIMEOUT))
  until healthy "$1"; do
    if [[ "$1" != node && "$1" != real-node ]] && ! live_pid "$1" >/dev/null; then
      tail -n 30 "$RUN_DIR/$1.log" >&2 || true
      die "$1 exited during startup; log: $RUN_DIR/$1.log"
    fi
    ((SECONDS < deadline)) || die "$1 not ready after ${START_TIMEOUT}s; log: $RUN_DIR/$1.log"
    sleep 0.2
  done
  log "$1 ready ($((SECONDS - START_SECONDS)) s)"
}

# Closes every descriptor above 2 in the current (sub)shell, so that a daemon exec'd from it does not
# hold what its caller had open: a pipe a test reads to EOF, a lock (flock) the caller holds.
close_inherited_fds() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd="${fd##*/}"
    if [[ "$fd" =~ ^[0-9]+$ ]] && ((fd > 2)); then
      eval "exec $fd>&-" 2>/dev/null || true
    fi
  done
}

launch() { # launch <component> <args...>: detached, in its own session, so it outlives this script
  local name="$1" bin="$BIN_DIR/$1"
  shift
  case "$name" in
    containerd) bin="$(command -v containerd)" ;;
    # socat under the component's name, so that its command line tells it apart (live_pid)
    apiserver-bridge) mkdir -p "$RUN_DIR/bin" && ln -sf "$(command -v socat)" "$RUN_DIR/bin/$name" && bin="$RUN_DIR/bin/$name" ;;
  esac
  (
    close_inherited_fds
    exec setsid "$bin" "$@" </dev/null >>"$RUN_DIR/$name.log" 2>&1
  ) &
  echo $! >"$RUN_DIR/$name.pid"
  # Until the forked shell has exec'd, the PID's command line is not the component's.
  local i
  for ((i = 0; i < 50; i++)); do
    live_pid "$name" >/dev/null && return 0
    sleep 0.05
  done
}

# Starts one component with its flags (from the files start generated in the run dir); the
# caller waits for it. Shared by start and start-component.
launch_component() { # launch_component <component>
  case "$1" in
    etcd)
      # No fsync: the data is thrown away at the next start anyway.
      launch etcd --name=hypha-test --data-dir="$RUN_DIR/etcd" \
        --listen-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
        --advertise-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
        --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-cluster="hypha-test=http://127.0.0.1:$ETCD_PEER_PORT" \
        --listen-metrics-urls="http://127.0.0.1:$ETCD_METRICS_PORT" \
        --unsafe-no-fsync --log-level=warn
      ;;
    kube-apiserver)
      # ServiceAccount admission is off: it would make every pod wait for the
      # namespace's "default" ServiceAccount (a race in fresh test namespaces).
      # TokenRequest and SA token authentication do not need it.
      # TaintNodesByCondition is off: its not-ready taint is only removed by the
      # node-lifecycle controller, which does not run here.
      # A loopback advertise address is only accepted with the "none" reconciler.
      launch kube-apiserver \
        --etcd-servers="http://127.0.0.1:$ETCD_CLIENT_PORT" \
        --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
        --endpoint-reconciler-type=none \
        --tls-cert-file="$RUN_DIR/pki/apiserver.crt" --tls-private-key-file="$RUN_DIR/pki/apiserver.key" \
        --cert-dir="$RUN_DIR/pki" \
        --token-auth-file="$RUN_DIR/tokens.csv" \
        --client-ca-file="$RUN_DIR/pki/ca.crt" \
        --authorization-mode=Node,RBAC \
        --service-account-issuer=https://kubernetes.default.svc \
        --service-account-key-file="$RUN_DIR/pki/sa.pub" \
        --service-account-signing-key-file="$RUN_DIR/pki/sa.key" \
        --disable-admission-plugins=ServiceAccount,TaintNodesByCondition \
        --allow-privileged=true \
        --kubelet-preferred-address-types=InternalIP,Hostname \
        --kubelet-client-certificate="$RUN_DIR/pki/apiserver-kubelet-client.crt" \
        --kubelet-client-key="$RUN_DIR/pki/apiserver-kubelet-client.key" \
        --service-cluster-ip-range=10.96.0.0/16 \
        --enable-priority-and-fairness=false \
        --profiling=false
      ;;
    kube-controller-manager)
      local kc="$RUN_DIR/kcm.kubeconfig"
      launch kube-controller-manager --kubeconfig="$kc" \
        --authentication-kubeconfig="$kc" --authorization-kubeconfig="$kc" \
        --controllers=job-controller,cronjob-controller,ttl-after-finished-controller,garbage-collector-controller,namespace-controller,pod-garbage-collector-controller,deployment-controller,replicaset-controller,root-ca-certificate-publisher-controller \
        --root-ca-file="$RUN_DIR/pki/ca.crt" \
        --leader-elect=false --use-service-account-credentials=false \
        --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --profiling=false
      ;;
    kube-scheduler)
      local ks="$RUN_DIR/scheduler.kubeconfig"
      launch kube-scheduler --kubeconfig="$ks" \
        --authentication-kubeconfig="$ks" --authorization-kubeconfig="$ks" \
        --leader-elect=false --bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" --profiling=false
      ;;
    kwok)
      # The node's kubelet endpoint is kwok's server: the apiserver proxies
      # pods/log there (no kubelet CA configured, so kwok's self-signed cert is accepted).
      launch kwok --kubeconfig="$RUN_DIR/kwok.kubeconfig" --config="$RUN_DIR/kwok.yaml" \
        --enable-crds=Logs \
        --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
        --node-ip=127.0.0.1 --node-name=localhost \
        --node-port="$KWOK_PORT" --server-address="127.0.0.1:$KWOK_PORT" \
        --node-lease-duration-seconds=0 --cidr=10.244.0.0/24
      ;;
    apiserver-bridge)
      launch apiserver-bridge -ly "TCP-LISTEN:$APISERVER_PORT,bind=$BRIDGE_ADDRESS,reuseaddr,fork" \
        "TCP:127.0.0.1:$APISERVER_PORT"
      ;;
    containerd)
      write_real_node_config
      mkdir -p "$CONTAINERD_STATE" "$CONTAINERD_ROOT"
      launch containerd --config "$RUN_DIR/containerd.toml"
      ;;
    kubelet)
      write_real_node_config
      save_sysctls
      mkdir -p "$KUBELET_DIR" "$POD_LOGS_DIR"
      launch kubelet --config="$RUN_DIR/kubelet.yaml" --kubeconfig="$RUN_DIR/kubelet.kubeconfig" \
        --root-dir="$KUBELET_DIR" --hostname-override="$REAL_NODE_NAME" --node-ip="$BRIDGE_ADDRESS" \
        --node-labels="$REAL_NODE_LABEL=real" --v=1
      ;;
    *) die "unknown component $1 (one of: ${COMPONENTS[*]})" ;;
  esac
}

# ---------------------------------------------------------------- the real node

# containerd, runc, the CNI plugins and socat from Debian, when missing
ensure_node_packages() {
  local missing=() pkg
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] || missing+=(containernetworking-plugins)
  command -v socat >/dev/null || missing+=(socat)
  command -v ip >/dev/null || missing+=(iproute2)
  ((${#missing[@]} == 0)) && return 0
  log "installing ${missing[*]} (apt-get)"
  # a fresh machine's package lists may be missing or stale: update them once if the first try fails
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
    { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; } ||
    die "could not install ${missing[*]}"
}

# The bridge and its address; left in place by stop (an address on this machine only, no forwarding)
ensure_bridge() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge || die "could not create bridge $BRIDGE"
  fi
  if ! ip -4 addr show dev "$BRIDGE" | grep -q "inet $BRIDGE_ADDRESS/24"; then
    ip addr add "$BRIDGE_ADDRESS/24" dev "$BRIDGE" || die "could not give $BRIDGE the address $BRIDGE_ADDRESS/24"
  fi
  ip link set "$BRIDGE" up
}

save_sysctls() {
  [[ -s "$RUN_DIR/sysctls.saved" ]] && return 0 # a kubelet restart: keep what was there before the first start
  local k
  for k in "${KUBELET_SYSCTLS[@]}"; do printf '%s=%s\n' "$k" "$(sysctl -n "$k")"; done >"$RUN_DIR/sysctls.saved"
}

restore_sysctls() {
  [[ -s "$RUN_DIR/sysctls.saved" ]] || return 0
  local line
  while IFS= read -r line; do sysctl -q -w "$line" >/dev/null || log "could not restore $line"; done <"$RUN_DIR/sysctls.saved"
  rm -f "$RUN_DIR/sysctls.saved"
}

write_real_node_config() {
  mkdir -p "$RUN_DIR/cni" "$RUN_DIR/registry/_default" "$CONTAINERD_ROOT"
  # Every registry answers "connection refused" at once: no pull ever leaves this machine, and a
  # missing image still shows as ErrImagePull.
  cat >"$RUN_DIR/registry/_default/hosts.toml" <<'HOSTS'
server = "http://127.0.0.1:9"
[host."http://127.0.0.1:9"]
  capabilities = ["pull", "resolve"]
HOSTS
  cat >"$RUN_DIR/containerd.toml" <<TOML
version = 2
root = "$CONTAINERD_ROOT/root"
state = "$CONTAINERD_STATE"
[grpc]
  address = "$CONTAINERD_SOCKET"
[ttrpc]
  address = "$CONTAINERD_SOCKET.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$CONTAINERD_ROOT/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  # this VM lacks CAP_SYS_RESOURCE: lowering a process's oom_score_adj is refused
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$RUN_DIR/cni"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$RUN_DIR/registry"
TOML
  # No gateway role (it would switch IP forwarding on), no masquerading, no default route: a pod
  # reaches the bridge address and other pods only. Written whole, then renamed (a half-written file fails pod setup).
  cat >"$RUN_DIR/cni/.10-hypha.conflist.tmp" <<CNI
{
  "cniVersion": "0.4.0",
  "name": "hypha-test",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$RUN_DIR/cni-ipam",
        "ranges": [[{"subnet": "$BRIDGE_SUBNET", "rangeStart": "${BRIDGE_ADDRESS%.*}.10", "rangeEnd": "${BRIDGE_ADDRESS%.*}.250"}]]
      }
    }
  ]
}
CNI
  mv "$RUN_DIR/cni/.10-hypha.conflist.tmp" "$RUN_DIR/cni/10-hypha.conflist"
  cat >"$RUN_DIR/kubelet.yaml" <<KUBELET
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $BRIDGE_ADDRESS
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
# who may use the kubelet's API (logs, exec): clients the API server vouches for, never anonymous
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: $RUN_DIR/pki/ca.crt
authorization:
  mode: Webhook
tlsCertFile: $RUN_DIR/pki/kubelet-serving.crt
tlsPrivateKeyFile: $RUN_DIR/pki/kubelet-serving.key
containerRuntimeEndpoint: unix://$CONTAINERD_SOCKET
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
# true makes kubelet exit on this VM (kernel.panic, kernel.panic_on_oops, vm.overcommit_memory differ
# from what it wants); it sets them while it runs and stop puts them back
protectKernelDefaults: false
makeIPTablesUtilChains: false
# local images cannot be pulled again: never collect them
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  imagefs.available: 1%
  nodefs.inodesFree: 1%
podPidsLimit: 1024
# No cluster DNS runs; naming the bridge address keeps pods' default dnsPolicy from warning
# (MissingClusterDNS). Nothing answers there: pods resolve no names.
clusterDNS: [$BRIDGE_ADDRESS]
clusterDomain: cluster.local
maxPods: 40
serializeImagePulls: false
podLogsDir: $POD_LOGS_DIR
registerWithTaints:
- key: $REAL_NODE_LABEL
  value: real
  effect: NoSchedule
KUBELET
  local ca
  ca="$(base64 -w0 "$RUN_DIR/pki/ca.crt")"
  install -m 600 /dev/null "$RUN_DIR/kubelet.kubeconfig"
  cat >"$RUN_DIR/kubelet.kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: hypha-test
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $ca
users:
- name: kubelet
  user:
    client-certificate: $RUN_DIR/pki/kubelet-client.crt
    client-key: $RUN_DIR/pki/kubelet-client.key
contexts:
- name: hypha-test
  context:
    cluster: hypha-test
    user: kubelet
current-context: hypha-test
KUBECONFIG
}

# Unmounts what pods left under the node's directories (deepest first).
unmount_under() { # unmount_under <dir...>
  local dir m
  for dir in "$@"; do
    awk -v d="$dir" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r m; do
      umount -l "$m" 2>/dev/null || true
    done
  done
}

# After kubelet and containerd stopped: the containers they left, their shims, mounts and network state.
clean_real_node() {
  local pid cmdline
  for pid in $(pgrep -f containerd-shim-runc-v2 2>/dev/null || true); do
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || continue
    [[ "$cmdline" == *"-address $CONTAINERD_SOCKET "* ]] && kill -KILL "$pid" 2>/dev/null
  done
  unmount_under "$KUBELET_DIR" "$CONTAINERD_STATE" "$CONTAINERD_ROOT/root"
  # kubelet's links in /var/log/containers and the device-plugin directory it makes whatever its root dir is
  local link
  for link in /var/log/containers/*.log; do
    [[ -L "$link" && "$(readlink "$link")" == "$POD_LOGS_DIR/"* ]] && rm -f "$link"
  done
  [[ -S /var/lib/kubelet/device-plugins/kubelet.sock ]] && rm -f /var/lib/kubelet/device-plugins/kubelet.sock
  rmdir /var/log/containers /var/lib/kubelet/device-plugins /var/lib/kubelet 2>/dev/null || true
  rm -rf "$KUBELET_DIR" "$POD_LOGS_DIR" "$RUN_DIR/cni-ipam" "$CONTAINERD_STATE"
  restore_sysctls
}

# Kills the pod containers of the real node (a full stop; a kubelet restart leaves them running).
kill_real_node_containers() {
  live_pid containerd >/dev/null || return 0
  local id
  for id in $(ctr --address "$CONTAINERD_SOCKET" -n k8s.io tasks ls -q 2>/dev/null || true); do
    ctr --address "$CONTAINERD_SOCKET" -n k8s.io tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
  done
  sleep 0.5
  for id in $(ctr --address "$CONTAINERD_SOCKET" -n k8s.io tasks ls -q 2>/dev/null || true); do
    ctr --address "$CONTAINERD_SOCKET" -n k8s.io tasks delete -f "$id" >/dev/null 2>&1 || true
  done
}

start_real_node() {
  ensure_bridge
  launch_component apiserver-bridge
  launch_component containerd
  wait_for apiserver-bridge
  wait_for containerd
  "$REPO_DIR/scripts/images.sh" import || die "could not load the node's images into containerd"
  # the API server's client identity towards kubelets
  kubectl_admin apply -f - >/dev/null <<RBAC || die "could not bind the API server's kubelet client identity"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: hypha-test:kube-apiserver-kubelet-client
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:kubelet-api-admin
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: kube-apiserver-kubelet-client
RBAC
  launch_component kubelet
  wait_for kubelet
  wait_for real-node
}

write_kubeconfig() { # write_kubeconfig <file> <user> <token>
  local ca
  ca="$(base64 -w0 "$RUN_DIR/pki/ca.crt")"
  # Holds a token: readable by the owner only.
  install -m 600 /dev/null "$1"
  cat >"$1" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: hypha-test
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $ca
users:
- name: $2
  user:
    token: $3
contexts:
- name: hypha-test
  context:
    cluster: hypha-test
    user: $2
    namespace: default
current-context: hypha-test
KUBECONFIG
}

# A CA and a serving certificate for 127.0.0.1/localhost, so clients verify
# TLS instead of skipping it, and the key that signs ServiceAccount tokens.
make_pki() {
  local d="$RUN_DIR/pki"
  mkdir -p "$d"
  (
    cd "$d"
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
    openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=hypha-test-ca" -out ca.crt 2>/dev/null
    openssl ecparam -name prime256v1 -genkey -noout -out apiserver.key 2>/dev/null
    openssl req -new -key apiserver.key -subj "/CN=kube-apiserver" -out apiserver.csr 2>/dev/null
    # the bridge address too: pods reach the API server there
    printf 'subjectAltName=IP:127.0.0.1,IP:%s,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' \
      "$BRIDGE_ADDRESS" >apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days 3650 \
      -extfile apiserver.ext -out apiserver.crt 2>/dev/null
    # The API server's identity towards kubelets (logs, exec): bound to system:kubelet-api-admin.
    # The real node's kubelet: system:node:<name> in system:nodes (Node authorizer), and its serving certificate.
    local name subj ext
    for name in apiserver-kubelet-client kubelet-client kubelet-serving; do
      case "$name" in
        apiserver-kubelet-client) subj="/CN=kube-apiserver-kubelet-client" ext="extendedKeyUsage=clientAuth" ;;
        kubelet-client) subj="/O=system:nodes/CN=system:node:$REAL_NODE_NAME" ext="extendedKeyUsage=clientAuth" ;;
        kubelet-serving) subj="/CN=$REAL_NODE_NAME" ext="subjectAltName=IP:$BRIDGE_ADDRESS,DNS:$REAL_NODE_NAME
extendedKeyUsage=serverAuth" ;;
      esac
      openssl ecparam -name prime256v1 -genkey -noout -out "$name.key" 2>/dev/null
      openssl req -new -key "$name.key" -subj "$subj" -out "$name.csr" 2>/dev/null
      printf '%s\n' "$ext" >"$name.ext"
      openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days 3650 \
        -extfile "$name.ext" -out "$name.crt" 2>/dev/null
    done
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  ) || die "certificate generation failed (openssl)"
}

cmd_start() {
  versions
  local tool
  for tool in curl openssl setsid flock; do
    command -v "$tool" >/dev/null || die "$tool is needed (Debian: apt-get install curl openssl util-linux)"
  done
  if [[ "$REAL_NODE" == 1 ]]; then
    ((EUID == 0)) || die "the real node needs root (network, mounts, cgroups); K8S_REAL_NODE=0 starts without it"
    ensure_node_packages
    # the pause, python:3.11 and agent stand-in images (cached; a few minutes the first time)
    "$REPO_DIR/scripts/images.sh" build node || die "could not build the node's images"
  fi
  binaries_present || cmd_build
  if all_up; then
    log "already running; kubeconfig: $KUBECONFIG_OUT"
    return 0
  fi
  if resume_components; then
    log "running again, with its data kept; kubeconfig: $KUBECONFIG_OUT"
    return 0
  fi
  mkdir -p "$RUN_DIR"
  # Leftovers of an earlier, partly failed start.
  stop_components quiet
  local port
  for port in "$ETCD_CLIENT_PORT" "$ETCD_PEER_PORT" "$ETCD_METRICS_PORT" "$APISERVER_PORT" \
    "$KCM_PORT" "$SCHEDULER_PORT" "$KWOK_PORT"; do
    port_in_use "$port" && die "port 127.0.0.1:$port is already in use by another process (ports are overridable: see the K8S_*_PORT variables in the script header)"
  done

  START_SECONDS=$SECONDS
  rm -rf "$RUN_DIR/etcd" "$RUN_DIR/pki" "$RUN_DIR"/*.log "$RUN_DIR"/*.pid
  make_pki
  # Everything authenticates with static tokens in group system:masters, so
  # RBAC never stands between the control plane and itself.
  cat >"$RUN_DIR/tokens.csv" <<TOKENS
$ADMIN_TOKEN,hypha-test-admin,hypha-test-admin,"system:masters"
$KCM_TOKEN,system:kube-controller-manager,system:kube-controller-manager,"system:masters"
$SCHEDULER_TOKEN,system:kube-scheduler,system:kube-scheduler,"system:masters"
$KWOK_TOKEN,kwok-controller,kwok-controller,"system:masters"
TOKENS
  mkdir -p "$(dirname "$KUBECONFIG_OUT")"
  write_kubeconfig "$KUBECONFIG_OUT" hypha-test-admin "$ADMIN_TOKEN"
  write_kubeconfig "$RUN_DIR/kcm.kubeconfig" system:kube-controller-manager "$KCM_TOKEN"
  write_kubeconfig "$RUN_DIR/scheduler.kubeconfig" system:kube-scheduler "$SCHEDULER_TOKEN"
  write_kubeconfig "$RUN_DIR/kwok.kubeconfig" kwok-controller "$KWOK_TOKEN"
  cp "$REPO_DIR/scripts/k8s/pod.log" "$REPO_DIR/scripts/k8s/pod-previous.log" "$RUN_DIR/"
  {
    cat "$STAGES_FILE"
    cat <<LOGS
---
# Every container of every pod serves the same log (per-pod: a Logs object).
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: all-pods
spec:
  selector: {}
  logs:
  - logsFile: $RUN_DIR/pod.log
    previousLogsFile: $RUN_DIR/pod-previous.log
    follow: false
LOGS
  } >"$RUN_DIR/kwok.yaml"

  log "starting the control plane on 127.0.0.1 (run dir $RUN_DIR)"
  launch_component etcd
  wait_for etcd
  launch_component kube-apiserver
  wait_for kube-apiserver

  # kwok watches its Logs kind (per-pod log files) but does not define it.
  "$BIN_DIR/kubectl" --kubeconfig="$KUBECONFIG_OUT" apply -f "$REPO_DIR/scripts/k8s/kwok-logs-crd.yaml" >/dev/null ||
    die "could not create the kwok Logs CRD"
  "$BIN_DIR/kubectl" --kubeconfig="$KUBECONFIG_OUT" wait --for=condition=Established --timeout=60s \
    crd/logs.kwok.x-k8s.io >/dev/null || die "the kwok Logs CRD did not become established"

  launch_component kube-controller-manager
  launch_component kube-scheduler
  launch_component kwok
  wait_for kube-controller-manager
  wait_for kube-scheduler
  wait_for kwok

  admin_curl -f -o /dev/null -X POST -H 'Content-Type: application/json' \
    "https://127.0.0.1:$APISERVER_PORT/api/v1/nodes" -d @- <<NODE || die "could not create node $NODE_NAME"
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$NODE_NAME",
 "labels":{"kubernetes.io/hostname":"$NODE_NAME","kubernetes.io/os":"linux","kubernetes.io/arch":"amd64","type":"kwok"},
 "annotations":{"kwok.x-k8s.io/node":"fake","node.alpha.kubernetes.io/ttl":"0"}},
 "spec":{}}
NODE
  wait_for node
  if [[ "$REAL_NODE" == 1 ]]; then
    start_real_node
  fi
  log "cluster up in $((SECONDS - START_SECONDS)) s; kubeconfig: $KUBECONFIG_OUT"
}

# A cluster whose etcd still runs but some of whose other components do not (a fault test holds one
# down, or one died): start only those, keeping the data, rather than wiping what another process
# may be using. Fails, so that start lays the cluster anew, when there is nothing to resume or a
# component does not come back.
resume_components() {
  [[ -f "$RUN_DIR/pki/ca.crt" && -f "$KUBECONFIG_OUT" ]] && live_pid etcd >/dev/null && healthy etcd || return 1
  local c
  START_SECONDS=$SECONDS
  for c in "${COMPONENTS[@]}"; do
    if ! live_pid "$c" >/dev/null; then
      log "starting $c again (the rest of the cluster runs)"
      printf -- '--- started again by start at %s\n' "$(date -u +%FT%TZ)" >>"$RUN_DIR/$c.log"
      launch_component "$c"
      # in a subshell: its die ends only the resumption, and start lays the cluster anew
      (wait_for "$c") || return 1
    fi
  done
  (wait_for node) && { [[ "$REAL_NODE" != 1 ]] || (wait_for real-node); } && all_up
}

all_up() {
  local c
  for c in "${COMPONENTS[@]}"; do
    if ! live_pid "$c" >/dev/null || ! healthy "$c"; then
      return 1
    fi
  done
  healthy node && { [[ "$REAL_NODE" != 1 ]] || healthy real-node; }
}

stop_components() { # stop_components [quiet]
  local c pid pids=() i
  if [[ "$REAL_NODE" == 1 ]] && pid="$(live_pid kubelet)"; then
    # first the kubelet, so that it does not restart the containers killed next
    [[ "${1:-}" == quiet ]] || log "stopping kubelet (pid $pid) and the real node's containers"
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    rm -f "$RUN_DIR/kubelet.pid"
  fi
  [[ "$REAL_NODE" == 1 ]] && kill_real_node_containers
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
    c="${COMPONENTS[i]}"
    if pid="$(live_pid "$c")"; then
      [[ "${1:-}" == quiet ]] || log "stopping $c (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$c:$pid")
    fi
  done
  local entry deadline=$((SECONDS + STOP_TIMEOUT))
  for entry in "${pids[@]}"; do
    c="${entry%%:*}"
    pid="${entry#*:}"
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$c (pid $pid) did not exit ${STOP_TIMEOUT} s after SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
    rm -f "$RUN_DIR/$c.pid"
  done
  # Processes of this cluster whose pid files are gone (a run dir laid anew under them by a start
  # that ran at the same time) still hold their ports, and containerd its database: every later
  # start would find the cluster broken, and a new containerd wait on the old one's lock forever.
  local leftovers
  leftovers="$(pgrep -f -- "$RUN_DIR/" || true)"
  if [[ -n "$leftovers" ]]; then
    [[ "${1:-}" == quiet ]] || log "stopping leftover processes of an earlier run: $(echo $leftovers)"
    kill -TERM $leftovers 2>/dev/null || true
    for _ in $(seq 100); do pgrep -f -- "$RUN_DIR/" >/dev/null || break; sleep 0.1; done
    kill -KILL $(pgrep -f -- "$RUN_DIR/" || true) 2>/dev/null || true
  fi
  [[ "$REAL_NODE" == 1 ]] && clean_real_node
  return 0
}

cmd_stop() {
  versions
  stop_components
  log "stopped"
}

# One component of a running cluster, for fault tests: the others keep running, and the run dir
# (etcd data, certificates, kubeconfigs) is kept, so a restarted component carries on where it was.
component_arg() { # component_arg <name>: validates it
  local c
  for c in "${COMPONENTS[@]}"; do
    [[ "$c" == "${1:-}" ]] && return 0
  done
  die "usage: $0 stop-component|start-component|restart-component <component> (one of: ${COMPONENTS[*]})"
}

cmd_stop_component() {
  versions
  component_arg "${1:-}"
  local pid
  if ! pid="$(live_pid "$1")"; then
    log "$1 is not running"
    rm -f "$RUN_DIR/$1.pid"
    return 0
  fi
  log "stopping $1 (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "$1 (pid $pid) did not exit ${STOP_TIMEOUT} s after SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$RUN_DIR/$1.pid"
}

cmd_start_component() {
  versions
  component_arg "${1:-}"
  binaries_present || die "no binaries in $BIN_DIR: run $0 start first"
  [[ -f "$RUN_DIR/pki/ca.crt" && -f "$KUBECONFIG_OUT" ]] || die "no cluster state in $RUN_DIR: run $0 start first"
  START_SECONDS=$SECONDS
  if live_pid "$1" >/dev/null; then
    log "$1 is already running"
  else
    local port
    case "$1" in
      etcd) port="$ETCD_CLIENT_PORT" ;;
      kube-apiserver) port="$APISERVER_PORT" ;;
      kube-controller-manager) port="$KCM_PORT" ;;
      kube-scheduler) port="$SCHEDULER_PORT" ;;
      kwok) port="$KWOK_PORT" ;;
      kubelet) port=10248 ;;
      *) port="" ;;
    esac
    [[ -z "$port" ]] || ! port_in_use "$port" || die "port 127.0.0.1:$port is already in use by another process"
    printf -- '--- started by start-component at %s\n' "$(date -u +%FT%TZ)" >>"$RUN_DIR/$1.log"
    launch_component "$1"
  fi
  wait_for "$1"
}

cmd_restart_component() {
  cmd_stop_component "${1:-}"
  cmd_start_component "$1"
}

cmd_status() {
  versions
  local c pid ok=0
  for c in "${COMPONENTS[@]}"; do
    if ! pid="$(live_pid "$c")"; then
      printf '%-24s not running\n' "$c"
      ok=1
    elif healthy "$c"; then
      printf '%-24s running (pid %s), healthy\n' "$c" "$pid"
    else
      printf '%-24s running (pid %s), NOT healthy\n' "$c" "$pid"
      ok=1
    fi
  done
  if healthy node; then
    printf '%-24s Ready (kwok)\n' "node/$NODE_NAME"
  else
    printf '%-24s not Ready (kwok)\n' "node/$NODE_NAME"
    ok=1
  fi
  if [[ "$REAL_NODE" == 1 ]]; then
    if healthy real-node; then
      printf '%-24s Ready (kubelet + containerd; %s=real, tainted NoSchedule; pods on %s)\n' "node/$REAL_NODE_NAME" \
        "$REAL_NODE_LABEL" "$BRIDGE_SUBNET"
    else
      printf '%-24s not Ready\n' "node/$REAL_NODE_NAME"
      ok=1
    fi
  fi
  printf 'kubeconfig: %s\n' "$KUBECONFIG_OUT"
  return "$ok"
}

# One start, stop or component change at a time: two starts at once (a test run and a benchmark, say)
# would each find the other's half-started cluster broken and lay it anew under the other.
case "${1:-}" in
  start | stop | stop-component | start-component | restart-component)
    mkdir -p "$CACHE_DIR/run"
    exec 8>"$CACHE_DIR/run/.k8s-cluster.lock"
    flock -n 8 || { log "another start or stop of the cluster is running; waiting for it"; flock 8; }
    ;;
esac

case "${1:-}" in
  build) cmd_build ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  stop-component) cmd_stop_component "${2:-}" ;;
  start-component) cmd_start_component "${2:-}" ;;
  restart-component) cmd_restart_component "${2:-}" ;;
  *)
    echo "usage: $0 build|start|stop|status|stop-component|start-component|restart-component [component]" >&2
    exit 2
    ;;
esac
