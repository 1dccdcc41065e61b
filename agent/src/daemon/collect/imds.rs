//! The IMDS collector: what the node is (identity and limits, resolved once, as `init` does)
//! and the ENIs EC2 has attached, each tick: per ENI its id, device number, network card,
//! IPv4 addresses (primary included), /28 prefixes and IPv6 addresses. This is EC2's view,
//! independent of ipamd's bookkeeping.
//!
//! If IMDS fails, the last good view is served, marked stale (the collector still reports
//! failure), so a flapping IMDS does not blank the dashboards. A node that cannot be sized
//! yet still has its ENIs served; the failure is reported and sizing retried next tick.

use std::sync::Arc;
use std::time::Duration;

use super::collector::{Collector, CollectorId, Reading, RunError};
use crate::aws::imds::{self, Endpoint, Eni, ImdsClient};
use crate::aws::limits::{self, Lookup};
use crate::core::node::Node;
use crate::telemetry::family::Describe;
use crate::telemetry::family::{Export, Family, Samples, count};

/// Each tick's IMDS work must finish within this (the client's own deadline).
const TICK_BUDGET: Duration = Duration::from_secs(10);

/// What IMDS said: the node (once it could be sized) and its ENIs.
#[derive(Debug, Clone)]
pub struct Imds {
    pub node: Option<Arc<Node>>,
    pub enis: Arc<Vec<Eni>>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Node(limits::Error),
    #[error(transparent)]
    Enis(imds::Error),
}

#[derive(Debug)]
pub struct ImdsCollector {
    client: ImdsClient,
    lookup: Lookup,
    node: Option<Arc<Node>>,
}

impl ImdsCollector {
    pub fn new(endpoint: &Endpoint, lookup: &Lookup) -> Self {
        ImdsCollector {
            client: ImdsClient::new(endpoint, TICK_BUDGET),
            lookup: lookup.clone(),
            node: None,
        }
    }
}

impl Collector for ImdsCollector {
    type Part = Imds;
    type Error = Error;
    const ID: CollectorId = CollectorId::Imds;
    const FAMILIES: &'static [&'static Describe] = &[
        &INSTANCE_INFO.describe,
        &ENI_INFO.describe,
        &ENI_IPV4_ADDRESSES.describe,
        &ENI_IPV4_PREFIXES.describe,
        &ENI_IPV6_ADDRESSES.describe,
    ];
    const KEEPS_LAST_GOOD: bool = true;
    /// The client gives up at its deadline; the margin lets its own error be the one reported.
    const TIMEOUT: Duration = Duration::from_secs(TICK_BUDGET.as_secs() + 1);

    async fn collect(&mut self) -> Result<Reading<Imds>, Error> {
        self.client
            .renew_deadline(TICK_BUDGET.min(self.lookup.deadline));
        let mut node_failure = None;
        if self.node.is_none() {
            match limits::resolve_node(&self.client, &self.lookup).await {
                Ok(node) => self.node = Some(Arc::new(node)),
                Err(e) => node_failure = Some(Error::Node(e)),
            }
        }
        // When both fail, the first failure is the one to report.
        let enis = match self.client.enis().await {
            Ok(enis) => enis,
            Err(e) => return Err(node_failure.unwrap_or(Error::Enis(e))),
        };
        let part = Imds {
            node: self.node.clone(),
            enis: Arc::new(enis),
        };
        Ok(match node_failure {
            Some(e) => Reading::Partial(part, RunError::new(e)),
            None => Reading::Fresh(part),
        })
    }
}

pub static INSTANCE_INFO: Family<3> = Family::gauge(
    "nodecap_instance_info",
    &["instance_type", "availability_zone", "source"],
    "The instance and where its limits came from (embedded, cache, api, fallback); always 1.",
);
pub static ENI_INFO: Family<4> = Family::gauge(
    "nodecap_eni_info",
    &["eni", "device_number", "network_card", "subnet_id"],
    "An attached ENI and its subnet (IMDS); always 1. Joins nodes to their subnets.",
);
pub static ENI_IPV4_ADDRESSES: Family<1> = Family::gauge(
    "nodecap_eni_ipv4_addresses",
    &["eni"],
    "Private IPv4 addresses on the ENI, primary included (IMDS).",
);
pub static ENI_IPV4_PREFIXES: Family<1> = Family::gauge(
    "nodecap_eni_ipv4_prefixes",
    &["eni"],
    "/28 prefixes on the ENI (IMDS).",
);
pub static ENI_IPV6_ADDRESSES: Family<1> = Family::gauge(
    "nodecap_eni_ipv6_addresses",
    &["eni"],
    "IPv6 addresses on the ENI (IMDS).",
);

impl Export for Imds {
    fn export(&self, out: &mut Samples) {
        if let Some(node) = self.node.as_deref() {
            let source = node.source.to_string();
            out.set(
                &INSTANCE_INFO,
                [
                    &node.identity.instance_type,
                    &node.identity.availability_zone,
                    &source,
                ],
                1.0,
            );
        }
        let length = |list: &[String]| count(list.len() as u64);
        for eni in self.enis.iter() {
            let id = eni.interface_id.as_str();
            let (device, card) = (eni.device_number.to_string(), eni.network_card.to_string());
            out.set(&ENI_INFO, [id, &device, &card, &eni.subnet_id], 1.0);
            out.set(&ENI_IPV4_ADDRESSES, [id], length(&eni.ipv4));
            out.set(&ENI_IPV4_PREFIXES, [id], length(&eni.ipv4_prefixes));
            out.set(&ENI_IPV6_ADDRESSES, [id], length(&eni.ipv6));
        }
    }
}
