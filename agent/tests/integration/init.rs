//! `nodecap init` as a boot would run it: the real binary against a real test IMDS (HTTP,
//! IMDSv2 tokens), writing into temporary directories. Every backend's output is a golden file
//! under `tests/golden/init/` (`UPDATE_EXPECT=1` rewrites them).
//!
//! Tests marked `#[ignore]` need root (a tmpfs mount) or the AWS API emulator; `tests/run.sh`
//! provides both and runs them with `--include-ignored`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use nodecap_testkit::imds::{ImdsServer, Instance};

use crate::common::assert_success;

/// A node: a test IMDS describing `instance_type`, and a scratch root for the kubelet's files.
pub(crate) struct Node {
    pub(crate) imds: ImdsServer,
    root: tempfile::TempDir,
}

impl Node {
    pub(crate) fn new(instance_type: &str, enis: u32, ips: u32) -> Self {
        Node {
            imds: ImdsServer::start(&Instance::example(instance_type, enis, ips)).unwrap(),
            root: tempfile::tempdir().unwrap(),
        }
    }

    pub(crate) fn path(&self, relative: &str) -> PathBuf {
        self.root.path().join(relative)
    }

    /// Runs `nodecap init` with every path inside the node's root, plus `args`.
    fn init(&self, args: &[&str]) -> Output {
        self.init_env(args, &[])
    }

    fn init_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.command(args, env).output().unwrap()
    }

    /// The `nodecap init` command [`init`](Self::init) runs, not started.
    pub(crate) fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = crate::common::nodecap();
        cmd.arg("init")
            .arg("--config")
            .arg(self.path("etc/nodecap/config.toml"))
            .arg("--state-dir")
            .arg(self.path("var/lib/nodecap"))
            .arg("--nodeadm-config-dir")
            .arg(self.path("etc/eks/nodeadm.d"))
            .arg("--kubelet-config-dir")
            .arg(self.path("etc/kubernetes/kubelet/config.json.d"))
            .arg("--kubelet-config")
            .arg(self.path("etc/kubernetes/kubelet/config.json"))
            .arg("--kubelet-env-file")
            .arg(self.path("etc/default/kubelet"))
            .args(args)
            .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", self.imds.url())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        if !self.path("etc/nodecap/config.toml").exists() {
            fs::create_dir_all(self.path("etc/nodecap")).unwrap();
            fs::write(self.path("etc/nodecap/config.toml"), "").unwrap();
        }
        cmd
    }

    /// Every file under the root except the config and the state dir, with its content.
    pub(crate) fn files(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        walk(self.root.path(), self.root.path(), &mut out);
        out.retain(|(p, _)| !p.starts_with("etc/nodecap/") && !p.starts_with("var/lib/nodecap/"));
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = fs::read_dir(dir).unwrap().flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, out);
        } else {
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            out.push((rel, fs::read_to_string(&path).unwrap_or_default()));
        }
    }
}

fn ok(out: &Output) -> String {
    assert_success(out, "nodecap init");
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// (exit code, the one line on stderr)
fn failed(out: &Output) -> (i32, String) {
    assert!(!out.status.success(), "init should have failed");
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("nodecap: "))
        .collect();
    assert_eq!(errors.len(), 1, "one error line: {stderr}");
    (out.status.code().unwrap(), errors[0].to_owned())
}

fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/init")
        .join(name);
    expect_test::expect_file![path].assert_eq(actual);
}

fn mtime(path: &Path) -> SystemTime {
    fs::metadata(path).unwrap().modified().unwrap()
}

const KUBELET_CONFIG: &str = r#"{
  "apiVersion": "kubelet.config.k8s.io/v1beta1",
  "kind": "KubeletConfiguration",
  "address": "0.0.0.0",
  "authentication": {"anonymous": {"enabled": false}, "webhook": {"cacheTTL": "2m0s", "enabled": true}},
  "cgroupDriver": "systemd",
  "clusterDNS": ["10.100.0.10"],
  "clusterDomain": "cluster.local",
  "evictionHard": {"memory.available": "100Mi", "nodefs.available": "10%", "nodefs.inodesFree": "5%"},
  "kubeReserved": {"cpu": "70m", "ephemeral-storage": "1Gi", "memory": "574Mi"},
  "kubeReservedCgroup": "/runtime",
  "maxPods": 110,
  "providerID": "aws:///us-east-1a/i-0123456789abcdef0",
  "systemReservedCgroup": "/system"
}
"#;

