//! What every collector is ([`Collector`]), what one run reads ([`Reading`]), and the one
//! wrapper that runs any of them ([`Slot`]): timed, bounded by the collector's timeout,
//! logged, turned into a [`Status`] with its metric families, and, for a collector that asks
//! for it, the last good reading served stale when a run fails.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::Chain;
use crate::telemetry::family::{Describe, Export, Family, Samples};

/// A collector, by its place in the registration table (`collect/mod.rs`), which defines one
/// constant per collector (`CollectorId::Imds`, …) and [`CollectorId::ALL`]; ordered as the
/// table is, which is the order their statuses are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CollectorId {
    order: usize,
    name: &'static str,
}

impl CollectorId {
    /// The table's entry `order`, called `name`.
    pub(super) const fn new(order: usize, name: &'static str) -> Self {
        CollectorId { order, name }
    }

    /// Its place in the table.
    pub(super) const fn order(self) -> usize {
        self.order
    }

    /// The collector's name in metrics (`collector="imds"`), logs and reports.
    pub fn name(self) -> &'static str {
        self.name
    }
}

impl std::fmt::Display for CollectorId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a collector's run failed, or what part of it failed: the error itself, shared, so the
/// log and `check`'s report show its whole chain. Equal when they read the same.
#[derive(Debug, Clone)]
pub struct RunError(Arc<dyn std::error::Error + Send + Sync + 'static>);

impl RunError {
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        RunError(Arc::new(error))
    }
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Chain(&*self.0).fmt(f)
    }
}

impl PartialEq for RunError {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for RunError {}

/// A run that outlived the collector's timeout.
#[derive(Debug, thiserror::Error)]
#[error("no answer within {0:?}")]
struct NoAnswer(Duration);

/// What one run of a collector read.
#[derive(Debug)]
pub enum Reading<T> {
    /// What the source said this run.
    Fresh(T),
    /// What the source said, though part of the run failed: the values are served and the
    /// failure reported.
    Partial(T, RunError),
    /// The source does not exist on this node (no VPC CNI, no ENA device, no kubelet files):
    /// not a failure.
    NotApplicable(String),
}

/// One source of the daemon.
pub trait Collector {
    /// What this collector adds to the snapshot (registered, it must also be an [`Export`]:
    /// the snapshot serves it).
    type Part: Clone;
    type Error: std::error::Error + Send + Sync + 'static;
    /// Its entry in the registration table (a check there holds the two together).
    const ID: CollectorId;
    /// The metric families its part serves (a test holds them to the daemon's catalogue).
    const FAMILIES: &'static [&'static Describe];
    /// Serve the last good reading, marked stale, when a run fails (so a flapping source
    /// does not blank the dashboards).
    const KEEPS_LAST_GOOD: bool = false;
    /// How long one run may take before it counts as failed.
    const TIMEOUT: Duration;

    fn collect(&mut self) -> impl Future<Output = Result<Reading<Self::Part>, Self::Error>>;
}

/// A collector's outcome for one tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Ok,
    NotApplicable(String),
    Failed(RunError),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub collector: CollectorId,
    pub health: Health,
    /// The values served are an earlier tick's.
    pub stale: bool,
    pub duration: Duration,
}

pub static SUCCESS: Family<1> = Family::gauge(
    "nodecap_collector_success",
    &["collector"],
    "1 when the collector's last run succeeded or did not apply, 0 when it failed.",
);
pub static APPLICABLE: Family<1> = Family::gauge(
    "nodecap_collector_applicable",
    &["collector"],
    "0 when the collector's source does not exist on this node (no VPC CNI, no ENA device, no kubelet files).",
);
pub static STALE: Family<1> = Family::gauge(
    "nodecap_collector_stale",
    &["collector"],
    "1 when the values served come from an earlier run because the last one failed.",
);
pub static DURATION: Family<1> = Family::gauge(
    "nodecap_collector_duration_seconds",
    &["collector"],
    "How long the collector's last run took.",
);

impl Export for Status {
    fn export(&self, out: &mut Samples) {
        let id = self.collector.name();
        let flag = |on: bool| if on { 1.0 } else { 0.0 };
        out.set(
            &SUCCESS,
            [id],
            flag(!matches!(self.health, Health::Failed(_))),
        );
        out.set(
            &APPLICABLE,
            [id],
            flag(!matches!(self.health, Health::NotApplicable(_))),
        );
        out.set(&STALE, [id], flag(self.stale));
        out.set(&DURATION, [id], self.duration.as_secs_f64());
    }
}

/// A collector and what the wrapper remembers of it between ticks.
#[derive(Debug)]
pub struct Slot<C: Collector> {
    collector: C,
    last_good: Option<C::Part>,
}

impl<C: Collector> Slot<C> {
    pub fn new(collector: C) -> Self {
        Slot {
            collector,
            last_good: None,
        }
    }

