//! Instance facts: what an EC2 instance type offers that sizing needs (ENIs per network card,
//! IPv4/IPv6 addresses per ENI, vCPUs, memory, hypervisor, bare metal, EFA), and where those
//! facts came from.
//!
//! The embedded table (`table.rs`) is generated from `DescribeInstanceTypes` output by
//! `gen-instance-table` (see `describe.rs` and `agent/data/README.md`) and never edited by hand.
//! Lookups are pure: a type that is not in the table is `None`, and the caller decides whether
//! to ask the EC2 API or to fail. Nothing here does I/O.

pub mod describe;
// Generated: rustfmt must not reformat it, or it would differ from what the generator makes.
#[rustfmt::skip]
mod table;

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The EC2 hypervisor of an instance type (`Hypervisor` in `DescribeInstanceTypes`).
/// Bare-metal types report none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Hypervisor {
    Nitro,
    Xen,
    /// No hypervisor reported: bare metal, or very old types.
    None,
}

impl fmt::Display for Hypervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Hypervisor::Nitro => "nitro",
            Hypervisor::Xen => "xen",
            Hypervisor::None => "none",
        })
    }
}

/// Where a set of instance facts came from. Reported by `plan`, in logs and in
/// `nodecap_instance_info{source}` so a fallback is never invisible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The table compiled into this binary.
    Embedded,
    /// The on-disk cache of an earlier EC2 API answer.
    Cache,
    /// `ec2:DescribeInstanceTypes`.
    Api,
    /// Given on the command line (`plan --enis … --ips-per-eni … --vcpus …`).
    Flags,
    /// Nothing could size the node: `fallback_max_pods` was used.
    Fallback,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Embedded => "embedded",
            Source::Cache => "cache",
            Source::Api => "api",
            Source::Flags => "flags",
            Source::Fallback => "fallback",
        })
    }
}

/// The facts about one instance type that sizing uses. `Cow` lets the embedded table hold
/// `'static` borrows while API answers and cache entries own their data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceFacts {
    pub instance_type: Cow<'static, str>,
    /// `NetworkInfo.DefaultNetworkCardIndex`: the card the VPC CNI allocates pod IPs on.
    pub default_network_card: u8,
    /// `NetworkCards[i].MaximumNetworkInterfaces`, indexed by network card index.
    pub enis_per_card: Cow<'static, [u16]>,
    /// `Ipv4AddressesPerInterface`, the ENI's primary address included.
    pub ipv4_per_eni: u16,
    /// `Ipv6AddressesPerInterface` (0 when IPv6 is unsupported).
    pub ipv6_per_eni: u16,
    pub ipv6_supported: bool,
    /// `VCpuInfo.DefaultVCpus`.
    pub vcpus: u32,
    /// `MemoryInfo.SizeInMiB`.
    pub memory_mib: u64,
    pub hypervisor: Hypervisor,
    pub bare_metal: bool,
    pub efa_supported: bool,
}

impl InstanceFacts {
    /// ENIs on the default network card: the only card the VPC CNI puts pod IPs on, so the
    /// only one max-pods counts (amazon-eks-ami#1930, nodeadm#2229).
    pub fn default_card_enis(&self) -> u32 {
        self.enis_per_card
            .get(usize::from(self.default_network_card))
            .copied()
            .map_or(0, u32::from)
    }

    /// ENIs across all network cards (`NetworkInfo.MaximumNetworkInterfaces`).
    pub fn total_enis(&self) -> u32 {
        self.enis_per_card.iter().copied().map(u32::from).sum()
    }

    /// Whether the VPC CNI can use /28 prefix delegation here: Nitro or bare metal, the rule
    /// ipamd applies (`IsPrefixDelegationSupported`). The EKS AMI calculator only accepts
    /// `nitro` and so misses bare-metal types.
    pub fn supports_prefix_delegation(&self) -> bool {
        self.hypervisor == Hypervisor::Nitro || self.bare_metal
    }
}

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

/// One row of the generated table. A `const fn` keeps `table.rs` one short line per type.
#[allow(clippy::too_many_arguments)]
const fn row(
    instance_type: &'static str,
    hypervisor: Hypervisor,
    bare_metal: bool,
    vcpus: u32,
    memory_mib: u64,
    default_network_card: u8,
    enis_per_card: &'static [u16],
    ipv4_per_eni: u16,
    ipv6_per_eni: u16,
    ipv6_supported: bool,
    efa_supported: bool,
) -> InstanceFacts {
    InstanceFacts {
        instance_type: Cow::Borrowed(instance_type),
        default_network_card,
        enis_per_card: Cow::Borrowed(enis_per_card),
        ipv4_per_eni,
        ipv6_per_eni,
        ipv6_supported,
        vcpus,
        memory_mib,
        hypervisor,
        bare_metal,
        efa_supported,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        let table = embedded();
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
        // 1,395 types from moto 5.2.5 plus 19 from the supplement (issue 2).
        assert!(embedded().len() >= 1410, "only {} types", embedded().len());
        for facts in embedded() {
            assert!(
                !facts.enis_per_card.is_empty(),
                "{} has no cards",
                facts.instance_type
            );
            assert!(facts.default_card_enis() > 0, "{}", facts.instance_type);
            assert!(facts.ipv4_per_eni > 0, "{}", facts.instance_type);
            assert!(facts.vcpus > 0, "{}", facts.instance_type);
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
        // reference/eks-ami.md §1.4: p4d.24xlarge has 4 cards × 15 ENIs; p5.48xlarge 32 × 2.
        let p4d = lookup_embedded("p4d.24xlarge").unwrap();
        assert_eq!((p4d.default_card_enis(), p4d.total_enis()), (15, 60));
        let p5 = lookup_embedded("p5.48xlarge").unwrap();
        assert_eq!((p5.default_card_enis(), p5.total_enis()), (2, 64));
        // Supplement: dl1.24xlarge 4 × 15.
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
        // vpc-cni.md §4.2: m7i.metal-48xl reports no hypervisor but is bare metal.
        let metal = lookup_embedded("m7i.metal-48xl").unwrap();
        assert_eq!(metal.hypervisor, Hypervisor::None);
        assert!(metal.supports_prefix_delegation());
    }
}
