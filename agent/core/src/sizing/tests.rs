use super::*;
use crate::expression::Expression;
use crate::instance::lookup_embedded;

fn facts(name: &str) -> &'static InstanceFacts {
    lookup_embedded(name).unwrap_or_else(|| panic!("{name} not in the table"))
}

fn pods(name: &str, options: SizingOptions) -> u32 {
    size(facts(name), Source::Embedded, &options).max_pods
}

fn eks_capped() -> SizingOptions {
    SizingOptions {
        max_pods_cap: Some(CapPolicy::Eks),
        ..Default::default()
    }
}

fn uncapped() -> SizingOptions {
    SizingOptions {
        max_pods_cap: Some(CapPolicy::None),
        ..Default::default()
    }
}

/// docs/sizing.md "Worked examples".
#[test]
fn design_worked_examples() {
    let pd = SizingOptions {
        prefix_delegation: true,
        ..eks_capped()
    };
    let cn = SizingOptions {
        custom_networking: true,
        ..eks_capped()
    };
    let max2 = SizingOptions {
        max_enis: Some(2),
        ..eks_capped()
    };
    let cases: &[(&str, SizingOptions, u32, Option<u32>)] = &[
        ("t3.micro", eks_capped(), 4, Some(4)),
        ("m5.large", eks_capped(), 29, Some(29)),
        ("m5.4xlarge", eks_capped(), 110, Some(234)),
        ("m5.24xlarge", eks_capped(), 250, Some(737)),
        ("p4d.24xlarge", eks_capped(), 250, Some(737)),
        ("t3.medium", pd.clone(), 110, Some(242)),
        ("m5.large", cn.clone(), 20, Some(20)),
        ("m5.4xlarge", max2.clone(), 60, Some(60)),
    ];
    for (name, options, want, want_raw) in cases {
        let s = size(facts(name), Source::Embedded, options);
        assert_eq!(s.max_pods, *want, "{name} {options:?}");
        assert_eq!(s.ip_limited_pods, *want_raw, "raw {name} {options:?}");
    }
}

/// docs/sizing.md "The calculator": capped ("rec") and raw.
#[test]
#[allow(clippy::type_complexity)]
fn eks_ami_calculator_table() {
    #[rustfmt::skip]
    let rows: &[(&str, u32, u32, u32, u32, u32, u32, u32)] = &[
        // type,        table, rec,  raw PD, rec PD, rec CN, raw CN+PD, rec CN+PD
        ("t3.micro",     4,    4,    34,     34,     3,      18,        18),
        ("t3.medium",    17,   17,   242,    110,    12,     162,       110),
        ("m5.large",     29,   29,   434,    110,    20,     290,       110),
        ("m5.4xlarge",   234,  110,  3714,   110,    110,    3250,      110),
        ("c5.18xlarge",  737,  250,  11762,  250,    250,    10978,     250),
        ("m5.24xlarge",  737,  250,  11762,  250,    250,    10978,     250),
        ("p4d.24xlarge", 737,  250,  11762,  250,    250,    10978,     250),
    ];
    for &(name, table, rec, raw_pd, rec_pd, rec_cn, raw_cn_pd, rec_cn_pd) in rows {
        let with = |pd: bool, cn: bool, capped: bool| {
            pods(
                name,
                SizingOptions {
                    prefix_delegation: pd,
                    custom_networking: cn,
                    max_pods_cap: Some(if capped {
                        CapPolicy::Eks
                    } else {
                        CapPolicy::None
                    }),
                    ..Default::default()
                },
            )
        };
        assert_eq!(with(false, false, false), table, "{name} table");
        assert_eq!(with(false, false, true), rec, "{name} rec");
        assert_eq!(with(true, false, false), raw_pd, "{name} raw PD");
        assert_eq!(with(true, false, true), rec_pd, "{name} rec PD");
        assert_eq!(with(false, true, true), rec_cn, "{name} rec CN");
        assert_eq!(with(true, true, false), raw_cn_pd, "{name} raw CN+PD");
        assert_eq!(with(true, true, true), rec_cn_pd, "{name} rec CN+PD");
    }
    // Custom networking, raw, on the big types is 688.
    let cn_raw = SizingOptions {
        custom_networking: true,
        ..uncapped()
    };
    assert_eq!(pods("m5.24xlarge", cn_raw.clone()), 688);
    assert_eq!(pods("m5.4xlarge", cn_raw), 205);
}

