//! ipamd's Prometheus endpoint (`http://127.0.0.1:61678/metrics`): the VPC CNI's own view of
//! its datastore. nodecap keeps the allocation figures and re-exports them as
//! `nodecap_ipamd_*` with no labels, so ipamd's unbounded label values (full error strings,
//! one series per CIDR; docs/vpc-cni.md "ipamd's metrics") never reach the user's Prometheus.
//!
//! The text format is parsed here (about 100 lines) rather than with a crate: the maintained
//! choice, `prometheus-parse`, pulls regex and chrono, rejects nothing useful and accepts
//! nothing more. What ipamd throws at a parser, all accepted: `# TYPE` gauge-or-counter drift
//! between releases (the type line is ignored; names decide), `NaN` and `±Inf` values,
//! summaries with or without quantile series, optional timestamps.

use std::borrow::Cow;

use super::collector::{Collector, CollectorId, Reading};
use super::http::{self, OptionalEndpoint, ReadError};
use crate::core::excerpt::Excerpt;
use crate::telemetry::family::Describe;
use crate::telemetry::family::{Export, Family, Samples};

/// The longest scrape read. ipamd's is 20–60 KiB (Go runtime series, one series per CIDR,
/// error counters labelled with whole error strings); 2 MiB leaves room for a large node
/// with a long error history, and is read in one pass without copies of its lines.
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// Collects ipamd's `/metrics`.
#[derive(Debug)]
pub struct IpamdMetricsCollector {
    endpoint: OptionalEndpoint,
}

impl IpamdMetricsCollector {
    pub fn new(url: hyper::Uri) -> Self {
        IpamdMetricsCollector {
            endpoint: OptionalEndpoint::new(url, MAX_BODY),
        }
    }
}

impl Collector for IpamdMetricsCollector {
    type Part = IpamdMetrics;
    type Error = ReadError<ParseError>;
    const ID: CollectorId = CollectorId::IpamdMetrics;
    const FAMILIES: &'static [&'static Describe] = &[
        &INFO.describe,
        &ENIS_MAX.describe,
        &IPV4_MAX.describe,
        &ENIS_ALLOCATED.describe,
        &IPV4_ADDRESSES.describe,
        &IPV4_PREFIXES.describe,
        &NO_AVAILABLE.describe,
        &ERRORS.describe,
        &EC2_API_ERRORS.describe,
    ];
    const TIMEOUT: std::time::Duration = http::TIMEOUT;

    async fn collect(&mut self) -> Result<Reading<IpamdMetrics>, Self::Error> {
        self.endpoint
            .read(|body| parse(std::str::from_utf8(&body).map_err(ParseError::Utf8)?))
            .await
    }
}

/// Text that is not the Prometheus text format, or not what ipamd sends.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("not UTF-8")]
    Utf8(#[source] std::str::Utf8Error),
    #[error("line {line}: {problem}")]
    Line { line: usize, problem: LineError },
    #[error("awscni_build_info: version {0}: expected at most {MAX_VERSION} characters")]
    Version(Excerpt),
}

/// What is wrong with one sample line. Quotes at most an excerpt of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("expected a metric name, got {0}")]
    Name(Excerpt),
    #[error("expected label=\"value\" in {0}")]
    Label(Excerpt),
    #[error("label {0}: expected a quoted value")]
    Unquoted(Excerpt),
    #[error("label {0}: unterminated value")]
    Unterminated(Excerpt),
    #[error("{0}: expected a value")]
    NoValue(Excerpt),
    #[error("{name}: expected a number, got {got}")]
    Value { name: Excerpt, got: Excerpt },
    #[error("{name}: expected a millisecond timestamp, got {got}")]
    Timestamp { name: Excerpt, got: Excerpt },
}

/// The longest `awscni_build_info` version taken (it becomes a label value): ipamd's are
/// like `v1.19.2` or `v1.20.4-eksbuild.1`.
pub const MAX_VERSION: usize = 64;

/// One sample line, borrowed from the text: nothing is copied until a figure needs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample<'a> {
    pub name: &'a str,
    /// The labels as written, between the braces (checked when the line was read).
    labels: &'a str,
    pub value: f64,
}

impl<'a> Sample<'a> {
    /// The value of label `key`, unescaped.
    pub fn label(&self, key: &str) -> Option<Cow<'a, str>> {
        let mut rest = self.labels;
        while let Ok(Some((name, raw, after))) = next_label(rest) {
            if name == key {
                return Some(unescape(raw));
            }
            rest = after;
        }
        None
    }
}

