//! The three listings `nodecap subnets` reads, as typed records: `DescribeSubnets` (which
//! subnets, their CIDR, zone and EC2's own count of available addresses),
//! `DescribeNetworkInterfaces` filtered by subnet (the addresses and /28 prefixes every
//! interface holds, and the instance it is attached to) and `GetSubnetCidrReservations` (the
//! ranges set aside). Needs `ec2:DescribeSubnets`, `ec2:DescribeNetworkInterfaces` and
//! `ec2:GetSubnetCidrReservations`.
//!
//! Every value becomes a type here (an id checked for its shape and length, a CIDR parsed),
//! because ids end up as Prometheus label values and CloudWatch dimensions: an answer that
//! does not fit is an error quoting at most [`MAX_CHARS`] characters of it.
//!
//! And every list has a cap, from EC2's own limits with room (an answer past one is an error
//! naming the list and the cap):
//!
//! | list | cap | EC2's own limit |
//! |---|---|---|
//! | subnets, one answer and in all pages | [`MAX_SUBNETS`] 5,000 | 200 subnets per VPC by default; a selection spans one VPC or a few |
//! | network interfaces, one answer | [`MAX_INTERFACES_PER_ANSWER`] 1,000 | `MaxResults` at most 1,000 (nodecap asks for 200) |
//! | network interfaces, one cycle | [`MAX_INTERFACES`] 250,000 | 5,000 per Region by default, 50 times that |
//! | addresses, and /28 prefixes, of one interface | [`MAX_PER_INTERFACE`] 64 | 50 IPv4 addresses per interface on the largest types; prefixes one fewer |
//! | CIDR reservations, one answer | [`MAX_RESERVATIONS_PER_ANSWER`] 1,000 | `MaxResults` at most 1,000 |
//! | CIDR reservations of one subnet, all pages | [`MAX_RESERVATIONS`] 65,536 | reservations do not overlap: a /16 holds 65,536 addresses |
//!
//! Tags are not read at all: the selection is EC2's filter, and nothing else uses them.

use std::net::Ipv4Addr;

use serde::Deserialize;

use super::{Action, CallError, Client, Deadline, Items, Listed, Page, filters, is_resource_id};
use crate::core::excerpt::Excerpt;
#[cfg(doc)]
use crate::core::excerpt::MAX_CHARS;
use crate::core::names::{InvalidName, SubnetId, VpcId};
use crate::core::subnet::{CidrReservation, Ipv4Net, ReservationKind, parse_subnet_cidr};

/// Network interfaces asked for per page: a page of 200 interfaces with 50 addresses each is
/// a few MiB of XML, well inside the answer bound.
const INTERFACES_PER_PAGE: u32 = 200;
/// Values one filter takes at most (EC2's limit).
const MAX_FILTER_VALUES: usize = 200;
/// Subnets in one answer and in one listing's pages.
const MAX_SUBNETS: usize = 5_000;
/// Network interfaces in one answer.
const MAX_INTERFACES_PER_ANSWER: usize = 1_000;
/// Network interfaces in one cycle, every subnet's together.
const MAX_INTERFACES: usize = 250_000;
/// Addresses of one interface, and /28 prefixes of one interface.
const MAX_PER_INTERFACE: usize = 64;
/// CIDR reservations in one answer.
const MAX_RESERVATIONS_PER_ANSWER: usize = 1_000;
/// CIDR reservations of one subnet in all pages.
const MAX_RESERVATIONS: usize = 65_536;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("ec2:{action}")]
    Call { action: Action, source: CallError },
    #[error("ec2:{action}: {field}: expected {expected}, got {got}")]
    Answer {
        action: Action,
        field: &'static str,
        expected: &'static str,
        got: Excerpt,
    },
}

/// Which subnets to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// These subnets.
    Ids(Vec<SubnetId>),
    /// Subnets whose tag `key` has one of `values` (any value when empty), in `vpcs` when
    /// given.
    Tag {
        key: String,
        values: Vec<String>,
        vpcs: Vec<VpcId>,
    },
    /// Every subnet of these VPCs.
    Vpcs(Vec<VpcId>),
}

