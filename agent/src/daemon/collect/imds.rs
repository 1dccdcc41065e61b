//! The IMDS collector: what the node is (identity and limits, resolved once, as `init` does)
//! and the ENIs EC2 has attached, each tick: per ENI its id, device number, network card,
//! IPv4 addresses (primary included), /28 prefixes and IPv6 addresses. This is EC2's view,
//! independent of ipamd's bookkeeping.
//!
//! If IMDS fails, the last good ENI view is kept and marked stale (the collector still reports
//! failure), so a flapping IMDS does not blank the dashboards.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::imds::{Eni, ImdsClient};
use crate::init::{self, Node};

/// Each tick's IMDS work must finish within this.
pub const TICK_BUDGET: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct ImdsCollector {
    client: ImdsClient,
    node: Option<Arc<Node>>,
    last_good: Option<Arc<Vec<Eni>>>,
}

/// One tick's result.
#[derive(Debug)]
pub struct Collected {
    pub node: Option<Arc<Node>>,
    pub enis: Option<Arc<Vec<Eni>>>,
    /// `enis` is an earlier tick's view.
    pub stale: bool,
    /// Why this tick failed, if it did.
    pub error: Option<String>,
}

impl ImdsCollector {
    pub fn new(config: &Config) -> Result<Self, String> {
        let client =
            ImdsClient::new(&config.imds_endpoint, TICK_BUDGET).map_err(|e| e.to_string())?;
        Ok(ImdsCollector {
            client,
            node: None,
            last_good: None,
        })
    }

    pub async fn collect(&mut self, config: &Config) -> Collected {
        self.client
            .renew_deadline(TICK_BUDGET.min(config.imds_deadline));
        let mut error = None;
        if self.node.is_none() {
            match init::resolve_node(config, &self.client).await {
                Ok(node) => self.node = Some(Arc::new(node)),
                Err(e) => error = Some(e.to_string()),
            }
        }
        let (enis, stale) = match self.client.enis().await {
            Ok(enis) => {
                let enis = Arc::new(enis);
                self.last_good = Some(Arc::clone(&enis));
                (Some(enis), false)
            }
            Err(e) => {
                error.get_or_insert(e.to_string());
                (self.last_good.clone(), self.last_good.is_some())
            }
        };
        Collected {
            node: self.node.clone(),
            enis,
            stale,
            error,
        }
    }
}
