//! `nodecap check`'s report: the snapshot's figures and verdicts as findings, one line each,
//! `subject: what was compared: verdict`. Nothing is decided here: every verdict comes from the
//! snapshot, so the report, `/metrics` and CloudWatch always agree.

use std::fmt::Write as _;

use crate::core::sizing::PodAddressing;
use crate::daemon::collect::{Health, Observations};
use crate::daemon::snapshot::cni::{Cni, Fact};
use crate::daemon::snapshot::{Derived, Drift, DriftKind, MemoryReservation, Snapshot, Verdict};
use crate::kubelet::files::Format;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub subject: String,
    pub detail: String,
    pub verdict: Verdict,
}

fn finding(subject: impl Into<String>, detail: String, verdict: Verdict) -> Finding {
    Finding {
        subject: subject.into(),
        detail,
        verdict,
    }
}

/// Every finding, in the report's order: drift, addresses, the CNI and its pools, ENIs, memory,
/// collectors.
pub fn findings(snapshot: &Snapshot) -> Vec<Finding> {
    let (o, d) = (&snapshot.observations, &snapshot.derived);
    let mut out: Vec<Finding> = d
        .drift
        .iter()
        .map(|drift| drift_finding(drift, o, d))
        .collect();
    out.extend(addresses(d));
    out.extend(cni_facts(&d.cni));
    out.extend(pools(&d.cni));
    if let (Some(attached), Some(max)) = (d.enis_attached, d.enis_max) {
        out.push(finding(
            "enis",
            format!("{attached} of {max} attached on the default network card"),
            Verdict::Ok,
        ));
    }
    out.extend(d.memory.iter().map(memory));
    out.extend(o.statuses.iter().filter_map(|s| match &s.health {
        Health::Failed(why) => Some(finding(
            format!("collector.{}", s.collector),
            format!("failed: {why}"),
            Verdict::Warning,
        )),
        Health::NotApplicable(why) => Some(finding(
            format!("collector.{}", s.collector),
            format!("not applicable: {why}"),
            Verdict::Ok,
        )),
        Health::Ok => None,
    }));
    out
}

/// `max_pods: nodecap 29 (…) | kubelet 29 (path)`; the CNI checks with their fix.
fn drift_finding(drift: &Drift, o: &Observations, d: &Derived) -> Finding {
    let kubelet = o.kubelet.as_ref().and_then(|k| k.max_pods.as_ref());
    let configured = match kubelet {
        Some((n, path, _)) => format!("kubelet {n} ({})", path.display()),
        None => "kubelet: no maxPods in its configuration files".to_owned(),
    };
    let cni = &d.cni;
    let detail = match drift.kind {
        DriftKind::MaxPods => {
            let computed = match (o.node(), d.max_pods, d.addressing) {
                (Some(n), Some(pods), Some(addressing)) => format!(
                    "nodecap {pods} ({}, {} limits, {addressing})",
                    n.facts.instance_type, n.source
                ),
                _ => "nodecap cannot size this node".to_owned(),
            };
            format!("{computed} | {configured}")
        }
        DriftKind::MaxPodsAboveCniCapacity | DriftKind::MaxPodsBelowCniCapacity => {
            let cni_side = if drift.kind == DriftKind::MaxPodsAboveCniCapacity {
                cni.ip_limited_pods
                    .map(|pods| format!("the CNI's addresses serve {pods} pods"))
            } else {
                cni.max_pods
                    .map(|pods| format!("nodecap sets {pods} in the CNI's mode"))
            };
            let cni_side = cni_side.unwrap_or_else(|| "the CNI's capacity is unknown".to_owned());
            with_fix(
                format!("{configured} | {cni_side} ({})", mode(cni)),
                drift,
                kubelet,
                cni.max_pods,
            )
        }
        DriftKind::PrefixDelegationMismatch => mismatch(
            d.addressing == Some(PodAddressing::PrefixDelegation),
            &cni.facts.prefix_delegation,
            drift,
            (
                "prefix_delegation",
                "prefix-delegation",
                "ENABLE_PREFIX_DELEGATION",
            ),
        ),
        DriftKind::CustomNetworkingMismatch => mismatch(
            o.node().is_some_and(|n| n.options.custom_networking),
            &cni.facts.custom_networking,
            drift,
            (
                "custom_networking",
                "custom-networking",
                "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG",
            ),
        ),
    };
    finding(drift.kind.to_string(), detail, drift.verdict)
}

/// The CNI's observed mode in words: `secondary IPs, custom networking, trunk ENI, 3 ENIs`.
fn mode(cni: &Cni) -> String {
    let f = &cni.facts;
    let mut parts = vec![match f.prefix_delegation.value() {
        Some(true) => "prefix delegation".to_owned(),
        Some(false) => "secondary IPs".to_owned(),
        None => "addressing unknown".to_owned(),
    }];
    match f.custom_networking.value() {
        Some(true) => parts.push("custom networking".to_owned()),
        Some(false) => {}
        None => parts.push("custom networking unknown".to_owned()),
    }
    if f.security_groups_for_pods.value() == Some(true) {
        parts.push("trunk ENI".to_owned());
    }
    if let Some(n) = f.max_enis.value() {
        parts.push(format!("{n} ENIs"));
    }
    parts.join(", ")
}