/// The allocation figures nodecap takes from ipamd. `None`: the series was absent (older or
/// newer ipamd, or metrics not yet set).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IpamdMetrics {
    /// `awscni_build_info{version}`.
    pub version: Option<String>,
    /// `awscni_eni_max`: ENIs ipamd may use (default card, minus unmanaged ones).
    pub eni_max: Option<f64>,
    /// `awscni_ip_max`: ipamd's address ceiling (ignores maxPods; see the module docs).
    pub ip_max: Option<f64>,
    /// `awscni_eni_allocated`: ENIs in the datastore.
    pub enis_allocated: Option<f64>,
    /// `awscni_total_ip_addresses`: addresses in the datastore (16 per /28 prefix).
    pub total_ip_addresses: Option<f64>,
    /// `awscni_assigned_ip_addresses`: addresses held by pods.
    pub assigned_ip_addresses: Option<f64>,
    /// `awscni_total_ipv4_prefixes`.
    pub ipv4_prefixes: Option<f64>,
    /// `awscni_no_available_ip_addresses`: pod IP requests that found no free address.
    pub no_available_ip_addresses: Option<f64>,
    /// `awscni_ipamd_error_count`, summed over `fn`.
    pub ipamd_errors: Option<f64>,
    /// `awscni_ec2api_error_count`, summed over `fn`.
    pub ec2_api_errors: Option<f64>,
    /// The cni-metrics-helper's 20 figures for this node, in [`HELPER`] order (those whose
    /// ipamd series exist), one value each.
    pub helper: Vec<(HelperFigure, f64)>,
}

/// How the cni-metrics-helper turns an ipamd family into one CloudWatch value
/// (aws/amazon-vpc-cni-k8s `cmd/cni-metrics-helper/metrics/cni_metrics.go`; docs/vpc-cni.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelperKind {
    /// The sum over label sets of a gauge.
    Gauge,
    /// The sum over label sets of a counter; published as a per-interval delta.
    Counter,
    /// The largest `quantile="0.99"` value (0 when ipamd exposes no quantiles).
    MaxP99,
}

/// One of the cni-metrics-helper's figures of a node: an ipamd family, aggregated its way
/// (aws/amazon-vpc-cni-k8s `cmd/cni-metrics-helper/metrics/cni_metrics.go`). The collector
/// reads them; their CloudWatch names are the exporter's (`export::cloudwatch::datums`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum HelperFigure {
    AssignedIpAddresses,
    TotalIpAddresses,
    TotalIpv4Prefixes,
    AssignedIpPerCidr,
    EniAllocated,
    EniMax,
    IpMax,
    AwsApiLatency,
    AwsApiErrors,
    AwsUtilsErrors,
    IpamdErrors,
    ForceRemovedEnis,
    ForceRemovedIps,
    IpamdActionInProgress,
    Reconciles,
    AddIpRequests,
    DelIpRequests,
    PodEniErrors,
    Ec2ApiRequests,
    Ec2ApiErrors,
}

impl HelperFigure {
    /// How the helper aggregates it.
    pub fn kind(self) -> HelperKind {
        HELPER
            .iter()
            .find(|(figure, _, _)| *figure == self)
            .map_or(HelperKind::Gauge, |&(_, _, kind)| kind)
    }
}

