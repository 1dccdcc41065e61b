#!/usr/bin/env bash
# The container image as the DaemonSet runs it, with the DaemonSet as the one source of truth.
#
#   1. The run: the kustomize output of packaging/kubernetes is read (image, user and group,
#      read-only root, privilege escalation, capabilities, host network, args, env, ports,
#      probes, volume mounts) and turned into one `podman run` of the amd64 image from
#      target/packages/nodecap-<version>.oci.tar. Host paths come from the fixture host (the
#      ConfigMap's config.toml is written to a directory of its own); the only additions are
#      the test IMDS and test ipamd endpoints, as environment variables. Each probe's path
#      must answer 200 on the manifest's port, and /metrics must show the test node
#      (maxPods 29 for the m5.large, ipamd's addresses, no collector failing).
#   2. The manifest check: `podman inspect` of that container and its process's
#      /proc/PID/status and /proc/PID/mounts must show exactly what the kustomize output asks
#      for — the image, user 65532, a read-only root without writable scratch mounts, no
#      capabilities, no new privileges, the host's network, every mount read-only at its
#      mountPath — so the run cannot drift from the manifest.
#
# Needs podman and runc (Debian's), the image from packaging/build.sh, kubectl (kustomize) and
# the tools venv (PyYAML); tests/run.sh provides all of them.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
fail() { echo "tests/image.sh: $*" >&2; exit 1; }
step() { printf '\n== %s\n' "$*"; }

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
archive=target/packages/nodecap-$version.oci.tar
[[ -f $archive ]] || fail "$archive is missing: run packaging/build.sh first"
python=$root/target/tools-venv/bin/python
testkit=target/debug/testkit
[[ -x $testkit ]] || cargo build --quiet --locked -p nodecap-testkit --bin testkit

