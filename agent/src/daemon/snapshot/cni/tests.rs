use super::*;
use crate::daemon::collect::ipamd_settings::{Declared, EnvSettings, IpamdSettings};
use crate::daemon::tests::full_observations;

fn targets(warm_ip: u32, minimum_ip: u32, warm_eni: u32, warm_prefix: u32) -> WarmTargets {
    WarmTargets {
        warm_ip,
        minimum_ip,
        warm_eni,
        warm_prefix,
    }
}

#[test]
fn warm_ip_target_wants_that_many_available() {
    // WARM_IP_TARGET=5, 10 total, 8 assigned: 2 available, 3 short.
    assert_eq!(addresses_needed(targets(5, 0, 1, 0), false, 9, 10, 8), 3);
    // 5 available already: none short.
    assert_eq!(addresses_needed(targets(5, 0, 1, 0), false, 9, 13, 8), 0);
    // Prefix delegation changes nothing in the shortfall (ipamd rounds up to /28s).
    assert_eq!(addresses_needed(targets(5, 0, 0, 1), true, 144, 16, 14), 3);
}

#[test]
fn minimum_ip_target_is_a_floor_on_total() {
    // MINIMUM_IP_TARGET=30, WARM_IP_TARGET=0: 18 total, 5 assigned → 12 short of 30.
    assert_eq!(addresses_needed(targets(0, 30, 1, 0), false, 9, 18, 5), 12);
    // Both: the larger shortfall wins (warm 20 − 13 available = 7 < 12).
    assert_eq!(addresses_needed(targets(20, 30, 1, 0), false, 9, 18, 5), 12);
    assert_eq!(addresses_needed(targets(20, 10, 1, 0), false, 9, 18, 5), 7);
}

#[test]
fn warm_eni_target_wants_whole_enis_of_addresses() {
    // WARM_ENI_TARGET=1 on an m5.large (9 per ENI): 18 total, 14 assigned → 4 of 9.
    assert_eq!(addresses_needed(targets(0, 0, 1, 0), false, 9, 18, 14), 5);
    // WARM_ENI_TARGET=2: 18 wanted, 4 available.
    assert_eq!(addresses_needed(targets(0, 0, 2, 0), false, 9, 18, 14), 14);
    // WARM_ENI_TARGET=0 wants one free address, only when none is.
    assert_eq!(addresses_needed(targets(0, 0, 0, 0), false, 9, 18, 18), 1);
    assert_eq!(addresses_needed(targets(0, 0, 0, 0), false, 9, 18, 17), 0);
    // With prefix delegation the unit is a /28 (WARM_PREFIX_TARGET): 16 × 1 − 9.
    assert_eq!(addresses_needed(targets(0, 0, 1, 1), true, 144, 16, 7), 7);
}

fn settings(o: &mut Observations, warm_ip: u32, minimum_ip: Option<u32>) {
    o.ipamd_settings = Some(IpamdSettings {
        env: EnvSettings {
            warm_ip_target: Some(warm_ip),
            warm_eni_target: Some(1),
            custom_networking: Some(false),
            manage_enis_non_schedulable: Some(false),
            subnet_discovery: Some(true),
        },
        eni_config: EniConfig::None,
        declared: Declared {
            minimum_ip_target: minimum_ip,
            warm_prefix_target: None,
        },
    });
}

#[test]
fn the_shortfall_needs_every_target_it_depends_on() {
    let mut o = full_observations();
    settings(&mut o, 0, None);
    // MINIMUM_IP_TARGET unknown: the mode cannot be told.
    let cni = Cni::derive(&o);
    assert_eq!(cni.facts.minimum_ip_target, Fact::Unknown);
    assert_eq!(cni.pools[0].addresses_needed, None);
    let sample = cni
        .facts
        .settings()
        .into_iter()
        .find(|s| s.name == "minimum_ip_target")
        .unwrap();
    assert_eq!((sample.value, sample.applicable), (None, true));
    settings(&mut o, 0, Some(0));
    // WARM_ENI_TARGET=1: 9 wanted, 13 available.
    assert_eq!(Cni::derive(&o).pools[0].addresses_needed, Some(0));
    settings(&mut o, 0, Some(25));
    assert_eq!(Cni::derive(&o).pools[0].addresses_needed, Some(7));
}

