//! The reservations: kube-reserved CPU and memory by profile (the shared GKE/EKS CPU ladder, `11 × pods + 255` MiB, GKE's memory tiers, AKS's CPU rule), system-reserved and the hard eviction thresholds, each with the values it came from.

use serde::Serialize;

use super::options::{KeyedExpressionError, Profile, SizingOptions};
use crate::expression::{Expression, ReservedValues, Variables};
use crate::instance::InstanceFacts;

/// One band of the kube-reserved CPU ladder and what it contributed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CpuBand {
    /// Band start and end in millicores of vCPUs.
    pub from_millis: u32,
    pub to_millis: Option<u32>,
    /// Reservations share in hundredths of a percent (600 = 6%).
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
    /// Reservations share in percent.
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
const KUBE_RESERVED_EPHEMERAL_GIB: u32 = 1;

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
fn gke_memory_tiers(memory_mib: u64) -> Vec<MemoryTier> {
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
pub(super) fn kube_memory(
    profile: Profile,
    memory_mib: u64,
    pods: u32,
    eni_pods: u32,
) -> MemoryRule {
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
pub(super) fn eviction_memory_mib(eviction: &[(&str, &str)]) -> u64 {
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
pub(super) fn memory_cap(
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

/// kubeReserved's CPU rule: AKS's table, or the ladder of bands the others share.
pub(super) fn cpu_rule(profile: Profile, vcpus: u32) -> CpuRule {
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
pub(super) struct ReservationBasis {
    pub(super) max_pods: u32,
    /// The pods nodeadm reserves memory for (see [`reservations`]).
    pub(super) eni_pods: u32,
    /// The profile's systemReserved and evictionHard.
    pub(super) system_reserved: Option<Reservation>,
    pub(super) eviction_hard: &'static [(&'static str, &'static str)],
}

/// What the node keeps for itself, and by which rule.
#[derive(Debug)]
pub(super) struct Reservations {
    pub(super) eviction_hard: &'static [(&'static str, &'static str)],
    pub(super) kube_reserved_memory: MemoryRule,
    pub(super) kube_reserved_cpu: CpuRule,
    pub(super) kube_reserved: Reservation,
    pub(super) system_reserved: Option<Reservation>,
    pub(super) kube_reserved_from_expression: Option<ReservedValues>,
    pub(super) system_reserved_from_expression: Option<ReservedValues>,
}

/// Step 3: kubeReserved by the profile's rules, and systemReserved, each overridden part by
/// part by its expression (which sees the final maxPods). nodeadm reserves memory for the
/// uncapped ENI number (or its expression's value, `eni_pods`) whatever maxPods ends up
/// being; nodecap (and AKS) reserve for the pods the kubelet will run.
pub(super) fn reservations(
    facts: &InstanceFacts,
    options: &SizingOptions,
    basis: ReservationBasis,
    vars: &Variables<'_>,
    expression_errors: &mut Vec<KeyedExpressionError>,
) -> Reservations {
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
    Reservations {
        kube_reserved_memory,
        kube_reserved_cpu,
        kube_reserved,
        system_reserved,
        kube_reserved_from_expression,
        system_reserved_from_expression,
        eviction_hard: basis.eviction_hard,
    }
}
