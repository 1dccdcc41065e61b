//! One tick's immutable snapshot: the [`Observations`] and the figures and verdicts derived
//! from them. The exporters (Prometheus, CloudWatch) and `nodecap check` read only this, so
//! they can never disagree, and a vanished ENI or interface drops out by itself at the next
//! tick. Every verdict (drift, a warning) is decided here, once; the readers only render it.
//!
//! [`derive`] is pure; each derived figure's formula is on its field. What the VPC CNI
//! really does (its mode, the pods it can serve, its warm pool) is derived in [`cni`].

pub mod cni;

use std::time::SystemTime;

use super::collect::memory::Slice;
use super::collect::{CollectorId, Observations};
use crate::core::sizing::{HOST_NETWORK_PODS, PodAddressing, Sizing};
use crate::telemetry::family::{BUILD_INFO, Export, Family, Samples, count, signed};

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub observations: Observations,
    pub derived: Derived,
}

impl Snapshot {
    pub fn new(observations: Observations) -> Self {
        let derived = derive(&observations);
        Snapshot {
            observations,
            derived,
        }
    }
}

/// How a comparison came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// What runs differs from what nodecap computed.
    Drift,
    /// Worth a look, not drift (a failed collector, a reservation that is too small).
    Warning,
    /// One side is not known.
    Unknown,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Ok => "ok",
            Verdict::Drift => "DRIFT",
            Verdict::Warning => "WARNING",
            Verdict::Unknown => "unknown",
        })
    }
}

/// What can drift from what nodecap computed, or from what the CNI can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DriftKind {
    /// The kubelet's maxPods is not nodecap's.
    MaxPods,
    /// The kubelet's maxPods is above the pods the CNI's addresses allow in its observed
    /// mode: pods past that number stay in `ContainerCreating` ("failed to assign an IP
    /// address").
    MaxPodsAboveCniCapacity,
    /// The kubelet's maxPods is below what nodecap would set in the CNI's observed mode:
    /// capacity wasted.
    MaxPodsBelowCniCapacity,
    /// ipamd's addressing mode (/28 prefixes or single addresses) is not the configured one.
    PrefixDelegationMismatch,
    /// ipamd's custom networking is not the configured one.
    CustomNetworkingMismatch,
}

impl DriftKind {
    pub const ALL: [DriftKind; 5] = [
        DriftKind::MaxPods,
        DriftKind::MaxPodsAboveCniCapacity,
        DriftKind::MaxPodsBelowCniCapacity,
        DriftKind::PrefixDelegationMismatch,
        DriftKind::CustomNetworkingMismatch,
    ];
}

impl std::fmt::Display for DriftKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DriftKind::MaxPods => "max_pods",
            DriftKind::MaxPodsAboveCniCapacity => "max_pods_above_cni_capacity",
            DriftKind::MaxPodsBelowCniCapacity => "max_pods_below_cni_capacity",
            DriftKind::PrefixDelegationMismatch => "prefix_delegation_mismatch",
            DriftKind::CustomNetworkingMismatch => "custom_networking_mismatch",
        })
    }
}

/// A drift check: `Ok`, `Drift`, or `Unknown` when one side is not known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drift {
    pub kind: DriftKind,
    pub verdict: Verdict,
}

impl Drift {
    /// `Some(drifted)` when both sides are known.
    pub fn drifted(&self) -> Option<bool> {
        match self.verdict {
            Verdict::Drift => Some(true),
            Verdict::Ok => Some(false),
            Verdict::Warning | Verdict::Unknown => None,
        }
    }
}

/// Whose memory a reservation is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MemoryScope {
    /// `kubeReserved`: the kubelet and the container runtime.
    Kube,
    /// `systemReserved`: the system's own daemons.
    System,
}

impl MemoryScope {
    /// The cgroup whose usage the reservation is measured against.
    pub fn slice(self) -> Slice {
        match self {
            MemoryScope::Kube => Slice::Runtime,
            MemoryScope::System => Slice::System,
        }
    }
}