/// The calculator's own test cases (amazon-eks-ami `templates/test/cases/max-pods-cni-*.sh`)
/// and multi-card table values (docs/sizing.md).
#[test]
fn eks_ami_test_cases_and_multi_card() {
    assert_eq!(pods("m4.xlarge", eks_capped()), 58);
    assert_eq!(pods("m5.8xlarge", eks_capped()), 234);
    let pd = SizingOptions {
        prefix_delegation: true,
        ..eks_capped()
    };
    assert_eq!(pods("m5.8xlarge", pd), 250);
    assert_eq!(pods("c6in.32xlarge", uncapped()), 394);
    assert_eq!(pods("p5.48xlarge", uncapped()), 100);
    assert_eq!(pods("p5en.48xlarge", uncapped()), 198);
    assert_eq!(pods("trn1.32xlarge", uncapped()), 247);
}

#[test]
fn prefix_delegation_falls_back_on_xen_and_says_so() {
    let pd = SizingOptions {
        prefix_delegation: true,
        ..uncapped()
    };
    let s = size(facts("p3.2xlarge"), Source::Embedded, &pd);
    assert_eq!(s.addressing, PodAddressing::SecondaryIp);
    assert_eq!(s.max_pods, 4 * 14 + 2);
    assert!(s.notes[0].contains("p3.2xlarge is xen"), "{:?}", s.notes);
    // Bare metal has no hypervisor but does prefix delegation (ipamd's rule).
    let s = size(facts("m7i.metal-48xl"), Source::Embedded, &pd);
    assert_eq!(s.addressing, PodAddressing::PrefixDelegation);
    assert!(s.notes.is_empty());
}

#[test]
fn eni_arithmetic_floors_at_zero() {
    let options = SizingOptions {
        custom_networking: true,
        reserved_enis: 5,
        ..uncapped()
    };
    let s = size(facts("t3.micro"), Source::Embedded, &options);
    assert_eq!(s.enis.used, 0);
    assert_eq!(s.max_pods, 2);
    // max_enis above the instance's limit changes nothing.
    let options = SizingOptions {
        max_enis: Some(99),
        ..uncapped()
    };
    assert_eq!(pods("m5.large", options), 29);
    // One trunk ENI reserved for security groups for pods: m5.large 2 × 9 + 2.
    let options = SizingOptions {
        reserved_enis: 1,
        ..uncapped()
    };
    assert_eq!(pods("m5.large", options), 20);
}

#[test]
fn caps_pods_per_core_and_explicit_override() {
    let fixed = SizingOptions {
        max_pods_cap: Some(CapPolicy::Fixed(50)),
        ..Default::default()
    };
    assert_eq!(pods("m5.4xlarge", fixed.clone()), 50);
    assert_eq!(pods("m5.large", fixed), 29);
    // Karpenter's podsPerCore (docs/sizing.md): 4 on m5.large → 8.
    let ppc = SizingOptions {
        pods_per_core: Some(4),
        ..Default::default()
    };
    let s = size(facts("m5.large"), Source::Embedded, &ppc);
    assert_eq!((s.max_pods, s.pods_per_core_limit), (8, Some(8)));
    // An explicit maxPods wins over everything, and nodecap reserves memory for it.
    let explicit = SizingOptions {
        max_pods: Some(58),
        ..Default::default()
    };
    let s = size(facts("m5.large"), Source::Embedded, &explicit);
    assert_eq!((s.max_pods, s.kube_reserved.memory_mib), (58, 893));
}