/// A subnet as nodecap uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    pub id: SubnetId,
    pub vpc_id: VpcId,
    pub cidr: Ipv4Net,
    pub availability_zone: String,
    /// EC2's `AvailableIpAddressCount` (eventually consistent).
    pub available_ip_address_count: u64,
}

/// What `DescribeSubnets` listed: the subnets with an IPv4 CIDR, and the IPv6-only ones
/// (`Ipv6Native`, no IPv4 CIDR: nothing of theirs to count, but named so a user sees them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subnets {
    pub ipv4: Vec<Subnet>,
    pub ipv6_only: Vec<Ipv6OnlySubnet>,
}

/// An IPv6-only subnet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Ipv6OnlySubnet {
    #[serde(rename = "subnet_id")]
    pub id: SubnetId,
    pub availability_zone: String,
}

impl Subnets {
    fn of(raw: Vec<XmlSubnet>) -> Result<Subnets, Error> {
        let mut subnets = Subnets::default();
        for xml in raw {
            if xml.ipv6_native == Some(true) && xml.cidr_block.is_empty() {
                let a = DESCRIBE_SUBNETS;
                subnets.ipv6_only.push(Ipv6OnlySubnet {
                    id: typed(a, "SubnetId", "subnet-", xml.subnet_id)?,
                    availability_zone: short(a, "AvailabilityZone", &xml.availability_zone)?
                        .to_owned(),
                });
            } else {
                subnets.ipv4.push(xml.into_subnet()?);
            }
        }
        Ok(subnets)
    }
}

/// A network interface: where it is, what it holds, whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInterface {
    pub id: String,
    pub subnet_id: SubnetId,
    /// The instance it is attached to (none for an unattached interface, or one owned by a
    /// service such as a load balancer).
    pub instance_id: Option<String>,
    pub addresses: Vec<Ipv4Addr>,
    pub prefixes: Vec<Ipv4Net>,
}

/// An id such as `subnet-0abc…` ([`is_resource_id`]).
fn id<'a>(
    action: Action,
    field: &'static str,
    prefix: &'static str,
    value: &'a str,
) -> Result<&'a str, Error> {
    if is_resource_id(prefix, value) {
        Ok(value)
    } else {
        Err(Error::Answer {
            action,
            field,
            expected: prefix,
            got: Excerpt::of(value),
        })
    }
}

/// An id such as `subnet-0abc…`, as its type (a [`SubnetId`], a [`VpcId`]).
fn typed<T: TryFrom<String, Error = InvalidName>>(
    action: Action,
    field: &'static str,
    prefix: &'static str,
    value: String,
) -> Result<T, Error> {
    T::try_from(value).map_err(|e| Error::Answer {
        action,
        field,
        expected: prefix,
        got: Excerpt::of(&e.got),
    })
}

/// A short printable value (an availability zone): at most 32 characters.
fn short<'a>(action: Action, field: &'static str, value: &'a str) -> Result<&'a str, Error> {
    if !value.is_empty()
        && value.len() <= 32
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        Ok(value)
    } else {
        Err(Error::Answer {
            action,
            field,
            expected: "1 to 32 letters, digits and '-'",
            got: Excerpt::of(value),
        })
    }
}

/// Names as the Query API's filter values.
fn strings<T: ToString>(names: &[T]) -> Vec<String> {
    names.iter().map(ToString::to_string).collect()
}

const DESCRIBE_SUBNETS: Action = Action::DescribeSubnets;
const DESCRIBE_INTERFACES: Action = Action::DescribeNetworkInterfaces;
const GET_RESERVATIONS: Action = Action::GetSubnetCidrReservations;

