//! One tick's immutable snapshot: the [`Observations`] and the figures derived from them.
//! Both exporters read only this, so Prometheus and CloudWatch can never disagree, and a
//! vanished ENI or interface drops out by itself at the next tick.
//!
//! [`derive`] is pure; each derived figure's formula is on its field.

use crate::collect::Observations;
use crate::sizing::{HOST_NETWORK_PODS, PodAddressing};

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

/// The node's IPv4 pod addresses by state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addresses {
    pub total: u64,
    pub assigned: u64,
    pub free: u64,
    /// Released less than ipamd's cooldown (30 s) ago; only ipamd's introspection knows.
    pub cooldown: Option<u64>,
    /// `ipamd_introspection` or `ipamd_metrics`.
    pub source: &'static str,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Derived {
    /// nodecap's maxPods for this node (the number `init` writes).
    pub max_pods: Option<u32>,
    /// The kubelet's effective maxPods, from its configuration files.
    pub kubelet_max_pods: Option<u32>,
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
    /// Memory reserved by scope (`kube`, `system`): the kubelet's configuration when it says,
    /// else what nodecap computes.
    pub memory_reserved: Vec<(&'static str, u64)>,
    /// `reserved − used` by scope: `kube` against `runtime.slice` (kubelet and container
    /// runtime), `system` against `system.slice`. Negative: the slice uses more than is
    /// reserved for it, so pods can starve it.
    pub memory_headroom: Vec<(&'static str, i64)>,
    /// Whether ipamd (or, without ipamd, EC2) holds /28 prefixes rather than single
    /// addresses; None on a node with no pod addresses yet.
    pub prefix_delegation_seen: Option<bool>,
    /// `(kind, drifted)`: `max_pods` (kubelet ≠ nodecap), `prefix_delegation` (seen ≠
    /// configured). Only kinds whose two sides are known.
    pub drift: Vec<(&'static str, bool)>,
}

/// The derived figures of a tick.
pub fn derive(o: &Observations) -> Derived {
    let mut d = Derived::default();
    let sizing = o.node.as_deref().map(crate::init::Node::sizing);
    if let Some(sizing) = &sizing {
        d.max_pods = Some(sizing.max_pods);
        d.ip_capacity = sizing
            .ip_limited_pods
            .map(|pods| pods.saturating_sub(HOST_NETWORK_PODS));
        d.enis_max = Some(sizing.instance.default_card_enis());
    }
    d.kubelet_max_pods = o
        .kubelet
        .as_ref()
        .and_then(|k| k.max_pods.as_ref())
        .map(|(n, _)| *n);

    if let Some(enis) = o.enis.as_deref() {
        let card = o
            .node
            .as_deref()
            .map_or(0, |n| u32::from(n.facts.default_network_card));
        let attached = enis.iter().filter(|e| e.network_card == card).count();
        d.enis_attached = u32::try_from(attached).ok();
        d.ipv4_prefixes =
            u32::try_from(enis.iter().map(|e| e.ipv4_prefixes.len()).sum::<usize>()).ok();
    }
    if let (Some(max), Some(attached)) = (d.enis_max, d.enis_attached) {
        d.enis_free = Some(max.saturating_sub(attached));
    }

    d.ipv4 = if let Some(pools) = &o.ipamd_pools {
        let t = pools.totals();
        Some(Addresses {
            total: t.total,
            assigned: t.assigned,
            free: t.free,
            cooldown: Some(t.cooldown),
            source: "ipamd_introspection",
        })
    } else {
        o.ipamd_metrics.as_ref().and_then(|m| {
            let total = count(m.total_ip_addresses?)?;
            let assigned = count(m.assigned_ip_addresses?)?;
            Some(Addresses {
                total,
                assigned,
                free: total.saturating_sub(assigned),
                cooldown: None,
                source: "ipamd_metrics",
            })
        })
    };

    let pods_in_force = d.kubelet_max_pods.or(d.max_pods);
    if let (Some(pods), Some(capacity), Some(ipv4)) = (pods_in_force, d.ip_capacity, d.ipv4) {
        let limit = i64::from(pods.min(capacity));
        d.pod_headroom = Some(limit - i64::try_from(ipv4.assigned).unwrap_or(i64::MAX));
    }

    let kubelet = o.kubelet.as_ref();
    let reserved = [
        (
            "kube",
            kubelet
                .and_then(|k| k.kube_reserved_memory.as_ref())
                .map(|(n, _)| *n)
                .or_else(|| {
                    sizing
                        .as_ref()
                        .map(|s| s.kube_reserved.memory_mib * 1024 * 1024)
                }),
            "runtime.slice",
        ),
        (
            "system",
            kubelet
                .and_then(|k| k.system_reserved_memory.as_ref())
                .map(|(n, _)| *n)
                .or_else(|| {
                    sizing
                        .as_ref()
                        .and_then(|s| s.system_reserved)
                        .map(|r| r.memory_mib * 1024 * 1024)
                }),
            "system.slice",
        ),
    ];
    for (scope, bytes, slice) in reserved {
        let Some(bytes) = bytes else { continue };
        d.memory_reserved.push((scope, bytes));
        let used = o
            .memory
            .as_ref()
            .and_then(|m| m.slices.iter().find(|s| s.slice == slice))
            .map(|s| s.usage_bytes);
        if let Some(used) = used {
            d.memory_headroom
                .push((scope, signed(bytes) - signed(used)));
        }
    }

    d.prefix_delegation_seen = o
        .ipamd_pools
        .as_ref()
        .and_then(|p| p.prefix_delegation())
        .or_else(|| {
            let enis = o.enis.as_deref()?;
            if enis.iter().any(|e| !e.ipv4_prefixes.is_empty()) {
                Some(true)
            } else if enis.iter().any(|e| e.ipv4.len() > 1) {
                Some(false)
            } else {
                None
            }
        });
    if let (Some(ours), Some(kubelet)) = (d.max_pods, d.kubelet_max_pods) {
        d.drift.push(("max_pods", ours != kubelet));
    }
    if let (Some(sizing), Some(seen)) = (&sizing, d.prefix_delegation_seen)
        && sizing.addressing != PodAddressing::Ipv6
    {
        let configured = sizing.addressing == PodAddressing::PrefixDelegation;
        d.drift.push(("prefix_delegation", configured != seen));
    }
    d
}

/// A gauge value as a count: finite and not negative.
fn count(value: f64) -> Option<u64> {
    if (0.0..1e18).contains(&value) {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(value as u64)
    } else {
        None
    }
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
