#!/usr/bin/env bash
# Builds nodecap's release binary and both packages into target/packages/:
#   nodecap_<version>-1_<arch>.deb   (cargo-deb)
#   nodecap-<version>-1.<arch>.rpm   (cargo-generate-rpm, gzip payload: readable by rpm 4.11+)
#
#   packaging/build.sh                                    # x86_64 (the host)
#   packaging/build.sh --target aarch64-unknown-linux-gnu # Graviton: needs the Rust target
#                                                         # and an aarch64 linker (see below)
#
# Before packaging, `cargo xtask docs` writes from the binary's own definitions the default
# configuration (`nodecap config defaults`, installed as /etc/nodecap/config.toml and kept
# across upgrades), the man pages and the shell completions under target/package-assets/.
# Needs cargo-deb and cargo-generate-rpm (cargo install --locked cargo-deb cargo-generate-rpm).
#
# aarch64: `rustup target add aarch64-unknown-linux-gnu`, `apt-get install
# gcc-aarch64-linux-gnu`, and CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

target=()
case "${1:-}" in
  "") ;;
  --target) [[ -n "${2:-}" ]] || { echo "packaging/build.sh: --target needs a triple" >&2; exit 64; }
            target=(--target "$2") ;;
  *) echo "packaging/build.sh: unknown argument ${1}; usage: packaging/build.sh [--target TRIPLE]" >&2; exit 64 ;;
esac
for tool in cargo-deb cargo-generate-rpm; do
  command -v "$tool" >/dev/null || { echo "packaging/build.sh: $tool is required (cargo install --locked $tool)" >&2; exit 69; }
done

cargo build --release --locked -p nodecap --bin nodecap "${target[@]}"

# The generator runs on the build host, in the same profile (the library is built once).
assets=target/package-assets
rm -rf "$assets"
mkdir -p "$assets"
cargo run --quiet --release --locked -p nodecap-xtask -- docs "$assets"
gzip -9n "$assets"/man/*.1

out=target/packages
mkdir -p "$out"
rm -f "$out"/*.deb "$out"/*.rpm
# cargo-deb warns about every asset path with "target/" in it that is not its own output.
cargo deb -p nodecap --no-build --no-strip "${target[@]}" --output "$out/" \
  2> >(grep -v "are detected as Cargo target dir" >&2)
cargo generate-rpm -p agent --payload-compress gzip "${target[@]}" --output "$out/"
ls -l "$out"
