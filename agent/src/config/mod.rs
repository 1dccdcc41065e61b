//! Configuration: `/etc/nodecap/config.toml`, then `NODECAP_*` environment variables, then
//! command-line flags, each layer overriding the one before. Raw layers are TOML tables; they
//! are checked one by one (so an error names the file and line, the variable or the flag),
//! merged, and turned into a validated [`Config`] before anything is bound or written.
//!
//! The checked [`Config`] hands each stage its own settings ([`Config::init`],
//! [`Config::daemon`]): the stages never see the configuration file's shape.
//!
//! Every key is listed in [`DEFAULTS`] (`defaults.toml`, the commented file `nodecap config
//! defaults` prints); a test parses it back so the documentation cannot drift from the code.

mod shape;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::aws::imds;
use crate::aws::limits::Lookup;
use crate::core::excerpt::{Excerpt, MAX_CHARS, clip};
use crate::core::expression::Expression;
use crate::core::sizing::{CapPolicy, IpFamily, Profile, SizingOptions};
use crate::daemon::collect::Sources;
use crate::daemon::collect::ipamd_settings::Declared;
use crate::kubelet::{Backend, Targets};
use crate::logging::LogFormat;
use crate::telemetry::cloudwatch::{self, ClusterNameSource, DimensionError};

pub const DEFAULT_PATH: &str = "/etc/nodecap/config.toml";
pub const ENV_PREFIX: &str = "NODECAP_";

/// The default configuration file, every key commented out at its default.
pub const DEFAULTS: &str = include_str!("defaults.toml");

/// One layer as written: every key optional, unknown keys rejected.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    prefix_delegation: Option<bool>,
    custom_networking: Option<bool>,
    max_enis: Option<u32>,
    reserved_enis: Option<u32>,
    ip_family: Option<IpFamily>,
    profile: Option<Profile>,
    #[serde(default, deserialize_with = "cap_policy")]
    max_pods_cap: Option<CapPolicy>,
    pods_per_core: Option<u32>,
    min_memory_per_pod_mib: Option<u64>,
    max_pods: Option<u32>,
    max_pods_expression: Option<String>,
    kube_reserved_expression: Option<String>,
    system_reserved_expression: Option<String>,
    fallback_max_pods: Option<u32>,
    prefer_api: Option<bool>,
    state_dir: Option<PathBuf>,
    log_format: Option<LogFormat>,
    imds: Option<RawImds>,
    kubelet: Option<RawKubelet>,
    run: Option<RawRun>,
    cloudwatch: Option<RawCloudwatch>,
    subnets: Option<RawSubnets>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubnets {
    cluster_name: Option<String>,
    vpc_id: Option<String>,
    #[serde(default, deserialize_with = "string_list")]
    subnet_ids: Option<Vec<String>>,
    region: Option<String>,
    listen: Option<String>,
    interval: Option<String>,
    timeout: Option<String>,
    web_config_file: Option<PathBuf>,
}

/// A list of strings: a TOML array, or one comma-separated string (the environment's and a
/// flag's form).
fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        List(Vec<String>),
        Text(String),
    }
    Ok(Some(match Raw::deserialize(d)? {
        Raw::List(items) => items,
        Raw::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCloudwatch {
    enabled: Option<bool>,
    cluster_name: Option<String>,
    cluster_name_from: Option<String>,
    namespace: Option<String>,
    publish_interval: Option<String>,
    per_node: Option<bool>,
    node_name: Option<String>,
    cni_metrics_helper_compat: Option<bool>,
    queue_datums: Option<u32>,
    region: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRun {
    listen: Option<String>,
    interval: Option<String>,
    ipamd_metrics_url: Option<String>,
    ipamd_introspection_url: Option<String>,
    proc_root: Option<PathBuf>,
    sys_root: Option<PathBuf>,
    web_config_file: Option<PathBuf>,
    minimum_ip_target: Option<u32>,
    warm_prefix_target: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImds {
    endpoint: Option<String>,
    deadline_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKubelet {
    backend: Option<Backend>,
    nodeadm_config_dir: Option<PathBuf>,
    kubelet_config_dir: Option<PathBuf>,
    kubelet_config: Option<PathBuf>,
    kubelet_env_file: Option<PathBuf>,
    dropin_name: Option<String>,
}

/// `max_pods_cap = "eks" | "none" | N`.
fn cap_policy<'de, D: Deserializer<'de>>(d: D) -> Result<Option<CapPolicy>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(i64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Number(n) => n.to_string().parse(),
        Raw::Text(s) => s.parse(),
    }
    .map(Some)
    .map_err(serde::de::Error::custom)
}

/// The daemon's own section (`[run]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSettings {
    pub listen: std::net::SocketAddr,
    pub interval: Duration,
    pub ipamd_metrics_url: hyper::Uri,
    pub ipamd_introspection_url: hyper::Uri,
    pub proc_root: PathBuf,
    pub sys_root: PathBuf,
    /// TLS and basic authentication for `/metrics` (exporter-toolkit's web-config format).
    pub web_config_file: Option<PathBuf>,
    /// aws-node's targets that ipamd does not expose.
    pub cni_declared: Declared,
}

/// `nodecap subnets`' section (`[subnets]`), checked; which subnets is decided by
/// [`Config::subnets`], since only that command needs one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetsSection {
    pub cluster_name: Option<String>,
    pub vpc_id: Option<String>,
    pub subnet_ids: Option<Vec<String>>,
    pub region: Option<String>,
    pub listen: std::net::SocketAddr,
    pub interval: Duration,
    /// Unset: [`crate::subnets::Settings::timeout`]'s default.
    pub timeout: Option<Duration>,
    pub web_config_file: Option<PathBuf>,
}

impl Default for SubnetsSection {
    fn default() -> Self {
        SubnetsSection {
            cluster_name: None,
            vpc_id: None,
            subnet_ids: None,
            region: None,
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 61683)),
            interval: Duration::from_secs(300),
            timeout: None,
            web_config_file: None,
        }
    }
}

/// The checked configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub sizing: SizingOptions,
    pub fallback_max_pods: Option<u32>,
    pub prefer_api: bool,
    pub state_dir: PathBuf,
    pub log_format: LogFormat,
    pub imds_endpoint: imds::Endpoint,
    pub imds_deadline: Duration,
    pub kubelet: Targets,
    pub run: RunSettings,
    pub cloudwatch: Option<cloudwatch::Settings>,
    pub subnets: SubnetsSection,
}

