//! `nodecap run`: collect on a jittered timer, build one snapshot per tick, render it once,
//! publish it to the HTTP endpoint; stop cleanly on SIGTERM or SIGINT.
//!
//! Data flow, one way: [`collect`] (every source, concurrently) → [`snapshot`] (derived
//! figures and verdicts, pure) → [`export`]: the Prometheus text, rendered once per tick and
//! served by the endpoint, and, with CloudWatch enabled, the snapshot handed to the publisher
//! (its own task, on its own schedule). [`family`] is the metric vocabulary they share.
//! The configuration is checked before this runs (exit 64); binding the port is the first
//! thing done here.

pub mod collect;
pub mod export;
pub mod family;
pub(crate) mod signals;
pub mod snapshot;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::watch;

use collect::{Collectors, Sources};
use export::cloudwatch;
use export::prometheus::{self, server, web};
use family::{Describe, Export};
use snapshot::Snapshot;

/// How long open requests get to finish after SIGTERM.
pub const GRACE: Duration = Duration::from_secs(5);
/// `/healthz` fails when no tick completed for this many intervals (plus the longest a tick
/// may legitimately take, [`collect::MAX_TICK`], so slow sources are not mistaken for a hang).
const STUCK_INTERVALS: u32 = 3;

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

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 61682)),
            interval: Duration::from_secs(60),
            sources: Sources::default(),
            web_config_file: None,
            cloudwatch: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot install the signal handlers")]
    Signals(#[source] std::io::Error),
    #[error(transparent)]
    Web(#[from] web::Error),
}

/// Every metric nodecap serves, in the README's order (the README's table is made from this;
/// a test checks that a full snapshot serves exactly these).
pub static CATALOGUE: [&Describe; 48] = [
    &snapshot::BUILD_INFO.describe,
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

/// What serving starts with, in order: the web config (checked before binding: a bad one is
/// a configuration error, exit 64), the bound listener, the signal handlers. `nodecap
/// subnets` starts its endpoint the same way.
pub(crate) fn start_serving(
    addr: SocketAddr,
    web_config_file: Option<&std::path::Path>,
) -> Result<(web::Web, TcpListener, signals::Stop), Error> {
    let web = match web_config_file {
        Some(path) => web::load(path)?,
        None => web::Web::default(),
    };
    let listener = listen(addr).map_err(|source| Error::Bind { addr, source })?;
    let stop = signals::Stop::install().map_err(Error::Signals)?;
    Ok((web, listener, stop))
}

pub async fn run(settings: Settings) -> Result<(), Error> {
    let addr = settings.listen;
    let (web, listener, mut stop) = start_serving(addr, settings.web_config_file.as_deref())?;
    raise_open_files_limit();
    let mut collectors = Collectors::new(&settings.sources);

    let (publish, published) = watch::channel(Arc::new(server::Published::default()));
    let (stopping, stopped) = watch::channel(false);
    let interval = settings.interval;
    let server = tokio::spawn(server::serve(
        listener,
        Arc::new(web),
        published,
        stopped,
        interval * STUCK_INTERVALS + collect::MAX_TICK,
    ));
    tracing::info!(listen = %addr, interval = ?interval, "serving /metrics, /healthz, /readyz");
    let cloudwatch = settings
        .cloudwatch
        .clone()
        .map(|cw| CloudwatchTask::start(cw, stopping.subscribe()));

    let mut ticks: u64 = 0;
    loop {
        let observations = tokio::select! {
            o = collectors.collect() => o,
            () = stop.received() => break,
        };
        let snapshot = Arc::new(Snapshot::new(observations));
        let stats = cloudwatch.as_ref().map(CloudwatchTask::stats);
        let mut sources: Vec<&dyn Export> = vec![&*snapshot];
        sources.extend(stats.as_ref().map(|s| s as &dyn Export));
        match prometheus::render(&sources) {
            Ok(text) => {
                publish.send_replace(Arc::new(server::Published {
                    metrics: Some(Bytes::from(text)),
                    at: Some(Instant::now()),
                }));
            }
            // Keeps serving the last rendering; /healthz turns 503 if this persists.
            Err(e) => tracing::error!("cannot render the metrics: {e}"),
        }
        if let Some(cloudwatch) = &cloudwatch {
            cloudwatch.feed(snapshot);
        }
        ticks += 1;
        tracing::debug!(tick = ticks, "snapshot published");
        if ticks == 1 {
            tracing::info!("first snapshot published: ready");
        }
        tokio::select! {
            () = tokio::time::sleep(jittered(interval, ticks)) => {}
            () = stop.received() => break,
        }
    }
    tracing::info!(grace = ?GRACE, "stopping");
    let _ = stopping.send(true);
    if tokio::time::timeout(GRACE, server).await.is_err() {
        tracing::warn!("open connections did not finish within the grace period; closing them");
    }
    if let Some(cloudwatch) = cloudwatch {
        cloudwatch.finish().await;
    }
    Ok(())
}

/// The CloudWatch publisher's task, fed the latest snapshot; its counts go to `/metrics`.
struct CloudwatchTask {
    stats: cloudwatch::SharedStats,
    feed: watch::Sender<Option<Arc<Snapshot>>>,
    task: tokio::task::JoinHandle<()>,
}

impl CloudwatchTask {
    fn start(settings: cloudwatch::Settings, stop: watch::Receiver<bool>) -> Self {
        let stats = cloudwatch::SharedStats::default();
        tracing::info!(
            namespace = if settings.compat { cloudwatch::datums::COMPAT_NAMESPACE } else { settings.namespace.as_str() },
            cluster = %settings.cluster_name,
            interval = ?settings.interval,
            "publishing to CloudWatch"
        );
        let (feed, snapshots) = watch::channel(None);
        let task = tokio::spawn(cloudwatch::run(
            cloudwatch::Publisher::new(settings, Arc::clone(&stats)),
            snapshots,
            stop,
            GRACE,
        ));
        CloudwatchTask { stats, feed, task }
    }

    fn stats(&self) -> cloudwatch::Stats {
        cloudwatch::read_stats(&self.stats)
    }

    fn feed(&self, snapshot: Arc<Snapshot>) {
        self.feed.send_replace(Some(snapshot));
    }

    /// Waits for the final flush (the publisher's own grace period, and a second more).
    async fn finish(self) {
        if tokio::time::timeout(GRACE + Duration::from_secs(1), self.task)
            .await
            .is_err()
        {
            tracing::warn!("CloudWatch's final flush did not finish within the grace period");
        }
        let stats = cloudwatch::read_stats(&self.stats);
        tracing::info!(
            sent = stats.sent,
            dropped = stats.dropped,
            unsent = stats.queued,
            "CloudWatch publisher stopped"
        );
    }
}

/// `interval` ± 10 %, so a fleet started together does not tick (and hit IMDS) in step.
pub(crate) fn jittered(interval: Duration, tick: u64) -> Duration {
    use std::hash::{BuildHasher, RandomState};
    let random = RandomState::new().hash_one(tick);
    // A factor in [0.9, 1.1).
    #[allow(clippy::cast_precision_loss)]
    let factor = 0.9 + (random % 2000) as f64 / 10_000.0;
    interval.mul_f64(factor)
}

/// The kernel's queue of connections not yet accepted: room for a burst of thousands (a
/// flood reconnecting at once) so that a scrape's SYN is never dropped behind it (a dropped SYN
/// costs the scraper a 1 s retransmission). The kernel caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Lets the endpoint hold its connection limit: the soft open-files limit is often 1024.
fn raise_open_files_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let wanted = hard.min(u64::from(server::MAX_CONNECTIONS + server::MAX_WAITING) + 256);
        if soft < wanted && setrlimit(Resource::RLIMIT_NOFILE, wanted, hard).is_err() {
            tracing::warn!(soft, "cannot raise the open-files limit");
        }
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
                instance_type: "m5.large".to_owned(),
                instance_id: "i-0123456789abcdef0".to_owned(),
                region: "us-east-1".to_owned(),
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
            subnet_id: "subnet-0123456789abcdef0".to_owned(),
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
                    ("assignIPAddresses", 5.0),
                    ("totalIPAddresses", 12.0),
                    ("addReqCount", 40.0),
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

    #[test]
    fn jitter_stays_within_ten_percent() {
        let interval = Duration::from_secs(60);
        let all: Vec<Duration> = (0..200).map(|t| jittered(interval, t)).collect();
        assert!(
            all.iter()
                .all(|d| *d >= Duration::from_secs(54) && *d <= Duration::from_secs(66))
        );
        assert!(all.iter().any(|d| *d != all[0]), "no jitter at all");
    }
}
