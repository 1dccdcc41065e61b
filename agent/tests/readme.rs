//! The README shows real output: its `nodecap --help` block and its `plan` example must be what
//! the binary prints, so the docs cannot drift from the code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn block(readme: &str, name: &str) -> String {
    let begin = format!("<!-- {name}:begin -->\n```text\n");
    let end = format!("```\n<!-- {name}:end -->");
    let start = readme.find(&begin).expect("begin marker") + begin.len();
    let stop = readme[start..].find(&end).expect("end marker") + start;
    readme[start..stop].to_owned()
}

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_nodecap"))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn readme_output_blocks_match_the_binary() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    assert_eq!(
        block(&readme, "help"),
        run(&["--help"]),
        "README help block is stale"
    );
    assert_eq!(
        block(&readme, "plan"),
        run(&["plan", "--instance-type", "m5.large"]),
        "README plan example is stale"
    );
}
