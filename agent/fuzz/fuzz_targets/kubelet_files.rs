//! The kubelet's files as the daemon reads them: a KubeletConfiguration (JSON or YAML), a
//! nodeadm NodeConfig, an environment file with `KUBELET_EXTRA_ARGS`, and a memory quantity.
//! The first byte picks the reader. Never a panic; an error is one short line.
#![no_main]
// A fuzz target reports a finding by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use libfuzzer_sys::fuzz_target;
use nodecap::error::Chain;
use nodecap::kubelet::files::{
    parse_env_file, parse_kubelet_config, parse_nodeconfig, parse_quantity,
};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let error = match which % 4 {
        0 => parse_kubelet_config(text).err(),
        1 => parse_nodeconfig(text).err(),
        2 => parse_env_file(text).err(),
        _ => {
            if let Err(e) = parse_quantity(text) {
                assert!(e.to_string().len() <= 1024);
            }
            None
        }
    };
    if let Some(e) = error {
        assert!(Chain(&e).to_string().len() <= 1024);
    }
});
