//! CloudWatch: each node publishes its own datums, so the cluster rollup is CloudWatch's own
//! statistics and no central scraper exists. [`datums`] turns a snapshot into datums (pure:
//! native metrics with their dimension sets, or the cni-metrics-helper's names in
//! compatibility mode, counters as per-node deltas) and splits them into PutMetricData-sized
//! batches; [`Publisher`] sends them (aws-sdk-cloudwatch).
//!
//! Transport rules: at most 1,000 datums and 1 MB per call; throttling, 5xx and network
//! errors are retried with jittered exponential backoff within the publication's time; a 4xx
//! validation error is not retried (the batch is logged with its first metric and dropped);
//! datums that could not be sent wait in a bounded queue that drops the oldest beyond
//! `queue_datums` (counted). The publisher runs in its own task: `/metrics` never waits on it.

pub mod call;
pub mod datums;
// The SDK calls: aws-config and aws-sdk-cloudwatch. Built without the `aws` feature (the
// fuzz targets' build, which must not compile the AWS crates), a stand-in fails every call.
#[cfg_attr(feature = "aws", path = "sdk.rs")]
#[cfg_attr(not(feature = "aws"), path = "sdk_unavailable.rs")]
mod sdk;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::time::Instant;

use crate::aws::imds::{Endpoint, ImdsClient};
use crate::daemon::family::{Export, Family, Samples, count};
use crate::daemon::snapshot::Snapshot;
use crate::kubelet::{Targets, files};
pub use call::ErrorKind;
use datums::{Counters, Datum, Labels};

/// What the publisher does (the `[cloudwatch]` section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The `ClusterName`/`CLUSTER_ID` value; empty until read from `cluster_name_from`.
    pub cluster_name: String,
    pub cluster_name_from: Option<ClusterNameSource>,
    pub namespace: String,
    pub interval: Duration,
    pub per_node: bool,
    pub node_name: Option<String>,
    pub compat: bool,
    pub queue_datums: usize,
    pub region: Option<String>,
}

/// Where the cluster name is read on the node, when it is not configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterNameSource {
    /// An instance tag, from IMDS `meta-data/tags/instance/<key>`.
    Tag(String),
    /// A label in the kubelet's `--node-labels`.
    Label(String),
}

/// A value CloudWatch would refuse as a dimension.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: expected 1 to 255 printable characters, got {value:?}")]
pub struct DimensionError {
    pub key: String,
    pub value: String,
}

/// A CloudWatch dimension value: 1 to 255 printable characters.
pub fn dimension_value(key: &str, value: &str) -> Result<(), DimensionError> {
    if value.is_empty() || value.len() > 255 || value.chars().any(char::is_control) {
        Err(DimensionError {
            key: key.to_owned(),
            value: value.to_owned(),
        })
    } else {
        Ok(())
    }
}

