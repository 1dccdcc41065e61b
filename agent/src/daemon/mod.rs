//! `nodecap run`: collect on a jittered timer, build one snapshot per tick, render it once,
//! publish it to the HTTP endpoint; stop cleanly on SIGTERM or SIGINT.
//!
//! Data flow, one way: [`collect`] (every source, concurrently) → [`snapshot`] (derived
//! figures and verdicts, pure) → [`export`]: the Prometheus text, rendered once per tick and
//! served by the endpoint, and, with CloudWatch enabled, the snapshot handed to the publisher
//! (its own task, on its own schedule). The endpoint, the loop, the publisher's transport and
//! the metric vocabulary are the shared [`crate::telemetry`]. The configuration is checked
//! before this runs (exit 64); binding the port is the first thing done here.

pub mod collect;
pub mod export;
pub mod snapshot;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::aws::imds::Endpoint;
use crate::aws::limits::Lookup;
use crate::kubelet::Targets;
use crate::telemetry::family::{Describe, Export};
use crate::telemetry::{self, Pipeline, cloudwatch};
use collect::ipamd_settings::Declared;
use collect::{Collectors, Sources};
use snapshot::Snapshot;

/// What `nodecap run` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    pub listen: SocketAddr,
    /// Time between collections (jittered by up to 10 %).
    pub interval: Duration,
    pub sources: Sources,
    /// TLS and basic authentication for `/metrics`, when configured.
    pub web_config_file: Option<std::path::PathBuf>,
    /// CloudWatch publishing, when enabled.
    pub cloudwatch: Option<cloudwatch::Settings>,
}

impl Settings {
    /// The daemon's own section, with what it shares with `init`: the node's IMDS, how its
    /// limits are found, its kubelet files.
    pub fn new(
        run: RunSettings,
        imds: Endpoint,
        lookup: Lookup,
        kubelet: Targets,
        cloudwatch: Option<cloudwatch::Settings>,
    ) -> Self {
        Settings {
            listen: run.listen,
            interval: run.interval,
            sources: Sources {
                imds,
                lookup,
                ipamd_metrics_url: run.ipamd_metrics_url,
                ipamd_introspection_url: run.ipamd_introspection_url,
                cni_declared: run.cni_declared,
                proc_root: run.proc_root,
                sys_root: run.sys_root,
                kubelet,
            },
            web_config_file: run.web_config_file,
            cloudwatch,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings::new(
            RunSettings::default(),
            Endpoint::default(),
            Lookup::default(),
            Targets::default(),
            None,
        )
    }
}

/// The `[run]` section: what only the daemon is told, with its defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSettings {
    pub listen: SocketAddr,
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

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 61682)),
            interval: Duration::from_secs(60),
            ipamd_metrics_url: hyper::Uri::from_static("http://127.0.0.1:61678/metrics"),
            ipamd_introspection_url: hyper::Uri::from_static("http://127.0.0.1:61679/v1/enis"),
            proc_root: PathBuf::from("/proc"),
            sys_root: PathBuf::from("/sys"),
            web_config_file: None,
            cni_declared: Declared::default(),
        }
    }
}

