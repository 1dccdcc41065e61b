//! The systemd units under real systemd: `systemd-analyze verify` with nothing on stderr, and a
//! boot under `systemd-nspawn` (systemd as PID 1) with a stub kubelet and the test IMDS,
//! showing nodecap-init finished before the kubelet started and the kubelet found its
//! settings in place.
//!
//! Ignored by a plain `cargo test` (they need root and systemd-container); `tests/run.sh`
//! installs what they need and runs them with `--include-ignored`.

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

/// A root with the unit, the binary, a shell (`ExecReload=`) and the distribution's units,
/// for offline verification.
fn verify_root(unit: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    fs::create_dir_all(r.join("etc/systemd/system")).unwrap();
    fs::create_dir_all(r.join("usr/bin")).unwrap();
    fs::create_dir_all(r.join("usr/lib/systemd")).unwrap();
    fs::copy("/bin/sh", r.join("usr/bin/sh")).unwrap();
    std::os::unix::fs::symlink("usr/bin", r.join("bin")).unwrap();
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
fn units_verify_cleanly() {
    for unit in ["nodecap-init.service", "nodecap.service"] {
        let root = verify_root(unit);
        let out = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(format!("--root={}", root.path().display()))
            .arg(unit)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.is_empty(),
            "verify {unit}: {stderr}"
        );
    }
}

/// `systemd-analyze security --offline=yes` exposure, e.g. 1.2.
fn exposure(unit: &str) -> f64 {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(repo().join("systemd").join(unit))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure line: {text}"));
    line.split(": ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unreadable: {line}"))
}

