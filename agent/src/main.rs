//! The `nodecap` binary: parse arguments, run the command, print, exit with a documented code
//! (see `nodecap --help`). Nothing else happens here.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use nodecap::cli::{Cli, Command, ConfigCommand};
use nodecap::commands::{self, exit};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // --help and --version are not errors; every usage error is EX_USAGE (64), not
            // clap's 2, which nodecap keeps for "unknown instance type".
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(exit::USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match &cli.command {
        Command::Plan(args) => commands::plan(args),
        Command::MaxPods(args) => commands::max_pods(args),
        Command::InstanceTypes(args) => commands::instance_types(args),
        Command::Init(args) => commands::init(args),
        Command::Run(args) => commands::run(args),
        Command::Check(args) => match commands::check(args) {
            Ok((report, drift)) => {
                let _ = std::io::stdout().lock().write_all(report.as_bytes());
                return ExitCode::from(if drift { exit::DRIFT } else { 0 });
            }
            Err(e) => Err(e),
        },
        Command::Config(ConfigCommand::Defaults) => Ok(commands::config_defaults()),
    };
    match result {
        Ok(text) => match std::io::stdout().lock().write_all(text.as_bytes()) {
            Ok(()) => ExitCode::SUCCESS,
            // A closed pipe (`nodecap instance-types | head`) is not worth a message.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(_) => ExitCode::from(exit::SOFTWARE),
        },
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "nodecap: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
