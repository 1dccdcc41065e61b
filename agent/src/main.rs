//! The `nodecap` binary: parse arguments, run the command, print, exit with a documented code
//! (see `nodecap --help`). Nothing else happens here.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use nodecap::cli::{Cli, Command, ConfigCommand};
use nodecap::commands::{self, density, node, plan, subnets};
use nodecap::error::Chain;
use nodecap::exit::Exit;

/// The static builds' allocator: a start-up arena (`nodecap::alloc`: a one-shot command
/// never sets up mimalloc), then mimalloc. musl's own allocator returns memory to the kernel
/// eagerly, so even a `max-pods` run made ~60 mmap/munmap calls and the daemon paid a system
/// call on many allocations; mimalloc keeps freed memory in per-thread pages (README, "Static
/// binaries" and "Start-up", for the measurements). glibc builds keep glibc's allocator.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: nodecap::alloc::StartupArena<mimalloc::MiMalloc> =
    nodecap::alloc::StartupArena::new(mimalloc::MiMalloc);

/// The long-running commands allocate from mimalloc alone from here on (it reuses freed
/// memory; the arena does not).
fn close_startup_arena() {
    #[cfg(target_env = "musl")]
    ALLOCATOR.close();
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // --help and --version are not errors; every usage error is EX_USAGE (64), not
            // clap's 2, which nodecap keeps for "unknown instance type".
            let _ = err.print();
            return if err.use_stderr() {
                Exit::Usage
            } else {
                Exit::Success
            }
            .into();
        }
    };
    let result = match &cli.command {
        Command::Plan(args) => plan::plan(args),
        Command::MaxPods(args) => plan::max_pods(args),
        Command::InstanceTypes(args) => plan::instance_types(args),
        Command::Density(args) => density::density(args),
        Command::Init(args) => node::init(args),
        Command::Run(args) => {
            close_startup_arena();
            node::run(args)
        }
        Command::Check(args) => node::check(args),
        Command::Subnets(args) => {
            close_startup_arena();
            subnets::subnets(args)
        }
        Command::Config(ConfigCommand::Defaults) => Ok(commands::config_defaults().into()),
    };
    match result {
        Ok(output) => {
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(output.stdout.as_bytes())
                .and_then(|()| stdout.flush())
            {
                Ok(()) => output.exit.into(),
                // A closed pipe (`nodecap instance-types | head`) is not worth a message.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => output.exit.into(),
                Err(e) => {
                    let _ = writeln!(
                        std::io::stderr(),
                        "nodecap: standard output: cannot write: {e}"
                    );
                    Exit::CantCreate.into()
                }
            }
        }
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "nodecap: {}", Chain(&err));
            err.exit().into()
        }
    }
}
