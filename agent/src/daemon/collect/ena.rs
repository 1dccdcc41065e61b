//! ENA network allowance counters, per interface, from the driver's ethtool statistics: the
//! packets the instance queued or dropped because it exceeded its bandwidth, PPS, connection
//! tracking or link-local allowance, and how many tracked connections it can still open
//! (reference/peers.md §4.1). Only the SIOCETHTOOL ioctl exposes them (not netlink, not sysfs):
//! `ETHTOOL_GSSET_INFO` (how many), `ETHTOOL_GSTRINGS` (names), `ETHTOOL_GSTATS` (values).
//! These three are allowed without CAP_NET_ADMIN; the caller must be in the host network
//! namespace. Each read costs the device an admin-queue command, so it happens once per
//! collection tick, never per scrape.
//!
//! This module holds the crate's only `unsafe` code: the ioctl calls, each with a SAFETY
//! comment. Interfaces whose driver (`<sys>/class/net/IF/device/driver`) is not `ena` are
//! not applicable, not failures.

#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// The five cumulative `*_allowance_exceeded` counters, by their `kind` label.
pub const EXCEEDED: &[(&str, &str)] = &[
    ("bw_in", "bw_in_allowance_exceeded"),
    ("bw_out", "bw_out_allowance_exceeded"),
    ("pps", "pps_allowance_exceeded"),
    ("conntrack", "conntrack_allowance_exceeded"),
    ("linklocal", "linklocal_allowance_exceeded"),
];
/// A gauge (Nitro only): tracked connections that can still be opened.
pub const CONNTRACK_AVAILABLE: &str = "conntrack_allowance_available";

/// One ENA interface's allowance figures; a counter the driver does not report is absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnaStats {
    pub interface: String,
    /// `(kind, count)` in [`EXCEEDED`] order.
    pub exceeded: Vec<(&'static str, u64)>,
    pub conntrack_available: Option<u64>,
}

/// Interfaces driven by `ena`, sorted, from `<sys_root>/class/net`.
pub fn ena_interfaces(sys_root: &Path) -> Result<Vec<String>, String> {
    let dir = sys_root.join("class/net");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
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

// ---- the ioctl -------------------------------------------------------------------------------

const ETHTOOL_GSTRINGS: u32 = 0x1b;
const ETHTOOL_GSTATS: u32 = 0x1d;
const ETHTOOL_GSSET_INFO: u32 = 0x37;
const ETH_SS_STATS: u32 = 1;
const ETH_GSTRING_LEN: usize = 32;
/// Extra room in every buffer: the kernel writes as many entries as the driver reports *now*,
/// which could exceed the count it gave a moment earlier.
const SLACK: usize = 64;
/// No driver reports anywhere near this many statistics; more means a confused answer.
const MAX_STATS: usize = 1 << 16;

/// `struct ifreq` with the `ifr_data` member of its union (40 bytes on 64-bit Linux).
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    data: *mut libc::c_void,
    _pad: [u8; 16],
}

nix::ioctl_readwrite_bad!(siocethtool, libc::SIOCETHTOOL, IfReq);

fn ethtool(socket: &OwnedFd, interface: &str, buffer: *mut libc::c_void) -> Result<(), String> {
    let bytes = interface.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ {
        return Err(format!("{interface:?}: not an interface name"));
    }
    let mut request = IfReq {
        name: [0; libc::IFNAMSIZ],
        data: buffer,
        _pad: [0; 16],
    };
    request.name[..bytes.len()].copy_from_slice(bytes);
    // SAFETY: `request` is a properly laid out, NUL-terminated `struct ifreq` that outlives
    // the call; its `ifr_data` points at a live buffer the caller sized for the command
    // (header plus `count + SLACK` entries), which the kernel reads the command from and
    // writes its answer into.
    unsafe { siocethtool(socket.as_raw_fd(), &mut request) }
        .map(|_| ())
        .map_err(|errno| format!("{interface}: SIOCETHTOOL: {}", errno.desc()))
}

