#!/usr/bin/env bash
# nodecap's whole test suite, exactly as CI runs it (.ci/run calls this script).
#
#   tests/run.sh
#
# Installs what the tests need when it is missing (idempotent), then runs, in order:
# formatting, clippy with warnings as errors, and every unit, golden, CLI and regeneration test.
# One target directory (target/) is reused by every step, so nothing is compiled twice.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

step() { printf '\n== %s\n' "$*"; }
need() {
  command -v "$1" >/dev/null 2>&1 || {
    echo "tests/run.sh: $1 is required ($2)" >&2
    exit 69
  }
}

need cargo "a Rust toolchain: https://rustup.rs"
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy

export CARGO_TERM_COLOR=never
# Tests must never reach a real instance metadata service.
export AWS_EC2_METADATA_DISABLED=true

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -D warnings"
cargo clippy --locked --all-targets -- -D warnings

step "cargo test"
cargo test --locked --no-fail-fast