#[test]
fn ipv6_is_not_ip_limited() {
    let v6 = SizingOptions {
        ip_family: IpFamily::Ipv6,
        ..Default::default()
    };
    let s = size(facts("t3.micro"), Source::Embedded, &v6);
    assert_eq!((s.ip_limited_pods, s.max_pods), (None, 110));
    // kube-reserved memory from the final number: 11 × 110 + 255.
    assert_eq!(s.kube_reserved.memory_mib, 1465);
    // An expression decides before the cap; its max_pods is the secondary-IP ENI number
    // (m5.large 29), and memory follows: 11 × 58 + 255 = 893.
    let doubled = SizingOptions {
        max_pods_expression: Some(Expression::parse("max_pods * 2").unwrap()),
        ..v6.clone()
    };
    let s = size(facts("m5.large"), Source::Embedded, &doubled);
    assert_eq!(
        (
            s.expression_pods,
            s.max_pods,
            s.kube_reserved.memory_mib,
            s.bound
        ),
        (Some(58), 58, 893, Bound::Expression)
    );
    assert_eq!(pods("m5.24xlarge", v6.clone()), 250);
    let fixed = SizingOptions {
        max_pods_cap: Some(CapPolicy::Fixed(300)),
        ..v6.clone()
    };
    assert_eq!(pods("m5.24xlarge", fixed), 300);
    let none = SizingOptions {
        max_pods_cap: Some(CapPolicy::None),
        ..v6
    };
    assert_eq!(pods("m5.large", none), 110);
}

/// docs/sizing.md "kube-reserved", CPU.
#[test]
fn cpu_ladder() {
    let cases = [
        (1, 60),
        (2, 70),
        (3, 75),
        (4, 80),
        (5, 82),
        (8, 90),
        (16, 110),
        (32, 150),
        (48, 190),
        (64, 230),
        (72, 250),
        (96, 310),
        (128, 390),
        (192, 550),
    ];
    for (vcpus, want) in cases {
        let got: u32 = kube_reserved_cpu(vcpus)
            .iter()
            .map(|b| b.reserved_millis)
            .sum();
        assert_eq!(got, want, "{vcpus} vCPUs");
    }
    assert_eq!(kube_reserved_cpu(2).len(), 2);
}

/// docs/sizing.md "kube-reserved", memory.
#[test]
fn memory_formula() {
    let cases = [
        (4, 299),
        (17, 442),
        (29, 574),
        (58, 893),
        (110, 1465),
        (234, 2829),
        (250, 3005),
        (737, 8362),
        (1514, 16909),
    ];
    for (pods, want) in cases {
        assert_eq!(kube_reserved_memory_mib(pods), want, "{pods} pods");
    }
}

#[test]
fn nodecap_profile_reserves_for_effective_pods() {
    let s = size(
        facts("m5.large"),
        Source::Embedded,
        &SizingOptions::default(),
    );
    assert_eq!(s.max_pods, 29);
    assert_eq!(
        s.kube_reserved,
        Reservation {
            cpu_millis: 70,
            memory_mib: 574,
            ephemeral_storage_gib: 1
        }
    );
    assert_eq!(s.system_reserved, Some(SYSTEM_RESERVED_NODECAP));
    assert_eq!(s.eviction_hard.len(), 5);
    let s = size(
        facts("m5.4xlarge"),
        Source::Embedded,
        &SizingOptions::default(),
    );
    assert_eq!(
        (
            s.max_pods,
            s.kube_reserved.memory_mib,
            s.kube_reserved.cpu_millis
        ),
        (110, 1465, 110)
    );
    let s = size(
        facts("m5.24xlarge"),
        Source::Embedded,
        &SizingOptions::default(),
    );
    assert_eq!((s.max_pods, s.kube_reserved.memory_mib), (250, 3005));
}

