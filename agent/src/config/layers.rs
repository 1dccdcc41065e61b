//! The layers and their mechanics: every key ([`KEYS`]), the file, environment and flag
//! layers as TOML tables, each checked alone, merged in order and [`resolve`]d.

use std::path::Path;

use serde::Deserialize;

use crate::core::excerpt::{Excerpt, MAX_CHARS, clip};

use super::checked::Config;
use super::error::Error;
use super::raw::RawConfig;
use super::shape;
use super::validate::validate;

/// The prefix of every environment variable nodecap reads.
const ENV_PREFIX: &str = "NODECAP_";

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

pub(super) fn env_name(section: Option<&str>, key: &str) -> String {
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
pub(super) fn scalar(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .filter(|v| !v.is_table() && !v.is_array())
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

/// Checks a layer's keys and types without applying it.
pub(super) fn check(table: &toml::Table) -> Result<(), toml::de::Error> {
    RawConfig::deserialize(toml::Value::Table(table.clone())).map(|_| ())
}

/// A toml error as one line: `line N (key): message`.
pub(super) fn one_line(e: &toml::de::Error, text: &str) -> String {
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