/// Every helper figure, in the helper's order, with its ipamd family and how it aggregates.
const HELPER: &[(HelperFigure, &str, HelperKind)] = &[
    (
        HelperFigure::AssignedIpAddresses,
        "awscni_assigned_ip_addresses",
        HelperKind::Gauge,
    ),
    (
        HelperFigure::TotalIpAddresses,
        "awscni_total_ip_addresses",
        HelperKind::Gauge,
    ),
    (
        HelperFigure::TotalIpv4Prefixes,
        "awscni_total_ipv4_prefixes",
        HelperKind::Gauge,
    ),
    (
        HelperFigure::AssignedIpPerCidr,
        "awscni_assigned_ip_per_cidr",
        HelperKind::Gauge,
    ),
    (
        HelperFigure::EniAllocated,
        "awscni_eni_allocated",
        HelperKind::Gauge,
    ),
    (HelperFigure::EniMax, "awscni_eni_max", HelperKind::Gauge),
    (HelperFigure::IpMax, "awscni_ip_max", HelperKind::Gauge),
    (
        HelperFigure::AwsApiLatency,
        "awscni_aws_api_latency_ms",
        HelperKind::MaxP99,
    ),
    (
        HelperFigure::AwsApiErrors,
        "awscni_aws_api_error_count",
        HelperKind::Counter,
    ),
    (
        HelperFigure::AwsUtilsErrors,
        "awscni_aws_utils_error_count",
        HelperKind::Counter,
    ),
    (
        HelperFigure::IpamdErrors,
        "awscni_ipamd_error_count",
        HelperKind::Counter,
    ),
    (
        HelperFigure::ForceRemovedEnis,
        "awscni_force_removed_enis",
        HelperKind::Counter,
    ),
    (
        HelperFigure::ForceRemovedIps,
        "awscni_force_removed_ips",
        HelperKind::Counter,
    ),
    (
        HelperFigure::IpamdActionInProgress,
        "awscni_ipamd_action_inprogress",
        HelperKind::Gauge,
    ),
    (
        HelperFigure::Reconciles,
        "awscni_reconcile_count",
        HelperKind::Counter,
    ),
    (
        HelperFigure::AddIpRequests,
        "awscni_add_ip_req_count",
        HelperKind::Counter,
    ),
    (
        HelperFigure::DelIpRequests,
        "awscni_del_ip_req_count",
        HelperKind::Counter,
    ),
    (
        HelperFigure::PodEniErrors,
        "awscni_pod_eni_error_count",
        HelperKind::Counter,
    ),
    (
        HelperFigure::Ec2ApiRequests,
        "awscni_ec2api_req_count",
        HelperKind::Counter,
    ),
    (
        HelperFigure::Ec2ApiErrors,
        "awscni_ec2api_error_count",
        HelperKind::Counter,
    ),
];

/// The samples of the text exposition format, one line at a time, comments and blank lines
/// skipped. Errors name the line.
pub fn samples(text: &str) -> impl Iterator<Item = Result<Sample<'_>, ParseError>> {
    text.lines().enumerate().filter_map(|(index, line)| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        Some(parse_sample(line).map_err(|problem| ParseError::Line {
            line: index + 1,
            problem,
        }))
    })
}

fn parse_sample(line: &str) -> Result<Sample<'_>, LineError> {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    if name_end == 0 {
        return Err(LineError::Name(Excerpt::of(line)));
    }
    let name = &line[..name_end];
    let mut rest = &line[name_end..];
    let mut labels = "";
    if let Some(after) = rest.strip_prefix('{') {
        // Every label checked now; read again only when a figure asks for one.
        let mut cursor = after;
        while let Some((_, _, next)) = next_label(cursor)? {
            cursor = next;
        }
        let close = after.len() - cursor.len();
        labels = &after[..close];
        rest = &cursor[cursor.find('}').map_or(0, |i| i + 1)..];
    }
    let mut fields = rest.split_whitespace();
    let Some(raw) = fields.next() else {
        return Err(LineError::NoValue(Excerpt::of(name)));
    };
    let Some(value) = parse_value(raw) else {
        return Err(LineError::Value {
            name: Excerpt::of(name),
            got: Excerpt::of(raw),
        });
    };
    if let Some(timestamp) = fields.next()
        && timestamp.parse::<i64>().is_err()
    {
        return Err(LineError::Timestamp {
            name: Excerpt::of(name),
            got: Excerpt::of(timestamp),
        });
    }
    Ok(Sample {
        name,
        labels,
        value,
    })
}

/// The next `key="value"` of a label list and what follows it; `None` at the closing brace.
/// The value is returned as written (escapes in place).
fn next_label(rest: &str) -> Result<Option<(&str, &str, &str)>, LineError> {
    let rest = rest.trim_start();
    if rest.starts_with('}') {
        return Ok(None);
    }
    let (key, after) = rest
        .split_once('=')
        .ok_or_else(|| LineError::Label(Excerpt::of(rest)))?;
    let key = key.trim();
    let after = after
        .trim_start()
        .strip_prefix('"')
        .ok_or_else(|| LineError::Unquoted(Excerpt::of(key)))?;
    let mut escaped = false;
    let end = after
        .char_indices()
        .find(|&(_, c)| {
            let close = c == '"' && !escaped;
            escaped = c == '\\' && !escaped;
            close
        })
        .map(|(i, _)| i)
        .ok_or_else(|| LineError::Unterminated(Excerpt::of(key)))?;
    let next = after[end + 1..].trim_start();
    Ok(Some((
        key,
        &after[..end],
        next.strip_prefix(',').unwrap_or(next),
    )))
}