impl std::fmt::Display for MemoryScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MemoryScope::Kube => "kube",
            MemoryScope::System => "system",
        })
    }
}

/// The node's IPv4 pod addresses by state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addresses {
    pub total: u64,
    pub assigned: u64,
    pub free: u64,
    /// Released less than ipamd's cooldown (30 s) ago; only ipamd's introspection knows.
    pub cooldown: Option<u64>,
    /// `ipamd_introspection` or `ipamd_metrics`.
    pub source: CollectorId,
}

/// A memory reservation against what its slice uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryReservation {
    pub scope: MemoryScope,
    /// The kubelet's configuration when it says, else what nodecap computes.
    pub reserved_bytes: u64,
    /// What the scope's slice uses now (`None`: no such cgroup).
    pub used_bytes: Option<u64>,
    /// `reserved − used`. Negative: the slice uses more than is reserved for it, so pods can
    /// starve it.
    pub headroom_bytes: Option<i64>,
    /// `Warning` when the headroom is negative, `Unknown` without the slice.
    pub verdict: Verdict,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    /// nodecap's maxPods for this node (the number `init` writes).
    pub max_pods: Option<u32>,
    /// The kubelet's effective maxPods, from its configuration files.
    pub kubelet_max_pods: Option<u32>,
    /// How pods get addresses in the configured mode (`None` until the node is sized).
    pub addressing: Option<PodAddressing>,
    /// Pod addresses the instance's limits allow in the configured mode:
    /// `ENIs for pods × (IPv4 per ENI − 1) [× 16 with prefix delegation]`. None for IPv6.
    pub ip_capacity: Option<u32>,
    /// ENIs attached on the default network card (IMDS).
    pub enis_attached: Option<u32>,
    /// ENIs the default network card takes (instance limits).
    pub enis_max: Option<u32>,
    /// `enis_max − enis_attached`, floor 0.
    pub enis_free: Option<u32>,
    /// From ipamd's introspection when it answers (with cooldown), else from its metrics
    /// (`free = total − assigned`).
    pub ipv4: Option<Addresses>,
    /// /28 prefixes attached to the node's ENIs (IMDS).
    pub ipv4_prefixes: Option<u32>,
    /// Pods that can still start: `min(maxPods, ip_capacity) − assigned`, where maxPods is the
    /// kubelet's when known, else nodecap's. Negative when the node is over-committed.
    pub pod_headroom: Option<i64>,
    /// `Warning` when no pod can start (`pod_headroom ≤ 0`).
    pub pod_headroom_verdict: Verdict,
    /// The memory reservations, `kube` then `system`, those whose size is known.
    pub memory: Vec<MemoryReservation>,
    /// The VPC CNI as observed: its mode, the pods it can serve, its warm pool.
    pub cni: cni::Cni,
    /// `max_pods` and the CNI capacity checks always; the mode mismatches once the node is
    /// sized, except with IPv6.
    pub drift: Vec<Drift>,
}

