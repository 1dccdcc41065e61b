//! The systemd units under real systemd: `systemd-analyze verify` with nothing on stderr, and a
//! boot under `systemd-nspawn` (systemd as PID 1) with a stub kubelet and the test IMDS,
//! showing nodecap-init finished before the kubelet started and the kubelet found its
//! settings in place.
//!
//! Ignored by a plain `cargo test` (they need root and systemd-container); `tests/run.sh`
//! installs what they need and runs them with `--include-ignored`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nodecap_testkit::imds::{ImdsServer, Instance};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A root with the unit, the binary and the distribution's units, for offline verification.
fn verify_root(unit: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    fs::create_dir_all(r.join("etc/systemd/system")).unwrap();
    fs::create_dir_all(r.join("usr/bin")).unwrap();
    fs::create_dir_all(r.join("usr/lib/systemd")).unwrap();
    let status = Command::new("cp")
        .args(["-a", "/usr/lib/systemd/system"])
        .arg(r.join("usr/lib/systemd/"))
        .status()
        .unwrap();
    assert!(status.success());
    fs::copy(
        repo().join("systemd").join(unit),
        r.join("etc/systemd/system").join(unit),
    )
    .unwrap();
    fs::copy(env!("CARGO_BIN_EXE_nodecap"), r.join("usr/bin/nodecap")).unwrap();
    root
}

#[test]
#[ignore = "needs systemd-analyze: tests/run.sh runs it"]
fn init_unit_verifies_cleanly() {
    let root = verify_root("nodecap-init.service");
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(format!("--root={}", root.path().display()))
        .arg("nodecap-init.service")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "verify: {stderr}"
    );
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// `systemctl show` output: unit → property → value.
fn parse_show(text: &str) -> HashMap<String, HashMap<String, String>> {
    let mut units = HashMap::new();
    for block in text.split("\n\n") {
        let props: HashMap<String, String> = block
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        if let Some(id) = props.get("Id") {
            units.insert(id.clone(), props);
        }
    }
    units
}

#[test]
#[ignore = "needs root and systemd-nspawn: tests/run.sh runs it"]
fn init_runs_before_the_kubelet_at_boot() {
    let imds = ImdsServer::start(&Instance::example("m5.large", 3, 10)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let units = dir.path().join("units");
    let opt = dir.path().join("opt");
    let out = dir.path().join("out");
    let etc_kubernetes = dir.path().join("etc-kubernetes");
    for d in [&units, &opt, &out, &etc_kubernetes] {
        fs::create_dir_all(d).unwrap();
    }
    fs::copy(env!("CARGO_BIN_EXE_nodecap"), opt.join("nodecap")).unwrap();

    // The real unit, enabled as `systemctl enable` would, pointed at the test IMDS.
    fs::copy(
        repo().join("systemd/nodecap-init.service"),
        units.join("nodecap-init.service"),
    )
    .unwrap();
    write(
        &units.join("nodecap-init.service.d/test.conf"),
        &format!(
            "[Service]\nEnvironment=AWS_EC2_METADATA_SERVICE_ENDPOINT={}\nExecStart=\nExecStart=/opt/nodecap/nodecap init --backend kubelet-dropin\n",
            imds.url()
        ),
    );
    fs::create_dir_all(units.join("kubelet.service.wants")).unwrap();
    symlink(
        "../nodecap-init.service",
        units.join("kubelet.service.wants/nodecap-init.service"),
    )
    .unwrap();

    // A stub kubelet that records what it finds, and a report that powers the machine off.
    write(
        &units.join("kubelet.service"),
        "[Unit]\nDescription=stub kubelet\n[Service]\nType=oneshot\nRemainAfterExit=yes\n\
         ExecStart=/bin/cp /etc/kubernetes/kubelet/config.json.d/40-nodecap.conf /out/seen-by-kubelet.conf\n",
    );
    write(
        &units.join("report.service"),
        "[Unit]\nDescription=report\nWants=kubelet.service\nAfter=kubelet.service\n\
         [Service]\nType=oneshot\n\
         ExecStart=/bin/sh -c 'systemctl show nodecap-init.service kubelet.service -p Id,Result,ExecMainStatus,ExecMainStartTimestampMonotonic,ExecMainExitTimestampMonotonic > /out/report; journalctl -u nodecap-init.service --no-pager > /out/init.log 2>&1; systemctl poweroff'\n",
    );
    fs::create_dir_all(units.join("multi-user.target.wants")).unwrap();
    symlink(
        "../report.service",
        units.join("multi-user.target.wants/report.service"),
    )
    .unwrap();

    let bind = |flag: &str, from: &Path, to: &str| format!("--{flag}={}:{to}", from.display());
    let mut child = Command::new("systemd-nspawn")
        .args([
            "-D",
            "/",
            "--volatile=yes",
            "--register=no",
            "--keep-unit",
            "--quiet",
        ])
        .arg(format!("--machine=nodecap-init-{}", std::process::id()))
        .arg(bind("bind-ro", &units, "/etc/systemd/system"))
        .arg(bind("bind-ro", &opt, "/opt/nodecap"))
        .arg(bind("bind", &out, "/out"))
        .arg(bind("bind", &etc_kubernetes, "/etc/kubernetes"))
        .args([
            "-b",
            "systemd.firstboot=off",
            "systemd.unit=multi-user.target",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("systemd-nspawn (apt-get install systemd-container)");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("the container did not power off within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let report = fs::read_to_string(out.join("report")).unwrap_or_else(|e| {
        let mut stderr = String::new();
        let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr);
        panic!("no report ({e}); nspawn {status}: {stderr}")
    });
    let log = fs::read_to_string(out.join("init.log")).unwrap_or_default();
    let units = parse_show(&report);
    let init = &units["nodecap-init.service"];
    let kubelet = &units["kubelet.service"];
    assert_eq!(init["Result"], "success", "{report}\n{log}");
    assert_eq!(init["ExecMainStatus"], "0", "{log}");
    assert_eq!(kubelet["Result"], "success", "{report}");
    let done: u64 = init["ExecMainExitTimestampMonotonic"].parse().unwrap();
    let kubelet_start: u64 = kubelet["ExecMainStartTimestampMonotonic"].parse().unwrap();
    assert!(
        done > 0 && done <= kubelet_start,
        "init finished at {done}, kubelet started at {kubelet_start}"
    );
    assert!(log.contains("kubelet settings written"), "{log}");
    let seen = fs::read_to_string(out.join("seen-by-kubelet.conf")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&seen).unwrap();
    assert_eq!(json["maxPods"], 29);
    assert_eq!(json["kubeReserved"]["memory"], "574Mi");
    assert!(
        imds.requests()
            .contains(&"GET /latest/dynamic/instance-identity/document".to_owned())
    );
}
