//! `nodecap subnets` as a user runs it: against the AWS API emulator (a VPC the test creates:
//! three subnets, interfaces with secondary addresses, a reservation), and against the test
//! EC2 endpoint (`nodecap_testkit::ec2`) for what the emulator lacks: delegated prefixes
//! (the emulator ignores `Ipv4Prefix` on interfaces), paging (it answers every interface in
//! one page), throttling. Each expected figure is computed here from what was created, by
//! brute force over the addresses, not by nodecap's bitmap.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::Output;
use std::time::{Duration, Instant};

use nodecap_testkit::ec2::{self, Ec2Server, Fault};

use crate::common::{Daemon, assert_success, nodecap, value};

/// `nodecap subnets` with test credentials against `endpoint`, in us-east-1.
pub(crate) fn subnets(endpoint: &str, args: &[&str]) -> std::process::Command {
    let mut command = nodecap();
    command
        .args(["subnets", "--config", "/dev/null", "--region", "us-east-1"])
        .args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_REGION")
        .env_remove("RUST_LOG");
    command
}

fn once_json(endpoint: &str, args: &[&str]) -> serde_json::Value {
    let out = subnets(endpoint, &[&["--once", "-o", "json"], args].concat())
        .output()
        .unwrap();
    assert_success(&out, "nodecap");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// What a subnet's figures must be, computed address by address.
#[derive(Debug, PartialEq, Eq)]
struct Expected {
    usable: u64,
    used: u64,
    reserved: u64,
    available: u64,
    prefixes_free: u64,
    prefixes_free_reserved: u64,
}

fn expected(
    cidr: (Ipv4Addr, u8),
    used: &[Ipv4Addr],
    prefixes: &[Ipv4Addr],
    explicit: &[(Ipv4Addr, u8)],
    prefix_reserved: &[(Ipv4Addr, u8)],
) -> Expected {
    let inside = |a: u32, (net, len): (Ipv4Addr, u8)| {
        let mask = u32::MAX << (32 - len);
        a & mask == u32::from(net) & mask
    };
    let base = u32::from(cidr.0);
    let size = 1u32 << (32 - cidr.1);
    let mut held: BTreeSet<u32> = used.iter().map(|a| u32::from(*a)).collect();
    for p in prefixes {
        held.extend(u32::from(*p)..u32::from(*p) + 16);
    }
    let aws = |a: u32| a - base < 4 || a == base + size - 1;
    let is_explicit = |a: u32| explicit.iter().any(|r| inside(a, *r));
    let used = held.iter().filter(|a| !aws(**a)).count() as u64;
    let reserved = (base..base + size)
        .filter(|a| !aws(*a) && is_explicit(*a) && !held.contains(a))
        .count() as u64;
    let mut free = 0;
    let mut free_reserved = 0;
    for block in (base..base + size).step_by(16) {
        let addresses = block..block + 16;
        if addresses
            .clone()
            .all(|a| !aws(a) && !held.contains(&a) && !is_explicit(a))
        {
            free += 1;
            if addresses
                .clone()
                .all(|a| prefix_reserved.iter().any(|r| inside(a, *r)))
            {
                free_reserved += 1;
            }
        }
    }
    Expected {
        usable: u64::from(size) - 5,
        used,
        reserved,
        available: u64::from(size) - 5 - used - reserved,
        prefixes_free: free,
        prefixes_free_reserved: free_reserved,
    }
}

fn figures(subnet: &serde_json::Value) -> Expected {
    let n = |k: &str| {
        subnet[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} in {subnet}"))
    };
    Expected {
        usable: n("usable"),
        used: n("used"),
        reserved: n("reserved"),
        available: n("available"),
        prefixes_free: n("prefixes_free"),
        prefixes_free_reserved: n("prefixes_free_reserved"),
    }
}

fn ip(text: &str) -> Ipv4Addr {
    text.parse().unwrap()
}

// ---- the AWS API emulator -------------------------------------------------------------------

/// One unsigned Query call to the emulator (it does not check signatures): the answer's body.
fn emulator_call(endpoint: &str, params: &[(&str, &str)]) -> String {
    let addr: SocketAddr = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let body: String = [("Version", "2016-11-15")]
        .iter()
        .chain(params)
        .map(|(k, v)| {
            let encode = |s: &str| -> String {
                s.bytes()
                    .map(|b| {
                        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                            char::from(b).to_string()
                        } else {
                            format!("%{b:02X}")
                        }
                    })
                    .collect()
            };
            format!("{}={}", encode(k), encode(v))
        })
        .collect::<Vec<_>>()
        .join("&");
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{params:?}: {answer}");
    answer
}

