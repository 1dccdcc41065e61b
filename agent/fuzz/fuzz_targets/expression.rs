//! CEL sizing expressions: parsing and evaluating any text never panics (nor overflows the
//! stack); an error is one short line.
#![no_main]
// A fuzz target reports a finding by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use libfuzzer_sys::fuzz_target;
use nodecap::core::expression::{Expression, Variables};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Expression::parse(text) {
        Ok(expression) => {
            let vars = Variables {
                default_enis: 15,
                ips_per_eni: 50,
                max_pods: 737,
                vcpus: 96,
                memory_mib: 393_216,
                instance_type: "m5.24xlarge",
            };
            if let Err(e) = expression.pods(&vars) {
                assert!(e.to_string().len() <= 1024);
            }
            if let Err(e) = expression.reservation(&vars) {
                assert!(e.to_string().len() <= 1024);
            }
        }
        Err(e) => assert!(e.to_string().len() <= 1024),
    }
});
