//! One cycle's view of the cluster's subnets, and everything made from it. Pure: the figures
//! ([`View::new`] from what the EC2 API listed), the Prometheus samples ([`ReaderStatus`] is an
//! [`Export`]), the CloudWatch datums ([`datums`]), and `--once`'s table and JSON.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use crate::aws::ec2::Calls;
use crate::aws::ec2::subnets::{Ipv6OnlySubnet, NetworkInterface, Subnet};
use crate::core::names::{DimensionValue, SubnetId, VpcId};
use crate::core::subnet::{CidrReservation, Headroom, Occupancy};
use crate::telemetry::cloudwatch::datum::{Datum, Unit};
use crate::telemetry::family::{Export, Family, Samples, count};

/// One subnet's figures.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SubnetView {
    pub subnet_id: SubnetId,
    pub vpc_id: VpcId,
    pub availability_zone: String,
    pub cidr: String,
    #[serde(flatten)]
    pub headroom: Headroom,
    /// EC2's own `AvailableIpAddressCount` (eventually consistent; counts `explicit`
    /// reservations as available).
    pub ec2_available: u64,
    pub network_interfaces: u64,
    /// Instances with a network interface in the subnet.
    pub nodes: u64,
    /// Of those, instances holding a delegated prefix here (prefix delegation's nodes): each
    /// takes at least one more /28 when it grows (`WARM_PREFIX_TARGET` defaults to 1).
    pub prefix_delegation_nodes: u64,
}

/// Accumulates one subnet's interfaces as the pages arrive.
#[derive(Debug)]
pub struct Tally {
    subnet: Subnet,
    occupancy: Occupancy,
    interfaces: u64,
    nodes: BTreeSet<InstanceKey>,
    prefix_nodes: BTreeSet<InstanceKey>,
}

/// An instance id (`i-` and 1 to 24 hex digits, checked where it is read) as 16 bytes: its
/// digits and their count, so `i-0a` and `i-a` stay apart. A cycle counts up to a quarter of a
/// million interfaces' instances; as strings in a set they took 70 bytes each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct InstanceKey(u128);

impl InstanceKey {
    fn of(id: &str) -> Option<Self> {
        let hex = id
            .strip_prefix("i-")
            .filter(|h| (1..=24).contains(&h.len()))?;
        let digits = u128::from_str_radix(hex, 16).ok()?;
        Some(InstanceKey(digits | (hex.len() as u128) << 96))
    }
}

impl Tally {
    pub fn new(subnet: Subnet) -> Self {
        Tally {
            occupancy: Occupancy::new(subnet.cidr),
            subnet,
            interfaces: 0,
            nodes: BTreeSet::new(),
            prefix_nodes: BTreeSet::new(),
        }
    }

    pub fn subnet(&self) -> &Subnet {
        &self.subnet
    }

    /// One interface of this subnet. Instances are tracked up to the subnet's size (each
    /// interface holds at least one of its addresses, so more is not a real answer).
    pub fn add(&mut self, interface: NetworkInterface) {
        self.interfaces += 1;
        for address in interface.addresses {
            self.occupancy.add_address(address);
        }
        let has_prefix = !interface.prefixes.is_empty();
        for prefix in interface.prefixes {
            self.occupancy.add_prefix(prefix);
        }
        let bound = 1usize << (32 - u32::from(self.subnet.cidr.prefix_len()));
        if let Some(instance) = interface.instance_id.as_deref().and_then(InstanceKey::of)
            && self.nodes.len() < bound
        {
            if has_prefix {
                self.prefix_nodes.insert(instance);
            }
            self.nodes.insert(instance);
        }
    }

    /// The figures, given the subnet's reservations.
    pub fn finish(self, reservations: &[CidrReservation]) -> SubnetView {
        SubnetView {
            subnet_id: self.subnet.id,
            vpc_id: self.subnet.vpc_id,
            availability_zone: self.subnet.availability_zone,
            cidr: self.subnet.cidr.to_string(),
            headroom: self.occupancy.headroom(reservations),
            ec2_available: self.subnet.available_ip_address_count,
            network_interfaces: self.interfaces,
            nodes: self.nodes.len() as u64,
            prefix_delegation_nodes: self.prefix_nodes.len() as u64,
        }
    }
}