impl Default for Config {
    fn default() -> Self {
        let lookup = Lookup::default();
        let daemon = crate::daemon::Settings::default();
        Config {
            sizing: lookup.options,
            fallback_max_pods: lookup.fallback_max_pods,
            prefer_api: lookup.prefer_api,
            state_dir: lookup.state_dir,
            log_format: LogFormat::Text,
            imds_endpoint: imds::Endpoint::default(),
            imds_deadline: lookup.deadline,
            kubelet: Targets::default(),
            run: RunSettings {
                listen: daemon.listen,
                interval: daemon.interval,
                ipamd_metrics_url: daemon.sources.ipamd_metrics_url,
                ipamd_introspection_url: daemon.sources.ipamd_introspection_url,
                proc_root: daemon.sources.proc_root,
                sys_root: daemon.sources.sys_root,
                web_config_file: daemon.web_config_file,
                cni_declared: daemon.sources.cni_declared,
            },
            cloudwatch: None,
            subnets: SubnetsSection::default(),
        }
    }
}

impl Config {
    /// How the node's limits are found.
    pub fn lookup(&self) -> Lookup {
        Lookup {
            state_dir: self.state_dir.clone(),
            deadline: self.imds_deadline,
            prefer_api: self.prefer_api,
            fallback_max_pods: self.fallback_max_pods,
            options: self.sizing.clone(),
            write_cache: true,
        }
    }

    /// What `nodecap init` needs.
    pub fn init(&self) -> crate::init::Settings {
        crate::init::Settings {
            imds: self.imds_endpoint.clone(),
            lookup: self.lookup(),
            kubelet: self.kubelet.clone(),
        }
    }

    /// What `nodecap run` (and `nodecap check`) needs.
    pub fn daemon(&self) -> crate::daemon::Settings {
        crate::daemon::Settings {
            listen: self.run.listen,
            interval: self.run.interval,
            sources: Sources {
                imds: self.imds_endpoint.clone(),
                lookup: self.lookup(),
                ipamd_metrics_url: self.run.ipamd_metrics_url.clone(),
                ipamd_introspection_url: self.run.ipamd_introspection_url.clone(),
                cni_declared: self.run.cni_declared,
                proc_root: self.run.proc_root.clone(),
                sys_root: self.run.sys_root.clone(),
                kubelet: self.kubelet.clone(),
            },
            web_config_file: self.run.web_config_file.clone(),
            cloudwatch: self.cloudwatch.clone(),
        }
    }

    /// What `nodecap subnets` needs. `aws_region` is `$AWS_REGION` (else
    /// `$AWS_DEFAULT_REGION`), used when `subnets.region` is not set.
    pub fn subnets(&self, aws_region: Option<String>) -> Result<crate::subnets::Settings, Error> {
        use crate::subnets::Selection;
        let s = &self.subnets;
        let selection = match (&s.subnet_ids, &s.cluster_name, &s.vpc_id) {
            (Some(ids), _, _) => Selection::Ids(ids.clone()),
            (None, Some(name), vpc_id) => Selection::Cluster {
                name: name.clone(),
                vpc_id: vpc_id.clone(),
            },
            (None, None, Some(vpc)) => Selection::Vpc(vpc.clone()),
            (None, None, None) => return Err(Error::NoSubnetSelection),
        };
        let region = match s.region.clone().or(aws_region) {
            Some(region) => aws_region_name("subnets.region", region)?,
            None => return Err(Error::NoRegion),
        };
        // The ClusterName dimension: cloudwatch.cluster_name, else the cluster watched.
        let cloudwatch = match self.cloudwatch.clone() {
            Some(mut cw) => {
                if cw.cluster_name.is_empty() {
                    cw.cluster_name = s.cluster_name.clone().ok_or(Error::ClusterNameMissing)?;
                }
                Some(cw)
            }
            None => None,
        };
        Ok(crate::subnets::Settings {
            region,
            selection,
            listen: s.listen,
            interval: s.interval,
            timeout: s.timeout,
            web_config_file: s.web_config_file.clone(),
            cloudwatch,
        })
    }
}

/// A configuration error: one line naming the source, the key and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("config")]
    Read(#[source] crate::file::ReadError),
    #[error("config {path}: {problem}")]
    File { path: PathBuf, problem: String },
    #[error("environment {name}={value}: {problem}")]
    Environment {
        name: String,
        value: Excerpt,
        problem: String,
    },
    #[error("{layer}: {problem}")]
    Layer { layer: String, problem: String },
    #[error("{key}: expected {expected}, got {got}")]
    Value {
        key: &'static str,
        expected: &'static str,
        got: String,
    },
    #[error("imds.endpoint")]
    Endpoint(#[source] imds::EndpointError),
    // Not a `source`: the message is whole here, and error chains would print it twice.
    #[error("{key} {error}")]
    Expression {
        key: &'static str,
        error: crate::core::expression::ExpressionError,
    },
    #[error(transparent)]
    Dimension(#[from] DimensionError),
    #[error(
        "cloudwatch.cluster_name: required when cloudwatch.enabled is true (--cluster-name, or --cluster-name-from)"
    )]
    ClusterNameMissing,
    #[error(
        "cloudwatch.cluster_name_from: expected either cluster_name or cluster_name_from, not both"
    )]
    ClusterNameTwice,
    #[error(
        "subnets: which subnets? set subnets.cluster_name (--cluster-name: the cluster's tagged subnets), subnets.subnet_ids or subnets.vpc_id"
    )]
    NoSubnetSelection,
    #[error("subnets.region: required (--region, or AWS_REGION)")]
    NoRegion,
}

fn value_error(key: &'static str, expected: &'static str, got: impl std::fmt::Debug) -> Error {
    Error::Value {
        key,
        expected,
        got: clip(&format!("{got:?}"), MAX_CHARS),
    }
}

