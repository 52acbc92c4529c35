#!/usr/bin/env bash
# The container images of the real test node, built on this machine: the node reaches no registry.
#
#   scripts/images.sh build [node|worker|all]   build what is missing (default: all)
#   scripts/images.sh import                    load the built images into the node's containerd
#   scripts/images.sh list                      the images, their references and cache keys
#
# Images (pods see them under these references):
#   registry.k8s.io/pause:3.10                  the pod sandbox (scripts/images/pause)
#   docker.io/library/python:3.11               Debian's Python 3.11 + hypha-rpc (scripts/images/python)
#   localhost/hypha-test/claude-agent-standin:1 a STAND-IN for the claude-agent image (scripts/images/claude-agent-standin)
#   localhost/hypha-k8s-worker:local            the worker, built from the project's Dockerfile with
#                                               local base images (scripts/images/jdk, scripts/images/jre)
# All of them start from one Debian root filesystem (debootstrap --variant=minbase). Each image is
# rebuilt only when its inputs change: its cache key hashes its files, its build arguments and its
# base image's key. Storage: $HYPHA_K8S_CACHE_DIR/images (default ~/.cache/hypha-k8s-worker/images).
# Building needs the Debian mirror, PyPI (hypha-rpc) and Maven Central (the worker's build stage).
# See docs/k8s-test-cluster.md.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC_DIR="$REPO_DIR/scripts/images"
CACHE_DIR="${HYPHA_K8S_CACHE_DIR:-$HOME/.cache/hypha-k8s-worker}"
IMG_DIR="$CACHE_DIR/images"
EXPORT_DIR="$IMG_DIR/export"
# the node's containerd (scripts/k8s-cluster.sh starts it)
CONTAINERD_SOCKET="${K8S_CONTAINERD_SOCKET:-/run/hypha-k8s-worker/containerd/containerd.sock}"
CONTAINERD_ROOT="$CACHE_DIR/containerd"

DEBIAN_SUITE=bookworm
DEBIAN_MIRROR="${HYPHA_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
HYPHA_RPC_VERSION="$(awk -F'==' '$1 == "hypha-rpc" { print $2 }' "$REPO_DIR/scripts/python-requirements.txt")"

PAUSE_REF=registry.k8s.io/pause:3.10
PYTHON_REF=docker.io/library/python:3.11
STANDIN_REF=localhost/hypha-test/claude-agent-standin:1
WORKER_REF=localhost/hypha-k8s-worker:local

BUILDAH=(buildah --root "$IMG_DIR/storage" --runroot "$IMG_DIR/runroot" --storage-driver overlay)

