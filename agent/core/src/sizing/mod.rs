//! Sizing: from instance facts and the VPC CNI mode to the kubelet's `maxPods`, `kubeReserved`,
//! `systemReserved` and `evictionHard`. Pure functions of plain data; every number keeps the
//! inputs it was computed from, so `explain` can show each formula with its values.
//!
//! The formulas are the AWS tools' (docs/sizing.md): the EKS AMI's `max-pods-calculator.sh`
//! for pods (awslabs/amazon-eks-ami `templates/al2/runtime/max-pods-calculator.sh`), the
//! shared GKE/EKS ladder for CPU and `11 × pods + 255` MiB for memory. Where those tools are wrong, nodecap's default profile differs and says so:
//! memory is reserved for the pods the kubelet will really run (amazon-eks-ami#782, #1698), a
//! `systemReserved` is set (amazon-eks-ami#661, #1490), and `evictionHard` is complete so the
//! kubelet's imagefs thresholds are not dropped.

use serde::{Deserialize, Serialize};

use super::expression::{Expression, ExpressionError, ReservedValues, Variables};
use super::instance::{InstanceFacts, Source};

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

/// ENIs the VPC CNI can give to pods:
/// `min(default-card ENIs, max_enis) − (1 if custom networking) − reserved_enis`, floor 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EniCount {
    pub default_card: u32,
    pub max_enis: Option<u32>,
    pub custom_networking: bool,
    pub reserved: u32,
    pub used: u32,
}

/// One band of the kube-reserved CPU ladder and what it contributed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CpuBand {
    /// Band start and end in millicores of vCPUs.
    pub from_millis: u32,
    pub to_millis: Option<u32>,
    /// Reserved share in hundredths of a percent (600 = 6%).
    pub basis_points: u32,
    pub reserved_millis: u32,
}

/// A reservation map's values: `cpu`, `memory`, `ephemeral-storage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Reservation {
    pub cpu_millis: u32,
    pub memory_mib: u64,
    pub ephemeral_storage_gib: u32,
}

/// The limit that gave maxPods, smallest first in case of a tie: the ENIs' addresses, the
/// cap, pods per core, or an explicit maxPods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// The addresses the ENIs hold (or, for IPv6, the ceiling that stands in for them).
    Addresses,
    /// `max_pods_expression`.
    Expression,
    Cap,
    PodsPerCore,
    Explicit,
}

/// kube-reserved memory, by profile, with the values it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum MemoryRule {
    /// `11 × pods + 255` MiB (nodecap: maxPods; eks: the uncapped ENI number).
    PerPod { pods: u32 },
    /// GKE: a share of each tier of the machine's memory.
    GkeTiers { tiers: Vec<MemoryTier> },
    /// AKS: `min(20 × pods + 50, memory / 4)` MiB.
    Aks {
        pods: u32,
        per_pods_mib: u64,
        quarter_mib: u64,
    },
}

/// One tier of GKE's memory reservation and what it contributed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MemoryTier {
    pub from_mib: u64,
    pub to_mib: Option<u64>,
    /// Reserved share in percent.
    pub percent: u64,
    /// Exact, in hundredths of a MiB (the sum is rounded down once).
    pub reserved_centi_mib: u64,
}

/// kube-reserved CPU, by profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum CpuRule {
    /// The EKS/GKE ladder: a share of each band of cores.
    Ladder { bands: Vec<CpuBand> },
    /// AKS's table by core count (see [`aks_cpu_millis`]).
    AksTable { vcpus: u32, millis: u32 },
}

