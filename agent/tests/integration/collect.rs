//! The collectors in process, against the test IMDS and the test ipamd: a tick runs every
//! collector at once, so it takes as long as its slowest source, not the sum of them.

use std::time::{Duration, Instant};

use nodecap::aws::limits::Lookup;
use nodecap::daemon::collect::{Collectors, Health, Sources};
use nodecap::kubelet::Targets;
use nodecap_testkit::imds::{ImdsServer, Instance};
use nodecap_testkit::ipamd::IpamdServer;

use crate::common::{fixture, fixtures};

/// How late every ipamd answer is.
const SLOW: Duration = Duration::from_secs(2);
/// How late IMDS's list of the node's ENIs is: the IMDS client gives an answer 2 s before it
/// retries, so this is as late as IMDS can be and still answer.
const IMDS_SLOW: Duration = Duration::from_millis(1900);

#[tokio::test(flavor = "current_thread")]
async fn a_tick_takes_as_long_as_its_slowest_source() {
    let imds = ImdsServer::start(&Instance::example("m5.large", 3, 10)).unwrap();
    let ipamd = IpamdServer::start(
        &fixture("ipamd/metrics-v1.19-m5.large.prom"),
        &fixture("ipamd/enis-v1.20-m5.large.json"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        fixture("host-cgroup2/etc/kubernetes/kubelet/config.json"),
    )
    .unwrap();
    let host = fixtures().join("host-cgroup2");
    let sources = Sources {
        imds: imds.url().parse().unwrap(),
        lookup: Lookup {
            state_dir: dir.path().join("state"),
            deadline: Duration::from_secs(20),
            ..Lookup::default()
        },
        ipamd_metrics_url: ipamd.metrics_url().parse().unwrap(),
        ipamd_introspection_url: ipamd.enis_url().parse().unwrap(),
        cni_declared: nodecap::daemon::collect::ipamd_settings::Declared::default(),
        proc_root: host.join("proc"),
        sys_root: host.join("sys"),
        kubelet: Targets {
            nodeadm_config_dir: dir.path().join("nodeadm.d"),
            kubelet_config_dir: dir.path().join("config.json.d"),
            kubelet_config: dir.path().join("config.json"),
            kubelet_env_file: dir.path().join("kubelet.env"),
            ..Targets::default()
        },
    };
    let mut collectors = Collectors::new(&sources);
    // The first tick sizes the node and learns its ENIs' attachments, at full speed.
    collectors.collect().await;

    imds.set_delay_for("meta-data/network/interfaces/macs/", IMDS_SLOW);
    ipamd.set_delay(SLOW);
    let start = Instant::now();
    let observations = collectors.collect().await;
    let took = start.elapsed();

    for status in &observations.statuses {
        assert!(
            matches!(status.health, Health::Ok | Health::NotApplicable(_)),
            "{status:?}"
        );
    }
    let slowest = observations
        .statuses
        .iter()
        .map(|s| s.duration)
        .max()
        .unwrap();
    let sum: Duration = observations.statuses.iter().map(|s| s.duration).sum();
    eprintln!("tick {took:?}; slowest collector {slowest:?}; collectors' sum {sum:?}");
    // Three sources about 2 s late each: 5.9 s one after another, about 2 s at once.
    assert!(
        sum >= 2 * SLOW + IMDS_SLOW,
        "the sources were not slow: {sum:?}"
    );
    assert!(took >= SLOW, "{took:?}");
    assert!(took < Duration::from_secs(3), "a tick took {took:?}");
    assert_eq!(observations.imds.unwrap().enis.len(), 3);
    assert_eq!(observations.ipamd_pools.unwrap().totals().assigned, 7);
}
