//! The `KubeletConfiguration` fields nodecap owns, as the kubelet names them: `maxPods`,
//! `kubeReserved`, `systemReserved` and `evictionHard`. Every output format and every backend
//! is rendered from this one value.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::core::sizing::{Reservation, Sizing};

/// What a sizing asks of the kubelet, in the kubelet's JSON names and value syntax.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeletSettings {
    pub max_pods: u32,
    pub kube_reserved: BTreeMap<&'static str, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_reserved: Option<BTreeMap<&'static str, String>>,
    pub eviction_hard: BTreeMap<&'static str, &'static str>,
}

impl KubeletSettings {
    pub fn from_sizing(sizing: &Sizing<'_>) -> Self {
        KubeletSettings {
            max_pods: sizing.max_pods,
            kube_reserved: reservation_map(&sizing.kube_reserved),
            system_reserved: sizing.system_reserved.as_ref().map(reservation_map),
            eviction_hard: sizing.eviction_hard.iter().copied().collect(),
        }
    }
}

/// `{cpu: "70m", ephemeral-storage: "1Gi", memory: "574Mi"}`: only the keys every consumer
/// accepts (Bottlerocket rejects `pid`; docs/kubelet.md).
fn reservation_map(r: &Reservation) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("cpu", format!("{}m", r.cpu_millis)),
        ("memory", format!("{}Mi", r.memory_mib)),
        (
            "ephemeral-storage",
            format!("{}Gi", r.ephemeral_storage_gib),
        ),
    ])
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::core::instance::{Source, lookup_embedded};
    use crate::core::sizing::{SizingOptions, size};

    /// The default sizing of an m5.large, for tests of every module that renders it.
    pub(crate) fn m5_large() -> KubeletSettings {
        let facts = lookup_embedded("m5.large").unwrap();
        KubeletSettings::from_sizing(&size(facts, Source::Embedded, &SizingOptions::default()))
    }
}