    /// One run: timed, bounded by the collector's timeout, logged when it fails.
    pub async fn run(&mut self) -> (Option<C::Part>, Status) {
        let start = Instant::now();
        let outcome = tokio::time::timeout(C::TIMEOUT, self.collector.collect()).await;
        let failed = |this: &Self, why: RunError| {
            let stale = this.last_good.clone();
            let is_stale = stale.is_some();
            (stale, Health::Failed(why), is_stale)
        };
        let (part, health, stale) = match outcome {
            Ok(Ok(Reading::Fresh(part))) => {
                self.remember(&part);
                (Some(part), Health::Ok, false)
            }
            Ok(Ok(Reading::Partial(part, failure))) => {
                self.remember(&part);
                (Some(part), Health::Failed(failure), false)
            }
            Ok(Ok(Reading::NotApplicable(why))) => (None, Health::NotApplicable(why), false),
            Ok(Err(e)) => failed(self, RunError::new(e)),
            Err(_) => failed(self, RunError::new(NoAnswer(C::TIMEOUT))),
        };
        match &health {
            Health::Failed(why) => {
                tracing::warn!(collector = C::ID.name(), stale, "collector failed: {why}");
            }
            Health::NotApplicable(why) => {
                tracing::debug!(collector = C::ID.name(), "not applicable: {why}");
            }
            Health::Ok => {}
        }
        let status = Status {
            collector: C::ID,
            health,
            stale,
            duration: start.elapsed(),
        };
        (part, status)
    }

    fn remember(&mut self, part: &C::Part) {
        if C::KEEPS_LAST_GOOD {
            self.last_good = Some(part.clone());
        }
    }
}

/// Runs blocking reads (files, procfs, the ioctl) on the runtime's blocking threads, so a
/// slow file cannot hold up the endpoint or the other collectors, and the collector's
/// timeout bounds the wait.
pub(super) async fn blocking<T, E>(
    read: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: From<Joined> + Send + 'static,
{
    tokio::task::spawn_blocking(read)
        .await
        .unwrap_or_else(|e| Err(E::from(Joined(e.to_string()))))
}

/// A blocking read that panicked or was cancelled.
#[derive(Debug, thiserror::Error)]
#[error("the read did not finish: {0}")]
pub struct Joined(String);

#[cfg(test)]
mod tests {
    use super::*;

    struct Flaky {
        answers: Vec<Result<Reading<u32>, std::io::Error>>,
    }

    impl Collector for Flaky {
        type Part = u32;
        type Error = std::io::Error;
        const ID: CollectorId = CollectorId::Imds;
        const FAMILIES: &'static [&'static Describe] = &[];
        const KEEPS_LAST_GOOD: bool = true;
        const TIMEOUT: Duration = Duration::from_secs(1);

        async fn collect(&mut self) -> Result<Reading<u32>, std::io::Error> {
            self.answers.remove(0)
        }
    }

    #[tokio::test]
    async fn the_wrapper_keeps_the_last_good_reading_and_says_it_is_stale() {
        let mut slot = Slot::new(Flaky {
            answers: vec![
                Ok(Reading::Fresh(7)),
                Err(std::io::Error::other("down")),
                Ok(Reading::Partial(
                    8,
                    RunError::new(std::io::Error::other("half")),
                )),
                Ok(Reading::NotApplicable("gone".to_owned())),
            ],
        });
        let (part, status) = slot.run().await;
        assert_eq!(
            (part, status.health, status.stale),
            (Some(7), Health::Ok, false)
        );
        let (part, status) = slot.run().await;
        assert_eq!(
            (part, status.health, status.stale),
            (
                Some(7),
                Health::Failed(RunError::new(std::io::Error::other("down"))),
                true
            )
        );
        let (part, status) = slot.run().await;
        assert_eq!(
            (part, status.health, status.stale),
            (
                Some(8),
                Health::Failed(RunError::new(std::io::Error::other("half"))),
                false
            )
        );
        let (part, status) = slot.run().await;
        assert_eq!(
            (part, status.health),
            (None, Health::NotApplicable("gone".to_owned()))
        );
    }

    struct Stuck;

    impl Collector for Stuck {
        type Part = ();
        type Error = std::io::Error;
        const ID: CollectorId = CollectorId::Kubelet;
        const FAMILIES: &'static [&'static Describe] = &[];
        const TIMEOUT: Duration = Duration::from_millis(50);

        async fn collect(&mut self) -> Result<Reading<()>, std::io::Error> {
            std::future::pending().await
        }
    }

    #[tokio::test]
    async fn a_stuck_source_fails_at_its_timeout() {
        let (part, status) = Slot::new(Stuck).run().await;
        assert_eq!(part, None);
        assert_eq!(
            status.health,
            Health::Failed(RunError::new(NoAnswer(Duration::from_millis(50))))
        );
        assert!(status.duration < Duration::from_secs(1));
    }
}
