//! Collection: one module per source, each failing alone. [`Collectors::collect`] runs them
//! all once (a tick) and returns [`Observations`]: plain data, the only input of the
//! snapshot. Every collector reports a [`Status`]: ok, failed (with why), or not applicable
//! (the source does not exist on this node: no VPC CNI, no ENA device, no kubelet files),
//! which is not a failure.
//!
//! | collector | source | module |
//! |---|---|---|
//! | `imds` | IMDS: identity and limits (once), ENIs (each tick) | [`imds`] |
//! | `ipamd_metrics` | ipamd `/metrics` (Prometheus text) | [`ipamd_metrics`] |
//! | `ipamd_introspection` | ipamd `/v1/enis` (JSON) | [`ipamd_enis`] |
//! | `memory` | procfs `meminfo`, memory cgroups | [`memory`] |
//! | `ena` | ENA ethtool statistics (ioctl) | [`ena`] |
//! | `kubelet` | the kubelet's configuration files | [`kubelet`] |

pub mod ena;
mod http;
pub mod imds;
pub mod ipamd_enis;
pub mod ipamd_metrics;
pub mod kubelet;
pub mod memory;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::config::Config;
use crate::imds::Eni;
use crate::init::Node;

/// How long ipamd has to answer one request.
const IPAMD_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest a tick can take when every source times out: IMDS's budget and both ipamd
/// requests (files, procfs and the ioctl answer at once).
pub const MAX_TICK: Duration =
    Duration::from_secs(imds::TICK_BUDGET.as_secs() + 2 * IPAMD_TIMEOUT.as_secs());

/// A collector's outcome for one tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Ok,
    NotApplicable(String),
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub collector: &'static str,
    pub health: Health,
    /// The values served are an earlier tick's (only `imds` keeps a last good view).
    pub stale: bool,
    pub duration: Duration,
}

/// Everything one tick saw.
#[derive(Debug, Clone)]
pub struct Observations {
    pub taken_at: SystemTime,
    pub node: Option<Arc<Node>>,
    pub enis: Option<Arc<Vec<Eni>>>,
    pub ipamd_metrics: Option<ipamd_metrics::IpamdMetrics>,
    pub ipamd_pools: Option<ipamd_enis::IpamdPools>,
    pub memory: Option<memory::Memory>,
    pub ena: Vec<ena::EnaStats>,
    pub kubelet: Option<kubelet::KubeletView>,
    pub statuses: Vec<Status>,
    /// The CloudWatch publisher's counts at this tick (set by the daemon when it publishes).
    pub cloudwatch: Option<crate::cloudwatch::Stats>,
}

/// The collectors and the little state they keep between ticks.
#[derive(Debug)]
pub struct Collectors {
    config: Arc<Config>,
    imds: imds::ImdsCollector,
    http: http::Getter,
    /// ipamd answered once: from then on "nothing listening" is a failure (ipamd died),
    /// before it only means the VPC CNI is not (yet) running on this node.
    ipamd_seen: [bool; 2],
}

impl Collectors {
    pub fn new(config: Arc<Config>) -> Result<Self, String> {
        Ok(Collectors {
            imds: imds::ImdsCollector::new(&config)?,
            http: http::Getter::new(IPAMD_TIMEOUT),
            ipamd_seen: [false; 2],
            config,
        })
    }

