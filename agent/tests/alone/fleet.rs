//! A simulated fleet publishing to CloudWatch in the AWS API emulator: 200 `nodecap run`
//! processes, each with its own test IMDS (instance id, type, zone) and test ipamd (its own
//! `/v1/enis`), publishing every minute (the default) through a counting proxy. Checks that the cluster rollup
//! is CloudWatch's own Sum (one datum per node per period, none doubled) and reports the
//! calls per minute and the distinct metrics the fleet creates: the README's cost figures.
//!
//! Ignored by a plain `cargo test`; `tests/run.sh` starts the emulator and runs it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime};

use crate::common::{
    Daemon, Emulator, Node, aws_env, raise_open_files, samples, unique_stamp, value,
};
use nodecap_testkit::imds::Instance;
use nodecap_testkit::ipamd::enis_document;
use nodecap_testkit::proxy::FaultProxy;

const NODES: usize = 200;
/// Publication period, seconds: production's default. (The emulator stores about 500 datums
/// a second; 200 nodes × 72 datums a period needs a period this long.)
const PERIOD: u64 = 60;
const TYPES: [&str; 2] = ["m5.large", "c5.large"];
const ZONES: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];

#[test]
#[ignore = "needs the AWS API emulator (TEST_AWS_ENDPOINT): tests/run.sh starts it"]
fn two_hundred_nodes_add_up_to_the_cluster_total() {
    let _alone = crate::alone();
    let endpoint = std::env::var("TEST_AWS_ENDPOINT").expect("TEST_AWS_ENDPOINT");
    // 400 test servers, 200 children and their connections.
    raise_open_files(8192);
    let proxy = FaultProxy::start(&endpoint).unwrap();
    let cloudwatch = Emulator::new(&endpoint);
    let stamp = unique_stamp();
    // A namespace of its own: the emulator keeps what earlier runs published.
    let namespace = format!("nodecap-fleet-{stamp}");
    // The emulator loads a service on its first call, which can take longer than a node's
    // 10 s call timeout on a busy machine: make that call ours.
    assert!(cloudwatch.list_metrics(&namespace).is_empty());
    let cluster = "bars-fleet";
    let started = SystemTime::now();
    let proxy_url = proxy.url();
    let aws = aws_env(&proxy_url);
    let period = format!("{PERIOD}s");

    let fleet: Vec<(Node, Daemon)> = (0..NODES)
        .map(|i| {
            let mut instance = Instance::example(TYPES[i % TYPES.len()], 3, 10);
            instance.instance_id = format!("i-{:017x}", i + 1);
            instance.availability_zone = ZONES[i % ZONES.len()].to_owned();
            // 27 addresses in the warm pool, 0–24 of them holding pods.
            let node = Node::with(&instance, &enis_document(&instance, i % 25));
            let daemon = Daemon::start_env(
                &node,
                &[
                    "--interval",
                    &period,
                    "--cloudwatch",
                    "--cluster-name",
                    cluster,
                    "--cloudwatch-namespace",
                    &namespace,
                    "--cloudwatch-interval",
                    &period,
                ],
                &aws,
            );
            (node, daemon)
        })
        .collect();
    let all_up = Instant::now();
    eprintln!(
        "fleet: {NODES} nodes up in {:.0} s",
        SystemTime::now()
            .duration_since(started)
            .unwrap()
            .as_secs_f64()
    );

    // What the nodes themselves say.
    let free: Vec<f64> = fleet
        .iter()
        .map(|(_, d)| value(&d.metrics(), r#"nodecap_ipv4_addresses{state="free"}"#).unwrap())
        .collect();
    let fleet_free: f64 = free.iter().sum();
    assert_eq!(
        fleet_free,
        (0..NODES).map(|i| 27.0 - (i % 25) as f64).sum::<f64>(),
        "the nodes read their own ipamd documents"
    );

    // One whole period with every node up: each publishes once in it, at its own offset.
    let first = next_boundary();
    sleep_until(first);
    let (calls_before, _) = proxy.counts();
    let errors_before: Vec<f64> = fleet.iter().map(|(_, d)| errors(&d.metrics())).collect();
    sleep_until(first + Duration::from_secs(PERIOD));
    let (calls_after, _) = proxy.counts();
    let calls = calls_after - calls_before;

    // The rollup per instance type and per zone. (Summed over the `{ClusterName,
    // InstanceType}` metrics: the emulator matches dimensions by substring, so its
    // `{ClusterName}` query would also take the other two sets; CloudWatch matches exact
    // sets.) In the whole period, the Sum is the fleet's total and the SampleCount the node
    // count; no period has more datums than nodes (none doubled).
    let rollup = |key: &str, values: &[&str], stat: &str| -> BTreeMap<i64, f64> {
        let mut buckets = BTreeMap::new();
        for v in values {
            let dimensions = [("ClusterName", cluster), (key, *v)];
            let series = cloudwatch
                .series(
                    (&namespace, "IPv4AddressesFree", &dimensions),
                    stat,
                    PERIOD,
                    started,
                )
                .unwrap_or_default();
            for (at, value) in series {
                *buckets.entry(at).or_default() += value;
            }
        }
        buckets
    };
    let whole = i64::try_from(
        first
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    // The emulator may still be storing the last calls of the period.
    let deadline = Instant::now() + Duration::from_secs(30);
    for (key, values) in [
        ("InstanceType", &TYPES[..]),
        ("AvailabilityZone", &ZONES[..]),
    ] {
        loop {
            let counts = rollup(key, values, "SampleCount");
            for (at, count) in &counts {
                assert!(
                    *count <= NODES as f64,
                    "period {at}: {count} datums by {key} from {NODES} nodes"
                );
            }
            if counts.get(&whole) == Some(&(NODES as f64)) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "period {whole} by {key}: {:?} datums, expected {NODES}; node 0's log:\n{}",
                counts.get(&whole),
                fleet[0].1.log()
            );
            std::thread::sleep(Duration::from_secs(1));
        }
        let sums = rollup(key, values, "Sum");
        assert_eq!(
            sums.get(&whole),
            Some(&fleet_free),
            "Sum by {key}, period {whole}"
        );
    }

    // The cost: calls per minute and distinct metrics.
    let metrics = cloudwatch.list_metrics(&namespace);
    let names: BTreeSet<&str> = metrics.iter().map(|(n, _)| n.as_str()).collect();
    let sets: BTreeSet<Vec<&str>> = metrics
        .iter()
        .map(|(_, d)| d.iter().map(|(k, _)| k.as_str()).collect())
        .collect();
    eprintln!(
        "fleet: {NODES} nodes publishing every {PERIOD} s: {calls} PutMetricData calls in one \
         whole period; {} distinct metrics = {} names × (1 cluster + {} instance types + {} \
         zones), none per node",
        metrics.len(),
        names.len(),
        TYPES.len(),
        ZONES.len(),
    );
    // One call per node per period (a node's offset within the period is fixed, so exactly
    // one falls in any window of one period; a retried call would add one).
    assert!(
        (NODES as u64..=NODES as u64 + 5).contains(&calls),
        "{calls} calls in a period from {NODES} nodes"
    );
    assert_eq!(proxy.refused(), 0, "no call was refused by the proxy");
    assert_eq!(sets.len(), 3, "three dimension sets: {sets:?}");
    assert_eq!(
        metrics.len(),
        names.len() * (1 + TYPES.len() + ZONES.len()),
        "every name in every set, nothing per node: {names:?}"
    );

    // Nothing was dropped on any node, and no call failed in the measured period (a call
    // that timed out may have landed: its retry would count twice). Failures while 200
    // processes start on a small machine are reported, not judged.
    let mut warming = 0.0;
    for (i, (_, daemon)) in fleet.iter().enumerate() {
        let text = daemon.metrics();
        let dropped = value(&text, "nodecap_cloudwatch_datums_dropped_total");
        assert_eq!(dropped, Some(0.0), "node {i} dropped datums");
        assert_eq!(
            errors(&text) - errors_before[i],
            0.0,
            "node {i}: failed calls in the measured period; log:\n{}",
            daemon.log()
        );
        warming += errors_before[i];
    }
    eprintln!("fleet: {warming} failed calls before the measured period, none in it");
    drop(fleet);
    eprintln!(
        "fleet: {:.0} s with all nodes up",
        all_up.elapsed().as_secs_f64()
    );
}

/// Every failed CloudWatch call a node has counted, of any kind.
fn errors(text: &str) -> f64 {
    samples(text)
        .iter()
        .filter(|(s, _)| s.starts_with("nodecap_cloudwatch_errors_total"))
        .map(|(_, v)| v)
        .sum()
}

/// The next multiple of `PERIOD` since the Unix epoch: where CloudWatch's periods start.
fn next_boundary() -> SystemTime {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    SystemTime::UNIX_EPOCH + Duration::from_secs((now / PERIOD + 1) * PERIOD)
}

fn sleep_until(at: SystemTime) {
    if let Ok(wait) = at.duration_since(SystemTime::now()) {
        std::thread::sleep(wait);
    }
}
