//! The endpoint under a connection flood: 2,500 clients that connect, send nothing and
//! reconnect as soon as they are closed (finding 6 of the hostile review). Scrapes and probes
//! from another address must still be answered within 1 s, and the daemon must stay within
//! its memory budget.

use std::time::{Duration, Instant};

use crate::common::{Daemon, Node, hwm_kib, raise_open_files};

/// The daemon's memory budget, KiB (the README's figure; the DaemonSet's limit is 64 MiB).
const DAEMON_BUDGET_KIB: u64 = 48 * 1024;

/// 2,500 clients that connect, send nothing and reconnect as soon as they are closed, from
/// `hosts` loopback addresses, until `until`: returns the connections they made.
fn flood(to: std::net::SocketAddr, hosts: u32, until: Instant) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let clients: Vec<_> = (0..2500u32)
                .map(|i| {
                    let from = std::net::Ipv4Addr::from(0x7f00_0002 + i % hosts);
                    tokio::spawn(async move {
                        use tokio::io::AsyncReadExt;
                        let mut made = 0u64;
                        while Instant::now() < until {
                            let socket = tokio::net::TcpSocket::new_v4().unwrap();
                            let connected = match socket.bind((from, 0).into()) {
                                Ok(()) => socket.connect(to).await.ok(),
                                Err(_) => None,
                            };
                            let Some(mut stream) = connected else {
                                tokio::time::sleep(Duration::from_millis(5)).await;
                                continue;
                            };
                            made += 1;
                            let mut buf = [0u8; 64];
                            let left = until.saturating_duration_since(Instant::now());
                            let _ = tokio::time::timeout(left, stream.read(&mut buf)).await;
                        }
                        made
                    })
                })
                .collect();
            let mut made = 0;
            for client in clients {
                made += client.await.unwrap_or(0);
            }
            made
        })
    })
}

/// Finding 6: under a flood of 2,500 silent clients that reconnect as soon as they are
/// closed (from 100 addresses, then from one), every scrape and probe from elsewhere is
/// answered within 1 s, and the daemon stays within its memory budget.
#[test]
fn scrapes_and_probes_are_served_through_a_connection_flood() {
    let _alone = crate::alone();
    raise_open_files(16384);
    let node = Node::new();
    let daemon = Daemon::start_with(&node, &["--interval", "60s"]);
    for hosts in [100, 1] {
        let until = Instant::now() + Duration::from_secs(8);
        let flooding = flood(daemon.addr, hosts, until);
        std::thread::sleep(Duration::from_secs(1));
        let mut slowest = Duration::ZERO;
        let mut asked = 0;
        while Instant::now() + Duration::from_secs(1) < until {
            for path in ["/metrics", "/healthz"] {
                let started = Instant::now();
                let (status, _) = daemon.get(path);
                let took = started.elapsed();
                assert_eq!(status, 200, "{path} during the flood from {hosts} hosts");
                assert!(
                    took < Duration::from_secs(1),
                    "{path} took {took:?} during the flood"
                );
                slowest = slowest.max(took);
                asked += 1;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let made = flooding.join().unwrap();
        eprintln!(
            "flood from {hosts} hosts: {made} connections in 8 s; {asked} scrapes and probes, the slowest {slowest:?}"
        );
        assert!(made > 2500, "the flood ran: {made} connections");
    }
    let peak = hwm_kib(daemon.pid());
    eprintln!("run, through both floods: peak {peak} KiB");
    assert!(peak <= DAEMON_BUDGET_KIB, "the daemon peaked at {peak} KiB");
}
