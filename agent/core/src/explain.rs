//! Human explanations of a [`Sizing`]: each number with its formula and the values that went
//! into it, and where the instance data came from (`plan`'s default output; `plan -o json`
//! carries the same [`Formulas`] as strings). Also the `instance-types` table. Pure text
//! rendering.

use std::fmt::Write as _;

use serde::Serialize;

use super::instance::InstanceFacts;
use super::sizing::{
    self, Bound, CapPolicy, CpuBand, CpuRule, DEFAULT_MIN_MEMORY_PER_POD_MIB, MemoryRule,
    PodAddressing, Profile, Sizing,
};

/// Each derived number as a one-line formula with its inputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Formulas {
    pub enis: String,
    pub ip_limited_pods: String,
    /// `max_pods + 2 = 31 (max_pods_expression, replaces the ENI number)`, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    pub cap: String,
    pub max_pods: String,
    pub kube_reserved_cpu: String,
    pub kube_reserved_memory: String,
}

pub fn formulas(s: &Sizing<'_>) -> Formulas {
    Formulas {
        enis: enis(s),
        ip_limited_pods: ip_limited(s),
        expression: expression(s),
        cap: cap(s),
        max_pods: max_pods(s),
        kube_reserved_cpu: from_expression(
            s.kube_reserved_from_expression
                .and_then(|v| v.cpu_millis)
                .map(|m| format!("{m}m")),
            kube_cpu(s),
        ),
        kube_reserved_memory: from_expression(
            s.kube_reserved_from_expression
                .and_then(|v| v.memory_mib)
                .map(|m| format!("{m}Mi")),
            memory(s),
        ),
    }
}

/// `80m (kube_reserved_expression; the profile's: 70m = …)` when the expression set it.
fn from_expression(set: Option<String>, profile: String) -> String {
    match set {
        Some(value) => format!("{value} (kube_reserved_expression; the profile's: {profile})"),
        None => profile,
    }
}

fn kube_cpu(s: &Sizing<'_>) -> String {
    match &s.kube_reserved_cpu {
        CpuRule::Ladder { bands } => cpu(bands, s.instance.vcpus),
        CpuRule::AksTable { vcpus, millis } => format!(
            "{millis}m (AKS's table for {vcpus} cores: 1 → 60m, 2 → 100m, 4 → 140m, \
                 8 → 180m, then 10m per core)"
        ),
    }
}

fn enis(s: &Sizing<'_>) -> String {
    let e = &s.enis;
    let mut text = format!("{} = ", e.used);
    match e.max_enis {
        Some(max) => {
            let _ = write!(
                text,
                "min({} on the default card, max ENIs {max})",
                e.default_card
            );
        }
        None => {
            let _ = write!(text, "{} on the default card", e.default_card);
        }
    }
    if e.custom_networking {
        text.push_str(" − 1 (custom networking: the primary ENI has no pod IPs)");
    }
    if e.reserved > 0 {
        let _ = write!(text, " − {} reserved", e.reserved);
    }
    if e.used == 0 && (e.custom_networking || e.reserved > 0) {
        text.push_str(", floored at 0");
    }
    text
}

fn ip_limited(s: &Sizing<'_>) -> String {
    let (enis, ips) = (s.enis.used, s.instance.ipv4_per_eni);
    match (s.addressing, s.ip_limited_pods) {
        (PodAddressing::SecondaryIp, Some(pods)) => format!(
            "{pods} = {enis} ENIs × ({ips} IPv4 per ENI − 1) + 2 (secondary IPs; the primary \
             IP is the ENI's; +2 host-network pods)"
        ),
        (PodAddressing::PrefixDelegation, Some(pods)) => format!(
            "{pods} = {enis} ENIs × (({ips} IPv4 per ENI − 1) × 16) + 2 (one /28 prefix per \
             secondary IP slot; +2 host-network pods)"
        ),
        _ => {
            "not IP-limited (IPv6: pods take addresses from a prefix on the primary ENI)".to_owned()
        }
    }
}