work=$(mktemp -d)
pids=()
# podman as these machines run it: runc (crun refuses the hybrid cgroup tree), no rlimits
# set on containers (not permitted here), a store of the tests' own under target/.
cat >"$work/containers.conf" <<'EOF'
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
export CONTAINERS_CONF=$work/containers.conf
# A fresh store each run: the image under test is the one in the archive.
rm -rf "$root/target/podman/test-storage" "$root/target/podman/test-run"
podman_() {
  podman --root "$root/target/podman/test-storage" --runroot "$root/target/podman/test-run" --storage-driver vfs "$@"
}
container=nodecap-image-test-$$
cleanup() {
  podman_ rm -f -t 0 "$container" >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

step "the DaemonSet, from the kustomize output"
kubectl kustomize packaging/kubernetes >"$work/kustomized.yaml"
# The pod the DaemonSet makes, reduced to what a container runtime is told.
"$python" - "$work/kustomized.yaml" >"$work/pod.json" <<'PY'
import json, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
ds = next(d for d in docs if d["kind"] == "DaemonSet")
cms = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
pod = ds["spec"]["template"]["spec"]
(c,) = pod["containers"]
sc, psc = c.get("securityContext", {}), pod.get("securityContext", {})
ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
volumes = {v["name"]: v for v in pod.get("volumes", [])}
mounts = []
for m in c.get("volumeMounts", []):
    v = volumes[m["name"]]
    if "hostPath" in v:
        source = {"hostPath": v["hostPath"]["path"]}
    elif "configMap" in v:
        source = {"configMap": cms[v["configMap"]["name"]]["data"]}
    else:
        raise SystemExit(f"volume {m['name']}: only hostPath and configMap volumes are run here")
    mounts.append({"name": m["name"], "mountPath": m["mountPath"], "readOnly": m.get("readOnly", False), **source})
probes = {}
for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
    if kind in c:
        get = c[kind]["httpGet"]
        probes[kind] = {"path": get["path"], "port": ports.get(get["port"], get["port"])}
arches = [v for term in pod.get("affinity", {}).get("nodeAffinity", {})
            .get("requiredDuringSchedulingIgnoredDuringExecution", {}).get("nodeSelectorTerms", [])
          for e in term.get("matchExpressions", []) if e["key"] == "kubernetes.io/arch" for v in e["values"]]
json.dump({
    "image": c["image"],
    "arches": sorted(arches),
    "args": c.get("args", []),
    "env": [(e["name"], e.get("value"), e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")) for e in c.get("env", [])],
    "user": sc.get("runAsUser", psc.get("runAsUser")),
    "group": sc.get("runAsGroup", psc.get("runAsGroup")),
    "runAsNonRoot": sc.get("runAsNonRoot", psc.get("runAsNonRoot")),
    "readOnlyRoot": sc.get("readOnlyRootFilesystem", False),
    "noNewPrivileges": sc.get("allowPrivilegeEscalation") is False,
    "dropCapabilities": sc.get("capabilities", {}).get("drop", []),
    "addCapabilities": sc.get("capabilities", {}).get("add", []),
    "hostNetwork": pod.get("hostNetwork", False),
    "ports": ports,
    "probes": probes,
    "mounts": mounts,
}, sys.stdout, indent=1)
PY
jq_() { "$python" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$work/pod.json" "$1"; }
echo "  image $(jq_ 'd["image"]'), user $(jq_ 'd["user"]'):$(jq_ 'd["group"]'), $(jq_ 'len(d["mounts"])') mounts, probes $(jq_ '",".join(p["path"] for p in d["probes"].values())')"

# The architectures the DaemonSet schedules on are the image's platforms.
platforms=$(tar -xOf "$archive" index.json | "$python" -c '
import json, sys, tarfile
index = json.load(sys.stdin)
archive = tarfile.open(sys.argv[1])
def blob(digest):
    return json.load(archive.extractfile("blobs/" + digest.replace(":", "/")))
(top,) = index["manifests"]
print(" ".join(sorted(m["platform"]["architecture"] for m in blob(top["digest"])["manifests"])))' "$archive")
[[ $platforms == "$(jq_ '" ".join(d["arches"])')" ]] \
  || fail "the image's platforms ($platforms) are not the DaemonSet's kubernetes.io/arch values ($(jq_ '" ".join(d["arches"])'))"
echo "  $archive: platforms $platforms, the DaemonSet's kubernetes.io/arch values"

step "the test node: IMDS (m5.large, 3 ENIs x 10 addresses), ipamd, the fixture host"
"$testkit" imds --instance-type m5.large --enis 3 --ips-per-eni 10 >"$work/imds.url" & pids+=($!)
"$testkit" ipamd --metrics tests/fixtures/ipamd/metrics-v1.19-m5.large.prom \
  --enis tests/fixtures/ipamd/enis-v1.20-m5.large.json >"$work/ipamd.url" & pids+=($!)
for f in imds ipamd; do
  for _ in $(seq 1 100); do [[ -s "$work/$f.url" ]] && break; sleep 0.1; done
done
imds=$(head -1 "$work/imds.url")
ipamd=$(head -1 "$work/ipamd.url")
[[ -n $imds && -n $ipamd ]] || fail "the test IMDS or ipamd did not start"
# The node's paths, as the DaemonSet's hostPath volumes name them.
host=$work/host
mkdir -p "$host/etc/kubernetes/kubelet" "$host/etc/eks/nodeadm.d" "$host/etc/default"
cp tests/fixtures/host-cgroup2/etc/kubernetes/kubelet/config.json "$host/etc/kubernetes/kubelet/"
host_path() {
  case $1 in
    /sys) echo "$root/tests/fixtures/host-cgroup2/sys" ;;
    /etc/kubernetes|/etc/eks|/etc/default) echo "$host$1" ;;
    *) fail "the DaemonSet mounts $1: add it to the fixture host in tests/image.sh" ;;
  esac
}

step "run the amd64 image as the DaemonSet runs it"
podman_ pull --quiet --arch amd64 "oci-archive:$archive" >/dev/null
image=$(jq_ 'd["image"]')
args=(run --detach --name "$container")
[[ $(jq_ 'd["hostNetwork"]') == True ]] && args+=(--network host)
# Kubernetes mounts no writable tmpfs on a read-only root; podman does unless told not to.
[[ $(jq_ 'd["readOnlyRoot"]') == True ]] && args+=(--read-only --read-only-tmpfs=false)
[[ $(jq_ 'd["noNewPrivileges"]') == True ]] && args+=(--security-opt no-new-privileges)
args+=(--user "$(jq_ 'd["user"]'):$(jq_ 'd["group"]')")
for cap in $(jq_ '" ".join(d["dropCapabilities"])'); do args+=(--cap-drop "$cap"); done
for cap in $(jq_ '" ".join(d["addCapabilities"])'); do args+=(--cap-add "$cap"); done
count=$(jq_ 'len(d["mounts"])')
for ((i = 0; i < count; i++)); do
  path=$(jq_ "d['mounts'][$i]['mountPath']")
  ro=$(jq_ "'ro' if d['mounts'][$i]['readOnly'] else 'rw'")
  if [[ $(jq_ "'hostPath' in d['mounts'][$i]") == True ]]; then
    source=$(host_path "$(jq_ "d['mounts'][$i]['hostPath']")")
  else
    source=$work/configmap-$i
    mkdir -p "$source"
    "$python" -c 'import json,sys,os; d=json.load(open(sys.argv[1]))["mounts"][int(sys.argv[2])]["configMap"]
[open(os.path.join(sys.argv[3], k), "w").write(v) for k, v in d.items()]' "$work/pod.json" "$i" "$source"
  fi
  args+=(--volume "$source:$path:$ro")
done
node_ip=127.0.0.1
while IFS=$'\t' read -r name value field; do
  case $field in
    status.hostIP) value=$node_ip ;;
    None) value=${value//\$(NODE_IP)/$node_ip} ;;
    *) fail "env $name: fieldRef $field is not provided by tests/image.sh" ;;
  esac
  args+=(--env "$name=$value")