/// The full result, with the inputs behind every number.
#[derive(Debug, Clone, Serialize)]
pub struct Sizing<'a> {
    pub instance: &'a InstanceFacts,
    pub source: Source,
    pub options: SizingOptions,
    pub profile: Profile,
    pub enis: EniCount,
    pub addressing: PodAddressing,
    /// The pod count the addressing mode allows (`None` for IPv6: not IP-limited).
    pub ip_limited_pods: Option<u32>,
    /// The cap in force and its value for this instance.
    pub cap: CapPolicy,
    pub cap_value: Option<u32>,
    /// `max_pods_expression`'s value, when one is set and evaluates.
    pub expression_pods: Option<u32>,
    /// The IP-limited number (or the expression's) after the cap.
    pub capped_pods: u32,
    /// `pods_per_core × vCPUs`, when set.
    pub pods_per_core_limit: Option<u32>,
    /// The kubelet's `maxPods`.
    pub max_pods: u32,
    /// Which limit gave `max_pods`.
    pub bound: Bound,
    /// How kube-reserved memory was computed, with its inputs.
    pub kube_reserved_memory: MemoryRule,
    /// How kube-reserved CPU was computed, with its inputs.
    pub kube_reserved_cpu: CpuRule,
    /// What `kube_reserved_expression` / `system_reserved_expression` set (replacing the
    /// profile's values for those keys).
    pub kube_reserved_from_expression: Option<ReservedValues>,
    pub system_reserved_from_expression: Option<ReservedValues>,
    pub kube_reserved: Reservation,
    pub system_reserved: Option<Reservation>,
    #[serde(serialize_with = "serialize_pairs")]
    pub eviction_hard: &'static [(&'static str, &'static str)],
    /// What pods can request: the node's capacity less the reservations and the memory
    /// eviction threshold, as the kubelet computes its `Allocatable`.
    pub allocatable: Allocatable,
    /// Things the user should know: fallbacks and ignored options.
    pub notes: Vec<String>,
    /// Expressions that did not evaluate for this instance (each one's part is then the
    /// profile's, as nodeadm falls back); `plan` and `init` refuse to use such a sizing.
    #[serde(skip)]
    pub expression_errors: Vec<KeyedExpressionError>,
}

/// The kubelet's `Allocatable` for CPU and memory (kubernetes/kubernetes
/// `pkg/kubelet/cm/node_container_manager_linux.go`): `cpu = vCPUs × 1000m − kube-reserved −
/// system-reserved`; `memory = capacity − kube-reserved − system-reserved −
/// evictionHard[memory.available]`. Floor 0. The kernel and firmware keep part of the
/// instance's memory before the kubelet counts its capacity, so a node reports a little less
/// than this (docs/sizing.md); it is the same for every sizing of the type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Allocatable {
    pub cpu_millis: u32,
    pub memory_mib: u64,
}

impl Allocatable {
    fn of(
        facts: &InstanceFacts,
        kube: &Reservation,
        system: Option<&Reservation>,
        eviction_mib: u64,
    ) -> Self {
        let system_cpu = system.map_or(0, |r| r.cpu_millis);
        let system_mib = system.map_or(0, |r| r.memory_mib);
        Allocatable {
            cpu_millis: facts
                .vcpus
                .saturating_mul(1000)
                .saturating_sub(kube.cpu_millis)
                .saturating_sub(system_cpu),
            memory_mib: facts
                .memory_mib
                .saturating_sub(kube.memory_mib)
                .saturating_sub(system_mib)
                .saturating_sub(eviction_mib),
        }
    }
}

/// An expression that did not evaluate, with its configuration key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} {error}")]
pub struct KeyedExpressionError {
    pub key: &'static str,
    pub error: ExpressionError,
}

impl Sizing<'_> {
    /// The first expression that did not evaluate for this instance, if any.
    pub fn check_expressions(&self) -> Result<(), KeyedExpressionError> {
        self.expression_errors
            .first()
            .map_or(Ok(()), |e| Err(e.clone()))
    }
}

/// Serializes ordered `(key, value)` pairs as a JSON object, keeping their order.
fn serialize_pairs<S: serde::Serializer>(
    pairs: &&'static [(&'static str, &'static str)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(pairs.iter().copied())
}

/// The kubelet's Linux defaults since 1.30 (kubernetes/kubernetes
/// `pkg/kubelet/eviction/defaults_linux.go`; docs/kubelet.md), with memory raised to 200Mi. All five keys, always: a partial map drops the kubelet's defaults for the rest.
pub const EVICTION_HARD_NODECAP: &[(&str, &str)] = &[
    ("memory.available", "200Mi"),
    ("nodefs.available", "10%"),
    ("nodefs.inodesFree", "5%"),
    ("imagefs.available", "15%"),
    ("imagefs.inodesFree", "5%"),
];

