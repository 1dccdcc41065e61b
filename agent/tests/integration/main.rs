//! nodecap's end-to-end tests, one binary: the `nodecap` binary as a user runs it, against
//! real components (a test IMDS and ipamd, Prometheus, the AWS API emulator, systemd, the
//! packaging tools). Tests that need root, an installed tool or the emulator are `#[ignore]`d;
//! `tests/run.sh` provides them and runs everything with `--include-ignored`.
//!
//! Goldens live under `agent/tests/golden/`; `UPDATE_EXPECT=1 cargo test` rewrites them (and
//! the README's generated blocks).

// Test code reports a failure by panicking (unwrap, expect, panic) and may print what it
// measured: one allowance for every module of this binary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

#[path = "../common/mod.rs"]
mod common;

mod architecture;
mod cli;
mod cloudwatch;
mod cni;
mod collect;
mod daemon;
mod density;
mod ec2_emulator;
mod ena;
mod hostile;
mod hostile_ec2;
mod imds;
mod init;
mod packaging;
mod readme;
mod subnets;
mod systemd;
