//! ENA network allowance counters, per interface, from the driver's ethtool statistics: the
//! packets the instance queued or dropped because it exceeded its bandwidth, PPS, connection
//! tracking or link-local allowance, and how many tracked connections it can still open
//! (docs/ena.md). Only the `SIOCETHTOOL` ioctl exposes them (not netlink, not sysfs); the
//! ioctl is [`ethtool`](super::ethtool), the crate's only `unsafe` code. Each read costs the
//! device an admin-queue command, so it happens once per collection tick, never per scrape.
//!
//! Interfaces whose driver (`<sys>/class/net/IF/device/driver`) is not `ena` are not
//! applicable, not failures.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::collector::{Collector, CollectorId, Joined, Reading, RunError, blocking};
use super::ethtool;
use crate::telemetry::family::Describe;
use crate::telemetry::family::{Export, Family, Samples, count};

/// The five cumulative `*_allowance_exceeded` counters, by their `kind` label.
const EXCEEDED: &[(&str, &str)] = &[
    ("bw_in", "bw_in_allowance_exceeded"),
    ("bw_out", "bw_out_allowance_exceeded"),
    ("pps", "pps_allowance_exceeded"),
    ("conntrack", "conntrack_allowance_exceeded"),
    ("linklocal", "linklocal_allowance_exceeded"),
];
/// A gauge (Nitro only): tracked connections that can still be opened.
const CONNTRACK_AVAILABLE: &str = "conntrack_allowance_available";

/// One ENA interface's allowance figures; a counter the driver does not report is absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnaStats {
    pub interface: String,
    /// `(kind, count)` in [`EXCEEDED`] order.
    pub exceeded: Vec<(&'static str, u64)>,
    pub conntrack_available: Option<u64>,
}

/// Every ENA interface of the node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ena {
    pub interfaces: Vec<EnaStats>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}")]
    Interfaces {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Every interface that could not be read (the others are still served).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Stats(Vec<ethtool::Error>),
    #[error(transparent)]
    Joined(#[from] Joined),
}

/// Reads the allowance counters of every ENA interface.
#[derive(Debug, Clone)]
pub struct EnaCollector {
    sys_root: PathBuf,
}

impl EnaCollector {
    pub fn new(sys_root: &Path) -> Self {
        EnaCollector {
            sys_root: sys_root.to_owned(),
        }
    }
}

impl Collector for EnaCollector {
    type Part = Ena;
    type Error = Error;
    const ID: CollectorId = CollectorId::Ena;
    const FAMILIES: &'static [&'static Describe] = &[
        &ALLOWANCE_EXCEEDED.describe,
        &CONNTRACK_ALLOWANCE_AVAILABLE.describe,
    ];
    const TIMEOUT: Duration = Duration::from_secs(5);

    async fn collect(&mut self) -> Result<Reading<Ena>, Error> {
        let sys_root = self.sys_root.clone();
        blocking(move || read(&sys_root)).await
    }
}

/// The ENA interfaces' statistics; an interface that cannot be read fails the run while the
/// others are still served.
fn read(sys_root: &Path) -> Result<Reading<Ena>, Error> {
    let interfaces = ena_interfaces(sys_root)?;
    if interfaces.is_empty() {
        return Ok(Reading::NotApplicable(
            "no interface uses the ena driver".to_owned(),
        ));
    }
    let mut ena = Ena::default();
    let mut errors = Vec::new();
    for interface in interfaces {
        match ethtool::read_stats(&interface) {
            Ok(all) => ena.interfaces.push(parse_stats(&interface, &all)),
            Err(e) => errors.push(e),
        }
    }
    Ok(if errors.is_empty() {
        Reading::Fresh(ena)
    } else {
        Reading::Partial(ena, RunError::new(Error::Stats(errors)))
    })
}

/// Interfaces driven by `ena`, sorted, from `<sys_root>/class/net`.
pub fn ena_interfaces(sys_root: &Path) -> Result<Vec<String>, Error> {
    let dir = sys_root.join("class/net");
    let entries = std::fs::read_dir(&dir).map_err(|source| Error::Interfaces {
        path: dir.clone(),
        source,
    })?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|entry| {
            std::fs::read_link(entry.path().join("device/driver"))
                .ok()
                .and_then(|target| target.file_name().map(|n| n == "ena"))
                .unwrap_or(false)
        })
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    names.sort();
    Ok(names)
}

