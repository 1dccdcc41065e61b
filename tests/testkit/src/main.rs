//! `testkit`: run nodecap's test servers as processes, for shell-driven tests.
//!
//! ```text
//! testkit imds --instance-type m5.large --enis 3 --ips-per-eni 10 [--listen 127.0.0.1:0]
//! testkit ipamd --metrics FILE --enis FILE [--settings FILE|none] [--eni-config FILE]
//!               [--listen 127.0.0.1:0]
//! testkit ec2 --cluster NAME --subnets 6 --interfaces 5000 [--addresses 10] [--prefixes 0]
//!             [--listen 127.0.0.1:0]
//! testkit pricing --types-file FILE [--per-page 100] [--listen 127.0.0.1:0]
//! ```
//! Prints the server's URL on the first line of stdout (for ipamd, `http://ADDR`: the paths
//! are `/metrics`, `/v1/enis`, `/v1/ipamd-env-settings` and `/v1/eni-configs`; for ec2 and
//! pricing the endpoint, for `AWS_ENDPOINT_URL`), then serves
//! until SIGTERM or SIGINT.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use nodecap_testkit::ec2::{Ec2Server, synthetic_vpc};
use nodecap_testkit::imds::{ImdsServer, Instance};
use nodecap_testkit::ipamd::IpamdServer;
use nodecap_testkit::pricing::{PricingServer, synthetic_pages};

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
    /// A test VPC CNI ipamd (/metrics and its introspection) serving the given files.
    Ipamd {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        #[arg(long)]
        metrics: std::path::PathBuf,
        #[arg(long)]
        enis: std::path::PathBuf,
        /// /v1/ipamd-env-settings; `none` answers 404. [default: aws-node's defaults]
        #[arg(long)]
        settings: Option<std::path::PathBuf>,
        /// /v1/eni-configs (a JSON string). [default: 404, no ENIConfig]
        #[arg(long)]
        eni_config: Option<std::path::PathBuf>,
    },
    /// A test EC2 endpoint: a VPC of /20 subnets tagged for the cluster, with interfaces of
    /// nodes spread over them (`DescribeSubnets`, `DescribeNetworkInterfaces`,
    /// `GetSubnetCidrReservations`).
    Ec2 {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        #[arg(long)]
        cluster: String,
        #[arg(long, default_value_t = 3)]
        subnets: usize,
        #[arg(long, default_value_t = 0)]
        interfaces: usize,
        /// Addresses per interface.
        #[arg(long, default_value_t = 10)]
        addresses: usize,
        /// /28 prefixes per interface.
        #[arg(long, default_value_t = 0)]
        prefixes: usize,
    },
    /// A test Price List API: `GetProducts` pages with one on-demand Linux product for each
    /// instance type named in the file (one a line).
    Pricing {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        #[arg(long)]
        types_file: std::path::PathBuf,
        #[arg(long, default_value_t = 100)]
        per_page: usize,
    },
}

fn main() -> ExitCode {
    let started = match Args::parse().command {
        Command::Imds {
            listen,
            instance_type,
            enis,
            ips_per_eni,
        } => {
            let instance = Instance::example(&instance_type, enis, ips_per_eni);
            ImdsServer::start_on(listen, &instance)
                .map(|server| (server.url(), Box::new(server) as Box<dyn std::any::Any>))
                .map_err(|e| format!("testkit imds: {listen}: {e}"))
        }
        Command::Ipamd {
            listen,
            metrics,
            enis,
            settings,
            eni_config,
        } => read(&metrics).and_then(|m| {
            let e = read(&enis)?;
            let settings = match settings {
                Some(path) if path.as_os_str() == "none" => None,
                Some(path) => Some(read(&path)?),
                None => Some(nodecap_testkit::ipamd::DEFAULT_SETTINGS.to_owned()),
            };
            let eni_config = eni_config.map(|path| read(&path)).transpose()?;
            IpamdServer::start_on(listen, &m, &e)
                .map(|server| {
                    server.set_settings(settings.as_deref(), eni_config.as_deref());
                    (
                        format!("http://{}", server.addr()),
                        Box::new(server) as Box<dyn std::any::Any>,
                    )
                })
                .map_err(|e| format!("testkit ipamd: {listen}: {e}"))
        }),
        Command::Ec2 {
            listen,
            cluster,
            subnets,
            interfaces,
            addresses,
            prefixes,
        } => Ec2Server::start_on(
            listen,
            synthetic_vpc(&cluster, subnets, interfaces, addresses, prefixes),
        )
        .map(|server| (server.url(), Box::new(server) as Box<dyn std::any::Any>))
        .map_err(|e| format!("testkit ec2: {listen}: {e}")),
        Command::Pricing {
            listen,
            types_file,
            per_page,
        } => read(&types_file).and_then(|text| {
            let types: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
            PricingServer::start_on(listen, synthetic_pages(&types, per_page))
                .map(|server| (server.url(), Box::new(server) as Box<dyn std::any::Any>))
                .map_err(|e| format!("testkit pricing: {listen}: {e}"))
        }),
    };
    let (url, _server) = match started {
        Ok(started) => started,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{url}");
    let _ = std::io::stdout().flush();
    wait_for_signal();
    ExitCode::SUCCESS
}

fn read(path: &std::path::Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("testkit ipamd: {}: {e}", path.display()))
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