/// The derived figures of a tick.
pub fn derive(o: &Observations) -> Derived {
    let sizing = o.node().map(crate::core::node::Node::sizing);
    let kubelet_max_pods = o
        .kubelet
        .as_ref()
        .and_then(|k| k.max_pods.as_ref())
        .map(|(n, _, _)| *n);
    let (enis_attached, enis_max, enis_free, ipv4_prefixes) = enis(o, sizing.as_ref());
    let max_pods = sizing.as_ref().map(|s| s.max_pods);
    let ip_capacity = sizing.as_ref().and_then(|s| {
        s.ip_limited_pods
            .map(|pods| pods.saturating_sub(HOST_NETWORK_PODS))
    });
    let ipv4 = addresses(o);
    let pod_headroom = match (kubelet_max_pods.or(max_pods), ip_capacity, ipv4) {
        (Some(pods), Some(capacity), Some(ipv4)) => {
            let limit = i64::from(pods.min(capacity));
            Some(limit - i64::try_from(ipv4.assigned).unwrap_or(i64::MAX))
        }
        _ => None,
    };
    let cni = cni::Cni::derive(o);
    let drift = drift(max_pods, kubelet_max_pods, sizing.as_ref(), &cni);
    Derived {
        max_pods,
        kubelet_max_pods,
        addressing: sizing.as_ref().map(|s| s.addressing),
        ip_capacity,
        enis_attached,
        enis_max,
        enis_free,
        ipv4,
        ipv4_prefixes,
        pod_headroom,
        pod_headroom_verdict: match pod_headroom {
            Some(h) if h <= 0 => Verdict::Warning,
            _ => Verdict::Ok,
        },
        memory: reservations(o, sizing.as_ref()),
        cni,
        drift,
    }
}

/// ENIs attached, allowed and free on the default card, and /28 prefixes on every ENI.
fn enis(
    o: &Observations,
    sizing: Option<&Sizing<'_>>,
) -> (Option<u32>, Option<u32>, Option<u32>, Option<u32>) {
    let enis_max = sizing.map(|s| s.instance.default_card_enis());
    let (attached, prefixes) = match o.imds.as_ref().map(|i| i.enis.as_slice()) {
        Some(enis) => {
            let card = o
                .node()
                .map_or(0, |n| u32::from(n.facts.default_network_card));
            let attached = enis.iter().filter(|e| e.network_card == card).count();
            let prefixes: usize = enis.iter().map(|e| e.ipv4_prefixes.len()).sum();
            (u32::try_from(attached).ok(), u32::try_from(prefixes).ok())
        }
        None => (None, None),
    };
    let free = match (enis_max, attached) {
        (Some(max), Some(attached)) => Some(max.saturating_sub(attached)),
        _ => None,
    };
    (attached, enis_max, free, prefixes)
}

/// The pool's addresses: ipamd's introspection when it answers, else its metrics.
fn addresses(o: &Observations) -> Option<Addresses> {
    if let Some(pools) = &o.ipamd_pools {
        let t = pools.totals();
        return Some(Addresses {
            total: t.total,
            assigned: t.assigned,
            free: t.free,
            cooldown: Some(t.cooldown),
            source: CollectorId::IpamdIntrospection,
        });
    }
    let m = o.ipamd_metrics.as_ref()?;
    let total = as_count(m.total_ip_addresses?)?;
    let assigned = as_count(m.assigned_ip_addresses?)?;
    Some(Addresses {
        total,
        assigned,
        free: total.saturating_sub(assigned),
        cooldown: None,
        source: CollectorId::IpamdMetrics,
    })
}

/// `kube` against `runtime.slice`, `system` against `system.slice`: the kubelet's numbers when
/// its files say, else nodecap's.
fn reservations(o: &Observations, sizing: Option<&Sizing<'_>>) -> Vec<MemoryReservation> {
    let kubelet = o.kubelet.as_ref();
    let mib = |n: u64| n * 1024 * 1024;
    let kube = kubelet
        .and_then(|k| k.kube_reserved_memory.as_ref())
        .map(|(n, _)| *n)
        .or_else(|| sizing.map(|s| mib(s.kube_reserved.memory_mib)));
    let system = kubelet
        .and_then(|k| k.system_reserved_memory.as_ref())
        .map(|(n, _)| *n)
        .or_else(|| {
            sizing
                .and_then(|s| s.system_reserved)
                .map(|r| mib(r.memory_mib))
        });
    [(MemoryScope::Kube, kube), (MemoryScope::System, system)]
        .into_iter()
        .filter_map(|(scope, reserved)| {
            let reserved_bytes = reserved?;
            let used_bytes = o.memory.as_ref().and_then(|m| m.usage(scope.slice()));
            let headroom_bytes =
                used_bytes.map(|used| signed_bytes(reserved_bytes) - signed_bytes(used));
            let verdict = match headroom_bytes {
                Some(h) if h < 0 => Verdict::Warning,
                Some(_) => Verdict::Ok,
                None => Verdict::Unknown,
            };
            Some(MemoryReservation {
                scope,
                reserved_bytes,
                used_bytes,
                headroom_bytes,
                verdict,
            })
        })
        .collect()
}

