//! The plumbing every long-running pipeline shares, whatever it reads: the metric vocabulary
//! ([`family`]), the Prometheus endpoint with its web config ([`prometheus`]), the CloudWatch
//! publisher ([`cloudwatch`]), the stop signals ([`signals`]), and the one loop that drives a
//! [`Pipeline`]:
//!
//! ```text
//!   bind (web config, port, signals) → serve ─┐
//!   loop: cycle → render /metrics → publish → sleep (interval ± 10 %)
//!   SIGTERM/SIGINT → the endpoint's grace and the pipeline's last flush, together
//! ```
//!
//! The node daemon (`nodecap run`) and the cluster-level subnet reader (`nodecap subnets`) each
//! implement [`Pipeline`]; neither knows the other.

pub mod cloudwatch;
pub mod family;
pub mod prometheus;
pub mod signals;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::watch;

use family::Export;
use prometheus::{server, web};

/// How long open requests get to finish after SIGTERM (and the last flush after them).
pub const GRACE: Duration = Duration::from_secs(5);
/// `/healthz` fails when no cycle completed for this many intervals, plus the longest a cycle
/// may legitimately take (so slow sources are not mistaken for a hang).
const STUCK_INTERVALS: u32 = 3;

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

/// One pipeline's work, driven by [`run`].
pub trait Pipeline {
    /// One cycle: read the sources and keep what the next rendering shows. Dropped unfinished
    /// when a stop signal arrives.
    fn cycle(&mut self) -> impl Future<Output = ()>;
    /// What `/metrics` serves after the cycle.
    fn exports(&self) -> Vec<&dyn Export>;
    /// After the rendering: hand the cycle's results on (`cycles` counts from 1). Dropped
    /// unfinished when a stop signal arrives.
    fn publish(&mut self, cycles: u64) -> impl Future<Output = ()>;
    /// After a stop signal, while the endpoint's open requests finish: the last flush,
    /// within [`GRACE`].
    fn finish(self) -> impl Future<Output = ()>;
}

/// What is in place before any source is read: the web config (a broken one is a
/// configuration error, exit 64), the bound listener, the signal handlers.
#[derive(Debug)]
pub struct BoundEndpoint {
    addr: SocketAddr,
    web: web::Web,
    listener: TcpListener,
    stop: signals::Stop,
}

/// Loads the web config, binds `addr` and installs the signal handlers.
pub fn bind(addr: SocketAddr, web_config_file: Option<&Path>) -> Result<BoundEndpoint, Error> {
    let web = match web_config_file {
        Some(path) => web::load(path)?,
        None => web::Web::default(),
    };
    let listener = listen(addr).map_err(|source| Error::Bind { addr, source })?;
    let stop = signals::Stop::install().map_err(Error::Signals)?;
    raise_open_files_limit();
    Ok(BoundEndpoint {
        addr,
        web,
        listener,
        stop,
    })
}

/// Serves `/metrics`, `/healthz` and `/readyz` and runs `pipeline` every `interval` (± 10 %)
/// until SIGTERM or SIGINT. `longest_cycle` is the most one cycle may legitimately take.
pub async fn run(
    bound: BoundEndpoint,
    interval: Duration,
    longest_cycle: Duration,
    mut pipeline: impl Pipeline,
) -> Result<(), Error> {
    let BoundEndpoint {
        addr,
        web,
        listener,
        mut stop,
    } = bound;
    let (publish, published) = watch::channel(Arc::new(server::Published::default()));
    let (stopping, stopped) = watch::channel(false);
    let server = tokio::spawn(server::serve(
        listener,
        Arc::new(web),
        published,
        stopped,
        interval * STUCK_INTERVALS + longest_cycle,
    ));
    tracing::info!(listen = %addr, interval = ?interval, "serving /metrics, /healthz, /readyz");
    let mut cycles: u64 = 0;
    loop {
        tokio::select! {
            () = pipeline.cycle() => {}
            () = stop.received() => break,
        }
        match prometheus::render(&pipeline.exports()) {
            Ok(text) => {
                publish.send_replace(Arc::new(server::Published {
                    metrics: Some(Bytes::from(text)),
                    at: Some(Instant::now()),
                }));
            }
            // Keeps serving the last rendering; /healthz turns 503 if this persists.
            Err(e) => tracing::error!("cannot render the metrics: {e}"),
        }
        cycles += 1;
        tokio::select! {
            () = pipeline.publish(cycles) => {}
            () = stop.received() => break,
        }
        tokio::select! {
            () = tokio::time::sleep(jittered(interval, cycles)) => {}
            () = stop.received() => break,
        }
    }
    tracing::info!(grace = ?GRACE, "stopping");
    let _ = stopping.send(true);
    let endpoint = async {
        if tokio::time::timeout(GRACE, server).await.is_err() {
            tracing::warn!("open connections did not finish within the grace period; closing them");
        }
    };
    tokio::join!(endpoint, pipeline.finish());
    Ok(())
}

/// `interval` ± 10 %, so a fleet started together does not tick (and hit its sources) in step.
fn jittered(interval: Duration, tick: u64) -> Duration {
    use std::hash::{BuildHasher, RandomState};
    let random = RandomState::new().hash_one(tick);
    // A factor in [0.9, 1.1).
    let factor = 0.9 + f64::from(u32::try_from(random % 2000).unwrap_or(0)) / 10_000.0;
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
