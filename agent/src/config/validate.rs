//! The merged layers checked section by section into a [`Config`].

use std::time::Duration;

use crate::core::sizing::SizingOptions;
use crate::daemon::collect::ipamd_settings::Declared;
use crate::kubelet::Targets;
use crate::telemetry::cloudwatch::{self, ClusterNameSource};

use super::checked::Config;
use super::error::{Error, value_error};
use super::raw::*;
use super::values::*;
use crate::core::names::{ClusterName, DimensionValue, SubnetId};
use crate::daemon::RunSettings;
use crate::subnets::Section as SubnetsSection;

pub(super) fn validate(mut raw: RawConfig) -> Result<Config, Error> {
    let defaults = Config::default();
    let imds = raw.imds.take().unwrap_or_default();
    let run = validate_run(raw.run.take().unwrap_or_default(), defaults.run)?;
    let subnets = validate_subnets(raw.subnets.take().unwrap_or_default())?;
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
    Ok(Config {
        sizing: validate_sizing(&raw)?,
        fallback_max_pods: positive("fallback_max_pods", raw.fallback_max_pods)?,
        prefer_api: raw.prefer_api.unwrap_or(false),
        state_dir: raw.state_dir.unwrap_or(defaults.state_dir),
        log_format: raw.log_format.unwrap_or_default(),
        imds_endpoint: endpoint,
        imds_deadline: Duration::from_secs(deadline),
        kubelet: validate_kubelet(raw.kubelet.unwrap_or_default(), defaults.kubelet)?,
        run,
        cloudwatch: validate_cloudwatch(raw.cloudwatch.unwrap_or_default(), subnets_cluster)?,
        subnets,
    })
}

/// The top-level sizing keys.
fn validate_sizing(raw: &RawConfig) -> Result<SizingOptions, Error> {
    let expression_key = |key, text: &Option<String>| expression(key, text.clone());
    Ok(SizingOptions {
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
        max_pods_expression: expression_key("max_pods_expression", &raw.max_pods_expression)?,
        kube_reserved_expression: expression_key(
            "kube_reserved_expression",
            &raw.kube_reserved_expression,
        )?,
        system_reserved_expression: expression_key(
            "system_reserved_expression",
            &raw.system_reserved_expression,
        )?,
        profile: raw.profile.unwrap_or_default(),
    })
}

/// The `[kubelet]` section: the backend and the files it writes or reads.
fn validate_kubelet(kubelet: RawKubelet, defaults: Targets) -> Result<Targets, Error> {
    let dropin_name = kubelet.dropin_name.unwrap_or(defaults.dropin_name);
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
    Ok(Targets {
        backend: kubelet.backend.unwrap_or(defaults.backend),
        nodeadm_config_dir: kubelet
            .nodeadm_config_dir
            .unwrap_or(defaults.nodeadm_config_dir),
        kubelet_config_dir: kubelet
            .kubelet_config_dir
            .unwrap_or(defaults.kubelet_config_dir),
        kubelet_config: kubelet.kubelet_config.unwrap_or(defaults.kubelet_config),
        kubelet_env_file: kubelet
            .kubelet_env_file
            .unwrap_or(defaults.kubelet_env_file),
        dropin_name,
    })
}

pub(super) fn validate_subnets(raw: RawSubnets) -> Result<SubnetsSection, Error> {
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
                .map(|id| name::<SubnetId>("subnets.subnet_ids", id))
                .collect::<Result<Vec<_>, _>>()?;
            checked.sort();
            checked.dedup();
            Some(checked)
        }
    };
    Ok(SubnetsSection {
        cluster_name: raw
            .cluster_name
            .map(|n| name("subnets.cluster_name", n))
            .transpose()?,
        vpc_id: raw.vpc_id.map(|v| name("subnets.vpc_id", v)).transpose()?,
        subnet_ids,
        region: raw.region.map(|r| name("subnets.region", r)).transpose()?,
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
pub(super) fn validate_cloudwatch(
    raw: RawCloudwatch,
    subnets_cluster: Option<ClusterName>,
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
        (Some(cluster), None) => Some(name("cloudwatch.cluster_name", cluster)?),
        // Read on the node at start (`daemon::collect::cluster_name`).
        (None, Some(_)) => None,
        (Some(_), Some(_)) => return Err(Error::ClusterNameTwice),
        (None, None) => Some(DimensionValue::from(
            &subnets_cluster.ok_or(Error::ClusterNameMissing)?,
        )),
    };
    let namespace = raw.namespace.unwrap_or_else(|| "nodecap".to_owned());
    if namespace.is_empty() || namespace.starts_with(':') || namespace.starts_with("AWS/") {
        return Err(value_error(
            "cloudwatch.namespace",
            "a custom namespace (not empty, not AWS/...)",
            namespace,
        ));
    }
    let namespace = name::<DimensionValue>("cloudwatch.namespace", namespace)?.to_string();
    let node_name = raw
        .node_name
        .map(|n| name("cloudwatch.node_name", n))
        .transpose()?;
    let region = raw
        .region
        .map(|r| name("cloudwatch.region", r))
        .transpose()?;
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
        node_name,
        compat: raw.cni_metrics_helper_compat.unwrap_or(false),
        queue_datums,
        region,
    }))
}

/// `tag:KEY` or `label:KEY`.
pub(super) fn cluster_name_source(text: &str) -> Result<ClusterNameSource, Error> {
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

pub(super) fn validate_run(raw: RawRun, defaults: RunSettings) -> Result<RunSettings, Error> {
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