/// Each drift check (see [`DriftKind`]). The CNI capacity checks compare the kubelet's
/// maxPods with [`cni::Cni::ip_limited_pods`] (above: addresses run out first; no cap, since a
/// cap does not stop the CNI serving more) and [`cni::Cni::max_pods`] (below: nodecap would
/// set more in this mode).
fn drift(
    max_pods: Option<u32>,
    kubelet_max_pods: Option<u32>,
    sizing: Option<&Sizing<'_>>,
    cni: &cni::Cni,
) -> Vec<Drift> {
    let verdict = |drifted: Option<bool>| match drifted {
        Some(true) => Verdict::Drift,
        Some(false) => Verdict::Ok,
        None => Verdict::Unknown,
    };
    let ipv6 = sizing.is_some_and(|s| s.addressing == PodAddressing::Ipv6);
    let mut out = vec![
        Drift {
            kind: DriftKind::MaxPods,
            verdict: verdict(max_pods.zip(kubelet_max_pods).map(|(a, b)| a != b)),
        },
        Drift {
            kind: DriftKind::MaxPodsAboveCniCapacity,
            verdict: if ipv6 {
                Verdict::Ok
            } else {
                verdict(
                    kubelet_max_pods
                        .zip(cni.ip_limited_pods)
                        .map(|(k, c)| k > c),
                )
            },
        },
        Drift {
            kind: DriftKind::MaxPodsBelowCniCapacity,
            verdict: verdict(kubelet_max_pods.zip(cni.max_pods).map(|(k, c)| k < c)),
        },
    ];
    if let Some(s) = sizing
        && !ipv6
    {
        let mismatch = |configured: bool, observed: &cni::Fact<bool>| {
            verdict(observed.value().map(|seen| seen != configured))
        };
        out.push(Drift {
            kind: DriftKind::PrefixDelegationMismatch,
            verdict: mismatch(
                s.addressing == PodAddressing::PrefixDelegation,
                &cni.facts.prefix_delegation,
            ),
        });
        out.push(Drift {
            kind: DriftKind::CustomNetworkingMismatch,
            verdict: mismatch(s.options.custom_networking, &cni.facts.custom_networking),
        });
    }
    out
}

/// A gauge value as a count: finite and not negative.
fn as_count(value: f64) -> Option<u64> {
    if (0.0..1e18).contains(&value) {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(value as u64)
    } else {
        None
    }
}

