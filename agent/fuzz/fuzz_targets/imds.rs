//! What IMDS answers: the identity document, and the newline-separated listings (MACs,
//! addresses). Never a panic; an accepted identity names a valid instance type; an error is
//! one short line.
#![no_main]
// A fuzz target reports a finding by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use libfuzzer_sys::fuzz_target;
use nodecap::aws::imds::{is_mac, parse_identity, parse_list};
use nodecap::core::names::is_instance_type;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_identity(text) {
        Ok(identity) => assert!(is_instance_type(&identity.instance_type)),
        Err(e) => assert!(e.to_string().len() <= 1024),
    }
    for line in parse_list(text) {
        assert!(!line.is_empty() && line.trim() == line);
        let _ = is_mac(line.trim_end_matches('/'));
    }
});
