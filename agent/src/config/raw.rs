//! The raw shapes of a layer as written (file, environment, flags): every key optional,
//! unknown keys rejected; serde reads them, `validate` checks them.

use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

use crate::core::sizing::{CapPolicy, IpFamily, Profile};
use crate::kubelet::Backend;
use crate::logging::LogFormat;

/// One layer as written: every key optional, unknown keys rejected.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) prefix_delegation: Option<bool>,
    pub(super) custom_networking: Option<bool>,
    pub(super) max_enis: Option<u32>,
    pub(super) reserved_enis: Option<u32>,
    pub(super) ip_family: Option<IpFamily>,
    pub(super) profile: Option<Profile>,
    #[serde(default, deserialize_with = "cap_policy")]
    pub(super) max_pods_cap: Option<CapPolicy>,
    pub(super) pods_per_core: Option<u32>,
    pub(super) min_memory_per_pod_mib: Option<u64>,
    pub(super) max_pods: Option<u32>,
    pub(super) max_pods_expression: Option<String>,
    pub(super) kube_reserved_expression: Option<String>,
    pub(super) system_reserved_expression: Option<String>,
    pub(super) fallback_max_pods: Option<u32>,
    pub(super) prefer_api: Option<bool>,
    pub(super) state_dir: Option<PathBuf>,
    pub(super) log_format: Option<LogFormat>,
    pub(super) imds: Option<RawImds>,
    pub(super) kubelet: Option<RawKubelet>,
    pub(super) run: Option<RawRun>,
    pub(super) cloudwatch: Option<RawCloudwatch>,
    pub(super) subnets: Option<RawSubnets>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSubnets {
    pub(super) cluster_name: Option<String>,
    pub(super) vpc_id: Option<String>,
    #[serde(default, deserialize_with = "string_list")]
    pub(super) subnet_ids: Option<Vec<String>>,
    pub(super) region: Option<String>,
    pub(super) listen: Option<String>,
    pub(super) interval: Option<String>,
    pub(super) timeout: Option<String>,
    pub(super) web_config_file: Option<PathBuf>,
}

/// A list of strings: a TOML array, or one comma-separated string (the environment's and a
/// flag's form).
pub(super) fn string_list<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<String>>, D::Error> {
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
pub(super) struct RawCloudwatch {
    pub(super) enabled: Option<bool>,
    pub(super) cluster_name: Option<String>,
    pub(super) cluster_name_from: Option<String>,
    pub(super) namespace: Option<String>,
    pub(super) publish_interval: Option<String>,
    pub(super) per_node: Option<bool>,
    pub(super) node_name: Option<String>,
    pub(super) cni_metrics_helper_compat: Option<bool>,
    pub(super) queue_datums: Option<u32>,
    pub(super) region: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRun {
    pub(super) listen: Option<String>,
    pub(super) interval: Option<String>,
    pub(super) ipamd_metrics_url: Option<String>,
    pub(super) ipamd_introspection_url: Option<String>,
    pub(super) proc_root: Option<PathBuf>,
    pub(super) sys_root: Option<PathBuf>,
    pub(super) web_config_file: Option<PathBuf>,
    pub(super) minimum_ip_target: Option<u32>,
    pub(super) warm_prefix_target: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawImds {
    pub(super) endpoint: Option<String>,
    pub(super) deadline_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKubelet {
    pub(super) backend: Option<Backend>,
    pub(super) nodeadm_config_dir: Option<PathBuf>,
    pub(super) kubelet_config_dir: Option<PathBuf>,
    pub(super) kubelet_config: Option<PathBuf>,
    pub(super) kubelet_env_file: Option<PathBuf>,
    pub(super) dropin_name: Option<String>,
}

/// `max_pods_cap = "eks" | "none" | N`.
pub(super) fn cap_policy<'de, D: Deserializer<'de>>(d: D) -> Result<Option<CapPolicy>, D::Error> {
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