/// What nodeadm writes (awslabs/amazon-eks-ami `nodeadm/internal/kubelet/config.go`;
/// docs/sizing.md): three keys, imagefs thresholds dropped.
pub const EVICTION_HARD_EKS: &[(&str, &str)] = &[
    ("memory.available", "100Mi"),
    ("nodefs.available", "10%"),
    ("nodefs.inodesFree", "5%"),
];

/// GKE's and AKS's published `memory.available` (100Mi), with the kubelet's other four
/// defaults written out, as nodecap's map is: a partial map drops the rest.
pub const EVICTION_HARD_CLOUD: &[(&str, &str)] = &[
    ("memory.available", "100Mi"),
    ("nodefs.available", "10%"),
    ("nodefs.inodesFree", "5%"),
    ("imagefs.available", "15%"),
    ("imagefs.inodesFree", "5%"),
];

/// The `memory` cap's default: allocatable memory each pod must be left. Half of 512 MiB,
/// the smallest pod EKS Fargate and GKE Autopilot run: a node reaches it only when packed with
/// pods smaller than any managed platform sells, which is where karpenter-provider-aws#7989's
/// 234-pod node went NotReady.
pub const DEFAULT_MIN_MEMORY_PER_POD_MIB: u64 = 256;

/// nodecap's `systemReserved`: room for sshd, the SSM agent, journald and systemd itself.
pub const SYSTEM_RESERVED_NODECAP: Reservation = Reservation {
    cpu_millis: 100,
    memory_mib: 200,
    ephemeral_storage_gib: 1,
};

/// `kubeReserved.ephemeral-storage`, the same on every EKS AMI.
pub const KUBE_RESERVED_EPHEMERAL_GIB: u32 = 1;

/// The kube-reserved CPU ladder as (band start, band end, basis points): 6% of the first
/// core, 1% of the second, 0.5% of cores 3–4, 0.25% of every core above 4.
const CPU_LADDER: [(u32, Option<u32>, u32); 4] = [
    (0, Some(1000), 600),
    (1000, Some(2000), 100),
    (2000, Some(4000), 50),
    (4000, None, 25),
];

/// kube-reserved CPU per band, in millicores, with integer arithmetic per band exactly as
/// the EKS AMI and nodeadm compute it: 1→60, 2→70, 4→80, 8→90, 16→110, 96→310, 192→550.
pub fn kube_reserved_cpu(vcpus: u32) -> Vec<CpuBand> {
    let total = u64::from(vcpus) * 1000;
    CPU_LADDER
        .iter()
        .filter(|(from, _, _)| total > u64::from(*from))
        .map(|&(from, to, basis_points)| {
            let end = to.map_or(total, |to| total.min(u64::from(to)));
            let share = (end - u64::from(from)) * u64::from(basis_points) / 10_000;
            CpuBand {
                from_millis: from,
                to_millis: to,
                basis_points,
                reserved_millis: u32::try_from(share).unwrap_or(u32::MAX),
            }
        })
        .collect()
}

/// kube-reserved memory in MiB: `11 × pods + 255` (amazon-eks-ami PR #419).
pub fn kube_reserved_memory_mib(pods: u32) -> u64 {
    11 * u64::from(pods) + 255
}

/// GKE's memory tiers as (from, to, percent) in MiB: 25 % of the first 4 GiB, 20 % of the
/// next 4, 10 % of the next 8, 6 % of the next 112, 2 % above 128 GiB.
const GKE_TIERS: [(u64, Option<u64>, u64); 5] = [
    (0, Some(4096), 25),
    (4096, Some(8192), 20),
    (8192, Some(16384), 10),
    (16384, Some(131_072), 6),
    (131_072, None, 2),
];

/// GKE's reservation on a machine of `memory_mib`, tier by tier (machines under 1 GiB:
/// 255 MiB, one tier at the rate that gives it).
pub fn gke_memory_tiers(memory_mib: u64) -> Vec<MemoryTier> {
    if memory_mib < 1024 {
        return vec![MemoryTier {
            from_mib: 0,
            to_mib: Some(memory_mib),
            percent: 0,
            reserved_centi_mib: 25_500,
        }];
    }
    GKE_TIERS
        .iter()
        .filter(|(from, _, _)| memory_mib > *from)
        .map(|&(from, to, percent)| {
            let end = to.map_or(memory_mib, |to| memory_mib.min(to));
            MemoryTier {
                from_mib: from,
                to_mib: to,
                percent,
                reserved_centi_mib: (end - from) * percent,
            }
        })
        .collect()
}

