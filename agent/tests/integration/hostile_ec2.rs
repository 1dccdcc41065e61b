//! Rows 5 to 8 of the third hostile review: EC2 answers within the byte bound whose content
//! became far more than their bytes (16 MiB of empty `<item/>` took `init` to half a GiB and
//! `subnets` to 668 MiB), listings with no cap across pages (100,000 subnets, a million
//! interfaces), page tokens of megabytes copied into every request, and `--once` paging on for
//! 25 minutes. Each case is a test endpoint of its own serving that answer; each asserts the
//! exit code, the one error line naming the list and its cap, and peak memory.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{Duration, Instant};

use crate::hostile::{LINE_BUDGET, answering, excerpt, init_budget_kib, init_measured, measured};
use crate::init::Node;

/// `nodecap subnets`' budget, KiB: its Deployment's memory limit.
const SUBNETS_BUDGET_KIB: u64 = 64 * 1024;
/// An answer this long fits EC2's 16 MiB answer bound with room for the envelope.
const NEARLY_16_MIB: usize = 16 * 1024 * 1024 - 4096;

/// The value of form parameter `name` in a request body.
fn param(body: &[u8], name: &str) -> Option<String> {
    String::from_utf8_lossy(body).split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| value.to_owned())
    })
}

fn reply(stream: &mut std::net::TcpStream, xml: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-type: text/xml\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{xml}",
        xml.len()
    );
}

/// An EC2 endpoint of the test's own: `answer(action, page)` gives each page's items and
/// whether another page follows (page 0 first; tokens are `p1`, `p2`…). Interfaces and
/// reservations are empty unless `answer` says otherwise.
fn ec2(answer: impl Fn(&str, usize) -> Option<(String, bool)> + Send + Sync + 'static) -> String {
    answering(move |body, stream| {
        let action = param(body, "Action").unwrap_or_default();
        let page = param(body, "NextToken")
            .and_then(|t| t.strip_prefix('p').and_then(|n| n.parse().ok()))
            .unwrap_or(0);
        let (items, more) = answer(&action, page).unwrap_or_default();
        let set = match action.as_str() {
            "DescribeSubnets" => "subnetSet",
            "DescribeNetworkInterfaces" => "networkInterfaceSet",
            "GetSubnetCidrReservations" => "subnetIpv4CidrReservationSet",
            _ => "instanceTypeSet",
        };
        let next = if more {
            format!("<nextToken>p{}</nextToken>", page + 1)
        } else {
            String::new()
        };
        reply(
            stream,
            &format!("<{action}Response><{set}>{items}</{set}>{next}</{action}Response>"),
        );
    })
}

fn subnet(n: usize, cidr: &str) -> String {
    format!(
        "<item><subnetId>subnet-{n:x}</subnetId><vpcId>vpc-0a</vpcId><cidrBlock>{cidr}</cidrBlock>\
         <availabilityZone>us-east-1a</availabilityZone><availableIpAddressCount>10</availableIpAddressCount></item>"
    )
}

/// `nodecap subnets --once` against `url`, measured: (exit code, its error line or "", peak
/// KiB, standard output).
fn once(url: &str, args: &[&str]) -> (i32, String, u64, String) {
    let mut command = crate::subnets::subnets(url, &[&["--once", "-o", "json"], args].concat());
    let finished = measured(&mut command);
    let stderr = String::from_utf8_lossy(&finished.stderr).into_owned();
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("nodecap: "))
        .collect();
    assert!(errors.len() <= 1, "{}", excerpt(&stderr));
    let line = errors.first().map(|l| (*l).to_owned()).unwrap_or_default();
    assert!(line.len() <= LINE_BUDGET, "{} bytes", line.len());
    (
        finished.code.expect("exited"),
        line,
        finished.peak_kib,
        String::from_utf8_lossy(&finished.stdout).into_owned(),
    )
}