/// A label value as the text format escapes it (`\\`, `\"`, `\n`), unescaped.
fn unescape(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut value = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') => value.push('\n'),
                Some(c) => value.push(c),
                None => {}
            },
            (c, false) => value.push(c),
        }
    }
    Cow::Owned(value)
}

fn parse_value(raw: &str) -> Option<f64> {
    match raw {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => raw.parse().ok(),
    }
}

/// Reads ipamd's scrape in one pass, keeping only nodecap's figures: memory stays that of
/// the figures, whatever the number of lines.
pub fn parse(text: &str) -> Result<IpamdMetrics, ParseError> {
    let mut metrics = IpamdMetrics::default();
    let mut build_info_seen = false;
    // Per HELPER entry: the sum (gauges, counters) or the largest p99 so far (summaries),
    // and whether the summary's `_count` series exists.
    let mut helper: [Option<f64>; HELPER.len()] = [None; HELPER.len()];
    let mut counted = [false; HELPER.len()];
    let first = |slot: &mut Option<f64>, value: f64| {
        slot.get_or_insert(value);
    };
    // A family that exists counts, even when none of its values is finite.
    let add = |slot: &mut Option<f64>, value: f64| {
        let sum = slot.get_or_insert(0.0);
        if value.is_finite() {
            *sum += value;
        }
    };
    for sample in samples(text) {
        let sample = sample?;
        let value = sample.value;
        match sample.name {
            "awscni_build_info" if !build_info_seen => {
                build_info_seen = true;
                if let Some(version) = sample.label("version") {
                    if version.chars().count() > MAX_VERSION {
                        return Err(ParseError::Version(Excerpt::of(&version)));
                    }
                    metrics.version = Some(version.into_owned());
                }
            }
            "awscni_eni_max" => first(&mut metrics.eni_max, value),
            "awscni_ip_max" => first(&mut metrics.ip_max, value),
            "awscni_eni_allocated" => first(&mut metrics.enis_allocated, value),
            "awscni_total_ip_addresses" => first(&mut metrics.total_ip_addresses, value),
            "awscni_assigned_ip_addresses" => first(&mut metrics.assigned_ip_addresses, value),
            "awscni_total_ipv4_prefixes" => first(&mut metrics.ipv4_prefixes, value),
            "awscni_no_available_ip_addresses" => {
                first(&mut metrics.no_available_ip_addresses, value);
            }
            "awscni_ipamd_error_count" => add(&mut metrics.ipamd_errors, value),
            "awscni_ec2api_error_count" => add(&mut metrics.ec2_api_errors, value),
            _ => {}
        }
        for (i, &(_, family, kind)) in HELPER.iter().enumerate() {
            match kind {
                HelperKind::Gauge | HelperKind::Counter if sample.name == family => {
                    add(&mut helper[i], value);
                }
                HelperKind::MaxP99
                    if sample.name == family
                        && value.is_finite()
                        && sample.label("quantile").as_deref() == Some("0.99") =>
                {
                    let max = helper[i].get_or_insert(0.0);
                    *max = max.max(value);
                }
                HelperKind::MaxP99 if sample.name.strip_suffix("_count") == Some(family) => {
                    counted[i] = true;
                }
                _ => {}
            }
        }
    }
    metrics.helper = HELPER
        .iter()
        .enumerate()
        .filter_map(|(i, &(figure, _, kind))| match kind {
            HelperKind::MaxP99 => counted[i].then(|| (figure, helper[i].unwrap_or(0.0))),
            HelperKind::Gauge | HelperKind::Counter => helper[i].map(|v| (figure, v)),
        })
        .collect();
    Ok(metrics)
}