/// AKS's kube-reserved CPU by core count (docs/sizing.md "Other clouds"): the published
/// rows are 1 → 60m, 2 → 100m, 4 → 140m, 8 → 180m, 16 → 260m, 32 → 420m, 64 → 740m. From 8
/// cores they are `180 + 10 × (cores − 8)`, which this extends to every larger count; below
/// 8, a count between rows takes the row below.
pub fn aks_cpu_millis(vcpus: u32) -> u32 {
    match vcpus {
        0 | 1 => 60,
        2 | 3 => 100,
        4..=7 => 140,
        n => 180_u32.saturating_add(10_u32.saturating_mul(n - 8)),
    }
}

impl MemoryRule {
    /// The reservation in MiB.
    pub fn mib(&self) -> u64 {
        match self {
            MemoryRule::PerPod { pods } => kube_reserved_memory_mib(*pods),
            MemoryRule::GkeTiers { tiers } => {
                tiers.iter().map(|t| t.reserved_centi_mib).sum::<u64>() / 100
            }
            MemoryRule::Aks {
                per_pods_mib,
                quarter_mib,
                ..
            } => (*per_pods_mib).min(*quarter_mib),
        }
    }
}

impl CpuRule {
    pub fn millis(&self) -> u32 {
        match self {
            CpuRule::Ladder { bands } => bands.iter().map(|b| b.reserved_millis).sum(),
            CpuRule::AksTable { millis, .. } => *millis,
        }
    }
}

/// The profile's kube-reserved memory for a node running `pods`, where `eni_pods` is the
/// uncapped ENI number (nodeadm's basis).
fn kube_memory(profile: Profile, memory_mib: u64, pods: u32, eni_pods: u32) -> MemoryRule {
    match profile {
        Profile::Nodecap => MemoryRule::PerPod { pods },
        Profile::Eks => MemoryRule::PerPod { pods: eni_pods },
        Profile::Gke => MemoryRule::GkeTiers {
            tiers: gke_memory_tiers(memory_mib),
        },
        Profile::Aks => MemoryRule::Aks {
            pods,
            per_pods_mib: 20 * u64::from(pods) + 50,
            quarter_mib: memory_mib / 4,
        },
    }
}

/// A memory quantity of the eviction map (`100Mi`, `1Gi`) in MiB; a percentage or anything
/// else counts 0.
fn eviction_memory_mib(eviction: &[(&str, &str)]) -> u64 {
    let Some((_, value)) = eviction.iter().find(|(k, _)| *k == "memory.available") else {
        return 0;
    };
    if let Some(n) = value.strip_suffix("Mi") {
        n.parse().unwrap_or(0)
    } else if let Some(n) = value.strip_suffix("Gi") {
        n.parse::<u64>().map_or(0, |n| n * 1024)
    } else {
        0
    }
}