const ENV_FILE: &str =
    "# kubelet flags for this node\nKUBELET_EXTRA_ARGS=\"--node-labels=team=a --max-pods=110\"\n";

#[test]
fn kubelet_dropin_for_m5_large_then_unchanged() {
    let node = Node::new("m5.large", 3, 10);
    let log = ok(&node.init(&["--backend", "kubelet-dropin"]));
    assert!(log.contains("instance limits source=embedded"), "{log}");
    assert!(log.contains("kubelet settings written"), "{log}");
    let files = node.files();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(
        files[0].0,
        "etc/kubernetes/kubelet/config.json.d/40-nodecap.conf"
    );
    let json: serde_json::Value = serde_json::from_str(&files[0].1).unwrap();
    assert_eq!(json["apiVersion"], "kubelet.config.k8s.io/v1beta1");
    assert_eq!(json["kind"], "KubeletConfiguration");
    assert_eq!(json["maxPods"], 29);
    assert_eq!(json["kubeReserved"]["cpu"], "70m");
    assert_eq!(json["kubeReserved"]["memory"], "574Mi");
    assert_eq!(json["kubeReserved"]["ephemeral-storage"], "1Gi");
    assert_eq!(json["systemReserved"]["memory"], "200Mi");
    assert_eq!(json["evictionHard"].as_object().unwrap().len(), 5);

    let path = node.path("etc/kubernetes/kubelet/config.json.d/40-nodecap.conf");
    let before = mtime(&path);
    std::thread::sleep(Duration::from_millis(20));
    let log = ok(&node.init(&["--backend", "kubelet-dropin"]));
    assert!(log.contains("kubelet settings unchanged"), "{log}");
    assert_eq!(mtime(&path), before);
}

/// Golden output of every backend for three nodes.
#[test]
fn every_backend_matches_its_golden_file() {
    let cases: &[(&str, u32, u32, &[&str], &str)] = &[
        ("m5.large", 3, 10, &[], "m5.large"),
        (
            "m5.4xlarge",
            8,
            30,
            &["--prefix-delegation"],
            "m5.4xlarge-pd",
        ),
        ("t3.micro", 2, 2, &[], "t3.micro"),
    ];
    for &(instance_type, enis, ips, extra, case) in cases {
        for backend in ["nodeadm", "kubelet-dropin", "kubelet-config", "flags"] {
            let node = Node::new(instance_type, enis, ips);
            fs::create_dir_all(node.path("etc/kubernetes/kubelet")).unwrap();
            fs::write(
                node.path("etc/kubernetes/kubelet/config.json"),
                KUBELET_CONFIG,
            )
            .unwrap();
            fs::create_dir_all(node.path("etc/default")).unwrap();
            fs::write(node.path("etc/default/kubelet"), ENV_FILE).unwrap();
            let mut args = vec!["--backend", backend];
            args.extend_from_slice(extra);
            ok(&node.init(&args));
            let changed: Vec<(String, String)> = node
                .files()
                .into_iter()
                .filter(|(p, c)| {
                    !(p == "etc/kubernetes/kubelet/config.json" && c == KUBELET_CONFIG
                        || p == "etc/default/kubelet" && c == ENV_FILE)
                })
                .collect();
            assert_eq!(changed.len(), 1, "{backend}: one file written: {changed:?}");
            let ext = match backend {
                "nodeadm" => "yaml",
                "flags" => "env",
                "kubelet-config" => "json",
                _ => "conf",
            };
            golden(&format!("{case}.{backend}.{ext}"), &changed[0].1);
        }
    }
}

