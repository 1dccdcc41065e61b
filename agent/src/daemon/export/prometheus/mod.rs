//! The Prometheus exposition of a [`Snapshot`]: every metric nodecap serves is in
//! [`CATALOGUE`] (name, type, labels, help), which the README's metric table is checked
//! against. [`render`] is pure: snapshot in, text format 0.0.4 out, encoded by the
//! `prometheus` crate's registry and `TextEncoder` (sorted families and labels, escaped
//! values). A fresh registry per snapshot means a series that vanished is simply not there.
//!
//! Names follow `nodecap_<subsystem>_<name>_<unit>`, base units, `_total` only on counters.
//! Labels are bounded: ENI ids (≤ the instance's ENI limit), interface names, fixed enums.

use std::collections::BTreeMap;

use prometheus::{CounterVec, Encoder, GaugeVec, Opts, Registry, TextEncoder};

use crate::collect::Health;
use crate::snapshot::Snapshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
}

/// One metric family nodecap serves.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

const fn gauge(name: &'static str, labels: &'static [&'static str], help: &'static str) -> Metric {
    Metric {
        name,
        kind: Kind::Gauge,
        labels,
        help,
    }
}

const fn counter(
    name: &'static str,
    labels: &'static [&'static str],
    help: &'static str,
) -> Metric {
    Metric {
        name,
        kind: Kind::Counter,
        labels,
        help,
    }
}

