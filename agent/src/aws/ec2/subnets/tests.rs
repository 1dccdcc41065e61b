use super::*;

/// A page as EC2 answers it (fields nodecap ignores included), with a prefix.
const INTERFACES: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeNetworkInterfacesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>1</requestId>
  <networkInterfaceSet>
<item>
  <networkInterfaceId>eni-0a1b2c3d4e5f60718</networkInterfaceId>
  <subnetId>subnet-0123456789abcdef0</subnetId>
  <vpcId>vpc-0123456789abcdef0</vpcId>
  <availabilityZone>us-east-1a</availabilityZone>
  <attachment><attachmentId>eni-attach-1</attachmentId><instanceId>i-0123456789abcdef0</instanceId><deviceIndex>1</deviceIndex><status>attached</status></attachment>
  <privateIpAddress>10.0.1.10</privateIpAddress>
  <privateIpAddressesSet>
    <item><privateIpAddress>10.0.1.10</privateIpAddress><privateDnsName>ip-10-0-1-10.ec2.internal</privateDnsName><primary>true</primary></item>
    <item><privateIpAddress>10.0.1.11</privateIpAddress><primary>false</primary></item>
  </privateIpAddressesSet>
  <ipv4PrefixSet><item><ipv4Prefix>10.0.1.32/28</ipv4Prefix></item></ipv4PrefixSet>
  <tagSet/>
</item>
<item>
  <networkInterfaceId>eni-0b</networkInterfaceId>
  <subnetId>subnet-0123456789abcdef0</subnetId>
  <requesterManaged>true</requesterManaged>
  <privateIpAddressesSet><item><privateIpAddress>10.0.1.200</privateIpAddress></item></privateIpAddressesSet>
</item>
  </networkInterfaceSet>
  <nextToken>page-2</nextToken>
</DescribeNetworkInterfacesResponse>"#;

#[test]
fn reads_interfaces() {
    let mut page: DescribeInterfacesResponse = quick_xml::de::from_str(INTERFACES).unwrap();
    assert_eq!(page.take_next_token().as_deref(), Some("page-2"));
    assert_eq!(page.items(), 2);
    let interfaces: Vec<NetworkInterface> = page
        .network_interface_set
        .into_iter()
        .map(|x| x.into_interface().unwrap())
        .collect();
    assert_eq!(
        interfaces[0],
        NetworkInterface {
            id: "eni-0a1b2c3d4e5f60718".to_owned(),
            subnet_id: "subnet-0123456789abcdef0".parse().unwrap(),
            instance_id: Some("i-0123456789abcdef0".to_owned()),
            addresses: vec!["10.0.1.10".parse().unwrap(), "10.0.1.11".parse().unwrap()],
            prefixes: vec!["10.0.1.32/28".parse().unwrap()],
        }
    );
    assert_eq!(interfaces[1].instance_id, None);
    assert!(interfaces[1].prefixes.is_empty());
}

#[test]
fn an_ipv6_only_subnet_is_named_apart() {
    let xml = r#"<DescribeSubnetsResponse><subnetSet><item><subnetId>subnet-06</subnetId><vpcId>vpc-0b</vpcId><availabilityZone>us-east-1a</availabilityZone><ipv6Native>true</ipv6Native><ipv6CidrBlockAssociationSet><item><ipv6CidrBlock>2600:1f18::/64</ipv6CidrBlock></item></ipv6CidrBlockAssociationSet></item><item><subnetId>subnet-04</subnetId><vpcId>vpc-0b</vpcId><cidrBlock>10.0.0.0/24</cidrBlock><availabilityZone>us-east-1a</availabilityZone></item></subnetSet></DescribeSubnetsResponse>"#;
    let subnets = parse_subnets(xml).unwrap();
    assert_eq!(subnets.ipv4.len(), 1);
    assert_eq!(
        subnets.ipv6_only,
        [Ipv6OnlySubnet {
            id: "subnet-06".parse().unwrap(),
            availability_zone: "us-east-1a".to_owned()
        }]
    );
    // Without an IPv4 CIDR and not IPv6-native, the answer is wrong.
    let broken = xml.replace("<ipv6Native>true</ipv6Native>", "");
    assert!(
        parse_subnets(&broken)
            .unwrap_err()
            .to_string()
            .contains("CidrBlock: expected an IPv4 CIDR")
    );
}

#[test]
fn reads_subnets_and_reservations() {
    let subnets = r#"<DescribeSubnetsResponse><subnetSet><item><subnetId>subnet-0a</subnetId><vpcId>vpc-0b</vpcId><cidrBlock>10.0.0.0/19</cidrBlock><availableIpAddressCount>8100</availableIpAddressCount><availabilityZone>us-east-1a</availabilityZone><tagSet><item><key>kubernetes.io/role/cni</key><value>1</value></item></tagSet></item></subnetSet></DescribeSubnetsResponse>"#;
    let mut page: DescribeSubnetsResponse = quick_xml::de::from_str(subnets).unwrap();
    assert_eq!(page.take_next_token(), None);
    let subnet = page.subnet_set.into_iter().next().unwrap();
    let subnet = subnet.into_subnet().unwrap();
    assert_eq!(subnet.cidr, "10.0.0.0/19".parse::<Ipv4Net>().unwrap());
    assert_eq!(subnet.available_ip_address_count, 8100);

    let reservations = r#"<GetSubnetCidrReservationsResponse><subnetIpv4CidrReservationSet><item><subnetCidrReservationId>scr-1</subnetCidrReservationId><subnetId>subnet-0a</subnetId><cidr>10.0.0.64/27</cidr><reservationType>prefix</reservationType></item></subnetIpv4CidrReservationSet><subnetIpv6CidrReservationSet/></GetSubnetCidrReservationsResponse>"#;
    assert_eq!(
        parse_reservations(reservations).unwrap(),
        [CidrReservation {
            cidr: "10.0.0.64/27".parse().unwrap(),
            kind: ReservationKind::Prefix
        }]
    );
    let bad = reservations.replace(">prefix<", ">lease<");
    assert_eq!(
        parse_reservations(&bad).unwrap_err().to_string(),
        "ec2:GetSubnetCidrReservations: ReservationType: expected prefix or explicit, got \"lease\""
    );
}

#[test]
fn refuses_values_that_would_become_bad_labels() {
    let long = format!("subnet-{}", "a".repeat(1000));
    let xml = format!(
        "<DescribeSubnetsResponse><subnetSet><item><subnetId>{long}</subnetId><vpcId>vpc-0b</vpcId><cidrBlock>10.0.0.0/24</cidrBlock><availabilityZone>us-east-1a</availabilityZone></item></subnetSet></DescribeSubnetsResponse>"
    );
    let page: DescribeSubnetsResponse = quick_xml::de::from_str(&xml).unwrap();
    let error = page.subnet_set.into_iter().next().unwrap().into_subnet();
    let message = error.unwrap_err().to_string();
    assert!(
        message.starts_with("ec2:DescribeSubnets: SubnetId: expected subnet-, got \"subnet-aaa"),
        "{message}"
    );
    assert!(message.len() < 160, "{message}");
    let bad = XmlSubnet {
        subnet_id: "subnet-0a".to_owned(),
        vpc_id: "vpc-0b".to_owned(),
        cidr_block: "10.0.0.1/24".to_owned(),
        availability_zone: "us-east-1a".to_owned(),
        available_ip_address_count: None,
        ipv6_native: None,
    };
    assert_eq!(
        bad.into_subnet().unwrap_err().to_string(),
        "ec2:DescribeSubnets: CidrBlock: expected a /16 to /28 network address, got \"10.0.0.1/24\""
    );
}
