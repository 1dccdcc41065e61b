//! `cargo xtask`: nodecap's build-time tasks, kept out of the shipped binary (and its
//! dependencies, such as `clap_mangen` and `clap_complete`).
//!
//! ```text
//! cargo xtask instance-table merge INPUT.json...   # DescribeInstanceTypes → agent/data/
//! cargo xtask instance-table render                # agent/data/ → the embedded table
//! cargo xtask docs DIR                             # config.toml, man pages, completions
//! ```
#![allow(clippy::print_stderr)]

mod docs;
mod instance_table;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "nodecap's build-time tasks")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Regenerate the embedded instance table (agent/data/README.md).
    #[command(subcommand)]
    InstanceTable(TableCommand),
    /// Write what the packages ship beside the binary into DIR: the default configuration,
    /// man pages and shell completions.
    Docs { dir: PathBuf },
}

#[derive(Subcommand)]
enum TableCommand {
    /// Merge DescribeInstanceTypes documents (one per region) into the committed data file.
    /// Each input's file name (without .json) is recorded as its source. Regions that
    /// disagree about a type are an error.
    Merge {
        #[arg(long, default_value = instance_table::DATA)]
        out: PathBuf,
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
    },
    /// Render the embedded table from the data file and the supplement.
    Render {
        #[arg(long, default_value = instance_table::DATA)]
        data: PathBuf,
        #[arg(long, default_value = instance_table::SUPPLEMENT)]
        supplement: PathBuf,
        #[arg(long, default_value = instance_table::TABLE)]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let result = match Args::parse().command {
        Command::InstanceTable(TableCommand::Merge { out, inputs }) => {
            instance_table::merge_files(&inputs, &out).map(|note| vec![note])
        }
        Command::InstanceTable(TableCommand::Render {
            data,
            supplement,
            out,
        }) => instance_table::render_files(&data, &supplement, &out),
        Command::Docs { dir } => docs::write(&dir)
            .map(|()| {
                vec![format!(
                    "{}: config.toml, man/, completions/",
                    dir.display()
                )]
            })
            .map_err(|source| instance_table::Error::Io { path: dir, source }),
    };
    match result {
        Ok(notes) => {
            for note in notes {
                eprintln!("{note}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xtask: {}", nodecap::error::Chain(&e));
            ExitCode::FAILURE
        }
    }
}