/// Every metric, in README order.
pub const CATALOGUE: &[Metric] = &[
    gauge(
        "nodecap_build_info",
        &["version"],
        "nodecap's version; always 1.",
    ),
    gauge(
        "nodecap_instance_info",
        &["instance_type", "availability_zone", "source"],
        "The instance and where its limits came from (embedded, cache, api, fallback); always 1.",
    ),
    gauge(
        "nodecap_max_pods",
        &[],
        "maxPods nodecap computes for this node (what init writes).",
    ),
    gauge(
        "nodecap_kubelet_max_pods",
        &[],
        "maxPods the kubelet's configuration files set.",
    ),
    gauge(
        "nodecap_ipv4_capacity",
        &[],
        "Pod IPv4 addresses the instance limits allow in the configured mode: ENIs for pods x (IPv4 per ENI - 1) [x 16 with prefix delegation].",
    ),
    gauge(
        "nodecap_enis_attached",
        &[],
        "ENIs attached on the default network card (IMDS).",
    ),
    gauge(
        "nodecap_enis_max",
        &[],
        "ENIs the default network card takes (instance limits).",
    ),
    gauge(
        "nodecap_enis_free",
        &[],
        "ENI slots left on the default network card: max - attached.",
    ),
    gauge(
        "nodecap_ipv4_addresses",
        &["state"],
        "Pod IPv4 addresses in ipamd's pool by state: total, assigned, cooldown (released < 30 s ago), free.",
    ),
    gauge(
        "nodecap_ipv4_prefixes",
        &[],
        "/28 prefixes attached to the node's ENIs (IMDS).",
    ),
    gauge(
        "nodecap_pod_headroom",
        &[],
        "Pods that can still start: min(maxPods, IPv4 capacity) - assigned addresses.",
    ),
    gauge(
        "nodecap_eni_info",
        &["eni", "device_number", "network_card"],
        "An attached ENI (IMDS); always 1.",
    ),
    gauge(
        "nodecap_eni_ipv4_addresses",
        &["eni"],
        "Private IPv4 addresses on the ENI, primary included (IMDS).",
    ),
    gauge(
        "nodecap_eni_ipv4_prefixes",
        &["eni"],
        "/28 prefixes on the ENI (IMDS).",
    ),
    gauge(
        "nodecap_eni_ipv6_addresses",
        &["eni"],
        "IPv6 addresses on the ENI (IMDS).",
    ),
    gauge(
        "nodecap_eni_pool_ipv4_addresses",
        &["eni", "state"],
        "The ENI's IPv4 addresses in ipamd's pool by state: total, assigned, cooldown, free.",
    ),
    gauge(
        "nodecap_ipamd_info",
        &["version"],
        "The VPC CNI (ipamd) version; always 1.",
    ),
    gauge(
        "nodecap_ipamd_enis_max",
        &[],
        "ipamd's awscni_eni_max: ENIs it may use.",
    ),
    gauge(
        "nodecap_ipamd_ipv4_max",
        &[],
        "ipamd's awscni_ip_max: its address ceiling (ignores maxPods).",
    ),
    gauge(
        "nodecap_ipamd_enis_allocated",
        &[],
        "ipamd's awscni_eni_allocated: ENIs in its datastore.",
    ),
    gauge(
        "nodecap_ipamd_ipv4_addresses",
        &["state"],
        "ipamd's awscni_total_ip_addresses (total) and awscni_assigned_ip_addresses (assigned).",
    ),
    gauge(
        "nodecap_ipamd_ipv4_prefixes",
        &[],
        "ipamd's awscni_total_ipv4_prefixes.",
    ),
    counter(
        "nodecap_ipamd_no_available_ip_addresses_total",
        &[],
        "ipamd's awscni_no_available_ip_addresses: pod IP requests that found no free address.",
    ),
    counter(
        "nodecap_ipamd_errors_total",
        &[],
        "ipamd's awscni_ipamd_error_count, summed over fn.",
    ),
    counter(
        "nodecap_ipamd_ec2_api_errors_total",
        &[],
        "ipamd's awscni_ec2api_error_count, summed over fn.",
    ),
    counter(
        "nodecap_ena_allowance_exceeded_total",
        &["interface", "kind"],
        "Packets queued or dropped because the instance exceeded an ENA allowance: bw_in, bw_out, pps, conntrack, linklocal.",
    ),
    gauge(
        "nodecap_ena_conntrack_allowance_available",
        &["interface"],
        "Tracked connections the instance can still open before hitting its allowance.",
    ),
    gauge(
        "nodecap_memory_total_bytes",
        &[],
        "MemTotal from /proc/meminfo.",
    ),
    gauge(
        "nodecap_memory_available_bytes",
        &[],
        "MemAvailable from /proc/meminfo.",
    ),
    gauge(
        "nodecap_memory_reserved_bytes",
        &["scope"],
        "Memory reserved by the kubelet's kubeReserved (kube) and systemReserved (system).",
    ),
    gauge(
        "nodecap_memory_reservation_headroom_bytes",
        &["scope"],
        "Reserved minus used: kube against runtime.slice, system against system.slice. Negative: the slice outgrew its reservation.",
    ),
    gauge(
        "nodecap_cgroup_memory_usage_bytes",
        &["slice"],
        "Memory the slice's cgroup uses now.",
    ),
    gauge(
        "nodecap_cgroup_memory_peak_bytes",
        &["slice"],
        "The slice cgroup's memory high-water mark.",
    ),
    gauge(
        "nodecap_drift",
        &["kind"],
        "1 when what runs differs from what nodecap computed: max_pods (kubelet), prefix_delegation (ipamd).",
    ),
    gauge(
        "nodecap_collector_success",
        &["collector"],
        "1 when the collector's last run succeeded or did not apply, 0 when it failed.",
    ),
    gauge(
        "nodecap_collector_applicable",
        &["collector"],
        "0 when the collector's source does not exist on this node (no VPC CNI, no ENA device, no kubelet files).",
    ),
    gauge(
        "nodecap_collector_stale",
        &["collector"],
        "1 when the values served come from an earlier run because the last one failed.",
    ),
    gauge(
        "nodecap_collector_duration_seconds",
        &["collector"],
        "How long the collector's last run took.",
    ),
    gauge(
        "nodecap_snapshot_timestamp_seconds",
        &[],
        "When the snapshot served was taken (Unix time).",
    ),
    counter(
        "nodecap_cloudwatch_datums_sent_total",
        &[],
        "Datums CloudWatch accepted.",
    ),
    counter(
        "nodecap_cloudwatch_datums_dropped_total",
        &[],
        "Datums dropped: the oldest beyond the queue's bound, or rejected by validation.",
    ),
    counter(
        "nodecap_cloudwatch_errors_total",
        &["kind"],
        "Failed PutMetricData calls: throttling, server, validation, network.",
    ),
    gauge(
        "nodecap_cloudwatch_queue_datums",
        &[],
        "Datums waiting to be sent.",
    ),
];

