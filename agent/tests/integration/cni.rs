//! The VPC CNI's mode, observed: `nodecap run` against the test ipamd serving each mode's
//! fixtures (`tests/fixtures/ipamd/`), its `/metrics` compared with `nodecap plan` in that
//! mode for the same instance type; `nodecap check` naming the number and the fix; and an
//! ipamd without the settings endpoints.

use crate::common::*;
use nodecap_testkit::imds::Instance;

/// The m5.large of the fixtures in one of the CNI's modes.
struct Mode {
    name: &'static str,
    enis: &'static str,
    settings: &'static str,
    eni_config: Option<&'static str>,
    /// The `plan` flags for the same mode.
    plan: &'static [&'static str],
    /// What `plan` gives (the issue's figures, checked against `plan` too).
    max_pods: f64,
    /// `nodecap_cni_setting{setting=…}` values that tell the mode, with their source.
    settings_seen: &'static [(&'static str, &'static str, f64)],
}

const MODES: [Mode; 4] = [
    Mode {
        name: "secondary IPs",
        enis: "ipamd/enis-v1.20-m5.large.json",
        settings: "ipamd/ipamd-env-settings.json",
        eni_config: None,
        plan: &[],
        max_pods: 29.0,
        settings_seen: &[
            ("prefix_delegation", "ipamd_enis", 0.0),
            ("custom_networking", "ipamd_env_settings", 0.0),
            ("security_groups_for_pods", "ipamd_enis", 0.0),
            ("eni_config", "ipamd_eni_configs", 0.0),
        ],
    },
    Mode {
        name: "prefix delegation",
        enis: "ipamd/enis-v1.20-m5.large-prefix-delegation.json",
        settings: "ipamd/ipamd-env-settings.json",
        eni_config: None,
        plan: &["--prefix-delegation"],
        max_pods: 110.0,
        settings_seen: &[
            ("prefix_delegation", "ipamd_enis", 1.0),
            ("custom_networking", "ipamd_env_settings", 0.0),
        ],
    },
    Mode {
        name: "custom networking",
        enis: "ipamd/enis-v1.20-m5.large-custom-networking.json",
        settings: "ipamd/ipamd-env-settings-custom-networking.json",
        eni_config: Some("ipamd/eni-configs-custom-networking.json"),
        plan: &["--custom-networking"],
        max_pods: 20.0,
        settings_seen: &[
            ("prefix_delegation", "ipamd_enis", 0.0),
            ("custom_networking", "ipamd_env_settings", 1.0),
            ("eni_config", "ipamd_eni_configs", 1.0),
        ],
    },
    Mode {
        name: "trunk ENI (security groups for pods)",
        enis: "ipamd/enis-v1.20-m5.large-trunk.json",
        settings: "ipamd/ipamd-env-settings.json",
        eni_config: None,
        plan: &["--reserved-enis", "1"],
        max_pods: 20.0,
        settings_seen: &[
            ("prefix_delegation", "ipamd_enis", 0.0),
            ("security_groups_for_pods", "ipamd_enis", 1.0),
        ],
    },
];

fn node_in(mode: &Mode) -> Node {
    let node = Node::with(&Instance::example("m5.large", 3, 10), &fixture(mode.enis));
    node.ipamd.as_ref().unwrap().set_settings(
        Some(&fixture(mode.settings)),
        mode.eni_config.map(fixture).as_deref(),
    );
    node
}

fn plan_max_pods(flags: &[&str]) -> f64 {
    let out = nodecap()
        .args(["plan", "--instance-type", "m5.large", "-o", "json"])
        .args(flags)
        .output()
        .unwrap();
    assert_success(&out, "nodecap");
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    plan["max_pods"].as_f64().unwrap()
}

