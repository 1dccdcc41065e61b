#!/usr/bin/env bash
# Fuzzes every parser of foreign input (agent/fuzz/fuzz_targets/) with cargo-fuzz (libFuzzer,
# coverage-guided) for a bounded time each, seeded from the fixtures and agent/fuzz/seeds/, and
# prints each target's executions and rate. A crash fails the run and leaves its input under
# agent/fuzz/artifacts/<target>/ (replay: cargo fuzz run --fuzz-dir agent/fuzz TARGET FILE).
#
#   tests/fuzz.sh                  every target, NODECAP_FUZZ_SECONDS each (default 10)
#   NODECAP_FUZZ_RELEASE=1 tests/fuzz.sh ipamd_enis 3600   one target, optimised, for an hour
#
# The instrumented build needs a nightly compiler (installed toolchains are used as they
# are; with none, the stable one runs with RUSTC_BOOTSTRAP=1). It builds nodecap without its
# `aws` feature, so none of the AWS crates is compiled for it.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

seconds=${2:-${NODECAP_FUZZ_SECONDS:-10}}
if [[ $# -ge 1 ]]; then
  targets=("$1")
else
  mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' agent/fuzz/Cargo.toml | grep -v '^nodecap-fuzz$')
fi

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  fuzz=(cargo +nightly fuzz)
else
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo fuzz)
fi

# Safe Rust parsers: libFuzzer's coverage and the panics it provokes are the finding, so no
# AddressSanitizer (-s none: a quicker build, twice the executions). The bounded run in the
# suite builds unoptimised (2 minutes cold instead of 10, a fifth of the executions);
# NODECAP_FUZZ_RELEASE=1 builds optimised (without LTO, which would link every target for
# minutes) for long runs.
if [[ -n "${NODECAP_FUZZ_RELEASE:-}" ]]; then
  export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
  fuzz_flags=(--fuzz-dir agent/fuzz -O --debug-assertions -s none)
else
  fuzz_flags=(--fuzz-dir agent/fuzz --dev -s none)
fi

printf '\n== fuzzing: %s, %ss each (cargo-fuzz, libFuzzer)\n' "${targets[*]}" "$seconds"
"${fuzz[@]}" build "${fuzz_flags[@]}"

seeds_of() {
  case "$1" in
    ipamd_metrics|ipamd_enis|ipamd_settings) echo tests/fixtures/ipamd ;;
    *) echo "agent/fuzz/seeds/$1" ;;
  esac
}

for target in "${targets[@]}"; do
  corpus=target/fuzz-corpus/$target
  mkdir -p "$corpus"
  log=target/fuzz-corpus/$target.log
  if ! "${fuzz[@]}" run "${fuzz_flags[@]}" "$target" "$corpus" "$(seeds_of "$target")" -- \
      -max_total_time="$seconds" -rss_limit_mb=512 -max_len=65536 -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "tests/fuzz.sh: $target found a crash; its input is under agent/fuzz/artifacts/$target/" >&2
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  printf '  %-14s %10s runs  %7s/s  %s  corpus %s\n' "$target" "$runs" "$rate" "$cov" "$(find "$corpus" -type f | wc -l)"
done