/// Picks the allowance figures out of an interface's `(name, value)` statistics.
pub fn parse_stats(interface: &str, stats: &[(String, u64)]) -> EnaStats {
    let find = |wanted: &str| {
        stats
            .iter()
            .find(|(name, _)| name == wanted)
            .map(|&(_, v)| v)
    };
    EnaStats {
        interface: interface.to_owned(),
        exceeded: EXCEEDED
            .iter()
            .filter_map(|&(kind, name)| find(name).map(|v| (kind, v)))
            .collect(),
        conntrack_available: find(CONNTRACK_AVAILABLE),
    }
}

pub static ALLOWANCE_EXCEEDED: Family<2> = Family::counter(
    "nodecap_ena_allowance_exceeded_total",
    &["interface", "kind"],
    "Packets queued or dropped because the instance exceeded an ENA allowance: bw_in, bw_out, pps, conntrack, linklocal.",
);
pub static CONNTRACK_ALLOWANCE_AVAILABLE: Family<1> = Family::gauge(
    "nodecap_ena_conntrack_allowance_available",
    &["interface"],
    "Tracked connections the instance can still open before hitting its allowance.",
);

impl Export for Ena {
    fn export(&self, out: &mut Samples) {
        for ena in &self.interfaces {
            for &(kind, n) in &ena.exceeded {
                out.set(&ALLOWANCE_EXCEEDED, [&ena.interface, kind], count(n));
            }
            if let Some(n) = ena.conntrack_available {
                out.set(&CONNTRACK_ALLOWANCE_AVAILABLE, [&ena.interface], count(n));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
        pairs.iter().map(|&(n, v)| (n.to_owned(), v)).collect()
    }

    #[test]
    fn picks_the_allowance_counters() {
        // An ENA 2.8+ driver: queue counters, then the customer metrics.
        let all = stats(&[
            ("tx_timeout", 0),
            ("queue_0_tx_cnt", 123_456),
            ("bw_in_allowance_exceeded", 5),
            ("bw_out_allowance_exceeded", 0),
            ("pps_allowance_exceeded", 12),
            ("conntrack_allowance_exceeded", 1),
            ("linklocal_allowance_exceeded", 1024),
            ("conntrack_allowance_available", 136_812),
        ]);
        let s = parse_stats("eth0", &all);
        assert_eq!(
            s.exceeded,
            vec![
                ("bw_in", 5),
                ("bw_out", 0),
                ("pps", 12),
                ("conntrack", 1),
                ("linklocal", 1024)
            ]
        );
        assert_eq!(s.conntrack_available, Some(136_812));
        // An older driver (r2.2.10 – r2.8.0): no conntrack_allowance_available.
        let old = parse_stats("ens5", &all[..7]);
        assert_eq!((old.exceeded.len(), old.conntrack_available), (5, None));
        // Not an ENA device at all (a veth).
        let veth = parse_stats("veth0", &stats(&[("peer_ifindex", 7)]));
        assert!(veth.exceeded.is_empty() && veth.conntrack_available.is_none());
    }

    #[test]
    fn finds_ena_interfaces_by_driver() {
        let root = tempfile::tempdir().unwrap();
        let net = root.path().join("class/net");
        for (name, driver) in [
            ("eth1", "ena"),
            ("eth0", "ena"),
            ("eni3f", "veth"),
            ("lo", ""),
        ] {
            let dir = net.join(name);
            std::fs::create_dir_all(dir.join("device")).unwrap();
            if !driver.is_empty() {
                std::os::unix::fs::symlink(
                    format!("../../../bus/pci/drivers/{driver}"),
                    dir.join("device/driver"),
                )
                .unwrap();
            }
        }
        assert_eq!(ena_interfaces(root.path()).unwrap(), ["eth0", "eth1"]);
        assert!(
            ena_interfaces(&root.path().join("absent"))
                .unwrap_err()
                .to_string()
                .contains("class/net")
        );
    }
}
