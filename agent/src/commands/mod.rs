//! What each command does: look the instance up, size it, render the chosen output. Each
//! command returns its stdout as a `String` (or an [`Error`] with its exit code), so `main`
//! only prints and exits, and the CLI tests can call the commands directly too.

use std::borrow::Cow;
use std::fmt::Write as _;

use std::path::Path;

use crate::cli::{
    FactsArgs, InitArgs, InstanceTypesArgs, ListOutput, MaxPodsArgs, PlanArgs, PlanOutput, RunArgs,
    SourceArgs,
};
use crate::instance::{self, InstanceFacts, Source};
use crate::sizing::{self, CapPolicy, SizingOptions};
use crate::{check, cloudwatch, collect, config, daemon, explain, init, logging, render, snapshot};

/// A failed command. Each variant maps to one documented exit code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "unknown instance type {0:?}: not in this build's table ({1} types). On a node, \
         `nodecap init` asks the EC2 API; offline, give its limits: \
         `plan --enis N --ips-per-eni N --vcpus N`"
    )]
    UnknownInstanceType(String, usize),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Init(#[from] init::Error),
    #[error(transparent)]
    Daemon(#[from] daemon::Error),
}

impl From<config::Error> for Error {
    fn from(e: config::Error) -> Self {
        Error::Usage(e.0)
    }
}

/// sysexits.h codes, so systemd units can tell "fix the config" from "try again".
pub mod exit {
    pub const DRIFT: u8 = 1;
    pub const UNKNOWN_INSTANCE_TYPE: u8 = 2;
    pub const USAGE: u8 = 64;
    pub const UNAVAILABLE: u8 = 69;
    pub const SOFTWARE: u8 = 70;
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::UnknownInstanceType(..) => exit::UNKNOWN_INSTANCE_TYPE,
            Error::Usage(_) => exit::USAGE,
            Error::Unavailable(_) => exit::UNAVAILABLE,
            Error::Init(e) => e.exit_code(),
            Error::Daemon(daemon::Error::Bind { .. }) => exit::UNAVAILABLE,
            Error::Daemon(daemon::Error::Setup(_)) => exit::SOFTWARE,
        }
    }
}

fn lookup(instance_type: &str) -> Result<&'static InstanceFacts, Error> {
    instance::lookup_embedded(instance_type).ok_or_else(|| {
        Error::UnknownInstanceType(instance_type.to_owned(), instance::embedded().len())
    })
}

/// Flags as a configuration layer. The argument structs serialize with config key names
/// (unset flags are omitted); keys of a section (`imds`, `kubelet`) move into it.
pub fn flags_layer<T: serde::Serialize>(args: &T) -> Result<toml::Table, Error> {
    let mut flat = toml::Table::try_from(args).map_err(|e| Error::Usage(format!("flags: {e}")))?;
    let mut layer = toml::Table::new();
    for &(section, key) in config::KEYS {
        if let Some(value) = flat.remove(key) {
            config::set(&mut layer, section, key, value);
        }
    }
    if let Some(key) = flat.keys().next() {
        return Err(Error::Usage(format!("flag {key} has no configuration key")));
    }
    Ok(layer)
}

/// The configuration `init` (and later `run`) uses: file, then environment, then flags.
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

/// A single-threaded runtime: `init` and the IMDS lookups do a handful of sequential requests.
fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Unavailable(format!("cannot start the async runtime: {e}")))
}

/// `nodecap init`.
pub fn init(args: &InitArgs) -> Result<String, Error> {
    let config = load_config(args.node.config.as_deref(), flags_layer(args)?)?;
    logging::init(config.log_format);
    let report = runtime()?.block_on(init::run(&config, args.dry_run))?;
    Ok(if args.dry_run {
        format!("# {}\n{}", report.path.display(), report.contents)
    } else {
        String::new()
    })
}

/// `nodecap run`: returns when stopped by a signal.
pub fn run(args: &RunArgs) -> Result<String, Error> {
    let mut config = load_config(args.sources.node.config.as_deref(), flags_layer(args)?)?;
    logging::init(config.log_format);
    let runtime = runtime()?;
    if let Some(source) = config
        .cloudwatch
        .as_ref()
        .and_then(|c| c.cluster_name_from.clone())
    {
        let name = runtime
            .block_on(cloudwatch::read_cluster_name(&source, &config))
            .map_err(|e| match e {
                cloudwatch::ClusterNameError::Missing(m) => Error::Usage(m),
                cloudwatch::ClusterNameError::Unavailable(m) => Error::Unavailable(m),
            })?;
        if let Some(c) = config.cloudwatch.as_mut() {
            c.cluster_name = name;
        }
    }
    runtime.block_on(daemon::run(config))?;
    Ok(String::new())
}