fn expression(s: &Sizing<'_>) -> Option<String> {
    let e = s.options.max_pods_expression.as_ref()?;
    Some(match s.expression_pods {
        Some(pods) => format!(
            "{pods} = {e} (max_pods_expression; max_pods = {}, replaced before the cap)",
            s.ip_limited_pods.unwrap_or_default()
        ),
        None => format!("{e}: does not evaluate here; the ENI number stands"),
    })
}

fn cap(s: &Sizing<'_>) -> String {
    let vcpus = s.instance.vcpus;
    let why = match s.cap {
        CapPolicy::Eks => format!("eks cap: 110 up to 30 vCPUs, 250 above; this type has {vcpus}"),
        CapPolicy::Fixed(n) => format!("fixed cap {n}"),
        CapPolicy::Memory => memory_cap(s),
        CapPolicy::None => {
            "no cap; IPv6 has no IP limit, so the EKS ceiling for its vCPUs applies".to_owned()
        }
    };
    match (s.expression_pods.or(s.ip_limited_pods), s.cap_value) {
        (Some(pods), Some(cap)) => format!("{} = min({pods}, {cap}) ({why})", s.capped_pods),
        (Some(_), None) => format!("{} (no cap)", s.capped_pods),
        (None, _) => format!("{} ({why})", s.capped_pods),
    }
}

/// `memory cap: the most pods n with n × 256Mi ≤ 8192Mi − (11 × n + 255) − 200 − 200`.
fn memory_cap(s: &Sizing<'_>) -> String {
    let per_pod = s
        .options
        .min_memory_per_pod_mib
        .unwrap_or(DEFAULT_MIN_MEMORY_PER_POD_MIB);
    let kube = match &s.kube_reserved_memory {
        MemoryRule::PerPod { .. } if s.profile == Profile::Nodecap => "(11 × n + 255)".to_owned(),
        MemoryRule::Aks { quarter_mib, .. } => format!("min(20 × n + 50, {quarter_mib})"),
        rule => rule.mib().to_string(),
    };
    let system = s.system_reserved.map_or(0, |r| r.memory_mib);
    let eviction = s
        .eviction_hard
        .iter()
        .find(|(k, _)| *k == "memory.available")
        .map_or("0", |(_, v)| v);
    format!(
        "memory cap: the most pods n that each keep {per_pod}Mi: n × {per_pod} ≤ {}Mi memory \
         − kube-reserved {kube} − system-reserved {system} − eviction {eviction}",
        s.instance.memory_mib
    )
}

fn max_pods(s: &Sizing<'_>) -> String {
    if s.bound == Bound::Explicit {
        return format!(
            "{} (set explicitly; replaces the computed number)",
            s.max_pods
        );
    }
    let text = match (s.options.pods_per_core, s.pods_per_core_limit) {
        (Some(per_core), Some(limit)) => format!(
            "{} = min({}, {per_core} pods per core × {} vCPUs = {limit})",
            s.max_pods, s.capped_pods, s.instance.vcpus
        ),
        _ => format!("{} (the capped number)", s.max_pods),
    };
    let bound = match s.bound {
        Bound::Addresses if s.ip_limited_pods.is_some() => "the ENIs' addresses",
        Bound::Expression => "max_pods_expression",
        Bound::Addresses | Bound::Cap => match s.cap {
            CapPolicy::Memory => "the memory cap",
            _ => "the cap",
        },
        Bound::PodsPerCore => "pods per core",
        Bound::Explicit => "the explicit maxPods",
    };
    format!("{text}; bound by {bound}")
}

