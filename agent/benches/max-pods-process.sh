#!/usr/bin/env bash
# Whole-process cost of `nodecap max-pods`: exec, parse arguments, look the type up in the
# embedded table, size it, print one integer, exit; and of `nodecap --version`, which is the
# start-up alone. Target (issue 27): the `max-pods` median at most 2× the limit line's and
# below the awk lookup's.
#
# Measured in the same run, on the same target and release profile:
#   empty static binary   the limit: `fn main() {}`, built here from a one-line source with
#                         the workspace's [profile.release], musl, by cargo-zigbuild as the
#                         shipped binary is: exec, the kernel's mapping, musl's start, exit
#   awk eni-max-pods.txt  the peer: the lookup the AL2 bootstrap.sh did, over an
#                         eni-max-pods.txt generated here from the same table (the EKS
#                         max-pods-calculator.sh itself calls the EC2 API every time)
#   nodecap --version     the shipped static build's start-up before any work
#   nodecap max-pods      the shipped static build (x86_64 musl, non-PIE, mimalloc)
#   glibc build           for reference, the same source for the host's glibc (a PIE the
#                         dynamic loader maps and relocates at every start)
# and, for each, page faults and instructions of one run (`perf stat` where the machine
# counts them; callgrind's count otherwise, when valgrind is installed: both count the
# process's own instructions, not the kernel's).
#
# Run: agent/benches/max-pods-process.sh [BINARY]   (a given BINARY replaces the shipped
#      static build, e.g. an older one; installs hyperfine and time from Debian if missing; the static
#      builds need packaging/build.sh's tools: cargo-zigbuild and zig)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

missing=()
command -v hyperfine >/dev/null || missing+=(hyperfine)
[[ -x /usr/bin/time ]] || missing+=(time)
if ((${#missing[@]})); then
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
target=x86_64-unknown-linux-musl

cargo build --quiet --release --locked -p nodecap --bin nodecap
if [[ -n "${1:-}" ]]; then
  bin=$1
else
  cargo zigbuild --quiet --release --locked -p nodecap --bin nodecap --target "$target"
  bin=$root/target/$target/release/nodecap
fi
glibc=$root/target/release/nodecap

# The limit: the workspace's release profile, copied, on a one-line program.
mkdir -p "$work/empty/src"
echo 'fn main() {}' >"$work/empty/src/main.rs"
{
  printf '[package]\nname = "empty"\nversion = "0.0.0"\nedition = "2024"\n\n[workspace]\n\n'
  awk '/^\[profile\.release\]/ { on = 1; print; next } /^\[/ { on = 0 } on && !/^#/' Cargo.toml
} >"$work/empty/Cargo.toml"
(cd "$work/empty" && cargo zigbuild --quiet --release --target "$target" --target-dir "$root/target/bench-empty")
empty=$root/target/bench-empty/$target/release/empty

"$bin" instance-types | awk 'NR > 1 { print $1, $NF }' >"$work/eni-max-pods.txt"
echo "static binary: $(stat -c %s "$bin") bytes; glibc binary: $(stat -c %s "$glibc") bytes;" \
  "empty static binary: $(stat -c %s "$empty") bytes; table: $(wc -l <"$work/eni-max-pods.txt") types"

max_pods="max-pods --instance-type m5.large --cni-version 1.19.0"
awk_cmd="awk '\$1 == \"m5.large\" { print \$2 }' $work/eni-max-pods.txt"
hyperfine --style basic -N --warmup 20 --runs 500 --export-json "$work/runs.json" \
  --command-name "empty static binary" "$empty" \
  --command-name "awk eni-max-pods.txt" "$awk_cmd" \
  --command-name "nodecap --version" "$bin --version" \
  --command-name "nodecap max-pods" "$bin $max_pods" \
  --command-name "nodecap (glibc build)" "$glibc $max_pods" \
  >/dev/null

# One run's page faults and instructions: what the start-up does, independent of the load.
counts() {
  local faults instr=
  faults=$( { /usr/bin/time -f '%R' "$@" >/dev/null; } 2>&1 | tail -1)
  if command -v perf >/dev/null; then
    instr=$(perf stat -x, -e instructions:u "$@" 2>&1 >/dev/null | awk -F, '/instructions/ && $1 ~ /^[0-9]+$/ { print $1 }')
  fi
  if [[ -z $instr ]] && command -v valgrind >/dev/null; then
    instr=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null \
      | sed -n 's/.*Collected : //p')
  fi
  echo "$faults ${instr:-?}"
}
{
  echo "empty static binary $(counts "$empty")"
  echo "awk eni-max-pods.txt $(counts sh -c "exec $awk_cmd")"
  echo "nodecap --version $(counts "$bin" --version)"
  # shellcheck disable=SC2086 # the arguments are words
  echo "nodecap max-pods $(counts "$bin" $max_pods)"
  # shellcheck disable=SC2086
  echo "nodecap (glibc build) $(counts "$glibc" $max_pods)"
} >"$work/counts"

python3 - "$work/runs.json" "$work/counts" <<'PY'
import json, statistics, sys
results = json.load(open(sys.argv[1]))["results"]
ms = {r["command"]: sorted(t * 1000 for t in r["times"]) for r in results}
counts = {}
for line in open(sys.argv[2]):
    *name, faults, instr = line.split()
    counts[" ".join(name)] = (faults, instr)
print(f"{'':22} {'median':>9} {'p95':>9} {'min':>9} {'user CPU (mean)':>15} {'faults':>7} {'instructions':>12}")
for r in results:
    name, times = r["command"], ms[r["command"]]
    p95 = times[int(len(times) * 0.95) - 1]
    user = r["user"] * 1000  # hyperfine reports the mean user time
    faults, instr = counts.get(name, ("?", "?"))
    print(f"{name:22} {statistics.median(times):6.3f} ms {p95:6.3f} ms {times[0]:6.3f} ms"
          f" {user:12.3f} ms {faults:>7} {instr:>12}  ({len(times)} runs)")
med = {k: statistics.median(v) for k, v in ms.items()}
ours, limit, peer = med["nodecap max-pods"], med["empty static binary"], med["awk eni-max-pods.txt"]
print(f"ratio: nodecap max-pods / empty static binary = {ours / limit:.2f} (target <= 2)")
print(f"ratio: nodecap max-pods / awk = {ours / peer:.2f} (target < 1)")
print(f"target: {'met' if ours <= 2 * limit and ours < peer else 'NOT met'}")
PY
