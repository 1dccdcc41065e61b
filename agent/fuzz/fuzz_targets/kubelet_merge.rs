//! `init`'s `kubelet-config` backend: nodecap's settings merged into a foreign JSON file.
//! Never a panic; a merged document carries nodecap's maxPods and encodes again.
#![no_main]
// A fuzz target reports a finding by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use libfuzzer_sys::fuzz_target;
use nodecap::core::instance::{Source, lookup_embedded};
use nodecap::core::sizing::{SizingOptions, size};
use nodecap::kubelet::backend::merge_kubelet_config;
use nodecap::kubelet::settings::KubeletSettings;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let facts = lookup_embedded("m5.large").expect("m5.large is in the table");
    let sizing = size(facts, Source::Embedded, &SizingOptions::default());
    let settings = KubeletSettings::from_sizing(&sizing);
    if let Ok(merged) = merge_kubelet_config(text, &settings) {
        assert_eq!(merged["maxPods"], 29);
        let encoded = nodecap::kubelet::render::to_json("KubeletConfiguration", &merged)
            .expect("a merged document encodes");
        assert!(!encoded.trim().is_empty());
    }
});
