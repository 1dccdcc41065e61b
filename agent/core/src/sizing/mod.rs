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

use serde::Serialize;

use super::expression::{ReservedValues, Variables};
use super::instance::{InstanceFacts, Source};

mod options;
mod reserve;

pub use options::*;
pub use reserve::*;

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

/// The EKS ceiling for an instance: 250 above 30 vCPUs, else 110.
fn eks_cap(vcpus: u32) -> u32 {
    if vcpus > EKS_CAP_VCPUS {
        EKS_CAP_LARGE
    } else {
        EKS_CAP_SMALL
    }
}

/// ENIs usable for pods. See [`EniCount`].
fn eni_count(facts: &InstanceFacts, options: &SizingOptions) -> EniCount {
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
        reserved: Reservations,
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

#[cfg(test)]
mod tests;
