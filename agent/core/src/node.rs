//! What a node is: its identity (from the instance identity document), its instance type's
//! limits and where they came from, and the sizing options in force. `init` writes the
//! kubelet's settings from it; the daemon compares what runs with it.

use serde::{Deserialize, Serialize};

use super::instance::{InstanceFacts, Source};
use super::names::{InstanceType, Region};
use super::sizing::{self, Sizing, SizingOptions};

/// What the node is, from the instance identity document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub instance_type: InstanceType,
    pub instance_id: String,
    pub region: Region,
    pub availability_zone: String,
}

/// A node before any sizing: its identity, its limits and where they came from, and the
/// sizing options (with `fallback_max_pods` applied when the limits are unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub identity: Identity,
    pub facts: InstanceFacts,
    pub source: Source,
    pub options: SizingOptions,
}

impl Node {
    pub fn sizing(&self) -> Sizing<'_> {
        sizing::size(&self.facts, self.source, &self.options)
    }
}