/// [`CATALOGUE`] as the README's Markdown table (checked by `tests/readme.rs`).
pub fn markdown_table() -> String {
    let mut out = String::from("| metric | type | labels | meaning |\n|---|---|---|---|\n");
    for m in CATALOGUE {
        let kind = match m.kind {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        };
        let labels = m
            .labels
            .iter()
            .map(|l| format!("`{l}`"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "| `{}` | {kind} | {labels} | {} |\n",
            m.name, m.help
        ));
    }
    out
}

/// Builds a registry one sample at a time.
struct Families {
    registry: Registry,
    gauges: BTreeMap<&'static str, GaugeVec>,
    counters: BTreeMap<&'static str, CounterVec>,
}

impl Families {
    fn new() -> Self {
        Families {
            registry: Registry::new(),
            gauges: BTreeMap::new(),
            counters: BTreeMap::new(),
        }
    }

    fn set(&mut self, name: &'static str, labels: &[&str], value: f64) {
        if !self.gauges.contains_key(name) && !self.counters.contains_key(name) {
            self.add_family(name);
        }
        if let Some(family) = self.gauges.get(name) {
            if let Ok(g) = family.get_metric_with_label_values(labels) {
                g.set(value);
            }
        } else if let Some(family) = self.counters.get(name) {
            // A counter's value is the source's running total.
            if let Ok(c) = family.get_metric_with_label_values(labels)
                && value.is_finite()
                && value >= 0.0
            {
                c.inc_by(value);
            }
        }
    }

    /// Registers `name` from the catalogue; a name not in it is logged and never served.
    fn add_family(&mut self, name: &'static str) {
        let Some(metric) = CATALOGUE.iter().find(|m| m.name == name) else {
            tracing::error!(name, "metric missing from the catalogue; not served");
            return;
        };
        let opts = Opts::new(name, metric.help);
        let registered = match metric.kind {
            Kind::Gauge => GaugeVec::new(opts, metric.labels).and_then(|family| {
                self.registry.register(Box::new(family.clone()))?;
                self.gauges.insert(name, family);
                Ok(())
            }),
            Kind::Counter => CounterVec::new(opts, metric.labels).and_then(|family| {
                self.registry.register(Box::new(family.clone()))?;
                self.counters.insert(name, family);
                Ok(())
            }),
        };
        if let Err(e) = registered {
            tracing::error!(name, "invalid metric: {e}");
        }
    }

