//! `testkit`: run nodecap's test servers as processes, for shell-driven tests.
//!
//! ```text
//! testkit imds --instance-type m5.large --enis 3 --ips-per-eni 10 [--listen 127.0.0.1:0]
//! ```
//! Prints the server's URL on the first line of stdout, then serves until SIGTERM or SIGINT.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use nodecap_testkit::imds::{ImdsServer, Instance};

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A test IMDS (IMDSv2 tokens, the meta-data tree, the identity document).
    Imds {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        #[arg(long)]
        instance_type: String,
        #[arg(long, default_value_t = 1)]
        enis: u32,
        #[arg(long, default_value_t = 2)]
        ips_per_eni: u32,
    },
}

fn main() -> ExitCode {
    let Command::Imds {
        listen,
        instance_type,
        enis,
        ips_per_eni,
    } = Args::parse().command;
    let instance = Instance::example(&instance_type, enis, ips_per_eni);
    let server = match ImdsServer::start_on(listen, &instance) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("testkit imds: {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", server.url());
    let _ = std::io::stdout().flush();
    wait_for_signal();
    ExitCode::SUCCESS
}

fn wait_for_signal() {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    runtime.block_on(async {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    });
}