#[test]
fn kubelet_config_backend_keeps_foreign_fields() {
    let node = Node::new("m5.4xlarge", 8, 30);
    fs::create_dir_all(node.path("etc/kubernetes/kubelet")).unwrap();
    fs::write(
        node.path("etc/kubernetes/kubelet/config.json"),
        KUBELET_CONFIG,
    )
    .unwrap();
    ok(&node.init(&["--backend", "kubelet-config", "--prefix-delegation"]));
    let text = fs::read_to_string(node.path("etc/kubernetes/kubelet/config.json")).unwrap();
    let after: serde_json::Value = serde_json::from_str(&text).unwrap();
    let before: serde_json::Value = serde_json::from_str(KUBELET_CONFIG).unwrap();
    for (key, value) in before.as_object().unwrap() {
        if !["maxPods", "kubeReserved", "evictionHard"].contains(&key.as_str()) {
            assert_eq!(&after[key], value, "{key} kept");
        }
    }
    assert_eq!(after["maxPods"], 110);
    assert_eq!(after["kubeReserved"]["memory"], "1465Mi");
    assert_eq!(after["evictionHard"]["imagefs.available"], "15%");

    // Without the file there is nothing to merge into.
    let bare = Node::new("m5.large", 3, 10);
    let (code, line) = failed(&bare.init(&["--backend", "kubelet-config"]));
    assert_eq!(code, 65);
    assert!(
        line.contains("config.json: the kubelet config file to merge into does not exist"),
        "{line}"
    );
}

#[test]
fn other_dropins_are_never_touched() {
    let node = Node::new("m5.large", 3, 10);
    let dir = node.path("etc/eks/nodeadm.d");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("10-user.yaml"),
        "apiVersion: node.eks.aws/v1alpha1\n",
    )
    .unwrap();
    fs::write(
        dir.join("90-override.yaml"),
        "spec: {kubelet: {config: {maxPods: 7}}}\n",
    )
    .unwrap();
    let log = ok(&node.init(&[]));
    assert!(log.contains("backend chosen backend=nodeadm"), "{log}");
    assert_eq!(
        fs::read_to_string(dir.join("10-user.yaml")).unwrap(),
        "apiVersion: node.eks.aws/v1alpha1\n"
    );
    assert_eq!(
        fs::read_to_string(dir.join("90-override.yaml")).unwrap(),
        "spec: {kubelet: {config: {maxPods: 7}}}\n"
    );
    let ours = fs::read_to_string(dir.join("40-nodecap.yaml")).unwrap();
    assert!(ours.contains("maxPods: 29"));
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 3);
}

#[test]
fn json_logs_are_one_object_per_line() {
    let node = Node::new("m5.large", 3, 10);
    let log = ok(&node.init(&["--backend", "kubelet-dropin", "--log-format", "json"]));
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "{log}");
    assert_eq!(lines[0]["message"], "instance identity from IMDS");
    assert_eq!(lines[0]["instance_type"], "m5.large");
    assert_eq!(lines[2]["max_pods"], 29);
    assert_eq!(lines[3]["message"], "kubelet settings written");
    assert!(
        lines
            .iter()
            .all(|l| l["level"] == "INFO" && l["timestamp"].is_string())
    );
}

#[test]
fn dry_run_prints_and_writes_nothing() {
    let node = Node::new("m5.large", 3, 10);
    let out = node.init(&["--backend", "flags", "--dry-run"]);
    ok(&out);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.starts_with(&format!(
        "# {}\n",
        node.path("etc/default/kubelet").display()
    )));
    assert!(stdout.contains("KUBELET_EXTRA_ARGS=\"--max-pods=29 "));
    assert!(node.files().is_empty());
}

#[test]
fn imds_unreachable_fails_within_the_deadline_and_writes_nothing() {
    let node = Node::new("m5.large", 3, 10);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let start = Instant::now();
    let out = node.init_env(
        &["--backend", "kubelet-dropin", "--imds-deadline", "2"],
        &[(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            &format!("http://{closed}"),
        )],
    );
    let elapsed = start.elapsed();
    let (code, line) = failed(&out);
    assert_eq!(code, 69);
    assert!(
        line.starts_with(&format!(
            "nodecap: IMDS http://{closed}/latest/api/token: no answer within the 2s deadline"
        )),
        "{line}"
    );
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
    assert!(node.files().is_empty());
}