/// Every metric nodecap serves, in the README's order (the README's table is made from this;
/// a test checks that a full snapshot serves exactly these).
pub static CATALOGUE: [&Describe; 48] = [
    &crate::telemetry::family::BUILD_INFO.describe,
    &collect::imds::INSTANCE_INFO.describe,
    &snapshot::MAX_PODS.describe,
    &collect::kubelet::MAX_PODS.describe,
    &snapshot::IPV4_CAPACITY.describe,
    &snapshot::ENIS_ATTACHED.describe,
    &snapshot::ENIS_MAX.describe,
    &snapshot::ENIS_FREE.describe,
    &snapshot::IPV4_ADDRESSES.describe,
    &snapshot::IPV4_PREFIXES.describe,
    &snapshot::POD_HEADROOM.describe,
    &snapshot::cni::MAX_PODS.describe,
    &snapshot::cni::SETTING.describe,
    &snapshot::cni::ENI_CONFIG.describe,
    &snapshot::cni::ADDRESSES_NEEDED.describe,
    &snapshot::cni::AT_CAPACITY.describe,
    &collect::imds::ENI_INFO.describe,
    &collect::imds::ENI_IPV4_ADDRESSES.describe,
    &collect::imds::ENI_IPV4_PREFIXES.describe,
    &collect::imds::ENI_IPV6_ADDRESSES.describe,
    &collect::ipamd_enis::POOL_ADDRESSES.describe,
    &collect::ipamd_metrics::INFO.describe,
    &collect::ipamd_metrics::ENIS_MAX.describe,
    &collect::ipamd_metrics::IPV4_MAX.describe,
    &collect::ipamd_metrics::ENIS_ALLOCATED.describe,
    &collect::ipamd_metrics::IPV4_ADDRESSES.describe,
    &collect::ipamd_metrics::IPV4_PREFIXES.describe,
    &collect::ipamd_metrics::NO_AVAILABLE.describe,
    &collect::ipamd_metrics::ERRORS.describe,
    &collect::ipamd_metrics::EC2_API_ERRORS.describe,
    &collect::ena::ALLOWANCE_EXCEEDED.describe,
    &collect::ena::CONNTRACK_ALLOWANCE_AVAILABLE.describe,
    &collect::memory::TOTAL.describe,
    &collect::memory::AVAILABLE.describe,
    &snapshot::MEMORY_RESERVED.describe,
    &snapshot::MEMORY_HEADROOM.describe,
    &collect::memory::CGROUP_USAGE.describe,
    &collect::memory::CGROUP_PEAK.describe,
    &snapshot::DRIFT.describe,
    &collect::SUCCESS.describe,
    &collect::APPLICABLE.describe,
    &collect::STALE.describe,
    &collect::DURATION.describe,
    &snapshot::SNAPSHOT_TIMESTAMP.describe,
    &cloudwatch::DATUMS_SENT.describe,
    &cloudwatch::DATUMS_DROPPED.describe,
    &cloudwatch::ERRORS.describe,
    &cloudwatch::QUEUE_DATUMS.describe,
];

/// `nodecap run`: the node's pipeline on the shared loop (`telemetry::run`).
pub async fn run(settings: Settings) -> Result<(), telemetry::Error> {
    let bound = telemetry::bind(settings.listen, settings.web_config_file.as_deref())?;
    let daemon = Daemon {
        collectors: Collectors::new(&settings.sources),
        snapshot: None,
        cloudwatch: settings.cloudwatch.clone().and_then(CloudwatchTask::start),
    };
    telemetry::run(bound, settings.interval, collect::MAX_TICK, daemon).await
}

/// The node daemon as a [`Pipeline`]: collect → snapshot → `/metrics` and the publisher.
struct Daemon {
    collectors: Collectors,
    snapshot: Option<Arc<Snapshot>>,
    cloudwatch: Option<CloudwatchTask>,
}

impl Pipeline for Daemon {
    async fn cycle(&mut self) {
        let observations = self.collectors.collect().await;
        self.snapshot = Some(Arc::new(Snapshot::new(observations)));
        if let Some(cloudwatch) = &mut self.cloudwatch {
            cloudwatch.stats = cloudwatch::read_stats(&cloudwatch.shared);
        }
    }

    fn exports(&self) -> Vec<&dyn Export> {
        let mut sources: Vec<&dyn Export> = Vec::new();
        sources.extend(self.snapshot.as_deref().map(|s| s as &dyn Export));
        sources.extend(self.cloudwatch.as_ref().map(|c| &c.stats as &dyn Export));
        sources
    }