/// The subnets `selector` names, every page, by `deadline`.
pub async fn describe_subnets(
    client: &Client,
    selector: &Selector,
    deadline: Deadline,
) -> Result<Subnets, Error> {
    let mut params = Vec::new();
    match selector {
        Selector::Ids(ids) => {
            for (n, subnet) in ids.iter().enumerate() {
                params.push((format!("SubnetId.{}", n + 1), subnet.to_string()));
            }
        }
        Selector::Tag { key, values, vpcs } => {
            let vpcs = strings(vpcs);
            let mut wanted: Vec<(String, &[String])> = Vec::new();
            if values.is_empty() {
                wanted.push(("tag-key".to_owned(), std::slice::from_ref(key)));
            } else {
                wanted.push((format!("tag:{key}"), values));
            }
            if !vpcs.is_empty() {
                wanted.push(("vpc-id".to_owned(), &vpcs));
            }
            let named: Vec<(&str, &[String])> =
                wanted.iter().map(|(n, v)| (n.as_str(), *v)).collect();
            params.extend(filters(&named));
        }
        Selector::Vpcs(vpcs) => params.extend(filters(&[("vpc-id", &strings(vpcs))])),
    }
    let mut raw = Vec::new();
    client
        .pages::<DescribeSubnetsResponse>(
            DESCRIBE_SUBNETS,
            &params,
            MAX_SUBNETS,
            deadline,
            |page| raw.extend(page.subnet_set),
        )
        .await
        .map_err(|source| Error::Call {
            action: DESCRIBE_SUBNETS,
            source,
        })?;
    Subnets::of(raw)
}

/// Every network interface in `subnet_ids` (at most [`MAX_INTERFACES`] in all), handed to
/// `each` page by page, by `deadline`.
pub async fn network_interfaces(
    client: &Client,
    subnet_ids: &[SubnetId],
    deadline: Deadline,
    mut each: impl FnMut(NetworkInterface),
) -> Result<(), Error> {
    let mut listed = 0usize;
    for chunk in subnet_ids.chunks(MAX_FILTER_VALUES) {
        let mut params = filters(&[("subnet-id", &strings(chunk))]);
        params.push(("MaxResults".to_owned(), INTERFACES_PER_PAGE.to_string()));
        let mut failed = None;
        client
            .pages::<DescribeInterfacesResponse>(
                DESCRIBE_INTERFACES,
                &params,
                MAX_INTERFACES - listed,
                deadline,
                |page| {
                    for xml in page.network_interface_set {
                        if failed.is_some() {
                            return;
                        }
                        listed += 1;
                        match xml.into_interface() {
                            Ok(interface) => each(interface),
                            Err(e) => failed = Some(e),
                        }
                    }
                },
            )
            .await
            .map_err(|source| Error::Call {
                action: DESCRIBE_INTERFACES,
                source,
            })?;
        if let Some(e) = failed {
            return Err(e);
        }
    }
    Ok(())
}

/// The IPv4 CIDR reservations of `subnet_id`, every page, by `deadline`.
pub async fn cidr_reservations(
    client: &Client,
    subnet_id: &SubnetId,
    deadline: Deadline,
) -> Result<Vec<CidrReservation>, Error> {
    let params = vec![("SubnetId".to_owned(), subnet_id.to_string())];
    let mut raw = Vec::new();
    client
        .pages::<ReservationsResponse>(
            GET_RESERVATIONS,
            &params,
            MAX_RESERVATIONS,
            deadline,
            |page| raw.extend(page.ipv4),
        )
        .await
        .map_err(|source| Error::Call {
            action: GET_RESERVATIONS,
            source,
        })?;
    raw.into_iter()
        .map(XmlReservation::into_reservation)
        .collect()
}

/// A page of `DescribeSubnets`, as the client reads it (for tests and the fuzz target).
pub fn parse_subnets(xml: &str) -> Result<Subnets, Error> {
    let page: DescribeSubnetsResponse = xml_page(DESCRIBE_SUBNETS, xml)?;
    Subnets::of(page.subnet_set.into_iter().collect())
}

/// A page of `DescribeNetworkInterfaces`, as the client reads it.
pub fn parse_interfaces(xml: &str) -> Result<Vec<NetworkInterface>, Error> {
    let page: DescribeInterfacesResponse = xml_page(DESCRIBE_INTERFACES, xml)?;
    page.network_interface_set
        .into_iter()
        .map(XmlInterface::into_interface)
        .collect()
}

