//! Tests that load the whole machine, each alone: cargo runs test binaries one after another,
//! and the tests of this one take turns ([`alone`]), so nothing else competes with them for
//! the CPU or the loopback's ports.
//!
//! - [`fleet`]: 200 `nodecap run` processes publishing to CloudWatch in the AWS API emulator.
//! - [`flood`]: 2,500 clients flooding one daemon's endpoint with connections.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr
)]

#[path = "../common/mod.rs"]
mod common;

mod fleet;
mod flood;

/// Held for a test's whole run: the tests of this binary run one at a time.
fn alone() -> std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