#[test]
fn metrics_show_each_mode_and_the_pods_plan_gives_in_it() {
    for mode in &MODES {
        assert_eq!(plan_max_pods(mode.plan), mode.max_pods, "{}", mode.name);
        let node = node_in(mode);
        let daemon = Daemon::start(&node);
        let text = daemon.metrics();
        assert_eq!(
            value(&text, "nodecap_cni_max_pods"),
            Some(mode.max_pods),
            "{}\n{text}",
            mode.name
        );
        for (setting, source, expected) in mode.settings_seen {
            let series = format!(r#"nodecap_cni_setting{{setting="{setting}",source="{source}"}}"#);
            assert_eq!(
                value(&text, &series),
                Some(*expected),
                "{}: {series}",
                mode.name
            );
        }
        assert_eq!(
            value(
                &text,
                r#"nodecap_collector_success{collector="ipamd_settings"}"#
            ),
            Some(1.0)
        );
        // The kubelet's 29 (the fixture) against what the CNI serves in this mode.
        let (above, below) = (mode.max_pods < 29.0, mode.max_pods > 29.0);
        for (kind, drifted) in [
            ("max_pods_above_cni_capacity", above),
            ("max_pods_below_cni_capacity", below),
        ] {
            assert_eq!(
                value(&text, &format!(r#"nodecap_drift{{kind="{kind}"}}"#)),
                Some(f64::from(u8::from(drifted))),
                "{}: {kind}",
                mode.name
            );
        }
    }
    // The ENIConfig's name, where the node has one.
    let daemon = Daemon::start(&node_in(&MODES[2]));
    assert_eq!(
        value(
            &daemon.metrics(),
            r#"nodecap_cni_eni_config_info{name="us-east-1a-pods"}"#
        ),
        Some(1.0)
    );
}

#[test]
fn max_pods_above_the_cnis_capacity_is_drift_and_check_names_the_number_and_the_fix() {
    let node = node_in(&MODES[0]);
    std::fs::write(
        node.kubelet_config(),
        r#"{"kind":"KubeletConfiguration","maxPods":110}"#,
    )
    .unwrap();
    let daemon = Daemon::start(&node);
    let text = daemon.metrics();
    assert_eq!(
        value(
            &text,
            r#"nodecap_drift{kind="max_pods_above_cni_capacity"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            r#"nodecap_drift{kind="max_pods_below_cni_capacity"}"#
        ),
        Some(0.0)
    );

    let out = node.check();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("max_pods_above_cni_capacity: "))
        .unwrap_or_else(|| panic!("{stdout}"));
    let config = node.kubelet_config().display().to_string();
    assert_eq!(
        line,
        format!(
            "max_pods_above_cni_capacity: kubelet 110 ({config}) | the CNI's addresses serve 29 \
             pods (secondary IPs, 3 ENIs) | fix: \"maxPods\": 29 in {config}: DRIFT"
        )
    );
}

#[test]
fn a_prefix_delegation_mismatch_names_both_sides_and_the_fix() {
    // The CNI hands out /28 prefixes; nodecap is configured for single addresses.
    let node = node_in(&MODES[1]);
    let out = node.check();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "prefix_delegation_mismatch: configured false | observed true (ipamd_enis) | fix: \
             prefix_delegation = true in nodecap's configuration (nodecap init \
             --prefix-delegation=true), or ENABLE_PREFIX_DELEGATION=false on aws-node: DRIFT\n"
        ),
        "{stdout}"
    );
    // Configured to match: no mismatch; the kubelet's 29 is below the 110 it could run.
    let out = nodecap()
        .arg("check")
        .args(node.args())
        .arg("--prefix-delegation")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "prefix_delegation_mismatch: configured true | observed true (ipamd_enis): ok\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "max_pods_below_cni_capacity: kubelet 29 ({}) | nodecap sets 110 in the CNI's mode \
             (prefix delegation, 3 ENIs) | fix: \"maxPods\": 110 in {}: DRIFT\n",
            node.kubelet_config().display(),
            node.kubelet_config().display()
        )),
        "{stdout}"
    );
}