/// An interface's ethtool statistics, as `ethtool -S` prints them.
pub fn read_stats(interface: &str) -> Result<Vec<(String, u64)>, String> {
    let socket = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| format!("socket: {}", e.desc()))?;

    // struct ethtool_sset_info { u32 cmd; u32 reserved; u64 sset_mask; u32 data[]; }
    let mut info = [0u64; 3];
    info[0] = u64::from_ne_bytes(pair(ETHTOOL_GSSET_INFO, 0));
    info[1] = 1 << ETH_SS_STATS;
    ethtool(&socket, interface, info.as_mut_ptr().cast())?;
    if info[1] & (1 << ETH_SS_STATS) == 0 {
        return Ok(Vec::new());
    }
    let count = usize::try_from(u32::from_ne_bytes(first_four(info[2]))).unwrap_or(usize::MAX);
    if count == 0 {
        return Ok(Vec::new());
    }
    if count > MAX_STATS {
        return Err(format!(
            "{interface}: the driver reports {count} statistics"
        ));
    }

    // struct ethtool_gstrings { u32 cmd; u32 string_set; u32 len; u8 data[]; }
    let string_words = (count + SLACK) * ETH_GSTRING_LEN / 4;
    let mut strings = vec![0u32; 3 + string_words];
    strings[..3].copy_from_slice(&[
        ETHTOOL_GSTRINGS,
        ETH_SS_STATS,
        u32::try_from(count).unwrap_or(0),
    ]);
    ethtool(&socket, interface, strings.as_mut_ptr().cast())?;
    let names_len = usize::try_from(strings[2]).unwrap_or(usize::MAX);

    // struct ethtool_stats { u32 cmd; u32 n_stats; u64 data[]; }
    let mut values = vec![0u64; 1 + count + SLACK];
    values[0] = u64::from_ne_bytes(pair(ETHTOOL_GSTATS, u32::try_from(count).unwrap_or(0)));
    ethtool(&socket, interface, values.as_mut_ptr().cast())?;
    let values_len =
        usize::try_from(u32::from_ne_bytes(last_four(values[0]))).unwrap_or(usize::MAX);

    if names_len != values_len || names_len > count + SLACK {
        return Err(format!(
            "{interface}: the statistics changed while being read ({names_len} names, {values_len} values)"
        ));
    }
    let bytes: Vec<u8> = strings[3..].iter().flat_map(|w| w.to_ne_bytes()).collect();
    Ok(bytes
        .chunks(ETH_GSTRING_LEN)
        .take(names_len)
        .zip(&values[1..])
        .map(|(raw, &value)| {
            let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
            (String::from_utf8_lossy(&raw[..end]).into_owned(), value)
        })
        .collect())
}

/// Two `u32`s laid out in memory as one `u64`.
fn pair(first: u32, second: u32) -> [u8; 8] {
    let mut bytes = [0u8; 8];
    bytes[..4].copy_from_slice(&first.to_ne_bytes());
    bytes[4..].copy_from_slice(&second.to_ne_bytes());
    bytes
}

fn first_four(word: u64) -> [u8; 4] {
    let b = word.to_ne_bytes();
    [b[0], b[1], b[2], b[3]]
}

fn last_four(word: u64) -> [u8; 4] {
    let b = word.to_ne_bytes();
    [b[4], b[5], b[6], b[7]]
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
                .contains("class/net")
        );
    }

    #[test]
    fn the_ioctl_answers_for_real_interfaces() {
        // The loopback device has no driver statistics: an empty answer, not an error.
        assert_eq!(read_stats("lo").unwrap(), Vec::new());
        let err = read_stats("nodecap-none0").unwrap_err();
        assert!(
            err.starts_with("nodecap-none0: SIOCETHTOOL: No such device"),
            "{err}"
        );
        assert!(read_stats("a-name-far-too-long-for-ifreq").is_err());
    }
}