/// Every key as `(section, key)`, the order of [`DEFAULTS`]: the environment variable for
/// `(s, k)` is `NODECAP_<S>_<K>` upper-cased.
pub const KEYS: &[(Option<&str>, &str)] = &[
    (None, "prefix_delegation"),
    (None, "custom_networking"),
    (None, "max_enis"),
    (None, "reserved_enis"),
    (None, "ip_family"),
    (None, "profile"),
    (None, "max_pods_cap"),
    (None, "min_memory_per_pod_mib"),
    (None, "pods_per_core"),
    (None, "max_pods"),
    (None, "max_pods_expression"),
    (None, "kube_reserved_expression"),
    (None, "system_reserved_expression"),
    (None, "fallback_max_pods"),
    (None, "prefer_api"),
    (None, "state_dir"),
    (None, "log_format"),
    (Some("imds"), "endpoint"),
    (Some("imds"), "deadline_seconds"),
    (Some("kubelet"), "backend"),
    (Some("kubelet"), "nodeadm_config_dir"),
    (Some("kubelet"), "kubelet_config_dir"),
    (Some("kubelet"), "kubelet_config"),
    (Some("kubelet"), "kubelet_env_file"),
    (Some("kubelet"), "dropin_name"),
    (Some("run"), "listen"),
    (Some("run"), "interval"),
    (Some("run"), "ipamd_metrics_url"),
    (Some("run"), "ipamd_introspection_url"),
    (Some("run"), "proc_root"),
    (Some("run"), "sys_root"),
    (Some("run"), "web_config_file"),
    (Some("run"), "minimum_ip_target"),
    (Some("run"), "warm_prefix_target"),
    (Some("cloudwatch"), "enabled"),
    (Some("cloudwatch"), "cluster_name"),
    (Some("cloudwatch"), "cluster_name_from"),
    (Some("cloudwatch"), "namespace"),
    (Some("cloudwatch"), "publish_interval"),
    (Some("cloudwatch"), "per_node"),
    (Some("cloudwatch"), "node_name"),
    (Some("cloudwatch"), "cni_metrics_helper_compat"),
    (Some("cloudwatch"), "queue_datums"),
    (Some("cloudwatch"), "region"),
    (Some("subnets"), "cluster_name"),
    (Some("subnets"), "vpc_id"),
    (Some("subnets"), "subnet_ids"),
    (Some("subnets"), "region"),
    (Some("subnets"), "listen"),
    (Some("subnets"), "interval"),
    (Some("subnets"), "timeout"),
    (Some("subnets"), "web_config_file"),
];

/// Sections whose flags arrive already nested in their own table: their key names repeat
/// other sections' (`listen`, `interval`, `region`, `cluster_name`).
pub const NESTED_FLAG_SECTIONS: &[&str] = &["subnets"];

fn env_name(section: Option<&str>, key: &str) -> String {
    let name = match section {
        Some(s) => format!("{s}_{key}"),
        None => key.to_owned(),
    };
    format!("{ENV_PREFIX}{}", name.to_uppercase())
}

/// Sets `section.key` in a layer table.
pub fn set(table: &mut toml::Table, section: Option<&str>, key: &str, value: toml::Value) {
    let target = match section {
        None => Some(table),
        Some(s) => table
            .entry(s)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut(),
    };
    if let Some(target) = target {
        target.insert(key.to_owned(), value);
    }
}

/// Reads the file layer. A missing file is an empty layer only when it is the default path.
pub fn file_layer(path: &Path, explicit: bool) -> Result<toml::Table, Error> {
    match crate::file::read_text(path, crate::file::MAX_CONFIG_FILE) {
        Ok(text) => parse_layer(&text, path),
        Err(e) if e.is_not_found() && !explicit => Ok(toml::Table::new()),
        Err(e) => Err(Error::Read(e)),
    }
}

/// The file layer from the text of the file at `path`: TOML, every key known.
pub fn parse_layer(text: &str, path: &Path) -> Result<toml::Table, Error> {
    let problem = |e: &toml::de::Error| Error::File {
        path: path.to_owned(),
        problem: one_line(e, text),
    };
    shape::check(text).map_err(|e| Error::File {
        path: path.to_owned(),
        problem: format!("line {}: {}", e.line, e.problem),
    })?;
    let table: toml::Table = text.parse().map_err(|e| problem(&e))?;
    toml::from_str::<RawConfig>(text).map_err(|e| problem(&e))?;
    Ok(table)
}

/// Builds the environment layer from `NODECAP_*` variables (and the AWS SDK's
/// `AWS_EC2_METADATA_SERVICE_ENDPOINT` for `imds.endpoint`). Values parse as TOML scalars,
/// so `NODECAP_MAX_ENIS=2` is a number and `NODECAP_KUBELET_BACKEND=flags` a string.
pub fn env_layer(vars: impl IntoIterator<Item = (String, String)>) -> Result<toml::Table, Error> {
    let vars: Vec<(String, String)> = vars.into_iter().collect();
    let mut table = toml::Table::new();
    let lookup = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    if let Some(endpoint) = lookup("AWS_EC2_METADATA_SERVICE_ENDPOINT") {
        set(
            &mut table,
            Some("imds"),
            "endpoint",
            toml::Value::String(endpoint),
        );
    }
    for &(section, key) in KEYS {
        let name = env_name(section, key);
        let Some(raw) = lookup(&name) else { continue };
        let mut one = toml::Table::new();
        set(&mut one, section, key, scalar(&raw));
        check(&one).map_err(|e| Error::Environment {
            name: name.clone(),
            value: Excerpt::of(&raw),
            problem: clip(e.message(), 2 * MAX_CHARS),
        })?;
        set(&mut table, section, key, scalar(&raw));
    }
    Ok(table)
}