#[test]
fn an_ipamd_without_the_settings_endpoints_leaves_everything_else_served() {
    let node = node_in(&MODES[0]);
    node.ipamd.as_ref().unwrap().set_settings(None, None);
    let daemon = Daemon::start(&node);
    let text = daemon.metrics();
    assert_eq!(
        value(
            &text,
            r#"nodecap_collector_applicable{collector="ipamd_settings"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &text,
            r#"nodecap_collector_success{collector="ipamd_settings"}"#
        ),
        Some(1.0)
    );
    // What ipamd's settings would have said is not applicable: not served at all.
    assert!(!text.contains(r#"setting="warm_ip_target""#), "{text}");
    assert!(!text.contains(r#"setting="eni_config""#), "{text}");
    // Everything else is: the mode from the datastore (custom networking inferred from a
    // primary ENI that holds pod addresses), the capacity, the pool.
    for (series, expected) in [
        ("nodecap_cni_max_pods", 29.0),
        (
            r#"nodecap_cni_setting{setting="custom_networking",source="ipamd_enis"}"#,
            0.0,
        ),
        (r#"nodecap_ipv4_addresses{state="free"}"#, 20.0),
        (r#"nodecap_ip_pool_at_capacity{network_card="0"}"#, 0.0),
        (r#"nodecap_drift{kind="max_pods"}"#, 0.0),
        (
            r#"nodecap_collector_success{collector="ipamd_introspection"}"#,
            1.0,
        ),
    ] {
        assert_eq!(value(&text, series), Some(expected), "{series}");
    }
    // Without WARM_IP_TARGET the shortfall cannot be worked out.
    assert!(!text.contains("nodecap_ipv4_addresses_needed{"), "{text}");
}

#[test]
fn the_shortfall_follows_ipamds_arithmetic_once_the_targets_are_known() {
    // WARM_IP_TARGET=25 from ipamd, MINIMUM_IP_TARGET=0 declared: 27 total, 7 assigned,
    // 20 available → 5 short.
    let node = node_in(&MODES[0]);
    node.ipamd.as_ref().unwrap().set_settings(
        Some(r#"{"WARM_IP_TARGET":25,"WARM_ENI_TARGET":1,"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG":false}"#),
        None,
    );
    let daemon = Daemon::start_with(&node, &["--interval", "1s", "--minimum-ip-target", "0"]);
    let text = daemon.metrics();
    assert_eq!(
        value(&text, r#"nodecap_ipv4_addresses_needed{network_card="0"}"#),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            r#"nodecap_cni_setting{setting="minimum_ip_target",source="config"}"#
        ),
        Some(0.0)
    );
    // Not declared: unknown, and said so.
    assert!(
        text.contains(
            "nodecap_cni_setting{setting=\"warm_prefix_target\",source=\"unknown\"} NaN\n"
        )
    );
}

#[test]
fn an_oversized_or_malformed_settings_answer_fails_that_collector_alone() {
    let node = node_in(&MODES[0]);
    let huge = format!(r#"{{"WARM_IP_TARGET":1,"pad":"{}"}}"#, "x".repeat(1 << 20));
    for (settings, says) in [
        (huge.as_str(), "an answer longer than 65536 bytes"),
        (
            r#"{"WARM_IP_TARGET":"lots"}"#,
            r#"WARM_IP_TARGET: expected a number, got "\"lots\"""#,
        ),
    ] {
        node.ipamd
            .as_ref()
            .unwrap()
            .set_settings(Some(settings), None);
        let daemon = Daemon::start(&node);
        let text = daemon.metrics();
        assert_eq!(
            value(
                &text,
                r#"nodecap_collector_success{collector="ipamd_settings"}"#
            ),
            Some(0.0)
        );
        assert_eq!(
            value(
                &text,
                r#"nodecap_collector_success{collector="ipamd_introspection"}"#
            ),
            Some(1.0)
        );
        // The mode still comes from the datastore.
        assert_eq!(value(&text, "nodecap_cni_max_pods"), Some(29.0));
        daemon.wait_for(says, |d| d.log().contains(says));
    }
}