/// The `memory` cap: the most pods `n` such that `n × per_pod ≤ memory − kube-reserved(n) −
/// system-reserved − eviction`, where kube-reserved follows the profile (it grows with `n`
/// in the nodecap and aks profiles). The left side grows and the right side shrinks with
/// `n`, so a binary search finds it.
fn memory_cap(
    profile: Profile,
    facts: &InstanceFacts,
    eni_pods: u32,
    per_pod_mib: u64,
    system_mib: u64,
    eviction_mib: u64,
) -> u32 {
    let fits = |n: u32| {
        let kube = kube_memory(profile, facts.memory_mib, n, eni_pods).mib();
        let used = u64::from(n) * per_pod_mib + kube + system_mib + eviction_mib;
        used <= facts.memory_mib
    };
    let (mut low, mut high) = (0_u32, 1_000_000_u32);
    while low < high {
        let mid = low + (high - low).div_ceil(2);
        if fits(mid) {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    low
}

/// The EKS ceiling for an instance: 250 above 30 vCPUs, else 110.
pub fn eks_cap(vcpus: u32) -> u32 {
    if vcpus > EKS_CAP_VCPUS {
        EKS_CAP_LARGE
    } else {
        EKS_CAP_SMALL
    }
}

/// ENIs usable for pods. See [`EniCount`].
pub fn eni_count(facts: &InstanceFacts, options: &SizingOptions) -> EniCount {
    let default_card = facts.default_card_enis();
    let limited = options
        .max_enis
        .map_or(default_card, |m| default_card.min(m));
    let used = limited
        .saturating_sub(u32::from(options.custom_networking))
        .saturating_sub(options.reserved_enis);
    EniCount {
        default_card,
        max_enis: options.max_enis,
        custom_networking: options.custom_networking,
        reserved: options.reserved_enis,
        used,
    }
}

/// Pods the addresses allow:
/// secondary IPs `ENIs × (IPs − 1) + 2`; prefix delegation `ENIs × ((IPs − 1) × 16) + 2`
/// (the ENI's primary address is never a pod's; `+ 2` for the host-network pods).
pub fn ip_limited_pods(enis: u32, ipv4_per_eni: u16, addressing: PodAddressing) -> Option<u32> {
    let slots = u32::from(ipv4_per_eni).saturating_sub(1);
    let per_eni = match addressing {
        PodAddressing::SecondaryIp => slots,
        PodAddressing::PrefixDelegation => slots * IPS_PER_PREFIX,
        PodAddressing::Ipv6 => return None,
    };
    Some(
        enis.saturating_mul(per_eni)
            .saturating_add(HOST_NETWORK_PODS),
    )
}

/// Sizes a node. Pure: the same facts and options always give the same result.
///
/// In four steps, each its own function: the ENIs and how pods get addresses
/// ([`addresses`]), how many pods ([`pod_count`]), what the node keeps for itself
/// ([`reservations`]), and what is left ([`Allocatable::of`], in [`Sizing::of`]).
pub fn size<'a>(facts: &'a InstanceFacts, source: Source, options: &SizingOptions) -> Sizing<'a> {
    let mut notes: Vec<String> = unpublished_figures(facts).into_iter().collect();
    let addresses = addresses(facts, options, &mut notes);
    let (system_reserved, eviction_hard) = match options.profile {
        Profile::Nodecap => (Some(SYSTEM_RESERVED_NODECAP), EVICTION_HARD_NODECAP),
        Profile::Eks => (None, EVICTION_HARD_EKS),
        Profile::Gke | Profile::Aks => (None, EVICTION_HARD_CLOUD),
    };
    let vars = Variables {
        default_enis: facts.default_card_enis(),
        ips_per_eni: facts.ipv4_per_eni,
        max_pods: addresses.eni_pods,
        vcpus: facts.vcpus,
        memory_mib: facts.memory_mib,
        instance_type: &facts.instance_type,
    };
    let mut expression_errors = Vec::new();
    let basis = PodBasis {
        ip_limited: addresses.ip_limited,
        eni_pods: addresses.eni_pods,
        system_reserved_mib: system_reserved.map_or(0, |r| r.memory_mib),
        eviction_mib: eviction_memory_mib(eviction_hard),
    };
    let pods = pod_count(facts, options, basis, &vars, &mut expression_errors);
    // Reservation expressions see the final maxPods.
    let vars = Variables {
        max_pods: pods.max_pods,
        ..vars
    };
    let reserved = reservations(
        facts,
        options,
        ReservationBasis {
            max_pods: pods.max_pods,
            eni_pods: pods.expression_pods.unwrap_or(addresses.eni_pods),
            system_reserved,
            eviction_hard,
        },
        &vars,
        &mut expression_errors,
    );
    for err in &expression_errors {
        notes.push(format!(
            "{err}: this part is the profile's (nodeadm falls back the same way)"
        ));
    }
    Sizing {
        notes,
        expression_errors,
        ..Sizing::of(facts, source, options, addresses, pods, reserved)
    }
}