/// A page of `GetSubnetCidrReservations`, as the client reads it.
pub fn parse_reservations(xml: &str) -> Result<Vec<CidrReservation>, Error> {
    let page: ReservationsResponse = xml_page(GET_RESERVATIONS, xml)?;
    page.ipv4
        .into_iter()
        .map(XmlReservation::into_reservation)
        .collect()
}

fn xml_page<T: serde::de::DeserializeOwned>(action: Action, xml: &str) -> Result<T, Error> {
    quick_xml::de::from_str(xml).map_err(|e| Error::Call {
        action,
        source: CallError::xml(e),
    })
}

// ---- the XML answers (EC2's element names; only the fields nodecap uses) --------------------

#[derive(Debug, Deserialize)]
struct DescribeSubnetsResponse {
    #[serde(rename = "subnetSet", default)]
    subnet_set: Items<XmlSubnet, MAX_SUBNETS>,
    #[serde(rename = "nextToken")]
    next_token: Option<String>,
}

impl Page for DescribeSubnetsResponse {
    const WHAT: &'static str = XmlSubnet::WHAT;
    fn items(&self) -> usize {
        self.subnet_set.len()
    }
    fn take_next_token(&mut self) -> Option<String> {
        self.next_token.take()
    }
}

#[derive(Debug, Deserialize)]
struct XmlSubnet {
    #[serde(rename = "subnetId", default)]
    subnet_id: String,
    #[serde(rename = "vpcId", default)]
    vpc_id: String,
    #[serde(rename = "cidrBlock", default)]
    cidr_block: String,
    #[serde(rename = "availabilityZone", default)]
    availability_zone: String,
    #[serde(rename = "availableIpAddressCount")]
    available_ip_address_count: Option<u64>,
    #[serde(rename = "ipv6Native")]
    ipv6_native: Option<bool>,
}

impl Listed for XmlSubnet {
    const WHAT: &'static str = "subnets";
}

impl XmlSubnet {
    fn into_subnet(self) -> Result<Subnet, Error> {
        let a = DESCRIBE_SUBNETS;
        let cidr = parse_subnet_cidr(&self.cidr_block).map_err(|e| Error::Answer {
            action: a,
            field: "CidrBlock",
            expected: match e {
                crate::core::subnet::CidrError::Syntax => "an IPv4 CIDR",
                _ => "a /16 to /28 network address",
            },
            got: Excerpt::of(&self.cidr_block),
        })?;
        Ok(Subnet {
            id: typed(a, "SubnetId", "subnet-", self.subnet_id)?,
            vpc_id: typed(a, "VpcId", "vpc-", self.vpc_id)?,
            cidr,
            availability_zone: short(a, "AvailabilityZone", &self.availability_zone)?.to_owned(),
            available_ip_address_count: self.available_ip_address_count.unwrap_or(0),
        })
    }
}

#[derive(Debug, Deserialize)]
struct DescribeInterfacesResponse {
    #[serde(rename = "networkInterfaceSet", default)]
    network_interface_set: Items<XmlInterface, MAX_INTERFACES_PER_ANSWER>,
    #[serde(rename = "nextToken")]
    next_token: Option<String>,
}

impl Page for DescribeInterfacesResponse {
    const WHAT: &'static str = XmlInterface::WHAT;
    fn items(&self) -> usize {
        self.network_interface_set.len()
    }
    fn take_next_token(&mut self) -> Option<String> {
        self.next_token.take()
    }
}

#[derive(Debug, Deserialize)]
struct XmlInterface {
    #[serde(rename = "networkInterfaceId", default)]
    network_interface_id: String,
    #[serde(rename = "subnetId", default)]
    subnet_id: String,
    attachment: Option<XmlAttachment>,
    #[serde(rename = "privateIpAddressesSet", default)]
    private_ip_addresses: Items<XmlPrivateAddress, MAX_PER_INTERFACE>,
    #[serde(rename = "ipv4PrefixSet", default)]
    ipv4_prefixes: Items<XmlPrefix, MAX_PER_INTERFACE>,
}