/// Row 5: `init` for a type not in the table, DescribeInstanceTypes answering 16 MiB of empty
/// `<item/>` (505–517 MiB before): an answer for one type is read up to 1 MiB, and within
/// that up to 16 types: exit 2, the bound named, within init's 32 MiB.
#[test]
fn an_instance_type_answer_of_millions_of_empty_items_is_refused_as_it_is_read() {
    for (bytes, refusal) in [
        (NEARLY_16_MIB, "longer than 1048576 bytes"),
        (
            1024 * 1024 - 4096,
            "more than 16 instance types in one list",
        ),
    ] {
        let url = ec2(move |action, _| {
            (action == "DescribeInstanceTypes").then(|| ("<item/>".repeat(bytes / 7), false))
        });
        let node = Node::new("x9z.large", 3, 10);
        let env = [
            ("AWS_ENDPOINT_URL", url.as_str()),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ];
        let (code, line, peak) = init_measured(&node, &["--backend", "kubelet-dropin"], &env);
        eprintln!("init, {bytes} bytes of <item/>: exit {code}, peak {peak} KiB: {line}");
        assert_eq!(code, 2, "{line}");
        assert!(
            line.contains("ec2:DescribeInstanceTypes x9z.large in us-east-1")
                && line.contains(refusal),
            "{line}"
        );
        assert!(peak <= init_budget_kib(), "init peaked at {peak} KiB");
        assert!(node.files().is_empty());
    }
}

/// Row 6: one 16 MiB page of empty subnets, of one subnet's tags, of one interface's
/// addresses (635–668, 139 and 84 MiB before, the tags accepted): the lists with a cap are
/// refused naming it, the tags are not read at all; `--once` and the daemon within 64 MiB.
#[test]
fn one_page_of_millions_of_empty_items_stays_within_the_deployments_budget() {
    let empty_subnets = ec2(|action, _| {
        (action == "DescribeSubnets").then(|| ("<item/>".repeat(NEARLY_16_MIB / 7), false))
    });
    let (code, line, peak, _) = once(&empty_subnets, &["--vpc-id", "vpc-0a"]);
    eprintln!("subnets, 16 MiB of empty subnets: exit {code}, peak {peak} KiB: {line}");
    assert_eq!(code, 69, "{line}");
    assert!(
        line.contains("ec2:DescribeSubnets") && line.contains("more than 5000 subnets in one list"),
        "{line}"
    );
    assert!(peak <= SUBNETS_BUDGET_KIB, "{peak} KiB");

    let tags = ec2(|action, _| {
        (action == "DescribeSubnets").then(|| {
            let item = subnet(1, "10.0.0.0/24");
            let tags = format!(
                "<tagSet>{}</tagSet></item>",
                "<item/>".repeat(NEARLY_16_MIB / 7)
            );
            (item.replace("</item>", &tags), false)
        })
    });
    let (code, line, peak, out) = once(&tags, &["--vpc-id", "vpc-0a"]);
    eprintln!("subnets, a subnet with 16 MiB of empty tags: exit {code}, peak {peak} KiB");
    assert_eq!(code, 0, "{line}");
    assert!(out.contains("\"subnet-1\""), "{}", excerpt(&out));
    assert!(peak <= SUBNETS_BUDGET_KIB, "{peak} KiB");

    let addresses = ec2(|action, _| match action {
        "DescribeSubnets" => Some((subnet(1, "10.0.0.0/24"), false)),
        "DescribeNetworkInterfaces" => Some((
            format!(
                "<item><networkInterfaceId>eni-1</networkInterfaceId><subnetId>subnet-1</subnetId>\
                 <privateIpAddressesSet>{}</privateIpAddressesSet></item>",
                "<item/>".repeat(NEARLY_16_MIB / 7)
            ),
            false,
        )),
        _ => None,
    });
    let (code, line, peak, _) = once(&addresses, &["--vpc-id", "vpc-0a"]);
    eprintln!("subnets, an interface with 16 MiB of empty addresses: exit {code}, peak {peak} KiB");
    assert_eq!(code, 69, "{line}");
    assert!(
        line.contains("ec2:DescribeNetworkInterfaces")
            && line.contains("more than 64 addresses of one interface in one list"),
        "{line}"
    );
    assert!(peak <= SUBNETS_BUDGET_KIB, "{peak} KiB");

    // The daemon: the cycle fails alone, the endpoint stays up, within the budget.
    let daemon =
        crate::subnets::running(&empty_subnets, &["--vpc-id", "vpc-0a", "--interval", "1s"]);
    daemon.wait_for("two failed cycles", |d| {
        crate::common::value(
            &d.metrics(),
            r#"nodecap_subnets_cycles_total{result="failure"}"#,
        )
        .is_some_and(|n| n >= 2.0)
    });
    let peak = crate::common::hwm_kib(daemon.pid());
    eprintln!("subnets daemon, 16 MiB of empty subnets every cycle: peak {peak} KiB");
    assert!(peak <= SUBNETS_BUDGET_KIB, "{peak} KiB");
    assert!(
        daemon.log().contains("more than 5000 subnets in one list"),
        "{}",
        excerpt(&daemon.log())
    );
}