/// The subnets as one cycle saw them.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct View {
    /// Sorted by availability zone, then id.
    pub subnets: Vec<SubnetView>,
    /// Selected subnets without an IPv4 CIDR: named, nothing counted.
    #[serde(rename = "ipv6_only_subnets")]
    pub ipv6_only: Vec<Ipv6OnlySubnet>,
    #[serde(serialize_with = "unix_seconds")]
    pub taken_at: SystemTime,
    #[serde(rename = "duration_seconds", serialize_with = "seconds")]
    pub duration: Duration,
    /// EC2 API calls this cycle made, by action (retries included).
    #[serde(serialize_with = "calls_by_action")]
    pub calls: Calls,
}

fn unix_seconds<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(
        t.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs(),
    )
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

fn calls_by_action<S: serde::Serializer>(c: &Calls, s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&c.calls, s)
}

impl View {
    pub fn new(
        mut subnets: Vec<SubnetView>,
        mut ipv6_only: Vec<Ipv6OnlySubnet>,
        taken_at: SystemTime,
        duration: Duration,
        calls: Calls,
    ) -> Self {
        subnets.sort_by(|a, b| {
            (&a.availability_zone, &a.subnet_id).cmp(&(&b.availability_zone, &b.subnet_id))
        });
        ipv6_only.sort_by(|a, b| (&a.availability_zone, &a.id).cmp(&(&b.availability_zone, &b.id)));
        View {
            subnets,
            ipv6_only,
            taken_at,
            duration,
            calls,
        }
    }

    /// `--once`'s table: one line per subnet, then one per IPv6-only subnet.
    pub fn table(&self) -> String {
        let header = [
            "SUBNET",
            "ZONE",
            "CIDR",
            "USABLE",
            "USED",
            "RESERVED",
            "AVAILABLE",
            "AVAIL%",
            "FREE/28",
            "IN-PREFIX-RES",
            "ENIS",
            "NODES",
            "PD-NODES",
        ];
        let rows: Vec<Vec<String>> = self
            .subnets
            .iter()
            .map(|s| {
                let h = &s.headroom;
                vec![
                    s.subnet_id.to_string(),
                    s.availability_zone.clone(),
                    s.cidr.clone(),
                    h.usable.to_string(),
                    h.used.to_string(),
                    h.reserved.to_string(),
                    h.available.to_string(),
                    percent(h.available, h.usable),
                    h.prefixes_free.to_string(),
                    h.prefixes_free_reserved.to_string(),
                    s.network_interfaces.to_string(),
                    s.nodes.to_string(),
                    s.prefix_delegation_nodes.to_string(),
                ]
            })
            .collect();
        // Subnet, zone and CIDR left; the figures right.
        let mut text = crate::core::explain::aligned(&header, &rows, &[0, 1, 2]);
        for s in &self.ipv6_only {
            text.push_str(&format!(
                "{} ({}): IPv6-only, no IPv4 addresses to count\n",
                s.id, s.availability_zone
            ));
        }
        text
    }
}

/// `part` of `whole` in percent, one decimal.
fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".to_owned();
    }
    let p = part as f64 * 100.0 / whole as f64;
    format!("{p:.1}")
}

// ---- Prometheus ---------------------------------------------------------------------------

const SUBNET: &[&str; 2] = &["subnet_id", "availability_zone"];

