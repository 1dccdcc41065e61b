use super::*;

/// 2026-08-20T10:05:10Z.
const NOW: f64 = 1_787_220_310.0;

fn address(ip: &str, network: &str, released: &str) -> String {
    format!(
        r#""{ip}":{{"Address":"{ip}","IPAMKey":{{"networkName":"{network}","containerID":"","ifName":""}},"IPAMMetadata":{{}},"AssignedTime":"2026-08-20T09:00:00Z","UnassignedTime":"{released}"}}"#
    )
}

const NEVER: &str = "0001-01-01T00:00:00Z";

/// Card 0: a primary ENI with three /32s (one pod, one released 10 s ago, one never
/// used); card 1: one ENI with a /28 holding one pod and one address released long ago.
fn v1_20() -> String {
    format!(
        r#"{{"0":{{"TotalIPs":3,"AssignedIPs":1,"ENIs":{{"eni-0a":{{"ID":"eni-0a","IsPrimary":true,"IsTrunk":false,"IsEFA":false,"DeviceNumber":0,
"AvailableIPv4Cidrs":{{
 "10.0.1.23/32":{{"Cidr":{{"IP":"10.0.1.23","Mask":"/////w=="}},"IPAddresses":{{{}}},"IsPrefix":false,"AddressFamily":""}},
 "10.0.1.57/32":{{"Cidr":{{"IP":"10.0.1.57","Mask":"/////w=="}},"IPAddresses":{{{}}},"IsPrefix":false,"AddressFamily":""}},
 "10.0.1.80/32":{{"Cidr":{{"IP":"10.0.1.80","Mask":"/////w=="}},"IPAddresses":{{}},"IsPrefix":false,"AddressFamily":""}}}},
"IPv6Cidrs":{{}},"IsExcludedForPodIPs":false,"RouteTableID":254,"SubnetID":"subnet-1"}}}}}},
"1":{{"TotalIPs":16,"AssignedIPs":1,"ENIs":{{"eni-1b":{{"ID":"eni-1b","IsPrimary":false,"IsTrunk":false,"IsEFA":false,"DeviceNumber":0,
"AvailableIPv4Cidrs":{{"10.0.2.16/28":{{"Cidr":{{"IP":"10.0.2.16","Mask":"////8A=="}},"IPAddresses":{{{},{}}},"IsPrefix":true,"AddressFamily":""}}}},
"IPv6Cidrs":{{}},"IsExcludedForPodIPs":false,"RouteTableID":10100,"SubnetID":"subnet-2"}}}}}}}}"#,
        address("10.0.1.23", "aws-cni", NEVER),
        address("10.0.1.57", "", "2026-08-20T10:05:00.5Z"),
        address("10.0.2.16", "aws-cni", NEVER),
        address("10.0.2.17", "", "2026-08-20T09:30:00+02:00"),
    )
}

#[test]
fn per_card_shape_with_sparse_maps() {
    let pools = parse(v1_20().as_bytes(), NOW).unwrap();
    assert_eq!(pools.enis.len(), 2);
    let a = &pools.enis[0];
    assert_eq!(
        (a.id.as_str(), a.network_card, a.primary),
        ("eni-0a", 0, true)
    );
    assert_eq!((a.total, a.assigned, a.cooldown, a.free), (3, 1, 1, 1));
    assert_eq!((a.secondary_ips, a.prefixes), (3, 0));
    let b = &pools.enis[1];
    assert_eq!((b.id.as_str(), b.network_card), ("eni-1b", 1));
    assert_eq!((b.total, b.assigned, b.cooldown, b.free), (16, 1, 0, 15));
    assert_eq!(
        pools.totals(),
        Totals {
            total: 19,
            assigned: 2,
            cooldown: 1,
            free: 16
        }
    );
    assert_eq!(pools.prefix_delegation(), Some(true));
}