    /// One tick: every collector once, in a fixed order.
    pub async fn collect(&mut self) -> Observations {
        let mut statuses = Vec::new();
        let config = Arc::clone(&self.config);

        let start = Instant::now();
        let imds = self.imds.collect(&config).await;
        statuses.push(Status {
            collector: "imds",
            health: imds.error.clone().map_or(Health::Ok, Health::Failed),
            stale: imds.stale,
            duration: start.elapsed(),
        });

        let start = Instant::now();
        let (ipamd_metrics, health) = match self.ipamd(0, &config.run.ipamd_metrics_url).await {
            Ok(body) => match std::str::from_utf8(&body)
                .map_err(|e| e.to_string())
                .and_then(ipamd_metrics::parse_text)
            {
                Ok(samples) => (Some(ipamd_metrics::extract(&samples)), Health::Ok),
                Err(e) => (
                    None,
                    Health::Failed(format!("{}: {e}", config.run.ipamd_metrics_url)),
                ),
            },
            Err(health) => (None, health),
        };
        statuses.push(status("ipamd_metrics", health, start));

        let start = Instant::now();
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let (ipamd_pools, health) = match self.ipamd(1, &config.run.ipamd_introspection_url).await {
            Ok(body) => match ipamd_enis::parse(&body, now) {
                Ok(pools) => (Some(pools), Health::Ok),
                Err(e) => (
                    None,
                    Health::Failed(format!("{}: {e}", config.run.ipamd_introspection_url)),
                ),
            },
            Err(health) => (None, health),
        };
        statuses.push(status("ipamd_introspection", health, start));

        let start = Instant::now();
        let (memory, health) = match memory::read(&config.run.proc_root, &config.run.sys_root) {
            Ok(m) => (Some(m), Health::Ok),
            Err(e) => (None, Health::Failed(e)),
        };
        statuses.push(status("memory", health, start));

        let start = Instant::now();
        let (ena, health) = read_ena(&config);
        statuses.push(status("ena", health, start));

        let start = Instant::now();
        let (kubelet, health) = match kubelet::read(&config.kubelet) {
            Ok(Some(view)) => (Some(view), Health::Ok),
            Ok(None) => (
                None,
                Health::NotApplicable("no kubelet configuration file on this node".to_owned()),
            ),
            Err(e) => (None, Health::Failed(e)),
        };
        statuses.push(status("kubelet", health, start));

        for s in &statuses {
            match &s.health {
                Health::Failed(why) => tracing::warn!(
                    collector = s.collector,
                    stale = s.stale,
                    "collector failed: {why}"
                ),
                Health::NotApplicable(why) => {
                    tracing::debug!(collector = s.collector, "not applicable: {why}")
                }
                Health::Ok => {}
            }
        }
        Observations {
            taken_at: SystemTime::now(),
            node: imds.node,
            enis: imds.enis,
            ipamd_metrics,
            ipamd_pools,
            memory,
            ena,
            kubelet,
            statuses,
            cloudwatch: None,
        }
    }

    async fn ipamd(&mut self, which: usize, url: &str) -> Result<bytes::Bytes, Health> {
        match self.http.get(url).await {
            Ok(body) => {
                self.ipamd_seen[which] = true;
                Ok(body)
            }
            Err(http::Error::Refused { .. }) if !self.ipamd_seen[which] => {
                Err(Health::NotApplicable(format!(
                    "nothing listening at {url}: the VPC CNI is not running on this node (yet)"
                )))
            }
            Err(e) => Err(Health::Failed(e.to_string())),
        }
    }
}

fn status(collector: &'static str, health: Health, start: Instant) -> Status {
    Status {
        collector,
        health,
        stale: false,
        duration: start.elapsed(),
    }
}

fn read_ena(config: &Config) -> (Vec<ena::EnaStats>, Health) {
    let interfaces = match ena::ena_interfaces(&config.run.sys_root) {
        Ok(list) if list.is_empty() => {
            return (
                Vec::new(),
                Health::NotApplicable("no interface uses the ena driver".to_owned()),
            );
        }
        Ok(list) => list,
        Err(e) => return (Vec::new(), Health::Failed(e)),
    };
    let mut stats = Vec::new();
    let mut errors = Vec::new();
    for interface in interfaces {
        match ena::read_stats(&interface) {
            Ok(all) => stats.push(ena::parse_stats(&interface, &all)),
            Err(e) => errors.push(e),
        }
    }
    let health = if errors.is_empty() {
        Health::Ok
    } else {
        Health::Failed(errors.join("; "))
    };
    (stats, health)
}