    async fn publish(&mut self, cycles: u64) {
        if let (Some(cloudwatch), Some(snapshot)) = (&self.cloudwatch, &self.snapshot) {
            cloudwatch.feed(Arc::clone(snapshot));
        }
        tracing::debug!(tick = cycles, "snapshot published");
        if cycles == 1 {
            tracing::info!("first snapshot published: ready");
        }
    }

    async fn finish(self) {
        if let Some(cloudwatch) = self.cloudwatch {
            cloudwatch.finish().await;
        }
    }
}

/// The CloudWatch publisher's task, fed the latest snapshot; its counts go to `/metrics`.
struct CloudwatchTask {
    shared: cloudwatch::SharedStats,
    /// The counts as of the last cycle, for its rendering.
    stats: cloudwatch::Stats,
    feed: watch::Sender<Option<Arc<Snapshot>>>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl CloudwatchTask {
    /// The task, once the cluster name is known (`nodecap run` reads it before it starts).
    fn start(settings: cloudwatch::Settings) -> Option<Self> {
        let Some(cluster) = settings.cluster_name.clone() else {
            tracing::error!("CloudWatch: the cluster name was not read; not publishing");
            return None;
        };
        let shared = cloudwatch::SharedStats::default();
        tracing::info!(
            namespace = if settings.compat { cloudwatch::datum::COMPAT_NAMESPACE } else { settings.namespace.as_str() },
            cluster = %cluster,
            interval = ?settings.interval,
            "publishing to CloudWatch"
        );
        let (feed, snapshots) = watch::channel(None);
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(export::cloudwatch::run(
            cluster,
            cloudwatch::Publisher::new(settings, Arc::clone(&shared)),
            snapshots,
            stopped,
            telemetry::GRACE,
        ));
        Some(CloudwatchTask {
            shared,
            stats: cloudwatch::Stats::default(),
            feed,
            stop,
            task,
        })
    }

    fn feed(&self, snapshot: Arc<Snapshot>) {
        self.feed.send_replace(Some(snapshot));
    }

    /// Stops the task and waits for its final flush (its own grace period, and a second more).
    async fn finish(self) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(telemetry::GRACE + Duration::from_secs(1), self.task)
            .await
            .is_err()
        {
            tracing::warn!("CloudWatch's final flush did not finish within the grace period");
        }
        let stats = cloudwatch::read_stats(&self.shared);
        tracing::info!(
            sent = stats.sent,
            dropped = stats.dropped,
            unsent = stats.queued,
            "CloudWatch publisher stopped"
        );
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::PathBuf;
    use std::time::SystemTime;

    use crate::aws::imds::Eni;
    use crate::core::instance::{self, Source};
    use crate::core::node::{Identity, Node};
    use crate::core::sizing::SizingOptions;
    use crate::daemon::collect::ipamd_metrics::HelperFigure;
    use crate::telemetry::{family, prometheus};
    use collect::memory::{Slice, SliceUsage};
    use collect::{
        CollectorId, Health, Observations, Status, ena, imds, ipamd_enis, ipamd_metrics,
        ipamd_settings, kubelet, memory,
    };
    use snapshot::{Drift, DriftKind, MemoryScope, Verdict};

    /// A golden file under `agent/tests/golden/` (`UPDATE_EXPECT=1` rewrites it).
    pub(crate) fn golden(relative: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(relative)
    }

    /// An m5.large seen by every collector, ENA included, at a fixed time.
    pub(crate) fn full_observations() -> Observations {
        let facts = instance::lookup_embedded("m5.large").unwrap().clone();
        let node = Node {
            identity: Identity {
                instance_type: "m5.large".parse().unwrap(),
                instance_id: "i-0123456789abcdef0".to_owned(),
                region: "us-east-1".parse().unwrap(),
                availability_zone: "us-east-1a".to_owned(),
            },
            facts,
            source: Source::Embedded,
            options: SizingOptions::default(),
        };
        let eni = |n: u32, ips: usize| Eni {
            mac: format!("0e:00:00:00:00:0{n}"),
            interface_id: format!("eni-0{n}"),
            device_number: n - 1,
            network_card: 0,
            subnet_id: "subnet-0123456789abcdef0".parse().unwrap(),
            ipv4: (0..ips).map(|i| format!("10.0.{n}.{i}")).collect(),
            ipv4_prefixes: Vec::new(),
            ipv6: Vec::new(),
        };
        let pool = |id: &str, device: u32, assigned: u64, cooldown: u64| ipamd_enis::EniPool {
            id: id.to_owned(),
            network_card: 0,
            device_number: device,
            primary: device == 0,
            trunk: false,
            excluded: false,
            prefixes: 0,
            secondary_ips: 9,
            total: 9,
            assigned,
            cooldown,
            free: 9 - assigned - cooldown,
        };
        Observations {
            taken_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000),
            imds: Some(imds::Imds {
                node: Some(Arc::new(node)),
                enis: Arc::new(vec![eni(1, 10), eni(2, 4)]),
            }),
            ipamd_metrics: Some(ipamd_metrics::IpamdMetrics {
                version: Some("v1.20.4".to_owned()),
                eni_max: Some(3.0),
                ip_max: Some(27.0),
                enis_allocated: Some(2.0),
                total_ip_addresses: Some(12.0),
                assigned_ip_addresses: Some(5.0),
                ipv4_prefixes: Some(0.0),
                no_available_ip_addresses: Some(3.0),
                ipamd_errors: Some(1.0),
                ec2_api_errors: Some(0.0),
                helper: vec![
                    (HelperFigure::AssignedIpAddresses, 5.0),
                    (HelperFigure::TotalIpAddresses, 12.0),
                    (HelperFigure::AddIpRequests, 40.0),
                ],
            }),
            ipamd_pools: Some(ipamd_enis::IpamdPools {
                enis: vec![pool("eni-01", 0, 4, 1), pool("eni-02", 1, 1, 0)],
            }),
            ipamd_settings: Some(ipamd_settings::IpamdSettings {
                env: ipamd_settings::EnvSettings {
                    warm_ip_target: Some(15),
                    warm_eni_target: Some(1),
                    custom_networking: Some(false),
                    manage_enis_non_schedulable: Some(false),
                    subnet_discovery: Some(true),
                },
                eni_config: ipamd_settings::EniConfig::Named("us-east-1a".to_owned()),
                declared: ipamd_settings::Declared {
                    minimum_ip_target: Some(0),
                    warm_prefix_target: None,
                },
            }),
            memory: Some(memory::Memory {
                total_bytes: 8 << 30,
                available_bytes: Some(6 << 30),
                cgroup_version: Some(2),
                slices: vec![
                    SliceUsage {
                        slice: Slice::System,
                        usage_bytes: 250 << 20,
                        peak_bytes: Some(300 << 20),
                    },
                    SliceUsage {
                        slice: Slice::Runtime,
                        usage_bytes: 400 << 20,
                        peak_bytes: None,
                    },
                    SliceUsage {
                        slice: Slice::Kubepods,
                        usage_bytes: 2 << 30,
                        peak_bytes: Some(3 << 30),
                    },
                ],
            }),
            ena: Some(ena::Ena {
                interfaces: vec![ena::parse_stats(
                    "ens5",
                    &[
                        ("bw_in_allowance_exceeded".to_owned(), 0),
                        ("bw_out_allowance_exceeded".to_owned(), 7),
                        ("pps_allowance_exceeded".to_owned(), 0),
                        ("conntrack_allowance_exceeded".to_owned(), 0),
                        ("linklocal_allowance_exceeded".to_owned(), 2),
                        ("conntrack_allowance_available".to_owned(), 136_000),
                    ],
                )],
            }),
            kubelet: Some(kubelet::KubeletView {
                max_pods: Some((
                    110,
                    "/etc/kubernetes/kubelet/config.json".into(),
                    crate::kubelet::files::Format::KubeletConfig,
                )),
                kube_reserved_memory: Some((
                    574 << 20,
                    "/etc/kubernetes/kubelet/config.json".into(),
                )),
                system_reserved_memory: None,
                files: vec!["/etc/kubernetes/kubelet/config.json".into()],
            }),
            statuses: CollectorId::ALL
                .iter()
                .zip(1..)
                .map(|(&collector, ms)| Status {
                    collector,
                    health: Health::Ok,
                    stale: false,
                    duration: Duration::from_millis(ms),
                })
                .collect(),
        }
    }

