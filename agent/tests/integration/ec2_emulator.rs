//! `init` against the AWS API emulator (LocalStack, started by `tests/run.sh`): the EC2 API
//! sizes the node and the answer is cached; with the emulator gone, the cache still sizes it.
//!
//! Ignored by a plain `cargo test`: `tests/run.sh` starts LocalStack, sets
//! `TEST_AWS_ENDPOINT` and runs these with `--include-ignored`.

use crate::common::assert_success;
use std::path::Path;
use std::process::Output;

use nodecap_testkit::imds::{ImdsServer, Instance};

fn emulator() -> String {
    std::env::var("TEST_AWS_ENDPOINT")
        .expect("TEST_AWS_ENDPOINT: the AWS API emulator's URL (tests/run.sh starts one)")
}

fn init(imds: &ImdsServer, root: &Path, endpoint: &str, extra: &[&str]) -> Output {
    crate::common::nodecap()
        .args([
            "init",
            "--config",
            "/dev/null",
            "--backend",
            "kubelet-dropin",
            "--imds-deadline",
            "20",
        ])
        .arg("--kubelet-config-dir")
        .arg(root.join("conf.d"))
        .arg("--state-dir")
        .arg(root.join("state"))
        .args(extra)
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url())
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
#[ignore = "needs the AWS API emulator: tests/run.sh starts it"]
fn sized_through_the_api_then_from_the_cache() {
    let endpoint = emulator();
    let imds = ImdsServer::start(&Instance::example("m5.large", 3, 10)).unwrap();
    let root = tempfile::tempdir().unwrap();

    // --dry-run asks the API but writes nothing, the cache included (the README's promise).
    let cache = root.path().join("state/instance-types/m5.large.json");
    let out = init(
        &imds,
        root.path(),
        &endpoint,
        &["--prefer-api", "--dry-run"],
    );
    assert_success(&out, "nodecap");
    assert!(
        stderr(&out).contains("instance limits source=api"),
        "{}",
        stderr(&out)
    );
    assert!(!cache.exists(), "--dry-run wrote {}", cache.display());

    // prefer_api: the embedded table is skipped, as for a type this build does not know.
    let out = init(&imds, root.path(), &endpoint, &["--prefer-api"]);
    assert_success(&out, "nodecap");
    assert!(
        stderr(&out).contains("instance limits source=api"),
        "{}",
        stderr(&out)
    );
    let cached: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    assert_eq!(cached["InstanceType"], "m5.large");
    assert_eq!(cached["NetworkInfo"]["Ipv4AddressesPerInterface"], 10);
    let dropin = root.path().join("conf.d/40-nodecap.conf");
    let written = std::fs::read_to_string(&dropin).unwrap();
    assert!(written.contains("\"maxPods\": 29"), "{written}");

    // The emulator is gone: the cache answers, and the file does not change.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = init(
        &imds,
        root.path(),
        &format!("http://{closed}"),
        &["--prefer-api"],
    );
    assert_success(&out, "nodecap");
    assert!(
        stderr(&out).contains("instance limits source=cache"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("kubelet settings unchanged"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&dropin).unwrap(), written);
}

#[test]
#[ignore = "needs the AWS API emulator: tests/run.sh starts it"]
fn a_type_nobody_knows_fails_with_the_api_error() {
    let endpoint = emulator();
    let imds = ImdsServer::start(&Instance::example("x9z.large", 3, 10)).unwrap();
    let root = tempfile::tempdir().unwrap();
    let out = init(&imds, root.path(), &endpoint, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let line = stderr(&out)
        .lines()
        .find(|l| l.starts_with("nodecap: "))
        .unwrap()
        .to_owned();
    assert!(
        line.contains("ec2:DescribeInstanceTypes x9z.large in us-east-1"),
        "{line}"
    );
    assert!(!root.path().join("conf.d").exists());
}
