//! The kubelet collector: what the kubelet runs with (`maxPods`, the memory of
//! `kubeReserved` and `systemReserved`), read from its files by
//! [`kubelet::files`](crate::kubelet::files). Not applicable on a node without any of them.

use std::time::Duration;

use super::collector::{Collector, CollectorId, Joined, Reading, blocking};
use crate::kubelet::Targets;
use crate::kubelet::files::{self, KubeletView as View};
use crate::telemetry::family::Describe;
use crate::telemetry::family::{Export, Family, Samples};

pub use crate::kubelet::files::KubeletView;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Files(#[from] files::Error),
    #[error(transparent)]
    Joined(#[from] Joined),
}

/// Reads the kubelet's files.
#[derive(Debug, Clone)]
pub struct KubeletCollector {
    targets: Targets,
}

impl KubeletCollector {
    pub fn new(targets: Targets) -> Self {
        KubeletCollector { targets }
    }
}

impl Collector for KubeletCollector {
    type Part = View;
    type Error = Error;
    const ID: CollectorId = CollectorId::Kubelet;
    const FAMILIES: &'static [&'static Describe] = &[&MAX_PODS.describe];
    const TIMEOUT: Duration = Duration::from_secs(5);

    async fn collect(&mut self) -> Result<Reading<View>, Error> {
        let targets = self.targets.clone();
        let view = blocking(move || files::read(&targets).map_err(Error::Files)).await?;
        Ok(match view {
            Some(view) => Reading::Fresh(view),
            None => Reading::NotApplicable("no kubelet configuration file on this node".to_owned()),
        })
    }
}

pub static MAX_PODS: Family<0> = Family::gauge(
    "nodecap_kubelet_max_pods",
    &[],
    "maxPods the kubelet's configuration files set.",
);

impl Export for View {
    fn export(&self, out: &mut Samples) {
        if let Some((n, _, _)) = &self.max_pods {
            out.set(&MAX_PODS, [], f64::from(*n));
        }
    }
}
