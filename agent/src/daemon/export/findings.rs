//! `nodecap check`: one tick of collection, then computed vs configured vs observed, one line
//! per finding: `subject: what was compared: verdict`. Drift (the kubelet's maxPods is not
//! nodecap's; ipamd's addressing mode is not the configured one) makes the command exit 1;
//! everything else is information.

use std::fmt::Write as _;

use crate::collect::Health;
use crate::snapshot::Snapshot;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub subject: String,
    pub detail: String,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Drift,
    /// Worth a look, not drift (a failed collector, a reservation that is too small).
    Warning,
    /// One side is not known.
    Unknown,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Ok => "ok",
            Verdict::Drift => "DRIFT",
            Verdict::Warning => "WARNING",
            Verdict::Unknown => "unknown",
        })
    }
}

fn mib(bytes: i64) -> String {
    format!("{}Mi", bytes / (1024 * 1024))
}

pub fn findings(snapshot: &Snapshot) -> Vec<Finding> {
    let o = &snapshot.observations;
    let d = &snapshot.derived;
    let mut out = Vec::new();
    let mut add = |subject: &str, detail: String, verdict: Verdict| {
        out.push(Finding {
            subject: subject.to_owned(),
            detail,
            verdict,
        });
    };
    let node = o.node.as_deref();
    let sizing = node.map(crate::init::Node::sizing);

    let computed = match &sizing {
        Some(s) => format!(
            "nodecap {} ({}, {} limits, {})",
            s.max_pods, s.instance.instance_type, s.source, s.addressing
        ),
        None => "nodecap cannot size this node".to_owned(),
    };
    let kubelet = o.kubelet.as_ref().and_then(|k| k.max_pods.as_ref());
    let (configured, verdict) = match (kubelet, d.max_pods) {
        (Some((n, path)), Some(ours)) => (
            format!("kubelet {n} ({})", path.display()),
            if *n == ours {
                Verdict::Ok
            } else {
                Verdict::Drift
            },
        ),
        (Some((n, path)), None) => (
            format!("kubelet {n} ({})", path.display()),
            Verdict::Unknown,
        ),
        (None, _) => (
            "kubelet: no maxPods in its configuration files".to_owned(),
            Verdict::Unknown,
        ),
    };
    add("max_pods", format!("{computed} | {configured}"), verdict);

    if let Some(s) = &sizing {
        let configured = s.addressing == crate::sizing::PodAddressing::PrefixDelegation;
        let (seen, verdict) = match d.prefix_delegation_seen {
            Some(true) => (
                "/28 prefixes in use",
                if configured {
                    Verdict::Ok
                } else {
                    Verdict::Drift
                },
            ),
            Some(false) => (
                "single addresses in use",
                if configured {
                    Verdict::Drift
                } else {
                    Verdict::Ok
                },
            ),
            None => ("no pod addresses yet", Verdict::Unknown),
        };
        if s.addressing != crate::sizing::PodAddressing::Ipv6 {
            add(
                "prefix_delegation",
                format!("configured {configured} | {seen}"),
                verdict,
            );
        }
    }

    if let Some(a) = d.ipv4 {
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
        let verdict = match d.pod_headroom {
            Some(h) if h <= 0 => Verdict::Warning,
            _ => Verdict::Ok,
        };
        add(
            "ipv4",
            format!(
                "{} total, {} assigned{cooldown}, {} free (from {}){capacity}{headroom}",
                a.total, a.assigned, a.free, a.source
            ),
            verdict,
        );
    }
    if let (Some(attached), Some(max)) = (d.enis_attached, d.enis_max) {
        add(
            "enis",
            format!("{attached} of {max} attached on the default network card"),
            Verdict::Ok,
        );
    }

    for &(scope, reserved) in &d.memory_reserved {
        let slice = if scope == "kube" {
            "runtime.slice"
        } else {
            "system.slice"
        };
        let reserved = i64::try_from(reserved).unwrap_or(i64::MAX);
        match d.memory_headroom.iter().find(|(s, _)| *s == scope) {
            Some(&(_, headroom)) => add(
                &format!("memory.{scope}_reserved"),
                format!(
                    "{} reserved | {slice} uses {}: headroom {}",
                    mib(reserved),
                    mib(reserved - headroom),
                    mib(headroom)
                ),
                if headroom < 0 {
                    Verdict::Warning
                } else {
                    Verdict::Ok
                },
            ),
            None => add(
                &format!("memory.{scope}_reserved"),
                format!("{} reserved | {slice} not found", mib(reserved)),
                Verdict::Unknown,
            ),
        }
    }

    for s in &o.statuses {
        match &s.health {
            Health::Failed(why) => add(
                &format!("collector.{}", s.collector),
                format!("failed: {why}"),
                Verdict::Warning,
            ),
            Health::NotApplicable(why) => add(
                &format!("collector.{}", s.collector),
                format!("not applicable: {why}"),
                Verdict::Ok,
            ),
            Health::Ok => {}
        }
    }
    out
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
