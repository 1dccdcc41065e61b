//! The EC2 API's subnet listings (`DescribeSubnets`, `DescribeNetworkInterfaces`,
//! `GetSubnetCidrReservations`): never a panic; every id within its label bound; a CIDR a
//! subnet can have; an error is one short line.
#![no_main]
// A fuzz target reports a finding by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use libfuzzer_sys::fuzz_target;
use nodecap::aws::ec2::subnets::{parse_interfaces, parse_reservations, parse_subnets};
use nodecap::error::Chain;

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else {
        return;
    };
    match parse_subnets(xml) {
        Ok(subnets) => {
            for s in subnets.ipv4 {
                assert!(
                    s.id.len() <= 31 && s.vpc_id.len() <= 28 && s.availability_zone.len() <= 32
                );
                assert!((16..=28).contains(&s.cidr.prefix_len()));
            }
        }
        Err(e) => assert!(Chain(&e).to_string().len() <= 1024),
    }
    match parse_interfaces(xml) {
        Ok(interfaces) => {
            for i in interfaces {
                assert!(i.id.len() <= 28 && i.subnet_id.len() <= 31);
                assert!(i.prefixes.iter().all(|p| p.prefix_len() == 28));
            }
        }
        Err(e) => assert!(Chain(&e).to_string().len() <= 1024),
    }
    if let Err(e) = parse_reservations(xml) {
        assert!(Chain(&e).to_string().len() <= 1024);
    }
});
