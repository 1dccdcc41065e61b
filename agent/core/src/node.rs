//! What a node is: its identity (from the instance identity document), its instance type's
//! limits and where they came from, and the sizing options in force. `init` writes the
//! kubelet's settings from it; the daemon compares what runs with it.

use serde::{Deserialize, Serialize};

use super::instance::{InstanceFacts, Source};
use super::sizing::{self, Sizing, SizingOptions};

/// What the node is, from the instance identity document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub instance_type: String,
    pub instance_id: String,
    pub region: String,
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

/// The longest instance type name accepted. The longest AWS has used is 20 characters
/// (`u7inh-32tb.480xlarge`); twice that leaves room for new ones and none for garbage.
pub const MAX_INSTANCE_TYPE_LEN: usize = 40;

/// `family.size`: lowercase letters, digits and dashes on both sides of one dot, at most
/// [`MAX_INSTANCE_TYPE_LEN`] bytes.
pub fn is_instance_type(name: &str) -> bool {
    if name.len() > MAX_INSTANCE_TYPE_LEN {
        return false;
    }
    let part = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    name.split_once('.')
        .is_some_and(|(family, size)| part(family) && part(size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_type_names() {
        for ok in [
            "m5.large",
            "u-6tb1.metal",
            "m7i.metal-48xl",
            "p5en.48xlarge",
        ] {
            assert!(is_instance_type(ok), "{ok}");
        }
        let huge = format!("m5.{}", "x".repeat(10_000));
        for bad in [
            "",
            "m5",
            "m5.",
            ".large",
            "M5.large",
            "m5.large\n",
            "m5 .large",
            "a.b.c",
            &huge,
        ] {
            assert!(!is_instance_type(bad), "{bad:?}");
        }
        assert!(is_instance_type(&format!("u7inh-32tb.{}", "x".repeat(29))));
    }
}
