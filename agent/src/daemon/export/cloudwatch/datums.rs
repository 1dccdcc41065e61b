//! Snapshot → CloudWatch datums (the publisher, `telemetry::cloudwatch`, batches and sends
//! them). Pure: no client, no clock (the period stamps every datum), so goldens pin the exact
//! output.
//!
//! **Native mode** (namespace default `nodecap`): every figure below, once per dimension set
//! — `{ClusterName}`, `{ClusterName, InstanceType}`, `{ClusterName, AvailabilityZone}`, and
//! `{ClusterName, NodeName}` only with `per_node`. Each (name, dimension set) is one billed
//! CloudWatch metric; because every node writes the same `{ClusterName, …}` series, those
//! cost nothing per node: CloudWatch's Sum/Min/Max over a period is the cluster rollup.
//!
//! **Compatibility mode**: the cni-metrics-helper's 20 names in namespace `Kubernetes` with
//! the single dimension `CLUSTER_ID`, unit Count. Gauges are this node's values (the Sum
//! statistic over the period is the cluster total when each node publishes once per period);
//! counters are this node's increase since its last publication.
//!
//! **Counters** become deltas per node: `current − previous`, or `current` when the counter
//! went down (a restart of its source reset it: a decrease is a reset, never a negative
//! delta). The first value seen is the baseline and publishes nothing.

use std::time::SystemTime;

use crate::core::names::{DimensionValue, NodeName};
use crate::daemon::collect::ipamd_metrics::{HelperFigure, HelperKind};
use crate::daemon::snapshot::{Addresses, Derived, DriftKind, MemoryScope, Snapshot};
use crate::telemetry::cloudwatch::datum::{Counters, Datum, Unit};
use crate::telemetry::family::{count, signed};

/// How to label what is published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels {
    pub cluster_name: DimensionValue,
    /// Add the `{ClusterName, NodeName}` dimension set (one billed metric per node and name).
    pub per_node: bool,
    pub node_name: NodeName,
    pub compat: bool,
}

