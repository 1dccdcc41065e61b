//! The checked configuration and its hand-off: each stage gets its own settings
//! ([`Config::init`], [`Config::daemon`], [`Config::subnets`]) and never sees the file's shape.

use std::path::PathBuf;
use std::time::Duration;

use crate::aws::imds;
use crate::aws::limits::Lookup;
use crate::core::sizing::SizingOptions;
use crate::daemon::RunSettings;
use crate::kubelet::Targets;
use crate::logging::LogFormat;
use crate::subnets::Section as SubnetsSection;
use crate::telemetry::cloudwatch::{self};

use super::error::Error;
use crate::core::names::{DimensionValue, Region};

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
        Config {
            sizing: lookup.options,
            fallback_max_pods: lookup.fallback_max_pods,
            prefer_api: lookup.prefer_api,
            state_dir: lookup.state_dir,
            log_format: LogFormat::Text,
            imds_endpoint: imds::Endpoint::default(),
            imds_deadline: lookup.deadline,
            kubelet: Targets::default(),
            run: RunSettings::default(),
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
        crate::daemon::Settings::new(
            self.run.clone(),
            self.imds_endpoint.clone(),
            self.lookup(),
            self.kubelet.clone(),
            self.cloudwatch.clone(),
        )
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