pub static INFO: Family<1> = Family::gauge(
    "nodecap_ipamd_info",
    &["version"],
    "The VPC CNI (ipamd) version; always 1.",
);
pub static ENIS_MAX: Family<0> = Family::gauge(
    "nodecap_ipamd_enis_max",
    &[],
    "ipamd's awscni_eni_max: ENIs it may use.",
);
pub static IPV4_MAX: Family<0> = Family::gauge(
    "nodecap_ipamd_ipv4_max",
    &[],
    "ipamd's awscni_ip_max: its address ceiling (ignores maxPods).",
);
pub static ENIS_ALLOCATED: Family<0> = Family::gauge(
    "nodecap_ipamd_enis_allocated",
    &[],
    "ipamd's awscni_eni_allocated: ENIs in its datastore.",
);
pub static IPV4_ADDRESSES: Family<1> = Family::gauge(
    "nodecap_ipamd_ipv4_addresses",
    &["state"],
    "ipamd's awscni_total_ip_addresses (total) and awscni_assigned_ip_addresses (assigned).",
);
pub static IPV4_PREFIXES: Family<0> = Family::gauge(
    "nodecap_ipamd_ipv4_prefixes",
    &[],
    "ipamd's awscni_total_ipv4_prefixes.",
);
pub static NO_AVAILABLE: Family<0> = Family::counter(
    "nodecap_ipamd_no_available_ip_addresses_total",
    &[],
    "ipamd's awscni_no_available_ip_addresses: pod IP requests that found no free address.",
);
pub static ERRORS: Family<0> = Family::counter(
    "nodecap_ipamd_errors_total",
    &[],
    "ipamd's awscni_ipamd_error_count, summed over fn.",
);
pub static EC2_API_ERRORS: Family<0> = Family::counter(
    "nodecap_ipamd_ec2_api_errors_total",
    &[],
    "ipamd's awscni_ec2api_error_count, summed over fn.",
);

