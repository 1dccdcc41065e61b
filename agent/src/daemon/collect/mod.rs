//! Collection: one module per source, each behind the [`Collector`] trait and each failing
//! alone. [`Collectors::collect`] runs them all once (a tick), concurrently, each under its
//! own timeout, so a tick takes as long as its slowest source; it returns [`Observations`],
//! plain data and the only input of the snapshot.
//!
//! What every collector is and the one wrapper that runs it are in `collector.rs`: the
//! [`Collector`] trait, and [`Slot`], which times the run, turns the outcome into a
//! [`Status`] (ok, failed with why, or not applicable: the source does not exist on this
//! node, which is not a failure), and, for a collector that asks for it, serves the last good
//! reading marked stale when a run fails.
//!
//! | collector | source | module |
//! |---|---|---|
//! | `imds` | IMDS: identity and limits (once), ENIs (each tick) | [`imds`] |
//! | `ipamd_metrics` | ipamd `/metrics` (Prometheus text) | [`ipamd_metrics`] |
//! | `ipamd_introspection` | ipamd `/v1/enis` (JSON) | [`ipamd_enis`] |
//! | `ipamd_settings` | ipamd `/v1/ipamd-env-settings`, `/v1/eni-configs` (JSON) | [`ipamd_settings`] |
//! | `memory` | procfs `meminfo`, memory cgroups | [`memory`] |
//! | `ena` | ENA ethtool statistics (ioctl) | [`ena`] |
//! | `kubelet` | the kubelet's configuration files | [`kubelet`] |
//!
//! Each module owns its metric families and its part of the snapshot (an [`Export`]).

pub mod cluster_name;
mod collector;
pub mod ena;
pub mod ethtool;
mod http;
pub mod imds;
pub mod ipamd_enis;
pub mod ipamd_metrics;
pub mod ipamd_settings;
pub mod kubelet;
pub mod memory;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::aws::imds::Endpoint;
use crate::aws::limits::Lookup;
use crate::core::node::Node;
use crate::kubelet::Targets;

pub use collector::{
    APPLICABLE, Collector, CollectorId, DURATION, Failure, Health, Reading, STALE, SUCCESS, Slot,
    Status,
};

/// Where the collectors read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources {
    pub imds: Endpoint,
    /// How the IMDS collector sizes the node (once).
    pub lookup: Lookup,
    pub ipamd_metrics_url: hyper::Uri,
    /// ipamd's `/v1/enis`; its settings endpoints are on the same address.
    pub ipamd_introspection_url: hyper::Uri,
    /// What aws-node is set to where ipamd does not say.
    pub cni_declared: ipamd_settings::Declared,
    /// The host's procfs and sysfs (a container mounts them elsewhere).
    pub proc_root: PathBuf,
    pub sys_root: PathBuf,
    pub kubelet: Targets,
}

impl Default for Sources {
    fn default() -> Self {
        Sources {
            imds: Endpoint::default(),
            lookup: Lookup::default(),
            ipamd_metrics_url: hyper::Uri::from_static("http://127.0.0.1:61678/metrics"),
            ipamd_introspection_url: hyper::Uri::from_static("http://127.0.0.1:61679/v1/enis"),
            cni_declared: ipamd_settings::Declared::default(),
            proc_root: PathBuf::from("/proc"),
            sys_root: PathBuf::from("/sys"),
            kubelet: Targets::default(),
        }
    }
}

/// Everything one tick saw.
#[derive(Debug, Clone)]
pub struct Observations {
    pub taken_at: SystemTime,
    pub imds: Option<imds::Imds>,
    pub ipamd_metrics: Option<ipamd_metrics::IpamdMetrics>,
    pub ipamd_pools: Option<ipamd_enis::IpamdPools>,
    pub ipamd_settings: Option<ipamd_settings::IpamdSettings>,
    pub memory: Option<memory::Memory>,
    pub ena: Option<ena::Ena>,
    pub kubelet: Option<kubelet::KubeletView>,
    /// One per collector, in [`CollectorId::ALL`] order.
    pub statuses: Vec<Status>,
}

impl Observations {
    /// What the node is, once IMDS and its limits have told.
    pub fn node(&self) -> Option<&Node> {
        self.imds.as_ref().and_then(|i| i.node.as_deref())
    }
}

/// The collectors and the little state they keep between ticks.
#[derive(Debug)]
pub struct Collectors {
    imds: Slot<imds::ImdsCollector>,
    ipamd_metrics: Slot<ipamd_metrics::IpamdMetricsCollector>,
    ipamd_introspection: Slot<ipamd_enis::IntrospectionCollector>,
    ipamd_settings: Slot<ipamd_settings::IpamdSettingsCollector>,
    memory: Slot<memory::MemoryCollector>,
    ena: Slot<ena::EnaCollector>,
    kubelet: Slot<kubelet::KubeletCollector>,
}

/// The longest a tick can take: its collectors run at once, so its slowest collector's
/// timeout.
pub const MAX_TICK: Duration = {
    let timeouts = [
        imds::ImdsCollector::TIMEOUT,
        ipamd_metrics::IpamdMetricsCollector::TIMEOUT,
        ipamd_enis::IntrospectionCollector::TIMEOUT,
        ipamd_settings::IpamdSettingsCollector::TIMEOUT,
        memory::MemoryCollector::TIMEOUT,
        ena::EnaCollector::TIMEOUT,
        kubelet::KubeletCollector::TIMEOUT,
    ];
    let mut longest = Duration::ZERO;
    let mut i = 0;
    while i < timeouts.len() {
        if timeouts[i].as_nanos() > longest.as_nanos() {
            longest = timeouts[i];
        }
        i += 1;
    }
    longest
};

impl Collectors {
    pub fn new(sources: &Sources) -> Self {
        Collectors {
            imds: Slot::new(imds::ImdsCollector::new(&sources.imds, &sources.lookup)),
            ipamd_metrics: Slot::new(ipamd_metrics::IpamdMetricsCollector::new(
                sources.ipamd_metrics_url.clone(),
            )),
            ipamd_introspection: Slot::new(ipamd_enis::IntrospectionCollector::new(
                sources.ipamd_introspection_url.clone(),
            )),
            ipamd_settings: Slot::new(ipamd_settings::IpamdSettingsCollector::new(
                &sources.ipamd_introspection_url,
                sources.cni_declared,
            )),
            memory: Slot::new(memory::MemoryCollector::new(
                &sources.proc_root,
                &sources.sys_root,
            )),
            ena: Slot::new(ena::EnaCollector::new(&sources.sys_root)),
            kubelet: Slot::new(kubelet::KubeletCollector::new(sources.kubelet.clone())),
        }
    }

    /// One tick: every collector once, concurrently.
    pub async fn collect(&mut self) -> Observations {
        let (
            (imds, imds_status),
            (ipamd_metrics, metrics_status),
            (ipamd_pools, pools_status),
            (ipamd_settings, settings_status),
            (memory, memory_status),
            (ena, ena_status),
            (kubelet, kubelet_status),
        ) = tokio::join!(
            self.imds.run(),
            self.ipamd_metrics.run(),
            self.ipamd_introspection.run(),
            self.ipamd_settings.run(),
            self.memory.run(),
            self.ena.run(),
            self.kubelet.run(),
        );
        Observations {
            taken_at: SystemTime::now(),
            imds,
            ipamd_metrics,
            ipamd_pools,
            ipamd_settings,
            memory,
            ena,
            kubelet,
            statuses: vec![
                imds_status,
                metrics_status,
                pools_status,
                settings_status,
                memory_status,
                ena_status,
                kubelet_status,
            ],
        }
    }
}
