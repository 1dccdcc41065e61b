#!/usr/bin/env bash
# The daemon's endpoint and collection cost, for each build of nodecap side by side and
# against prometheus-node-exporter, all in the same run.
#
#   1. `wrk -t2 -c2 -d10s --latency` on /metrics of `nodecap run` and of node_exporter (the
#      Debian package, default collectors): requests/s, p99 latency, RSS after the load.
#      Targets (issue 4): ≥ 20× node_exporter's req/s, p99 ≤ 2 ms, RSS ≤ half of node_exporter's.
#      The limit line: nginx (Debian's nginx-light, one worker, access log off) serving the
#      body nodecap served, saved as a static file, under the same load.
#   2. CPU per collection tick on an m5.24xlarge-sized node: 15 ENIs × 50 addresses in the test
#      IMDS and a matching ipamd datastore, `--interval 1s` for 30 s without scrapes; CPU time
#      (nanoseconds on CPU from /proc/PID/schedstat) divided by ticks. Target: ≤ 3 ms. The test
#      ipamd answers the same every tick, as on a quiet node, so its answer is parsed once; a
#      datastore that changes every tick costs one parse more (about 0.5 ms here).
#
# The builds compared (issue 13: the static build must be no worse than the glibc one):
#   static  the shipped binary: x86_64-unknown-linux-musl, mimalloc (packaging/build.sh)
#   glibc   the same source for the host's glibc target, glibc's allocator
# or any NAME=BINARY pairs given as arguments (an older release, a musl build without mimalloc).
#
# Run: agent/benches/metrics-endpoint.sh [NAME=BINARY ...]
#      (installs wrk, nginx-light and prometheus-node-exporter if missing; the static build needs
#      packaging/build.sh's tools: cargo-zigbuild and zig)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v prometheus-node-exporter >/dev/null || missing+=(prometheus-node-exporter)
command -v nginx >/dev/null || missing+=(nginx-light)
if ((${#missing[@]})); then
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
cargo build --quiet --release --locked -p nodecap --bin nodecap -p nodecap-testkit --bin testkit
builds=("$@")
if ((${#builds[@]} == 0)); then
  cargo zigbuild --quiet --release --locked -p nodecap --bin nodecap --target x86_64-unknown-linux-musl
  builds=(static="$root/target/x86_64-unknown-linux-musl/release/nodecap" glibc="$root/target/release/nodecap")
fi
testkit=$root/target/release/testkit
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_url() { for _ in $(seq 1 100); do [[ -s "$1" ]] && break; sleep 0.1; done; head -1 "$1"; }
wait_ok() { for _ in $(seq 1 200); do curl -sf "$1" >/dev/null && return 0; sleep 0.05; done; echo "no answer from $1" >&2; exit 1; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
cpu_ns() { awk '{print $1}' "/proc/$1/schedstat"; }

# An m5.24xlarge-sized node: 15 ENIs × 50 addresses, ipamd holding 49 per ENI, 10 pods each.
python3 - "$work/enis.json" <<'PY'
import json, sys
enis = {}
for i in range(1, 16):
    cidrs = {}
    for j in range(11, 60):
        ip = f"10.{i}.0.{j}"
        used = j < 21
        entry = {ip: {"Address": ip, "IPAMKey": {"networkName": "aws-cni" if used else "", "containerID": "", "ifName": ""},
                      "IPAMMetadata": {"k8sPodNamespace": "default", "k8sPodName": f"pod-{i}-{j}"} if used else {},
                      "AssignedTime": "2026-11-20T08:00:00Z", "UnassignedTime": "0001-01-01T00:00:00Z"}} if used else {}
        cidrs[f"{ip}/32"] = {"Cidr": {"IP": ip, "Mask": "/////w=="}, "IPAddresses": entry, "IsPrefix": False, "AddressFamily": ""}
    eid = f"eni-{i:017x}"
    enis[eid] = {"ID": eid, "IsPrimary": i == 1, "IsTrunk": False, "IsEFA": False, "DeviceNumber": i - 1,
                 "AvailableIPv4Cidrs": cidrs, "IPv6Cidrs": {}, "IsExcludedForPodIPs": False, "RouteTableID": i, "SubnetID": "subnet-1"}
json.dump({"0": {"TotalIPs": 735, "AssignedIPs": 150, "ENIs": enis}}, open(sys.argv[1], "w"))
PY

"$testkit" imds --instance-type m5.24xlarge --enis 15 --ips-per-eni 50 >"$work/imds.url" & pids+=($!)
"$testkit" ipamd --metrics tests/fixtures/ipamd/metrics-v1.19-m5.large.prom --enis "$work/enis.json" >"$work/ipamd.url" & pids+=($!)
imds=$(wait_url "$work/imds.url")
ipamd=$(wait_url "$work/ipamd.url")
host=tests/fixtures/host-cgroup2
sources=(--imds-endpoint "$imds" --ipamd-metrics-url "$ipamd/metrics" --ipamd-introspection-url "$ipamd/v1/enis"
  --proc-root "$host/proc" --sys-root "$host/sys" --kubelet-config "$host/etc/kubernetes/kubelet/config.json"
  --kubelet-config-dir "$work/none" --nodeadm-config-dir "$work/none" --kubelet-env-file "$work/none"
  --state-dir "$work/state")

load() { wrk -t2 -c2 -d10s --latency "$1" >"$2"; }

# --- 1. the endpoint under load: the peer, then each build ------------------------------------
peer_port=$(free_port)
prometheus-node-exporter --web.listen-address="127.0.0.1:$peer_port" >"$work/peer.log" 2>&1 & peer=$!; pids+=("$peer")
wait_ok "http://127.0.0.1:$peer_port/metrics"
curl -s "http://127.0.0.1:$peer_port/metrics" | wc -c >"$work/node_exporter.bytes"
load "http://127.0.0.1:$peer_port/metrics" "$work/node_exporter.wrk"
rss_kib "$peer" >"$work/node_exporter.rss"
kill "$peer"

# Builds take turns, round after round (ROUNDS, default 3), and each figure is the median of
# its rounds: one build's ten seconds are not another's machine.
names=()
for build in "${builds[@]}"; do
  name=${build%%=*} bin=${build#*=}
  [[ -x $bin ]] || { echo "metrics-endpoint.sh: $bin is not an executable (NAME=BINARY)" >&2; exit 64; }
  names+=("$name")
done
for round in $(seq 1 "${ROUNDS:-3}"); do
  for build in "${builds[@]}"; do
    name=${build%%=*} bin=${build#*=} run=$work/$name.$round
    port=$(free_port)
    RUST_LOG=warn "$bin" run --listen "127.0.0.1:$port" --interval 60s "${sources[@]}" 2>"$run.log" & ours=$!; pids+=("$ours")
    wait_ok "http://127.0.0.1:$port/readyz"
    curl -s "http://127.0.0.1:$port/metrics" >"$work/body.$name"
    wc -c <"$work/body.$name" >"$run.bytes"
    load "http://127.0.0.1:$port/metrics" "$run.wrk"
    rss_kib "$ours" >"$run.rss"
    kill "$ours"

    # --- 2. CPU per collection tick -----------------------------------------------------------
    port=$(free_port)
    RUST_LOG=nodecap=debug "$bin" run --listen "127.0.0.1:$port" --interval 1s "${sources[@]}" 2>"$run.ticks" & ticker=$!; pids+=("$ticker")
    wait_ok "http://127.0.0.1:$port/readyz"
    cpu_before=$(cpu_ns "$ticker")
    ticks_before=$(grep -c "snapshot published" "$run.ticks" || true)
    sleep 30
    cpu_after=$(cpu_ns "$ticker")
    ticks_after=$(grep -c "snapshot published" "$run.ticks" || true)
    kill "$ticker"
    echo "$((cpu_after - cpu_before)) $((ticks_after - ticks_before)) $(grep -c "collector failed" "$run.ticks" || true)" >"$run.cpu"
  done
done

# --- the limit: nginx serving the first build's body as a static file ---------------------------
mkdir -p "$work/nginx/html"
cp "$work/body.${names[0]}" "$work/nginx/html/metrics"
# Its worker runs as an unprivileged user: the file must be readable on the way down.
chmod 755 "$work" "$work/nginx" "$work/nginx/html"
chmod 644 "$work/nginx/html/metrics"
nginx_port=$(free_port)
cat >"$work/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  server { listen 127.0.0.1:$nginx_port; root $work/nginx/html; default_type text/plain; }
}
CONF
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" & nginx_pid=$!; pids+=("$nginx_pid")
wait_ok "http://127.0.0.1:$nginx_port/metrics"
wc -c <"$work/nginx/html/metrics" >"$work/nginx.bytes"
load "http://127.0.0.1:$nginx_port/metrics" "$work/nginx.wrk"
pgrep -P "$nginx_pid" | head -1 | { read -r worker; rss_kib "$worker"; } >"$work/nginx.rss"
kill "$nginx_pid"

python3 - "$work" "${ROUNDS:-3}" "${names[@]}" <<'PY'
import re, statistics, sys
work, rounds, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def read(path):
    return open(path).read()
def parse(stem):
    text = read(f"{stem}.wrk")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", text)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return rps, float(p99.group(1)) * scale, int(read(f"{stem}.rss")) / 1024, int(read(f"{stem}.bytes")) / 1024
p_rps, p_p99, p_rss, p_kib = parse(f"{work}/node_exporter")
print(f"medians of {rounds} rounds, builds taking turns")
print(f"{'':22} {'req/s':>10} {'p99 ms':>8} {'RSS MiB':>8} {'body KiB':>9} {'tick CPU ms':>12}")
rows = {}
for name in names:
    runs, ticks_cpu, failed = [], [], 0
    for r in range(1, rounds + 1):
        stem = f"{work}/{name}.{r}"
        runs.append(parse(stem))
        cpu_ns, ticks, f = (int(x) for x in read(f"{stem}.cpu").split())
        failed += f
        ticks_cpu.append(cpu_ns / 1e6 / ticks if ticks else float("nan"))
    rps, p99, rss, kib = (statistics.median(col) for col in zip(*runs))
    per_tick = statistics.median(ticks_cpu)
    rows[name] = (rps, p99, rss, per_tick)
    print(f"{'nodecap ' + name:22} {rps:10.0f} {p99:8.3f} {rss:8.1f} {kib:9.1f} {per_tick:12.2f}"
          + (f"   ({failed} collector failures)" if failed else ""))
print(f"{'node_exporter':22} {p_rps:10.0f} {p_p99:8.3f} {p_rss:8.1f} {p_kib:9.1f} {'':>12}")
n_rps, n_p99, n_rss, n_kib = parse(f"{work}/nginx")
print(f"{'nginx (static file)':22} {n_rps:10.0f} {n_p99:8.3f} {n_rss:8.1f} {n_kib:9.1f} {'':>12}   (the limit; RSS of its worker)")
for name, (rps, p99, rss, per_tick) in rows.items():
    ok = lambda c: "met" if c else "NOT met"
    print(f"{name}: req/s {rps / p_rps:.1f}x node_exporter (>= 20x: {ok(rps >= 20 * p_rps)}), "
          f"p99 {p99:.3f} ms (<= 2 ms: {ok(p99 <= 2)}), RSS {rss / p_rss:.2f} of node_exporter's "
          f"(<= 0.5: {ok(rss <= 0.5 * p_rss)}), tick {per_tick:.2f} ms (<= 3 ms: {ok(per_tick <= 3)}); "
          f"req/s {rps / n_rps:.2f} of nginx's")
if "static" in rows and "glibc" in rows:
    s, g = rows["static"], rows["glibc"]
    print(f"static / glibc: req/s {s[0] / g[0]:.2f}, p99 {s[1] / g[1]:.2f}, RSS {s[2] / g[2]:.2f}, tick CPU {s[3] / g[3]:.2f} "
          f"(no worse: {'met' if s[0] >= 0.95 * g[0] and s[1] <= 1.05 * g[1] and s[2] <= 1.05 * g[2] and s[3] <= 1.05 * g[3] else 'NOT met'}, 5 % noise allowed)")
PY