/// `NODECAP_*` variables that name no configuration key: most likely misspelled, and
/// otherwise ignored. Kubernetes' service links for a Service named `nodecap`
/// (`NODECAP_SERVICE_HOST`, `NODECAP_PORT_…`) are not ours and not listed.
pub fn unknown_env(vars: impl IntoIterator<Item = (String, String)>) -> Vec<String> {
    let known: Vec<String> = KEYS.iter().map(|&(s, k)| env_name(s, k)).collect();
    vars.into_iter()
        .map(|(name, _)| name)
        .filter(|name| {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                return false;
            };
            let service_link =
                rest.starts_with("SERVICE_") || rest == "PORT" || rest.starts_with("PORT_");
            !service_link && !known.contains(name)
        })
        .collect()
}

/// `true`, `3` and `"x"` as TOML would read them; anything else is a string.
fn scalar(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .filter(|v| !v.is_table() && !v.is_array())
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

/// Checks a layer's keys and types without applying it.
fn check(table: &toml::Table) -> Result<(), toml::de::Error> {
    RawConfig::deserialize(toml::Value::Table(table.clone())).map(|_| ())
}

/// A toml error as one line: `line N (key): message`.
fn one_line(e: &toml::de::Error, text: &str) -> String {
    let Some(span) = e.span() else {
        return e.message().to_owned();
    };
    let start = span.start.min(text.len());
    let number = text[..start].matches('\n').count() + 1;
    let line = text.lines().nth(number - 1).unwrap_or_default();
    let message = clip(e.message(), 2 * MAX_CHARS);
    match line.split_once('=') {
        Some((key, _)) if !key.trim().is_empty() => {
            format!("line {number} ({}): {message}", clip(key.trim(), MAX_CHARS))
        }
        _ => format!("line {number}: {message}"),
    }
}

/// Merges `over` into `base`, recursing into sections.
pub fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Layers in order (file, environment, flags) → the validated configuration.
pub fn resolve(layers: Vec<(&str, toml::Table)>) -> Result<Config, Error> {
    let mut merged = toml::Table::new();
    for (layer, table) in layers {
        check(&table).map_err(|e| Error::Layer {
            layer: layer.to_owned(),
            problem: e.message().to_owned(),
        })?;
        merge(&mut merged, table);
    }
    let raw = RawConfig::deserialize(toml::Value::Table(merged)).map_err(|e| Error::Layer {
        layer: "configuration".to_owned(),
        problem: e.message().to_owned(),
    })?;
    validate(raw)
}

fn positive(key: &'static str, value: Option<u32>) -> Result<Option<u32>, Error> {
    match value {
        Some(0) => Err(value_error(key, "a positive integer", 0)),
        v => Ok(v),
    }
}

/// A CEL expression, parsed now so a bad one stops here (exit 64) with its position.
fn expression(key: &'static str, text: Option<String>) -> Result<Option<Expression>, Error> {
    text.map(|text| Expression::parse(&text).map_err(|error| Error::Expression { key, error }))
        .transpose()
}

fn validate(raw: RawConfig) -> Result<Config, Error> {
    let defaults = Config::default();
    let imds = raw.imds.unwrap_or_default();
    let kubelet = raw.kubelet.unwrap_or_default();
    let run = validate_run(raw.run.unwrap_or_default(), defaults.run)?;
    let subnets = validate_subnets(raw.subnets.unwrap_or_default())?;
    let subnets_cluster = subnets.cluster_name.clone();
    let deadline = imds
        .deadline_seconds
        .unwrap_or(defaults.imds_deadline.as_secs());
    if !(1..=3600).contains(&deadline) {
        return Err(value_error(
            "imds.deadline_seconds",
            "1 to 3600 seconds",
            deadline,
        ));
    }
    let endpoint = match imds.endpoint {
        None => defaults.imds_endpoint,
        Some(text) => text.parse().map_err(Error::Endpoint)?,
    };
    let dropin_name = kubelet.dropin_name.unwrap_or(defaults.kubelet.dropin_name);
    let name_ok = !dropin_name.is_empty()
        && !dropin_name.starts_with('.')
        && dropin_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !name_ok {
        return Err(value_error(
            "kubelet.dropin_name",
            "a file name of letters, digits, '.', '_' and '-'",
            dropin_name,
        ));
    }
    Ok(Config {
        sizing: SizingOptions {
            prefix_delegation: raw.prefix_delegation.unwrap_or(false),
            custom_networking: raw.custom_networking.unwrap_or(false),
            max_enis: positive("max_enis", raw.max_enis)?,
            reserved_enis: raw.reserved_enis.unwrap_or(0),
            ip_family: raw.ip_family.unwrap_or_default(),
            max_pods_cap: raw.max_pods_cap,
            pods_per_core: positive("pods_per_core", raw.pods_per_core)?,
            min_memory_per_pod_mib: match raw.min_memory_per_pod_mib {
                Some(0) => {
                    return Err(value_error(
                        "min_memory_per_pod_mib",
                        "a positive MiB count",
                        0,
                    ));
                }
                v => v,
            },
            max_pods: positive("max_pods", raw.max_pods)?,
            max_pods_expression: expression("max_pods_expression", raw.max_pods_expression)?,
            kube_reserved_expression: expression(
                "kube_reserved_expression",
                raw.kube_reserved_expression,
            )?,
            system_reserved_expression: expression(
                "system_reserved_expression",
                raw.system_reserved_expression,
            )?,
            profile: raw.profile.unwrap_or_default(),
        },
        fallback_max_pods: positive("fallback_max_pods", raw.fallback_max_pods)?,
        prefer_api: raw.prefer_api.unwrap_or(false),
        state_dir: raw.state_dir.unwrap_or(defaults.state_dir),
        log_format: raw.log_format.unwrap_or_default(),
        imds_endpoint: endpoint,
        imds_deadline: Duration::from_secs(deadline),
        kubelet: Targets {
            backend: kubelet.backend.unwrap_or(defaults.kubelet.backend),
            nodeadm_config_dir: kubelet
                .nodeadm_config_dir
                .unwrap_or(defaults.kubelet.nodeadm_config_dir),
            kubelet_config_dir: kubelet
                .kubelet_config_dir
                .unwrap_or(defaults.kubelet.kubelet_config_dir),
            kubelet_config: kubelet
                .kubelet_config
                .unwrap_or(defaults.kubelet.kubelet_config),
            kubelet_env_file: kubelet
                .kubelet_env_file
                .unwrap_or(defaults.kubelet.kubelet_env_file),
            dropin_name,
        },
        run,
        cloudwatch: validate_cloudwatch(raw.cloudwatch.unwrap_or_default(), subnets_cluster)?,
        subnets,
    })
}

/// An EKS cluster name: 1 to 100 letters, digits, '-' and '_', starting with a letter or
/// digit (EKS's own rule).
fn cluster_name(key: &'static str, name: String) -> Result<String, Error> {
    let ok = name.len() <= 100
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(name)
    } else {
        Err(value_error(
            key,
            "an EKS cluster name (1 to 100 letters, digits, '-' and '_')",
            name,
        ))
    }
}