#[test]
#[ignore = "needs systemd-analyze: tests/run.sh runs it"]
fn units_are_hardened() {
    let daemon = exposure("nodecap.service");
    assert!(daemon <= 2.0, "nodecap.service exposure {daemon}");
    let init = exposure("nodecap-init.service");
    assert!(init <= 2.0, "nodecap-init.service exposure {init}");
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

    boot(
        "nodecap-init",
        &[
            ("bind-ro", &units, "/etc/systemd/system"),
            ("bind-ro", &opt, "/opt/nodecap"),
            ("bind", &out, "/out"),
            ("bind", &etc_kubernetes, "/etc/kubernetes"),
        ],
    );
    let report = fs::read_to_string(out.join("report")).unwrap();
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

/// The `flags` backend's file as systemd reads it: `nodecap-init` (hardened, at boot) merges
/// its flags into an environment file with `export`, a continuation and quotes; a stub
/// kubelet reads it with `EnvironmentFile=` and expands `$KUBELET_EXTRA_ARGS` into words
/// as the real unit does. It gets the user's flags and nodecap's, exactly, and so does bash.
#[test]
#[ignore = "needs root and systemd-nspawn: tests/run.sh runs it"]
fn the_flags_file_reads_the_same_to_systemd_and_bash() {
    let imds = ImdsServer::start(&Instance::example("m5.large", 3, 10)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let units = dir.path().join("units");
    let opt = dir.path().join("opt");
    let out = dir.path().join("out");
    let etc_default = dir.path().join("etc-default");
    for d in [&units, &opt, &out, &etc_default] {
        fs::create_dir_all(d).unwrap();
    }
    fs::copy(env!("CARGO_BIN_EXE_nodecap"), opt.join("nodecap")).unwrap();
    write(
        &etc_default.join("kubelet"),
        "# the user's flags\nexport KUBELET_EXTRA_ARGS=\"--node-labels=team=a,tier=web \\\n  --register-with-taints=gpu=true:NoSchedule\"\nOTHER='x y'\n",
    );
    fs::copy(
        repo().join("systemd/nodecap-init.service"),
        units.join("nodecap-init.service"),
    )
    .unwrap();
    write(
        &units.join("nodecap-init.service.d/test.conf"),
        &format!(
            "[Service]\nEnvironment=AWS_EC2_METADATA_SERVICE_ENDPOINT={}\nExecStart=\nExecStart=/opt/nodecap/nodecap init --backend flags\n",
            imds.url()
        ),
    );
    fs::create_dir_all(units.join("kubelet.service.wants")).unwrap();
    symlink(
        "../nodecap-init.service",
        units.join("kubelet.service.wants/nodecap-init.service"),
    )
    .unwrap();
    // The stub kubelet: its words, one a line, as the real unit would pass them.
    write(
        &units.join("kubelet.service"),
        "[Unit]\nDescription=stub kubelet\n[Service]\nType=oneshot\nRemainAfterExit=yes\n\
         EnvironmentFile=/etc/default/kubelet\n\
         ExecStart=/bin/sh -c 'printf \"%%s\\\\n\" \"$$@\" > /out/kubelet-args' kubelet $KUBELET_EXTRA_ARGS\n",
    );
    write(
        &units.join("report.service"),
        "[Unit]\nDescription=report\nWants=kubelet.service\nAfter=kubelet.service\n\
         [Service]\nType=oneshot\n\
         ExecStart=/bin/sh -c 'journalctl -u nodecap-init.service -u kubelet.service --no-pager > /out/boot.log 2>&1; systemctl poweroff'\n",
    );
    fs::create_dir_all(units.join("multi-user.target.wants")).unwrap();
    symlink(
        "../report.service",
        units.join("multi-user.target.wants/report.service"),
    )
    .unwrap();

    boot(
        "nodecap-flags",
        &[
            ("bind-ro", &units, "/etc/systemd/system"),
            ("bind-ro", &opt, "/opt/nodecap"),
            ("bind", &out, "/out"),
            ("bind", &etc_default, "/etc/default"),
        ],
    );
    let log = fs::read_to_string(out.join("boot.log")).unwrap_or_default();
    let seen = fs::read_to_string(out.join("kubelet-args"))
        .unwrap_or_else(|e| panic!("the stub kubelet did not run ({e}):\n{log}"));
    let expected = [
        "--node-labels=team=a,tier=web",
        "--register-with-taints=gpu=true:NoSchedule",
        "--max-pods=29",
        "--kube-reserved=cpu=70m,ephemeral-storage=1Gi,memory=574Mi",
        "--system-reserved=cpu=100m,ephemeral-storage=1Gi,memory=200Mi",
        "--eviction-hard=imagefs.available<15%,imagefs.inodesFree<5%,memory.available<200Mi,nodefs.available<10%,nodefs.inodesFree<5%",
    ];
    assert_eq!(seen.lines().collect::<Vec<_>>(), expected, "{log}");
    assert_eq!(
        crate::hostile::bash_words(&etc_default.join("kubelet")),
        seen.lines().collect::<Vec<_>>(),
        "bash reads it as systemd does"
    );
}

/// Boots real systemd in a throwaway root (the host's read-only /usr, a tmpfs for the rest)
/// with `binds` (`bind` or `bind-ro`, host path, container path), sharing the host's network,
/// until a unit of the test's powers it off. Panics with nspawn's stderr when it fails.
fn boot(name: &str, binds: &[(&str, &Path, &str)]) {
    let mut command = Command::new("systemd-nspawn");
    command
        .args([
            "-D",
            "/",
            "--volatile=yes",
            "--register=no",
            "--keep-unit",
            "--quiet",
        ])
        .arg(format!("--machine={name}-{}", std::process::id()));
    for (flag, from, to) in binds {
        command.arg(format!("--{flag}={}:{to}", from.display()));
    }
    let mut child = command
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
    if !status.success() {
        let mut stderr = String::new();
        let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr);
        // nspawn's exit status is the container's; a poweroff is 0.
        panic!("nspawn {status}: {stderr}");
    }
}

#[test]
#[ignore = "needs root and systemd-nspawn: tests/run.sh runs it"]
fn daemon_serves_under_its_hardened_unit() {
    let imds = ImdsServer::start(&Instance::example("m5.large", 3, 10)).unwrap();
    let fixtures = repo().join("tests/fixtures");
    let ipamd = nodecap_testkit::ipamd::IpamdServer::start(
        &fs::read_to_string(fixtures.join("ipamd/metrics-v1.19-m5.large.prom")).unwrap(),
        &fs::read_to_string(fixtures.join("ipamd/enis-v1.20-m5.large.json")).unwrap(),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let units = dir.path().join("units");
    let opt = dir.path().join("opt");
    let out = dir.path().join("out");
    let etc_nodecap = dir.path().join("etc-nodecap");
    let etc_kubernetes = dir.path().join("etc-kubernetes");
    for d in [&units, &opt, &out, &etc_nodecap, &etc_kubernetes] {
        fs::create_dir_all(d).unwrap();
    }
    // The container's own /proc, /sys and cgroups are real; the kubelet's config is the fixture.
    fs::copy(
        fixtures.join("host-cgroup2/etc/kubernetes/kubelet/config.json"),
        etc_kubernetes.join("config.json"),
    )
    .unwrap();
    fs::copy(env!("CARGO_BIN_EXE_nodecap"), opt.join("nodecap")).unwrap();
    // Configured the way an operator does: /etc/nodecap/config.toml, not flags.
    write(
        &etc_nodecap.join("config.toml"),
        &format!(
            "[imds]\nendpoint = \"{}\"\n[kubelet]\nkubelet_config = \"/etc/kubernetes/kubelet/config.json\"\n\
             [run]\nlisten = \"127.0.0.1:{port}\"\ninterval = \"1s\"\n\
             ipamd_metrics_url = \"{}\"\nipamd_introspection_url = \"{}\"\n",
            imds.url(),
            ipamd.metrics_url(),
            ipamd.enis_url()
        ),
    );
    fs::copy(
        repo().join("systemd/nodecap.service"),
        units.join("nodecap.service"),
    )
    .unwrap();
    write(
        &units.join("nodecap.service.d/test.conf"),
        "[Service]\nExecStart=\nExecStart=/opt/nodecap/nodecap run\n",
    );
    fs::create_dir_all(units.join("multi-user.target.wants")).unwrap();
    symlink(
        "../nodecap.service",
        units.join("multi-user.target.wants/nodecap.service"),
    )
    .unwrap();
    write(
        &units.join("report.service"),
        &format!(
            "[Unit]\nDescription=report\nAfter=nodecap.service\n[Service]\nType=oneshot\n\
             ExecStart=/bin/sh -c 'for i in $(seq 150); do curl -sf http://127.0.0.1:{port}/readyz >/dev/null && break; sleep 0.1; done; \
             curl -s http://127.0.0.1:{port}/metrics > /out/metrics; \
             systemctl show nodecap.service -p Id,ActiveState,User,DynamicUser > /out/report; \
             cat /sys/fs/cgroup/system.slice/memory.current /sys/fs/cgroup/memory/system.slice/memory.usage_in_bytes > /out/system-slice 2>/dev/null; journalctl -u nodecap.service --no-pager > /out/daemon.log 2>&1; systemctl poweroff'\n"
        ),
    );
    symlink(
        "../report.service",
        units.join("multi-user.target.wants/report.service"),
    )
    .unwrap();

    boot(
        "nodecap-run",
        &[
            ("bind-ro", &units, "/etc/systemd/system"),
            ("bind-ro", &opt, "/opt/nodecap"),
            ("bind-ro", &etc_nodecap, "/etc/nodecap"),
            ("bind-ro", &etc_kubernetes, "/etc/kubernetes/kubelet"),
            ("bind", &out, "/out"),
        ],
    );
    let log = fs::read_to_string(out.join("daemon.log")).unwrap_or_default();
    let report = fs::read_to_string(out.join("report")).unwrap();
    assert!(report.contains("ActiveState=active"), "{report}\n{log}");
    let metrics = fs::read_to_string(out.join("metrics")).unwrap();
    let value = |series: &str| {
        metrics
            .lines()
            .find_map(|l| {
                l.strip_prefix(series)
                    .and_then(|rest| rest.strip_prefix(' '))
            })
            .map(str::to_owned)
    };
    // Every collector works under the sandbox (the ENA one has no device here).
    for collector in [
        "imds",
        "ipamd_metrics",
        "ipamd_introspection",
        "ipamd_settings",
        "memory",
        "ena",
        "kubelet",
    ] {
        assert_eq!(
            value(&format!(
                "nodecap_collector_success{{collector=\"{collector}\"}}"
            ))
            .as_deref(),
            Some("1"),
            "{collector}\n{log}"
        );
    }
    assert_eq!(
        value("nodecap_kubelet_max_pods").as_deref(),
        Some("29"),
        "{log}"
    );
    assert_eq!(
        value("nodecap_ipv4_addresses{state=\"free\"}").as_deref(),
        Some("20")
    );
    assert!(
        value("nodecap_memory_total_bytes").is_some(),
        "/proc/meminfo unreadable:\n{log}"
    );
    // Where root can read system.slice's memory (a cgroup v2 or v1 memory hierarchy; this
    // host's nspawn gives neither), the sandboxed daemon must read it too.
    let root_reads = !fs::read_to_string(out.join("system-slice"))
        .unwrap_or_default()
        .trim()
        .is_empty();
    assert_eq!(
        metrics.contains("nodecap_cgroup_memory_usage_bytes{slice=\"system.slice\"}"),
        root_reads,
        "system.slice memory: root reads it: {root_reads}\n{log}"
    );
}