fn signed_bytes(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

// ---- what the snapshot serves ---------------------------------------------------------------

pub static MAX_PODS: Family<0> = Family::gauge(
    "nodecap_max_pods",
    &[],
    "maxPods nodecap computes for this node (what init writes).",
);
pub static IPV4_CAPACITY: Family<0> = Family::gauge(
    "nodecap_ipv4_capacity",
    &[],
    "Pod IPv4 addresses the instance limits allow in the configured mode: ENIs for pods x (IPv4 per ENI - 1) [x 16 with prefix delegation].",
);
pub static ENIS_ATTACHED: Family<0> = Family::gauge(
    "nodecap_enis_attached",
    &[],
    "ENIs attached on the default network card (IMDS).",
);
pub static ENIS_MAX: Family<0> = Family::gauge(
    "nodecap_enis_max",
    &[],
    "ENIs the default network card takes (instance limits).",
);
pub static ENIS_FREE: Family<0> = Family::gauge(
    "nodecap_enis_free",
    &[],
    "ENI slots left on the default network card: max - attached.",
);
pub static IPV4_ADDRESSES: Family<1> = Family::gauge(
    "nodecap_ipv4_addresses",
    &["state"],
    "Pod IPv4 addresses in ipamd's pool by state: total, assigned, cooldown (released < 30 s ago), free.",
);
pub static IPV4_PREFIXES: Family<0> = Family::gauge(
    "nodecap_ipv4_prefixes",
    &[],
    "/28 prefixes attached to the node's ENIs (IMDS).",
);
pub static POD_HEADROOM: Family<0> = Family::gauge(
    "nodecap_pod_headroom",
    &[],
    "Pods that can still start: min(maxPods, IPv4 capacity) - assigned addresses.",
);
pub static MEMORY_RESERVED: Family<1> = Family::gauge(
    "nodecap_memory_reserved_bytes",
    &["scope"],
    "Memory reserved by the kubelet's kubeReserved (kube) and systemReserved (system).",
);
pub static MEMORY_HEADROOM: Family<1> = Family::gauge(
    "nodecap_memory_reservation_headroom_bytes",
    &["scope"],
    "Reserved minus used: kube against runtime.slice, system against system.slice. Negative: the slice outgrew its reservation.",
);
pub static DRIFT: Family<1> = Family::gauge(
    "nodecap_drift",
    &["kind"],
    "1 when what runs differs from what nodecap computed or the CNI can serve: max_pods (kubelet vs nodecap), max_pods_above_cni_capacity, max_pods_below_cni_capacity, prefix_delegation_mismatch, custom_networking_mismatch (configured vs ipamd).",
);
pub static SNAPSHOT_TIMESTAMP: Family<0> = Family::gauge(
    "nodecap_snapshot_timestamp_seconds",
    &[],
    "When the snapshot served was taken (Unix time).",
);

impl Export for Snapshot {
    fn export(&self, out: &mut Samples) {
        let o = &self.observations;
        out.set(&BUILD_INFO, [env!("CARGO_PKG_VERSION")], 1.0);
        o.export_parts(out);
        for status in &o.statuses {
            status.export(out);
        }
        self.derived.export(out);
        let taken = o
            .taken_at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |t| t.as_secs_f64());
        out.set(&SNAPSHOT_TIMESTAMP, [], taken);
    }
}

impl Export for Derived {
    fn export(&self, out: &mut Samples) {
        for (family, value) in [
            (&MAX_PODS, self.max_pods),
            (&IPV4_CAPACITY, self.ip_capacity),
            (&ENIS_ATTACHED, self.enis_attached),
            (&ENIS_MAX, self.enis_max),
            (&ENIS_FREE, self.enis_free),
            (&IPV4_PREFIXES, self.ipv4_prefixes),
        ] {
            if let Some(value) = value {
                out.set(family, [], f64::from(value));
            }
        }
        if let Some(h) = self.pod_headroom {
            out.set(&POD_HEADROOM, [], signed(h));
        }
        if let Some(a) = self.ipv4 {
            out.set(&IPV4_ADDRESSES, ["total"], count(a.total));
            out.set(&IPV4_ADDRESSES, ["assigned"], count(a.assigned));
            out.set(&IPV4_ADDRESSES, ["free"], count(a.free));
            if let Some(c) = a.cooldown {
                out.set(&IPV4_ADDRESSES, ["cooldown"], count(c));
            }
        }
        for r in &self.memory {
            let scope = r.scope.to_string();
            out.set(&MEMORY_RESERVED, [&scope], count(r.reserved_bytes));
            if let Some(h) = r.headroom_bytes {
                out.set(&MEMORY_HEADROOM, [&scope], signed(h));
            }
        }
        self.cni.export(out);
        for d in &self.drift {
            if let Some(drifted) = d.drifted() {
                let kind = d.kind.to_string();
                out.set(&DRIFT, [&kind], if drifted { 1.0 } else { 0.0 });
            }
        }
    }
}