    fn encode(self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!("encoding the metrics: {e}");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

#[allow(clippy::cast_precision_loss)]
fn f(n: u64) -> f64 {
    n as f64
}

#[allow(clippy::cast_precision_loss)]
fn fi(n: i64) -> f64 {
    n as f64
}

/// The snapshot as Prometheus text format 0.0.4.
pub fn render(snapshot: &Snapshot) -> String {
    let o = &snapshot.observations;
    let d = &snapshot.derived;
    let mut m = Families::new();
    m.set("nodecap_build_info", &[env!("CARGO_PKG_VERSION")], 1.0);
    if let Some(node) = o.node.as_deref() {
        let source = node.source.to_string();
        m.set(
            "nodecap_instance_info",
            &[
                &node.identity.instance_type,
                &node.identity.availability_zone,
                &source,
            ],
            1.0,
        );
    }
    let gauges: [(&'static str, Option<f64>); 8] = [
        ("nodecap_max_pods", d.max_pods.map(f64::from)),
        (
            "nodecap_kubelet_max_pods",
            d.kubelet_max_pods.map(f64::from),
        ),
        ("nodecap_ipv4_capacity", d.ip_capacity.map(f64::from)),
        ("nodecap_enis_attached", d.enis_attached.map(f64::from)),
        ("nodecap_enis_max", d.enis_max.map(f64::from)),
        ("nodecap_enis_free", d.enis_free.map(f64::from)),
        ("nodecap_ipv4_prefixes", d.ipv4_prefixes.map(f64::from)),
        ("nodecap_pod_headroom", d.pod_headroom.map(fi)),
    ];
    for (name, value) in gauges {
        if let Some(value) = value {
            m.set(name, &[], value);
        }
    }
    if let Some(a) = d.ipv4 {
        m.set("nodecap_ipv4_addresses", &["total"], f(a.total));
        m.set("nodecap_ipv4_addresses", &["assigned"], f(a.assigned));
        m.set("nodecap_ipv4_addresses", &["free"], f(a.free));
        if let Some(c) = a.cooldown {
            m.set("nodecap_ipv4_addresses", &["cooldown"], f(c));
        }
    }
    for eni in o.enis.as_deref().into_iter().flatten() {
        let id = eni.interface_id.as_str();
        let (device, card) = (eni.device_number.to_string(), eni.network_card.to_string());
        m.set("nodecap_eni_info", &[id, &device, &card], 1.0);
        m.set(
            "nodecap_eni_ipv4_addresses",
            &[id],
            f(eni.ipv4.len() as u64),
        );
        m.set(
            "nodecap_eni_ipv4_prefixes",
            &[id],
            f(eni.ipv4_prefixes.len() as u64),
        );
        m.set(
            "nodecap_eni_ipv6_addresses",
            &[id],
            f(eni.ipv6.len() as u64),
        );
    }
    for pool in o.ipamd_pools.iter().flat_map(|p| &p.enis) {
        for (state, n) in [
            ("total", pool.total),
            ("assigned", pool.assigned),
            ("cooldown", pool.cooldown),
            ("free", pool.free),
        ] {
            m.set("nodecap_eni_pool_ipv4_addresses", &[&pool.id, state], f(n));
        }
    }
    if let Some(i) = &o.ipamd_metrics {
        if let Some(version) = &i.version {
            m.set("nodecap_ipamd_info", &[version], 1.0);
        }
        let figures = [
            ("nodecap_ipamd_enis_max", i.eni_max),
            ("nodecap_ipamd_ipv4_max", i.ip_max),
            ("nodecap_ipamd_enis_allocated", i.enis_allocated),
            ("nodecap_ipamd_ipv4_prefixes", i.ipv4_prefixes),
            (
                "nodecap_ipamd_no_available_ip_addresses_total",
                i.no_available_ip_addresses,
            ),
            ("nodecap_ipamd_errors_total", i.ipamd_errors),
            ("nodecap_ipamd_ec2_api_errors_total", i.ec2_api_errors),
        ];
        for (name, value) in figures {
            if let Some(v) = value.filter(|v| v.is_finite()) {
                m.set(name, &[], v);
            }
        }
        for (state, value) in [
            ("total", i.total_ip_addresses),
            ("assigned", i.assigned_ip_addresses),
        ] {
            if let Some(v) = value.filter(|v| v.is_finite()) {
                m.set("nodecap_ipamd_ipv4_addresses", &[state], v);
            }
        }
    }
    for ena in &o.ena {
        for &(kind, n) in &ena.exceeded {
            m.set(
                "nodecap_ena_allowance_exceeded_total",
                &[&ena.interface, kind],
                f(n),
            );
        }
        if let Some(n) = ena.conntrack_available {
            m.set(
                "nodecap_ena_conntrack_allowance_available",
                &[&ena.interface],
                f(n),
            );
        }
    }
    if let Some(mem) = &o.memory {
        m.set("nodecap_memory_total_bytes", &[], f(mem.total_bytes));
        if let Some(n) = mem.available_bytes {
            m.set("nodecap_memory_available_bytes", &[], f(n));
        }
        for s in &mem.slices {
            m.set(
                "nodecap_cgroup_memory_usage_bytes",
                &[s.slice],
                f(s.usage_bytes),
            );
            if let Some(peak) = s.peak_bytes {
                m.set("nodecap_cgroup_memory_peak_bytes", &[s.slice], f(peak));
            }
        }
    }
    for &(scope, n) in &d.memory_reserved {
        m.set("nodecap_memory_reserved_bytes", &[scope], f(n));
    }
    for &(scope, n) in &d.memory_headroom {
        m.set("nodecap_memory_reservation_headroom_bytes", &[scope], fi(n));
    }
    for &(kind, drifted) in &d.drift {
        m.set("nodecap_drift", &[kind], if drifted { 1.0 } else { 0.0 });
    }
    for s in &o.statuses {
        let failed = matches!(s.health, Health::Failed(_));
        let applicable = !matches!(s.health, Health::NotApplicable(_));
        m.set(
            "nodecap_collector_success",
            &[s.collector],
            if failed { 0.0 } else { 1.0 },
        );
        m.set(
            "nodecap_collector_applicable",
            &[s.collector],
            if applicable { 1.0 } else { 0.0 },
        );
        m.set(
            "nodecap_collector_stale",
            &[s.collector],
            if s.stale { 1.0 } else { 0.0 },
        );
        m.set(
            "nodecap_collector_duration_seconds",
            &[s.collector],
            s.duration.as_secs_f64(),
        );
    }
    if let Some(cw) = &o.cloudwatch {
        m.set("nodecap_cloudwatch_datums_sent_total", &[], f(cw.sent));
        m.set(
            "nodecap_cloudwatch_datums_dropped_total",
            &[],
            f(cw.dropped),
        );
        m.set("nodecap_cloudwatch_queue_datums", &[], f(cw.queued));
        for (kind, n) in &cw.errors {
            m.set("nodecap_cloudwatch_errors_total", &[kind], f(*n));
        }
    }
    let taken = o
        .taken_at
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0.0, |t| t.as_secs_f64());
    m.set("nodecap_snapshot_timestamp_seconds", &[], taken);
    m.encode()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use crate::collect::{Observations, Status, ena, ipamd_enis, ipamd_metrics, kubelet, memory};
    use crate::imds::{Eni, Identity};
    use crate::init::Node;
    use crate::instance::{self, Source};

    /// An m5.large seen by every collector, ENA included, at a fixed time.
    pub(crate) fn full_observations() -> Observations {
        let facts = instance::lookup_embedded("m5.large").unwrap().clone();
        let node = Node {
            identity: Identity {
                instance_type: "m5.large".to_owned(),
                instance_id: "i-0123456789abcdef0".to_owned(),
                region: "us-east-1".to_owned(),
                availability_zone: "us-east-1a".to_owned(),
            },
            facts,
            source: Source::Embedded,
            options: crate::sizing::SizingOptions::default(),
        };
        let eni = |n: u32, ips: usize| Eni {
            mac: format!("0e:00:00:00:00:0{n}"),
            interface_id: format!("eni-0{n}"),
            device_number: n - 1,
            network_card: 0,
            ipv4: (0..ips).map(|i| format!("10.0.{n}.{i}")).collect(),
            ipv4_prefixes: Vec::new(),
            ipv6: Vec::new(),
        };
        let pool = |id: &str, device: u32, assigned: u64, cooldown: u64| ipamd_enis::EniPool {
            id: id.to_owned(),
            network_card: 0,
            device_number: device,
            primary: device == 0,
            trunk: false,
            excluded: false,
            prefixes: 0,
            secondary_ips: 9,
            total: 9,
            assigned,
            cooldown,
            free: 9 - assigned - cooldown,
        };
        let status = |collector: &'static str, millis: u64| Status {
            collector,
            health: crate::collect::Health::Ok,
            stale: false,
            duration: Duration::from_millis(millis),
        };
        Observations {
            taken_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000),
            node: Some(Arc::new(node)),
            enis: Some(Arc::new(vec![eni(1, 10), eni(2, 4)])),
            ipamd_metrics: Some(ipamd_metrics::IpamdMetrics {
                version: Some("v1.20.4".to_owned()),
                eni_max: Some(3.0),
                ip_max: Some(27.0),
                enis_allocated: Some(2.0),
                total_ip_addresses: Some(12.0),
                assigned_ip_addresses: Some(5.0),
                ipv4_prefixes: Some(0.0),
                no_available_ip_addresses: Some(3.0),
                ipamd_errors: Some(1.0),
                ec2_api_errors: Some(0.0),
                helper: vec![
                    ("assignIPAddresses", 5.0),
                    ("totalIPAddresses", 12.0),
                    ("addReqCount", 40.0),
                ],
            }),
            ipamd_pools: Some(ipamd_enis::IpamdPools {
                enis: vec![pool("eni-01", 0, 4, 1), pool("eni-02", 1, 1, 0)],
            }),
            memory: Some(memory::Memory {
                total_bytes: 8 << 30,
                available_bytes: Some(6 << 30),
                cgroup_version: Some(2),
                slices: vec![
                    memory::SliceUsage {
                        slice: "system.slice",
                        usage_bytes: 250 << 20,
                        peak_bytes: Some(300 << 20),
                    },
                    memory::SliceUsage {
                        slice: "runtime.slice",
                        usage_bytes: 400 << 20,
                        peak_bytes: None,
                    },
                    memory::SliceUsage {
                        slice: "kubepods.slice",
                        usage_bytes: 2 << 30,
                        peak_bytes: Some(3 << 30),
                    },
                ],
            }),
            ena: vec![ena::parse_stats(
                "ens5",
                &[
                    ("bw_in_allowance_exceeded".to_owned(), 0),
                    ("bw_out_allowance_exceeded".to_owned(), 7),
                    ("pps_allowance_exceeded".to_owned(), 0),
                    ("conntrack_allowance_exceeded".to_owned(), 0),
                    ("linklocal_allowance_exceeded".to_owned(), 2),
                    ("conntrack_allowance_available".to_owned(), 136_000),
                ],
            )],
            kubelet: Some(kubelet::KubeletView {
                max_pods: Some((110, "/etc/kubernetes/kubelet/config.json".into())),
                kube_reserved_memory: Some((
                    574 << 20,
                    "/etc/kubernetes/kubelet/config.json".into(),
                )),
                system_reserved_memory: None,
                files: vec!["/etc/kubernetes/kubelet/config.json".into()],
            }),
            statuses: [
                "imds",
                "ipamd_metrics",
                "ipamd_introspection",
                "memory",
                "ena",
                "kubelet",
            ]
            .iter()
            .zip(1..)
            .map(|(c, ms)| status(c, ms))
            .collect(),
            cloudwatch: Some(crate::cloudwatch::Stats {
                sent: 1200,
                dropped: 0,
                queued: 40,
                errors: [("throttling", 2)].into_iter().collect(),
            }),
        }
    }

