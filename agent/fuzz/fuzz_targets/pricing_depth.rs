//! The Price List answer's depth counter, against serde_json's own reader: fed in any chunks,
//! it finds the nesting serde_json finds in any valid JSON text, and refuses a text past the
//! bound (32, `pricing.rs`) at the chunk that passes it, before the SDK's recursive reader
//! would see it.
#![no_main]
// A fuzz target reports a finding by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use libfuzzer_sys::fuzz_target;
use nodecap::aws::json_depth::{Depth, JsonBound};

const MAX: u32 = 32;
const BOUND: JsonBound = JsonBound {
    max_depth: MAX,
    max_strings: u32::MAX,
};

/// Levels of arrays and objects in a parsed value.
fn levels(value: &serde_json::Value) -> u32 {
    match value {
        serde_json::Value::Array(items) => 1 + items.iter().map(levels).max().unwrap_or(0),
        serde_json::Value::Object(map) => 1 + map.values().map(levels).max().unwrap_or(0),
        _ => 0,
    }
}

fuzz_target!(|data: &[u8]| {
    // The first byte chooses where the text is cut into two chunks.
    let Some((&cut, text)) = data.split_first() else {
        return;
    };
    let cut = usize::from(cut).min(text.len());
    let mut whole = Depth::default();
    let at_once = whole.feed(text, BOUND);
    let mut chunked = Depth::default();
    let in_chunks = chunked
        .feed(&text[..cut], BOUND)
        .and_then(|()| chunked.feed(&text[cut..], BOUND));
    assert_eq!(
        at_once.is_ok(),
        in_chunks.is_ok(),
        "the cut changed the verdict"
    );
    // serde_json refuses more than 128 levels itself; within that, the two agree.
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(text) {
        let deep = levels(&value);
        assert_eq!(at_once.is_ok(), deep <= MAX, "{deep} levels");
        if at_once.is_ok() {
            assert_eq!(whole.deepest(), deep);
        }
    }
});
