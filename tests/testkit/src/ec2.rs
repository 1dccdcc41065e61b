//! A test EC2 endpoint for the three listings `nodecap subnets` reads, answering in EC2's XML
//! shape (the element names and nesting of the EC2 API reference's examples, as the unit
//! tests' recorded answers have them) from a described VPC: `DescribeSubnets` (by id, by
//! `tag:KEY`, `tag-key` and `vpc-id` filters), `DescribeNetworkInterfaces` (by `subnet-id`
//! filter, paged by `MaxResults` and `NextToken`), `GetSubnetCidrReservations`. It serves what
//! the AWS API emulator lacks (delegated prefixes, paging) and what a benchmark needs (thousands
//! of interfaces without creating them). Requests are not authenticated; every action is
//! counted, and the next answers can be made throttling or server errors.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Response, StatusCode};

use crate::Background;

/// A subnet and everything in it.
#[derive(Debug, Clone, Default)]
pub struct Subnet {
    pub id: String,
    pub vpc_id: String,
    pub cidr: String,
    pub availability_zone: String,
    pub available_ip_address_count: u64,
    pub tags: Vec<(String, String)>,
    pub interfaces: Vec<Interface>,
    /// `(cidr, "prefix" | "explicit")`.
    pub reservations: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default)]
pub struct Interface {
    pub id: String,
    pub instance_id: Option<String>,
    pub addresses: Vec<String>,
    pub prefixes: Vec<String>,
}

/// A failure to answer with instead of the next answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 503 `RequestLimitExceeded`.
    Throttle,
    /// HTTP 500 `InternalError`.
    Server,
}

#[derive(Debug, Default)]
struct State {
    subnets: Vec<Subnet>,
    calls: Vec<String>,
    faults: VecDeque<Fault>,
}

/// A running test EC2 endpoint.
#[derive(Debug)]
pub struct Ec2Server {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    _background: Background,
}