/// An answer repeated byte for byte is not parsed again, yet its pools follow the clock:
/// the address released at 10:05:00.5 stops cooling down at 10:05:30.5.
#[test]
fn same_bytes_finds_a_difference_in_any_block_or_the_tail() {
    let a: Vec<u8> = (0..100u8).collect();
    assert!(same_bytes(&a, &a.clone()));
    assert!(same_bytes(&[], &[]));
    for i in [0, 31, 32, 63, 64, 95, 96, 99] {
        let mut b = a.clone();
        b[i] ^= 1;
        assert!(!same_bytes(&a, &b), "a difference at byte {i}");
    }
    assert!(!same_bytes(&a, &a[..99]));
    assert!(!same_bytes(&a[..64], &a[..96]));
}

#[test]
fn a_repeated_answer_keeps_its_pools_until_a_cooldown_ends() {
    let body = Bytes::from(v1_20());
    let mut last = None;
    let first = Memo::pools(&mut last, body.clone(), NOW).unwrap();
    assert_eq!(first.totals().cooldown, 1);
    assert_eq!(last.as_ref().unwrap().parsed.settled_until, NOW + 20.5);

    let same = Memo::pools(&mut last, body.clone(), NOW + 20.0).unwrap();
    assert_eq!(same, first);

    let later = Memo::pools(&mut last, body.clone(), NOW + 20.5).unwrap();
    assert_eq!(later.totals().cooldown, 0);
    assert_eq!(later, parse(&body, NOW + 20.5).unwrap());
    assert_eq!(last.as_ref().unwrap().parsed.settled_until, f64::INFINITY);

    let changed = v1_20().replace(r#""networkName":"""#, r#""networkName":"aws-cni""#);
    let other = Memo::pools(&mut last, Bytes::from(changed.clone()), NOW + 21.0).unwrap();
    assert_eq!(other, parse(changed.as_bytes(), NOW + 21.0).unwrap());
    assert_ne!(other, later);
}

#[test]
fn flat_shape_before_v1_20() {
    let flat = r#"{"TotalIPs":2,"AssignedIPs":0,"ENIs":{"eni-9":{"ID":"eni-9","IsPrimary":true,"IsTrunk":false,"DeviceNumber":0,
      "AvailableIPv4Cidrs":{"10.1.0.5/32":{"Cidr":{"IP":"10.1.0.5","Mask":"/////w=="},"IPAddresses":{},"IsPrefix":false},
                            "10.1.0.6/32":{"Cidr":{"IP":"10.1.0.6","Mask":"/////w=="},"IPAddresses":null,"IsPrefix":false}},
      "IPv6Cidrs":null}}}"#;
    let pools = parse(flat.as_bytes(), NOW).unwrap();
    assert_eq!(pools.enis.len(), 1);
    assert_eq!(
        pools.totals(),
        Totals {
            total: 2,
            assigned: 0,
            cooldown: 0,
            free: 2
        }
    );
    assert_eq!(pools.prefix_delegation(), Some(false));
    assert_eq!(
        parse(br#"{"0":{"TotalIPs":0,"AssignedIPs":0,"ENIs":{}}}"#, NOW)
            .unwrap()
            .prefix_delegation(),
        None
    );
}

#[test]
fn escaped_values_are_read_too() {
    // Go's encoder escapes <, > and &; a value with escapes cannot be borrowed.
    let json = r#"{"0":{"ENIs":{"eni-e":{"ID":"eni-\u0065","AvailableIPv4Cidrs":{"10.3.0.1/32":{"IPAddresses":{
        "10.3.0.1":{"IPAMKey":{"networkName":"aws\u0026cni"},"UnassignedTime":"0001-01-01T00:00:00Z"}}}}}}}}"#;
    let pools = parse(json.as_bytes(), NOW).unwrap();
    assert_eq!(pools.enis[0].id, "eni-e");
    assert_eq!(pools.enis[0].assigned, 1);
}

#[test]
fn escaped_keys_are_keys() {
    let json = r#"{"\u0030":{"ENIs":{"eni-\u0031":{"ID":"eni-\u0031","AvailableIPv4Cidrs":{"10.3.0.1\/32":{"IPAddresses":{}}}}}}}"#;
    let pools = parse(json.as_bytes(), NOW).unwrap();
    assert_eq!(
        (pools.enis[0].id.as_str(), pools.enis[0].free),
        ("eni-1", 1)
    );
}