/// Why the cluster name could not be read on the node.
#[derive(Debug, thiserror::Error)]
pub enum ClusterNameError {
    /// The instance has no such tag (exit 64: a configuration problem).
    #[error(
        "cloudwatch.cluster_name_from: IMDS has no {path}: the instance has no tag {key:?}, or \
         its launch template does not allow instance metadata tags \
         (InstanceMetadataTags=enabled); or set cloudwatch.cluster_name"
    )]
    NoTag { path: String, key: String },
    /// The kubelet's flags carry no such label (exit 64).
    #[error(
        "cloudwatch.cluster_name_from: no kubelet --node-labels label {key:?} in {nodeadm} or \
         {env_file}; or set cloudwatch.cluster_name"
    )]
    NoLabel {
        key: String,
        nodeadm: String,
        env_file: String,
    },
    /// The kubelet's files cannot be read (exit 64).
    #[error("cloudwatch.cluster_name_from")]
    Files(#[source] files::Error),
    /// What the node has is not a dimension value (exit 64).
    #[error(transparent)]
    Invalid(#[from] DimensionError),
    /// IMDS did not answer (exit 69: try again).
    #[error(transparent)]
    Imds(crate::aws::imds::Error),
}

/// The cluster name from `source`, read once at start: an instance tag through IMDS (no
/// `ec2:DescribeTags`), or a kubelet node label from the node's kubelet files.
pub async fn read_cluster_name(
    source: &ClusterNameSource,
    imds: &Endpoint,
    deadline: Duration,
    kubelet: &Targets,
) -> Result<String, ClusterNameError> {
    let name = match source {
        ClusterNameSource::Tag(key) => {
            let client = ImdsClient::new(imds, deadline);
            let path = format!("meta-data/tags/instance/{key}");
            client
                .get(&path)
                .await
                .map_err(ClusterNameError::Imds)?
                .ok_or_else(|| ClusterNameError::NoTag {
                    path,
                    key: key.clone(),
                })?
        }
        ClusterNameSource::Label(key) => files::node_labels(kubelet)
            .map_err(ClusterNameError::Files)?
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .ok_or_else(|| ClusterNameError::NoLabel {
                key: key.clone(),
                nodeadm: kubelet.nodeadm_config_dir.display().to_string(),
                env_file: kubelet.kubelet_env_file.display().to_string(),
            })?,
    };
    let name = name.trim().to_owned();
    dimension_value("cloudwatch.cluster_name_from", &name)?;
    Ok(name)
}

/// Backoff between retries of one batch.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Time a single PutMetricData call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// What the publisher has done, for `nodecap_cloudwatch_*`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub sent: u64,
    pub dropped: u64,
    pub queued: u64,
    /// Failed calls by kind.
    pub errors: BTreeMap<ErrorKind, u64>,
}

pub static DATUMS_SENT: Family<0> = Family::counter(
    "nodecap_cloudwatch_datums_sent_total",
    &[],
    "Datums CloudWatch accepted.",
);
pub static DATUMS_DROPPED: Family<0> = Family::counter(
    "nodecap_cloudwatch_datums_dropped_total",
    &[],
    "Datums dropped: the oldest beyond the queue's bound, or rejected by validation or an answer past the bound.",
);
pub static ERRORS: Family<1> = Family::counter(
    "nodecap_cloudwatch_errors_total",
    &["kind"],
    "Failed PutMetricData calls: throttling, server, validation, network, too_long (an answer past the bound).",
);
pub static QUEUE_DATUMS: Family<0> = Family::gauge(
    "nodecap_cloudwatch_queue_datums",
    &[],
    "Datums waiting to be sent.",
);

impl Export for Stats {
    fn export(&self, out: &mut Samples) {
        out.set(&DATUMS_SENT, [], count(self.sent));
        out.set(&DATUMS_DROPPED, [], count(self.dropped));
        out.set(&QUEUE_DATUMS, [], count(self.queued));
        for (kind, n) in &self.errors {
            out.set(&ERRORS, [&kind.to_string()], count(*n));
        }
    }
}

/// Shared between the publisher task and the daemon, which copies it into each snapshot.
pub type SharedStats = Arc<Mutex<Stats>>;

