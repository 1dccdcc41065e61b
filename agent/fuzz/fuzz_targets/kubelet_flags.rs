//! The `flags` backend's environment file: never a panic, and whatever nodecap writes reads
//! back to the user's flags followed by its own (the merge loses nothing and writes nothing
//! it cannot read again).
#![no_main]
// A fuzz target reports a finding by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use libfuzzer_sys::fuzz_target;
use nodecap::kubelet::flags::{extra_args, merge};

const OURS: [&str; 2] = ["--max-pods=29", "--kube-reserved=cpu=70m,memory=574Mi"];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let read = extra_args(text);
    let ours: Vec<String> = OURS.iter().map(|s| (*s).to_owned()).collect();
    match merge(text, &ours) {
        Ok(merged) => {
            let user = read.expect("a file merge accepts, extra_args reads");
            let again = extra_args(&merged).expect("nodecap reads what it wrote");
            assert!(again.ends_with(&ours), "{again:?}");
            let kept = &again[..again.len() - ours.len()];
            // The user's flags, in order, less the ones nodecap sets.
            let mut rest = user.iter();
            for flag in kept {
                assert!(
                    rest.any(|u| u == flag),
                    "{flag} was not the user's: {user:?}"
                );
            }
            assert_eq!(
                merge(&merged, &ours).as_deref(),
                Ok(merged.as_str()),
                "idempotent"
            );
        }
        Err(e) => {
            assert!(read.is_err() || e.to_string().len() <= 1024);
        }
    }
});
