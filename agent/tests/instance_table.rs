//! The embedded table is generated, never hand-edited: regenerating it from the committed data
//! must reproduce `src/instance/table.rs` byte for byte, and the data file must already be in
//! the generator's canonical form.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test helpers report failures by panicking

use std::path::PathBuf;

use nodecap::instance::describe;

fn read(relative: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn table_regenerates_identically() {
    let data_text = read("data/instance-types.json");
    let data = describe::parse_document("instance-types.json", &data_text).unwrap();
    let merged = describe::merge(vec![("instance-types.json".into(), data)]).unwrap();
    let supplement = describe::parse_document(
        "instance-types-supplement.json",
        &read("data/instance-types-supplement.json"),
    )
    .unwrap();
    let (table, report) = describe::render_table(
        &describe::document_sources(&data_text),
        &merged.types,
        &supplement,
    )
    .unwrap();
    assert!(report.types >= 1410, "{} types", report.types);
    assert_eq!(report.from_supplement.len(), 19);
    assert!(
        report.shadowed.is_empty(),
        "stale supplement entries: {:?}",
        report.shadowed
    );
    assert!(
        table == read("src/instance/table.rs"),
        "src/instance/table.rs differs from what the data generates: run \
         `cargo run -p nodecap --bin gen-instance-table -- render` (agent/data/README.md)"
    );

    // The data file is the generator's own output: merging it again changes nothing.
    let canonical =
        describe::render_document(&describe::document_sources(&data_text), &merged.types);
    assert!(
        canonical == data_text,
        "data/instance-types.json is not in canonical form"
    );
}