impl<'a> Sizing<'a> {
    /// Step 4, what is left for pods, and every step's figures in one place (the notes and
    /// expression errors empty: [`size`] gathers them).
    fn of(
        facts: &'a InstanceFacts,
        source: Source,
        options: &SizingOptions,
        addresses: Addresses,
        pods: PodCount,
        reserved: Reserved,
    ) -> Self {
        Sizing {
            allocatable: Allocatable::of(
                facts,
                &reserved.kube_reserved,
                reserved.system_reserved.as_ref(),
                eviction_memory_mib(reserved.eviction_hard),
            ),
            instance: facts,
            source,
            options: options.clone(),
            profile: options.profile,
            enis: addresses.enis,
            addressing: addresses.addressing,
            ip_limited_pods: addresses.ip_limited,
            expression_pods: pods.expression_pods,
            cap: pods.cap,
            cap_value: pods.cap_value,
            capped_pods: pods.capped,
            pods_per_core_limit: pods.pods_per_core_limit,
            max_pods: pods.max_pods,
            bound: pods.bound,
            kube_reserved_memory: reserved.kube_reserved_memory,
            kube_reserved_cpu: reserved.kube_reserved_cpu,
            kube_reserved_from_expression: reserved.kube_reserved_from_expression,
            system_reserved_from_expression: reserved.system_reserved_from_expression,
            kube_reserved: reserved.kube_reserved,
            system_reserved: reserved.system_reserved,
            eviction_hard: reserved.eviction_hard,
            notes: Vec::new(),
            expression_errors: Vec::new(),
        }
    }
}

/// The ENIs pods may use and the pods their addresses allow.
#[derive(Debug, Clone, Copy)]
struct Addresses {
    enis: EniCount,
    addressing: PodAddressing,
    /// Pods the addresses allow (`None` for IPv6).
    ip_limited: Option<u32>,
    /// nodeadm's basis for kube-reserved memory: the uncapped ENI number (secondary IPs for
    /// IPv6, where there is none).
    eni_pods: u32,
}

/// Step 1: the ENIs, how pods get their addresses, and how many pods those allow.
fn addresses(facts: &InstanceFacts, options: &SizingOptions, notes: &mut Vec<String>) -> Addresses {
    let enis = eni_count(facts, options);
    let addressing = addressing(facts, options, notes);
    let ip_limited = ip_limited_pods(enis.used, facts.ipv4_per_eni, addressing);
    let eni_pods = ip_limited.unwrap_or_else(|| {
        ip_limited_pods(enis.used, facts.ipv4_per_eni, PodAddressing::SecondaryIp).unwrap_or(0)
    });
    Addresses {
        enis,
        addressing,
        ip_limited,
        eni_pods,
    }
}

/// A note when AWS publishes no vCPU count or memory for the type (only its ENI limits).
fn unpublished_figures(facts: &InstanceFacts) -> Option<String> {
    (facts.vcpus == 0 || facts.memory_mib == 0).then(|| {
        format!(
            "AWS publishes no vCPU count or memory for {}, only its ENI limits: kube-reserved \
             CPU is 0m, the eks cap takes 110 and a memory cap 0; give the figures by hand \
             (plan --enis {} --ips-per-eni {} --vcpus N --memory-mib M)",
            facts.instance_type,
            facts.default_card_enis(),
            facts.ipv4_per_eni
        )
    })
}

/// Step 1: how pods get their addresses: IPv6 prefixes, IPv4 prefixes (prefix delegation, on
/// Nitro and bare metal only), or secondary IPv4 addresses; a note for each fallback.
fn addressing(
    facts: &InstanceFacts,
    options: &SizingOptions,
    notes: &mut Vec<String>,
) -> PodAddressing {
    match options.ip_family {
        IpFamily::Ipv6 => {
            if options.prefix_delegation || options.custom_networking {
                notes.push(
                    "IPv6: pods get addresses from an IPv6 prefix on the primary ENI, so prefix \
                     delegation and custom networking do not change the pod count"
                        .to_owned(),
                );
            }
            if !facts.ipv6_supported {
                notes.push(format!(
                    "the instance data does not list IPv6 support for {}",
                    facts.instance_type
                ));
            }
            PodAddressing::Ipv6
        }
        IpFamily::Ipv4 if options.prefix_delegation && facts.supports_prefix_delegation() => {
            PodAddressing::PrefixDelegation
        }
        IpFamily::Ipv4 if options.prefix_delegation => {
            notes.push(format!(
                "prefix delegation needs a Nitro or bare-metal instance and {} is {}: the VPC CNI \
                 falls back to secondary IPs, and so does this sizing",
                facts.instance_type, facts.hypervisor
            ));
            PodAddressing::SecondaryIp
        }
        IpFamily::Ipv4 => PodAddressing::SecondaryIp,
    }
}

