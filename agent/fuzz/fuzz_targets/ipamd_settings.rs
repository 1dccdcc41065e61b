//! ipamd's `/v1/ipamd-env-settings` and `/v1/eni-configs`: never a panic; an ENIConfig name
//! within its bound (it becomes a label value); an error is one short line.
#![no_main]
// A fuzz target reports a finding by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use libfuzzer_sys::fuzz_target;
use nodecap::daemon::collect::ipamd_settings::{
    EniConfig, MAX_NAME, parse_eni_config, parse_settings,
};
use nodecap::error::Chain;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = parse_settings(data) {
        assert!(Chain(&e).to_string().len() <= 1024);
    }
    match parse_eni_config(data) {
        Ok(EniConfig::Named(name)) => assert!(!name.is_empty() && name.len() <= MAX_NAME),
        Ok(_) => {}
        Err(e) => assert!(Chain(&e).to_string().len() <= 1024),
    }
});
