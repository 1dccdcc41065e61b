#!/usr/bin/env bash
# Refreshes nodecap's instance data and regenerates the embedded table (agent/data/README.md).
#
#   agent/data/refresh.sh moto [VERSION]   moto's copy of DescribeInstanceTypes, from PyPI
#   agent/data/refresh.sh aws              your AWS account: every region, every page
#
# Both end in the same two generator steps: merge the inputs into agent/data/instance-types.json
# (regions that disagree about a type stop the run) and render agent/core/src/instance/table.rs.
# Nothing is written unless every input parses and agrees.
set -euo pipefail

MOTO_VERSION_DEFAULT=5.2.5

usage() {
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 64
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

case "${1:-}" in
  moto)
    version=${2:-$MOTO_VERSION_DEFAULT}
    python3 -m pip download --quiet --no-deps --dest "$work" "moto==$version"
    python3 - "$work/moto-$version-py3-none-any.whl" "$work/moto-$version.json" <<'PY'
import gzip, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    data = gzip.decompress(wheel.read("moto/ec2/resources/instance_types.json.gz"))
with open(sys.argv[2], "wb") as out:
    out.write(data)
PY
    inputs=("$work/moto-$version.json")
    ;;
  aws)
    command -v aws >/dev/null || { echo "refresh.sh aws: needs the AWS CLI (aws) and ec2:DescribeRegions, ec2:DescribeInstanceTypes" >&2; exit 69; }
    mapfile -t regions < <(aws ec2 describe-regions --all-regions --filters Name=opt-in-status,Values=opt-in-not-required,opted-in \
      --query 'Regions[].RegionName' --output text | tr '\t' '\n' | sort)
    inputs=()
    for region in "${regions[@]}"; do
      echo "describe-instance-types $region" >&2
      # The CLI follows NextToken itself, so each file holds every page of its region.
      aws ec2 describe-instance-types --region "$region" --output json >"$work/$region.json"
      inputs+=("$work/$region.json")
    done
    ;;
  *) usage ;;
esac

cd "$root"
cargo xtask instance-table merge "${inputs[@]}"
cargo xtask instance-table render
git --no-pager diff --stat -- agent/data agent/core/src/instance/table.rs 2>/dev/null || true