impl Listed for XmlInterface {
    const WHAT: &'static str = "network interfaces";
}

impl Listed for XmlPrivateAddress {
    const WHAT: &'static str = "addresses of one interface";
}

impl Listed for XmlPrefix {
    const WHAT: &'static str = "prefixes of one interface";
}

#[derive(Debug, Deserialize)]
struct XmlAttachment {
    #[serde(rename = "instanceId")]
    instance_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct XmlPrivateAddress {
    #[serde(rename = "privateIpAddress", default)]
    private_ip_address: String,
}

#[derive(Debug, Deserialize)]
struct XmlPrefix {
    #[serde(rename = "ipv4Prefix", default)]
    ipv4_prefix: String,
}

impl XmlInterface {
    fn into_interface(self) -> Result<NetworkInterface, Error> {
        let a = DESCRIBE_INTERFACES;
        let bad = |field, expected, got: &str| Error::Answer {
            action: a,
            field,
            expected,
            got: Excerpt::of(got),
        };
        let addresses = self
            .private_ip_addresses
            .into_iter()
            .map(|p| {
                p.private_ip_address
                    .parse::<Ipv4Addr>()
                    .map_err(|_| bad("PrivateIpAddress", "an IPv4 address", &p.private_ip_address))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let prefixes = self
            .ipv4_prefixes
            .into_iter()
            .map(|p| {
                p.ipv4_prefix
                    .parse::<Ipv4Net>()
                    .ok()
                    .filter(|net| net.prefix_len() == 28)
                    .ok_or_else(|| bad("Ipv4Prefix", "an IPv4 /28", &p.ipv4_prefix))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let instance_id = match self.attachment.and_then(|at| at.instance_id) {
            Some(instance) => Some(id(a, "Attachment.InstanceId", "i-", &instance)?.to_owned()),
            None => None,
        };
        Ok(NetworkInterface {
            id: id(a, "NetworkInterfaceId", "eni-", &self.network_interface_id)?.to_owned(),
            subnet_id: typed(a, "SubnetId", "subnet-", self.subnet_id)?,
            instance_id,
            addresses,
            prefixes,
        })
    }
}

#[derive(Debug, Deserialize)]
struct ReservationsResponse {
    #[serde(rename = "subnetIpv4CidrReservationSet", default)]
    ipv4: Items<XmlReservation, MAX_RESERVATIONS_PER_ANSWER>,
    #[serde(rename = "nextToken")]
    next_token: Option<String>,
}

impl Page for ReservationsResponse {
    const WHAT: &'static str = XmlReservation::WHAT;
    fn items(&self) -> usize {
        self.ipv4.len()
    }
    fn take_next_token(&mut self) -> Option<String> {
        self.next_token.take()
    }
}

impl Listed for XmlReservation {
    const WHAT: &'static str = "CIDR reservations";
}

#[derive(Debug, Deserialize)]
struct XmlReservation {
    cidr: Option<String>,
    #[serde(rename = "reservationType")]
    reservation_type: Option<String>,
}

impl XmlReservation {
    fn into_reservation(self) -> Result<CidrReservation, Error> {
        let bad = |field, expected, got: Option<&str>| Error::Answer {
            action: GET_RESERVATIONS,
            field,
            expected,
            got: Excerpt::of(got.unwrap_or_default()),
        };
        let cidr = self
            .cidr
            .as_deref()
            .and_then(|c| c.parse::<Ipv4Net>().ok())
            .ok_or_else(|| bad("Cidr", "an IPv4 CIDR", self.cidr.as_deref()))?;
        let kind = match self.reservation_type.as_deref() {
            Some("prefix") => ReservationKind::Prefix,
            Some("explicit") => ReservationKind::Explicit,
            other => return Err(bad("ReservationType", "prefix or explicit", other)),
        };
        Ok(CidrReservation { cidr, kind })
    }
}

#[cfg(test)]
mod tests;
