//! `nodecap run` and `nodecap check` as processes, against the test IMDS and the test ipamd
//! (real HTTP servers from `tests/testkit`) and the fixture host trees under
//! `tests/fixtures/`: every metric served, collectors failing alone, stale IMDS views,
//! graceful stops, configuration errors, and an endpoint under abuse.
//!
//! The tests needing Prometheus's binaries (`promtool`, `prometheus`) are `#[ignore]`d;
//! `tests/run.sh` installs them and runs them with `--include-ignored`.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use nodecap_testkit::imds::{ImdsServer, Instance};
use nodecap_testkit::ipamd::IpamdServer;

fn families(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Metric names in the README's metric table.
fn readme_metrics() -> BTreeSet<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let table = readme
        .split("<!-- metrics:begin -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- metrics:end -->").next())
        .expect("README has a <!-- metrics:begin --> table");
    table
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect()
}

const ENA_FAMILIES: [&str; 2] = [
    "nodecap_ena_allowance_exceeded_total",
    "nodecap_ena_conntrack_allowance_available",
];
/// Served only with `--cloudwatch`.
const CLOUDWATCH_FAMILIES: [&str; 4] = [
    "nodecap_cloudwatch_datums_dropped_total",
    "nodecap_cloudwatch_datums_sent_total",
    "nodecap_cloudwatch_errors_total",
    "nodecap_cloudwatch_queue_datums",
];