fn cpu(bands: &[CpuBand], vcpus: u32) -> String {
    if vcpus == 0 {
        return "0m (no published vCPU count: the ladder has no cores to reserve from)".to_owned();
    }
    let total: u32 = bands.iter().map(|b| b.reserved_millis).sum();
    let parts: Vec<String> = bands
        .iter()
        .map(|b| {
            let percent = f64::from(b.basis_points) / 100.0;
            let first = b.from_millis / 1000 + 1;
            let last = b.to_millis.map_or(vcpus, |to| (to / 1000).min(vcpus));
            let cores = if last == first {
                format!("core {first}")
            } else {
                format!("cores {first}–{last}")
            };
            format!("{}m ({percent}% of {cores})", b.reserved_millis)
        })
        .collect();
    format!("{total}m = {}", parts.join(" + "))
}

fn memory(s: &Sizing<'_>) -> String {
    let mib = s.kube_reserved_memory.mib();
    match &s.kube_reserved_memory {
        MemoryRule::PerPod { pods } => {
            let basis = match (s.profile, s.expression_pods) {
                (Profile::Eks, Some(_)) => "the expression's value, as nodeadm does",
                (Profile::Eks, None) => "the uncapped ENI number, as nodeadm does",
                _ => "maxPods",
            };
            format!("{mib}Mi = 11 × {pods} pods ({basis}) + 255")
        }
        MemoryRule::GkeTiers { tiers } => {
            let parts: Vec<String> = tiers
                .iter()
                .map(|t| {
                    let reserved = t.reserved_centi_mib as f64 / 100.0;
                    match (t.percent, t.to_mib) {
                        (0, _) => format!("{reserved} (machines under 1Gi)"),
                        (p, Some(to)) => format!("{reserved} ({p}% of {}–{to}Mi)", t.from_mib),
                        (p, None) => format!("{reserved} ({p}% above {}Mi)", t.from_mib),
                    }
                })
                .collect();
            format!(
                "{mib}Mi = {}, rounded down (GKE's tiers)",
                parts.join(" + ")
            )
        }
        MemoryRule::Aks {
            pods,
            per_pods_mib,
            quarter_mib,
        } => format!(
            "{mib}Mi = min(20 × {pods} pods (maxPods) + 50 = {per_pods_mib}, 25% of {}Mi = \
             {quarter_mib}) (AKS)",
            s.instance.memory_mib
        ),
    }
}

/// The default `plan` output: a short explanation, one number per line with its formula.
pub fn explain(s: &Sizing<'_>) -> String {
    let f = formulas(s);
    let mut out = String::new();
    instance(&mut out, s);
    pods(&mut out, s, &f);
    reservations(&mut out, s, &f);
    allocatable(&mut out, s);
    for note in &s.notes {
        let _ = writeln!(out, "note: {note}");
    }
    out
}

/// The summary line, then the instance's limits and where they came from.
fn instance(out: &mut String, s: &Sizing<'_>) {
    let i = s.instance;
    let k = &s.kube_reserved;
    let _ = writeln!(
        out,
        "{}: {} pods; kube-reserved cpu {}m, memory {}Mi, ephemeral-storage {}Gi (profile {})",
        i.instance_type, s.max_pods, k.cpu_millis, k.memory_mib, k.ephemeral_storage_gib, s.profile
    );
    out.push('\n');
    let cards = i.enis_per_card.len();
    let _ = writeln!(
        out,
        "instance        {} ({} data): {} vCPUs, {} MiB, hypervisor {}{}; {} network card{}, \
         {} ENIs on the default card, {} IPv4 per ENI",
        i.instance_type,
        s.source,
        i.vcpus,
        i.memory_mib,
        i.hypervisor,
        if i.bare_metal { ", bare metal" } else { "" },
        cards,
        if cards == 1 { "" } else { "s" },
        i.default_card_enis(),
        i.ipv4_per_eni,
    );
}

