//! nodecap's configuration file and its durations: never a panic; an error is one short
//! line naming what is wrong.
#![no_main]
// A fuzz target reports a finding by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use libfuzzer_sys::fuzz_target;
use nodecap::config::{parse_duration, parse_layer, resolve};
use nodecap::error::Chain;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_duration(text);
    let resolved = parse_layer(text, std::path::Path::new("/etc/nodecap/config.toml"))
        .and_then(|layer| resolve(vec![("config file", layer)]));
    if let Err(e) = resolved {
        assert!(Chain(&e).to_string().len() <= 1024, "{}", Chain(&e));
    }
});
