//! What the process-level tests share: a node (test IMDS, test ipamd, the fixture host, a
//! kubelet config in a temp dir), a `nodecap run` daemon against it, scrape parsing, and
//! reading CloudWatch back from the AWS API emulator.
#![allow(dead_code)] // each test binary uses its own subset

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use nodecap_testkit::imds::{ImdsServer, Instance};
use nodecap_testkit::ipamd::IpamdServer;

/// A command running the `nodecap` under test: this build's binary, or `TEST_NODECAP_BIN`
/// (an absolute path: the release binary of another architecture, tests/run.sh's qemu-user
/// pass), started through `TEST_NODECAP_RUNNER` when set (`qemu-aarch64-static`).
pub fn nodecap() -> Command {
    let bin = std::env::var_os("TEST_NODECAP_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_nodecap").into());
    assert!(
        bin.is_absolute() && bin.is_file(),
        "TEST_NODECAP_BIN={}: not an absolute path to a file",
        bin.display()
    );
    match std::env::var_os("TEST_NODECAP_RUNNER") {
        Some(runner) if !runner.is_empty() => {
            let mut command = Command::new(runner);
            command.arg(bin);
            command
        }
        _ => Command::new(bin),
    }
}

/// Whether the binary under test is a shipped one (`TEST_NODECAP_BIN`), not this debug build.
pub fn shipped() -> bool {
    std::env::var_os("TEST_NODECAP_BIN").is_some()
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

pub fn fixture(relative: &str) -> String {
    std::fs::read_to_string(fixtures().join(relative)).unwrap()
}

/// A port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The node a daemon runs on: test IMDS (m5.large, 3 ENIs × 10 addresses), test ipamd with
/// the fixtures, the cgroup v2 fixture host, and a kubelet config file in a temp dir.
pub struct Node {
    pub imds: Option<ImdsServer>,
    pub imds_addr: SocketAddr,
    pub ipamd: Option<IpamdServer>,
    pub ipamd_addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

impl Node {
    pub fn new() -> Self {
        Self::with(
            &Instance::example("m5.large", 3, 10),
            &fixture("ipamd/enis-v1.20-m5.large.json"),
        )
    }

    /// A node described by `instance` whose ipamd answers `enis` at `/v1/enis`.
    pub fn with(instance: &Instance, enis: &str) -> Self {
        let imds = ImdsServer::start(instance).unwrap();
        let ipamd =
            IpamdServer::start(&fixture("ipamd/metrics-v1.19-m5.large.prom"), enis).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            fixture("host-cgroup2/etc/kubernetes/kubelet/config.json"),
        )
        .unwrap();
        Node {
            imds_addr: imds.addr(),
            imds: Some(imds),
            ipamd_addr: ipamd.addr(),
            ipamd: Some(ipamd),
            dir,
        }
    }

    pub fn kubelet_config(&self) -> PathBuf {
        self.dir.path().join("config.json")
    }

    /// Flags pointing every source at this node.
    pub fn args(&self) -> Vec<String> {
        let host = fixtures().join("host-cgroup2");
        let p = |s: &str| self.dir.path().join(s).display().to_string();
        [
            "--imds-endpoint",
            &format!("http://{}", self.imds_addr),
            "--imds-deadline",
            "2",
            "--ipamd-metrics-url",
            &format!("http://{}/metrics", self.ipamd_addr),
            "--ipamd-introspection-url",
            &format!("http://{}/v1/enis", self.ipamd_addr),
            "--proc-root",
            &host.join("proc").display().to_string(),
            "--sys-root",
            &host.join("sys").display().to_string(),
            "--kubelet-config",
            &self.kubelet_config().display().to_string(),
            "--kubelet-config-dir",
            &p("config.json.d"),
            "--nodeadm-config-dir",
            &p("nodeadm.d"),
            "--kubelet-env-file",
            &p("kubelet.env"),
            "--state-dir",
            &p("state"),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    }

    pub fn check(&self) -> Output {
        nodecap()
            .arg("check")
            .args(self.args())
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    }
}

/// A running `nodecap run`, killed on drop.
pub struct Daemon {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
    pub _logdir: tempfile::TempDir,
}

impl Daemon {
    pub fn start(node: &Node) -> Self {
        Self::start_with(node, &["--interval", "1s"])
    }

    pub fn start_with(node: &Node, extra: &[&str]) -> Self {
        Self::start_env(node, extra, &[])
    }

    pub fn start_env(node: &Node, extra: &[&str], envs: &[(&str, &str)]) -> Self {
        let daemon = Self::spawn_env(node, extra, envs);
        daemon.wait_for("/readyz to answer 200", |d| d.get("/readyz").0 == 200);
        daemon
    }

    /// Starts the daemon without waiting for it to be ready (over plain HTTP).
    pub fn spawn_env(node: &Node, extra: &[&str], envs: &[(&str, &str)]) -> Self {
        Self::spawn(|addr| {
            let mut command = nodecap();
            command
                .arg("run")
                .args(["--listen", &addr.to_string()])
                .args(extra)
                .args(node.args())
                .env_remove("RUST_LOG")
                .envs(envs.iter().copied());
            command
        })
    }

    /// Starts the command `command(addr)` makes, which serves on `addr` (a free port), its
    /// stderr kept for [`Daemon::log`]: `run`, or `subnets`.
    pub fn spawn(command: impl FnOnce(SocketAddr) -> Command) -> Self {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let logdir = tempfile::tempdir().unwrap();
        let log = logdir.path().join("stderr");
        let child = command(addr)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Daemon {
            child,
            addr,
            log,
            _logdir: logdir,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path` → (status, body); status 0 when the connection failed.
    pub fn get(&self, path: &str) -> (u16, String) {
        request(
            self.addr,
            &format!("GET {path} HTTP/1.1\r\nHost: nodecap\r\nConnection: close\r\n\r\n"),
        )
    }

    pub fn metrics(&self) -> String {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, 200, "{body}");
        body
    }

    pub fn wait_for(&self, what: &str, ready: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if ready(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("timed out waiting for {what}; daemon log:\n{}", self.log());
    }

    /// SIGTERM, then waits (up to 20 s) for the exit: its status and how long it took.
    pub fn terminate(&mut self) -> (std::process::ExitStatus, Duration) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid()),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, start.elapsed());
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "still running 20 s after SIGTERM; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn request(addr: SocketAddr, raw: &str) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return (0, String::new());
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    if stream.write_all(raw.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A TCP connection to `to` from the loopback address `from` (any of 127.0.0.0/8): how tests
/// play clients on other hosts.
pub fn connect_from(from: std::net::Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, SockaddrIn, bind, connect, socket};
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let to = match to {
        SocketAddr::V4(v4) => v4,
        SocketAddr::V6(_) => return Err(std::io::Error::other("IPv4 only")),
    };
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrIn::from(std::net::SocketAddrV4::new(from, 0)),
    )?;
    connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrIn::from(to))?;
    Ok(TcpStream::from(fd))
}

/// `name{labels}` → value, for every sample.
pub fn samples(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            (series.to_owned(), value.parse().unwrap())
        })
        .collect()
}

pub fn value(text: &str, series: &str) -> Option<f64> {
    samples(text)
        .into_iter()
        .find(|(s, _)| s == series)
        .map(|(_, v)| v)
}

pub fn rss_kib(pid: i32) -> u64 {
    status_kib(pid, "VmRSS:")
}

/// The process's peak resident memory so far (VmHWM).
pub fn hwm_kib(pid: i32) -> u64 {
    status_kib(pid, "VmHWM:")
}

fn status_kib(pid: i32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Raises this process's soft limit on open files to `wanted` (or the hard limit).
pub fn raise_open_files(wanted: u64) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if soft < wanted {
        setrlimit(Resource::RLIMIT_NOFILE, hard.min(wanted), hard).unwrap();
    }
}

/// The first value of `name{dimensions}` read back from CloudWatch that `done` accepts,
/// polled until `deadline` (then the test fails with the daemon's log).
pub fn cloudwatch_until(
    daemon: &Daemon,
    cloudwatch: &Emulator,
    (namespace, name, dimensions): (&str, &str, &[(&str, &str)]),
    deadline: Instant,
    done: impl Fn(f64) -> bool,
) -> f64 {
    loop {
        if let Some(v) = cloudwatch
            .latest_max(namespace, name, dimensions)
            .filter(|v| done(*v))
        {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{name} {dimensions:?} not in CloudWatch in time; log:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Milliseconds since the Unix epoch: a suffix that keeps a test's names its own (the
/// emulator keeps what earlier runs published).
pub fn unique_stamp() -> u128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// The environment that points a `nodecap` process's AWS SDK at `endpoint` with the
/// emulator's test credentials.
pub fn aws_env(endpoint: &str) -> [(&'static str, &str); 4] {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
    ]
}

/// An SDK configuration loader for `endpoint` with the same test credentials, for clients in
/// the test process.
pub fn sdk_loader(endpoint: &str) -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_cloudwatch::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
}

/// CloudWatch in the AWS API emulator, read from blocking tests (a runtime of its own).
pub struct Emulator {
    runtime: tokio::runtime::Runtime,
    client: aws_sdk_cloudwatch::Client,
}

impl Emulator {
    pub fn new(endpoint: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let config = runtime.block_on(sdk_loader(endpoint).load());
        Emulator {
            runtime,
            client: aws_sdk_cloudwatch::Client::new(&config),
        }
    }

    /// `stat` of `name{dimensions}` per `period` seconds, from `from` (rounded down to the
    /// period, as CloudWatch aligns buckets) to a period past now: (bucket start in Unix
    /// seconds, value) for the buckets with data. `None` if the call fails.
    pub fn series(
        &self,
        (namespace, name, dimensions): (&str, &str, &[(&str, &str)]),
        stat: &str,
        period: u64,
        from: SystemTime,
    ) -> Option<Vec<(i64, f64)>> {
        use aws_sdk_cloudwatch::primitives::DateTime;
        use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
        let metric = Metric::builder()
            .namespace(namespace)
            .metric_name(name)
            .set_dimensions(Some(
                dimensions
                    .iter()
                    .map(|(k, v)| Dimension::builder().name(*k).value(*v).build())
                    .collect(),
            ))
            .build();
        let query = MetricDataQuery::builder()
            .id("q")
            .metric_stat(
                MetricStat::builder()
                    .metric(metric)
                    .period(i32::try_from(period).unwrap())
                    .stat(stat)
                    .build(),
            )
            .build();
        let from = from
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            / period
            * period;
        let to = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + period;
        let call = self
            .client
            .get_metric_data()
            .metric_data_queries(query)
            .start_time(DateTime::from_secs(i64::try_from(from).unwrap()))
            .end_time(DateTime::from_secs(i64::try_from(to).unwrap()))
            .send();
        let out = self.runtime.block_on(call).ok()?;
        let result = out.metric_data_results().first()?;
        Some(
            result
                .timestamps()
                .iter()
                .map(DateTime::secs)
                .zip(result.values().iter().copied())
                .collect(),
        )
    }

    /// The largest value of `name{dimensions}` over the last two hours (a datum is stamped
    /// with its publication period's start, up to an hour back with hourly publication).
    pub fn latest_max(
        &self,
        namespace: &str,
        name: &str,
        dimensions: &[(&str, &str)],
    ) -> Option<f64> {
        let from = SystemTime::now() - Duration::from_secs(7200);
        self.series((namespace, name, dimensions), "Maximum", 60, from)?
            .into_iter()
            .map(|(_, v)| v)
            .reduce(f64::max)
    }

    /// Every metric (name and dimensions) in `namespace`, all pages.
    pub fn list_metrics(&self, namespace: &str) -> Vec<(String, Vec<(String, String)>)> {
        let mut metrics = Vec::new();
        let mut token = None;
        loop {
            let call = self
                .client
                .list_metrics()
                .namespace(namespace)
                .set_next_token(token)
                .send();
            let out = self.runtime.block_on(call).unwrap();
            metrics.extend(out.metrics().iter().map(|m| {
                (
                    m.metric_name().unwrap_or_default().to_owned(),
                    m.dimensions()
                        .iter()
                        .map(|d| {
                            (
                                d.name().unwrap_or_default().to_owned(),
                                d.value().unwrap_or_default().to_owned(),
                            )
                        })
                        .collect(),
                )
            }));
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                return metrics;
            }
        }
    }
}

/// Runs the calling test alone, in a child process of this test binary, so what it measures
/// of its own process (RSS) is its own: `true` in that child (run the test's body), `false`
/// in the parent (which checked that the child passed; return).
pub fn alone(test: &str) -> bool {
    const VARIABLE: &str = "TEST_NODECAP_ALONE";
    if std::env::var(VARIABLE).as_deref() == Ok(test) {
        return true;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--include-ignored", "--test-threads=1"])
        .arg("--nocapture")
        .env(VARIABLE, test)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{test} alone: {report}");
    assert!(report.contains("1 passed"), "{test} did not run: {report}");
    false
}

/// Fails the test, naming `what` and quoting the command's stderr, unless it succeeded.
pub fn assert_success(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed P-256 certificate for `nodecap` and 127.0.0.1, made by `openssl` in `dir`
/// as `server.crt` and `server.key` (the names the tests' web configs give): their paths.
pub fn self_signed_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let (crt, key) = (dir.join("server.crt"), dir.join("server.key"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=nodecap"])
        .args(["-addext", "subjectAltName=DNS:nodecap,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .unwrap();
    assert_success(&made, "openssl req");
    (crt, key)
}
