//! `nodecap density`'s price sources: the CSV, AWS's offer file (streamed) and one Price List
//! API `GetProducts` entry. Never a panic; every price kept is a finite, non-negative number
//! for a name shaped like an instance type; an error is one short line.
#![no_main]
// A fuzz target reports a finding by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use libfuzzer_sys::fuzz_target;
use nodecap::core::density::Prices;
use nodecap::core::names::is_instance_type;
use nodecap::core::{offer, prices};
use nodecap::error::Chain;

fn check(found: &Prices) {
    for (name, usd) in found {
        assert!(is_instance_type(name), "{name:?}");
        assert!(usd.is_finite() && *usd >= 0.0, "{name}: {usd}");
    }
}

fuzz_target!(|data: &[u8]| {
    match offer::parse_offer(data) {
        Ok(found) => check(&found),
        Err(e) => assert!(Chain(&e).to_string().len() <= 1024, "{}", Chain(&e)),
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match prices::parse_csv(text) {
        Ok(found) => check(&found),
        Err(e) => assert!(Chain(&e).to_string().len() <= 1024, "{}", Chain(&e)),
    }
    match offer::price_list_entry(text) {
        Ok(Some((name, usd))) => check(&Prices::from([(name, usd)])),
        Ok(None) => {}
        Err(e) => assert!(Chain(&e).to_string().len() <= 1024, "{}", Chain(&e)),
    }
});
