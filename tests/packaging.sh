#!/usr/bin/env bash
# Checks of what nodecap ships besides the binary, each against the real tool that consumes it:
#   - Kubernetes manifests: kubernetes-validate --strict for 1.30 … 1.35, file by file and the
#     kustomize output (also with the subnets component enabled), plus each PodMonitor
#     pointing at its workload's port;
#   - Prometheus alert rules: promtool check rules and promtool test rules;
#   - CloudFormation alarms: cfn-lint;
#   - the AMI template: packer validate and packer fmt -check;
#   - the four packages packaging/build.sh made (.deb amd64/arm64, .rpm x86_64/aarch64):
#     contents, the static binary of the right architecture, configuration-file marking,
#     scriptlets, lintian and rpmlint; then, for the amd64 ones (the host's), install,
#     upgrade and removal under real systemd (systemd-nspawn), the RPM through ami/provision.sh;
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

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
debs=() rpms=()
for arch in amd64 arm64; do
  debs+=("target/packages/nodecap_${version}-1_${arch}.deb")
done
for arch in x86_64 aarch64; do
  rpms+=("target/packages/nodecap-${version}-1.${arch}.rpm")
done
for package in "${debs[@]}" "${rpms[@]}"; do
  [[ -f $package ]] || fail "$package is missing: run packaging/build.sh first"
done
# The lifecycle under systemd runs the packages this host can execute.
deb=${debs[0]} rpm=${rpms[0]}

step "Kubernetes manifests (kubernetes-validate --strict, 1.30–1.35)"
kubectl kustomize packaging/kubernetes >"$work/kustomized.yaml"
# With the subnets component enabled as its kustomization.yaml says: uncomment `components`.
cp -r packaging/kubernetes "$work/kubernetes"
sed -i 's/^# components:$/components:/; s/^#   - subnets$/  - subnets/' "$work/kubernetes/kustomization.yaml"
grep -q '^  - subnets$' "$work/kubernetes/kustomization.yaml" \
  || fail "packaging/kubernetes/kustomization.yaml: no commented '#   - subnets' component to enable"
