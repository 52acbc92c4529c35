#!/usr/bin/env bash
# Tests the Helm chart helm/hypha-k8s-worker: lint, render with default and varied values, schema
# refusals, helm-unittest suites, a server-side dry-run of every rendered object against the local
# control plane (started if needed), then a real helm install into namespace "hypha" and an
# uninstall. Exits non-zero on the first failure.
#
# Environment (defaults): HYPHA_K8S_CACHE_DIR ($HOME/.cache/hypha-k8s-worker).
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHART="$REPO_DIR/helm/hypha-k8s-worker"
CACHE_DIR="${HYPHA_K8S_CACHE_DIR:-$HOME/.cache/hypha-k8s-worker}"
export KUBECONFIG="$CACHE_DIR/run/kubeconfig"
RELEASE=hypha-k8s-worker
NS=hypha

log() { printf '[chart-test] %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

eval "$("$REPO_DIR/scripts/helm-tools.sh" env)"

WORK="$(mktemp -d)"
SCRATCH_NS=""
INSTALLED=""
CREATED_NS=""
cleanup() {
  local rc=$?
  if [[ -n "$INSTALLED" ]]; then
    kubectl delete pod -n "$NS" "$RELEASE-chart-test" --ignore-not-found --wait=false >/dev/null 2>&1 || true
    helm uninstall "$RELEASE" -n "$NS" >/dev/null 2>&1 || true
  fi
  if [[ -n "$SCRATCH_NS" ]]; then kubectl delete namespace "$SCRATCH_NS" --wait=false >/dev/null 2>&1 || true; fi
  if [[ -n "$CREATED_NS" ]]; then kubectl delete namespace "$NS" --wait=false >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

# --- offline checks -------------------------------------------------------------------------------

log "helm lint"
helm lint "$CHART" --strict
helm lint "$CHART" --strict --set kubernetes.namespace= --set rbac.create=false --set serviceAccount.create=false

# name|helm flags: each variation is rendered here and dry-run against the cluster below
VARIATIONS=(
  "defaults|"
  "jobs-in-release-namespace|--set kubernetes.namespace="
  "tuned|--set verticles.jobLauncher.instances=5 --set health.port=9000 --set kubernetes.defaultTimeout=600 --set jobTypes.conda-worker.enabled=false --set nodeSelector.pool=workers --set tolerations[0].key=dedicated --set tolerations[0].operator=Exists --set tolerations[0].effect=NoSchedule --set tmpSizeLimit=null --set image.tag=1.2.3 --set-string podAnnotations.team=hypha --set policy.allowTolerations=true --set policy.resources.maxGpus=1 --set policy.allowedImages[0]=ghcr.io/acme/**"
  "external-rbac|--set rbac.create=false --set serviceAccount.create=false --set serviceAccount.name=default"
)

log "helm template with ${#VARIATIONS[@]} value sets"
for v in "${VARIATIONS[@]}"; do
  name="${v%%|*}"
  read -r -a flags <<<"${v#*|}"
  # the scratch namespace is filled in later; render once here to fail early and offline
  helm template "$RELEASE" "$CHART" -n "$NS" "${flags[@]}" >"$WORK/$name.offline.yaml" || die "helm template ($name)"
done
grep -q 'app.kubernetes.io/name: hypha-k8s-worker' "$WORK/defaults.offline.yaml" || die "default render lacks the name label"
grep -q 'instances: 5' "$WORK/tuned.offline.yaml" || die "verticles.jobLauncher.instances=5 not rendered"
if grep -q 'kind: Role' "$WORK/external-rbac.offline.yaml"; then die "rbac.create=false still renders RBAC"; fi

log "values the schema must refuse"
refuse() { # refuse <what> <helm flags...>
  local what="$1"; shift
  if helm template "$RELEASE" "$CHART" -n "$NS" "$@" >/dev/null 2>"$WORK/refused.err"; then
    die "the chart accepted $what"
  fi
  log "  refused $what: $(grep -m1 -E '^- at ' "$WORK/refused.err" || head -n1 "$WORK/refused.err")"
}
refuse "visibility=bogus" --set hypha.visibility=bogus
refuse "two hypha-bridge verticles" --set verticles.hyphaBridge.instances=2
refuse "zero job launchers" --set verticles.jobLauncher.instances=0
refuse "an unknown top-level value" --set replicas=2
refuse "a non-numeric defaultTimeout" --set kubernetes.defaultTimeout=soon
refuse "an invalid pull policy" --set image.pullPolicy=Sometimes
refuse "a negative GPU maximum" --set policy.resources.maxGpus=-1
refuse "a misspelt policy key" --set policy.allowTolerance=true
refuse "a manifest size limit below 1 KiB" --set policy.maxManifestBytes=100
refuse "a get_logs burst of 0" --set logs.burst=0
refuse "an agent visibility that is none of Hypha's" --set policy.maxAgentVisibility=everyone
refuse "a negative per-user limit" --set policy.maxSessionsPerUser=-1
refuse "a job toleration with an unknown field" --set 'kubernetes.jobTolerations[0].keys=x'
refuse "a job node selector value that is not a string" --set-json 'kubernetes.jobNodeSelector={"pool":1}'
refuse "an execute output limit below 1 KiB" --set policy.maxExecuteOutputBytes=100
refuse "a volume claim that is not a Kubernetes name" --set 'policy.allowedVolumeClaims[0]=Not_A_Name'

log "helm unittest"
helm unittest "$CHART"

# --- against the local control plane --------------------------------------------------------------

"$REPO_DIR/scripts/k8s-cluster.sh" status >/dev/null 2>&1 || "$REPO_DIR/scripts/k8s-cluster.sh" start
kubectls=("$CACHE_DIR"/k8s-bins/*/kubectl)
KUBECTL="${kubectls[0]}"
[[ -x "$KUBECTL" ]] || die "no kubectl under $CACHE_DIR/k8s-bins (run scripts/k8s-cluster.sh build)"
kubectl() { "$KUBECTL" "$@"; }

# restricted PodSecurity on every namespace used, so that a pod template breaking it shows up as a
# warning (admission only warns for Deployments), which fails the dry-run below
pss_labels=(pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/warn=restricted
  pod-security.kubernetes.io/audit=restricted)

SCRATCH_NS="chart-test-$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
kubectl create namespace "$SCRATCH_NS" >/dev/null
kubectl label namespace "$SCRATCH_NS" "${pss_labels[@]}" >/dev/null

dry_run() { # dry_run <name> <file>
  if ! kubectl apply --dry-run=server -f "$2" >"$WORK/$1.dry.out" 2>"$WORK/$1.dry.err"; then
    cat "$WORK/$1.dry.err" >&2
    die "server-side dry-run ($1)"
  fi
  if grep -i 'warning' "$WORK/$1.dry.err" >&2; then die "server-side dry-run ($1) warned"; fi
  sed 's/^/  /' "$WORK/$1.dry.out" >&2
}

log "server-side dry-run of every rendered object (namespace $SCRATCH_NS)"
for v in "${VARIATIONS[@]}"; do
  name="${v%%|*}"
  read -r -a flags <<<"${v#*|}"
  # Jobs (and the Role) in the scratch namespace too, unless the variation says otherwise
  helm template "$RELEASE" "$CHART" -n "$SCRATCH_NS" --set kubernetes.namespace="$SCRATCH_NS" "${flags[@]}" \
    >"$WORK/$name.yaml" || die "helm template ($name)"
  count="$(grep -c '^kind: ' "$WORK/$name.yaml")"
  log "$name: $count objects"
  dry_run "$name" "$WORK/$name.yaml"
done

log "helm install into namespace $NS"
if ! kubectl get namespace "$NS" >/dev/null 2>&1; then
  kubectl create namespace "$NS" >/dev/null
  CREATED_NS=1
fi
kubectl label namespace "$NS" --overwrite "${pss_labels[@]}" >/dev/null
if ! kubectl get secret hypha-secrets -n "$NS" >/dev/null 2>&1; then
  kubectl create secret generic hypha-secrets -n "$NS" --from-literal=HYPHA_AGENTS_TOKEN=chart-test-token >/dev/null
fi
if helm status "$RELEASE" -n "$NS" >/dev/null 2>&1; then
  log "removing a release left over from an earlier run"
  helm uninstall "$RELEASE" -n "$NS" --wait >/dev/null
fi
INSTALLED=1
helm install "$RELEASE" "$CHART" -n "$NS" 2>"$WORK/install.err" | sed 's/^/  /' >&2 || { cat "$WORK/install.err" >&2; die "helm install"; }
if grep -i 'warning' "$WORK/install.err" >&2; then die "helm install warned"; fi

kubectl get deployment,serviceaccount,configmap,role,rolebinding -n "$NS" -l app.kubernetes.io/name=hypha-k8s-worker >&2
kubectl get deployment "$RELEASE" -n "$NS" >/dev/null || die "the Deployment was not created"
[[ "$(kubectl get deployment "$RELEASE" -n "$NS" -o jsonpath='{.spec.template.metadata.labels.app\.kubernetes\.io/name}')" == hypha-k8s-worker ]] ||
  die "the pod template lacks app.kubernetes.io/name=hypha-k8s-worker"

# A pod from the Deployment's template, created directly: a refusal by PodSecurity "restricted" then
# fails this step (for the ReplicaSet's own pod it would only be an event), and the README's selectors
# find a pod.
log "a pod from the Deployment's template, as its ReplicaSet would create it"
kubectl get deployment "$RELEASE" -n "$NS" -o json | python3 -c '
import json, sys
t = json.load(sys.stdin)["spec"]["template"]
t["metadata"]["name"] = sys.argv[1]
print(json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": t["metadata"], "spec": t["spec"]}))
' "$RELEASE-chart-test" >"$WORK/pod.json"
kubectl create -n "$NS" -f "$WORK/pod.json" >&2 || die "the Deployment's pod template was refused"
kubectl wait -n "$NS" --for=jsonpath='{.status.phase}'=Running "pod/$RELEASE-chart-test" --timeout=60s >&2 ||
  die "the pod did not run"
kubectl get pods -n "$NS" -l app.kubernetes.io/name=hypha-k8s-worker >&2
kubectl delete pod -n "$NS" "$RELEASE-chart-test" --wait=false >&2

log "the ServiceAccount may do what the worker does, and nothing more"
sa="system:serviceaccount:$NS:$RELEASE"
can() { # can <yes|no> <verb> <resource> [flags...]
  local want="$1" got; shift
  got="$(kubectl auth can-i "$@" --as="$sa" 2>/dev/null || true)"
  [[ "$got" == "$want" ]] || die "can-i $* as $sa: expected $want, got ${got:-error}"
  log "  $want: $*"
}
for verb in create get list watch delete patch; do can yes "$verb" jobs.batch -n "$NS"; done
can yes create secrets -n "$NS"
for verb in get list watch; do can yes "$verb" pods -n "$NS"; done
can yes get pods --subresource=log -n "$NS"
can yes create pods --subresource=exec -n "$NS"   # execute
can yes list events -n "$NS"
can yes watch events -n "$NS"
for verb in get list watch delete patch; do can no "$verb" secrets -n "$NS"; done
can no update jobs.batch -n "$NS"
can no create pods -n "$NS"
can no get pods --subresource=exec -n "$NS"
can no create pods --subresource=exec -n default
can no create deployments.apps -n "$NS"
can no get secrets -n default
can no create jobs.batch -n default
can no list namespaces

log "helm uninstall"
helm uninstall "$RELEASE" -n "$NS" --wait | sed 's/^/  /' >&2
INSTALLED=""
if kubectl get deployment "$RELEASE" -n "$NS" >/dev/null 2>&1; then die "the Deployment is still there after uninstall"; fi
if kubectl get role "$RELEASE" -n "$NS" >/dev/null 2>&1; then die "the Role is still there after uninstall"; fi

log "all chart checks passed"