/// Row 7: totals across pages (100,000 subnets over 5 pages, 10 pages of 200,000
/// reservations, 20 pages each with a 12 MiB tag, a million interfaces of distinct instances:
/// 895, 257, 266 and 171 MiB before). Each listing now has a cap in all its pages; the worst
/// cycle within every cap (249,000 interfaces of distinct instances, each with an address and
/// a prefix) stays within 64 MiB.
#[test]
fn listings_are_capped_across_their_pages() {
    let subnets = ec2(|action, page| {
        (action == "DescribeSubnets").then(|| {
            let items: String = (0..4_000)
                .map(|n| subnet(page * 4_000 + n + 1, "10.0.0.0/24"))
                .collect();
            (items, page < 4)
        })
    });
    let (code, line, peak, _) = once(&subnets, &["--vpc-id", "vpc-0a"]);
    eprintln!("subnets, 5 pages of 4,000 subnets: exit {code}, peak {peak} KiB: {line}");
    assert_eq!(code, 69, "{line}");
    assert!(
        line.contains("more than 5000 subnets in all pages"),
        "{line}"
    );
    assert!(peak <= SUBNETS_BUDGET_KIB, "{peak} KiB");

    let reservations = ec2(|action, page| match action {
        "DescribeSubnets" => Some((subnet(1, "10.0.0.0/16"), false)),
        "GetSubnetCidrReservations" => {
            let mut items = String::new();
            for n in 0..1_000 {
                let _ = write!(
                    items,
                    "<item><cidr>10.0.{}.{}/32</cidr><reservationType>explicit</reservationType></item>",
                    (n / 256) % 256,
                    n % 256
                );
            }
            Some((items, page < 100))
        }
        _ => None,
    });
    let (code, line, peak, _) = once(&reservations, &["--vpc-id", "vpc-0a"]);
    eprintln!("subnets, 100 pages of 1,000 reservations: exit {code}, peak {peak} KiB: {line}");
    assert_eq!(code, 69, "{line}");
    assert!(
        line.contains("ec2:GetSubnetCidrReservations")
            && line.contains("more than 65536 CIDR reservations in all pages"),
        "{line}"
    );
    assert!(peak <= SUBNETS_BUDGET_KIB, "{peak} KiB");

    let big_tags = ec2(|action, page| {
        (action == "DescribeSubnets").then(|| {
            let cidr = format!("10.{page}.0.0/24");
            let tag = format!(
                "<tagSet><item><key>k</key><value>{}</value></item></tagSet></item>",
                "v".repeat(12 << 20)
            );
            (subnet(page + 1, &cidr).replace("</item>", &tag), page < 19)
        })
    });
    let (code, line, peak, out) = once(&big_tags, &["--vpc-id", "vpc-0a"]);
    eprintln!("subnets, 20 pages each with a 12 MiB tag: exit {code}, peak {peak} KiB");
    assert_eq!(code, 0, "{line}");
    assert!(out.contains("\"subnet-14\""), "{}", excerpt(&out));
    assert!(peak <= SUBNETS_BUDGET_KIB, "{peak} KiB");

    for (pages, refused) in [(249, false), (1_000, true)] {
        let interfaces = ec2(move |action, page| match action {
            "DescribeSubnets" => Some((
                (0..16)
                    .map(|k| subnet(k + 1, &format!("10.{k}.0.0/16")))
                    .collect(),
                false,
            )),
            "DescribeNetworkInterfaces" => {
                let mut items = String::new();
                for n in 0..1_000 {
                    let g = page * 1_000 + n;
                    let (k, j) = (g % 16, g / 16);
                    let p = j % 4096;
                    let _ = write!(
                        items,
                        "<item><networkInterfaceId>eni-{g:x}</networkInterfaceId><subnetId>subnet-{:x}</subnetId>\
                         <attachment><instanceId>i-{g:017x}</instanceId></attachment>\
                         <privateIpAddressesSet><item><privateIpAddress>10.{k}.{}.{}</privateIpAddress></item></privateIpAddressesSet>\
                         <ipv4PrefixSet><item><ipv4Prefix>10.{k}.{}.{}/28</ipv4Prefix></item></ipv4PrefixSet></item>",
                        k + 1,
                        j >> 8,
                        j & 255,
                        p >> 4,
                        (p & 15) << 4,
                    );
                }
                Some((items, page + 1 < pages))
            }
            _ => None,
        });
        let (code, line, peak, out) = once(&interfaces, &["--vpc-id", "vpc-0a"]);
        eprintln!(
            "subnets, {pages} pages of 1,000 interfaces of distinct instances: exit {code}, peak {peak} KiB {line}"
        );
        if refused {
            assert_eq!(code, 69, "{line}");
            assert!(
                line.contains("more than 250000 network interfaces in all pages"),
                "{line}"
            );
        } else {
            assert_eq!(code, 0, "{line}");
            let json: serde_json::Value = serde_json::from_str(&out).unwrap();
            let nodes: u64 = json["subnets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["prefix_delegation_nodes"].as_u64().unwrap())
                .sum();
            assert_eq!(nodes, 249_000);
        }
        assert!(peak <= SUBNETS_BUDGET_KIB, "{pages} pages: {peak} KiB");
    }
}

/// Row 8: a 12 MiB `NextToken`, new on every page (75–111 MiB, the token copied several
/// times per page, and `--once` paging on for 25 minutes): a token past 64 KiB is refused;
/// and every page of a cycle shares one deadline (`--timeout`), the error naming the pages
/// read and the time taken.
#[test]
fn page_tokens_are_bounded_and_a_cycle_has_a_deadline() {
    let long_token = answering(|body, stream| {
        let action = param(body, "Action").unwrap_or_default();
        let token = format!(
            "{:x}{}",
            Instant::now().elapsed().as_nanos(),
            "t".repeat(12 << 20)
        );
        reply(
            stream,
            &format!(
                "<{action}Response><subnetSet>{}</subnetSet><nextToken>{token}</nextToken></{action}Response>",
                subnet(1, "10.0.0.0/24")
            ),
        );
    });
    let (code, line, peak, _) = once(&long_token, &["--vpc-id", "vpc-0a"]);
    eprintln!("subnets, a 12 MiB page token: exit {code}, peak {peak} KiB: {line}");
    assert_eq!(code, 69, "{line}");
    assert!(
        line.contains("a page token of 12582913 bytes (at most 65536)")
            || line.contains("a page token of 1258291"),
        "{line}"
    );
    assert!(peak <= SUBNETS_BUDGET_KIB, "{peak} KiB");

    let endless = ec2(|action, _| {
        std::thread::sleep(Duration::from_millis(50));
        (action == "DescribeSubnets").then(|| (subnet(1, "10.0.0.0/24"), true))
    });
    let started = Instant::now();
    let (code, line, _, _) = once(&endless, &["--vpc-id", "vpc-0a", "--timeout", "2s"]);
    let took = started.elapsed();
    eprintln!("subnets, endless pages, --timeout 2s: exit {code} after {took:?}: {line}");
    assert_eq!(code, 69, "{line}");
    assert!(
        line.contains("ec2:DescribeSubnets") && line.contains("the deadline of 2s passed after "),
        "{line}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
}

/// One IPv6-only subnet in the selection failed the whole cycle (exit 69): it is now named as
/// IPv6-only (the JSON, the table, `nodecap_subnet_ipv6_only`) and the others are served.
#[test]
fn an_ipv6_only_subnet_is_reported_and_the_others_served() {
    let url = ec2(|action, _| {
        (action == "DescribeSubnets").then(|| {
            let ipv6 = "<item><subnetId>subnet-6</subnetId><vpcId>vpc-0a</vpcId>\
                <availabilityZone>us-east-1b</availabilityZone><ipv6Native>true</ipv6Native>\
                <ipv6CidrBlockAssociationSet><item><ipv6CidrBlock>2600:1f18::/64</ipv6CidrBlock>\
                </item></ipv6CidrBlockAssociationSet></item>";
            (format!("{}{ipv6}", subnet(4, "10.0.4.0/24")), false)
        })
    });
    let (code, line, _, out) = once(&url, &["--vpc-id", "vpc-0a"]);
    assert_eq!(code, 0, "{line}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["subnets"].as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json["subnets"][0]["subnet_id"], "subnet-4");
    assert_eq!(
        json["ipv6_only_subnets"][0]["subnet_id"], "subnet-6",
        "{json}"
    );

    let table = crate::subnets::subnets(&url, &["--once", "--vpc-id", "vpc-0a"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("subnet-6 (us-east-1b): IPv6-only, no IPv4 addresses to count"),
        "{table}"
    );

    let daemon = crate::subnets::running(&url, &["--vpc-id", "vpc-0a", "--interval", "1s"]);
    let text = daemon.metrics();
    assert!(
        text.contains(
            r#"nodecap_subnet_ipv6_only{availability_zone="us-east-1b",subnet_id="subnet-6"} 1"#
        ) && text.contains("nodecap_subnets_cycle_success 1"),
        "{text}"
    );
}
