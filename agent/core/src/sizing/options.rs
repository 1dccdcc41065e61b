//! What sizing is asked: the VPC CNI mode, the caps and the reservation profile, and how pods get their addresses.

use serde::{Deserialize, Serialize};

use crate::expression::{Expression, ExpressionError};

/// Pods that run on the host network and take no pod IP: aws-node and kube-proxy. The `+ 2`
/// in every max-pods formula.
pub const HOST_NETWORK_PODS: u32 = 2;
/// IPv4 addresses in one /28 prefix.
pub const IPS_PER_PREFIX: u32 = 16;
/// The EKS ceiling on small nodes, and on nodes with more vCPUs than `EKS_CAP_VCPUS`.
pub const EKS_CAP_SMALL: u32 = 110;
pub const EKS_CAP_LARGE: u32 = 250;
pub const EKS_CAP_VCPUS: u32 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpFamily {
    #[default]
    Ipv4,
    Ipv6,
}

/// Which set of reservations to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// The EKS numbers, corrected: capped pods, memory for the pods really run,
    /// `systemReserved`, and the complete `evictionHard`.
    #[default]
    Nodecap,
    /// nodeadm (AL2023) exactly: no cap, memory from the uncapped ENI number, no
    /// `systemReserved`, three `evictionHard` keys.
    Eks,
    /// GKE's published reservation: memory in tiers of the machine's memory, the CPU ladder,
    /// `memory.available` 100Mi.
    Gke,
    /// AKS's (Kubernetes ≥ 1.29): memory `min(20 × maxPods + 50, 25 % of memory)` MiB, CPU
    /// by core count, `memory.available` 100Mi.
    Aks,
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Profile::Nodecap => "nodecap",
            Profile::Eks => "eks",
            Profile::Gke => "gke",
            Profile::Aks => "aks",
        })
    }
}

/// The ceiling applied to the ENI-derived pod count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CapPolicy {
    /// 110, or 250 above 30 vCPUs: the EKS calculator and managed node groups.
    Eks,
    /// No ceiling: nodeadm and the old `eni-max-pods.txt`.
    None,
    /// As many pods as leave each at least `min_memory_per_pod_mib` of allocatable memory
    /// (memory after kube-reserved, system-reserved and the eviction threshold).
    Memory,
    /// A fixed ceiling.
    #[serde(untagged)]
    Fixed(u32),
}

/// A `max_pods_cap` that is neither `eks`, `none`, `memory` nor a positive number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected eks, none, memory or a positive pod count, got {0:?}")]
pub struct CapPolicyError(String);

impl std::str::FromStr for CapPolicy {
    type Err = CapPolicyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "eks" => Ok(CapPolicy::Eks),
            "none" => Ok(CapPolicy::None),
            "memory" => Ok(CapPolicy::Memory),
            n => match n.parse::<u32>() {
                Ok(n) if n > 0 => Ok(CapPolicy::Fixed(n)),
                _ => Err(CapPolicyError(s.to_owned())),
            },
        }
    }
}

/// How the VPC CNI is configured on the node, and the overrides a user asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SizingOptions {
    pub prefix_delegation: bool,
    pub custom_networking: bool,
    /// The CNI's `MAX_ENI`: at most this many ENIs are used for pods.
    pub max_enis: Option<u32>,
    /// ENIs not available to pods, e.g. the security-groups-for-pods trunk ENI.
    pub reserved_enis: u32,
    pub ip_family: IpFamily,
    /// `None` takes the profile's default: `eks` for nodecap, `none` for eks.
    pub max_pods_cap: Option<CapPolicy>,
    pub pods_per_core: Option<u32>,
    /// With the `memory` cap: allocatable memory each pod must be left, in MiB
    /// (default [`DEFAULT_MIN_MEMORY_PER_POD_MIB`]).
    pub min_memory_per_pod_mib: Option<u64>,
    /// An explicit `maxPods`: replaces the computed number (and, in the nodecap profile, the
    /// memory reservation follows it).
    pub max_pods: Option<u32>,
    /// nodeadm's `maxPodsExpression` (Karpenter's CEL `maxPods`): replaces the ENI number,
    /// before the cap.
    pub max_pods_expression: Option<Expression>,
    /// Karpenter's CEL `kubeReserved`/`systemReserved`: a map of `cpu`/`memory` quantities
    /// that replace the profile's values for those keys.
    pub kube_reserved_expression: Option<Expression>,
    pub system_reserved_expression: Option<Expression>,
    pub profile: Profile,
}

/// How pods get their addresses, after checking what the instance supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PodAddressing {
    /// One secondary IPv4 address per pod.
    SecondaryIp,
    /// /28 prefixes: 16 pod addresses per ENI slot.
    PrefixDelegation,
    /// IPv6 prefixes: pods are not IP-limited.
    Ipv6,
}

impl std::fmt::Display for PodAddressing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PodAddressing::SecondaryIp => "secondary-ip",
            PodAddressing::PrefixDelegation => "prefix-delegation",
            PodAddressing::Ipv6 => "ipv6",
        })
    }
}

/// An expression that did not evaluate, with its configuration key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} {error}")]
pub struct KeyedExpressionError {
    pub key: &'static str,
    pub error: ExpressionError,
}
