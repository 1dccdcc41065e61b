//! CloudWatch: each node publishes its own datums, so the cluster rollup is CloudWatch's own
//! statistics and no central scraper exists. [`datums`] turns a snapshot into datums (pure:
//! native metrics with their dimension sets, or the cni-metrics-helper's names in
//! compatibility mode, counters as per-node deltas) and splits them into PutMetricData-sized
//! batches.

pub mod datums;
