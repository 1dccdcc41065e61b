//! ipamd's Prometheus text (`/metrics`): never a panic; an error is one short line; a
//! version label within its bound.
#![no_main]
// A fuzz target reports a finding by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use libfuzzer_sys::fuzz_target;
use nodecap::daemon::collect::ipamd_metrics::{MAX_VERSION, parse};
use nodecap::error::Chain;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse(text) {
        Ok(metrics) => {
            if let Some(version) = &metrics.version {
                assert!(version.chars().count() <= MAX_VERSION);
            }
        }
        Err(e) => assert!(Chain(&e).to_string().len() <= 1024),
    }
});