done < <("$python" -c 'import json,sys; [print(f"{n}\t{v}\t{f}") for n, v, f in json.load(open(sys.argv[1]))["env"]]' "$work/pod.json")
# The test node's endpoints: the only settings that are not the manifest's.
args+=(--env "NODECAP_IMDS_ENDPOINT=$imds"
       --env "NODECAP_RUN_IPAMD_METRICS_URL=$ipamd/metrics"
       --env "NODECAP_RUN_IPAMD_INTROSPECTION_URL=$ipamd/v1/enis")
mapfile -t cargs < <("$python" -c 'import json,sys; [print(a) for a in json.load(open(sys.argv[1]))["args"]]' "$work/pod.json")
podman_ "${args[@]}" "$image" "${cargs[@]}" >/dev/null
port=$(jq_ 'd["ports"]["metrics"]')
ok=
for _ in $(seq 1 100); do
  curl -sf "http://$node_ip:$port/readyz" >/dev/null 2>&1 && { ok=1; break; }
  [[ $(podman_ inspect -f '{{.State.Running}}' "$container") == true ]] || break
  sleep 0.1
done
[[ -n $ok ]] || { podman_ logs "$container" >&2 || true; fail "the container did not become ready on $node_ip:$port"; }
for kind in $(jq_ '" ".join(d["probes"])'); do
  path=$(jq_ "d['probes']['$kind']['path']")
  probe_port=$(jq_ "d['probes']['$kind']['port']")
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://$node_ip:$probe_port$path")
  [[ $code == 200 ]] || fail "$kind $path on port $probe_port answered $code"
  echo "  $kind: GET $path on :$probe_port -> 200"