impl Ec2Server {
    pub fn start(subnets: Vec<Subnet>) -> std::io::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), subnets)
    }

    pub fn start_on(addr: SocketAddr, subnets: Vec<Subnet>) -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(State {
            subnets,
            ..State::default()
        }));
        let shared = Arc::clone(&state);
        let (background, addr) = Background::serve(addr, move |request| {
            let state = Arc::clone(&shared);
            async move {
                let body = match request.into_body().collect().await {
                    Ok(body) => body.to_bytes(),
                    Err(_) => Bytes::new(),
                };
                let params = parse_form(&String::from_utf8_lossy(&body));
                let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
                let action = param(&params, "Action").unwrap_or_default().to_owned();
                state.calls.push(action.clone());
                let (status, xml) = match state.faults.pop_front() {
                    Some(Fault::Throttle) => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        error("RequestLimitExceeded", "Request limit exceeded."),
                    ),
                    Some(Fault::Server) => (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        error("InternalError", "An internal error has occurred."),
                    ),
                    None => answer(&state.subnets, &action, &params),
                };
                let mut response = Response::new(Full::new(Bytes::from(xml)));
                *response.status_mut() = status;
                Ok::<_, Infallible>(response)
            }
        })?;
        Ok(Ec2Server {
            addr,
            state,
            _background: background,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The actions called so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// The next answers are these failures, in order.
    pub fn fail_next(&self, faults: &[Fault]) {
        self.lock().faults.extend(faults.iter().copied());
    }

    /// Replaces the VPC's content.
    pub fn set_subnets(&self, subnets: Vec<Subnet>) {
        self.lock().subnets = subnets;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A VPC of `subnets` /20 subnets (10.0.16·n.0/20, zones a, b, c in turn), tagged for cluster
/// `cluster`, holding `interfaces` interfaces spread over them, each of an instance of its own
/// with `addresses` addresses and `prefixes` /28 prefixes (a node's ENI in either VPC CNI
/// mode), for benchmarks.
pub fn synthetic_vpc(
    cluster: &str,
    subnets: usize,
    interfaces: usize,
    addresses: usize,
    prefixes: usize,
) -> Vec<Subnet> {
    let mut out: Vec<Subnet> = (0..subnets)
        .map(|n| Subnet {
            id: format!("subnet-{:017x}", n + 1),
            vpc_id: "vpc-0000000000000000a".to_owned(),
            cidr: format!("10.0.{}.0/20", 16 * n),
            availability_zone: format!("us-east-1{}", ['a', 'b', 'c'][n % 3]),
            available_ip_address_count: 4091,
            tags: vec![(
                format!("kubernetes.io/cluster/{cluster}"),
                "owned".to_owned(),
            )],
            ..Subnet::default()
        })
        .collect();
    if subnets == 0 {
        return out;
    }
    // Addresses from the bottom of each subnet, prefixes from the top.
    let mut next_address = vec![4u32; subnets];
    // The top block holds the broadcast address, which AWS keeps.
    let mut next_prefix = vec![4096u32 / 16 - 2; subnets];
    for i in 0..interfaces {
        let n = i % subnets;
        let base = (10u32 << 24) | (u32::try_from(16 * n).unwrap_or(0) << 8);
        let mut interface = Interface {
            id: format!("eni-{:017x}", i + 1),
            instance_id: Some(format!("i-{:017x}", i + 1)),
            ..Interface::default()
        };
        for _ in 0..addresses {
            interface.addresses.push(ipv4(base + next_address[n]));
            next_address[n] += 1;
        }
        for _ in 0..prefixes {
            interface
                .prefixes
                .push(format!("{}/28", ipv4(base + 16 * next_prefix[n])));
            next_prefix[n] = next_prefix[n].saturating_sub(1);
        }
        out[n].interfaces.push(interface);
    }
    out
}

fn ipv4(n: u32) -> String {
    std::net::Ipv4Addr::from(n).to_string()
}

/// `application/x-www-form-urlencoded` pairs, decoded.
fn parse_form(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `Name.N` values in N order.
fn numbered(params: &[(String, String)], name: &str) -> Vec<String> {
    let mut found: Vec<(u32, String)> = params
        .iter()
        .filter_map(|(k, v)| {
            let n = k.strip_prefix(name)?.strip_prefix('.')?.parse().ok()?;
            Some((n, v.clone()))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, v)| v).collect()
}

/// Every `Filter.N`: name and values.
fn filters(params: &[(String, String)]) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for n in 1.. {
        let Some(name) = param(params, &format!("Filter.{n}.Name")) else {
            break;
        };
        out.push((
            name.to_owned(),
            numbered(params, &format!("Filter.{n}.Value")),
        ));
    }
    out
}

fn error(code: &str, message: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>"#
    )
}

fn subnet_matches(subnet: &Subnet, ids: &[String], filters: &[(String, Vec<String>)]) -> bool {
    if !ids.is_empty() && !ids.contains(&subnet.id) {
        return false;
    }
    filters.iter().all(|(name, values)| {
        if name == "vpc-id" {
            values.contains(&subnet.vpc_id)
        } else if name == "tag-key" {
            subnet.tags.iter().any(|(k, _)| values.contains(k))
        } else if let Some(key) = name.strip_prefix("tag:") {
            subnet
                .tags
                .iter()
                .any(|(k, v)| k == key && values.contains(v))
        } else {
            true
        }
    })
}

const NS: &str = r#"xmlns="http://ec2.amazonaws.com/doc/2016-11-15/""#;
const REQUEST_ID: &str = "<requestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</requestId>";

fn answer(subnets: &[Subnet], action: &str, params: &[(String, String)]) -> (StatusCode, String) {
    let mut xml = String::from(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    match action {
        "DescribeSubnets" => {
            let ids = numbered(params, "SubnetId");
            let filters = filters(params);
            let _ = write!(
                xml,
                "\n<DescribeSubnetsResponse {NS}>\n    {REQUEST_ID}\n    <subnetSet>"
            );
            for s in subnets.iter().filter(|s| subnet_matches(s, &ids, &filters)) {
                let _ = write!(
                    xml,
                    "\n        <item>\n            <subnetId>{}</subnetId>\n            <subnetArn>arn:aws:ec2:us-east-1:111122223333:subnet/{}</subnetArn>\n            <state>available</state>\n            <ownerId>111122223333</ownerId>\n            <vpcId>{}</vpcId>\n            <cidrBlock>{}</cidrBlock>\n            <ipv6CidrBlockAssociationSet/>\n            <availableIpAddressCount>{}</availableIpAddressCount>\n            <availabilityZone>{}</availabilityZone>\n            <defaultForAz>false</defaultForAz>\n            <mapPublicIpOnLaunch>false</mapPublicIpOnLaunch>\n            <tagSet>",
                    s.id, s.id, s.vpc_id, s.cidr, s.available_ip_address_count, s.availability_zone
                );
                for (k, v) in &s.tags {
                    let _ = write!(xml, "<item><key>{k}</key><value>{v}</value></item>");
                }
                xml.push_str("</tagSet>\n        </item>");
            }
            xml.push_str("\n    </subnetSet>\n</DescribeSubnetsResponse>");
        }
        "DescribeNetworkInterfaces" => {
            let filters = filters(params);
            let wanted: Vec<String> = filters
                .iter()
                .find(|(n, _)| n == "subnet-id")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let all: Vec<(&Subnet, &Interface)> = subnets
                .iter()
                .filter(|s| wanted.is_empty() || wanted.contains(&s.id))
                .flat_map(|s| s.interfaces.iter().map(move |i| (s, i)))
                .collect();
            let max = param(params, "MaxResults")
                .and_then(|m| m.parse::<usize>().ok())
                .unwrap_or(1000)
                .clamp(5, 1000);
            let start = param(params, "NextToken")
                .and_then(|t| t.strip_prefix("token-"))
                .and_then(|t| t.parse::<usize>().ok())
                .unwrap_or(0);
            let end = (start + max).min(all.len());
            let _ = write!(
                xml,
                "\n<DescribeNetworkInterfacesResponse {NS}>\n    {REQUEST_ID}\n    <networkInterfaceSet>"
            );
            for (s, i) in all.get(start..end).unwrap_or_default() {
                let _ = write!(
                    xml,
                    "\n        <item>\n            <networkInterfaceId>{}</networkInterfaceId>\n            <subnetId>{}</subnetId>\n            <vpcId>{}</vpcId>\n            <availabilityZone>{}</availabilityZone>\n            <description>aws-K8S-{}</description>\n            <ownerId>111122223333</ownerId>\n            <requesterManaged>false</requesterManaged>\n            <status>in-use</status>\n            <macAddress>02:74:b0:72:79:61</macAddress>\n            <privateIpAddress>{}</privateIpAddress>\n            <sourceDestCheck>true</sourceDestCheck>\n            <groupSet><item><groupId>sg-0123456789abcdef0</groupId><groupName>eks-cluster-sg</groupName></item></groupSet>",
                    i.id,
                    s.id,
                    s.vpc_id,
                    s.availability_zone,
                    i.instance_id.as_deref().unwrap_or(""),
                    i.addresses.first().map_or("", String::as_str)
                );
                if let Some(instance) = &i.instance_id {
                    let _ = write!(
                        xml,
                        "\n            <attachment><attachmentId>eni-attach-{}</attachmentId><instanceId>{instance}</instanceId><instanceOwnerId>111122223333</instanceOwnerId><deviceIndex>1</deviceIndex><status>attached</status><attachTime>2026-11-20T08:00:00.000Z</attachTime><deleteOnTermination>true</deleteOnTermination><networkCardIndex>0</networkCardIndex></attachment>",
                        &i.id[4..]
                    );
                }
                xml.push_str("\n            <tagSet/>\n            <privateIpAddressesSet>");
                for (n, a) in i.addresses.iter().enumerate() {
                    let _ = write!(
                        xml,
                        "<item><privateIpAddress>{a}</privateIpAddress><privateDnsName>ip-{}.ec2.internal</privateDnsName><primary>{}</primary></item>",
                        a.replace('.', "-"),
                        n == 0
                    );
                }
                xml.push_str("</privateIpAddressesSet>\n            <ipv6AddressesSet/>");
                if !i.prefixes.is_empty() {
                    xml.push_str("\n            <ipv4PrefixSet>");
                    for p in &i.prefixes {
                        let _ = write!(xml, "<item><ipv4Prefix>{p}</ipv4Prefix></item>");
                    }
                    xml.push_str("</ipv4PrefixSet>");
                }
                xml.push_str(
                    "\n            <interfaceType>interface</interfaceType>\n        </item>",
                );
            }
            xml.push_str("\n    </networkInterfaceSet>");
            if end < all.len() {
                let _ = write!(xml, "\n    <nextToken>token-{end}</nextToken>");
            }
            xml.push_str("\n</DescribeNetworkInterfacesResponse>");
        }
        "GetSubnetCidrReservations" => {
            let id = param(params, "SubnetId").unwrap_or_default();
            let Some(subnet) = subnets.iter().find(|s| s.id == id) else {
                return (
                    StatusCode::BAD_REQUEST,
                    error(
                        "InvalidSubnetID.NotFound",
                        &format!("The subnet ID '{id}' does not exist"),
                    ),
                );
            };
            let _ = write!(
                xml,
                "\n<GetSubnetCidrReservationsResponse {NS}>\n    {REQUEST_ID}\n    <subnetIpv4CidrReservationSet>"
            );
            for (n, (cidr, kind)) in subnet.reservations.iter().enumerate() {
                let _ = write!(
                    xml,
                    "\n        <item><subnetCidrReservationId>scr-{:017x}</subnetCidrReservationId><subnetId>{}</subnetId><cidr>{cidr}</cidr><reservationType>{kind}</reservationType><ownerId>111122223333</ownerId><tagSet/></item>",
                    n + 1,
                    subnet.id
                );
            }
            xml.push_str("\n    </subnetIpv4CidrReservationSet>\n    <subnetIpv6CidrReservationSet/>\n</GetSubnetCidrReservationsResponse>");
        }
        other => {
            return (
                StatusCode::BAD_REQUEST,
                error(
                    "InvalidAction",
                    &format!("The action {other} is not valid for this web service."),
                ),
            );
        }
    }
    (StatusCode::OK, xml)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_filters() {
        let params = parse_form(
            "Action=DescribeSubnets&Filter.1.Name=tag%3Akubernetes.io%2Fcluster%2Fprod&Filter.1.Value.2=shared&Filter.1.Value.1=owned",
        );
        assert_eq!(
            filters(&params),
            [(
                "tag:kubernetes.io/cluster/prod".to_owned(),
                vec!["owned".to_owned(), "shared".to_owned()]
            )]
        );
        assert_eq!(decode("a%2"), "a%2");
    }

    #[test]
    fn synthetic_vpcs_are_disjoint() {
        let vpc = synthetic_vpc("prod", 2, 5, 3, 1);
        assert_eq!(vpc[0].interfaces.len(), 3);
        assert_eq!(vpc[0].interfaces[1].addresses[0], "10.0.0.7");
        assert_eq!(vpc[1].interfaces[0].prefixes, ["10.0.31.224/28"]);
    }
}