/// How the pod count came about: addressing, ENIs, the IP limit, expression, cap.
fn pods(out: &mut String, s: &Sizing<'_>, f: &Formulas) {
    let mode = match s.addressing {
        PodAddressing::SecondaryIp => "secondary IPs",
        PodAddressing::PrefixDelegation => "prefix delegation",
        PodAddressing::Ipv6 => "IPv6",
    };
    let _ = writeln!(out, "pod addressing  {mode}");
    let _ = writeln!(out, "ENIs for pods   {}", f.enis);
    let _ = writeln!(out, "IP-limited pods {}", f.ip_limited_pods);
    if let Some(expression) = &f.expression {
        let _ = writeln!(out, "expression      {expression}");
    }
    let _ = writeln!(out, "cap             {}", f.cap);
    let _ = writeln!(out, "max pods        {}", f.max_pods);
}

/// kube-reserved with its formulas, system-reserved (or why none), the eviction thresholds.
fn reservations(out: &mut String, s: &Sizing<'_>, f: &Formulas) {
    let k = &s.kube_reserved;
    let _ = writeln!(out, "kube-reserved");
    let _ = writeln!(out, "  cpu           {}", f.kube_reserved_cpu);
    let _ = writeln!(out, "  memory        {}", f.kube_reserved_memory);
    let _ = writeln!(out, "  ephemeral     {}Gi", k.ephemeral_storage_gib);
    match &s.system_reserved {
        Some(r) => {
            let _ = writeln!(
                out,
                "system-reserved cpu {}m, memory {}Mi, ephemeral-storage {}Gi{}",
                r.cpu_millis,
                r.memory_mib,
                r.ephemeral_storage_gib,
                if s.system_reserved_from_expression.is_some() {
                    " (system_reserved_expression)"
                } else {
                    ""
                }
            );
        }
        None => {
            let why = match s.profile {
                Profile::Eks => "profile eks, as nodeadm".to_owned(),
                profile => format!("profile {profile}"),
            };
            let _ = writeln!(out, "system-reserved none ({why})");
        }
    }
    let eviction: Vec<String> = s
        .eviction_hard
        .iter()
        .map(|(signal, value)| format!("{signal}<{value}"))
        .collect();
    let _ = writeln!(out, "eviction-hard   {}", eviction.join(", "));
}

/// What pods can request, as the capacity less each reservation.
fn allocatable(out: &mut String, s: &Sizing<'_>) {
    let (i, k, a) = (s.instance, &s.kube_reserved, &s.allocatable);
    let system = s.system_reserved.as_ref();
    if i.vcpus == 0 || i.memory_mib == 0 {
        let _ = writeln!(
            out,
            "allocatable     unknown: no published vCPU count or memory to subtract from \
             (give --vcpus and --memory-mib)"
        );
        return;
    }
    let _ = writeln!(
        out,
        "allocatable     cpu {}m = {} × 1000 − {} − {}; memory {}Mi = {} − {} − {} − {} (eviction)",
        a.cpu_millis,
        i.vcpus,
        k.cpu_millis,
        system.map_or(0, |r| r.cpu_millis),
        a.memory_mib,
        i.memory_mib,
        k.memory_mib,
        system.map_or(0, |r| r.memory_mib),
        i.memory_mib
            .saturating_sub(k.memory_mib)
            .saturating_sub(system.map_or(0, |r| r.memory_mib))
            .saturating_sub(a.memory_mib),
    );
}