/// `nodecap check`: the report, and whether it found drift.
pub fn check(args: &SourceArgs) -> Result<(String, bool), Error> {
    let config = load_config(args.node.config.as_deref(), flags_layer(args)?)?;
    logging::init(config.log_format);
    let mut collectors =
        collect::Collectors::new(std::sync::Arc::new(config)).map_err(Error::Usage)?;
    let observations = runtime()?.block_on(collectors.collect());
    let findings = check::findings(&snapshot::Snapshot::new(observations));
    Ok((check::report(&findings), check::has_drift(&findings)))
}

/// `nodecap config defaults`.
pub fn config_defaults() -> String {
    config::DEFAULTS.to_owned()
}

impl FactsArgs {
    /// Facts from the command line, when `--enis` (and so `--ips-per-eni`, `--vcpus`) is given.
    fn to_facts(&self, instance_type: Option<&str>) -> Option<InstanceFacts> {
        let (enis, ips, vcpus) = (self.enis?, self.ips_per_eni?, self.vcpus?);
        Some(InstanceFacts {
            instance_type: Cow::Owned(instance_type.unwrap_or("custom").to_owned()),
            default_network_card: 0,
            enis_per_card: Cow::Owned(vec![enis]),
            ipv4_per_eni: ips,
            ipv6_per_eni: ips,
            ipv6_supported: true,
            vcpus,
            memory_mib: self.memory_mib,
            hypervisor: self.hypervisor.into(),
            bare_metal: self.bare_metal,
            efa_supported: false,
        })
    }
}

/// `nodecap plan`.
pub fn plan(args: &PlanArgs) -> Result<String, Error> {
    let by_hand = args.facts.to_facts(args.instance_type.as_deref());
    let (facts, source) = match &by_hand {
        Some(facts) => (facts, Source::Flags),
        None => {
            let name = args.instance_type.as_deref().unwrap_or_default();
            (lookup(name)?, Source::Embedded)
        }
    };
    let options = config::resolve(vec![("flags", flags_layer(&args.mode)?)])?.sizing;
    let sizing = sizing::size(facts, source, &options);
    let settings = render::KubeletSettings::from_sizing(&sizing);
    let header = format!(
        "nodecap plan: {} ({} data), profile {}, {} pods",
        facts.instance_type, source, sizing.profile, sizing.max_pods
    );
    Ok(match args.output {
        PlanOutput::Text => explain::explain(&sizing),
        PlanOutput::Json => explain::json(&sizing),
        PlanOutput::KubeletConfig => render::kubelet_config(&settings),
        PlanOutput::KubeletFlags => render::kubelet_flags(&settings),
        PlanOutput::Nodeconfig => render::nodeconfig(&settings, &header),
        PlanOutput::Bottlerocket => render::bottlerocket(&settings, &header),
        PlanOutput::Karpenter => render::karpenter(&settings, &header),
    })
}

/// A VPC CNI version's major and minor numbers. Accepts `1.11.4`, `v1.11.2` (which the EKS
/// calculator mis-parses as major 0) and `1.11.4-eksbuild.1`.
pub fn parse_cni_version(version: &str) -> Result<(u32, u32), Error> {
    let bad = || {
        Error::Usage(format!(
            "--cni-version {version:?}: expected MAJOR.MINOR[.PATCH], e.g. 1.19.2 or v1.19.2-eksbuild.1"
        ))
    };
    let trimmed = version.strip_prefix(['v', 'V']).unwrap_or(version);
    let mut parts = trimmed.split('.');
    let number = |part: Option<&str>| -> Result<u32, Error> {
        let digits: &str = part.ok_or_else(bad)?;
        let end = digits
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(digits.len());
        if end == 0 {
            return Err(bad());
        }
        digits[..end].parse().map_err(|_| bad())
    };
    let major = number(parts.next())?;
    let minor = number(parts.next())?;
    Ok((major, minor))
}

/// Prefix delegation arrived in VPC CNI 1.9.0.
fn cni_supports_prefix_delegation((major, minor): (u32, u32)) -> bool {
    major > 1 || (major == 1 && minor >= 9)
}

/// `nodecap max-pods`: the EKS AMI calculator's contract (reference/eks-ami.md §1.3). One
/// deliberate difference: bare-metal types (no hypervisor) do prefix delegation, as ipamd does.
pub fn max_pods(args: &MaxPodsArgs) -> Result<String, Error> {
    let version = parse_cni_version(&args.cni_version)?;
    let from_imds;
    let instance_type = match &args.instance_type {
        Some(name) => name.as_str(),
        None => {
            from_imds = instance_type_from_imds()?;
            from_imds.as_str()
        }
    };
    let facts = lookup(instance_type)?;
    let options = SizingOptions {
        prefix_delegation: args.cni_prefix_delegation_enabled
            && cni_supports_prefix_delegation(version),
        custom_networking: args.cni_custom_networking_enabled,
        max_enis: args.cni_max_eni,
        max_pods_cap: Some(if args.show_max_allowed {
            CapPolicy::None
        } else {
            CapPolicy::Eks
        }),
        ..SizingOptions::default()
    };
    let sizing = sizing::size(facts, Source::Embedded, &options);
    Ok(format!("{}\n", sizing.max_pods))
}