/// `detail | fix: "maxPods": 29 in /etc/kubernetes/kubelet/config.json`, when drifted.
fn with_fix(
    detail: String,
    drift: &Drift,
    kubelet: Option<&(u32, std::path::PathBuf, Format)>,
    pods: Option<u32>,
) -> String {
    match (drift.verdict, kubelet, pods) {
        (Verdict::Drift, Some((_, path, format)), Some(pods)) => format!(
            "{detail} | fix: {} in {}",
            format.max_pods_line(pods),
            path.display()
        ),
        _ => detail,
    }
}

/// `configured true | observed false (ipamd_enis) | fix: …`: the fix on nodecap's side (its
/// configuration, or the flag for init) or on aws-node's.
fn mismatch(
    configured: bool,
    observed: &Fact<bool>,
    drift: &Drift,
    (key, flag, env): (&str, &str, &str),
) -> String {
    let seen = match observed {
        Fact::Known(v, source) => format!("observed {v} ({})", source.label()),
        Fact::Unknown => "observed: unknown".to_owned(),
        Fact::NotApplicable => "observed: no VPC CNI".to_owned(),
    };
    let detail = format!("configured {configured} | {seen}");
    match (drift.verdict, observed.value()) {
        (Verdict::Drift, Some(v)) => format!(
            "{detail} | fix: {key} = {v} in nodecap's configuration (nodecap init --{flag}={v}), \
             or {env}={configured} on aws-node"
        ),
        _ => detail,
    }
}

/// `cni: secondary IPs, 3 ENIs | max pods 29 | ENIConfig x` and
/// `cni.settings: prefix_delegation false (ipamd_enis), …`.
fn cni_facts(cni: &Cni) -> Vec<Finding> {
    let settings = cni.facts.settings();
    if settings.iter().all(|s| !s.applicable) {
        return Vec::new();
    }
    let known: Vec<String> = settings
        .iter()
        .filter(|s| s.applicable)
        .map(|s| match (s.value, s.source) {
            (Some(v), Some(source)) if s.flag => {
                format!("{} {} ({})", s.name, v != 0.0, source.label())
            }
            (Some(v), Some(source)) => format!("{} {v} ({})", s.name, source.label()),
            _ => format!("{} unknown", s.name),
        })
        .collect();
    let eni_config = match &cni.facts.eni_config {
        Fact::Known(Some(name), _) => format!(" | ENIConfig {name}"),
        _ => String::new(),
    };
    let pods = cni.max_pods.map_or_else(
        || "max pods unknown".to_owned(),
        |n| format!("max pods {n}"),
    );
    vec![
        finding(
            "cni",
            format!("{} | {pods}{eni_config}", mode(cni)),
            Verdict::Ok,
        ),
        finding("cni.settings", known.join(", "), Verdict::Ok),
    ]
}

/// `ipv4.pool.card0: 18 total, 5 assigned, 0 needed`; a warning at capacity.
fn pools(cni: &Cni) -> impl Iterator<Item = Finding> + '_ {
    cni.pools.iter().map(|p| {
        let needed = p.addresses_needed.map_or_else(
            || {
                "shortfall unknown (set run.minimum_ip_target and run.warm_prefix_target to \
                 aws-node's MINIMUM_IP_TARGET and WARM_PREFIX_TARGET)"
                    .to_owned()
            },
            |n| format!("{n} needed by the warm targets"),
        );
        let (full, verdict) = match p.at_capacity {
            Some(true) => (
                "; at capacity: no free address, ENI slot or room on an ENI",
                Verdict::Warning,
            ),
            _ => ("", Verdict::Ok),
        };
        finding(
            format!("ipv4.pool.card{}", p.network_card),
            format!("{} total, {} assigned, {needed}{full}", p.total, p.assigned),
            verdict,
        )
    })
}

/// `ipv4: 27 total, 7 assigned, 0 cooling down, 20 free (from …); capacity 27; pod headroom 20`.
fn addresses(d: &Derived) -> Option<Finding> {
    let a = d.ipv4?;
    let cooldown = a
        .cooldown
        .map(|c| format!(", {c} cooling down"))
        .unwrap_or_default();
    let capacity = d
        .ip_capacity
        .map(|c| format!("; capacity {c}"))
        .unwrap_or_default();
    let headroom = d
        .pod_headroom
        .map(|h| format!("; pod headroom {h}"))
        .unwrap_or_default();
    Some(finding(
        "ipv4",
        format!(
            "{} total, {} assigned{cooldown}, {} free (from {}){capacity}{headroom}",
            a.total, a.assigned, a.free, a.source
        ),
        d.pod_headroom_verdict,
    ))
}

/// `memory.kube_reserved: 574Mi reserved | runtime.slice uses 400Mi: headroom 174Mi`.
fn memory(r: &MemoryReservation) -> Finding {
    let mib = |bytes: i64| format!("{}Mi", bytes / (1024 * 1024));
    let slice = r.scope.slice();
    let reserved = i64::try_from(r.reserved_bytes).unwrap_or(i64::MAX);
    let detail = match r.headroom_bytes {
        Some(headroom) => format!(
            "{} reserved | {slice} uses {}: headroom {}",
            mib(reserved),
            mib(reserved - headroom),
            mib(headroom)
        ),
        None => format!("{} reserved | {slice} not found", mib(reserved)),
    };
    finding(format!("memory.{}_reserved", r.scope), detail, r.verdict)
}

/// One line per finding.
pub fn report(findings: &[Finding]) -> String {
    let mut text = String::new();
    for f in findings {
        let _ = writeln!(text, "{}: {}: {}", f.subject, f.detail, f.verdict);
    }
    text
}

pub fn has_drift(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.verdict == Verdict::Drift)
}
