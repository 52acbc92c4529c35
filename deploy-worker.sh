#!/usr/bin/env bash
# Installs or upgrades the worker with Helm in namespace "hypha":
#   kubectl create secret generic hypha-secrets --from-literal=HYPHA_AGENTS_TOKEN=<your-token> -n hypha
#   ./deploy-worker.sh [extra helm flags, e.g. --set image.repository=registry.example/hypha-k8s-worker]
#
# Environment: HYPHA_DEPLOY_NO_WAIT=1 skips --wait (for clusters where the worker's pod cannot run,
# e.g. without a Deployment controller or a node for it); KUBECONFIG as usual. helm and kubectl are taken from PATH, else from
# scripts/helm-tools.sh and the local control plane's build under ~/.cache/hypha-k8s-worker.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

NAMESPACE=hypha
RELEASE=hypha-k8s-worker
SECRET=hypha-secrets
CACHE_DIR="${HYPHA_K8S_CACHE_DIR:-$HOME/.cache/hypha-k8s-worker}"

if command -v helm >/dev/null; then
  HELM=helm
else
  HELM="$(scripts/helm-tools.sh)"
fi
if command -v kubectl >/dev/null; then
  KUBECTL=kubectl
else
  kubectls=("$CACHE_DIR"/k8s-bins/*/kubectl)
  KUBECTL="${kubectls[0]}"
  [[ -x "$KUBECTL" ]] || { echo "kubectl is not installed" >&2; exit 1; }
fi

if ! "$KUBECTL" get namespace "$NAMESPACE" >/dev/null 2>&1; then
  echo "Creating namespace $NAMESPACE"
  "$KUBECTL" create namespace "$NAMESPACE"
fi

if ! "$KUBECTL" get secret "$SECRET" -n "$NAMESPACE" >/dev/null 2>&1; then
  echo "Secret $SECRET not found in namespace $NAMESPACE. Create it with:" >&2
  echo "  kubectl create secret generic $SECRET --from-literal=HYPHA_AGENTS_TOKEN=<your-token> -n $NAMESPACE" >&2
  exit 1
fi

args=(upgrade --install "$RELEASE" ./helm/hypha-k8s-worker -n "$NAMESPACE")
if [[ "${HYPHA_DEPLOY_NO_WAIT:-0}" != 1 ]]; then
  args+=(--wait --timeout 5m)
fi
echo "Deploying $RELEASE to namespace $NAMESPACE"
"$HELM" "${args[@]}" "$@"

echo
echo "Check the worker with:"
echo "  kubectl get pods -n $NAMESPACE -l app.kubernetes.io/name=hypha-k8s-worker"
echo "  kubectl logs -n $NAMESPACE -l app.kubernetes.io/name=hypha-k8s-worker -f"