#[test]
fn imds_faults_are_survived() {
    let node = Node::new("m5.large", 3, 10);
    node.imds.fail_next(2, 500);
    ok(&node.init(&["--backend", "kubelet-dropin"]));
    node.imds.set_delay(Duration::from_millis(300));
    ok(&node.init(&["--backend", "kubelet-dropin"]));
}

#[test]
fn garbage_from_imds_is_named() {
    let node = Node::new("m5.large", 3, 10);
    node.imds
        .set("dynamic/instance-identity/document", Some(""));
    let (code, line) = failed(&node.init(&["--backend", "kubelet-dropin"]));
    assert_eq!(code, 69);
    assert!(
        line.contains("instance-identity/document: expected the identity document JSON"),
        "{line}"
    );
    node.imds.set(
        "dynamic/instance-identity/document",
        Some(r#"{"instanceType":"../../etc","instanceId":"i-1","region":"us-east-1","availabilityZone":"us-east-1a"}"#),
    );
    let (_, line) = failed(&node.init(&["--backend", "kubelet-dropin"]));
    assert!(
        line.contains("expected an instance type such as m5.large, got \"../../etc\""),
        "{line}"
    );
    assert!(node.files().is_empty());
}

#[test]
fn bad_configuration_exits_64_naming_the_key() {
    let node = Node::new("m5.large", 3, 10);
    fs::create_dir_all(node.path("etc/nodecap")).unwrap();
    fs::write(
        node.path("etc/nodecap/config.toml"),
        "[kubelet]\nbackend = \"systemd\"\n",
    )
    .unwrap();
    let (code, line) = failed(&node.init(&[]));
    assert_eq!(code, 64);
    assert!(
        line.contains("config.toml: line 2 (backend): unknown variant `systemd`"),
        "{line}"
    );
    fs::write(node.path("etc/nodecap/config.toml"), "max_enis = 0\n").unwrap();
    let (code, line) = failed(&node.init(&[]));
    assert_eq!(
        (code, line.as_str()),
        (64, "nodecap: max_enis: expected a positive integer, got 0")
    );
    fs::write(node.path("etc/nodecap/config.toml"), "").unwrap();
    let (code, line) = failed(&node.init_env(&[], &[("NODECAP_PROFILE", "azure")]));
    assert_eq!(code, 64);
    assert!(
        line.starts_with("nodecap: environment NODECAP_PROFILE=\"azure\": unknown variant `azure`"),
        "{line}"
    );
    // An expression that does not parse stops at the configuration; one that parses but
    // does not give a pod count on this node stops before anything is written.
    fs::write(
        node.path("etc/nodecap/config.toml"),
        "max_pods_expression = \"max_pods +\"\n",
    )
    .unwrap();
    let (code, line) = failed(&node.init(&[]));
    assert_eq!(code, 64);
    assert!(
        line.starts_with("nodecap: max_pods_expression \"max_pods +\": at 1:"),
        "{line}"
    );
    fs::write(
        node.path("etc/nodecap/config.toml"),
        "max_pods_expression = \"max_pods - 100\"\n",
    )
    .unwrap();
    let (code, line) = failed(&node.init(&["--backend", "kubelet-dropin"]));
    assert_eq!(code, 64);
    assert_eq!(
        line,
        "nodecap: max_pods_expression \"max_pods - 100\": expected a non-negative integer pod \
         count, got -71 (int)"
    );
    let out = crate::common::nodecap()
        .args(["init", "--config", "/nonexistent/nodecap.toml"])
        .output()
        .unwrap();
    let (code, line) = failed(&out);
    assert_eq!(code, 64);
    assert!(
        line.contains("/nonexistent/nodecap.toml: cannot read: No such file"),
        "{line}"
    );
    assert!(node.files().is_empty());
}

/// nodeadm's `maxPodsExpression` and a Karpenter-style reservation, on a node: what `init`
/// writes is what `plan` prints.
#[test]
fn expressions_and_profiles_reach_the_kubelet() {
    let node = Node::new("m5.large", 3, 10);
    ok(&node.init(&[
        "--backend",
        "kubelet-dropin",
        "--profile",
        "aks",
        "--max-pods-expression",
        "max_pods < 20 ? max_pods : 20",
        "--system-reserved-expression",
        r#"{"memory": string(memory_mib / 64) + "Mi"}"#,
    ]));
    let files = node.files();
    let json: serde_json::Value = serde_json::from_str(&files[0].1).unwrap();
    // 20 pods; AKS memory min(20 × 20 + 50, 2048) = 450Mi, CPU 100m; systemReserved
    // 8192 / 64 = 128Mi (cpu 0m: the expression set only memory).
    assert_eq!(json["maxPods"], 20);
    assert_eq!(json["kubeReserved"]["memory"], "450Mi");
    assert_eq!(json["kubeReserved"]["cpu"], "100m");
    assert_eq!(json["systemReserved"]["memory"], "128Mi");
    assert_eq!(json["systemReserved"]["cpu"], "0m");
    assert_eq!(json["evictionHard"]["memory.available"], "100Mi");

    // IPv6: not IP-limited, the cap decides (110 on an m5.large) and memory follows it.
    let node = Node::new("m5.large", 3, 10);
    ok(&node.init(&["--backend", "kubelet-dropin", "--ip-family", "ipv6"]));
    let json: serde_json::Value = serde_json::from_str(&node.files()[0].1).unwrap();
    assert_eq!(json["maxPods"], 110);
    assert_eq!(json["kubeReserved"]["memory"], "1465Mi");
}

#[test]
fn config_file_and_environment_apply() {
    let node = Node::new("m5.4xlarge", 8, 30);
    fs::create_dir_all(node.path("etc/nodecap")).unwrap();
    fs::write(
        node.path("etc/nodecap/config.toml"),
        "max_enis = 2\n[kubelet]\nbackend = \"kubelet-dropin\"\n",
    )
    .unwrap();
    ok(&node.init(&[]));
    let text =
        fs::read_to_string(node.path("etc/kubernetes/kubelet/config.json.d/40-nodecap.conf"))
            .unwrap();
    assert!(text.contains("\"maxPods\": 60"), "{text}");
    ok(&node.init_env(&[], &[("NODECAP_MAX_ENIS", "1")]));
    let text =
        fs::read_to_string(node.path("etc/kubernetes/kubelet/config.json.d/40-nodecap.conf"))
            .unwrap();
    assert!(text.contains("\"maxPods\": 31"), "{text}");
    ok(&node.init_env(&["--max-enis", "3"], &[("NODECAP_MAX_ENIS", "1")]));
    let text =
        fs::read_to_string(node.path("etc/kubernetes/kubelet/config.json.d/40-nodecap.conf"))
            .unwrap();
    assert!(text.contains("\"maxPods\": 89"), "{text}");
}

#[test]
fn undetectable_backend_is_a_configuration_error() {
    let node = Node::new("m5.large", 3, 10);
    let (code, line) = failed(&node.init(&[]));
    assert_eq!(code, 64);
    assert!(
        line.contains("cannot tell where the kubelet reads its settings"),
        "{line}"
    );
}

#[test]
fn unwritable_target_fails_and_leaves_nothing() {
    let node = Node::new("m5.large", 3, 10);
    fs::create_dir_all(node.path("etc/kubernetes/kubelet")).unwrap();
    // The drop-in directory's path is taken by a file.
    fs::write(node.path("etc/kubernetes/kubelet/config.json.d"), "x").unwrap();
    let (code, line) = failed(&node.init(&["--backend", "kubelet-dropin"]));
    assert_eq!(code, 73);
    assert!(
        line.contains("config.json.d/40-nodecap.conf: cannot read: Not a directory"),
        "{line}"
    );
}

#[test]
fn unknown_type_without_api_fails_or_uses_the_fallback() {
    let node = Node::new("x9z.large", 3, 10);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let aws = [
        ("AWS_ENDPOINT_URL", format!("http://{closed}")),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("AWS_MAX_ATTEMPTS", "1".to_owned()),
    ];
    let env: Vec<(&str, &str)> = aws.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let args = ["--backend", "kubelet-dropin", "--imds-deadline", "5"];
    let (code, line) = failed(&node.init_env(&args, &env));
    assert_eq!(code, 2);
    assert!(
        line.starts_with(
            "nodecap: instance type x9z.large is not in this build's table, not cached in"
        ),
        "{line}"
    );
    assert!(
        line.contains("ec2:DescribeInstanceTypes x9z.large in us-east-1"),
        "{line}"
    );
    assert!(node.files().is_empty());

    let mut with_fallback = args.to_vec();
    with_fallback.extend(["--fallback-max-pods", "17"]);
    let log = ok(&node.init_env(&with_fallback, &env));
    assert!(
        log.contains("WARN cannot size the node; using fallback_max_pods"),
        "{log}"
    );
    assert!(log.contains("source=fallback"), "{log}");
    let text =
        fs::read_to_string(node.path("etc/kubernetes/kubelet/config.json.d/40-nodecap.conf"))
            .unwrap();
    assert!(
        text.contains("\"maxPods\": 17") && text.contains("\"memory\": \"442Mi\""),
        "{text}"
    );
}

/// Kill the writer at random points, again and again: the target is always the complete old
/// or the complete new file.
#[test]
fn killed_mid_write_leaves_old_or_new() {
    let node = Node::new("m5.large", 3, 10);
    let path = node.path("etc/kubernetes/kubelet/config.json.d/40-nodecap.conf");
    let write = |max_pods: &str| {
        ok(&node.init(&["--backend", "kubelet-dropin", "--max-pods", max_pods]));
        fs::read_to_string(&path).unwrap()
    };
    let a = write("50");
    let b = write("60");
    let mut seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let mut kills = 0;
    for round in 0..150 {
        let (from, to) = if round % 2 == 0 {
            ("50", "60")
        } else {
            ("60", "50")
        };
        ok(&node.init(&["--backend", "kubelet-dropin", "--max-pods", from]));
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let delay = Duration::from_micros(u64::from(seed >> 8) % 12_000);
        let mut child = crate::common::nodecap()
            .args([
                "init",
                "--backend",
                "kubelet-dropin",
                "--max-pods",
                to,
                "--kubelet-config-dir",
            ])
            .arg(path.parent().unwrap())
            .args(["--config", "/dev/null", "--state-dir"])
            .arg(node.path("state"))
            .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", node.imds.url())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        if child.kill().is_ok() {
            kills += 1;
        }
        let _ = child.wait();
        let now = fs::read_to_string(&path).unwrap();
        assert!(
            now == a || now == b,
            "round {round}: torn file after kill at {delay:?}: {now:?}"
        );
        let stray: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".conf") && n != "40-nodecap.conf")
            .collect();
        assert!(
            stray.is_empty(),
            "a .conf the kubelet would read: {stray:?}"
        );
    }
    assert!(kills > 10, "only {kills} kills landed");
}

/// A full disk: the write fails with a one-line error, the old file stays, no temp remains.
#[test]
#[ignore = "needs root to mount a tmpfs; tests/run.sh runs it"]
fn disk_full_keeps_the_old_file() {
    let node = Node::new("m5.large", 3, 10);
    let dir = node.path("etc/kubernetes/kubelet/config.json.d");
    fs::create_dir_all(&dir).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16k", "tmpfs"])
        .arg(&dir)
        .status()
        .unwrap();
    assert!(status.success(), "mount a tmpfs (needs root)");
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(dir.clone());
    let target = dir.join("40-nodecap.conf");
    fs::write(&target, "{\"old\": true}\n").unwrap();
    // Fill the file system.
    let mut filler = fs::File::create(dir.join("filler")).unwrap();
    let chunk = vec![0u8; 1024];
    while std::io::Write::write_all(&mut filler, &chunk).is_ok() {}
    drop(filler);
    let out = node.init(&["--backend", "kubelet-dropin"]);
    let (code, line) = failed(&out);
    assert_eq!(code, 73);
    assert!(line.contains("No space left on device"), "{line}");
    assert_eq!(fs::read_to_string(&target).unwrap(), "{\"old\": true}\n");
    let names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
}