    /// The CloudWatch publisher's counts in the full snapshot.
    pub(crate) fn full_stats() -> cloudwatch::Stats {
        cloudwatch::Stats {
            sent: 1200,
            dropped: 0,
            queued: 40,
            errors: [(cloudwatch::ErrorKind::Throttling, 2)]
                .into_iter()
                .collect(),
        }
    }

    fn families(text: &str) -> BTreeSet<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .collect()
    }

    fn render(snapshot: &Snapshot, stats: Option<&cloudwatch::Stats>) -> String {
        let mut sources: Vec<&dyn Export> = vec![snapshot];
        if let Some(stats) = stats {
            sources.push(stats);
        }
        prometheus::render(&sources).unwrap()
    }

    #[test]
    fn a_full_snapshot_serves_every_catalogued_metric() {
        let text = render(&Snapshot::new(full_observations()), Some(&full_stats()));
        let served = families(&text);
        let catalogued: BTreeSet<String> = CATALOGUE.iter().map(|m| m.name.to_owned()).collect();
        assert_eq!(served, catalogued);
        for m in CATALOGUE {
            assert!(
                text.contains(&format!("# TYPE {} {}\n", m.name, m.kind)),
                "{}",
                m.name
            );
            assert!(m.name.starts_with("nodecap_"));
            assert_eq!(
                m.kind == family::Kind::Counter,
                m.name.ends_with("_total"),
                "{}",
                m.name
            );
        }
        // No series twice.
        let series: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.rsplit_once(' ').unwrap().0)
            .collect();
        let unique: BTreeSet<&&str> = series.iter().collect();
        assert_eq!(unique.len(), series.len());
        expect_test::expect_file![golden("metrics/full.prom")].assert_eq(&text);
    }

    #[test]
    fn derived_figures() {
        let s = Snapshot::new(full_observations());
        let d = &s.derived;
        assert_eq!(d.max_pods, Some(29));
        assert_eq!(d.kubelet_max_pods, Some(110));
        assert_eq!(d.ip_capacity, Some(27));
        assert_eq!(
            (d.enis_attached, d.enis_max, d.enis_free),
            (Some(2), Some(3), Some(1))
        );
        let a = d.ipv4.unwrap();
        assert_eq!(
            (a.total, a.assigned, a.cooldown, a.free, a.source),
            (18, 5, Some(1), 12, CollectorId::IpamdIntrospection)
        );
        // min(110 kubelet, 27 addresses) − 5 assigned.
        assert_eq!(d.pod_headroom, Some(22));
        // kube from the kubelet file (574Mi), system from nodecap's profile (200Mi).
        let memory: Vec<_> = d
            .memory
            .iter()
            .map(|r| (r.scope, r.reserved_bytes, r.headroom_bytes, r.verdict))
            .collect();
        assert_eq!(
            memory,
            vec![
                (MemoryScope::Kube, 574 << 20, Some(174 << 20), Verdict::Ok),
                (
                    MemoryScope::System,
                    200 << 20,
                    Some(-(50 << 20)),
                    Verdict::Warning
                )
            ]
        );
        let drift = |kind, verdict| Drift { kind, verdict };
        // The kubelet's 110 is above the 29 the CNI's secondary addresses serve.
        assert_eq!(
            (d.cni.max_pods, d.cni.ip_limited_pods),
            (Some(29), Some(29))
        );
        assert_eq!(
            d.drift,
            vec![
                drift(DriftKind::MaxPods, Verdict::Drift),
                drift(DriftKind::MaxPodsAboveCniCapacity, Verdict::Drift),
                drift(DriftKind::MaxPodsBelowCniCapacity, Verdict::Ok),
                drift(DriftKind::PrefixDelegationMismatch, Verdict::Ok),
                drift(DriftKind::CustomNetworkingMismatch, Verdict::Ok),
            ]
        );
        // WARM_IP_TARGET 15 against 13 available (18 total, 5 assigned): 2 short.
        let pool = d.cni.pools[0];
        assert_eq!(
            (pool.network_card, pool.addresses_needed, pool.at_capacity),
            (0, Some(2), Some(false))
        );

        // Without introspection, ipamd's metrics give total and assigned, no cooldown.
        let mut o = full_observations();
        o.ipamd_pools = None;
        let a = Snapshot::new(o).derived.ipv4.unwrap();
        assert_eq!(
            (a.total, a.assigned, a.cooldown, a.free, a.source),
            (12, 5, None, 7, CollectorId::IpamdMetrics)
        );

        // Nothing but IMDS: prefixes on an ENI mean prefix delegation, against the config.
        let mut o = full_observations();
        o.ipamd_pools = None;
        o.ipamd_metrics = None;
        o.ipamd_settings = None;
        o.kubelet = None;
        let imds = o.imds.as_mut().unwrap();
        let mut enis = (*imds.enis).clone();
        enis[1].ipv4_prefixes.push("10.0.9.0/28".to_owned());
        imds.enis = Arc::new(enis);
        let d = Snapshot::new(o).derived;
        assert_eq!(d.ipv4, None);
        assert_eq!(d.pod_headroom, None);
        assert_eq!(d.ipv4_prefixes, Some(1));
        assert_eq!(
            d.drift,
            vec![
                drift(DriftKind::MaxPods, Verdict::Unknown),
                drift(DriftKind::MaxPodsAboveCniCapacity, Verdict::Unknown),
                drift(DriftKind::MaxPodsBelowCniCapacity, Verdict::Unknown),
                drift(DriftKind::PrefixDelegationMismatch, Verdict::Drift),
                drift(DriftKind::CustomNetworkingMismatch, Verdict::Unknown),
            ]
        );
        let reserved: Vec<_> = d
            .memory
            .iter()
            .map(|r| (r.scope, r.reserved_bytes))
            .collect();
        assert_eq!(
            reserved,
            vec![
                (MemoryScope::Kube, 574 << 20),
                (MemoryScope::System, 200 << 20)
            ]
        );
    }

    #[test]
    fn vanished_sources_leave_no_series() {
        let mut o = full_observations();
        o.ena = None;
        o.ipamd_metrics = None;
        o.imds.as_mut().unwrap().node = None;
        let text = render(&Snapshot::new(o), None);
        for gone in [
            "nodecap_ena_",
            "nodecap_ipamd_",
            "nodecap_instance_info",
            "nodecap_max_pods ",
            "nodecap_cloudwatch_",
        ] {
            assert!(!text.contains(gone), "{gone}");
        }
        assert!(text.contains("nodecap_kubelet_max_pods 110"));
    }

    /// A collector registered in `collect`'s table must list its families in [`CATALOGUE`]
    /// (the README's table and the full-snapshot check are made from it) and have its part
    /// in the full snapshot the goldens are made from.
    #[test]
    fn every_registered_collector_is_catalogued_and_in_the_full_snapshot() {
        let observations = full_observations();
        for (id, families) in collect::FAMILIES {
            for family in families {
                assert!(
                    CATALOGUE.iter().any(|c| c.name == family.name),
                    "{id}: {} is not in daemon::CATALOGUE",
                    family.name
                );
            }
            assert!(
                observations.has_part(id),
                "{id}: no part in full_observations()"
            );
        }
    }
}