kubectl kustomize "$work/kubernetes" >"$work/kustomized-subnets.yaml"
for version in 1.30.0 1.31.0 1.32.0 1.33.0 1.34.0 1.35.0; do
  for file in packaging/kubernetes/*.yaml packaging/kubernetes/subnets/*.yaml \
              "$work/kustomized.yaml" "$work/kustomized-subnets.yaml"; do
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
"$venv/bin/python" - "$work/kustomized-subnets.yaml" <<'PY'
# Each PodMonitor (no schema offline) must select its workload's pods and name their port,
# in the workload's namespace; the subnet reader runs one replica, recreated, as the
# DaemonSet's user, read-only, with its ServiceAccount.
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
for workload in [by[("DaemonSet", "nodecap")], by[("Deployment", "nodecap-subnets")]]:
    name = workload["metadata"]["name"]
    pm = by[("PodMonitor", name)]
    pod = workload["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in pm["spec"]["selector"]["matchLabels"].items()), f"{name}: selector"
    ports = {p["name"] for c in pod["spec"]["containers"] for p in c.get("ports", [])}
    for endpoint in pm["spec"]["podMetricsEndpoints"]:
        assert endpoint["port"] in ports, f"{name}: PodMonitor port {endpoint['port']} not in {ports}"
    assert pm["metadata"].get("namespace") == workload["metadata"]["namespace"] == "kube-system", f"{name}: namespace"
    print(f"  PodMonitor {name} selects its pods and their metrics port")
deployment = by[("Deployment", "nodecap-subnets")]
spec = deployment["spec"]
assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate", "one replica, Recreate"
pod = spec["template"]["spec"]
assert pod["serviceAccountName"] == "nodecap-subnets" and ("ServiceAccount", "nodecap-subnets") in by, "ServiceAccount"
ds_pod = by[("DaemonSet", "nodecap")]["spec"]["template"]["spec"]
assert pod["securityContext"] == ds_pod["securityContext"], "pod securityContext differs from the DaemonSet's"
assert pod["containers"][0]["securityContext"] == ds_pod["containers"][0]["securityContext"], "container securityContext differs"
assert pod["containers"][0]["args"][0] == "subnets"
print("  the subnet reader: one replica, Recreate, the DaemonSet's hardening, its ServiceAccount")
PY

step "Prometheus rules (promtool)"
promtool check rules packaging/prometheus/rules.yaml
(cd packaging/prometheus && promtool test rules rules_test.yaml)

step "CloudFormation alarms (cfn-lint)"
"$venv/bin/cfn-lint" packaging/cloudwatch/alarms.yaml packaging/cloudwatch/subnet-alarms.yaml && echo "  clean"

step "AMI template (packer validate for both architectures, packer fmt -check)"
# The template's default RPM for each architecture is what packaging/build.sh builds.
packer validate ami/nodecap-al2023.pkr.hcl
packer validate -var architecture=arm64 ami/nodecap-al2023.pkr.hcl
if packer validate -var architecture=sparc ami/nodecap-al2023.pkr.hcl >"$work/packer.log" 2>&1 \
   || ! grep -q "must be x86_64 or arm64" "$work/packer.log"; then
  fail "ami/nodecap-al2023.pkr.hcl accepts architecture=sparc: $(cat "$work/packer.log")"
fi
packer fmt -check ami/nodecap-al2023.pkr.hcl || fail "ami/nodecap-al2023.pkr.hcl: packer fmt would change it"
echo "  valid, formatted"


step "package contents (dpkg-deb, rpm -qp), for both architectures"
files=(/usr/bin/nodecap /etc/nodecap/config.toml /usr/lib/systemd/system/nodecap.service
       /usr/lib/systemd/system/nodecap-init.service /usr/lib/sysctl.d/50-nodecap.conf
       /usr/lib/tmpfiles.d/nodecap.conf /usr/share/man/man1/nodecap.1.gz
       /usr/share/man/man1/nodecap-init.1.gz /usr/share/bash-completion/completions/nodecap
       /usr/share/fish/vendor_completions.d/nodecap.fish)
# What `file` says of each architecture's binary.
machine() { case $1 in amd64|x86_64) echo x86-64 ;; arm64|aarch64) echo "ARM aarch64" ;; esac; }
for deb_ in "${debs[@]}"; do
  arch=$(dpkg-deb -f "$deb_" Architecture)
  [[ $deb_ == *"_$arch.deb" ]] || fail "$deb_: Architecture is $arch"
  dpkg-deb -c "$deb_" | awk '{print $6}' | sed 's|^\./|/|' | sort >"$work/deb.files"
  for file in "${files[@]}"; do grep -qx "$file" "$work/deb.files" || fail "$deb_ lacks $file"; done
  dpkg-deb --fsys-tarfile "$deb_" | tar -xO ./usr/bin/nodecap >"$work/nodecap"
  file -b "$work/nodecap" | grep -q "$(machine "$arch").*statically linked" \
    || fail "$deb_: /usr/bin/nodecap is not a static $arch binary: $(file -b "$work/nodecap")"
  [[ $(dpkg-deb -f "$deb_" Depends) == systemd ]] || fail "$deb_: Depends is '$(dpkg-deb -f "$deb_" Depends)', expected systemd alone (static binary)"
  [[ $(dpkg-deb --ctrl-tarfile "$deb_" | tar -xO ./conffiles) == /etc/nodecap/config.toml ]] \
    || fail "$deb_: /etc/nodecap/config.toml is not its one conffile"
  dpkg-deb --ctrl-tarfile "$deb_" | tar -xO ./postinst | grep -q 'deb-systemd-helper enable' \
    || fail "$deb_: postinst does not enable the units"
  dpkg-deb -f "$deb_" Package Version Architecture Depends | paste -sd' ' | sed 's/^/  deb: /'
done
for rpm_ in "${rpms[@]}"; do
  arch=$(rpm -qp --qf '%{ARCH}' "$rpm_" 2>/dev/null)
  [[ $rpm_ == *".$arch.rpm" ]] || fail "$rpm_: ARCH is $arch"
  rpm -qpl "$rpm_" 2>/dev/null | sort >"$work/rpm.files"
  for file in "${files[@]}"; do grep -qx "$file" "$work/rpm.files" || fail "$rpm_ lacks $file"; done
  # The packaged binary is the build of that architecture (same SHA-256), and that is static.
  case $arch in x86_64) built=target/x86_64-unknown-linux-musl/release/nodecap ;; *) built=target/aarch64-unknown-linux-musl/release/nodecap ;; esac
  [[ $(rpm -qp --dump "$rpm_" 2>/dev/null | awk '$1 == "/usr/bin/nodecap" { print $4 }') == "$(sha256sum "$built" | cut -d' ' -f1)" ]] \
    || fail "$rpm_: /usr/bin/nodecap is not $built"
  file -b "$built" | grep -q "$(machine "$arch").*statically linked" \
    || fail "$rpm_: /usr/bin/nodecap is not a static $arch binary: $(file -b "$built")"
  requires=$(rpm -qp --requires "$rpm_" 2>/dev/null | paste -sd' ')
  [[ " $requires " == *" systemd "* && $requires != *.so* ]] \
    || fail "$rpm_: requires $requires; expected systemd and no shared library (static binary)"
  [[ $(rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpm_" 2>/dev/null | grep ' /etc/nodecap/config.toml$') == "cn /etc/nodecap/config.toml" ]] \
    || fail "$rpm_: /etc/nodecap/config.toml is not %config(noreplace)"
  rpm -qp --scripts "$rpm_" 2>/dev/null | grep -q 'systemctl enable nodecap-init.service nodecap.service' \
    || fail "$rpm_: %post does not enable the units"
  rpm -qp --qf '%{PAYLOADCOMPRESSOR}\n' "$rpm_" 2>/dev/null | grep -qx gzip || fail "$rpm_: payload is not gzip"
  echo "  rpm: $(rpm -qp --qf '%{NAME} %{VERSION}-%{RELEASE} %{ARCH}' "$rpm_" 2>/dev/null)"
done
echo "  all four hold the static binary of their architecture, units, config (conffile / noreplace), sysctl, tmpfiles, man pages, completions"

step "package lint (lintian, rpmlint), for both architectures"
# Plain lintian, as a user or a Debian reviewer runs it: the package carries its overrides
# (/usr/share/lintian/overrides/nodecap, each with its reason).
for deb_ in "${debs[@]}"; do
  lintian_rc=0
  lintian --fail-on error,warning "$deb_" >"$work/lintian.log" 2>&1 || lintian_rc=$?
  grep -v 'running with root privileges is not recommended' "$work/lintian.log" || true
  ((lintian_rc == 0)) || fail "lintian found errors or warnings in $deb_ (rc $lintian_rc)"
  # (Listed whole first: `grep -q` stopping early would fail the pipe under pipefail.)
  dpkg-deb -c "$deb_" | awk '{print $6}' >"$work/deb.contents"
  grep -qx './usr/share/lintian/overrides/nodecap' "$work/deb.contents" \
    || fail "$deb_ does not carry its lintian overrides"
  echo "  lintian: $deb_ clean"
done
for rpm_ in "${rpms[@]}"; do
  rpmlint -r packaging/rpm/nodecap.rpmlintrc "$rpm_" || fail "rpmlint found errors in $rpm_"
done

step "install, upgrade and remove under systemd (systemd-nspawn)"
# The upgrade: the same build as release 2.
upgrade=$work/upgrade
mkdir -p "$upgrade"
packaging/package.sh amd64 2 "$upgrade"
testkit=target/debug/testkit
[[ -x $testkit ]] || cargo build --quiet --locked -p nodecap-testkit --bin testkit

lifecycle() {
  local kind=$1 package=$2 base root out
  base=$(mktemp -d)
  mount -t tmpfs tmpfs "$base"
  root=$base/root
  out=$base/out
  mkdir -p "$base"/{up,work,out,pkg/v1,pkg/v2} "$root"/{usr,etc,var/lib,proc,sys,dev,run,tmp,root}
  for link in bin lib lib64 sbin; do ln -s "usr/$link" "$root/$link"; done
  mount -t overlay overlay -o "lowerdir=/usr,upperdir=$base/up,workdir=$base/work" "$root/usr"
  cp -a /etc/. "$root/etc/"
  cp -a /var/lib/dpkg "$root/var/lib/"
  rm -f "$root/etc/machine-id" "$root/usr/sbin/policy-rc.d"
  # Nothing else starts in the container: no waiting for a network it does not have.
  for unit in systemd-networkd-wait-online networking ifupdown-wait-online prometheus \
              prometheus-node-exporter postgresql console-getty getty@tty1 nodecap nodecap-init; do
    [[ $unit == nodecap* ]] && continue
    ln -sf /dev/null "$root/etc/systemd/system/$unit.service"
  done
  cp "$package" "$base/pkg/v1/"
  cp "$upgrade"/*."$kind" "$base/pkg/v2/"
  cp "$testkit" ami/provision.sh tests/package-lifecycle/inside.sh "$base/pkg/"
  for phase in install boot; do
    printf '[Unit]\nAfter=multi-user.target\n[Service]\nType=oneshot\nExecStart=/bin/sh /pkg/inside.sh %s %s\n' \
      "$phase" "$kind" >"$root/etc/systemd/system/lifecycle-$phase.service"
    timeout 240 systemd-nspawn -D "$root" --private-network --register=no --keep-unit --quiet \
      -M "nodecap-$kind-$$" --bind-ro="$base/pkg:/pkg" --bind="$out:/out" \
      -b systemd.firstboot=off systemd.unit=multi-user.target "systemd.wants=lifecycle-$phase.service" \
      </dev/null >/dev/null 2>>"$work/nspawn-$kind.log" || true
  done
  rm -rf "$work/out-$kind"
  cp -a "$out" "$work/out-$kind"
  umount "$root/usr"
  umount "$base"
  rmdir "$base"
  check_lifecycle "$kind" "$work/out-$kind" "$package"
}

check_lifecycle() {
  local kind=$1 out=$2
  expect() { # file, expected content, what
    local got
    got=$(cat "$out/$1" 2>/dev/null || echo "(missing)")
    [[ "$got" == "$2" ]] || {
      echo "--- $kind: $3: $1 is '$got', expected '$2'" >&2
      for f in steps install.log init.log daemon.log upgrade.log remove.log; do
        [[ -f "$out/$f" ]] && { echo "--- $f" >&2; tail -20 "$out/$f" >&2; }
      done
      tail -20 "$work/nspawn-$kind.log" >&2
      fail "$kind lifecycle: $3"
    }
  }
  expect steps "$(printf 'install /pkg/v1/%s\ninstalled\nbooted\nedit the configuration, then upgrade to /pkg/v2/%s\nremove\nfinished' \
    "$(basename "$3")" "$(basename "$upgrade"/*."$kind")")" "both boots ran to the end"
  expect install.rc 0 "install succeeds"
  expect enabled $'enabled\nenabled' "installing enables both units"
  grep -qx 'net.ipv4.ip_local_reserved_ports = 61682' "$out/sysctl" \
    || fail "$kind: systemd-sysctl does not apply the port reservation: $(grep -B2 -A2 nodecap "$out/sysctl")"
  expect state-dir yes "/var/lib/nodecap exists"
  local init_done kubelet_start
  # `systemctl show` prints one block per unit, blank-line separated, in its own key order.
  prop() { awk -v unit="$1" -v key="$2" 'BEGIN { RS = ""; FS = "\n" } $0 ~ "Id=" unit "\n|Id=" unit "$" {
    for (i = 1; i <= NF; i++) if (index($i, key "=") == 1) print substr($i, length(key) + 2) }' "$out/order"; }
  init_done=$(prop nodecap-init.service ExecMainExitTimestampMonotonic)
  kubelet_start=$(prop kubelet.service ExecMainStartTimestampMonotonic)
  [[ $(prop kubelet.service Result) == success ]] || fail "$kind: the stub kubelet failed: $(cat "$out/order")"
  [[ -n "$init_done" && "$init_done" -gt 0 && "$init_done" -le "$kubelet_start" ]] \
    || fail "$kind: at boot, nodecap-init (exit $init_done) did not finish before the kubelet (start $kubelet_start): $(cat "$out/order")"
  grep -q '"maxPods": *29' "$out/seen-by-kubelet.conf" || fail "$kind: the kubelet did not see maxPods 29"
  grep -q '^nodecap_max_pods 29$' "$out/metrics" || fail "$kind: nodecap.service did not serve nodecap_max_pods 29"
  expect upgrade.rc 0 "upgrade succeeds"
  expect version "0.1.0-2" "the upgrade is installed"
  expect edit-kept 1 "the local configuration edit survives the upgrade"
  expect active-after-upgrade active "the daemon runs after the upgrade"
  expect enabled-after-upgrade $'enabled\nenabled' "the units stay enabled"
  expect remove.rc 0 "removal succeeds"
  [[ $(cat "$out/active-after-remove") != active ]] || fail "$kind: nodecap.service still runs after removal"
  [[ ! -f "$out/binary-after-remove" ]] || fail "$kind: /usr/bin/nodecap left after removal"
  ! grep -q nodecap "$out/wants-after-remove" || fail "$kind: enable links left: $(cat "$out/wants-after-remove")"
  [[ $kind == rpm ]] || expect purge.rc 0 "purge succeeds"
  echo "  $kind: installed (units enabled, port reservation in systemd-sysctl's configuration); next boot: nodecap-init before the kubelet (maxPods 29), /metrics served; upgraded keeping a local edit; removed cleanly"
}

lifecycle deb "$deb"
lifecycle rpm "$rpm"

step "shell scripts (shellcheck)"
mapfile -t scripts < <(find tests tests/lib agent/benches ami packaging -maxdepth 1 -name '*.sh'; echo .ci/run)
shellcheck -x "${scripts[@]}"
echo "  ${#scripts[@]} scripts clean"
