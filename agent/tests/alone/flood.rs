//! The endpoint under connection floods, each client reconnecting as soon as it is closed:
//! 2,500 silent clients (finding 6 of the second hostile review), and slow request heads,
//! held keep-alive connections and partial TLS ClientHellos from a few addresses (row 1 of
//! the third). Scrapes and probes from another address must still be answered within 1 s,
//! and the daemon must stay within its memory budget.

use std::time::{Duration, Instant};

use crate::common::{Daemon, Node, hwm_kib, raise_open_files};

/// The daemon's memory budget, KiB (the README's figure; the DaemonSet's limit is 64 MiB).
const DAEMON_BUDGET_KIB: u64 = 48 * 1024;

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
        let flooding = flood_with(Flooder::Silent, daemon.addr, 2500, hosts, until);
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

/// What one flooding client does once connected, until the daemon closes it.
#[derive(Debug, Clone, Copy)]
enum Flooder {
    /// Connects and sends nothing.
    Silent,
    /// Slowloris: a request line, then one header byte a second, never the end of the head.
    Slowloris,
    /// One whole `GET /healthz`, its answer read, then the connection held open (keep-alive).
    KeepAlive,
    /// The start of a TLS ClientHello, then one byte a second.
    PartialHello,
}

/// `clients` clients doing `what` from `hosts` loopback addresses (127.0.0.2 on), each
/// reconnecting as soon as it is closed, until `until`: returns the connections they made.
fn flood_with(
    what: Flooder,
    to: std::net::SocketAddr,
    clients: u32,
    hosts: u32,
    until: Instant,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let clients: Vec<_> = (0..clients)
                .map(|i| {
                    let from = std::net::Ipv4Addr::from(0x7f00_0002 + i % hosts);
                    tokio::spawn(async move {
                        let mut made = 0u64;
                        while Instant::now() < until {
                            let socket = tokio::net::TcpSocket::new_v4().unwrap();
                            let connected = match socket.bind((from, 0).into()) {
                                Ok(()) => socket.connect(to).await.ok(),
                                Err(_) => None,
                            };
                            let Some(stream) = connected else {
                                tokio::time::sleep(Duration::from_millis(5)).await;
                                continue;
                            };
                            made += 1;
                            let left = until.saturating_duration_since(Instant::now());
                            let _ = tokio::time::timeout(left, hold(what, stream)).await;
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

/// One flooding connection, until the daemon closes it.
async fn hold(what: Flooder, mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (start, drip): (&[u8], &[u8]) = match what {
        Flooder::Silent => (b"", b""),
        Flooder::Slowloris => (b"GET /metrics HTTP/1.1\r\nHost: n\r\nX-Slow: ", b"a"),
        Flooder::KeepAlive => (b"GET /healthz HTTP/1.1\r\nHost: n\r\n\r\n", b""),
        // A handshake record header announcing 512 bytes, and the ClientHello's first.
        Flooder::PartialHello => (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", b"\x00"),
    };
    if stream.write_all(start).await.is_err() {
        return;
    }
    let mut buf = [0u8; 4096];
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                if !drip.is_empty() && stream.write_all(drip).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// A request from 127.0.0.100 (an address no flooder uses): whether it was answered 200
/// within 1 s.
fn probe_plain(to: std::net::SocketAddr, path: &str) -> bool {
    use std::io::{Read, Write};
    let started = Instant::now();
    let Ok(mut stream) = crate::common::connect_from(std::net::Ipv4Addr::new(127, 0, 0, 100), to)
    else {
        return false;
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: nodecap\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer.starts_with(b"HTTP/1.1 200") && started.elapsed() < Duration::from_secs(1)
}

/// Probes `/metrics` and `/healthz` with `probe` every 100 ms while a flood runs until
/// `until`: (answered in time, asked).
fn probe_through(until: Instant, probe: impl Fn(&str) -> bool) -> (u32, u32) {
    std::thread::sleep(Duration::from_secs(1));
    let (mut answered, mut asked) = (0, 0);
    while Instant::now() + Duration::from_secs(1) < until {
        for path in ["/metrics", "/healthz"] {
            asked += 1;
            answered += u32::from(probe(path));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    (answered, asked)
}

/// Row 1 of the third hostile review: 300 slowloris clients from 9 addresses, then 264
/// keep-alive clients from 8 — each address within its share, together more than every
/// slot. At least 95 % of scrapes and probes from a tenth address are answered within 1 s,
/// and the daemon stays within its memory budget.
#[test]
fn slow_heads_and_idle_keep_alives_from_a_few_addresses_do_not_silence_the_endpoint() {
    let _alone = crate::alone();
    raise_open_files(16384);
    let node = Node::new();
    let daemon = Daemon::start_with(&node, &["--interval", "60s"]);
    for (what, clients, hosts) in [(Flooder::Slowloris, 300, 9), (Flooder::KeepAlive, 264, 8)] {
        let until = Instant::now() + Duration::from_secs(10);
        let flooding = flood_with(what, daemon.addr, clients, hosts, until);
        let (answered, asked) = probe_through(until, |path| probe_plain(daemon.addr, path));
        let made = flooding.join().unwrap();
        eprintln!(
            "{what:?} from {clients} clients on {hosts} addresses: {made} connections; {answered} of {asked} scrapes and probes answered within 1 s"
        );
        assert!(
            made >= u64::from(clients),
            "the flood ran: {made} connections"
        );
        assert!(
            answered * 100 >= asked * 95,
            "{what:?}: only {answered} of {asked} answered within 1 s; log:\n{}",
            daemon.log()
        );
    }
    let peak = hwm_kib(daemon.pid());
    eprintln!("run, through both floods: peak {peak} KiB");
    assert!(peak <= DAEMON_BUDGET_KIB, "the daemon peaked at {peak} KiB");
}

/// Row 1, over TLS: 300 clients from 9 addresses that send the start of a ClientHello and
/// then a byte a second. Scrapes (with credentials) and probes over TLS from a tenth address
/// are answered within 1 s, 95 % of them at least.
#[test]
#[ignore = "needs openssl and curl; tests/run.sh installs them"]
fn partial_tls_handshakes_do_not_silence_the_endpoint() {
    let _alone = crate::alone();
    raise_open_files(16384);
    let node = Node::new();
    let dir = tempfile::tempdir().unwrap();
    let (crt, _) = crate::common::self_signed_cert(dir.path());
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let web = dir.path().join("web-config.yml");
    std::fs::write(
        &web,
        format!("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  prometheus: '{hash}'\n"),
    )
    .unwrap();
    let web = web.display().to_string();
    let daemon = Daemon::spawn_env(
        &node,
        &["--interval", "60s", "--web-config-file", &web],
        &[],
    );
    let port = daemon.addr.port();
    let curl = |path: &str| -> bool {
        let out = std::process::Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "1",
            ])
            .args(["--interface", "127.0.0.100", "-u", "prometheus:s3cret"])
            .arg("--cacert")
            .arg(&crt)
            .args(["--resolve", &format!("nodecap:{port}:127.0.0.1")])
            .arg(format!("https://nodecap:{port}{path}"))
            .output()
            .unwrap();
        out.stdout == b"200"
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !curl("/readyz") {
        assert!(
            Instant::now() < deadline,
            "no TLS /readyz; log:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let until = Instant::now() + Duration::from_secs(10);
    let flooding = flood_with(Flooder::PartialHello, daemon.addr, 300, 9, until);
    let (answered, asked) = probe_through(until, curl);
    let made = flooding.join().unwrap();
    eprintln!(
        "partial ClientHellos from 300 clients on 9 addresses: {made} connections; {answered} of {asked} TLS scrapes and probes answered within 1 s"
    );
    assert!(made >= 300, "the flood ran: {made} connections");
    assert!(
        answered * 100 >= asked * 95,
        "only {answered} of {asked} answered within 1 s; log:\n{}",
        daemon.log()
    );
    let peak = hwm_kib(daemon.pid());
    assert!(peak <= DAEMON_BUDGET_KIB, "the daemon peaked at {peak} KiB");
}
