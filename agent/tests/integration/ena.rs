//! The SIOCETHTOOL ioctl against a real interface: a veth pair made for the test, whose driver
//! statistics (`peer_ifindex`, per-queue XDP counters) must read exactly as `ethtool -S`
//! prints them. This exercises the three ioctl calls and their buffers end to end; only the
//! names differ on an ENA device. The veth is not an ENA interface, so the collector leaves
//! it out.
//!
//! Ignored by a plain `cargo test` (needs root, `ip` and `ethtool`); `tests/run.sh` installs
//! them and runs it with `--include-ignored`.

use crate::common::assert_success;
use std::process::Command;

struct Veth(String);

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).status();
    }
}

fn ethtool_stats(interface: &str) -> Vec<(String, u64)> {
    let out = Command::new("ethtool")
        .args(["-S", interface])
        .output()
        .expect("ethtool");
    assert_success(&out, "nodecap");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .skip(1) // "NIC statistics:"
        .filter_map(|l| l.trim().rsplit_once(": "))
        .map(|(name, value)| (name.to_owned(), value.parse().unwrap()))
        .collect()
}

#[test]
#[ignore = "needs root, ip and ethtool: tests/run.sh runs it"]
fn ioctl_reads_what_ethtool_prints() {
    let name = format!("ncap{}a", std::process::id() % 100_000);
    let peer = format!("ncap{}b", std::process::id() % 100_000);
    let status = Command::new("ip")
        .args(["link", "add", &name, "type", "veth", "peer", "name", &peer])
        .status()
        .expect("ip");
    assert!(status.success(), "ip link add");
    let _cleanup = Veth(name.clone());

    let ours = nodecap::daemon::collect::ethtool::read_stats(&name).unwrap();
    assert!(!ours.is_empty(), "no statistics read");
    assert_eq!(ours, ethtool_stats(&name));
    // The peer's index is what veth reports: a value the kernel filled in, not a zeroed buffer.
    let peer_index: u64 = std::fs::read_to_string(format!("/sys/class/net/{peer}/ifindex"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        ours.contains(&("peer_ifindex".to_owned(), peer_index)),
        "{ours:?}"
    );

    let ena = nodecap::daemon::collect::ena::ena_interfaces(std::path::Path::new("/sys")).unwrap();
    assert!(!ena.contains(&name), "a veth taken for ENA");
    let picked = nodecap::daemon::collect::ena::parse_stats(&name, &ours);
    assert!(picked.exceeded.is_empty() && picked.conntrack_available.is_none());
}
