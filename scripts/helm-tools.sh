#!/usr/bin/env bash
# Builds helm and the helm-unittest plugin from source with Go (modules from the Go module proxy, no
# release binaries), cached under ~/.cache/hypha-k8s-worker/tools/; a cached build of the pinned
# versions is reused.
#
#   scripts/helm-tools.sh          build if needed, print the helm path
#   scripts/helm-tools.sh env      print export lines (HELM_BIN, HELM_PLUGINS, PATH) for eval
#
# Environment (defaults): HELM_VERSION (v3.22.0), HELM_UNITTEST_VERSION (v1.1.2),
# HYPHA_K8S_CACHE_DIR ($HOME/.cache/hypha-k8s-worker).
# Newer versions: go list -m -versions helm.sh/helm/v3 github.com/helm-unittest/helm-unittest
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
HELM_UNITTEST_VERSION="${HELM_UNITTEST_VERSION:-v1.1.2}"
CACHE_DIR="${HYPHA_K8S_CACHE_DIR:-$HOME/.cache/hypha-k8s-worker}"
TOOLS_DIR="$CACHE_DIR/tools"
BIN_DIR="$TOOLS_DIR/bin"
PLUGINS_DIR="$TOOLS_DIR/helm-plugins"
HELM="$BIN_DIR/helm"

log() { printf '[helm-tools] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v go >/dev/null || die "go is not installed"
mkdir -p "$BIN_DIR" "$PLUGINS_DIR"

# Go's own platform names are the ones the plugin's platformCommand expects.
GOOS_NAME="$(go env GOOS)"
GOARCH_NAME="$(go env GOARCH)"

# The Kubernetes version helm assumes without a cluster (helm template, lint) is set at link time
# from the client-go it is built with, as helm's Makefile does; without it, it is v1.20.
k8s_ldflags() { # k8s_ldflags <go.mod of the module being built>
  local ver major minor
  ver="$(awk '$1 == "k8s.io/client-go" && $2 ~ /^v/ { print $2; exit }' "$1")"
  [[ -n "$ver" ]] || die "no k8s.io/client-go in $1"
  ver="${ver#v}"
  major=$(( ${ver%%.*} + 1 ))
  minor="${ver#*.}"
  minor="${minor%%.*}"
  local p
  for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    printf -- '-X %s.k8sVersionMajor=%s -X %s.k8sVersionMinor=%s ' "$p" "$major" "$p" "$minor"
  done
}

module_dir() { # module_dir <module@version>: downloads it, prints its directory in the module cache
  (cd "$TOOLS_DIR" && go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
}

build_helm() {
  local stamp="$BIN_DIR/.helm-built-$HELM_VERSION-2"
  if [[ -x "$HELM" && -f "$stamp" ]] && [[ "$("$HELM" version --template '{{.Version}}' 2>/dev/null)" == "$HELM_VERSION" ]]; then
    return
  fi
  log "building helm $HELM_VERSION (a few minutes on 2 cores)"
  local src
  src="$(module_dir "helm.sh/helm/v3@$HELM_VERSION")"
  [[ -n "$src" && -d "$src" ]] || die "cannot download helm.sh/helm/v3@$HELM_VERSION"
  rm -f "$BIN_DIR"/.helm-built-*
  # helm reads its version from ldflags; without them it reports a development version
  GOBIN="$BIN_DIR" CGO_ENABLED=0 go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION $(k8s_ldflags "$src/go.mod")" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  [[ "$("$HELM" version --template '{{.Version}}')" == "$HELM_VERSION" ]] || die "built helm does not report $HELM_VERSION"
  touch "$stamp"
}

build_unittest() {
  local plugin_dir="$PLUGINS_DIR/unittest"
  local stamp="$plugin_dir/.built-$HELM_UNITTEST_VERSION-$GOOS_NAME-$GOARCH_NAME-2"
  [[ -f "$stamp" ]] && return
  log "building helm-unittest $HELM_UNITTEST_VERSION"
  # its go.mod has a replace directive, which `go install pkg@version` refuses: build from a copy
  local src
  src="$(module_dir "github.com/helm-unittest/helm-unittest@$HELM_UNITTEST_VERSION")"
  [[ -n "$src" && -d "$src" ]] || die "cannot download github.com/helm-unittest/helm-unittest@$HELM_UNITTEST_VERSION"
  local work="$TOOLS_DIR/src/helm-unittest-$HELM_UNITTEST_VERSION"
  rm -rf "$work"
  mkdir -p "$(dirname "$work")"
  cp -R "$src" "$work"
  chmod -R u+w "$work"
  rm -rf "$plugin_dir"
  mkdir -p "$plugin_dir"
  (cd "$work" && CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w $(k8s_ldflags "$work/go.mod")" -o "$plugin_dir/untt-$( [[ $GOOS_NAME == darwin ]] && echo macos || echo "$GOOS_NAME")-$GOARCH_NAME" \
    ./cmd/helm-unittest)
  # the upstream plugin.yaml without its install hooks, which would download release binaries
  sed '/^platformHooks:/,$d' "$work/plugin.yaml" >"$plugin_dir/plugin.yaml"
  rm -rf "$work"
  touch "$stamp"
}

build_helm
build_unittest

if [[ "${1:-}" == env ]]; then
  # shellcheck disable=SC2016 # $PATH is expanded by the caller's eval
  printf 'export HELM_BIN=%q\nexport HELM_PLUGINS=%q\nexport PATH=%q:"$PATH"\n' "$HELM" "$PLUGINS_DIR" "$BIN_DIR"
else
  echo "$HELM"
fi