log() { printf '[images] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

key_of() { sha256sum | cut -c1-16; } # stdin -> short hash

files_key() { # files_key <dir or file...>: hash of the paths and contents
  find "$@" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sed "s|$REPO_DIR/||" | key_of
}

have_image() { "${BUILDAH[@]}" inspect --type image "$1" >/dev/null 2>&1; }

# Removes the earlier builds of an image (other keys), so that the cache holds one of each.
prune_other_keys() { # prune_other_keys <name> <key>
  local ref
  for ref in $("${BUILDAH[@]}" images --format '{{.Name}}:{{.Tag}}' "localhost/hypha-test/$1" 2>/dev/null); do
    [[ "$ref" == *":$2" ]] || "${BUILDAH[@]}" rmi "$ref" >/dev/null 2>&1 || true
  done
}

need_tools() {
  local missing=() t
  for t in buildah debootstrap go; do command -v "$t" >/dev/null || missing+=("$t"); done
  ((${#missing[@]} == 0)) && return 0
  [[ " ${missing[*]} " == *" go "* ]] && die "go is not installed"
  log "installing ${missing[*]} (apt-get)"
  # a fresh machine's package lists may be missing or stale: update them once if the first try fails
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends buildah debootstrap >&2 ||
    { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends buildah debootstrap >&2; } ||
    die "could not install buildah and debootstrap"
}

# One minbase root filesystem, the base of every image but pause.
BASE_KEY=""
build_base() {
  BASE_KEY="$(printf 'debootstrap --variant=minbase %s %s v1\n' "$DEBIAN_SUITE" "$DEBIAN_MIRROR" | key_of)"
  BASE_REF="localhost/hypha-test/debian-base:$BASE_KEY"
  have_image "$BASE_REF" && return 0
  local start=$SECONDS rootfs="$IMG_DIR/rootfs.tmp" c
  log "debian-base: debootstrap --variant=minbase $DEBIAN_SUITE (about a minute)"
  rm -rf "$rootfs"
  debootstrap --variant=minbase "$DEBIAN_SUITE" "$rootfs" "$DEBIAN_MIRROR" >"$IMG_DIR/debootstrap.log" 2>&1 ||
    { tail -20 "$IMG_DIR/debootstrap.log" >&2; die "debootstrap failed, see $IMG_DIR/debootstrap.log"; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  c="$("${BUILDAH[@]}" from scratch)"
  "${BUILDAH[@]}" copy "$c" "$rootfs/" / >/dev/null
  "${BUILDAH[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$c"
  "${BUILDAH[@]}" commit --quiet "$c" "$BASE_REF" >/dev/null
  "${BUILDAH[@]}" rm "$c" >/dev/null
  rm -rf "$rootfs"
  log "debian-base built in $((SECONDS - start)) s"
}

# build_derived <name> <base key> <base ref> [build args...]: scripts/images/<name>/Containerfile
build_derived() {
  local name="$1" base_key="$2" base_ref="$3"
  shift 3
  local key ref start=$SECONDS ctx="$IMG_DIR/context/$name"
  # the build context: the image's files and the machine's CA certificates (downloads during builds)
  rm -rf "$ctx"
  mkdir -p "$ctx/host-ca"
  cp -r "$SRC_DIR/$name/." "$ctx/"
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/host-ca-bundle.crt"
  find /usr/local/share/ca-certificates -name '*.crt' -exec cp {} "$ctx/host-ca/" \; 2>/dev/null || true
  key="$( { printf '%s\n' "$base_key" "$@"; files_key "$ctx"; } | key_of)"
  ref="localhost/hypha-test/$name:$key"
  printf -v "KEY_${name//-/_}" '%s' "$key"
  have_image "$ref" && return 0
  log "$name: building"
  local args=() a
  for a in "$@"; do args+=(--build-arg "$a"); done
  "${BUILDAH[@]}" bud --quiet --isolation chroot --pull=false --layers=false \
    --build-arg "BASE_IMAGE=$base_ref" "${args[@]}" -f "$ctx/Containerfile" -t "$ref" \
    "$ctx" >"$IMG_DIR/$name.log" 2>&1 || { tail -30 "$IMG_DIR/$name.log" >&2; die "$name build failed, see $IMG_DIR/$name.log"; }
  prune_other_keys "$name" "$key"
  log "$name built in $((SECONDS - start)) s"
}

build_pause() {
  local key start=$SECONDS c bin
  key="$( { go env GOVERSION; files_key "$SRC_DIR/pause"; } | key_of)"
  KEY_pause="$key"
  have_image "localhost/hypha-test/pause:$key" && return 0
  bin="$IMG_DIR/pause.bin"
  (cd "$SRC_DIR/pause" && CGO_ENABLED=0 GO111MODULE=off go build -trimpath -ldflags '-s -w' -o "$bin" pause.go) ||
    die "the pause program did not build"
  c="$("${BUILDAH[@]}" from scratch)"
  "${BUILDAH[@]}" copy --chmod 0755 "$c" "$bin" /pause >/dev/null
  "${BUILDAH[@]}" config --entrypoint '["/pause"]' --user 65535:65535 "$c"
  "${BUILDAH[@]}" commit --quiet "$c" "localhost/hypha-test/pause:$key" >/dev/null
  "${BUILDAH[@]}" rm "$c" >/dev/null
  prune_other_keys pause "$key"
  log "pause built in $((SECONDS - start)) s"
}

# The worker from the project's own Dockerfile; only the base images differ (build arguments).
build_worker() {
  local key start=$SECONDS jdk="localhost/hypha-test/jdk:$KEY_jdk" jre="localhost/hypha-test/jre:$KEY_jre"
  key="$( { printf '%s\n' "$KEY_jdk" "$KEY_jre"; files_key "$REPO_DIR/Dockerfile" "$REPO_DIR/.dockerignore" \
    "$REPO_DIR/pom.xml" "$REPO_DIR/conf/config.yaml" "$REPO_DIR/src/main"; } | key_of)"
  KEY_worker="$key"
  have_image "localhost/hypha-test/worker:$key" && return 0
  log "worker: buildah bud of the project's Dockerfile (Maven downloads from Maven Central on the first build)"
  "${BUILDAH[@]}" bud --isolation chroot --pull=false --layers=false \
    --build-arg "BUILD_IMAGE=$jdk" --build-arg "RUNTIME_IMAGE=$jre" \
    -f "$REPO_DIR/Dockerfile" -t "localhost/hypha-test/worker:$key" "$REPO_DIR" >"$IMG_DIR/worker.log" 2>&1 ||
    { tail -40 "$IMG_DIR/worker.log" >&2; die "worker image build failed, see $IMG_DIR/worker.log"; }
  prune_other_keys worker "$key"
  log "worker built in $((SECONDS - start)) s"
}

# export <name> <key> <reference pods use>: a docker-archive named after its key, imported once
export_image() {
  local name="$1" key="$2" ref="$3" out="$EXPORT_DIR/$1-$2.tar"
  [[ -s "$out" ]] && return 0
  mkdir -p "$EXPORT_DIR"
  rm -f "$EXPORT_DIR/$name"-*.tar
  "${BUILDAH[@]}" push --quiet "localhost/hypha-test/$name:$key" "docker-archive:$out.tmp:$ref" >/dev/null ||
    die "could not export $name"
  mv "$out.tmp" "$out"
}

cmd_build() {
  local what="${1:-all}" start=$SECONDS
  [[ "$what" == node || "$what" == worker || "$what" == all ]] || die "usage: $0 build [node|worker|all]"
  [[ -n "$HYPHA_RPC_VERSION" ]] || die "no hypha-rpc version in scripts/python-requirements.txt"
  need_tools
  mkdir -p "$IMG_DIR"
  exec 9>"$IMG_DIR/.build.lock"
  flock 9
  build_pause
  build_base
  build_derived python "$BASE_KEY" "$BASE_REF" "HYPHA_RPC_VERSION=$HYPHA_RPC_VERSION"
  build_derived claude-agent-standin "$KEY_python" "localhost/hypha-test/python:$KEY_python"
  export_image pause "$KEY_pause" "$PAUSE_REF"
  export_image python "$KEY_python" "$PYTHON_REF"
  export_image claude-agent-standin "$KEY_claude_agent_standin" "$STANDIN_REF"
  if [[ "$what" != node ]]; then
    build_derived jre "$BASE_KEY" "$BASE_REF"
    build_derived jdk "$KEY_jre" "localhost/hypha-test/jre:$KEY_jre"
    build_worker
    export_image worker "$KEY_worker" "$WORKER_REF"
  fi
  exec 9>&-
  log "images ready in $((SECONDS - start)) s"
}

# Loads every exported archive the node's containerd has not loaded yet (a marker per archive in
# containerd's root, which survives restarts; a rebuilt image has a new archive name).
cmd_import() {
  [[ -S "$CONTAINERD_SOCKET" ]] || die "containerd is not running ($CONTAINERD_SOCKET): scripts/k8s-cluster.sh start"
  local tar base
  mkdir -p "$CONTAINERD_ROOT/imported"
  for tar in "$EXPORT_DIR"/*.tar; do
    [[ -e "$tar" ]] || continue
    base="$(basename "$tar")"
    [[ -e "$CONTAINERD_ROOT/imported/$base" ]] && continue
    log "importing $base"
    ctr --address "$CONTAINERD_SOCKET" -n k8s.io images import "$tar" >/dev/null ||
      die "containerd could not import $tar"
    rm -f "$CONTAINERD_ROOT/imported/${base%-*}"-*.tar
    touch "$CONTAINERD_ROOT/imported/$base"
  done
}

cmd_list() {
  printf '%-22s %s\n' pause "$PAUSE_REF" python "$PYTHON_REF" claude-agent-standin "$STANDIN_REF" worker "$WORKER_REF"
  ls -1 "$EXPORT_DIR" 2>/dev/null | sed 's/^/archive: /'
}

case "${1:-}" in
  build) cmd_build "${2:-all}" ;;
  import) cmd_import ;;
  list) cmd_list ;;
  *) echo "usage: $0 build [node|worker|all] | import | list" >&2; exit 2 ;;
esac
