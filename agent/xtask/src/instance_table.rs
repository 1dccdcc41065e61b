//! Regenerates nodecap's embedded instance table from `DescribeInstanceTypes` output.
//!
//! ```text
//! gen-instance-table merge INPUT.json...   # regions → agent/data/instance-types.json
//! gen-instance-table render                # data + supplement → agent/src/instance/table.rs
//! ```
//!
//! `agent/data/refresh.sh` runs both, from moto's copy of the data or from a real AWS account.
//! Everything is validated before anything is written; a failure leaves the files as they were.
#![allow(clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use nodecap::instance::describe;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/instance-types.json");
const SUPPLEMENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/instance-types-supplement.json"
);
const TABLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/instance/table.rs");

#[derive(Parser)]
#[command(about = "Regenerate nodecap's embedded instance table")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Merge DescribeInstanceTypes documents (one per region) into the committed data file.
    /// Each input's file name (without .json) is recorded as its source. Regions that
    /// disagree about a type are an error.
    Merge {
        #[arg(long, default_value = DATA)]
        out: PathBuf,
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
    },
    /// Render the embedded table from the data file and the supplement.
    Render {
        #[arg(long, default_value = DATA)]
        data: PathBuf,
        #[arg(long, default_value = SUPPLEMENT)]
        supplement: PathBuf,
        #[arg(long, default_value = TABLE)]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("gen-instance-table: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    match args.command {
        Command::Merge { out, inputs } => {
            let mut sources = Vec::new();
            for path in &inputs {
                let name = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| path.display().to_string());
                let records =
                    describe::parse_document(&name, &read(path)?).map_err(|e| e.to_string())?;
                sources.push((name, records));
            }
            let merged = describe::merge(sources).map_err(|e| e.to_string())?;
            let text = describe::render_document(&merged.sources, &merged.types);
            write(&out, &text)?;
            eprintln!("{}: {} types", out.display(), merged.types.len());
        }
        Command::Render {
            data,
            supplement,
            out,
        } => {
            let data_text = read(&data)?;
            let records =
                describe::parse_document(&display(&data), &data_text).map_err(|e| e.to_string())?;
            let merged =
                describe::merge(vec![(display(&data), records)]).map_err(|e| e.to_string())?;
            let supplement_records =
                describe::parse_document(&display(&supplement), &read(&supplement)?)
                    .map_err(|e| e.to_string())?;
            let (table, report) = describe::render_table(
                &describe::document_sources(&data_text),
                &merged.types,
                &supplement_records,
            )
            .map_err(|e| e.to_string())?;
            write(&out, &table)?;
            eprintln!(
                "{}: {} types, {} from the supplement",
                out.display(),
                report.types,
                report.from_supplement.len()
            );
            for name in &report.shadowed {
                eprintln!("note: supplement entry {name} is now in the API data; remove it");
            }
            for name in &report.skipped {
                eprintln!("note: {name} skipped: no ENIs or no IPv4 addresses");
            }
        }
    }
    Ok(())
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes next to the target and renames, so an interrupted run never leaves half a table.
fn write(path: &Path, text: &str) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("{}: {e}", path.display()))
}