pub static INFO: Family<4> = Family::gauge(
    "nodecap_subnet_info",
    &["subnet_id", "availability_zone", "cidr", "vpc_id"],
    "A subnet nodecap subnets watches; always 1.",
);
static IPV6_ONLY: Family<2> = Family::gauge(
    "nodecap_subnet_ipv6_only",
    SUBNET,
    "A selected subnet that is IPv6-only (no IPv4 CIDR): none of the IPv4 figures apply; always 1.",
);
static ADDRESSES: Family<3> = Family::gauge(
    "nodecap_subnet_ipv4_addresses",
    &["subnet_id", "availability_zone", "state"],
    "IPv4 addresses by state: usable (CIDR − 5), used (held by network interfaces), reserved (explicit reservations), available (usable − used − reserved).",
);
static EC2_AVAILABLE: Family<2> = Family::gauge(
    "nodecap_subnet_ec2_available_ipv4_addresses",
    SUBNET,
    "EC2's AvailableIpAddressCount for the subnet (eventually consistent).",
);
static PREFIXES_USED: Family<2> = Family::gauge(
    "nodecap_subnet_ipv4_prefixes_used",
    SUBNET,
    "/28 prefixes delegated to network interfaces in the subnet.",
);
static PREFIXES_FREE: Family<2> = Family::gauge(
    "nodecap_subnet_ipv4_prefixes_free",
    SUBNET,
    "Aligned /28 blocks none of whose addresses is used, kept by AWS or explicitly reserved: prefixes prefix delegation can still get.",
);
static PREFIXES_FREE_RESERVED: Family<2> = Family::gauge(
    "nodecap_subnet_ipv4_prefixes_free_reserved",
    SUBNET,
    "Of the free /28 blocks, those inside prefix reservations.",
);
pub static INTERFACES: Family<2> = Family::gauge(
    "nodecap_subnet_network_interfaces",
    SUBNET,
    "Network interfaces in the subnet.",
);
pub static NODES: Family<2> = Family::gauge(
    "nodecap_subnet_nodes",
    SUBNET,
    "Instances with a network interface in the subnet.",
);
static PREFIX_NODES: Family<2> = Family::gauge(
    "nodecap_subnet_prefix_delegation_nodes",
    SUBNET,
    "Instances holding a delegated /28 prefix in the subnet: each needs a free /28 to grow.",
);
pub static SUCCESS: Family<0> = Family::gauge(
    "nodecap_subnets_cycle_success",
    &[],
    "1 if the last cycle read every subnet, 0 if it failed (the figures are then the last good cycle's).",
);
pub static STALE: Family<0> = Family::gauge(
    "nodecap_subnets_stale",
    &[],
    "1 while the subnet figures are from an earlier cycle than the last.",
);
static LAST_SUCCESS: Family<0> = Family::gauge(
    "nodecap_subnets_last_success_timestamp_seconds",
    &[],
    "When the figures served were read (Unix time).",
);
pub static DURATION: Family<0> = Family::gauge(
    "nodecap_subnets_cycle_duration_seconds",
    &[],
    "How long the last cycle took.",
);
static CYCLES: Family<1> = Family::counter(
    "nodecap_subnets_cycles_total",
    &["result"],
    "Cycles by result: success, failure.",
);
static API_CALLS: Family<1> = Family::counter(
    "nodecap_subnets_api_calls_total",
    &["action"],
    "EC2 API calls made, retries included.",
);
static API_ERRORS: Family<2> = Family::counter(
    "nodecap_subnets_api_errors_total",
    &["action", "kind"],
    "Failed EC2 API calls: throttling, server, network, client.",
);

/// What `/metrics` serves: the last good view and how the cycles went.
#[derive(Debug, Clone, Default)]
pub struct ReaderStatus {
    pub view: Option<std::sync::Arc<View>>,
    pub last_failed: bool,
    pub succeeded: u64,
    pub failed: u64,
    pub last_duration: Duration,
    /// Every call since start.
    pub calls: Calls,
}

