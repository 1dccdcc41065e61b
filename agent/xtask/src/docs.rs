//! `cargo xtask docs DIR`: writes what the packages ship beside the binary, from the same
//! definitions the binary uses, so they cannot drift from it:
//!
//! - `DIR/config.toml`: `nodecap config defaults` (every key, commented, with its default);
//! - `DIR/man/nodecap.1` and one page per command (`nodecap-init.1`, …), by `clap_mangen`;
//! - `DIR/completions/nodecap.bash`, `_nodecap` (zsh) and `nodecap.fish`, by `clap_complete`.

use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

pub fn write(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("config.toml"), nodecap::config::DEFAULTS)?;
    let mut command = nodecap::cli::Cli::command();
    command.build();
    let man = dir.join("man");
    std::fs::create_dir_all(&man)?;
    page(&man, "nodecap", &command)?;
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        page(&man, &format!("nodecap-{}", sub.get_name()), sub)?;
    }
    let completions = dir.join("completions");
    std::fs::create_dir_all(&completions)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut command.clone(), "nodecap", &completions)?;
    }
    Ok(())
}

/// `name.1` for `command` (a built subcommand's display name is `nodecap-init`, …).
fn page(dir: &Path, name: &str, command: &clap::Command) -> std::io::Result<()> {
    let mut out = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut out)?;
    std::fs::write(dir.join(format!("{name}.1")), out)
}