/// What the pod count starts from.
#[derive(Debug, Clone, Copy)]
struct PodBasis {
    /// Pods the addresses allow (`None` for IPv6).
    ip_limited: Option<u32>,
    /// The uncapped ENI number (secondary IPs for IPv6).
    eni_pods: u32,
    /// The profile's systemReserved and evictionHard memory, for a memory cap.
    system_reserved_mib: u64,
    eviction_mib: u64,
}

/// The pod count and how it was reached.
#[derive(Debug, Clone, Copy)]
struct PodCount {
    expression_pods: Option<u32>,
    cap: CapPolicy,
    cap_value: Option<u32>,
    capped: u32,
    pods_per_core_limit: Option<u32>,
    max_pods: u32,
    bound: Bound,
}

/// Step 2: maxPods: the addresses' number (or the expression's), under the cap, then the
/// pods-per-core limit, unless set explicitly.
fn pod_count(
    facts: &InstanceFacts,
    options: &SizingOptions,
    basis: PodBasis,
    vars: &Variables<'_>,
    expression_errors: &mut Vec<KeyedExpressionError>,
) -> PodCount {
    let profile = options.profile;
    let expression_pods = options.max_pods_expression.as_ref().and_then(|e| {
        e.pods(vars)
            .map_err(|error| {
                expression_errors.push(KeyedExpressionError {
                    key: "max_pods_expression",
                    error,
                });
            })
            .ok()
    });
    let cap = options.max_pods_cap.unwrap_or(match profile {
        Profile::Nodecap | Profile::Gke | Profile::Aks => CapPolicy::Eks,
        Profile::Eks => CapPolicy::None,
    });
    let cap_value = cap_value(cap, facts, options, basis, expression_pods);
    let (uncapped, uncapped_bound) = match (expression_pods, basis.ip_limited) {
        (Some(pods), _) => (Some(pods), Bound::Expression),
        (None, pods) => (pods, Bound::Addresses),
    };
    let (capped, mut bound) = match (uncapped, cap_value) {
        (Some(pods), Some(cap)) if cap < pods => (cap, Bound::Cap),
        (Some(pods), _) => (pods, uncapped_bound),
        (None, Some(cap)) => (cap, Bound::Cap),
        (None, None) => (EKS_CAP_SMALL, Bound::Cap),
    };
    let pods_per_core_limit = options
        .pods_per_core
        .map(|per_core| per_core.saturating_mul(facts.vcpus));
    let mut max_pods = capped;
    if let Some(limit) = pods_per_core_limit
        && limit < max_pods
    {
        (max_pods, bound) = (limit, Bound::PodsPerCore);
    }
    if let Some(explicit) = options.max_pods {
        (max_pods, bound) = (explicit, Bound::Explicit);
    }
    PodCount {
        expression_pods,
        cap,
        cap_value,
        capped,
        pods_per_core_limit,
        max_pods,
        bound,
    }
}

/// The cap's number: the EKS ladder, a fixed number, or as many pods as leave each its
/// memory; none for "no cap" (except IPv6, which is not IP-limited).
fn cap_value(
    cap: CapPolicy,
    facts: &InstanceFacts,
    options: &SizingOptions,
    basis: PodBasis,
    expression_pods: Option<u32>,
) -> Option<u32> {
    match cap {
        CapPolicy::Eks => Some(eks_cap(facts.vcpus)),
        CapPolicy::Fixed(n) => Some(n),
        CapPolicy::Memory => Some(memory_cap(
            options.profile,
            facts,
            expression_pods.unwrap_or(basis.eni_pods),
            options
                .min_memory_per_pod_mib
                .unwrap_or(DEFAULT_MIN_MEMORY_PER_POD_MIB),
            basis.system_reserved_mib,
            basis.eviction_mib,
        )),
        // IPv6 pods are not IP-limited, so "no cap" still needs a number: the EKS one.
        CapPolicy::None if basis.ip_limited.is_none() => Some(eks_cap(facts.vcpus)),
        CapPolicy::None => None,
    }
}

