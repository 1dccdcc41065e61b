//! ipamd's `/v1/enis`, both shapes: never a panic; within its bounds; every ENI's pool adds
//! up (total = assigned + cooling down + free); an error is one short line.
#![no_main]
// A fuzz target reports a finding by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use libfuzzer_sys::fuzz_target;
use nodecap::daemon::collect::ipamd_enis::{MAX_ENIS, MAX_ID, parse};
use nodecap::error::Chain;

/// 2026-08-20T10:05:10Z: a fixed clock, so a run repeats.
const NOW: f64 = 1_787_220_310.0;

fuzz_target!(|data: &[u8]| {
    match parse(data, NOW) {
        Ok(pools) => {
            assert!(pools.enis.len() <= MAX_ENIS);
            for eni in &pools.enis {
                assert!(eni.id.len() <= MAX_ID);
                assert_eq!(eni.total, eni.assigned + eni.cooldown + eni.free);
            }
        }
        Err(e) => assert!(Chain(&e).to_string().len() <= 1024),
    }
});