/// The calculator's `--instance-type-from-imds`: IMDSv2 `meta-data/instance-type`, at
/// `AWS_EC2_METADATA_SERVICE_ENDPOINT` or the default address, within 30 seconds.
fn instance_type_from_imds() -> Result<String, Error> {
    let endpoint = std::env::var("AWS_EC2_METADATA_SERVICE_ENDPOINT")
        .unwrap_or_else(|_| crate::imds::DEFAULT_ENDPOINT.to_owned());
    let unavailable = |e: crate::imds::Error| Error::Unavailable(e.to_string());
    let client = crate::imds::ImdsClient::new(&endpoint, std::time::Duration::from_secs(30))
        .map_err(|e| Error::Usage(e.to_string()))?;
    let name = runtime()?
        .block_on(client.require("meta-data/instance-type", "an instance type"))
        .map_err(unavailable)?;
    let name = name.trim().to_owned();
    if !crate::imds::is_instance_type(&name) {
        return Err(Error::Unavailable(format!(
            "IMDS meta-data/instance-type: expected an instance type such as m5.large, got {name:?}"
        )));
    }
    Ok(name)
}

/// `nodecap instance-types`.
pub fn instance_types(args: &InstanceTypesArgs) -> Result<String, Error> {
    let selected: Vec<&InstanceFacts> = if args.instance_types.is_empty() {
        instance::embedded().iter().collect()
    } else {
        args.instance_types
            .iter()
            .map(|name| lookup(name))
            .collect::<Result<_, _>>()?
    };
    Ok(match args.output {
        ListOutput::Json => render::to_json(&selected),
        ListOutput::Text => {
            let mut out = format!(
                "{:<24} {:>5} {:>9} {:<10} {:<5} {:>5} {:<18} {:>4} {:>4} {:<4} {:>8}\n",
                "TYPE",
                "VCPUS",
                "MEM_MIB",
                "HYPERVISOR",
                "METAL",
                "ENIS",
                "ENIS_PER_CARD",
                "IPV4",
                "IPV6",
                "EFA",
                "ENI_PODS"
            );
            for f in selected {
                let cards = f
                    .enis_per_card
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(",");
                let eni_pods = sizing::ip_limited_pods(
                    f.default_card_enis(),
                    f.ipv4_per_eni,
                    sizing::PodAddressing::SecondaryIp,
                )
                .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "{:<24} {:>5} {:>9} {:<10} {:<5} {:>5} {:<18} {:>4} {:>4} {:<4} {:>8}",
                    f.instance_type,
                    f.vcpus,
                    f.memory_mib,
                    f.hypervisor,
                    if f.bare_metal { "yes" } else { "no" },
                    f.default_card_enis(),
                    cards,
                    f.ipv4_per_eni,
                    f.ipv6_per_eni,
                    if f.efa_supported { "yes" } else { "no" },
                    eni_pods
                );
            }
            out
        }
    })
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
            "--pods-per-core",
            "3",
            "--max-pods",
            "9",
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
            "--proc-root",
            "/p",
            "--sys-root",
            "/q",
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
        let mut layer = flags_layer(&run).unwrap();
        config::merge(&mut layer, flags_layer(&init).unwrap());
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

    #[test]
    fn cni_versions() {
        assert_eq!(parse_cni_version("1.11.4").unwrap(), (1, 11));
        assert_eq!(parse_cni_version("v1.11.2").unwrap(), (1, 11));
        assert_eq!(parse_cni_version("1.11.4-eksbuild.1").unwrap(), (1, 11));
        assert_eq!(parse_cni_version("1.9").unwrap(), (1, 9));
        assert_eq!(parse_cni_version("2.0.0").unwrap(), (2, 0));
        for bad in ["", "1", "x.y", "1.x", "latest", "-1.9"] {
            let err = parse_cni_version(bad).unwrap_err();
            assert_eq!(err.exit_code(), exit::USAGE, "{bad}");
        }
        assert!(!cni_supports_prefix_delegation((1, 8)));
        assert!(cni_supports_prefix_delegation((1, 9)));
        assert!(cni_supports_prefix_delegation((2, 0)));
        assert!(!cni_supports_prefix_delegation((0, 11)));
    }
}
