//! The checked configuration and its hand-off: each stage gets its own settings
//! ([`Config::init`], [`Config::daemon`], [`Config::subnets`]) and never sees the file's shape.

use std::path::PathBuf;
use std::time::Duration;

use crate::aws::imds;
use crate::aws::limits::Lookup;
use crate::core::sizing::SizingOptions;
use crate::daemon::collect::Sources;
use crate::daemon::collect::ipamd_settings::Declared;
use crate::kubelet::Targets;
use crate::logging::LogFormat;
use crate::telemetry::cloudwatch::{self};

use super::error::Error;
use crate::core::names::{ClusterName, DimensionValue, Region, SubnetId, VpcId};

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
    pub cluster_name: Option<ClusterName>,
    pub vpc_id: Option<VpcId>,
    pub subnet_ids: Option<Vec<SubnetId>>,
    pub region: Option<Region>,
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
    pub fn subnets(&self, aws_region: Option<Region>) -> Result<crate::subnets::Settings, Error> {
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
        let region = match (&s.region, aws_region) {
            (Some(region), _) => region.clone(),
            (None, Some(region)) => region,
            (None, None) => return Err(Error::NoRegion),
        };
        // The ClusterName dimension: cloudwatch.cluster_name, else the cluster watched.
        let cloudwatch = match self.cloudwatch.clone() {
            Some(mut cw) => {
                if cw.cluster_name.is_none() {
                    let watched = s.cluster_name.as_ref().ok_or(Error::ClusterNameMissing)?;
                    cw.cluster_name = Some(DimensionValue::from(watched));
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