/// nodeadm parity (docs/sizing.md "nodeadm"): uncapped, memory from the ENI number
/// even when maxPods is overridden, three eviction keys, no systemReserved.
#[test]
fn eks_profile_matches_nodeadm() {
    let eks = SizingOptions {
        profile: Profile::Eks,
        ..Default::default()
    };
    let s = size(facts("m5.4xlarge"), Source::Embedded, &eks);
    assert_eq!((s.max_pods, s.kube_reserved.memory_mib), (234, 2829));
    assert_eq!(s.system_reserved, None);
    assert_eq!(s.eviction_hard, EVICTION_HARD_EKS);
    let s = size(facts("m5.24xlarge"), Source::Embedded, &eks);
    assert_eq!((s.max_pods, s.kube_reserved.memory_mib), (737, 8362));
    // nodeadm e2e: an explicit maxPods leaves kube-reserved on the ENI number.
    let explicit = SizingOptions {
        max_pods: Some(1),
        ..eks.clone()
    };
    let s = size(facts("m4.xlarge"), Source::Embedded, &explicit);
    assert_eq!((s.max_pods, s.kube_reserved.memory_mib), (1, 893));
    // nodeadm's custom-networking expression on m4.xlarge gives 44 pods and 739Mi.
    let cn = SizingOptions {
        custom_networking: true,
        ..eks
    };
    let s = size(facts("m4.xlarge"), Source::Embedded, &cn);
    assert_eq!((s.max_pods, s.kube_reserved.memory_mib), (44, 739));
}

/// GKE's published tiers and ladder (docs/sizing.md "Other clouds"), by hand.
#[test]
fn gke_profile_by_hand() {
    let gke = SizingOptions {
        profile: Profile::Gke,
        ..Default::default()
    };
    // (type, memory MiB, pods, kube-reserved memory, cpu)
    let cases = [
        // 4096: 25% × 4096 = 1024.
        ("t3.medium", 4096, 17, 1024, 70),
        // 8192: 1024 + 20% × 4096 (819.2) = 1843.2 → 1843.
        ("m5.large", 8192, 29, 1843, 70),
        // 65536: 1024 + 819.2 + 10% × 8192 (819.2) + 6% × 49152 (2949.12) = 5611.52.
        ("m5.4xlarge", 65536, 110, 5611, 110),
        // 524288: 1024 + 819.2 + 819.2 + 6% × 114688 (6881.28) + 2% × 393216 (7864.32)
        // = 17408; CPU 60 + 10 + 10 + 0.25% × 60 cores (150) = 230.
        ("r5.16xlarge", 524_288, 250, 17408, 230),
    ];
    for (name, memory, pods, kube, cpu) in cases {
        let s = size(facts(name), Source::Embedded, &gke);
        assert_eq!(s.instance.memory_mib, memory, "{name}");
        assert_eq!(
            (
                s.max_pods,
                s.kube_reserved.memory_mib,
                s.kube_reserved.cpu_millis
            ),
            (pods, kube, cpu),
            "{name}"
        );
        assert_eq!(s.system_reserved, None);
        assert_eq!(s.eviction_hard[0], ("memory.available", "100Mi"));
        assert_eq!(s.eviction_hard.len(), 5);
    }
}

/// AKS's published formula and CPU table (docs/sizing.md "Other clouds"), by hand.
#[test]
fn aks_profile_by_hand() {
    let aks = SizingOptions {
        profile: Profile::Aks,
        ..Default::default()
    };
    // (type, pods, kube-reserved memory, cpu)
    let cases = [
        // min(20 × 17 + 50 = 390, 4096 / 4 = 1024) = 390; 2 cores → 100m.
        ("t3.medium", 17, 390, 100),
        // min(20 × 29 + 50 = 630, 2048) = 630.
        ("m5.large", 29, 630, 100),
        // min(20 × 110 + 50 = 2250, 16384) = 2250; 16 cores → 260m.
        ("m5.4xlarge", 110, 2250, 260),
        // min(20 × 250 + 50 = 5050, 131072) = 5050; 64 cores → 740m.
        ("r5.16xlarge", 250, 5050, 740),
        // 512 MiB: min(20 × 4 + 50 = 130, 128) = 128: the quarter binds.
        ("t3.nano", 4, 128, 100),
    ];
    for (name, pods, kube, cpu) in cases {
        let s = size(facts(name), Source::Embedded, &aks);
        assert_eq!(
            (
                s.max_pods,
                s.kube_reserved.memory_mib,
                s.kube_reserved.cpu_millis
            ),
            (pods, kube, cpu),
            "{name}"
        );
        assert_eq!(s.system_reserved, None);
    }
    // Every published row of the CPU table.
    for (cores, millis) in [
        (1, 60),
        (2, 100),
        (4, 140),
        (8, 180),
        (16, 260),
        (32, 420),
        (64, 740),
    ] {
        assert_eq!(aks_cpu_millis(cores), millis, "{cores} cores");
    }
}