#[test]
fn answers_past_the_bounds_fail_clearly() {
    let eni = |i: usize| format!(r#""e{i}":{{"ID":"eni-{i:017x}"}}"#);
    let many: Vec<String> = (0..=MAX_ENIS).map(eni).collect();
    let json = format!(r#"{{"0":{{"ENIs":{{{}}}}}}}"#, many.join(","));
    assert_eq!(
        parse(json.as_bytes(), NOW).unwrap_err().to_string(),
        "129 ENIs: expected at most 128 (the most any instance type attaches is 64)"
    );
    let long = format!(
        r#"{{"0":{{"ENIs":{{"a":{{"ID":"eni-{}"}}}}}}}}"#,
        "f".repeat(1_000_000)
    );
    let err = parse(long.as_bytes(), NOW).unwrap_err().to_string();
    assert!(err.len() < 200 && err.contains("(1000004 bytes)"), "{err}");
}

#[test]
fn excluded_enis_are_not_pod_capacity() {
    let json = r#"{"0":{"ENIs":{"eni-x":{"ID":"eni-x","DeviceNumber":1,"IsExcludedForPodIPs":true,
        "AvailableIPv4Cidrs":{"10.2.0.0/28":{"IPAddresses":{}}}}}}}"#;
    let pools = parse(json.as_bytes(), NOW).unwrap();
    assert_eq!(pools.enis[0].free, 16);
    assert_eq!(pools.totals(), Totals::default());
}

#[test]
fn bad_documents() {
    for (json, expected) in [
        (
            "[]",
            "invalid type: sequence, expected a JSON object of ENIs or of network cards",
        ),
        ("nope", "expected JSON"),
        (
            r#"{"zero":{}}"#,
            "expected network card numbers as keys, got \"zero\"",
        ),
        (
            r#"{"0":{"ENIs":{"e":{"ID":"eni-e","AvailableIPv4Cidrs":{"10.0.0.1":{}}}}}}"#,
            "ENI eni-e: expected an IPv4 CIDR key",
        ),
        (
            r#"{"0":{"ENIs":{"e":{"DeviceNumber":-1}}}}"#,
            "invalid value: integer `-1`",
        ),
        // The wrong shape is an error, not an empty datastore.
        (
            "{}",
            "expected ENIs or network card numbers at the top level",
        ),
        (
            r#"{"TotalIPs":3}"#,
            "expected ENIs or network card numbers at the top level",
        ),
        (r#"{"0":{"TotalIPs":3}}"#, "missing field `ENIs`"),
        (
            r#"{"0":{"ENIs":{}},"0":{"ENIs":{}}}"#,
            "network card 0 appears twice",
        ),
        (
            r#"{"0":{"ENIs":{"a":{"ID":"eni-a"}}},"1":{"ENIs":{"b":{"ID":"eni-a"}}}}"#,
            "ENI eni-a appears twice",
        ),
        (
            r#"{"0":{"ENIs":{"a":{"ID":"eth0"}}}}"#,
            "ENI id \"eth0\": expected eni- and at most 32 characters",
        ),
    ] {
        let err = crate::error::Chain(&parse(json.as_bytes(), NOW).unwrap_err()).to_string();
        assert!(err.starts_with(expected), "{json}: {err}");
    }
}

#[test]
fn timestamps() {
    assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0.0));
    assert_eq!(unix_seconds("2026-08-20T10:05:10Z"), Some(NOW));
    assert_eq!(unix_seconds("2026-08-20T12:05:10+02:00"), Some(NOW));
    assert_eq!(unix_seconds("2026-08-20T10:05:10.25Z"), Some(NOW + 0.25));
    assert!(unix_seconds(NEVER).unwrap() < -6.2e10);
    assert_eq!(unix_seconds("yesterday"), None);
    assert_eq!(unix_seconds("2026-13-01T00:00:00Z"), None);
}