/// An EC2 id ([`crate::aws::ec2::is_resource_id`]).
fn ec2_id(key: &'static str, prefix: &'static str, id: String) -> Result<String, Error> {
    if crate::aws::ec2::is_resource_id(prefix, &id) {
        Ok(id)
    } else {
        Err(value_error(
            key,
            match prefix {
                "vpc-" => "a VPC id such as vpc-0123456789abcdef0",
                _ => "subnet ids such as subnet-0123456789abcdef0",
            },
            id,
        ))
    }
}

/// Whether `region` has a region name's shape (us-east-1): lowercase letters, digits and
/// dashes, at most 32.
pub fn is_region_name(region: &str) -> bool {
    !region.is_empty()
        && region.len() <= 32
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A region name such as us-east-1.
fn aws_region_name(key: &'static str, region: String) -> Result<String, Error> {
    if is_region_name(&region) {
        Ok(region)
    } else {
        Err(value_error(key, "a region such as us-east-1", region))
    }
}

fn validate_subnets(raw: RawSubnets) -> Result<SubnetsSection, Error> {
    let defaults = SubnetsSection::default();
    let subnet_ids = match raw.subnet_ids {
        None => None,
        Some(ids) if ids.is_empty() || ids.len() > 200 => {
            return Err(value_error(
                "subnets.subnet_ids",
                "1 to 200 subnet ids",
                ids.len(),
            ));
        }
        Some(ids) => {
            let mut checked = ids
                .into_iter()
                .map(|id| ec2_id("subnets.subnet_ids", "subnet-", id))
                .collect::<Result<Vec<_>, _>>()?;
            checked.sort();
            checked.dedup();
            Some(checked)
        }
    };
    Ok(SubnetsSection {
        cluster_name: raw
            .cluster_name
            .map(|n| cluster_name("subnets.cluster_name", n))
            .transpose()?,
        vpc_id: raw
            .vpc_id
            .map(|v| ec2_id("subnets.vpc_id", "vpc-", v))
            .transpose()?,
        subnet_ids,
        region: raw
            .region
            .map(|r| aws_region_name("subnets.region", r))
            .transpose()?,
        listen: match raw.listen {
            None => defaults.listen,
            Some(text) => text.parse().map_err(|_| {
                value_error(
                    "subnets.listen",
                    "an address and port such as 0.0.0.0:61683",
                    text,
                )
            })?,
        },
        interval: match raw.interval {
            None => defaults.interval,
            Some(text) => interval_key("subnets.interval", &text)?,
        },
        timeout: raw
            .timeout
            .map(|text| interval_key("subnets.timeout", &text))
            .transpose()?,
        web_config_file: raw.web_config_file,
    })
}

/// `subnets_cluster`: the cluster `[subnets]` names, the `ClusterName` when neither
/// `cluster_name` nor `cluster_name_from` is set (it is the same cluster).
fn validate_cloudwatch(
    raw: RawCloudwatch,
    subnets_cluster: Option<String>,
) -> Result<Option<cloudwatch::Settings>, Error> {
    if !raw.enabled.unwrap_or(false) {
        return Ok(None);
    }
    let cluster_name = raw.cluster_name.filter(|n| !n.trim().is_empty());
    let cluster_name_from = raw
        .cluster_name_from
        .as_deref()
        .map(cluster_name_source)
        .transpose()?;
    let cluster_name = match (cluster_name, &cluster_name_from) {
        (Some(name), None) => {
            cloudwatch::dimension_value("cloudwatch.cluster_name", &name)?;
            name
        }
        (None, Some(_)) => String::new(),
        (Some(_), Some(_)) => return Err(Error::ClusterNameTwice),
        (None, None) => subnets_cluster.ok_or(Error::ClusterNameMissing)?,
    };
    let namespace = raw.namespace.unwrap_or_else(|| "nodecap".to_owned());
    if namespace.is_empty() || namespace.starts_with(':') || namespace.starts_with("AWS/") {
        return Err(value_error(
            "cloudwatch.namespace",
            "a custom namespace (not empty, not AWS/...)",
            namespace,
        ));
    }
    cloudwatch::dimension_value("cloudwatch.namespace", &namespace)?;
    if let Some(name) = &raw.node_name {
        cloudwatch::dimension_value("cloudwatch.node_name", name)?;
    }
    let interval = match raw.publish_interval {
        None => Duration::from_secs(60),
        Some(text) => interval_key("cloudwatch.publish_interval", &text)?,
    };
    let queue_datums = match raw.queue_datums {
        Some(0) => {
            return Err(value_error(
                "cloudwatch.queue_datums",
                "a positive integer",
                0,
            ));
        }
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        None => 10_000,
    };
    Ok(Some(cloudwatch::Settings {
        cluster_name,
        cluster_name_from,
        namespace,
        interval,
        per_node: raw.per_node.unwrap_or(false),
        node_name: raw.node_name,
        compat: raw.cni_metrics_helper_compat.unwrap_or(false),
        queue_datums,
        region: raw.region,
    }))
}

/// `tag:KEY` or `label:KEY`.
fn cluster_name_source(text: &str) -> Result<ClusterNameSource, Error> {
    match text.split_once(':') {
        Some(("tag", key)) if !key.is_empty() && !key.contains('/') => {
            Ok(ClusterNameSource::Tag(key.to_owned()))
        }
        Some(("label", key)) if !key.is_empty() && !key.contains([',', '=']) => {
            Ok(ClusterNameSource::Label(key.to_owned()))
        }
        _ => Err(value_error(
            "cloudwatch.cluster_name_from",
            "tag:KEY (an instance tag in IMDS, e.g. tag:eks:cluster-name) or label:KEY (a kubelet node label)",
            text,
        )),
    }
}

fn validate_run(raw: RawRun, defaults: RunSettings) -> Result<RunSettings, Error> {
    let listen = match raw.listen {
        None => defaults.listen,
        Some(text) => text.parse().map_err(|_| {
            value_error(
                "run.listen",
                "an address and port such as 127.0.0.1:61682",
                text,
            )
        })?,
    };
    let interval = match raw.interval {
        None => defaults.interval,
        Some(text) => interval_key("run.interval", &text)?,
    };
    Ok(RunSettings {
        listen,
        interval,
        ipamd_metrics_url: http_url(
            "run.ipamd_metrics_url",
            "an http:// URL such as http://127.0.0.1:61678/metrics",
            raw.ipamd_metrics_url,
            defaults.ipamd_metrics_url,
        )?,
        ipamd_introspection_url: http_url(
            "run.ipamd_introspection_url",
            "an http:// URL such as http://127.0.0.1:61679/v1/enis",
            raw.ipamd_introspection_url,
            defaults.ipamd_introspection_url,
        )?,
        proc_root: raw.proc_root.unwrap_or(defaults.proc_root),
        sys_root: raw.sys_root.unwrap_or(defaults.sys_root),
        web_config_file: raw.web_config_file.or(defaults.web_config_file),
        cni_declared: Declared {
            minimum_ip_target: raw.minimum_ip_target,
            warm_prefix_target: raw.warm_prefix_target,
        },
    })
}

/// An `http://HOST[:PORT]/PATH` URL (ipamd serves plain HTTP on loopback).
fn http_url(
    key: &'static str,
    expected: &'static str,
    value: Option<String>,
    default: hyper::Uri,
) -> Result<hyper::Uri, Error> {
    let Some(value) = value else {
        return Ok(default);
    };
    let valid = value
        .strip_prefix("http://")
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
    match value.parse::<hyper::Uri>() {
        Ok(uri) if valid => Ok(uri),
        _ => Err(value_error(key, expected, value)),
    }
}

/// An interval key's value: a duration from 1 s to 1 h.
fn interval_key(key: &'static str, text: &str) -> Result<Duration, Error> {
    parse_duration(text)
        .filter(|d| (Duration::from_secs(1)..=Duration::from_secs(3600)).contains(d))
        .ok_or_else(|| value_error(key, "a duration from 1s to 1h such as 60s or 2m", text))
}

/// `500ms`, `1s`, `60s`, `2m`, `1h` (`humantime`'s syntax), or a bare number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    match text.parse::<u64>() {
        Ok(seconds) => Some(Duration::from_secs(seconds)),
        Err(_) => humantime::parse_duration(text).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uncommented_defaults() -> String {
        DEFAULTS
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest) if rest.contains(" = ") && !rest.starts_with(' ') => rest,
                _ => line,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn defaults_file_lists_every_key_and_matches_the_code() {
        let text = uncommented_defaults();
        let table: toml::Table = text.parse().unwrap();
        for &(section, key) in KEYS {
            let present = match section {
                None => table.contains_key(key),
                Some(s) => table[s].as_table().unwrap().contains_key(key),
            };
            assert!(present, "DEFAULTS lacks {section:?}.{key}");
        }
        let top_level = table.keys().filter(|k| !table[*k].is_table()).count();
        let sections: usize = table
            .values()
            .filter_map(|v| v.as_table())
            .map(|t| t.len())
            .sum();
        assert_eq!(
            top_level + sections,
            KEYS.len(),
            "KEYS lacks a key of DEFAULTS"
        );
        // The values shown are the defaults, except the examples of keys that are unset.
        let mut shown = table.clone();
        for key in [
            "max_enis",
            "pods_per_core",
            "max_pods",
            "fallback_max_pods",
            "max_pods_cap",
            "min_memory_per_pod_mib",
            "max_pods_expression",
            "kube_reserved_expression",
            "system_reserved_expression",
        ] {
            shown.remove(key);
        }
        if let Some(run) = shown.get_mut("run").and_then(|v| v.as_table_mut()) {
            for key in ["web_config_file", "minimum_ip_target", "warm_prefix_target"] {
                run.remove(key);
            }
        }
        // The cloudwatch section shows examples of unset keys too (and is off by default).
        if let Some(cw) = shown.get_mut("cloudwatch").and_then(|v| v.as_table_mut()) {
            for key in ["cluster_name", "node_name", "region"] {
                cw.remove(key);
            }
        }
        if let Some(subnets) = shown.get_mut("subnets").and_then(|v| v.as_table_mut()) {
            for key in [
                "cluster_name",
                "vpc_id",
                "subnet_ids",
                "region",
                "timeout",
                "web_config_file",
            ] {
                subnets.remove(key);
            }
        }
        let config = resolve(vec![("defaults", shown)]).unwrap();
        assert_eq!(config, Config::default());
        // And the file as printed (all commented) is the defaults too.
        let printed: toml::Table = DEFAULTS.parse().unwrap();
        assert_eq!(
            resolve(vec![("printed", printed)]).unwrap(),
            Config::default()
        );
    }

    #[test]
    fn layers_override_in_order() {
        let file: toml::Table =
            "max_enis = 2\nprofile = \"eks\"\n[kubelet]\nbackend = \"nodeadm\"\n"
                .parse()
                .unwrap();
        let env = env_layer([
            ("NODECAP_MAX_ENIS".to_owned(), "3".to_owned()),
            ("NODECAP_KUBELET_BACKEND".to_owned(), "flags".to_owned()),
            ("NODECAP_MAX_PODS_CAP".to_owned(), "200".to_owned()),
            (
                "AWS_EC2_METADATA_SERVICE_ENDPOINT".to_owned(),
                "http://127.0.0.1:9".to_owned(),
            ),
            ("UNRELATED".to_owned(), "x".to_owned()),
        ])
        .unwrap();
        let mut flags = toml::Table::new();
        set(&mut flags, None, "max_enis", toml::Value::Integer(4));
        let config = resolve(vec![("file", file), ("env", env), ("flags", flags)]).unwrap();
        assert_eq!(config.sizing.max_enis, Some(4));
        assert_eq!(config.sizing.profile, Profile::Eks);
        assert_eq!(config.sizing.max_pods_cap, Some(CapPolicy::Fixed(200)));
        assert_eq!(config.kubelet.backend, Backend::Flags);
        assert_eq!(config.imds_endpoint.to_string(), "http://127.0.0.1:9");
    }

    #[test]
    fn bad_input_names_the_key_and_the_expected_form() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "prefix_delegation = true\nmax_enis = \"two\"\n").unwrap();
        let err = file_layer(&path, true).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("config {}: line 2 (max_enis):", path.display())),
            "{err}"
        );
        assert!(err.contains("expected u32"), "{err}");
        assert_eq!(err.lines().count(), 1);

        std::fs::write(&path, "[kubelet]\nbakend = \"flags\"\n").unwrap();
        let err = file_layer(&path, true).unwrap_err().to_string();
        assert!(
            err.contains("line 2 (bakend): unknown field `bakend`"),
            "{err}"
        );

        std::fs::write(&path, "max_pods_cap = \"lots\"\n").unwrap();
        let err = file_layer(&path, true).unwrap_err().to_string();
        assert!(
            err.contains("expected eks, none, memory or a positive pod count"),
            "{err}"
        );

        std::fs::write(&path, "this is not toml").unwrap();
        assert!(
            file_layer(&path, true)
                .unwrap_err()
                .to_string()
                .contains("line 1")
        );

        let unknown = unknown_env(
            [
                "NODECAP_MAX_ENIS",
                "NODECAP_MAX_ENI",
                "NODECAP_SERVICE_HOST",
                "NODECAP_PORT_9100_TCP",
                "PATH",
            ]
            .map(|n| (n.to_owned(), String::new())),
        );
        assert_eq!(unknown, ["NODECAP_MAX_ENI"]);
        let err = env_layer([("NODECAP_IP_FAMILY".to_owned(), "ipv5".to_owned())]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("environment NODECAP_IP_FAMILY=\"ipv5\": unknown variant `ipv5`"),
            "{err}"
        );

        let zero: toml::Table = "max_pods = 0".parse().unwrap();
        let err = resolve(vec![("file", zero)]).unwrap_err().to_string();
        assert_eq!(err, "max_pods: expected a positive integer, got 0");

        let deadline: toml::Table = "[imds]\ndeadline_seconds = 0".parse().unwrap();
        assert!(resolve(vec![("file", deadline)]).is_err());
        let name: toml::Table = "[kubelet]\ndropin_name = \"../x\"".parse().unwrap();
        assert!(
            resolve(vec![("file", name)])
                .unwrap_err()
                .to_string()
                .starts_with("kubelet.dropin_name")
        );
        let endpoint: toml::Table = "[imds]\nendpoint = \"169.254.169.254\"".parse().unwrap();
        assert!(
            resolve(vec![("file", endpoint)])
                .unwrap_err()
                .to_string()
                .starts_with("imds.endpoint")
        );
    }

    #[test]
    fn cloudwatch_settings() {
        let off = resolve(vec![]).unwrap();
        assert_eq!(off.cloudwatch, None);
        let on: toml::Table =
            "[cloudwatch]\nenabled = true\ncluster_name = \"bars\"\npublish_interval = \"1s\"\n"
                .parse()
                .unwrap();
        let cw = resolve(vec![("file", on)]).unwrap().cloudwatch.unwrap();
        assert_eq!(
            (cw.cluster_name.as_str(), cw.namespace.as_str()),
            ("bars", "nodecap")
        );
        assert_eq!(cw.interval, Duration::from_secs(1));
        assert_eq!(
            (cw.per_node, cw.compat, cw.queue_datums),
            (false, false, 10_000)
        );
        for (text, source) in [
            (
                "tag:eks:cluster-name",
                ClusterNameSource::Tag("eks:cluster-name".to_owned()),
            ),
            (
                "label:alpha.eksctl.io/cluster-name",
                ClusterNameSource::Label("alpha.eksctl.io/cluster-name".to_owned()),
            ),
        ] {
            let layer: toml::Table =
                format!("[cloudwatch]\nenabled = true\ncluster_name_from = {text:?}\n")
                    .parse()
                    .unwrap();
            let cw = resolve(vec![("file", layer)]).unwrap().cloudwatch.unwrap();
            assert_eq!(
                (cw.cluster_name.as_str(), cw.cluster_name_from),
                ("", Some(source))
            );
        }
        for (text, expected) in [
            ("enabled = true", "cloudwatch.cluster_name: required"),
            (
                "enabled = true\ncluster_name = \"b\"\nnamespace = \"AWS/EC2\"",
                "cloudwatch.namespace",
            ),
            (
                "enabled = true\ncluster_name = \"b\"\npublish_interval = \"0s\"",
                "cloudwatch.publish_interval",
            ),
            (
                "enabled = true\ncluster_name = \"b\"\nqueue_datums = 0",
                "cloudwatch.queue_datums",
            ),
            (
                "enabled = true\ncluster_name = \"b\"\ncluster_name_from = \"tag:eks:cluster-name\"",
                "cloudwatch.cluster_name_from: expected either",
            ),
            (
                "enabled = true\ncluster_name_from = \"eks:cluster-name\"",
                "cloudwatch.cluster_name_from: expected tag:KEY",
            ),
            (
                "enabled = true\ncluster_name_from = \"label:\"",
                "cloudwatch.cluster_name_from: expected tag:KEY",
            ),
            (
                "enabled = true\ncluster_name = \"a\tb\"",
                "cloudwatch.cluster_name: expected 1 to 255",
            ),
        ] {
            let layer: toml::Table = format!("[cloudwatch]\n{text}\n").parse().unwrap();
            let err = resolve(vec![("file", layer)]).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{text}: {err}");
        }
    }

    #[test]
    fn run_settings() {
        let ok: toml::Table =
            "[run]\nlisten = \"0.0.0.0:9100\"\ninterval = \"2m\"\nproc_root = \"/host/proc\"\n"
                .parse()
                .unwrap();
        let run = resolve(vec![("file", ok)]).unwrap().run;
        assert_eq!(run.listen.to_string(), "0.0.0.0:9100");
        assert_eq!(run.interval, Duration::from_secs(120));
        assert_eq!(run.proc_root, PathBuf::from("/host/proc"));
        for (text, expected) in [
            (
                "listen = \"localhost\"",
                "run.listen: expected an address and port",
            ),
            (
                "interval = \"0s\"",
                "run.interval: expected a duration from 1s to 1h",
            ),
            ("interval = \"2d\"", "run.interval"),
            ("interval = \"500ms\"", "run.interval"),
            (
                "ipamd_metrics_url = \"https://x/metrics\"",
                "run.ipamd_metrics_url: expected an http:// URL",
            ),
            (
                "ipamd_introspection_url = \"http:///v1/enis\"",
                "run.ipamd_introspection_url",
            ),
        ] {
            let layer: toml::Table = format!("[run]\n{text}\n").parse().unwrap();
            let err = resolve(vec![("file", layer)]).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{text}: {err}");
        }
        assert_eq!(parse_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m 30s"), Some(Duration::from_secs(150)));
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("-1s"), None);
    }

    #[test]
    fn missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.toml");
        assert!(file_layer(&path, false).unwrap().is_empty());
        let err = crate::error::Chain(&file_layer(&path, true).unwrap_err()).to_string();
        assert!(
            err.contains("absent.toml") && err.contains("No such file"),
            "{err}"
        );
    }

    #[test]
    fn subnets_section() {
        use crate::subnets::Selection;
        let env = |vars: &[(&str, &str)]| {
            env_layer(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
        };
        // The environment's comma-separated ids; the file's array.
        let layer = env(&[("NODECAP_SUBNETS_SUBNET_IDS", "subnet-0b, subnet-0a")]).unwrap();
        let config = resolve(vec![("environment", layer)]).unwrap();
        assert_eq!(
            config
                .subnets(Some("us-west-2".to_owned()))
                .unwrap()
                .selection,
            Selection::Ids(vec!["subnet-0a".to_owned(), "subnet-0b".to_owned()])
        );
        let file = parse_layer(
            "[subnets]\nsubnet_ids = [\"subnet-0c\"]\ncluster_name = \"prod\"\n",
            Path::new("f.toml"),
        )
        .unwrap();
        let config = resolve(vec![("file", file)]).unwrap();
        assert_eq!(
            config.subnets.subnet_ids,
            Some(vec!["subnet-0c".to_owned()])
        );

        // A cluster, with or without its VPC; a VPC alone.
        let file = parse_layer(
            "[subnets]\ncluster_name = \"prod\"\nvpc_id = \"vpc-0a\"\nregion = \"eu-west-1\"\n",
            Path::new("f.toml"),
        )
        .unwrap();
        let settings = resolve(vec![("file", file)])
            .unwrap()
            .subnets(None)
            .unwrap();
        assert_eq!(
            settings.selection,
            Selection::Cluster {
                name: "prod".to_owned(),
                vpc_id: Some("vpc-0a".to_owned())
            }
        );
        assert_eq!(settings.region, "eu-west-1");
        assert_eq!(settings.interval, Duration::from_secs(300));

        // Nothing to select, no region: one line naming the key.
        let none = Config::default();
        assert_eq!(
            none.subnets(Some("us-east-1".to_owned()))
                .unwrap_err()
                .to_string(),
            "subnets: which subnets? set subnets.cluster_name (--cluster-name: the cluster's tagged subnets), subnets.subnet_ids or subnets.vpc_id"
        );
        let vpc = parse_layer("[subnets]\nvpc_id = \"vpc-0a\"\n", Path::new("f.toml")).unwrap();
        let config = resolve(vec![("file", vpc)]).unwrap();
        assert_eq!(
            config.subnets(None).unwrap_err().to_string(),
            "subnets.region: required (--region, or AWS_REGION)"
        );
        assert_eq!(
            config
                .subnets(Some("us-east-1".to_owned()))
                .unwrap()
                .selection,
            Selection::Vpc("vpc-0a".to_owned())
        );

        // Bad values: named, quoted short.
        for (text, message) in [
            (
                "vpc_id = \"vpc-XYZ\"",
                "subnets.vpc_id: expected a VPC id such as vpc-0123456789abcdef0, got \"vpc-XYZ\"",
            ),
            (
                "subnet_ids = \"subnet-0a,sg-1\"",
                "subnets.subnet_ids: expected subnet ids such as subnet-0123456789abcdef0, got \"sg-1\"",
            ),
            (
                "cluster_name = \"-bad\"",
                "subnets.cluster_name: expected an EKS cluster name (1 to 100 letters, digits, '-' and '_'), got \"-bad\"",
            ),
            (
                "interval = \"2h\"",
                "subnets.interval: expected a duration from 1s to 1h such as 60s or 2m, got \"2h\"",
            ),
            (
                "timeout = \"0s\"",
                "subnets.timeout: expected a duration from 1s to 1h such as 60s or 2m, got \"0s\"",
            ),
        ] {
            let layer = parse_layer(&format!("[subnets]\n{text}\n"), Path::new("f.toml")).unwrap();
            let err = resolve(vec![("file", layer)]).unwrap_err().to_string();
            assert_eq!(err, message);
        }

        // CloudWatch without cluster_name publishes under the cluster watched.
        let file = parse_layer(
            "[cloudwatch]\nenabled = true\n[subnets]\ncluster_name = \"prod\"\n",
            Path::new("f.toml"),
        )
        .unwrap();
        let config = resolve(vec![("file", file)]).unwrap();
        let cw = config
            .subnets(Some("us-east-1".to_owned()))
            .unwrap()
            .cloudwatch
            .unwrap();
        assert_eq!(cw.cluster_name, "prod");
    }
}