#[test]
fn at_capacity_exactly_when_no_address_slot_or_room_is_left() {
    let full = |assigned: u64, cooldown: u64, enis: u32| {
        let mut o = full_observations();
        let pool = |n: u32| EniPool {
            id: format!("eni-0{n}"),
            network_card: 0,
            device_number: n,
            primary: n == 0,
            trunk: false,
            excluded: false,
            prefixes: 0,
            secondary_ips: 9,
            total: 9,
            assigned: assigned.min(9),
            cooldown,
            free: 9 - assigned.min(9) - cooldown,
        };
        o.ipamd_pools = Some(IpamdPools {
            enis: (0..enis).map(pool).collect(),
        });
        Cni::derive(&o).pools[0].at_capacity
    };
    // 3 ENIs (the m5.large's limit), every address held: the next pod fails.
    assert_eq!(full(9, 0, 3), Some(true));
    // One address free.
    assert_eq!(full(8, 0, 3), Some(false));
    // None free, one cooling down: still nothing to give now.
    assert_eq!(full(8, 1, 3), Some(true));
    // An ENI slot left.
    assert_eq!(full(9, 0, 2), Some(false));
    // Room on an ENI: 5 of its 9 secondary addresses attached.
    let mut o = full_observations();
    let pools = o.ipamd_pools.as_mut().unwrap();
    for e in &mut pools.enis {
        e.assigned = e.total;
        e.cooldown = 0;
        e.free = 0;
    }
    let mut third = pools.enis[1].clone();
    third.id = "eni-03".to_owned();
    third.device_number = 2;
    third.secondary_ips = 5;
    third.total = 5;
    third.assigned = 5;
    pools.enis.push(third);
    assert_eq!(Cni::derive(&o).pools[0].at_capacity, Some(false));
}

#[test]
fn prefix_delegation_from_ipamds_ceiling_when_the_datastore_is_empty() {
    let mut o = full_observations();
    o.ipamd_pools = Some(IpamdPools::default());
    let metrics = o.ipamd_metrics.as_mut().unwrap();
    metrics.ipv4_prefixes = Some(0.0);
    // m5.large: 3 ENIs × 9 × 16.
    metrics.ip_max = Some(432.0);
    assert_eq!(
        Cni::derive(&o).facts.prefix_delegation,
        Fact::Known(true, FactSource::IpamdMetrics)
    );
    o.ipamd_metrics.as_mut().unwrap().ip_max = Some(27.0);
    assert_eq!(
        Cni::derive(&o).facts.prefix_delegation,
        Fact::Known(false, FactSource::IpamdMetrics)
    );
    // Neither: a ceiling that fits no mode (MAX_ENI changed in between) tells nothing,
    // and IMDS decides.
    o.ipamd_metrics.as_mut().unwrap().ip_max = Some(100.0);
    assert_eq!(
        Cni::derive(&o).facts.prefix_delegation,
        Fact::Known(false, FactSource::Imds)
    );
}

#[test]
fn custom_networking_from_an_unused_primary_eni_without_the_settings_endpoint() {
    let mut o = full_observations();
    o.ipamd_settings = None;
    assert_eq!(
        Cni::derive(&o).facts.custom_networking,
        Fact::Known(false, FactSource::IpamdEnis)
    );
    let primary = &mut o.ipamd_pools.as_mut().unwrap().enis[0];
    primary.secondary_ips = 0;
    assert_eq!(
        Cni::derive(&o).facts.custom_networking,
        Fact::Known(true, FactSource::IpamdEnis)
    );
    // The settings ipamd does not expose are then not applicable, not unknown.
    let cni = Cni::derive(&o);
    assert_eq!(cni.facts.warm_ip_target, Fact::NotApplicable);
    assert_eq!(cni.facts.eni_config, Fact::NotApplicable);
}

#[test]
fn without_a_vpc_cni_nothing_applies() {
    let mut o = full_observations();
    o.ipamd_settings = None;
    o.ipamd_pools = None;
    o.ipamd_metrics = None;
    let cni = Cni::derive(&o);
    assert!(
        cni.facts
            .settings()
            .iter()
            .all(|s| s.name == "prefix_delegation" || !s.applicable)
    );
    // EC2's view still tells the addressing (IMDS: single addresses).
    assert_eq!(
        cni.facts.prefix_delegation,
        Fact::Known(false, FactSource::Imds)
    );
    assert!(cni.pools.is_empty());
}

#[test]
fn the_cni_serves_what_plan_gives_in_its_mode() {
    // m5.large: secondary IPs 29; trunk ENI 20; custom networking 20; prefix delegation
    // 434 before the cap, 110 with the eks cap (the nodecap profile's default).
    let mut o = full_observations();
    assert_eq!(Cni::derive(&o).max_pods, Some(29));
    o.ipamd_pools.as_mut().unwrap().enis[1].trunk = true;
    assert_eq!(Cni::derive(&o).max_pods, Some(20));
    let mut o = full_observations();
    o.ipamd_settings.as_mut().unwrap().env.custom_networking = Some(true);
    assert_eq!(Cni::derive(&o).max_pods, Some(20));
    let mut o = full_observations();
    for e in &mut o.ipamd_pools.as_mut().unwrap().enis {
        e.prefixes = 1;
    }
    let cni = Cni::derive(&o);
    assert_eq!((cni.max_pods, cni.ip_limited_pods), (Some(110), Some(434)));
}
