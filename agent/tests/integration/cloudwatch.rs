//! The CloudWatch publisher in process, against the AWS API emulator behind a counting proxy:
//! how many PutMetricData calls a large publication takes, what happens while the emulator
//! is stopped (connections refused) and after it returns, and memory over a long throttled
//! run. (`daemon.rs` covers the publisher inside the daemon: read-back, compatibility
//! mode, faults, the final flush; `agent/tests/fleet.rs` a fleet of 200.)
//!
//! Ignored by a plain `cargo test` (needs the emulator); `tests/run.sh` starts it and sets
//! `TEST_AWS_ENDPOINT`. The memory test runs alone in a child process, so it measures
//! only itself.

use std::time::{Duration, SystemTime};

use crate::common::{alone, rss_kib, sdk_loader};
use nodecap::telemetry::cloudwatch::datum::{Datum, Unit};
use nodecap::telemetry::cloudwatch::{
    ErrorKind, Publisher, Settings, SharedStats, Stats, read_stats,
};
use nodecap_testkit::proxy::{Fault, FaultProxy};
use tokio::time::Instant;

fn endpoint() -> String {
    std::env::var("TEST_AWS_ENDPOINT").expect("TEST_AWS_ENDPOINT")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A publisher sending to `url` with test credentials, queue bound `queue_datums`.
async fn publisher(url: &str, queue_datums: usize, stats: &SharedStats) -> Publisher {
    let config = sdk_loader(url)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let settings = Settings {
        cluster_name: Some("bars-publisher".parse().unwrap()),
        cluster_name_from: None,
        namespace: "nodecap-publisher".to_owned(),
        interval: Duration::from_secs(60),
        per_node: false,
        node_name: None,
        compat: false,
        queue_datums,
        region: None,
    };
    Publisher::new(settings, stats.clone()).with_client(aws_sdk_cloudwatch::Client::new(&config))
}

/// `n` datums: 100 names, one node per 100.
fn datums(n: u32) -> Vec<Datum> {
    let now = SystemTime::now();
    (0..n)
        .map(|i| Datum {
            name: format!("Metric{}", i % 100),
            dimensions: vec![
                ("ClusterName".to_owned(), "bars-publisher".to_owned()),
                ("NodeName".to_owned(), format!("node-{}", i / 100)),
            ],
            value: f64::from(i),
            unit: Unit::Count,
            timestamp: now,
        })
        .collect()
}

fn in_secs(s: u64) -> Instant {
    Instant::now() + Duration::from_secs(s)
}

fn errors(stats: &Stats, kind: ErrorKind) -> u64 {
    stats.errors.get(&kind).copied().unwrap_or(0)
}

#[test]
#[ignore = "needs the AWS API emulator (TEST_AWS_ENDPOINT): tests/run.sh starts it"]
fn twenty_five_hundred_datums_take_three_calls() {
    let proxy = FaultProxy::start(&endpoint()).unwrap();
    let stats = SharedStats::default();
    runtime().block_on(async {
        let mut publisher = publisher(&proxy.url(), 10_000, &stats).await;
        publisher.enqueue_datums(datums(2500));
        publisher.flush(None, in_secs(30)).await;
    });
    let stats = read_stats(&stats);
    assert_eq!(
        (stats.sent, stats.queued, stats.dropped),
        (2500, 0, 0),
        "{stats:?}"
    );
    assert!(stats.errors.is_empty(), "{stats:?}");
    // 1,000 + 1,000 + 500: three calls, all forwarded, none retried.
    assert_eq!(proxy.counts(), (3, 3));
}

#[test]
#[ignore = "needs the AWS API emulator (TEST_AWS_ENDPOINT): tests/run.sh starts it"]
fn a_stopped_endpoint_is_retried_and_publishing_resumes_when_it_returns() {
    // A port nothing listens on: every connection is refused, as with the emulator stopped.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let stats = SharedStats::default();
    let rt = runtime();
    let mut publisher = rt.block_on(publisher(&format!("http://{addr}"), 1000, &stats));
    rt.block_on(async {
        publisher.enqueue_datums(datums(72));
        publisher.flush(None, in_secs(2)).await;
    });
    let stopped = read_stats(&stats);
    // Refused, retried with backoff (200 ms, 400 ms, 800 ms … within the 2 s), kept.
    assert!(
        (2..=5).contains(&errors(&stopped, ErrorKind::Network)),
        "{stopped:?}"
    );
    assert_eq!(
        (stopped.sent, stopped.queued, stopped.dropped),
        (0, 72, 0),
        "{stopped:?}"
    );

    // The endpoint is back (the emulator behind a proxy on the same port).
    let proxy = FaultProxy::start_on(addr, &endpoint()).unwrap();
    rt.block_on(publisher.flush(None, in_secs(10)));
    let back = read_stats(&stats);
    assert_eq!(
        (back.sent, back.queued, back.dropped),
        (72, 0, 0),
        "{back:?}"
    );
    assert_eq!(proxy.counts(), (1, 1));
}

#[test]
#[ignore = "needs the AWS API emulator (TEST_AWS_ENDPOINT): tests/run.sh starts it"]
fn memory_stays_flat_over_a_long_throttled_run() {
    if !alone("cloudwatch::memory_stays_flat_over_a_long_throttled_run") {
        return;
    }
    let proxy = FaultProxy::start(&endpoint()).unwrap();
    proxy.set_fault(Fault::Throttle);
    let stats = SharedStats::default();
    let rt = runtime();
    let mut publisher = rt.block_on(publisher(&proxy.url(), 150, &stats));
    // Each round is one publication of a node (72 datums) and one throttled call; the
    // queue (150) drops the oldest. 2,000 rounds: 33 hours of minutely publication.
    let mut round = |n: usize| {
        for _ in 0..n {
            publisher.enqueue_datums(datums(72));
            rt.block_on(publisher.flush(None, Instant::now()));
        }
    };
    round(200);
    let me = i32::try_from(std::process::id()).unwrap();
    let warm = rss_kib(me);
    round(1800);
    let after = rss_kib(me);
    let stats = read_stats(&stats);
    eprintln!(
        "2,000 throttled publications: RSS {warm} KiB after 200, {after} KiB after 2,000; \
         {stats:?}"
    );
    assert_eq!(errors(&stats, ErrorKind::Throttling), 2000, "{stats:?}");
    assert_eq!(stats.queued, 150);
    assert_eq!(stats.dropped, 2000 * 72 - 150);
    assert!(after < warm + 1024, "RSS {warm} KiB → {after} KiB");
}