/// A table of `header` and `rows`, each column as wide as its widest cell, two spaces apart:
/// the columns in `left` aligned left (text), the others right (numbers); no trailing spaces.
pub fn aligned<S: AsRef<str>>(header: &[&str], rows: &[Vec<S>], left: &[usize]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.as_ref().chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.zip(&widths).enumerate() {
            if left.contains(&i) {
                let _ = write!(out, "{cell:<w$}  ");
            } else {
                let _ = write!(out, "{cell:>w$}  ");
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(&mut header.iter().copied());
    for row in rows {
        out.push_str(&line(&mut row.iter().map(AsRef::as_ref)));
    }
    out
}

/// The `instance-types` table: one line per type with its limits and the uncapped ENI pod
/// number.
pub fn instance_table(types: &[&InstanceFacts]) -> String {
    let mut out = format!(
        "{:<24} {:<7} {:>5} {:>9} {:<10} {:<5} {:>5} {:<18} {:>4} {:>4} {:<4} {:>8}\n",
        "TYPE",
        "ARCH",
        "VCPUS",
        "MEM_MIB",
        "HYPERVISOR",
        "METAL",
        "ENIS",
        "ENIS_PER_CARD",
        "IPV4",
        "IPV6",
        "EFA",
        "ENI_PODS"
    );
    for f in types {
        let cards = f
            .enis_per_card
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let eni_pods = sizing::ip_limited_pods(
            f.default_card_enis(),
            f.ipv4_per_eni,
            PodAddressing::SecondaryIp,
        )
        .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<24} {:<7} {:>5} {:>9} {:<10} {:<5} {:>5} {:<18} {:>4} {:>4} {:<4} {:>8}",
            f.instance_type,
            f.architecture.to_string(),
            f.vcpus,
            f.memory_mib,
            f.hypervisor,
            if f.bare_metal { "yes" } else { "no" },
            f.default_card_enis(),
            cards,
            f.ipv4_per_eni,
            f.ipv6_per_eni,
            if f.efa_supported { "yes" } else { "no" },
            eni_pods
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::{Source, lookup_embedded};
    use crate::sizing::{SizingOptions, size};

    fn plan(name: &str, options: SizingOptions) -> Formulas {
        formulas(&size(
            lookup_embedded(name).unwrap(),
            Source::Embedded,
            &options,
        ))
    }

    #[test]
    fn m5_large_formulas() {
        let f = plan("m5.large", SizingOptions::default());
        assert_eq!(f.enis, "3 = 3 on the default card");
        assert!(
            f.ip_limited_pods
                .starts_with("29 = 3 ENIs × (10 IPv4 per ENI − 1) + 2")
        );
        assert!(f.cap.starts_with("29 = min(29, 110)"));
        assert_eq!(
            f.kube_reserved_cpu,
            "70m = 60m (6% of core 1) + 10m (1% of core 2)"
        );
        assert_eq!(
            f.kube_reserved_memory,
            "574Mi = 11 × 29 pods (maxPods) + 255"
        );
    }

    #[test]
    fn ladder_and_modes_read_well() {
        let f = plan("m5.4xlarge", SizingOptions::default());
        assert_eq!(
            f.kube_reserved_cpu,
            "110m = 60m (6% of core 1) + 10m (1% of core 2) + 10m (0.5% of cores 3–4) + 30m (0.25% of cores 5–16)"
        );
        let pd = SizingOptions {
            prefix_delegation: true,
            max_enis: Some(2),
            custom_networking: true,
            ..Default::default()
        };
        let f = plan("m5.4xlarge", pd);
        assert!(
            f.enis
                .starts_with("1 = min(8 on the default card, max ENIs 2) − 1 (custom networking")
        );
        assert!(
            f.ip_limited_pods
                .starts_with("466 = 1 ENIs × ((30 IPv4 per ENI − 1) × 16) + 2")
        );
        let ppc = SizingOptions {
            pods_per_core: Some(4),
            ..Default::default()
        };
        assert_eq!(
            plan("m5.large", ppc).max_pods,
            "8 = min(29, 4 pods per core × 2 vCPUs = 8); bound by pods per core"
        );
    }

    #[test]
    fn explanation_names_source_and_notes() {
        let facts = lookup_embedded("p3.2xlarge").unwrap();
        let pd = SizingOptions {
            prefix_delegation: true,
            ..Default::default()
        };
        let text = explain(&size(facts, Source::Embedded, &pd));
        assert!(text.starts_with("p3.2xlarge: 58 pods;"), "{text}");
        assert!(text.contains("(embedded data)"));
        assert!(text.contains("note: prefix delegation needs a Nitro or bare-metal instance"));
    }
}