pub fn read_stats(stats: &SharedStats) -> Stats {
    stats.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

#[derive(Debug)]
pub struct Publisher {
    settings: Settings,
    client: Option<sdk::Client>,
    counters: Counters,
    queue: VecDeque<Datum>,
    stats: SharedStats,
}

impl Publisher {
    pub fn new(settings: Settings, stats: SharedStats) -> Self {
        Publisher {
            settings,
            client: None,
            counters: Counters::default(),
            queue: VecDeque::new(),
            stats,
        }
    }

    /// Uses `client` instead of one built from the default chain (another endpoint, test
    /// credentials).
    #[cfg(feature = "aws")]
    pub fn with_client(mut self, client: aws_sdk_cloudwatch::Client) -> Self {
        self.client = Some(sdk::Client::from(client));
        self
    }

    fn update(&self, change: impl FnOnce(&mut Stats)) {
        change(&mut self.stats.lock().unwrap_or_else(PoisonError::into_inner));
    }

    fn namespace(&self) -> &str {
        if self.settings.compat {
            datums::COMPAT_NAMESPACE
        } else {
            &self.settings.namespace
        }
    }

    /// The node's name in datums: `node_name` if configured, else the instance id, else (no
    /// IMDS yet) the host name.
    fn node_name(&self, snapshot: &Snapshot) -> String {
        self.settings.node_name.clone().unwrap_or_else(|| {
            snapshot.observations.node().map_or_else(
                || {
                    std::fs::read_to_string("/proc/sys/kernel/hostname")
                        .map_or_else(|_| "unknown".to_owned(), |h| h.trim().to_owned())
                },
                |n| n.identity.instance_id.clone(),
            )
        })
    }

    /// Queues a snapshot's datums for the publication period starting at `period`, dropping
    /// the oldest beyond the queue's bound.
    pub fn enqueue(&mut self, snapshot: &Snapshot, period: SystemTime) {
        let labels = Labels {
            cluster_name: self.settings.cluster_name.clone(),
            per_node: self.settings.per_node,
            node_name: self.node_name(snapshot),
            compat: self.settings.compat,
        };
        let datums = datums::datums(&labels, &mut self.counters, snapshot, period);
        self.enqueue_datums(datums);
    }

    /// Queues datums, dropping the oldest beyond the queue's bound.
    pub fn enqueue_datums(&mut self, datums: Vec<Datum>) {
        self.queue.extend(datums);
        let excess = self.queue.len().saturating_sub(self.settings.queue_datums);
        if excess > 0 {
            self.queue.drain(..excess);
            tracing::warn!(
                dropped = excess,
                "CloudWatch queue full: oldest datums dropped"
            );
        }
        let queued = self.queue.len() as u64;
        self.update(|s| {
            s.dropped += excess as u64;
            s.queued = queued;
        });
    }

    /// The client, made on first use: region from the configuration, else `AWS_REGION`, else
    /// the node's (IMDS).
    async fn ensure_client(&mut self, node_region: Option<&str>) {
        if self.client.is_none() {
            let region = self.settings.region.clone().or_else(|| {
                std::env::var("AWS_REGION")
                    .ok()
                    .or_else(|| node_region.map(str::to_owned))
            });
            self.client = Some(sdk::Client::from_environment(region).await);
        }
    }

    /// Sends the queue, batch by batch, until it is empty or `deadline` passes (what is left
    /// waits for the next publication).
    pub async fn flush(&mut self, node_region: Option<&str>, deadline: Instant) {
        self.ensure_client(node_region).await;
        let mut backoff = FIRST_BACKOFF;
        while !self.queue.is_empty() {
            // The next batch, taken from the queue in place (no copy of the whole queue).
            self.queue.make_contiguous();
            let size = datums::batches(self.queue.as_slices().0)
                .first()
                .map_or(0, |b| b.len());
            match self.put(&self.queue.as_slices().0[..size]).await {
                Ok(()) => {
                    self.queue.drain(..size);
                    backoff = FIRST_BACKOFF;
                    let queued = self.queue.len() as u64;
                    self.update(|s| {
                        s.sent += size as u64;
                        s.queued = queued;
                    });
                }
                Err(kind) => {
                    self.update(|s| *s.errors.entry(kind).or_default() += 1);
                    if matches!(kind, ErrorKind::Validation | ErrorKind::TooLong) {
                        self.queue.drain(..size);
                        self.update(|s| s.dropped += size as u64);
                        continue;
                    }
                    let jitter = backoff.mul_f64(jitter_fraction());
                    if Instant::now() + backoff + jitter >= deadline {
                        return;
                    }
                    tokio::time::sleep(backoff + jitter).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// One PutMetricData call; `Err` is the error kind.
    async fn put(&self, batch: &[Datum]) -> Result<(), ErrorKind> {
        let Some(client) = &self.client else {
            return Err(ErrorKind::Network);
        };
        client.put(self.namespace(), batch, CALL_TIMEOUT).await
    }
}

/// A fraction in [0, 1) for backoff jitter.
fn jitter_fraction() -> f64 {
    use std::hash::{BuildHasher, RandomState};
    #[allow(clippy::cast_precision_loss)]
    let fraction = (RandomState::new().hash_one(Instant::now()) % 1000) as f64 / 1000.0;
    fraction
}

/// When the next publication is due: the next multiple of `interval` (since the Unix epoch)
/// plus this node's fixed offset within the interval, so a fleet spreads its calls.
pub fn next_publication(now: SystemTime, interval: Duration, offset_seed: &str) -> SystemTime {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let period = interval.max(Duration::from_millis(1));
    let mut hasher = DefaultHasher::new();
    offset_seed.hash(&mut hasher);
    let millis = u64::try_from(period.as_millis()).unwrap_or(u64::MAX);
    let offset = Duration::from_millis(hasher.finish() % millis);
    let next = period_start(now, period) + offset;
    if next <= now { next + period } else { next }
}

/// The start of the publication period `at` falls in.
fn period_start(at: SystemTime, interval: Duration) -> SystemTime {
    let since = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let period = interval.as_millis().max(1);
    let start = u64::try_from(since.as_millis() / period * period).unwrap_or(u64::MAX);
    SystemTime::UNIX_EPOCH + Duration::from_millis(start)
}

/// The publisher task: publishes the latest snapshot once per period on its schedule until
/// `stop`, then flushes once more within `grace` (publishing the latest snapshot too if this
/// period has none yet).
pub async fn run(
    mut publisher: Publisher,
    mut snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) {
    let interval = publisher.settings.interval;
    // The node's offset within the interval comes from its name, known from the first
    // snapshot: scheduling before it would put every node starting in the same interval on
    // the same offset (a fleet-wide restart would publish all at once).
    let seed = tokio::select! {
        first = snapshots.wait_for(Option::is_some) => match first {
            Ok(first) => first.as_deref().map(|s| publisher.node_name(s)).unwrap_or_default(),
            Err(_) => return,
        },
        _ = stop.wait_for(|s| *s) => return,
    };
    let mut last_period: Option<SystemTime> = None;
    loop {
        let due = next_publication(SystemTime::now(), interval, &seed);
        let wait = due.duration_since(SystemTime::now()).unwrap_or_default();
        let stopping = tokio::select! {
            () = tokio::time::sleep(wait) => false,
            _ = stop.wait_for(|s| *s) => true,
        };
        let latest = snapshots.borrow_and_update().clone();
        let region = latest
            .as_ref()
            .and_then(|s| s.observations.node().map(|n| n.identity.region.clone()));
        let period = period_start(SystemTime::now(), interval);
        if let Some(snapshot) = latest
            && last_period != Some(period)
        {
            last_period = Some(period);
            publisher.enqueue(&snapshot, period);
        }
        let budget = if stopping { grace } else { interval };
        publisher
            .flush(region.as_deref(), Instant::now() + budget)
            .await;
        if stopping {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publications_align_to_the_interval_with_a_node_offset() {
        let at = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let minute = Duration::from_secs(60);
        let a = next_publication(at(1_800_000_030), minute, "i-0a");
        let b = next_publication(at(1_800_000_030), minute, "i-0b");
        for next in [a, b] {
            let wait = next.duration_since(at(1_800_000_030)).unwrap();
            assert!(wait > Duration::ZERO && wait <= minute, "{wait:?}");
        }
        assert_ne!(a, b, "two nodes, one second");
        // The same node publishes at the same offset every interval.
        let again = next_publication(a, minute, "i-0a");
        assert_eq!(again.duration_since(a).unwrap(), minute);
        // Each publication stands for the period it falls in: consecutive ones, consecutive
        // periods.
        assert_eq!(period_start(at(1_800_000_030), minute), at(1_800_000_000));
        assert_eq!(
            period_start(again, minute)
                .duration_since(period_start(a, minute))
                .unwrap(),
            minute
        );
    }
}
