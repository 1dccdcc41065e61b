//! `nodecap check`'s report: the snapshot's figures and verdicts as findings, one line each,
//! `subject: what was compared: verdict`. Nothing is decided here: every verdict comes from the
//! snapshot, so the report, `/metrics` and CloudWatch always agree.

use std::fmt::Write as _;

use crate::core::sizing::PodAddressing;
use crate::daemon::collect::{Health, Observations};
use crate::daemon::snapshot::{Derived, Drift, DriftKind, Reservation, Snapshot, Verdict};

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

/// Every finding, in the report's order: drift, addresses, ENIs, memory, collectors.
pub fn findings(snapshot: &Snapshot) -> Vec<Finding> {
    let (o, d) = (&snapshot.observations, &snapshot.derived);
    let mut out: Vec<Finding> = d
        .drift
        .iter()
        .map(|drift| drift_finding(drift, o, d))
        .collect();
    out.extend(addresses(d));
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

/// `max_pods: nodecap 29 (…) | kubelet 29 (path)`, `prefix_delegation: configured … | …`.
fn drift_finding(drift: &Drift, o: &Observations, d: &Derived) -> Finding {
    let detail = match drift.kind {
        DriftKind::MaxPods => {
            let computed = match (o.node(), d.max_pods, d.addressing) {
                (Some(n), Some(pods), Some(addressing)) => format!(
                    "nodecap {pods} ({}, {} limits, {addressing})",
                    n.facts.instance_type, n.source
                ),
                _ => "nodecap cannot size this node".to_owned(),
            };
            let configured = match o.kubelet.as_ref().and_then(|k| k.max_pods.as_ref()) {
                Some((n, path)) => format!("kubelet {n} ({})", path.display()),
                None => "kubelet: no maxPods in its configuration files".to_owned(),
            };
            format!("{computed} | {configured}")
        }
        DriftKind::PrefixDelegation => {
            let configured = d.addressing == Some(PodAddressing::PrefixDelegation);
            let seen = match d.prefix_delegation_seen {
                Some(true) => "/28 prefixes in use",
                Some(false) => "single addresses in use",
                None => "no pod addresses yet",
            };
            format!("configured {configured} | {seen}")
        }
    };
    finding(drift.kind.to_string(), detail, drift.verdict)
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
fn memory(r: &Reservation) -> Finding {
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
