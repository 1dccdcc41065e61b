//! `nodecap run`: collect on a jittered timer, build one snapshot per tick, render it once,
//! publish it to the HTTP endpoint; stop cleanly on SIGTERM or SIGINT.
//!
//! Data flow: [`Collectors::collect`] → [`Snapshot::new`] → [`metrics::render`] →
//! [`server::Published`] (a `watch` channel the endpoint reads), and, with CloudWatch enabled,
//! the snapshot to [`cloudwatch::run`] (another task, on its own schedule). The configuration
//! is checked before this runs (exit 64); binding the port is the first thing done here.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::cloudwatch;
use crate::collect::{self, Collectors};
use crate::config::Config;
use crate::metrics;
use crate::server::{self, Published};
use crate::snapshot::Snapshot;

/// How long open requests get to finish after SIGTERM.
pub const GRACE: Duration = Duration::from_secs(5);
/// `/healthz` fails when no tick completed for this many intervals (plus the longest a tick
/// may legitimately take, [`collect::MAX_TICK`], so slow sources are not mistaken for a hang).
const STUCK_INTERVALS: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Setup(String),
}

pub async fn run(config: Config) -> Result<(), Error> {
    let config = Arc::new(config);
    let addr = config.run.listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })?;
    raise_open_files_limit();
    let mut terminate = signal(SignalKind::terminate())
        .map_err(|e| Error::Setup(format!("SIGTERM handler: {e}")))?;
    let mut interrupt = signal(SignalKind::interrupt())
        .map_err(|e| Error::Setup(format!("SIGINT handler: {e}")))?;
    let mut collectors = Collectors::new(Arc::clone(&config)).map_err(Error::Setup)?;

    let (publish, published) = watch::channel(Arc::new(Published::default()));
    let (stop, stopped) = watch::channel(false);
    let interval = config.run.interval;
    let server = tokio::spawn(server::serve(
        listener,
        published,
        stopped,
        interval * STUCK_INTERVALS + collect::MAX_TICK,
    ));
    tracing::info!(listen = %addr, interval = ?interval, "serving /metrics, /healthz, /readyz");

    // CloudWatch, when enabled: its own task, fed the latest snapshot.
    let (feed, snapshots) = watch::channel(None);
    let publisher = config.cloudwatch.clone().map(|settings| {
        let stats = cloudwatch::SharedStats::default();
        tracing::info!(
            namespace = if settings.compat { cloudwatch::datums::COMPAT_NAMESPACE } else { settings.namespace.as_str() },
            cluster = %settings.cluster_name,
            interval = ?settings.interval,
            "publishing to CloudWatch"
        );
        let task = tokio::spawn(cloudwatch::run(
            cloudwatch::Publisher::new(settings, Arc::clone(&stats)),
            snapshots,
            stop.subscribe(),
            GRACE,
        ));
        (stats, task)
    });

    let mut ticks: u64 = 0;
    loop {
        let mut observations = tokio::select! {
            o = collectors.collect() => o,
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        };
        observations.cloudwatch = publisher
            .as_ref()
            .map(|(stats, _)| cloudwatch::read_stats(stats));
        let snapshot = Arc::new(Snapshot::new(observations));
        let text = metrics::render(&snapshot);
        publish.send_replace(Arc::new(Published {
            metrics: Some(Bytes::from(text)),
            at: Some(Instant::now()),
        }));
        if publisher.is_some() {
            feed.send_replace(Some(Arc::clone(&snapshot)));
        }
        ticks += 1;
        tracing::debug!(tick = ticks, "snapshot published");
        if ticks == 1 {
            tracing::info!("first snapshot published: ready");
        }
        tokio::select! {
            () = tokio::time::sleep(jittered(interval, ticks)) => {}
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
    }
    tracing::info!(grace = ?GRACE, "stopping");
    let _ = stop.send(true);
    if tokio::time::timeout(GRACE, server).await.is_err() {
        tracing::warn!("open connections did not finish within the grace period; closing them");
    }
    if let Some((stats, task)) = publisher {
        // The publisher flushes once more within its own grace period.
        if tokio::time::timeout(GRACE + Duration::from_secs(1), task)
            .await
            .is_err()
        {
            tracing::warn!("CloudWatch's final flush did not finish within the grace period");
        }
        let stats = cloudwatch::read_stats(&stats);
        tracing::info!(
            sent = stats.sent,
            dropped = stats.dropped,
            unsent = stats.queued,
            "CloudWatch publisher stopped"
        );
    }
    Ok(())
}

/// `interval` ± 10 %, so a fleet started together does not tick (and hit IMDS) in step.
fn jittered(interval: Duration, tick: u64) -> Duration {
    use std::hash::{BuildHasher, RandomState};
    let random = RandomState::new().hash_one(tick);
    // A factor in [0.9, 1.1).
    #[allow(clippy::cast_precision_loss)]
    let factor = 0.9 + (random % 2000) as f64 / 10_000.0;
    interval.mul_f64(factor)
}

/// Lets the endpoint hold its connection limit: the soft open-files limit is often 1024.
fn raise_open_files_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let wanted = hard.min(u64::from(server::MAX_CONNECTIONS) * 2 + 256);
        if soft < wanted && setrlimit(Resource::RLIMIT_NOFILE, wanted, hard).is_err() {
            tracing::warn!(soft, "cannot raise the open-files limit");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
