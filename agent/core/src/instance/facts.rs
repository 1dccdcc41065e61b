//! The facts about an instance type that sizing uses, and where they came from.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::names::InstanceType;

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

/// The processor architecture of an instance type, from `ProcessorInfo.SupportedArchitectures`:
/// arm64 when it lists `arm64` (or `arm64_mac`), x86_64 when it lists `x86_64` (or
/// `x86_64_mac`, `i386`); unknown for facts given by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Architecture {
    #[serde(rename = "x86_64")]
    X86_64,
    #[serde(rename = "arm64")]
    Arm64,
    #[default]
    #[serde(rename = "unknown")]
    Unknown,
}

impl Architecture {
    /// From the API's list of supported architectures.
    pub fn from_supported<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut found = Architecture::Unknown;
        for name in names {
            match name {
                "arm64" | "arm64_mac" => return Architecture::Arm64,
                "x86_64" | "x86_64_mac" | "i386" => found = Architecture::X86_64,
                _ => {}
            }
        }
        found
    }
}

impl Architecture {
    /// The name as EC2 spells it (`x86_64`, `arm64`).
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
            Architecture::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
    pub instance_type: InstanceType,
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
    #[serde(default)]
    pub architecture: Architecture,
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

    /// The type's family: what precedes the first '.' (`m5` of `m5.large`).
    pub fn family(&self) -> &str {
        self.instance_type.family()
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

/// One row of the generated table. A `const fn` keeps `table.rs` one short line per type.
#[allow(clippy::too_many_arguments)]
pub(super) const fn row(
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
    architecture: Architecture,
) -> InstanceFacts {
    InstanceFacts {
        instance_type: InstanceType::from_table(instance_type),
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
        architecture,
    }
}