    fn families(text: &str) -> std::collections::BTreeSet<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn a_full_snapshot_serves_every_catalogued_metric() {
        let text = render(&Snapshot::new(full_observations()));
        let served = families(&text);
        let catalogued: std::collections::BTreeSet<String> =
            CATALOGUE.iter().map(|m| m.name.to_owned()).collect();
        assert_eq!(served, catalogued);
        for m in CATALOGUE {
            let kind = match m.kind {
                Kind::Gauge => "gauge",
                Kind::Counter => "counter",
            };
            assert!(
                text.contains(&format!("# TYPE {} {kind}\n", m.name)),
                "{}",
                m.name
            );
            assert!(m.name.starts_with("nodecap_"));
            assert_eq!(
                m.kind == Kind::Counter,
                m.name.ends_with("_total"),
                "{}",
                m.name
            );
        }
        // No series twice.
        let series: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.rsplit_once(' ').unwrap().0)
            .collect();
        let unique: std::collections::BTreeSet<&&str> = series.iter().collect();
        assert_eq!(unique.len(), series.len());

        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/metrics/full.prom");
        if std::env::var_os("NODECAP_UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &text).unwrap();
        }
        let expected = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            expected,
            "{} differs (NODECAP_UPDATE_GOLDEN=1 regenerates)",
            path.display()
        );
    }

    #[test]
    fn derived_figures() {
        let s = Snapshot::new(full_observations());
        let d = &s.derived;
        assert_eq!(d.max_pods, Some(29));
        assert_eq!(d.kubelet_max_pods, Some(110));
        assert_eq!(d.ip_capacity, Some(27));
        assert_eq!(
            (d.enis_attached, d.enis_max, d.enis_free),
            (Some(2), Some(3), Some(1))
        );
        let a = d.ipv4.unwrap();
        assert_eq!(
            (a.total, a.assigned, a.cooldown, a.free, a.source),
            (18, 5, Some(1), 12, "ipamd_introspection")
        );
        // min(110 kubelet, 27 addresses) − 5 assigned.
        assert_eq!(d.pod_headroom, Some(22));
        // kube from the kubelet file (574Mi), system from nodecap's profile (200Mi).
        assert_eq!(
            d.memory_reserved,
            vec![("kube", 574 << 20), ("system", 200 << 20)]
        );
        assert_eq!(
            d.memory_headroom,
            vec![("kube", 174 << 20), ("system", -(50 << 20))]
        );
        assert_eq!(
            d.drift,
            vec![("max_pods", true), ("prefix_delegation", false)]
        );

        // Without introspection, ipamd's metrics give total and assigned, no cooldown.
        let mut o = full_observations();
        o.ipamd_pools = None;
        let a = Snapshot::new(o).derived.ipv4.unwrap();
        assert_eq!(
            (a.total, a.assigned, a.cooldown, a.free, a.source),
            (12, 5, None, 7, "ipamd_metrics")
        );

        // Nothing but IMDS: prefixes on an ENI mean prefix delegation, against the config.
        let mut o = full_observations();
        o.ipamd_pools = None;
        o.ipamd_metrics = None;
        o.kubelet = None;
        let mut enis = (**o.enis.as_ref().unwrap()).clone();
        enis[1].ipv4_prefixes.push("10.0.9.0/28".to_owned());
        o.enis = Some(Arc::new(enis));
        let d = Snapshot::new(o).derived;
        assert_eq!(d.ipv4, None);
        assert_eq!(d.pod_headroom, None);
        assert_eq!(d.ipv4_prefixes, Some(1));
        assert_eq!(d.drift, vec![("prefix_delegation", true)]);
        assert_eq!(
            d.memory_reserved,
            vec![("kube", 574 << 20), ("system", 200 << 20)]
        );
    }

    #[test]
    fn vanished_sources_leave_no_series() {
        let mut o = full_observations();
        o.ena.clear();
        o.ipamd_metrics = None;
        o.node = None;
        let text = render(&Snapshot::new(o));
        for gone in [
            "nodecap_ena_",
            "nodecap_ipamd_",
            "nodecap_instance_info",
            "nodecap_max_pods ",
        ] {
            assert!(!text.contains(gone), "{gone}");
        }
        assert!(text.contains("nodecap_kubelet_max_pods 110"));
    }
}