/// The text of the first `<tag>` in `xml`.
fn element<'a>(xml: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no {tag} in {xml}"))
        + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>")).unwrap();
    &xml[start..end]
}

#[test]
#[ignore = "needs the AWS API emulator: tests/run.sh starts it"]
fn the_cluster_subnets_on_the_emulator() {
    let endpoint = std::env::var("TEST_AWS_ENDPOINT")
        .expect("TEST_AWS_ENDPOINT: the AWS API emulator's URL (tests/run.sh starts one)");
    // A VPC of this run's own (the emulator keeps earlier runs' resources).
    let stamp = crate::common::unique_stamp();
    let second = (stamp % 250) as u8 + 1;
    let cluster = format!("nodecap-test-{stamp}");
    let vpc_cidr = format!("10.{second}.0.0/16");
    let vpc = emulator_call(
        &endpoint,
        &[("Action", "CreateVpc"), ("CidrBlock", &vpc_cidr)],
    );
    let vpc = element(&vpc, "vpcId").to_owned();
    let subnet = |cidr: &str, tag: Option<(&str, &str)>| {
        let mut params = vec![
            ("Action", "CreateSubnet".to_owned()),
            ("VpcId", vpc.clone()),
            ("CidrBlock", cidr.to_owned()),
        ];
        if let Some((k, v)) = tag {
            params.push(("TagSpecification.1.ResourceType", "subnet".to_owned()));
            params.push(("TagSpecification.1.Tag.1.Key", k.to_owned()));
            params.push(("TagSpecification.1.Tag.1.Value", v.to_owned()));
        }
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        element(&emulator_call(&endpoint, &pairs), "subnetId").to_owned()
    };
    let net = |third: u8, fourth: u8| Ipv4Addr::new(10, second, third, fourth);
    let cluster_tag = format!("kubernetes.io/cluster/{cluster}");
    // The cluster's own /24; a CNI-discovery /26; an untagged /24 of the same VPC.
    let owned = subnet(
        &format!("10.{second}.1.0/24"),
        Some((&cluster_tag, "shared")),
    );
    let cni = subnet(
        &format!("10.{second}.2.0/26"),
        Some(("kubernetes.io/role/cni", "1")),
    );
    let untagged = subnet(&format!("10.{second}.3.0/24"), None);

    let interface = |subnet: &str, addresses: &[Ipv4Addr]| {
        let params = [
            ("Action", "CreateNetworkInterface".to_owned()),
            ("SubnetId", subnet.to_owned()),
        ];
        let keys: Vec<(String, String)> = addresses
            .iter()
            .enumerate()
            .flat_map(|(n, a)| {
                [
                    (
                        format!("PrivateIpAddresses.{}.PrivateIpAddress", n + 1),
                        a.to_string(),
                    ),
                    (
                        format!("PrivateIpAddresses.{}.Primary", n + 1),
                        (n == 0).to_string(),
                    ),
                ]
            })
            .collect();
        let mut pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        pairs.extend(keys.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        emulator_call(&endpoint, &pairs);
    };
    // The owned subnet: two interfaces (a primary and secondaries), addresses in four /28s,
    // and an explicit reservation of a /27.
    let owned_used = [
        net(1, 10),
        net(1, 11),
        net(1, 12),
        net(1, 40),
        net(1, 100),
        net(1, 101),
        net(1, 210),
    ];
    interface(&owned, &owned_used[..4]);
    interface(&owned, &owned_used[4..]);
    emulator_call(
        &endpoint,
        &[
            ("Action", "CreateSubnetCidrReservation"),
            ("SubnetId", &owned),
            ("Cidr", &format!("10.{second}.1.128/27")),
            ("ReservationType", "explicit"),
        ],
    );
    // The CNI subnet, fragmented: one address in each /28 AWS leaves whole, so 55 addresses
    // are free and not one aligned /28.
    let cni_used = [net(2, 20), net(2, 40)];
    interface(&cni, &cni_used);
    interface(&untagged, &[net(3, 10)]);

    let json = once_json(&endpoint, &["--cluster-name", &cluster]);
    let listed: Vec<&str> = json["subnets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["subnet_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed.iter().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([owned.as_str(), cni.as_str()]),
        "exactly the two tagged subnets: {json:#}"
    );
    assert_eq!(listed.len(), 2);
    let find = |id: &str| {
        json["subnets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["subnet_id"] == id)
            .unwrap()
            .clone()
    };
    let owned_view = find(&owned);
    assert_eq!(
        figures(&owned_view),
        expected((net(1, 0), 24), &owned_used, &[], &[(net(1, 128), 27)], &[])
    );
    assert_eq!(owned_view["network_interfaces"], 2);
    assert_eq!(owned_view["cidr"], format!("10.{second}.1.0/24"));
    assert_eq!(owned_view["vpc_id"], vpc);
    let cni_view = find(&cni);
    let want = expected((net(2, 0), 26), &cni_used, &[], &[], &[]);
    assert_eq!(figures(&cni_view), want);
    assert_eq!((want.available, want.prefixes_free), (57, 0));
    // Calls: two DescribeSubnets (the cluster tag, then the CNI tag in its VPC), one page of
    // interfaces, one reservation listing per subnet.
    assert_eq!(
        json["calls"],
        serde_json::json!({"DescribeNetworkInterfaces": 1, "DescribeSubnets": 2, "GetSubnetCidrReservations": 2})
    );

    // Explicit ids and the VPC alone select what they name.
    let json = once_json(&endpoint, &["--subnet-ids", &untagged]);
    assert_eq!(json["subnets"][0]["subnet_id"], untagged);
    assert_eq!(json["subnets"][0]["used"], 1);
    let json = once_json(&endpoint, &["--vpc-id", &vpc]);
    assert_eq!(json["subnets"].as_array().unwrap().len(), 3);
}

// ---- the test EC2 endpoint ------------------------------------------------------------------

fn subnet(id: &str, cidr: &str, zone: &str, tags: &[(&str, &str)]) -> ec2::Subnet {
    ec2::Subnet {
        id: id.to_owned(),
        vpc_id: "vpc-0a".to_owned(),
        cidr: cidr.to_owned(),
        availability_zone: zone.to_owned(),
        available_ip_address_count: 100,
        tags: tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..ec2::Subnet::default()
    }
}

/// A prefix-delegation subnet: 450 nodes' interfaces (three pages of 200), each with its
/// primary address and one /28, a prefix reservation and an explicit one.
fn prefix_delegation_vpc() -> (Vec<ec2::Subnet>, Vec<Ipv4Addr>, Vec<Ipv4Addr>) {
    let mut pd = subnet(
        "subnet-0d",
        "10.1.0.0/18",
        "us-east-1a",
        &[("kubernetes.io/cluster/prod", "owned")],
    );
    let mut used = Vec::new();
    let mut prefixes = Vec::new();
    for n in 0..450u32 {
        let address = Ipv4Addr::from(u32::from(ip("10.1.0.4")) + n);
        let prefix = Ipv4Addr::from(u32::from(ip("10.1.16.0")) + 16 * n);
        used.push(address);
        prefixes.push(prefix);
        pd.interfaces.push(ec2::Interface {
            id: format!("eni-{n:08x}"),
            instance_id: Some(format!("i-{n:08x}")),
            addresses: vec![address.to_string()],
            prefixes: vec![format!("{prefix}/28")],
        });
    }
    pd.reservations = vec![
        ("10.1.48.0/20".to_owned(), "prefix".to_owned()),
        ("10.1.40.0/24".to_owned(), "explicit".to_owned()),
    ];
    let other = subnet(
        "subnet-0e",
        "10.1.64.0/24",
        "us-east-1b",
        &[("kubernetes.io/role/cni", "1")],
    );
    (vec![pd, other], used, prefixes)
}

#[test]
fn prefixes_pages_and_reservations_from_the_test_endpoint() {
    let (vpc, used, prefixes) = prefix_delegation_vpc();
    let server = Ec2Server::start(vpc).unwrap();
    let json = once_json(&server.url(), &["--cluster-name", "prod"]);
    let pd = &json["subnets"][0];
    assert_eq!(pd["subnet_id"], "subnet-0d");
    assert_eq!(
        figures(pd),
        expected(
            (ip("10.1.0.0"), 18),
            &used,
            &prefixes,
            &[(ip("10.1.40.0"), 24)],
            &[(ip("10.1.48.0"), 20)]
        )
    );
    assert_eq!(
        (
            pd["prefixes_used"].as_u64(),
            pd["prefix_delegation_nodes"].as_u64()
        ),
        (Some(450), Some(450))
    );
    assert_eq!(pd["network_interfaces"], 450);
    assert_eq!(json["subnets"][1]["subnet_id"], "subnet-0e");
    // Three pages of interfaces (200 each), one DescribeSubnets per tag, a reservation
    // listing per subnet: 7 calls.
    assert_eq!(
        json["calls"],
        serde_json::json!({"DescribeNetworkInterfaces": 3, "DescribeSubnets": 2, "GetSubnetCidrReservations": 2})
    );
    assert_eq!(server.calls().len(), 7);
}

#[test]
fn throttling_and_server_errors_are_retried() {
    let (vpc, _, _) = prefix_delegation_vpc();
    let server = Ec2Server::start(vpc).unwrap();
    server.fail_next(&[Fault::Throttle, Fault::Server, Fault::Throttle]);
    let started = Instant::now();
    let json = once_json(&server.url(), &["--subnet-ids", "subnet-0e,subnet-0d"]);
    assert_eq!(json["subnets"].as_array().unwrap().len(), 2);
    // The first call failed three times before it was answered.
    assert_eq!(json["calls"]["DescribeSubnets"], 4);
    // Jittered backoff: at most 0.5 + 1 + 2 s.
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_hostile_answer_is_a_one_line_error() {
    let mut bad = subnet(
        &format!("subnet-{}", "a".repeat(100_000)),
        "10.0.0.0/24",
        "us-east-1a",
        &[],
    );
    bad.vpc_id = "vpc-0a".to_owned();
    let server = Ec2Server::start(vec![bad]).unwrap();
    let out = subnets(&server.url(), &["--once", "--vpc-id", "vpc-0a"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.len() < 200, "{err}");
    assert!(err.contains("SubnetId: expected subnet-"), "{err}");
    // An answer past the client's bound (16 MiB): refused while it is read, one line.
    let mut huge = subnet("subnet-0a", "10.0.0.0/24", "us-east-1a", &[]);
    huge.tags = vec![("Name".to_owned(), "x".repeat(17 * 1024 * 1024))];
    server.set_subnets(vec![huge]);
    let calls_before = server.calls().len();
    let out = subnets(&server.url(), &["--once", "--vpc-id", "vpc-0a"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(
        err.trim_end(),
        "nodecap: ec2:DescribeSubnets: the answer is longer than 16777216 bytes"
    );
    // The same call would get the same answer: not retried.
    assert_eq!(server.calls().len(), calls_before + 1);
    // A subnet that matches nothing: also one line, exit 69.
    let out = subnets(&server.url(), &["--once", "--cluster-name", "absent"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(69));
    assert_eq!(
        stderr(&out).trim(),
        "nodecap: no subnet tagged kubernetes.io/cluster/absent or kubernetes.io/role/cni"
    );
}

/// `nodecap subnets` running against `endpoint`, serving on its own port, ready; stopped on
/// drop.
pub(crate) fn running(endpoint: &str, args: &[&str]) -> Daemon {
    let running =
        Daemon::spawn(|addr| subnets(endpoint, &[&["--listen", &addr.to_string()], args].concat()));
    running.wait_for("/readyz", |r| r.get("/readyz").0 == 200);
    running
}

#[test]
fn serves_the_figures_and_keeps_the_last_good_view_when_a_cycle_fails() {
    let (vpc, _, _) = prefix_delegation_vpc();
    let server = Ec2Server::start(vpc).unwrap();
    let running = running(
        &server.url(),
        &["--cluster-name", "prod", "--interval", "1s"],
    );
    let (_, text) = running.get("/metrics");
    let free = value(
        &text,
        r#"nodecap_subnet_ipv4_prefixes_free{availability_zone="us-east-1a",subnet_id="subnet-0d"}"#,
    )
    .unwrap();
    assert!(free > 0.0, "{text}");
    assert_eq!(value(&text, "nodecap_subnets_stale"), Some(0.0));
    assert_eq!(
        value(
            &text,
            r#"nodecap_subnet_prefix_delegation_nodes{availability_zone="us-east-1a",subnet_id="subnet-0d"}"#
        ),
        Some(450.0)
    );

    // The API fails from now on (beyond the retries of a cycle): the figures stay, stale.
    server.fail_next(&[Fault::Server; 200]);
    running.wait_for("a stale view", |r| {
        value(&r.get("/metrics").1, "nodecap_subnets_stale") == Some(1.0)
    });
    let (_, text) = running.get("/metrics");
    assert_eq!(
        value(
            &text,
            r#"nodecap_subnet_ipv4_prefixes_free{availability_zone="us-east-1a",subnet_id="subnet-0d"}"#
        ),
        Some(free)
    );
    assert_eq!(value(&text, "nodecap_subnets_cycle_success"), Some(0.0));
    assert!(
        value(
            &text,
            r#"nodecap_subnets_api_errors_total{action="DescribeSubnets",kind="server"}"#
        )
        .unwrap()
            >= 5.0,
        "{text}"
    );
    assert_eq!(running.get("/healthz").0, 200);
}

#[test]
#[ignore = "needs promtool and the prometheus server; tests/run.sh installs them"]
fn promtool_and_a_real_prometheus_read_the_subnet_series() {
    let (vpc, _, _) = prefix_delegation_vpc();
    let server = Ec2Server::start(vpc).unwrap();
    let running = running(
        &server.url(),
        &["--cluster-name", "prod", "--interval", "1s"],
    );
    crate::daemon::promtool_check_metrics(&running.get("/metrics").1);
    let prometheus = crate::daemon::Prometheus::start(running.addr);
    let query = "/api/v1/query?query=nodecap_subnet_ipv4_addresses%7Bstate%3D%22available%22%2Csubnet_id%3D%22subnet-0e%22%7D";
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = prometheus.api(query);
        if let Some(first) = answer["data"]["result"].as_array().and_then(|r| r.first()) {
            // A /24 with nothing in it.
            assert_eq!(first["value"][1], "251", "{first}");
            break;
        }
        assert!(Instant::now() < deadline, "no subnet sample in Prometheus");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[ignore = "needs the AWS API emulator: tests/run.sh starts it"]
fn publishes_per_subnet_datums_to_cloudwatch() {
    let endpoint = std::env::var("TEST_AWS_ENDPOINT")
        .expect("TEST_AWS_ENDPOINT: the AWS API emulator's URL (tests/run.sh starts one)");
    let (vpc, _, _) = prefix_delegation_vpc();
    let server = Ec2Server::start(vpc).unwrap();
    let cluster = format!("subnets-{}", crate::common::unique_stamp());
    // EC2 from the test endpoint, CloudWatch from the emulator.
    let running = Daemon::spawn(|addr| {
        let mut command = subnets(
            &endpoint,
            &[
                "--cluster-name",
                "prod",
                "--interval",
                "2s",
                "--cloudwatch",
                "--listen",
                &addr.to_string(),
            ],
        );
        command
            .env("AWS_ENDPOINT_URL_EC2", server.url())
            .env("NODECAP_CLOUDWATCH_CLUSTER_NAME", &cluster);
        command
    });
    let cloudwatch = crate::common::Emulator::new(&endpoint);
    let deadline = Instant::now() + Duration::from_secs(30);
    let read = |name: &str, key: &str, value: &str| {
        cloudwatch.latest_max("nodecap", name, &[("ClusterName", &cluster), (key, value)])
    };
    let free = loop {
        if let Some(v) = read("SubnetFreeIPv4Prefixes", "SubnetId", "subnet-0d") {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "no datum in CloudWatch; log:\n{}",
            running.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let json = once_json(&server.url(), &["--cluster-name", "prod"]);
    assert_eq!(Some(free), json["subnets"][0]["prefixes_free"].as_f64());
    assert_eq!(
        read(
            "SubnetUsableIPv4Addresses",
            "AvailabilityZone",
            "us-east-1b"
        ),
        Some(251.0)
    );
}

/// The Deployment's memory limit (packaging/kubernetes/subnets/deployment.yaml).
const MEMORY_BUDGET_KIB: u64 = 64 * 1024;

#[test]
fn a_cycle_over_5000_interfaces_stays_within_the_memory_budget() {
    // 6 subnets, 5,000 interfaces of 10 addresses each: 25 pages of interfaces.
    let server = Ec2Server::start(ec2::synthetic_vpc("big", 6, 5000, 10, 0)).unwrap();
    let running = running(
        &server.url(),
        &["--cluster-name", "big", "--interval", "1h"],
    );
    let (_, text) = running.get("/metrics");
    assert_eq!(
        value(
            &text,
            r#"nodecap_subnets_api_calls_total{action="DescribeNetworkInterfaces"}"#
        ),
        Some(25.0)
    );
    let interfaces: f64 = crate::common::samples(&text)
        .iter()
        .filter(|(s, _)| s.starts_with("nodecap_subnet_network_interfaces{"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(interfaces, 5000.0);
    let peak = crate::common::hwm_kib(running.pid());
    assert!(peak < MEMORY_BUDGET_KIB, "peak RSS {peak} KiB");
}

#[test]
fn a_taken_port_and_a_bad_web_config_stop_it_at_start() {
    // Nothing to read from: the endpoint fails before any EC2 call.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = subnets(
        "http://127.0.0.1:9",
        &["--vpc-id", "vpc-0a", "--listen", &addr],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with(&format!("nodecap: cannot listen on {addr}")),
        "{}",
        stderr(&out)
    );
    let out = subnets(
        "http://127.0.0.1:9",
        &[
            "--vpc-id",
            "vpc-0a",
            "--listen",
            "127.0.0.1:0",
            "--web-config-file",
            "/nonexistent/web.yml",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("nodecap: web config: /nonexistent/web.yml"),
        "{}",
        stderr(&out)
    );
}