/// The memory cap (README "Sizing rules"), nodecap profile: each pod keeps 256 MiB of
/// memory − (11 × n + 255) − 200 (systemReserved) − 200 (eviction), so
/// `n ≤ (memory − 655) / 267`.
#[test]
fn memory_cap_by_hand() {
    let memory = SizingOptions {
        max_pods_cap: Some(CapPolicy::Memory),
        ..Default::default()
    };
    // (type, memory, ENI pods, memory bound, maxPods, bound)
    let cases = [
        // (65536 − 655) / 267 = 243 exactly; the ENIs' 234 is smaller.
        ("m5.4xlarge", 65536, 234, 243, 234, Bound::Addresses),
        // (16384 − 655) / 267 = 58.9 → 58; the ENIs' 29 is smaller.
        ("r5.large", 16384, 29, 58, 29, Bound::Addresses),
        // (2048 − 655) / 267 = 5.2 → 5: memory binds below the ENIs' 11.
        ("t3.small", 2048, 11, 5, 5, Bound::Cap),
    ];
    for (name, mib, eni_pods, cap, pods, bound) in cases {
        let s = size(facts(name), Source::Embedded, &memory);
        assert_eq!(s.instance.memory_mib, mib, "{name}");
        assert_eq!(
            (s.ip_limited_pods, s.cap_value, s.max_pods, s.bound),
            (Some(eni_pods), Some(cap), pods, bound),
            "{name}"
        );
        // What the cap promises holds at the number it gives, and fails at one more.
        let left = |n: u64| mib - (11 * n + 255) - 200 - 200;
        assert!(u64::from(cap) * 256 <= left(u64::from(cap)), "{name}");
        assert!(
            u64::from(cap + 1) * 256 > left(u64::from(cap + 1)),
            "{name}"
        );
    }
    // With prefix delegation the ENIs allow 3714 on m5.4xlarge: memory binds at 243.
    let pd = SizingOptions {
        prefix_delegation: true,
        ..memory.clone()
    };
    let s = size(facts("m5.4xlarge"), Source::Embedded, &pd);
    assert_eq!((s.max_pods, s.bound), (243, Bound::Cap));
    // 512 MiB per pod: (65536 − 655) / 523 = 124.05 → 124.
    let big = SizingOptions {
        min_memory_per_pod_mib: Some(512),
        ..pd
    };
    assert_eq!(
        size(facts("m5.4xlarge"), Source::Embedded, &big).max_pods,
        124
    );
    // Other profiles' reservations: gke (fixed 5611, eviction 100) on m5.4xlarge PD:
    // (65536 − 5611 − 100) / 256 = 233.69 → 233.
    let gke = SizingOptions {
        profile: Profile::Gke,
        prefix_delegation: true,
        ..memory
    };
    assert_eq!(
        size(facts("m5.4xlarge"), Source::Embedded, &gke).max_pods,
        233
    );
}

#[test]
fn cap_policy_parses() {
    assert_eq!("eks".parse::<CapPolicy>(), Ok(CapPolicy::Eks));
    assert_eq!("none".parse::<CapPolicy>(), Ok(CapPolicy::None));
    assert_eq!("memory".parse::<CapPolicy>(), Ok(CapPolicy::Memory));
    assert_eq!("42".parse::<CapPolicy>(), Ok(CapPolicy::Fixed(42)));
    assert!("0".parse::<CapPolicy>().is_err());
    assert!("-3".parse::<CapPolicy>().is_err());
    assert!("lots".parse::<CapPolicy>().is_err());
}
