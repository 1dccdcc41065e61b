#!/usr/bin/env bash
# The cost of `nodecap density --pricing-api` for a region's worth of prices: every type in
# the table (~1,400) as on-demand Linux products with their terms, 100 a page (15 pages),
# served by the test Price List API (`testkit pricing`), through the real SDK.
#
#   nodecap: the process's wall time (hyperfine, 10 runs) and peak RSS (GNU time), pages
#   followed, prices read, rows sized and printed as CSV.
#   Peer, when the AWS CLI is on PATH: `aws pricing get-products` with the same filters, what
#   a script pulls prices with today (it pages the same answers and prints them; no sizing).
#
# Run: agent/benches/pricing-api.sh [BINARY]   (default: the host's release build)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
command -v hyperfine >/dev/null || apt-get install -y -qq --no-install-recommends hyperfine >/dev/null
[[ -x /usr/bin/time ]] || apt-get install -y -qq --no-install-recommends time >/dev/null
cargo build --quiet --release --locked -p nodecap --bin nodecap -p nodecap-testkit --bin testkit
nodecap=${1:-$root/target/release/nodecap}
testkit=$root/target/release/testkit
work=$(mktemp -d)
pid=
cleanup() { [[ -n "$pid" ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"$nodecap" instance-types | awk 'NR > 1 { print $1 }' >"$work/types"
"$testkit" pricing --types-file "$work/types" >"$work/url" &
pid=$!
for _ in $(seq 1 100); do [[ -s "$work/url" ]] && break; sleep 0.1; done
endpoint=$(head -1 "$work/url")
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_EC2_METADATA_DISABLED=true
export AWS_ENDPOINT_URL_PRICING=$endpoint

ours=("$nodecap" density --pricing-api --region us-east-1 -o csv)
priced=$("${ours[@]}" | awk -F, 'NR > 1 && $10 != ""' | wc -l)
/usr/bin/time -f '%M' -o "$work/rss" "${ours[@]}" >/dev/null
echo "types served: $(wc -l <"$work/types"), priced by nodecap: $priced, peak RSS $(cat "$work/rss") KiB"

commands=(--command-name "nodecap density --pricing-api" "${ours[*]}")
if command -v aws >/dev/null; then
  filters="Type=TERM_MATCH,Field=regionCode,Value=us-east-1 Type=TERM_MATCH,Field=operatingSystem,Value=Linux"
  filters+=" Type=TERM_MATCH,Field=tenancy,Value=Shared Type=TERM_MATCH,Field=preInstalledSw,Value=NA"
  filters+=" Type=TERM_MATCH,Field=capacitystatus,Value=Used"
  peer="aws pricing get-products --endpoint-url $endpoint --region us-east-1 --service-code AmazonEC2 --format-version aws_v1 --page-size 100 --filters $filters"
  commands+=(--command-name "aws pricing get-products" "$peer")
fi
hyperfine --style basic -N --warmup 1 --runs 10 --export-json "$work/runs.json" "${commands[@]}" >/dev/null

python3 - "$work/runs.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
ours = results[0]["median"]
print(f"{'command':<32} {'median ms':>10} {'max ms':>8} {'vs nodecap':>11}")
for r in results:
    print(f"{r['command']:<32} {r['median'] * 1000:>10.1f} {r['max'] * 1000:>8.1f} {r['median'] / ours:>10.2f}x")
PY