/// A native figure: name, unit, value, and whether it is a counter (published as a delta).
type Figure = (&'static str, Unit, f64, bool);

/// A gauge's figure, when its value is known.
fn gauge(name: &'static str, unit: Unit, value: Option<f64>) -> Option<Figure> {
    value.map(|v| (name, unit, v, false))
}

/// The native figures of a snapshot, before dimensions: the node's, its memory reservations,
/// its drift checks, its ENA allowances.
fn native_figures(snapshot: &Snapshot) -> Vec<Figure> {
    let d = &snapshot.derived;
    node_figures(d)
        .into_iter()
        .chain(memory_figures(d))
        .chain(drift_figures(d))
        .flatten()
        .chain(ena_figures(snapshot))
        .collect()
}

/// Pods, addresses, ENIs and the CNI's pool.
fn node_figures(d: &Derived) -> Vec<Option<Figure>> {
    let ipv4 = |pick: fn(&Addresses) -> Option<u64>| d.ipv4.as_ref().and_then(pick).map(count);
    let pools = &d.cni.pools;
    vec![
        gauge("MaxPods", Unit::Count, d.max_pods.map(f64::from)),
        gauge(
            "KubeletMaxPods",
            Unit::Count,
            d.kubelet_max_pods.map(f64::from),
        ),
        gauge("PodHeadroom", Unit::Count, d.pod_headroom.map(signed)),
        gauge("IPv4Capacity", Unit::Count, d.ip_capacity.map(f64::from)),
        gauge("IPv4AddressesTotal", Unit::Count, ipv4(|a| Some(a.total))),
        gauge(
            "IPv4AddressesAssigned",
            Unit::Count,
            ipv4(|a| Some(a.assigned)),
        ),
        gauge("IPv4AddressesFree", Unit::Count, ipv4(|a| Some(a.free))),
        gauge("IPv4AddressesCooldown", Unit::Count, ipv4(|a| a.cooldown)),
        gauge("IPv4Prefixes", Unit::Count, d.ipv4_prefixes.map(f64::from)),
        gauge("ENIsAttached", Unit::Count, d.enis_attached.map(f64::from)),
        gauge("ENIsMax", Unit::Count, d.enis_max.map(f64::from)),
        gauge("ENIsFree", Unit::Count, d.enis_free.map(f64::from)),
        gauge("CniMaxPods", Unit::Count, d.cni.max_pods.map(f64::from)),
        // Summed and worst over the network cards; per card in Prometheus.
        gauge(
            "IPv4AddressesNeeded",
            Unit::Count,
            pools
                .iter()
                .map(|p| p.addresses_needed)
                .sum::<Option<u64>>()
                .filter(|_| !pools.is_empty())
                .map(count),
        ),
        gauge(
            "IPPoolAtCapacity",
            Unit::Count,
            pools
                .iter()
                .filter_map(|p| p.at_capacity)
                .max()
                .map(|full| if full { 1.0 } else { 0.0 }),
        ),
    ]
}

/// Each memory reservation, then each one's headroom.
fn memory_figures(d: &Derived) -> Vec<Option<Figure>> {
    let reserved = d.memory.iter().map(|r| {
        let name = match r.scope {
            MemoryScope::Kube => "MemoryReservedKube",
            MemoryScope::System => "MemoryReservedSystem",
        };
        gauge(name, Unit::Bytes, Some(count(r.reserved_bytes)))
    });
    let headroom = d.memory.iter().map(|r| {
        let name = match r.scope {
            MemoryScope::Kube => "MemoryHeadroomKube",
            MemoryScope::System => "MemoryHeadroomSystem",
        };
        gauge(name, Unit::Bytes, r.headroom_bytes.map(signed))
    });
    reserved.chain(headroom).collect()
}

/// 1 for each drift check that found drift, 0 for each that did not.
fn drift_figures(d: &Derived) -> Vec<Option<Figure>> {
    d.drift
        .iter()
        .map(|drift| {
            let name = match drift.kind {
                DriftKind::MaxPods => "DriftMaxPods",
                DriftKind::MaxPodsAboveCniCapacity => "DriftMaxPodsAboveCniCapacity",
                DriftKind::MaxPodsBelowCniCapacity => "DriftMaxPodsBelowCniCapacity",
                DriftKind::PrefixDelegationMismatch => "DriftPrefixDelegation",
                DriftKind::CustomNetworkingMismatch => "DriftCustomNetworking",
            };
            gauge(
                name,
                Unit::Count,
                drift.drifted().map(|d| if d { 1.0 } else { 0.0 }),
            )
        })
        .collect()
}

/// The ENA figures of the node: its least conntrack headroom over its interfaces, and the
/// allowance counters summed over them (per-interface series stay in Prometheus).
fn ena_figures(snapshot: &Snapshot) -> Vec<Figure> {
    let interfaces = snapshot
        .observations
        .ena
        .as_ref()
        .map(|e| e.interfaces.as_slice())
        .unwrap_or_default();
    let conntrack = interfaces
        .iter()
        .filter_map(|e| e.conntrack_available)
        .min()
        .map(|n| {
            (
                "ENAConntrackAllowanceAvailable",
                Unit::Count,
                count(n),
                false,
            )
        });
    let counters = [
        ("bw_in", "ENABwInAllowanceExceeded"),
        ("bw_out", "ENABwOutAllowanceExceeded"),
        ("pps", "ENAPpsAllowanceExceeded"),
        ("conntrack", "ENAConntrackAllowanceExceeded"),
        ("linklocal", "ENALinklocalAllowanceExceeded"),
    ]
    .into_iter()
    .filter_map(|(kind, name)| {
        let values: Vec<u64> = interfaces
            .iter()
            .flat_map(|e| {
                e.exceeded
                    .iter()
                    .filter(|(k, _)| *k == kind)
                    .map(|&(_, v)| v)
            })
            .collect();
        (!values.is_empty()).then(|| (name, Unit::Count, count(values.iter().sum()), true))
    });
    conntrack.into_iter().chain(counters).collect()
}

/// The datums of one publication, all stamped `period`: the start of the publication period
/// they stand for (standard-resolution CloudWatch keeps one-minute points anyway). One
/// publication per node per period, each in its own period, is what makes the Sum over a
/// period the cluster total; stamping the snapshot's own time instead could put two of a
/// node's publications in one period when the snapshot predates the period's start.
/// `counters` carries the counters' last values between calls (a counter's first value
/// publishes nothing).
pub fn datums(
    labels: &Labels,
    counters: &mut Counters,
    snapshot: &Snapshot,
    period: SystemTime,
) -> Vec<Datum> {
    let (figures, sets) = if labels.compat {
        (compat_figures(snapshot), compat_dimensions(labels))
    } else {
        (
            native_figures(snapshot),
            native_dimensions(labels, snapshot),
        )
    };
    let mut out = Vec::new();
    for (name, unit, value, is_counter) in figures {
        let value = if is_counter {
            match counters.delta(name, value) {
                Some(delta) => delta,
                None => continue,
            }
        } else {
            value
        };
        for dimensions in &sets {
            out.push(Datum {
                name: name.to_owned(),
                dimensions: dimensions.clone(),
                value,
                unit,
                timestamp: period,
            });
        }
    }
    out
}

type Dimensions = Vec<(String, String)>;

/// `{ClusterName}`, `{ClusterName, InstanceType}`, `{ClusterName, AvailabilityZone}` (once the
/// node is known), and `{ClusterName, NodeName}` with `per_node`.
fn native_dimensions(labels: &Labels, snapshot: &Snapshot) -> Vec<Dimensions> {
    let cluster = ("ClusterName".to_owned(), labels.cluster_name.to_string());
    let mut sets = vec![vec![cluster.clone()]];
    if let Some(node) = snapshot.observations.node() {
        let identity = &node.identity;
        for (key, value) in [
            ("InstanceType", identity.instance_type.as_str()),
            ("AvailabilityZone", identity.availability_zone.as_str()),
        ] {
            sets.push(vec![cluster.clone(), (key.to_owned(), value.to_string())]);
        }
    }
    if labels.per_node {
        sets.push(vec![
            cluster,
            ("NodeName".to_owned(), labels.node_name.to_string()),
        ]);
    }
    sets
}

/// The cni-metrics-helper's one dimension, `CLUSTER_ID`.
fn compat_dimensions(labels: &Labels) -> Vec<Dimensions> {
    vec![vec![(
        "CLUSTER_ID".to_owned(),
        labels.cluster_name.to_string(),
    )]]
}

/// The cni-metrics-helper's figures of this node, in its names, unit Count.
fn compat_figures(snapshot: &Snapshot) -> Vec<Figure> {
    let helper = snapshot
        .observations
        .ipamd_metrics
        .as_ref()
        .map(|m| m.helper.as_slice())
        .unwrap_or_default();
    helper
        .iter()
        .map(|&(figure, value)| {
            let is_counter = figure.kind() == HelperKind::Counter;
            (helper_name(figure), Unit::Count, value, is_counter)
        })
        .collect()
}

/// The cni-metrics-helper's CloudWatch name of a figure (its `cni_metrics.go` table), so a
/// helper's alarms and dashboards keep working on nodecap's datums.
fn helper_name(figure: HelperFigure) -> &'static str {
    use HelperFigure::*;
    match figure {
        AssignedIpAddresses => "assignIPAddresses",
        TotalIpAddresses => "totalIPAddresses",
        TotalIpv4Prefixes => "totalIPv4Prefixes",
        AssignedIpPerCidr => "totalAssignedIPv4sPerCidr",
        EniAllocated => "eniAllocated",
        EniMax => "eniMaxAvailable",
        IpMax => "maxIPAddresses",
        AwsApiLatency => "awsAPILatency",
        AwsApiErrors => "awsAPIErr",
        AwsUtilsErrors => "awsUtilErr",
        IpamdErrors => "ipamdErr",
        ForceRemovedEnis => "forceRemoveENI",
        ForceRemovedIps => "forceRemoveIPs",
        IpamdActionInProgress => "ipamdActionInProgress",
        Reconciles => "reconcileCount",
        AddIpRequests => "addReqCount",
        DelIpRequests => "delReqCount",
        PodEniErrors => "podENIErr",
        Ec2ApiRequests => "ec2ApiReqCount",
        Ec2ApiErrors => "ec2ApiErrCount",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    fn settings(compat: bool, per_node: bool) -> Labels {
        Labels {
            cluster_name: "bars".parse().unwrap(),
            per_node,
            node_name: "ip-10-0-1-10.ec2.internal".parse().unwrap(),
            compat,
        }
    }

    fn render(datums: &[Datum]) -> String {
        let mut text = String::new();
        for d in datums {
            let dims: Vec<String> = d
                .dimensions
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let at = d
                .timestamp
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let _ = writeln!(
                text,
                "{} {{{}}} {} {} @{at}",
                d.name,
                dims.join(","),
                d.value,
                d.unit.as_str()
            );
        }
        text
    }

    fn golden(name: &str, actual: &str) {
        expect_test::expect_file![crate::daemon::tests::golden(&format!("cloudwatch/{name}"))]
            .assert_eq(actual);
    }

    /// Two publications: the first sets the counters' baselines, the second has their deltas.
    fn twice(settings: &Labels) -> (Vec<Datum>, Vec<Datum>) {
        let mut counters = Counters::default();
        let first = Snapshot::new(crate::daemon::tests::full_observations());
        let mut later = crate::daemon::tests::full_observations();
        later.taken_at += std::time::Duration::from_secs(60);
        later.ena.as_mut().unwrap().interfaces[0].exceeded[1].1 += 5; // bw_out 7 → 12
        if let Some(m) = later.ipamd_metrics.as_mut() {
            m.helper[2].1 += 3.0; // addReqCount 40 → 43
        }
        let at = |s| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s);
        let a = datums(settings, &mut counters, &first, at(1_795_000_000));
        let b = datums(
            settings,
            &mut counters,
            &Snapshot::new(later),
            at(1_795_000_060),
        );
        (a, b)
    }

    /// The CloudFormation alarms in `packaging/cloudwatch/` alarm only on names nodecap
    /// publishes.
    #[test]
    fn cloudformation_alarms_use_published_names() {
        let template = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../packaging/cloudwatch/alarms.yaml"
        ))
        .unwrap();
        let (first, second) = twice(&settings(false, false));
        let published: std::collections::BTreeSet<&str> = first
            .iter()
            .chain(&second)
            .map(|d| d.name.as_str())
            .collect();
        let used: Vec<&str> = template
            .lines()
            .filter_map(|l| l.trim().strip_prefix("MetricName: "))
            .collect();
        assert!(used.len() >= 8, "{used:?}");
        for name in used {
            assert!(
                published.contains(name),
                "alarms.yaml: {name} is not published"
            );
        }
    }

    #[test]
    fn native_datums() {
        let (first, second) = twice(&settings(false, false));
        golden("native-first.txt", &render(&first));
        golden("native-second.txt", &render(&second));
        // Three dimension sets, every datum stamped with its period's start.
        assert!(
            first
                .iter()
                .all(|d| d.dimensions[0] == ("ClusterName".to_owned(), "bars".to_owned()))
        );
        let bw_out: Vec<_> = second
            .iter()
            .filter(|d| d.name == "ENABwOutAllowanceExceeded")
            .collect();
        assert_eq!(bw_out.len(), 3);
        assert!(bw_out.iter().all(|d| d.value == 5.0));
        assert!(
            !first.iter().any(|d| d.name == "ENABwOutAllowanceExceeded"),
            "a baseline publishes nothing"
        );
        let (with_node, _) = twice(&settings(false, true));
        assert_eq!(with_node.len(), first.len() / 3 * 4);
        assert!(with_node.iter().any(|d| {
            d.dimensions
                .iter()
                .any(|(k, v)| k == "NodeName" && v == "ip-10-0-1-10.ec2.internal")
        }));
    }

    #[test]
    fn compat_datums() {
        let (first, second) = twice(&settings(true, false));
        golden("compat-first.txt", &render(&first));
        golden("compat-second.txt", &render(&second));
        assert!(second.iter().all(|d| d.dimensions
            == [("CLUSTER_ID".to_owned(), "bars".to_owned())]
            && d.unit == Unit::Count));
        let add = second.iter().find(|d| d.name == "addReqCount").unwrap();
        assert_eq!(add.value, 3.0);
    }
}