/// kubeReserved's CPU rule: AKS's table, or the ladder of bands the others share.
fn cpu_rule(profile: Profile, vcpus: u32) -> CpuRule {
    match profile {
        Profile::Aks => CpuRule::AksTable {
            vcpus,
            millis: aks_cpu_millis(vcpus),
        },
        Profile::Nodecap | Profile::Eks | Profile::Gke => CpuRule::Ladder {
            bands: kube_reserved_cpu(vcpus),
        },
    }
}

/// What the reservations start from.
#[derive(Debug, Clone, Copy)]
struct ReservationBasis {
    max_pods: u32,
    /// The pods nodeadm reserves memory for (see [`reservations`]).
    eni_pods: u32,
    /// The profile's systemReserved and evictionHard.
    system_reserved: Option<Reservation>,
    eviction_hard: &'static [(&'static str, &'static str)],
}

/// What the node keeps for itself, and by which rule.
#[derive(Debug)]
struct Reserved {
    eviction_hard: &'static [(&'static str, &'static str)],
    kube_reserved_memory: MemoryRule,
    kube_reserved_cpu: CpuRule,
    kube_reserved: Reservation,
    system_reserved: Option<Reservation>,
    kube_reserved_from_expression: Option<ReservedValues>,
    system_reserved_from_expression: Option<ReservedValues>,
}

/// Step 3: kubeReserved by the profile's rules, and systemReserved, each overridden part by
/// part by its expression (which sees the final maxPods). nodeadm reserves memory for the
/// uncapped ENI number (or its expression's value, `eni_pods`) whatever maxPods ends up
/// being; nodecap (and AKS) reserve for the pods the kubelet will run.
fn reservations(
    facts: &InstanceFacts,
    options: &SizingOptions,
    basis: ReservationBasis,
    vars: &Variables<'_>,
    expression_errors: &mut Vec<KeyedExpressionError>,
) -> Reserved {
    let profile = options.profile;
    let mut system_reserved = basis.system_reserved;
    let kube_reserved_memory =
        kube_memory(profile, facts.memory_mib, basis.max_pods, basis.eni_pods);
    let kube_reserved_cpu = cpu_rule(profile, facts.vcpus);
    let mut kube_reserved = Reservation {
        cpu_millis: kube_reserved_cpu.millis(),
        memory_mib: kube_reserved_memory.mib(),
        ephemeral_storage_gib: KUBE_RESERVED_EPHEMERAL_GIB,
    };
    let mut apply = |key: &'static str, e: &Expression, reservation: &mut Reservation| match e
        .reservation(vars)
    {
        Ok(values) => {
            reservation.cpu_millis = values.cpu_millis.unwrap_or(reservation.cpu_millis);
            reservation.memory_mib = values.memory_mib.unwrap_or(reservation.memory_mib);
            Some(values)
        }
        Err(error) => {
            expression_errors.push(KeyedExpressionError { key, error });
            None
        }
    };
    let kube_reserved_from_expression = options
        .kube_reserved_expression
        .as_ref()
        .and_then(|e| apply("kube_reserved_expression", e, &mut kube_reserved));
    let mut system_reserved_from_expression = None;
    if let Some(e) = &options.system_reserved_expression {
        let mut reservation = system_reserved.unwrap_or(Reservation {
            cpu_millis: 0,
            memory_mib: 0,
            ephemeral_storage_gib: KUBE_RESERVED_EPHEMERAL_GIB,
        });
        system_reserved_from_expression = apply("system_reserved_expression", e, &mut reservation);
        if system_reserved_from_expression.is_some() {
            system_reserved = Some(reservation);
        }
    }
    Reserved {
        kube_reserved_memory,
        kube_reserved_cpu,
        kube_reserved,
        system_reserved,
        kube_reserved_from_expression,
        system_reserved_from_expression,
        eviction_hard: basis.eviction_hard,
    }
}

#[cfg(test)]
mod tests;
