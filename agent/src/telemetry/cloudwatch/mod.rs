//! The CloudWatch publisher every pipeline shares: [`datum`] is what PutMetricData takes and
//! how it is batched; [`Publisher`] queues datums and sends them (aws-sdk-cloudwatch). What a
//! pipeline publishes is its own: the node daemon's snapshot (`daemon::export::cloudwatch`),
//! `nodecap subnets`' view.
//!
//! Transport rules: at most 1,000 datums and 1 MB per call; throttling, 5xx and network
//! errors are retried with jittered exponential backoff within the publication's time; a 4xx
//! validation error is not retried (the batch is logged with its first metric and dropped);
//! datums that could not be sent wait in a bounded queue that drops the oldest beyond
//! `queue_datums` (counted).

pub mod call;
pub mod datum;
// The SDK calls: aws-config and aws-sdk-cloudwatch. Built without the `aws` feature (the
// fuzz targets' build, which must not compile the AWS crates), a stand-in fails every call.
#[cfg_attr(feature = "aws", path = "sdk.rs")]
#[cfg_attr(not(feature = "aws"), path = "sdk_unavailable.rs")]
mod sdk;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::core::names::{DimensionValue, NodeName, Region};
use crate::telemetry::family::{Export, Family, Samples, count};
pub use call::ErrorKind;
use datum::Datum;

/// What the publisher does (the `[cloudwatch]` section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The `ClusterName`/`CLUSTER_ID` value (a dimension value: any cluster, EKS or not);
    /// `None` until read on the node from `cluster_name_from`.
    pub cluster_name: Option<DimensionValue>,
    pub cluster_name_from: Option<ClusterNameSource>,
    pub namespace: String,
    pub interval: Duration,
    pub per_node: bool,
    pub node_name: Option<NodeName>,
    pub compat: bool,
    pub queue_datums: usize,
    pub region: Option<Region>,
}

/// Where the cluster name is read on the node, when it is not configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterNameSource {
    /// An instance tag, from IMDS `meta-data/tags/instance/<key>`.
    Tag(String),
    /// A label in the kubelet's `--node-labels`.
    Label(String),
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
    queue: VecDeque<Datum>,
    stats: SharedStats,
}

impl Publisher {
    pub fn new(settings: Settings, stats: SharedStats) -> Self {
        Publisher {
            settings,
            client: None,
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
            datum::COMPAT_NAMESPACE
        } else {
            &self.settings.namespace
        }
    }

    /// What it was started with.
    pub fn settings(&self) -> &Settings {
        &self.settings
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
    async fn ensure_client(&mut self, node_region: Option<&Region>) {
        if self.client.is_none() {
            // An AWS_REGION that is not a region name is passed over for the node's.
            let region = self
                .settings
                .region
                .clone()
                .or_else(|| {
                    std::env::var("AWS_REGION")
                        .ok()
                        .and_then(|r| Region::try_from(r).ok())
                })
                .or_else(|| node_region.cloned());
            self.client = Some(sdk::Client::from_environment(region).await);
        }
    }

    /// Sends the queue, batch by batch, until it is empty or `deadline` passes (what is left
    /// waits for the next publication).
    pub async fn flush(&mut self, node_region: Option<&Region>, deadline: Instant) {
        self.ensure_client(node_region).await;
        let mut backoff = FIRST_BACKOFF;
        while !self.queue.is_empty() {
            // The next batch, taken from the queue in place (no copy of the whole queue).
            self.queue.make_contiguous();
            let size = datum::batches(self.queue.as_slices().0)
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
    (RandomState::new().hash_one(Instant::now()) % 1000) as f64 / 1000.0
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
pub fn period_start(at: SystemTime, interval: Duration) -> SystemTime {
    let since = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let period = interval.as_millis().max(1);
    let start = u64::try_from(since.as_millis() / period * period).unwrap_or(u64::MAX);
    SystemTime::UNIX_EPOCH + Duration::from_millis(start)
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