impl Export for IpamdMetrics {
    fn export(&self, out: &mut Samples) {
        if let Some(version) = &self.version {
            out.set(&INFO, [version], 1.0);
        }
        for (family, value) in [
            (&ENIS_MAX, self.eni_max),
            (&IPV4_MAX, self.ip_max),
            (&ENIS_ALLOCATED, self.enis_allocated),
            (&IPV4_PREFIXES, self.ipv4_prefixes),
            (&NO_AVAILABLE, self.no_available_ip_addresses),
            (&ERRORS, self.ipamd_errors),
            (&EC2_API_ERRORS, self.ec2_api_errors),
        ] {
            if let Some(v) = value.filter(|v| v.is_finite()) {
                out.set(family, [], v);
            }
        }
        for (state, value) in [
            ("total", self.total_ip_addresses),
            ("assigned", self.assigned_ip_addresses),
        ] {
            if let Some(v) = value.filter(|v| v.is_finite()) {
                out.set(&IPV4_ADDRESSES, [state], v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Modelled on an ipamd v1.19.2 scrape: the reverted gauge type, a summary with NaN
    /// quantiles, one without, escaped label values, a timestamp.
    const SCRAPE: &str = r#"# HELP awscni_add_ip_req_count The number of add IP address requests
# TYPE awscni_add_ip_req_count gauge
awscni_add_ip_req_count 42
# HELP awscni_assigned_ip_addresses The number of IP addresses assigned to pods
# TYPE awscni_assigned_ip_addresses gauge
awscni_assigned_ip_addresses 7
# TYPE awscni_aws_api_latency_ms summary
awscni_aws_api_latency_ms{api="GetMetadata",error="false",status="200",quantile="0.5"} NaN
awscni_aws_api_latency_ms_sum{api="GetMetadata",error="false",status="200"} 812
awscni_aws_api_latency_ms_count{api="GetMetadata",error="false",status="200"} 97
awscni_aws_api_latency_ms_sum{api="AssignPrivateIpAddresses",error="false",status="200"} 2938
awscni_aws_api_latency_ms_count{api="AssignPrivateIpAddresses",error="false",status="200"} 10
# TYPE awscni_aws_utils_error_count counter
awscni_aws_utils_error_count{error="failed to delete \"eni-0aa\": \\ unauthorized\nretrying",fn="FreeENIDeleteErr"} 1
# TYPE awscni_build_info gauge
awscni_build_info{goversion="go1.22.5",version="v1.19.2"} 1
awscni_eni_allocated 2
awscni_eni_max 3
awscni_ip_max 27
# TYPE awscni_ipamd_error_count counter
awscni_ipamd_error_count{fn="increaseIPPoolAllocENI"} 2
awscni_ipamd_error_count{fn="decreaseIPPool"} 1
awscni_ec2api_error_count{fn="CreateNetworkInterface"} 3
awscni_total_ip_addresses 18 1732000000000
awscni_no_available_ip_addresses 0
"#;

    #[test]
    fn reads_the_allocation_figures() {
        let all: Vec<Sample<'_>> = samples(SCRAPE).map(Result::unwrap).collect();
        assert_eq!(all.len(), 17);
        assert!(all[2].value.is_nan());
        assert_eq!(
            all[7].label("error").unwrap(),
            "failed to delete \"eni-0aa\": \\ unauthorized\nretrying"
        );
        assert_eq!(all[7].label("fn").unwrap(), "FreeENIDeleteErr");
        assert_eq!(all[7].label("nope"), None);
        let quoted = samples(r#"x{a="\"}",b="c"} 1"#).next().unwrap().unwrap();
        assert_eq!(
            (quoted.label("a").unwrap(), quoted.value),
            ("\"}".into(), 1.0)
        );
        let m = parse(SCRAPE).unwrap();
        assert_eq!(m.version.as_deref(), Some("v1.19.2"));
        assert_eq!(m.eni_max, Some(3.0));
        assert_eq!(m.ip_max, Some(27.0));
        assert_eq!(m.enis_allocated, Some(2.0));
        assert_eq!(m.total_ip_addresses, Some(18.0));
        assert_eq!(m.assigned_ip_addresses, Some(7.0));
        assert_eq!(m.ipv4_prefixes, None);
        assert_eq!(m.no_available_ip_addresses, Some(0.0));
        assert_eq!(m.ipamd_errors, Some(3.0));
        assert_eq!(m.ec2_api_errors, Some(3.0));
        // The cni-metrics-helper's figures: what exists, summed; latency 0 (only NaN quantiles).
        let helper: std::collections::BTreeMap<_, _> = m.helper.iter().copied().collect();
        use HelperFigure::*;
        assert_eq!(helper[&AssignedIpAddresses], 7.0);
        assert_eq!(helper[&AddIpRequests], 42.0);
        assert_eq!(helper[&IpamdErrors], 3.0);
        assert_eq!(helper[&AwsUtilsErrors], 1.0);
        assert_eq!(helper[&AwsApiLatency], 0.0);
        assert!(!helper.contains_key(&TotalIpv4Prefixes) && !helper.contains_key(&DelIpRequests));
        assert_eq!(Ec2ApiErrors.kind(), HelperKind::Counter);
    }

    #[test]
    fn type_drift_and_special_values() {
        for kind in ["gauge", "counter", "untyped"] {
            let text =
                format!("# TYPE awscni_force_removed_ips {kind}\nawscni_force_removed_ips 4\n");
            let helper = parse(&text).unwrap().helper;
            assert_eq!(helper, [(HelperFigure::ForceRemovedIps, 4.0)]);
        }
        let values: Vec<Sample<'_>> = samples("a +Inf\nb -Inf\nc 1e3\nd -0.5\n")
            .map(Result::unwrap)
            .collect();
        assert_eq!(values[0].value, f64::INFINITY);
        assert_eq!(values[1].value, f64::NEG_INFINITY);
        assert_eq!(values[2].value, 1000.0);
        assert_eq!(values[3].value, -0.5);
        assert_eq!(parse("").unwrap(), IpamdMetrics::default());
    }

    #[test]
    fn malformed_lines_name_the_line() {
        for (text, expected) in [
            (
                "ok 1\nbad{a=\"x\" 1\n",
                "line 2: expected label=\"value\" in \"1\"",
            ),
            ("bad{a=\"x} 1\n", "line 1: label \"a\": unterminated value"),
            ("x{a=1} 2", "line 1: label \"a\": expected a quoted value"),
            ("x 1\n\nx", "line 3: \"x\": expected a value"),
            ("x one", "line 1: \"x\": expected a number, got \"one\""),
            ("{a=\"1\"} 2", "line 1: expected a metric name"),
            (
                "x 1 later",
                "line 1: \"x\": expected a millisecond timestamp, got \"later\"",
            ),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn foreign_text_is_quoted_short_and_labels_bounded() {
        let long = "x".repeat(1_000_000);
        let err = parse(&format!("m {long}\n")).unwrap_err().to_string();
        assert!(err.len() < 200, "{} bytes", err.len());
        assert!(err.ends_with("(1000000 bytes)"), "{err}");
        let err = parse(&format!("awscni_build_info{{version=\"{long}\"}} 1\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("awscni_build_info: version \"xxx") && err.len() < 200,
            "{err}"
        );
        // Only figures are kept: a million series of other families cost nothing after.
        let many: String = (0..100_000)
            .map(|i| format!("go_other{{i=\"{i}\"}} 1\n"))
            .collect();
        let m = parse(&format!("{many}awscni_eni_max 3\n")).unwrap();
        assert_eq!(m.eni_max, Some(3.0));
    }
}
