//! The `KubeletConfiguration` fields nodecap owns, as the kubelet names them: `maxPods`,
//! `kubeReserved`, `systemReserved` and `evictionHard`. Every output format and every backend
//! is rendered from this one value: the reservations keep their numbers until a renderer asks
//! for the kubelet's spelling ([`Reserved::entries`], [`EvictionHard::entries`]).

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::core::sizing::{Reservation, Sizing};

/// What a sizing asks of the kubelet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeletSettings {
    pub max_pods: u32,
    pub kube_reserved: Reserved,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_reserved: Option<Reserved>,
    pub eviction_hard: EvictionHard,
}

impl KubeletSettings {
    pub fn from_sizing(sizing: &Sizing<'_>) -> Self {
        KubeletSettings {
            max_pods: sizing.max_pods,
            kube_reserved: Reserved(sizing.kube_reserved),
            system_reserved: sizing.system_reserved.map(Reserved),
            eviction_hard: EvictionHard(sizing.eviction_hard),
        }
    }
}

/// A reservation in the kubelet's resource map, `{cpu: "70m", ephemeral-storage: "1Gi",
/// memory: "574Mi"}`: only the keys every consumer accepts (Bottlerocket rejects `pid`;
/// docs/kubelet.md). Serialized as that map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reserved(pub Reservation);

impl Reserved {
    /// `(resource, quantity)` in the kubelet's syntax, sorted by resource.
    pub fn entries(&self) -> [(&'static str, String); 3] {
        [
            ("cpu", self.cpu()),
            (
                "ephemeral-storage",
                format!("{}Gi", self.0.ephemeral_storage_gib),
            ),
            ("memory", self.memory()),
        ]
    }

    /// The CPU quantity (`70m`).
    pub fn cpu(&self) -> String {
        format!("{}m", self.0.cpu_millis)
    }

    /// The memory quantity (`574Mi`).
    pub fn memory(&self) -> String {
        format!("{}Mi", self.0.memory_mib)
    }
}

impl Serialize for Reserved {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        map(serializer, self.entries())
    }
}

/// The hard eviction thresholds of the sizing's profile, `signal → threshold`
/// (`memory.available → 200Mi`). Serialized as the kubelet's map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvictionHard(pub &'static [(&'static str, &'static str)]);

impl EvictionHard {
    /// `(signal, threshold)`, sorted by signal (each signal once: the profile's tables).
    pub fn entries(&self) -> Vec<(&'static str, &'static str)> {
        let mut entries = self.0.to_vec();
        entries.sort_unstable();
        entries
    }

    /// How many signals.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for EvictionHard {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        map(serializer, self.entries())
    }
}

fn map<S: Serializer, V: Serialize>(
    serializer: S,
    entries: impl IntoIterator<Item = (&'static str, V), IntoIter: ExactSizeIterator>,
) -> Result<S::Ok, S::Error> {
    let entries = entries.into_iter();
    let mut out = serializer.serialize_map(Some(entries.len()))?;
    for (key, value) in entries {
        out.serialize_entry(key, &value)?;
    }
    out.end()
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

    #[test]
    fn serializes_as_the_kubelets_maps_in_key_order() {
        let json = serde_json::to_string(&m5_large()).unwrap();
        assert!(
            json.contains(
                r#""kubeReserved":{"cpu":"70m","ephemeral-storage":"1Gi","memory":"574Mi"}"#
            ),
            "{json}"
        );
        assert!(
            json.contains(r#""evictionHard":{"imagefs.available":"15%","imagefs.inodesFree":"5%","memory.available":"200Mi""#),
            "{json}"
        );
    }
}
