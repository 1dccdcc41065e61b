//! Instance facts: what an EC2 instance type offers that sizing needs (ENIs per network card,
//! IPv4/IPv6 addresses per ENI, vCPUs, memory, hypervisor, bare metal, EFA, architecture), and
//! where those facts came from.
//!
//! The embedded table (`table.rs`) is generated from `DescribeInstanceTypes` output by
//! `cargo xtask instance-table` (see `agent/data/README.md`) and never edited by hand.
//! Lookups are pure: a type that is not in the table is `None`, and the caller decides whether
//! to ask the EC2 API or to fail. Nothing here does I/O.

pub mod describe;
mod facts;
// Generated: rustfmt must not reformat it, or it would differ from what the generator makes.
#[rustfmt::skip]
mod table;

pub use facts::{Architecture, Hypervisor, InstanceFacts, Source};

/// The embedded table, sorted by instance type name.
pub fn embedded() -> &'static [InstanceFacts] {
    &table::TABLE
}

/// Looks `instance_type` up in the embedded table. Exact, case-sensitive match: EC2 type
/// names are lowercase, and a near miss must not silently size a different type.
pub fn lookup_embedded(instance_type: &str) -> Option<&'static InstanceFacts> {
    let table = embedded();
    table
        .binary_search_by(|facts| facts.instance_type.as_ref().cmp(instance_type))
        .ok()
        .map(|i| &table[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        let table = embedded();
        for facts in table {
            let name = facts.instance_type.as_str();
            assert!(
                crate::names::is_instance_type(name),
                "{name:?} in the table"
            );
        }
        for pair in table.windows(2) {
            assert!(
                pair[0].instance_type < pair[1].instance_type,
                "{} must sort before {}",
                pair[0].instance_type,
                pair[1].instance_type
            );
        }
    }

    #[test]
    fn table_covers_moto_and_supplement() {
        // 1,395 types from moto 5.2.5 plus 23 from the supplement (agent/data/README.md).
        assert!(embedded().len() >= 1418, "only {} types", embedded().len());
        for facts in embedded() {
            assert!(
                !facts.enis_per_card.is_empty(),
                "{} has no cards",
                facts.instance_type
            );
            assert!(facts.default_card_enis() > 0, "{}", facts.instance_type);
            assert!(facts.ipv4_per_eni > 0, "{}", facts.instance_type);
            // AWS's tables carry bmn-sf1.metal's and c7i.32xlarge's ENI limits and nothing else.
            let unpublished = matches!(
                facts.instance_type.as_ref(),
                "bmn-sf1.metal" | "c7i.32xlarge"
            );
            assert_eq!(facts.vcpus > 0, !unpublished, "{}", facts.instance_type);
        }
    }

    #[test]
    fn lookup_finds_known_types_exactly() {
        let m5 = lookup_embedded("m5.large").unwrap();
        assert_eq!(
            (m5.default_card_enis(), m5.ipv4_per_eni, m5.vcpus),
            (3, 10, 2)
        );
        assert_eq!(m5.memory_mib, 8192);
        assert_eq!(m5.hypervisor, Hypervisor::Nitro);
        assert!(lookup_embedded("m5.larg").is_none());
        assert!(lookup_embedded("M5.LARGE").is_none());
        assert!(lookup_embedded("").is_none());
    }

    #[test]
    fn multi_card_types_count_the_default_card() {
        // docs/sizing.md "Multi-card types": p4d.24xlarge has 4 cards × 15 ENIs; p5.48xlarge
        // 32 × 2.
        let p4d = lookup_embedded("p4d.24xlarge").unwrap();
        assert_eq!((p4d.default_card_enis(), p4d.total_enis()), (15, 60));
        let p5 = lookup_embedded("p5.48xlarge").unwrap();
        assert_eq!((p5.default_card_enis(), p5.total_enis()), (2, 64));
        // Supplement: dl1.24xlarge 4 × 15; the types AWS's tables add by hand, 15 × 50.
        for name in ["c5a.metal", "c5ad.metal", "bmn-sf1.metal", "c7i.32xlarge"] {
            let f = lookup_embedded(name).unwrap();
            assert_eq!((f.default_card_enis(), f.ipv4_per_eni), (15, 50), "{name}");
        }
        let dl1 = lookup_embedded("dl1.24xlarge").unwrap();
        assert_eq!((dl1.default_card_enis(), dl1.total_enis()), (15, 60));
    }

    #[test]
    fn prefix_delegation_needs_nitro_or_bare_metal() {
        assert!(
            lookup_embedded("m5.large")
                .unwrap()
                .supports_prefix_delegation()
        );
        assert!(
            !lookup_embedded("p3.2xlarge")
                .unwrap()
                .supports_prefix_delegation()
        );
        // docs/sizing.md "Prefix delegation": m7i.metal-48xl reports no hypervisor but is bare
        // metal.
        let metal = lookup_embedded("m7i.metal-48xl").unwrap();
        assert_eq!(metal.hypervisor, Hypervisor::None);
        assert!(metal.supports_prefix_delegation());
    }
}