done
curl -sf "http://$node_ip:$port/metrics" >"$work/metrics"
grep -qx 'nodecap_max_pods 29' "$work/metrics" || fail "/metrics lacks nodecap_max_pods 29: $(grep '^nodecap_max_pods' "$work/metrics")"
grep -q '^nodecap_ipamd_' "$work/metrics" || fail "/metrics has no ipamd series"
if grep -E '^nodecap_collector_success\{.*\} 0$' "$work/metrics"; then
  podman_ logs "$container" >&2 || true
  fail "a collector failed in the container"
fi
echo "  /metrics: $(grep -c '^nodecap_' "$work/metrics") series, maxPods 29, ipamd read, every collector succeeded"

step "the running container is the one the manifest describes"
podman_ inspect "$container" >"$work/inspect.json"
pid=$(podman_ inspect -f '{{.State.Pid}}' "$container")
cp "/proc/$pid/status" "$work/status"
cp "/proc/$pid/mounts" "$work/mounts"
"$python" - "$work/pod.json" "$work/inspect.json" "$work/status" "$work/mounts" <<'PY'
import json, sys
pod = json.load(open(sys.argv[1]))
(c,) = json.load(open(sys.argv[2]))
status = dict(line.split(":\t", 1) for line in open(sys.argv[3]).read().splitlines() if ":\t" in line)
seen = {fields[1]: fields[3].split(",") for fields in (line.split() for line in open(sys.argv[4]))}
cfg, host = c["Config"], c["HostConfig"]
problems = []
def check(what, got, want):
    if got != want:
        problems.append(f"{what}: the container has {got!r}, the DaemonSet asks for {want!r}")
name, tag = pod["image"].rsplit(":", 1)
check("image", c["ImageName"].rsplit("/", 1)[-1], f"{name}:{tag}")
check("user", cfg["User"], f"{pod['user']}:{pod['group']}")
check("process uid", status["Uid"].split()[0], str(pod["user"]))
check("process gid", status["Gid"].split()[0], str(pod["group"]))
if pod["runAsNonRoot"]:
    check("runAsNonRoot", pod["user"] != 0, True)
check("read-only root", host["ReadonlyRootfs"], pod["readOnlyRoot"])
check("/ mounted read-only in the container", "ro" in seen.get("/", []), pod["readOnlyRoot"])
if pod["readOnlyRoot"]:
    check("writable scratch mounts", [p for p in ("/tmp", "/var/tmp", "/run") if p in seen], [])
check("no new privileges", status["NoNewPrivs"].strip() == "1", pod["noNewPrivileges"])
if "ALL" in pod["dropCapabilities"] and not pod["addCapabilities"]:
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        check(cap, int(status[cap], 16), 0)
check("network", host["NetworkMode"], "host" if pod["hostNetwork"] else host["NetworkMode"])
check("args", cfg["Cmd"], pod["args"])
mounts = {m["Destination"]: m for m in c["Mounts"]}
check("mount points", sorted(mounts), sorted(m["mountPath"] for m in pod["mounts"]))
for m in pod["mounts"]:
    if m["mountPath"] in mounts:
        check(f"{m['mountPath']} read-only", not mounts[m["mountPath"]]["RW"], m["readOnly"])
check("every mount read-only", all(m["readOnly"] for m in pod["mounts"]), True)
check("probe ports", sorted({p["port"] for p in pod["probes"].values()}), [pod["ports"]["metrics"]])
if problems:
    raise SystemExit("tests/image.sh: " + "\n  ".join(problems))
print(f"  image {pod['image']}, uid/gid {pod['user']}/{pod['group']} (process), read-only root, "
      f"no capabilities (CapEff/CapBnd 0), NoNewPrivs 1, host network, {len(pod['mounts'])} read-only mounts, "
      f"probes and /metrics on {pod['ports']['metrics']}: as in the kustomize output")
PY
size=$(podman_ image inspect -f '{{.Size}}' "$image")
echo "  image size (amd64, uncompressed): $size bytes; archive (both platforms, compressed): $(stat -c %s "$archive") bytes"
