//! The CloudWatch publisher in process, against the AWS API emulator behind a counting proxy:
//! how many PutMetricData calls a large publication takes. (`tests/daemon.rs` covers the
//! publisher inside the daemon: read-back, compatibility mode, faults.)
//!
//! Ignored by a plain `cargo test` (needs the emulator); `tests/run.sh` starts it and sets
//! `NODECAP_TEST_AWS_ENDPOINT`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime};

use nodecap::cloudwatch::datums::{Datum, Unit};
use nodecap::cloudwatch::{Publisher, SharedStats, read_stats};
use nodecap::config::CloudwatchSettings;
use nodecap_testkit::proxy::FaultProxy;

#[test]
#[ignore = "needs the AWS API emulator (NODECAP_TEST_AWS_ENDPOINT): tests/run.sh starts it"]
fn twenty_five_hundred_datums_take_three_calls() {
    let endpoint = std::env::var("NODECAP_TEST_AWS_ENDPOINT").expect("NODECAP_TEST_AWS_ENDPOINT");
    let proxy = FaultProxy::start(&endpoint).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stats = SharedStats::default();
    runtime.block_on(async {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(proxy.url())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_cloudwatch::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await;
        let settings = CloudwatchSettings {
            cluster_name: "bars-batching".to_owned(),
            namespace: "nodecap-batching".to_owned(),
            interval: Duration::from_secs(60),
            per_node: false,
            node_name: None,
            compat: false,
            queue_datums: 10_000,
            region: None,
        };
        let mut publisher = Publisher::new(settings, stats.clone())
            .with_client(aws_sdk_cloudwatch::Client::new(&config));
        let now = SystemTime::now();
        publisher.enqueue_datums(
            (0..2500)
                .map(|i| Datum {
                    name: format!("Metric{}", i % 100),
                    dimensions: vec![
                        ("ClusterName".to_owned(), "bars-batching".to_owned()),
                        ("NodeName".to_owned(), format!("node-{}", i / 100)),
                    ],
                    value: f64::from(i),
                    unit: Unit::Count,
                    timestamp: now,
                })
                .collect(),
        );
        publisher
            .flush(None, tokio::time::Instant::now() + Duration::from_secs(30))
            .await;
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
