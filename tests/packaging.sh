#!/usr/bin/env bash
# Checks of what nodecap ships besides the binary, each against the real tool that consumes it:
#   - Kubernetes manifests: kubernetes-validate --strict for 1.30 … 1.35, file by file and the
#     kustomize output, plus the PodMonitor pointing at the DaemonSet's port;
#   - Prometheus alert rules: promtool check rules and promtool test rules;
#   - CloudFormation alarms: cfn-lint;
#   - the AMI template: packer validate and packer fmt -check;
#   - every shell script: shellcheck.
# (That the rules, dashboard and alarms name only metrics nodecap serves is checked by the
# Rust tests.) tests/run.sh installs the tools and runs this; it needs them on PATH and
# target/tools-venv.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
venv=$root/target/tools-venv
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
step() { printf '\n== %s\n' "$*"; }
fail() { echo "tests/packaging.sh: $*" >&2; exit 1; }

step "Kubernetes manifests (kubernetes-validate --strict, 1.30–1.35)"
kubectl kustomize packaging/kubernetes >"$work/kustomized.yaml"
for version in 1.30.0 1.31.0 1.32.0 1.33.0 1.34.0 1.35.0; do
  for file in packaging/kubernetes/*.yaml "$work/kustomized.yaml"; do
    [[ $(basename "$file") == kustomization.yaml ]] && continue
    out=$("$venv/bin/kubernetes-validate" -k "$version" --strict "$file" 2>&1) \
      || fail "$file against $version: $out"
    # Only the Prometheus Operator's PodMonitor (a CRD) may lack a schema.
    if grep -v "kind PodMonitor with api version monitoring.coreos.com/v1" <<<"$out" | grep -q -v " passed for resource "; then
      fail "$file against $version: $out"
    fi
  done
  echo "  $version: every manifest and the kustomize output passed"
done
"$venv/bin/python" - "$work/kustomized.yaml" <<'PY'
# The PodMonitor (no schema offline) must select the DaemonSet's pods and name its port.
import sys, yaml
docs = {d["kind"]: d for d in yaml.safe_load_all(open(sys.argv[1])) if d}
ds, pm = docs["DaemonSet"], docs["PodMonitor"]
pod = ds["spec"]["template"]
labels = pod["metadata"]["labels"]
assert all(labels.get(k) == v for k, v in pm["spec"]["selector"]["matchLabels"].items()), "selector"
ports = {p["name"] for c in pod["spec"]["containers"] for p in c.get("ports", [])}
for endpoint in pm["spec"]["podMetricsEndpoints"]:
    assert endpoint["port"] in ports, f"PodMonitor port {endpoint['port']} not in {ports}"
assert pm["metadata"].get("namespace") == ds["metadata"]["namespace"], "namespace"
print("  PodMonitor selects the DaemonSet's pods and its metrics port")
PY

step "Prometheus rules (promtool)"
promtool check rules packaging/prometheus/rules.yaml
(cd packaging/prometheus && promtool test rules rules_test.yaml)

step "CloudFormation alarms (cfn-lint)"
"$venv/bin/cfn-lint" packaging/cloudwatch/alarms.yaml && echo "  clean"

step "AMI template (packer validate, packer fmt -check)"
rpm_file=
[[ -d target/packages ]] && rpm_file=$(find target/packages -name '*.x86_64.rpm' | head -1)
if [[ -z "$rpm_file" ]]; then
  # The file provisioner needs a file to exist; validation does not read it.
  rpm_file=$work/nodecap.rpm
  : >"$rpm_file"
fi
packer validate -var "rpm=$rpm_file" ami/nodecap-al2023.pkr.hcl
packer fmt -check ami/nodecap-al2023.pkr.hcl || fail "ami/nodecap-al2023.pkr.hcl: packer fmt would change it"
echo "  valid, formatted"

step "shell scripts (shellcheck)"
mapfile -t scripts < <(find tests agent/benches ami packaging -maxdepth 1 -name '*.sh'; echo .ci/run)
shellcheck "${scripts[@]}"
echo "  ${#scripts[@]} scripts clean"