#[test]
fn serves_every_metric_from_the_fixture_node() {
    let node = Node::new();
    // A node with an ENIConfig, and the one warm target ipamd does not expose declared.
    node.ipamd.as_ref().unwrap().set_settings(
        Some(&fixture("ipamd/ipamd-env-settings.json")),
        Some(&fixture("ipamd/eni-configs-custom-networking.json")),
    );
    let daemon = Daemon::start_with(&node, &["--interval", "1s", "--minimum-ip-target", "0"]);
    let text = daemon.metrics();

    // Everything in the README's table is served, except what needs an ENA device, which
    // this host does not have (that collector says "not applicable", not "failed"), and the
    // CloudWatch publisher's counts (not enabled here).
    let served = families(&text);
    let documented = readme_metrics();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "served but not in the README: {undocumented:?}"
    );
    let missing: BTreeSet<_> = documented.difference(&served).map(String::as_str).collect();
    assert_eq!(
        missing,
        ENA_FAMILIES
            .into_iter()
            .chain(CLOUDWATCH_FAMILIES)
            .collect::<BTreeSet<_>>(),
        "documented but not served (ENA: no device here; CloudWatch: not enabled)"
    );
    assert_eq!(
        value(&text, r#"nodecap_collector_applicable{collector="ena"}"#),
        Some(0.0)
    );
    assert_eq!(
        value(&text, r#"nodecap_collector_success{collector="ena"}"#),
        Some(1.0)
    );

    // The numbers the fixtures imply (tests/fixtures/*/README.md).
    for (series, expected) in [
        (r#"nodecap_ipv4_addresses{state="free"}"#, 20.0),
        (r#"nodecap_ipv4_addresses{state="assigned"}"#, 7.0),
        (r#"nodecap_ipv4_addresses{state="total"}"#, 27.0),
        (r#"nodecap_ipv4_addresses{state="cooldown"}"#, 0.0),
        ("nodecap_max_pods", 29.0),
        ("nodecap_kubelet_max_pods", 29.0),
        ("nodecap_ipv4_capacity", 27.0),
        ("nodecap_pod_headroom", 20.0),
        ("nodecap_enis_attached", 3.0),
        ("nodecap_enis_max", 3.0),
        ("nodecap_enis_free", 0.0),
        (
            r#"nodecap_eni_ipv4_addresses{eni="eni-00000000000000002"}"#,
            10.0,
        ),
        (
            r#"nodecap_eni_pool_ipv4_addresses{eni="eni-00000000000000001",state="assigned"}"#,
            4.0,
        ),
        (
            r#"nodecap_memory_reservation_headroom_bytes{scope="kube"}"#,
            f64::from(174u32 << 20),
        ),
        (
            r#"nodecap_memory_reservation_headroom_bytes{scope="system"}"#,
            f64::from(50u32 << 20),
        ),
        (
            r#"nodecap_cgroup_memory_usage_bytes{slice="kubepods.slice"}"#,
            2_147_483_648.0,
        ),
        (r#"nodecap_drift{kind="max_pods"}"#, 0.0),
        (r#"nodecap_drift{kind="prefix_delegation_mismatch"}"#, 0.0),
        (r#"nodecap_drift{kind="max_pods_above_cni_capacity"}"#, 0.0),
        ("nodecap_cni_max_pods", 29.0),
        // WARM_ENI_TARGET 1: 9 addresses wanted, 20 available.
        (r#"nodecap_ipv4_addresses_needed{network_card="0"}"#, 0.0),
        (r#"nodecap_ip_pool_at_capacity{network_card="0"}"#, 0.0),
        (r#"nodecap_ipamd_info{version="v1.19.2-eksbuild.1"}"#, 1.0),
        (
            r#"nodecap_instance_info{availability_zone="us-east-1a",instance_type="m5.large",source="embedded"}"#,
            1.0,
        ),
    ] {
        assert_eq!(value(&text, series), Some(expected), "{series}");
    }
    for collector in [
        "imds",
        "ipamd_metrics",
        "ipamd_introspection",
        "ipamd_settings",
        "memory",
        "kubelet",
    ] {
        assert_eq!(
            value(
                &text,
                &format!("nodecap_collector_success{{collector=\"{collector}\"}}")
            ),
            Some(1.0),
            "{collector}"
        );
    }
    // ipamd's unbounded labels (CIDRs, error strings) never come through.
    assert!(!text.contains("10.0.1.11") && !text.contains("InvalidNetworkInterfaceID"));
    // No series twice.
    let all = samples(&text);
    let unique: BTreeSet<&String> = all.iter().map(|(s, _)| s).collect();
    assert_eq!(unique.len(), all.len(), "duplicate series");
}

#[test]
fn ipamd_down_fails_only_its_collectors() {
    let mut node = Node::new();
    let daemon = Daemon::start(&node);
    assert_eq!(
        value(
            &daemon.metrics(),
            r#"nodecap_collector_success{collector="ipamd_metrics"}"#
        ),
        Some(1.0)
    );
    node.ipamd = None; // ipamd dies
    daemon.wait_for("the ipamd collectors to fail", |d| {
        value(
            &d.metrics(),
            r#"nodecap_collector_success{collector="ipamd_metrics"}"#,
        ) == Some(0.0)
    });
    let text = daemon.metrics();
    for collector in ["ipamd_introspection", "ipamd_settings"] {
        assert_eq!(
            value(
                &text,
                &format!("nodecap_collector_success{{collector=\"{collector}\"}}")
            ),
            Some(0.0),
            "{collector}"
        );
    }
    // What the CNI does is not known without it: not served, not guessed.
    assert!(!text.contains("nodecap_cni_max_pods"), "{text}");
    assert_eq!(
        value(
            &text,
            r#"nodecap_collector_applicable{collector="ipamd_metrics"}"#
        ),
        Some(1.0)
    );
    for collector in ["imds", "memory", "kubelet"] {
        assert_eq!(
            value(
                &text,
                &format!("nodecap_collector_success{{collector=\"{collector}\"}}")
            ),
            Some(1.0)
        );
    }
    assert_eq!(value(&text, "nodecap_enis_attached"), Some(3.0));
    assert_eq!(value(&text, "nodecap_max_pods"), Some(29.0));
    assert!(
        !text.contains("nodecap_ipv4_addresses{"),
        "ipamd's figures outlived ipamd"
    );
    assert!(
        daemon.log().contains("collector failed"),
        "{}",
        daemon.log()
    );
    assert_eq!(daemon.get("/healthz").0, 200);
}

#[test]
fn no_vpc_cni_on_the_node_is_not_a_failure() {
    let mut node = Node::new();
    node.ipamd = None;
    let daemon = Daemon::start(&node);
    let text = daemon.metrics();
    for collector in ["ipamd_metrics", "ipamd_introspection", "ipamd_settings"] {
        assert_eq!(
            value(
                &text,
                &format!("nodecap_collector_success{{collector=\"{collector}\"}}")
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &text,
                &format!("nodecap_collector_applicable{{collector=\"{collector}\"}}")
            ),
            Some(0.0)
        );
    }
    // Once ipamd appears, it is collected.
    let _ipamd = IpamdServer::start_on(
        node.ipamd_addr,
        &fixture("ipamd/metrics-v1.19-m5.large.prom"),
        &fixture("ipamd/enis-v1.19-m5.large.json"),
    )
    .unwrap();
    daemon.wait_for("ipamd to be collected", |d| {
        value(&d.metrics(), r#"nodecap_ipv4_addresses{state="free"}"#) == Some(20.0)
    });
}

#[test]
fn imds_flapping_keeps_the_last_view_and_flags_it_stale() {
    let mut node = Node::new();
    let daemon = Daemon::start(&node);
    assert_eq!(
        value(
            &daemon.metrics(),
            r#"nodecap_collector_stale{collector="imds"}"#
        ),
        Some(0.0)
    );
    node.imds = None;
    daemon.wait_for("IMDS to be marked stale", |d| {
        value(&d.metrics(), r#"nodecap_collector_stale{collector="imds"}"#) == Some(1.0)
    });
    let text = daemon.metrics();
    assert_eq!(
        value(&text, r#"nodecap_collector_success{collector="imds"}"#),
        Some(0.0)
    );
    assert_eq!(
        value(&text, "nodecap_enis_attached"),
        Some(3.0),
        "the last good view is kept"
    );
    assert_eq!(
        value(
            &text,
            r#"nodecap_collector_success{collector="ipamd_metrics"}"#
        ),
        Some(1.0)
    );
    // IMDS comes back on the same address: fresh again.
    node.imds =
        Some(ImdsServer::start_on(node.imds_addr, &Instance::example("m5.large", 3, 10)).unwrap());
    daemon.wait_for("IMDS to be fresh again", |d| {
        value(&d.metrics(), r#"nodecap_collector_stale{collector="imds"}"#) == Some(0.0)
    });
    assert_eq!(
        value(
            &daemon.metrics(),
            r#"nodecap_collector_success{collector="imds"}"#
        ),
        Some(1.0)
    );
}

#[test]
fn sigterm_stops_within_the_grace_period() {
    let node = Node::new();
    let mut daemon = Daemon::start(&node);
    // An idle keep-alive connection must not hold the stop up.
    let _idle = TcpStream::connect(daemon.addr).unwrap();
    let (status, took) = daemon.terminate();
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert!(status.success(), "{status:?}");
    assert!(daemon.log().contains("stopping"), "{}", daemon.log());
}

#[test]
fn bad_configuration_exits_64_before_binding() {
    let node = Node::new();
    for (flag, value, expected) in [
        (
            "--listen",
            "localhost",
            "run.listen: expected an address and port",
        ),
        (
            "--interval",
            "0s",
            "run.interval: expected a duration from 1s to 1h",
        ),
        (
            "--ipamd-metrics-url",
            "127.0.0.1:61678",
            "run.ipamd_metrics_url: expected an http:// URL",
        ),
    ] {
        let mut args = node.args();
        if let Some(i) = args.iter().position(|a| a == flag) {
            args.drain(i..i + 2);
        }
        let out = crate::common::nodecap()
            .args(["run", flag, value])
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{flag}: {stderr}");
        assert!(
            stderr.starts_with(&format!("nodecap: {expected}")),
            "{stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    // A taken port is "unavailable", 69.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let out = crate::common::nodecap()
        .args(["run", "--listen", &taken.local_addr().unwrap().to_string()])
        .args(node.args())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(69), "{stderr}");
    assert!(stderr.contains("cannot listen on 127.0.0.1:"), "{stderr}");
}

#[test]
fn cluster_name_is_read_from_an_instance_tag_or_a_node_label_only_when_asked() {
    let node = Node::new();
    // Nothing is sent anywhere: the endpoint is a closed port.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let aws = aws_env(&dead);
    let run = |from: &str| {
        crate::common::nodecap()
            .args(["run", "--cloudwatch", "--cluster-name-from", from])
            .args(["--listen", &format!("127.0.0.1:{}", free_port())])
            .args(node.args())
            .envs(aws)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    // Not there: exit 64, one line saying where it looked and what to enable.
    for (from, expected) in [
        ("tag:eks:cluster-name", "InstanceMetadataTags=enabled"),
        ("label:alpha.eksctl.io/cluster-name", "--node-labels"),
    ] {
        let out = run(from);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{from}: {stderr}");
        assert!(
            stderr.starts_with("nodecap: cloudwatch.cluster_name_from: ")
                && stderr.contains(expected),
            "{stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }

    // The tag, through IMDS.
    node.imds.as_ref().unwrap().set(
        "meta-data/tags/instance/eks:cluster-name",
        Some("bars-tagged"),
    );
    let daemon = Daemon::start_env(
        &node,
        &[
            "--cloudwatch",
            "--cluster-name-from",
            "tag:eks:cluster-name",
        ],
        &aws,
    );
    daemon.wait_for("the tagged name in the log", |d| {
        d.log().contains("cluster=bars-tagged")
    });
    drop(daemon);

    // The label, from KUBELET_EXTRA_ARGS.
    std::fs::write(
        node.dir.path().join("kubelet.env"),
        "KUBELET_EXTRA_ARGS=\"--node-labels=alpha.eksctl.io/cluster-name=bars-labelled,role=web\"\n",
    )
    .unwrap();
    let daemon = Daemon::start_env(
        &node,
        &[
            "--cloudwatch",
            "--cluster-name-from",
            "label:alpha.eksctl.io/cluster-name",
        ],
        &aws,
    );
    daemon.wait_for("the labelled name in the log", |d| {
        d.log().contains("cluster=bars-labelled")
    });
}

#[test]
fn check_exits_1_on_max_pods_drift_and_0_when_it_matches() {
    let node = Node::new();
    let out = node.check();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with(
            "max_pods: nodecap 29 (m5.large, embedded limits, secondary-ip) | kubelet 29 ("
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("ipv4: 27 total, 7 assigned, 0 cooling down, 20 free"),
        "{stdout}"
    );

    std::fs::write(
        node.kubelet_config(),
        r#"{"kind":"KubeletConfiguration","maxPods":110}"#,
    )
    .unwrap();
    let out = node.check();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let line = stdout.lines().next().unwrap();
    assert!(line.contains("| kubelet 110 ("), "{line}");
    assert!(line.ends_with(": DRIFT"), "{line}");
}

/// VmRSS of a process, in KiB.

#[test]
fn abuse_does_not_stop_the_endpoint_answering_others() {
    raise_open_files(8192);

    let node = Node::new();
    let daemon = Daemon::start_with(&node, &["--interval", "60s"]);
    let before = rss_kib(daemon.pid());

    // 1,000 connections that never send a byte, from 100 other hosts.
    let host = |i: u32| std::net::Ipv4Addr::from(0x7f00_0002 + i % 100);
    let idle: Vec<TcpStream> = (0..1000)
        .map(|i| connect_from(host(i), daemon.addr).unwrap())
        .collect();
    // Slowloris: headers a byte at a time, never finished.
    let mut slow: Vec<TcpStream> = (0..50)
        .map(|i| connect_from(host(i), daemon.addr).unwrap())
        .collect();
    for s in &mut slow {
        s.write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: ").unwrap();
    }
    // The endpoint still answers a scrape, promptly.
    let start = Instant::now();
    assert_eq!(daemon.get("/metrics").0, 200);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );

    // Huge headers are refused, not buffered.
    let huge = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let (status, _) = request(daemon.addr, &huge);
    assert!(
        status == 431 || status == 0,
        "huge header answered {status}"
    );
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let (status, _) = request(
        daemon.addr,
        &format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{many}\r\n"),
    );
    assert!(
        status == 431 || status == 0,
        "200 headers answered {status}"
    );

    // Random paths and methods.
    for (line, expected) in [
        ("GET /../../etc/passwd", 404),
        ("GET /metricsx", 404),
        ("GET /debug/pprof/heap", 404),
        ("POST /metrics", 405),
        ("PUT /healthz", 405),
        ("DELETE /", 405),
        ("OPTIONS *", 405),
        ("BREW /coffee", 405),
    ] {
        let (status, _) = request(
            daemon.addr,
            &format!("{line} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        );
        assert_eq!(status, expected, "{line}");
    }
    let (status, _) = request(
        daemon.addr,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    );
    assert_eq!(status, 413);
    let (status, _) = request(daemon.addr, "garbage\r\n\r\n");
    assert!(status == 400 || status == 0, "garbage answered {status}");

    // The idle and slow connections are closed once the header timeout passes.
    std::thread::sleep(Duration::from_secs(6));
    let mut closed = 0;
    for mut s in idle.into_iter().take(20).chain(slow) {
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = [0u8; 512];
        if s.read(&mut buf).is_ok() {
            closed += 1;
        }
    }
    assert_eq!(
        closed, 70,
        "idle or slow connections outlived the header timeout"
    );
    assert_eq!(daemon.get("/metrics").0, 200);
    let after = rss_kib(daemon.pid());
    assert!(
        after < before + 32 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
}

// ---- with Prometheus's own tools ---------------------------------------------------------------

fn which(tool: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(tool))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| panic!("{tool} not found: tests/run.sh installs it (apt prometheus)"))
}

/// `promtool check metrics` on `text`: exit 0 and nothing to say.
pub(crate) fn promtool_check_metrics(text: &str) {
    let mut child = Command::new(which("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(report.trim(), "", "promtool: {report}");
}

#[test]
#[ignore = "needs promtool; tests/run.sh installs it"]
fn promtool_finds_nothing_to_lint() {
    let node = Node::new();
    let daemon = Daemon::start(&node);
    promtool_check_metrics(&daemon.metrics());
}

/// A Prometheus server scraping `target` every second, stopped on drop.
pub(crate) struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    pub(crate) fn start(target: SocketAddr) -> Self {
        Self::start_with(&format!("static_configs: [{{targets: ['{target}']}}]"))
    }

    /// Prometheus with one job, `nodecap`, whose settings (targets, scheme, TLS,
    /// credentials) are `job`: YAML of a scrape config's keys, one a line.
    fn start_with(job: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        let job: String = job.lines().map(|l| format!("    {l}\n")).collect();
        std::fs::write(
            &config,
            format!("global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nscrape_configs:\n  - job_name: nodecap\n{job}"),
        )
        .unwrap();
        let port = free_port();
        let child = Command::new(which("prometheus"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("log")).unwrap())
            .spawn()
            .unwrap();
        Prometheus {
            child,
            url: format!("127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    pub(crate) fn api(&self, path_and_query: &str) -> serde_json::Value {
        let (status, body) = request(
            self.url.parse().unwrap(),
            &format!("GET {path_and_query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        );
        if status != 200 {
            return serde_json::Value::Null;
        }
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
#[ignore = "needs the prometheus server; tests/run.sh installs it"]
fn a_real_prometheus_scrapes_the_target_and_reads_free_addresses() {
    let node = Node::new();
    let daemon = Daemon::start(&node);
    let prometheus = Prometheus::start(daemon.addr);
    // The first scrape shows after Prometheus's ~6 s discovery delay.
    let query = "/api/v1/query?query=nodecap_ipv4_addresses%7Bstate%3D%22free%22%7D";
    let deadline = Instant::now() + Duration::from_secs(30);
    let result = loop {
        let answer = prometheus.api(query);
        if let Some(first) = answer["data"]["result"].as_array().and_then(|r| r.first()) {
            break first.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no sample in Prometheus; targets: {}",
            prometheus.api("/api/v1/targets")
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(result["value"][1], "20", "{result}");
    let targets = prometheus.api("/api/v1/targets");
    let target = &targets["data"]["activeTargets"][0];
    assert_eq!(target["health"], "up", "{target}");
    assert_eq!(target["lastError"], "", "{target}");
    let up = prometheus.api("/api/v1/query?query=up%7Bjob%3D%22nodecap%22%7D");
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "{up}");
    // Every ENI came through as its own series.
    let enis = prometheus.api("/api/v1/query?query=count(nodecap_eni_info)");
    assert_eq!(enis["data"]["result"][0]["value"][1], "3", "{enis}");
}

/// The endpoint with a web-config file (exporter-toolkit's format): TLS and basic
/// authentication on `/metrics`, probes open, and a real Prometheus scraping it over TLS
/// with the credentials.
#[test]
#[ignore = "needs the prometheus server and openssl; tests/run.sh installs them"]
fn a_real_prometheus_scrapes_over_tls_with_basic_auth() {
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
    let daemon = Daemon::spawn_env(
        &node,
        &[
            "--interval",
            "1s",
            "--web-config-file",
            &web.display().to_string(),
        ],
        &[],
    );
    let port = daemon.addr.port();
    let curl = |path: &str, user: Option<&str>| -> String {
        let mut command = Command::new("curl");
        command
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "5",
            ])
            .arg("--cacert")
            .arg(&crt)
            .args(["--resolve", &format!("nodecap:{port}:127.0.0.1")]);
        if let Some(user) = user {
            command.args(["-u", user]);
        }
        let out = command
            .arg(format!("https://nodecap:{port}{path}"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while curl("/readyz", None) != "200" {
        assert!(
            Instant::now() < deadline,
            "no TLS /readyz; log:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(curl("/metrics", None), "401");
    assert_eq!(curl("/metrics", Some("prometheus:wrong")), "401");
    assert_eq!(curl("/metrics", Some("someone:s3cret")), "401");
    assert_eq!(curl("/metrics", Some("prometheus:s3cret")), "200");
    assert_eq!(curl("/healthz", None), "200", "probes need no credentials");
    assert_eq!(
        daemon.get("/healthz").0,
        0,
        "no plain HTTP on a TLS endpoint"
    );

    let prometheus = Prometheus::start_with(&format!(
        "scheme: https\ntls_config: {{ca_file: '{}', server_name: nodecap}}\nbasic_auth: {{username: prometheus, password: s3cret}}\nstatic_configs: [{{targets: ['127.0.0.1:{port}']}}]",
        crt.display()
    ));
    let query = "/api/v1/query?query=nodecap_ipv4_addresses%7Bstate%3D%22free%22%7D";
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = prometheus.api(query);
        if let Some(first) = answer["data"]["result"].as_array().and_then(|r| r.first()) {
            assert_eq!(first["value"][1], "20", "{first}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no sample over TLS; targets: {}",
            prometheus.api("/api/v1/targets")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let up = prometheus.api("/api/v1/query?query=up%7Bjob%3D%22nodecap%22%7D");
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "{up}");

    // A bad web config is a configuration error, before anything listens.
    std::fs::write(&web, "basic_auth_users:\n  prometheus: plaintext\n").unwrap();
    let out = crate::common::nodecap()
        .args(["run", "--web-config-file", &web.display().to_string()])
        .args(node.args())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("basic_auth_users.prometheus: expected a bcrypt hash"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---- CloudWatch, against the AWS API emulator ---------------------------------------------------

#[test]
#[ignore = "needs the AWS API emulator (TEST_AWS_ENDPOINT): tests/run.sh starts it"]
fn publishes_to_cloudwatch_in_native_and_compat_modes() {
    let endpoint = std::env::var("TEST_AWS_ENDPOINT").expect("TEST_AWS_ENDPOINT");
    let cloudwatch = Emulator::new(&endpoint);
    let node = Node::new();
    let aws = aws_env(&endpoint);
    // A cluster name of its own: the emulator keeps what earlier runs published.
    let stamp = unique_stamp();

    let cluster = format!("bars-native-{stamp}");
    let daemon = Daemon::start_env(
        &node,
        &[
            "--interval",
            "1s",
            "--cloudwatch",
            "--cluster-name",
            &cluster,
            "--cloudwatch-interval",
            "1s",
        ],
        &aws,
    );
    let scrape = daemon.metrics();
    let deadline = Instant::now() + Duration::from_secs(10);
    for (name, dimensions, series) in [
        (
            "IPv4AddressesFree",
            vec![("ClusterName", cluster.as_str())],
            r#"nodecap_ipv4_addresses{state="free"}"#,
        ),
        (
            "MaxPods",
            vec![
                ("ClusterName", cluster.as_str()),
                ("InstanceType", "m5.large"),
            ],
            "nodecap_max_pods",
        ),
        (
            "PodHeadroom",
            vec![
                ("ClusterName", cluster.as_str()),
                ("AvailabilityZone", "us-east-1a"),
            ],
            "nodecap_pod_headroom",
        ),
        (
            "ENIsAttached",
            vec![("ClusterName", cluster.as_str())],
            "nodecap_enis_attached",
        ),
    ] {
        let expected = value(&scrape, series).unwrap();
        let got = cloudwatch_until(
            &daemon,
            &cloudwatch,
            ("nodecap", name, &dimensions),
            deadline,
            |_| true,
        );
        assert_eq!(got, expected, "{name} {dimensions:?}");
    }
    daemon.wait_for("datums counted as sent", |d| {
        value(&d.metrics(), "nodecap_cloudwatch_datums_sent_total").is_some_and(|n| n > 0.0)
    });
    drop(daemon);

    let cluster = format!("bars-compat-{stamp}");
    let daemon = Daemon::start_env(
        &node,
        &[
            "--interval",
            "1s",
            "--cloudwatch",
            "--cluster-name",
            &cluster,
            "--cloudwatch-interval",
            "1s",
            "--cloudwatch-compat",
        ],
        &aws,
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    for (name, expected) in [
        ("assignIPAddresses", 7.0),
        ("totalIPAddresses", 27.0),
        ("maxIPAddresses", 27.0),
        ("eniAllocated", 3.0),
    ] {
        let got = cloudwatch_until(
            &daemon,
            &cloudwatch,
            ("Kubernetes", name, &[("CLUSTER_ID", cluster.as_str())]),
            deadline,
            |_| true,
        );
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
#[ignore = "needs the AWS API emulator (TEST_AWS_ENDPOINT): tests/run.sh starts it"]
fn sigterm_flushes_the_latest_snapshot_to_cloudwatch() {
    let endpoint = std::env::var("TEST_AWS_ENDPOINT").expect("TEST_AWS_ENDPOINT");
    let cloudwatch = Emulator::new(&endpoint);
    let node = Node::new();
    let stamp = unique_stamp();
    let cluster = format!("bars-sigterm-{stamp}");
    // Hourly: no scheduled publication happens during the test (short of a 1-in-3,600
    // offset), so what arrives is the final flush.
    let mut daemon = Daemon::start_env(
        &node,
        &[
            "--interval",
            "1s",
            "--cloudwatch",
            "--cluster-name",
            &cluster,
            "--cloudwatch-interval",
            "1h",
        ],
        &aws_env(&endpoint),
    );
    assert_eq!(
        value(&daemon.metrics(), "nodecap_cloudwatch_datums_sent_total"),
        Some(0.0)
    );
    let (status, took) = daemon.terminate();
    assert!(status.success(), "{status:?}; log:\n{}", daemon.log());
    assert!(took < Duration::from_secs(6), "{took:?}");
    assert!(daemon.log().contains("stopping"), "{}", daemon.log());
    let free = cloudwatch.latest_max(
        "nodecap",
        "IPv4AddressesFree",
        &[("ClusterName", cluster.as_str())],
    );
    assert_eq!(free, Some(20.0), "log:\n{}", daemon.log());
}

#[test]
#[ignore = "needs the AWS API emulator (TEST_AWS_ENDPOINT): tests/run.sh starts it"]
fn cloudwatch_faults_are_retried_bounded_and_never_block_the_endpoint() {
    use nodecap_testkit::proxy::{Fault, FaultProxy};
    let endpoint = std::env::var("TEST_AWS_ENDPOINT").expect("TEST_AWS_ENDPOINT");
    let cloudwatch = Emulator::new(&endpoint);
    let proxy = FaultProxy::start(&endpoint).unwrap();
    let node = Node::new();
    let stamp = unique_stamp();
    let cluster = format!("bars-faults-{stamp}");
    proxy.set_fault(Fault::Throttle);
    let daemon = Daemon::start_env(
        &node,
        &[
            "--interval",
            "1s",
            "--cloudwatch",
            "--cluster-name",
            &cluster,
            "--cloudwatch-interval",
            "1s",
            "--cloudwatch-queue",
            "150",
        ],
        &aws_env(&proxy.url()),
    );
    let metric = |d: &Daemon, series: &str| value(&d.metrics(), series).unwrap_or(0.0);
    // Throttled: retried (several calls), the queue stays within its bound by dropping the
    // oldest, and every scrape still answers at once.
    daemon.wait_for("throttling errors and drops", |d| {
        let start = Instant::now();
        let text = d.metrics();
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "a scrape waited {:?}",
            start.elapsed()
        );
        value(
            &text,
            r#"nodecap_cloudwatch_errors_total{kind="throttling"}"#,
        )
        .unwrap_or(0.0)
            >= 3.0
            && value(&text, "nodecap_cloudwatch_datums_dropped_total").unwrap_or(0.0) > 0.0
    });
    assert!(metric(&daemon, "nodecap_cloudwatch_queue_datums") <= 150.0);
    assert_eq!(metric(&daemon, "nodecap_cloudwatch_datums_sent_total"), 0.0);
    let rss_throttled = rss_kib(daemon.pid());

    proxy.set_fault(Fault::ServerError);
    daemon.wait_for("5xx counted", |d| {
        metric(d, r#"nodecap_cloudwatch_errors_total{kind="server"}"#) >= 1.0
    });
    proxy.set_fault(Fault::Unavailable);
    daemon.wait_for("503 counted", |d| {
        metric(d, r#"nodecap_cloudwatch_errors_total{kind="server"}"#) >= 2.0
    });
    // Validation errors were never the kind: nothing was dropped for being invalid.
    assert_eq!(
        metric(
            &daemon,
            r#"nodecap_cloudwatch_errors_total{kind="validation"}"#
        ),
        0.0
    );

    // The emulator is back: publishing resumes and the data arrives.
    proxy.set_fault(Fault::None);
    daemon.wait_for("datums sent after recovery", |d| {
        metric(d, "nodecap_cloudwatch_datums_sent_total") > 0.0
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    cloudwatch_until(
        &daemon,
        &cloudwatch,
        (
            "nodecap",
            "IPv4AddressesFree",
            &[("ClusterName", cluster.as_str())],
        ),
        deadline,
        |v| v == 20.0,
    );
    let (requests, forwarded) = proxy.counts();
    assert!(
        forwarded > 0 && requests > forwarded,
        "{requests} requests, {forwarded} forwarded"
    );
    // Memory stayed flat through the faults.
    let rss_after = rss_kib(daemon.pid());
    assert!(
        rss_after < rss_throttled + 8 * 1024,
        "RSS {rss_throttled} KiB → {rss_after} KiB"
    );
}
