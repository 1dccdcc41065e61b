//! What each command does, as glue: load the configuration, call the stage that does the
//! work, turn its result into stdout. Each command returns its stdout as a `String` (or an
//! [`Error`] with its [`Exit`] code), so `main` only prints and exits, and tests can call the
//! commands directly too.
//!
//! | command | module | stage |
//! |---|---|---|
//! | `plan`, `max-pods`, `instance-types` | [`plan`] | [`crate::core`], [`crate::kubelet::render`] |
//! | `density` | [`density`] | [`crate::core::density`], [`crate::core::prices`] |
//! | `init` | [`node`] | [`crate::init`] |
//! | `run`, `check` | [`node`] | [`crate::daemon`] |
//! | `subnets` | [`subnets`] | [`crate::subnets`] |

pub mod density;
pub mod node;
pub mod plan;
pub mod subnets;

use std::path::Path;

use crate::config;
use crate::core::excerpt::Excerpt;
use crate::core::names::{InvalidName, Region};
use crate::exit::Exit;

/// A failed command. Each variant maps to one documented exit code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "unknown instance type {0}: not in this build's table ({1} types). On a node, \
         `nodecap init` asks the EC2 API; offline, give its limits: \
         `plan --enis N --ips-per-eni N --vcpus N`"
    )]
    UnknownInstanceType(Excerpt, usize),
    #[error("--instance-type: {0}")]
    InstanceTypeFlag(crate::core::names::InvalidName),
    #[error(transparent)]
    Config(#[from] config::Error),
    #[error("flags: {0}")]
    Flags(#[from] toml::ser::Error),
    #[error("flag {0} has no configuration key")]
    UnknownFlag(String),
    #[error(transparent)]
    CniVersion(#[from] crate::core::calculator::CniVersionError),
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    Imds(#[from] crate::aws::imds::Error),
    #[error("IMDS {url}: expected an instance type such as m5.large, got {got}")]
    NotAnInstanceType { url: String, got: Excerpt },
    #[error(transparent)]
    ImdsEndpoint(#[from] crate::aws::imds::EndpointError),
    #[error(transparent)]
    Render(#[from] crate::kubelet::render::Error),
    #[error(transparent)]
    Init(#[from] crate::init::Error),
    #[error(transparent)]
    ClusterName(#[from] crate::daemon::collect::cluster_name::ClusterNameError),
    #[error(transparent)]
    Daemon(#[from] crate::telemetry::Error),
    #[error(transparent)]
    Expression(#[from] crate::core::sizing::KeyedExpressionError),
    #[error(transparent)]
    Subnets(#[from] crate::subnets::Error),
    #[error("cannot encode the answer as JSON")]
    Json(#[source] serde_json::Error),
    #[error("--prices")]
    PriceFile(#[source] crate::file::ReadError),
    #[error("--prices {path}")]
    Prices {
        path: std::path::PathBuf,
        source: crate::core::prices::Error,
    },
    #[error(transparent)]
    Chart(#[from] crate::core::density::chart::Error),
    #[error("--pricing-api needs a region: --region, or AWS_REGION")]
    NoPricingRegion,
    #[error("--region: expected a region such as us-east-1, got {0}")]
    PricingRegion(Excerpt),
    #[error("{variable}: {error}")]
    EnvironmentRegion {
        variable: &'static str,
        error: InvalidName,
    },
    #[error(transparent)]
    Pricing(#[from] crate::aws::pricing::Error),
    #[error("--prices {path}")]
    Offer {
        path: std::path::PathBuf,
        source: crate::core::offer::Error,
    },
}

impl Error {
    pub fn exit(&self) -> Exit {
        use crate::daemon::collect::cluster_name::ClusterNameError;
        match self {
            Error::UnknownInstanceType(..) => Exit::UnknownInstanceType,
            Error::Config(_)
            | Error::Flags(_)
            | Error::UnknownFlag(_)
            | Error::CniVersion(_)
            | Error::InstanceTypeFlag(_)
            | Error::ImdsEndpoint(_)
            | Error::Expression(_) => Exit::Usage,
            Error::ClusterName(ClusterNameError::Imds(_)) => Exit::Unavailable,
            Error::ClusterName(_) => Exit::Usage,
            Error::Runtime(_) | Error::Imds(_) | Error::NotAnInstanceType { .. } => {
                Exit::Unavailable
            }
            Error::Render(_) => Exit::Software,
            Error::Init(e) => e.exit(),
            Error::Daemon(e) | Error::Subnets(crate::subnets::Error::Serve(e)) => match e {
                crate::telemetry::Error::Bind { .. } => Exit::Unavailable,
                crate::telemetry::Error::Signals(_) => Exit::Software,
                crate::telemetry::Error::Web(_) => Exit::Usage,
            },
            Error::Subnets(
                crate::subnets::Error::Api(_)
                | crate::subnets::Error::Client { .. }
                | crate::subnets::Error::NoSubnets(_),
            ) => Exit::Unavailable,
            Error::Json(_) => Exit::Software,
            Error::Chart(crate::core::density::chart::Error::NoPrices)
            | Error::NoPricingRegion
            | Error::PricingRegion(_)
            | Error::EnvironmentRegion { .. } => Exit::Usage,
            Error::Pricing(_) => Exit::Unavailable,
            Error::Chart(crate::core::density::chart::Error::Draw(_)) => Exit::Software,
            Error::PriceFile(_) | Error::Prices { .. } | Error::Offer { .. } => Exit::Usage,
        }
    }
}

/// What a successful command prints, and how it exits.
#[derive(Debug)]
pub struct Output {
    pub stdout: String,
    pub exit: Exit,
}

impl From<String> for Output {
    fn from(stdout: String) -> Self {
        Output {
            stdout,
            exit: Exit::Success,
        }
    }
}

/// Flags as a configuration layer. The argument structs serialize with config key names
/// (unset flags are omitted); keys of a section (`imds`, `kubelet`) move into it, except the
/// sections whose flags serialize nested already ([`config::NESTED_FLAG_SECTIONS`]).
pub fn flags_layer<T: serde::Serialize>(args: &T) -> Result<toml::Table, Error> {
    let mut flat = toml::Table::try_from(args)?;
    let mut layer = toml::Table::new();
    for &(section, key) in config::KEYS {
        if section.is_some_and(|s| config::NESTED_FLAG_SECTIONS.contains(&s)) {
            continue;
        }
        if let Some(value) = flat.remove(key) {
            config::set(&mut layer, section, key, value);
        }
    }
    for &section in config::NESTED_FLAG_SECTIONS {
        if let Some(toml::Value::Table(keys)) = flat.remove(section) {
            for (key, value) in keys {
                config::set(&mut layer, Some(section), &key, value);
            }
        }
    }
    if let Some(key) = flat.keys().next() {
        return Err(Error::UnknownFlag(key.clone()));
    }
    Ok(layer)
}

/// The configuration a node command uses: file, then environment, then flags.
pub fn load_config(file: Option<&Path>, flags: toml::Table) -> Result<config::Config, Error> {
    let (path, explicit) = match file {
        Some(path) => (path, true),
        None => (Path::new(config::DEFAULT_PATH), false),
    };
    let file_layer = config::file_layer(path, explicit)?;
    let env_layer = config::env_layer(std::env::vars())?;
    Ok(config::resolve(vec![
        ("config file", file_layer),
        ("environment", env_layer),
        ("flags", flags),
    ])?)
}

/// Starts the logs in the configured format, then warns of every `NODECAP_*` variable that
/// names no key (an unknown key in the file is an error; the environment may hold other
/// tools' variables, so there it is a warning).
pub fn start_logging(config: &config::Config) {
    crate::logging::init(config.log_format);
    for name in config::unknown_env(std::env::vars()) {
        // The name is the environment's, not ours: a 128 KiB one must not make a 128 KiB line.
        let name = crate::core::excerpt::clip(&name, crate::core::excerpt::MAX_CHARS);
        tracing::warn!(
            variable = %name,
            "ignored: no configuration key has this name (`nodecap config defaults` lists them; NODECAP_ + [SECTION_]KEY in capitals)"
        );
    }
}

/// The region the AWS SDKs would use when none is configured: `AWS_REGION`, else
/// `AWS_DEFAULT_REGION` (an empty one is unset).
fn environment_region() -> Result<Option<Region>, Error> {
    for variable in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Ok(text) = std::env::var(variable)
            && !text.is_empty()
        {
            return Region::try_from(text)
                .map(Some)
                .map_err(|error| Error::EnvironmentRegion { variable, error });
        }
    }
    Ok(None)
}

/// A single-threaded runtime: `init` does a handful of sequential requests, and the daemon's
/// collectors and endpoint share one thread (blocking reads go to the blocking pool).
fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)
}

/// `nodecap config defaults`.
pub fn config_defaults() -> String {
    config::DEFAULTS.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    #[test]
    fn every_config_key_has_a_flag() {
        let cli = Cli::try_parse_from([
            "nodecap",
            "run",
            "--prefix-delegation",
            "--custom-networking=false",
            "--max-enis",
            "2",
            "--reserved-enis",
            "1",
            "--ip-family",
            "ipv6",
            "--profile",
            "eks",
            "--max-pods-cap",
            "none",
            "--min-memory-per-pod-mib",
            "512",
            "--pods-per-core",
            "3",
            "--max-pods",
            "9",
            "--max-pods-expression",
            "max_pods",
            "--kube-reserved-expression",
            "{}",
            "--system-reserved-expression",
            "{}",
            "--fallback-max-pods",
            "9",
            "--prefer-api",
            "--state-dir",
            "/s",
            "--log-format",
            "json",
            "--imds-endpoint",
            "http://x",
            "--imds-deadline",
            "5",
            "--nodeadm-config-dir",
            "/a",
            "--kubelet-config-dir",
            "/b",
            "--kubelet-config",
            "/c",
            "--kubelet-env-file",
            "/d",
            "--dropin-name",
            "n",
            "--config",
            "/e",
            "--listen",
            "0.0.0.0:9",
            "--interval",
            "2m",
            "--ipamd-metrics-url",
            "http://127.0.0.1:1/metrics",
            "--ipamd-introspection-url",
            "http://127.0.0.1:2/v1/enis",
            "--minimum-ip-target",
            "0",
            "--warm-prefix-target",
            "1",
            "--proc-root",
            "/p",
            "--sys-root",
            "/q",
            "--web-config-file",
            "/w",
            "--cloudwatch",
            "--cluster-name",
            "bars",
            "--cloudwatch-namespace",
            "ns",
            "--cloudwatch-interval",
            "1s",
            "--cloudwatch-per-node",
            "--node-name",
            "node-1",
            "--cloudwatch-compat=false",
            "--cloudwatch-queue",
            "5",
            "--cloudwatch-region",
            "eu-west-1",
        ])
        .unwrap();
        let Command::Run(run) = cli.command else {
            panic!("not run");
        };
        let cli =
            Cli::try_parse_from(["nodecap", "init", "--backend", "flags", "--dry-run"]).unwrap();
        let Command::Init(init) = cli.command else {
            panic!("not init");
        };
        let cli = Cli::try_parse_from([
            "nodecap",
            "subnets",
            "--cluster-name",
            "prod",
            "--vpc-id",
            "vpc-0a",
            "--subnet-ids",
            "subnet-0b,subnet-0a",
            "--region",
            "eu-west-1",
            "--listen",
            "0.0.0.0:7",
            "--interval",
            "10m",
            "--timeout",
            "2m",
            "--web-config-file",
            "/w2",
            "--cloudwatch",
            "--cloudwatch-namespace",
            "ns",
        ])
        .unwrap();
        let Command::Subnets(subnets) = cli.command else {
            panic!("not subnets");
        };
        let subnets_layer = flags_layer(&subnets).unwrap();
        // The section's keys land in it, not in run's or cloudwatch's of the same name.
        assert_eq!(
            subnets_layer["subnets"]["listen"].as_str(),
            Some("0.0.0.0:7")
        );
        assert!(!subnets_layer.contains_key("run"));
        let mut layer = flags_layer(&run).unwrap();
        config::merge(&mut layer, flags_layer(&init).unwrap());
        config::merge(&mut layer, subnets_layer);
        let count = |t: &toml::Table| -> usize {
            t.values()
                .map(|v| v.as_table().map_or(1, |t| t.len()))
                .sum()
        };
        // --cluster-name-from conflicts with --cluster-name: checked on its own.
        assert_eq!(count(&layer) + 1, config::KEYS.len(), "{layer:#?}");
        let cli =
            Cli::try_parse_from(["nodecap", "run", "--cluster-name-from", "label:x"]).unwrap();
        let Command::Run(from) = cli.command else {
            panic!("not run");
        };
        assert_eq!(
            flags_layer(&from).unwrap()["cloudwatch"]["cluster_name_from"].as_str(),
            Some("label:x")
        );
        assert!(
            Cli::try_parse_from([
                "nodecap",
                "run",
                "--cluster-name",
                "a",
                "--cluster-name-from",
                "label:x"
            ])
            .is_err()
        );
        let config = config::resolve(vec![("flags", layer)]).unwrap();
        assert!(!config.sizing.custom_networking && config.sizing.prefix_delegation);
        assert_eq!(
            config.kubelet.kubelet_env_file,
            std::path::PathBuf::from("/d")
        );
        assert_eq!(config.imds_deadline, std::time::Duration::from_secs(5));
        assert_eq!(config.run.interval, std::time::Duration::from_secs(120));
        assert_eq!(config.run.sys_root, std::path::PathBuf::from("/q"));
        assert_eq!(
            config.subnets.subnet_ids.as_deref(),
            Some(&["subnet-0a".parse().unwrap(), "subnet-0b".parse().unwrap()][..])
        );
        assert_eq!(config.subnets.interval, std::time::Duration::from_secs(600));
        let settings = config.subnets(None).unwrap();
        assert_eq!(
            settings.selection,
            crate::subnets::Selection::Ids(vec![
                "subnet-0a".parse().unwrap(),
                "subnet-0b".parse().unwrap()
            ])
        );
        assert_eq!(settings.region, "eu-west-1");
        // cloudwatch.cluster_name ("bars", from run's flags) names the cluster in CloudWatch.
        assert_eq!(
            settings.cloudwatch.unwrap().cluster_name.as_deref(),
            Some("bars")
        );
        let cw = config.cloudwatch.unwrap();
        assert_eq!(
            (cw.queue_datums, cw.region.as_deref()),
            (5, Some("eu-west-1"))
        );
        // Nothing given, nothing set.
        let cli = Cli::try_parse_from(["nodecap", "init"]).unwrap();
        let Command::Init(args) = cli.command else {
            panic!("not init");
        };
        assert!(flags_layer(&args).unwrap().is_empty());
    }
}