impl Export for ReaderStatus {
    fn export(&self, out: &mut Samples) {
        out.set(
            &crate::telemetry::family::BUILD_INFO,
            [env!("CARGO_PKG_VERSION")],
            1.0,
        );
        out.set(&SUCCESS, [], if self.last_failed { 0.0 } else { 1.0 });
        out.set(
            &STALE,
            [],
            if self.last_failed && self.view.is_some() {
                1.0
            } else {
                0.0
            },
        );
        out.set(&DURATION, [], self.last_duration.as_secs_f64());
        out.set(&CYCLES, ["success"], count(self.succeeded));
        out.set(&CYCLES, ["failure"], count(self.failed));
        for (action, n) in &self.calls.calls {
            out.set(&API_CALLS, [action.as_str()], count(*n));
        }
        for ((action, kind), n) in &self.calls.failures {
            out.set(&API_ERRORS, [action.as_str(), kind.as_str()], count(*n));
        }
        let Some(view) = &self.view else { return };
        out.set(
            &LAST_SUCCESS,
            [],
            view.taken_at
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64(),
        );
        for s in &view.subnets {
            let (id, zone) = (s.subnet_id.as_str(), s.availability_zone.as_str());
            let h = &s.headroom;
            out.set(&INFO, [id, zone, &s.cidr, &s.vpc_id], 1.0);
            for (state, n) in [
                ("usable", h.usable),
                ("used", h.used),
                ("reserved", h.reserved),
                ("available", h.available),
            ] {
                out.set(&ADDRESSES, [id, zone, state], count(n));
            }
            out.set(&EC2_AVAILABLE, [id, zone], count(s.ec2_available));
            out.set(&PREFIXES_USED, [id, zone], count(h.prefixes_used));
            out.set(&PREFIXES_FREE, [id, zone], count(h.prefixes_free));
            out.set(
                &PREFIXES_FREE_RESERVED,
                [id, zone],
                count(h.prefixes_free_reserved),
            );
            out.set(&INTERFACES, [id, zone], count(s.network_interfaces));
            out.set(&NODES, [id, zone], count(s.nodes));
            out.set(&PREFIX_NODES, [id, zone], count(s.prefix_delegation_nodes));
        }
        for s in &view.ipv6_only {
            out.set(
                &IPV6_ONLY,
                [s.id.as_str(), s.availability_zone.as_str()],
                1.0,
            );
        }
    }
}

/// Every family `nodecap subnets` serves besides the CloudWatch publisher's, in the README's
/// order.
pub static CATALOGUE: [&crate::telemetry::family::Describe; 18] = [
    &crate::telemetry::family::BUILD_INFO.describe,
    &INFO.describe,
    &IPV6_ONLY.describe,
    &ADDRESSES.describe,
    &EC2_AVAILABLE.describe,
    &PREFIXES_USED.describe,
    &PREFIXES_FREE.describe,
    &PREFIXES_FREE_RESERVED.describe,
    &INTERFACES.describe,
    &NODES.describe,
    &PREFIX_NODES.describe,
    &SUCCESS.describe,
    &STALE.describe,
    &LAST_SUCCESS.describe,
    &DURATION.describe,
    &CYCLES.describe,
    &API_CALLS.describe,
    &API_ERRORS.describe,
];

// ---- CloudWatch ---------------------------------------------------------------------------

