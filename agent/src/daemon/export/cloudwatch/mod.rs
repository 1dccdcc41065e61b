//! The node's CloudWatch publication: each node publishes its own datums, so the cluster
//! rollup is CloudWatch's own statistics and no central scraper exists. [`datums`] turns a
//! snapshot into datums (pure: native metrics with their dimension sets, or the
//! cni-metrics-helper's names in compatibility mode, counters as per-node deltas); [`run`] is
//! the publisher's task, on its own schedule, fed the latest snapshot, so `/metrics` never
//! waits on it. The transport (queue, batches, backoff, the SDK call) is
//! [`crate::telemetry::cloudwatch`].

pub mod datums;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::time::Instant;

use crate::core::names::{DimensionValue, NodeName};
use crate::daemon::snapshot::Snapshot;
use crate::telemetry::cloudwatch::datum::Counters;
use crate::telemetry::cloudwatch::{Publisher, Settings, next_publication, period_start};
use datums::Labels;

/// The node's name in datums: `node_name` if configured, else the instance id, else (no
/// IMDS yet) the host name.
fn node_name(settings: &Settings, snapshot: &Snapshot) -> NodeName {
    if let Some(name) = &settings.node_name {
        return name.clone();
    }
    let named = match snapshot.observations.node() {
        Some(node) => NodeName::try_from(node.identity.instance_id.as_str()).ok(),
        // A host name is at most 64 bytes (HOST_NAME_MAX).
        None => crate::file::read_text_if_exists(Path::new("/proc/sys/kernel/hostname"), 256)
            .ok()
            .flatten()
            .and_then(|h| NodeName::try_from(h.trim()).ok()),
    };
    named.unwrap_or(NodeName::UNKNOWN)
}

/// The publisher task: publishes the latest snapshot once per period on its schedule until
/// `stop`, then flushes once more within `grace` (publishing the latest snapshot too if this
/// period has none yet).
pub async fn run(
    cluster_name: DimensionValue,
    mut publisher: Publisher,
    mut snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) {
    let interval = publisher.settings().interval;
    let mut counters = Counters::default();
    // The node's offset within the interval comes from its name, known from the first
    // snapshot: scheduling before it would put every node starting in the same interval on
    // the same offset (a fleet-wide restart would publish all at once).
    let seed = tokio::select! {
        first = snapshots.wait_for(Option::is_some) => match first {
            Ok(first) => first.as_deref().map(|s| node_name(publisher.settings(), s)).unwrap_or(NodeName::UNKNOWN),
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
            let settings = publisher.settings();
            let labels = Labels {
                cluster_name: cluster_name.clone(),
                per_node: settings.per_node,
                node_name: node_name(settings, &snapshot),
                compat: settings.compat,
            };
            let datums = datums::datums(&labels, &mut counters, &snapshot, period);
            publisher.enqueue_datums(datums);
        }
        let budget = if stopping { grace } else { interval };
        publisher
            .flush(region.as_ref(), Instant::now() + budget)
            .await;
        if stopping {
            return;
        }
    }
}