/// The view as datums, each figure once per dimension set: `{ClusterName, SubnetId}` (one
/// series per subnet, what the per-subnet alarms watch) and `{ClusterName,
/// AvailabilityZone}` (CloudWatch's Sum over the zone's subnets).
pub fn datums(cluster_name: &DimensionValue, view: &View) -> Vec<Datum> {
    let mut out = Vec::new();
    for s in &view.subnets {
        let h = &s.headroom;
        let figures = [
            ("SubnetUsableIPv4Addresses", h.usable),
            ("SubnetUsedIPv4Addresses", h.used),
            ("SubnetAvailableIPv4Addresses", h.available),
            ("SubnetFreeIPv4Prefixes", h.prefixes_free),
            ("SubnetPrefixDelegationNodes", s.prefix_delegation_nodes),
        ];
        let sets = [
            ("SubnetId", s.subnet_id.as_str()),
            ("AvailabilityZone", s.availability_zone.as_str()),
        ];
        for (name, value) in figures {
            for (key, dimension) in sets {
                out.push(Datum {
                    name: name.to_owned(),
                    dimensions: vec![
                        ("ClusterName".to_owned(), cluster_name.to_string()),
                        (key.to_owned(), dimension.to_owned()),
                    ],
                    value: count(value),
                    unit: Unit::Count,
                    timestamp: view.taken_at,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::ec2::{Action, FailureClass};
    use crate::core::subnet::ReservationKind;
    use crate::telemetry::prometheus;

    pub(crate) fn subnet(id: &str, zone: &str, cidr: &str) -> Subnet {
        Subnet {
            id: id.parse().unwrap(),
            vpc_id: "vpc-0a".parse().unwrap(),
            cidr: cidr.parse().unwrap(),
            availability_zone: zone.to_owned(),
            available_ip_address_count: 200,
        }
    }

    fn interface(
        id: &str,
        subnet: &str,
        instance: Option<&str>,
        addresses: &[&str],
        prefixes: &[&str],
    ) -> NetworkInterface {
        NetworkInterface {
            id: id.to_owned(),
            subnet_id: subnet.parse().unwrap(),
            instance_id: instance.map(str::to_owned),
            addresses: addresses.iter().map(|a| a.parse().unwrap()).collect(),
            prefixes: prefixes.iter().map(|p| p.parse().unwrap()).collect(),
        }
    }

    pub(crate) fn example() -> View {
        let mut a = Tally::new(subnet("subnet-0b", "us-east-1b", "10.0.1.0/24"));
        a.add(interface(
            "eni-1",
            "subnet-0b",
            Some("i-1"),
            &["10.0.1.10", "10.0.1.11"],
            &["10.0.1.32/28"],
        ));
        a.add(interface(
            "eni-2",
            "subnet-0b",
            Some("i-1"),
            &["10.0.1.12"],
            &[],
        ));
        a.add(interface(
            "eni-3",
            "subnet-0b",
            Some("i-2"),
            &["10.0.1.20"],
            &[],
        ));
        a.add(interface("eni-4", "subnet-0b", None, &["10.0.1.200"], &[]));
        let a = a.finish(&[CidrReservation {
            cidr: "10.0.1.128/26".parse().unwrap(),
            kind: ReservationKind::Prefix,
        }]);
        let b = Tally::new(subnet("subnet-0a", "us-east-1a", "10.0.0.0/26")).finish(&[]);
        let mut calls = Calls::default();
        calls.calls.insert(Action::DescribeSubnets, 2);
        View::new(
            vec![a, b],
            vec![Ipv6OnlySubnet {
                id: "subnet-06".parse().unwrap(),
                availability_zone: "us-east-1c".to_owned(),
            }],
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000),
            Duration::from_millis(420),
            calls,
        )
    }

    #[test]
    fn figures_per_subnet() {
        let view = example();
        // Sorted by zone.
        assert_eq!(view.subnets[0].subnet_id, "subnet-0a");
        let s = &view.subnets[1];
        assert_eq!(
            (s.network_interfaces, s.nodes, s.prefix_delegation_nodes),
            (4, 2, 1)
        );
        let h = &s.headroom;
        assert_eq!((h.usable, h.used, h.available), (251, 21, 230));
        // 16 blocks − AWS's 2 − .0/28 (.10–.12) − .16/28 (.20) − the prefix − .192/28 (.200);
        // the prefix reservation's four blocks are all free.
        assert_eq!((h.prefixes_free, h.prefixes_free_reserved), (11, 4));
    }

    #[test]
    fn table_and_json() {
        let view = example();
        expect_test::expect![[r#"
            SUBNET     ZONE        CIDR         USABLE  USED  RESERVED  AVAILABLE  AVAIL%  FREE/28  IN-PREFIX-RES  ENIS  NODES  PD-NODES
            subnet-0a  us-east-1a  10.0.0.0/26      59     0         0         59   100.0        2              0     0      0         0
            subnet-0b  us-east-1b  10.0.1.0/24     251    21         0        230    91.6       11              4     4      2         1
            subnet-06 (us-east-1c): IPv6-only, no IPv4 addresses to count
        "#]]
        .assert_eq(&view.table());
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["subnets"][1]["prefixes_free"], 11);
        assert_eq!(json["subnets"][1]["available"], 230);
        assert_eq!(json["calls"]["DescribeSubnets"], 2);
        assert_eq!(json["duration_seconds"], 0.42);
        assert_eq!(json["ipv6_only_subnets"][0]["subnet_id"], "subnet-06");
    }

    #[test]
    fn metrics_serve_the_last_good_view_marked_stale() {
        let status = ReaderStatus {
            view: Some(std::sync::Arc::new(example())),
            last_failed: true,
            succeeded: 3,
            failed: 1,
            last_duration: Duration::from_millis(1500),
            calls: {
                let mut c = Calls::default();
                c.calls.insert(Action::DescribeNetworkInterfaces, 9);
                c.failures.insert(
                    (Action::DescribeNetworkInterfaces, FailureClass::Throttling),
                    2,
                );
                c
            },
        };
        let text = prometheus::render(&[&status]).unwrap();
        for line in [
            "nodecap_subnets_stale 1",
            "nodecap_subnets_cycle_success 0",
            r#"nodecap_subnet_ipv4_addresses{availability_zone="us-east-1b",state="available",subnet_id="subnet-0b"} 230"#,
            r#"nodecap_subnet_ipv4_prefixes_free{availability_zone="us-east-1a",subnet_id="subnet-0a"} 2"#,
            r#"nodecap_subnets_api_errors_total{action="DescribeNetworkInterfaces",kind="throttling"} 2"#,
            r#"nodecap_subnet_info{availability_zone="us-east-1b",cidr="10.0.1.0/24",subnet_id="subnet-0b",vpc_id="vpc-0a"} 1"#,
            r#"nodecap_subnet_ipv6_only{availability_zone="us-east-1c",subnet_id="subnet-06"} 1"#,
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }
        let served: BTreeSet<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        let catalogued: BTreeSet<&str> = CATALOGUE.iter().map(|d| d.name).collect();
        assert_eq!(served, catalogued);
        // Before any good cycle: no subnet series, not "stale".
        let text = prometheus::render(&[&ReaderStatus {
            last_failed: true,
            ..ReaderStatus::default()
        }])
        .unwrap();
        assert!(text.contains("nodecap_subnets_stale 0") && !text.contains("nodecap_subnet_info"));
    }

    /// `packaging/cloudwatch/subnet-alarms.yaml` alarms only on names this publishes.
    #[test]
    fn subnet_alarms_use_published_names() {
        let template = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../packaging/cloudwatch/subnet-alarms.yaml"
        ))
        .unwrap();
        let published: BTreeSet<String> = datums(&"c".parse().unwrap(), &example())
            .into_iter()
            .map(|d| d.name)
            .collect();
        let used: Vec<&str> = template
            .lines()
            .filter_map(|l| l.trim().strip_prefix("MetricName: "))
            .collect();
        assert_eq!(used.len(), 4, "{used:?}");
        for name in used {
            assert!(
                published.contains(name),
                "subnet-alarms.yaml: {name} is not published"
            );
        }
    }

    #[test]
    fn datums_per_subnet_and_zone() {
        let d = datums(&"prod".parse().unwrap(), &example());
        assert_eq!(d.len(), 2 * 5 * 2);
        let free = d
            .iter()
            .find(|d| {
                d.name == "SubnetFreeIPv4Prefixes"
                    && d.dimensions[1] == ("SubnetId".to_owned(), "subnet-0b".to_owned())
            })
            .unwrap();
        assert_eq!(free.value, 11.0);
        assert_eq!(
            free.dimensions[0],
            ("ClusterName".to_owned(), "prod".to_owned())
        );
    }
}
