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

use std::collections::BTreeMap;

use super::collector::{Collector, CollectorId, Reading};
use super::http::{self, OptionalEndpoint, ReadError};
use crate::daemon::family::{Export, Family, Samples};

/// Collects ipamd's `/metrics`.
#[derive(Debug)]
pub struct IpamdMetricsCollector {
    endpoint: OptionalEndpoint,
}

impl IpamdMetricsCollector {
    pub fn new(url: hyper::Uri) -> Self {
        IpamdMetricsCollector {
            endpoint: OptionalEndpoint::new(url),
        }
    }
}

impl Collector for IpamdMetricsCollector {
    type Part = IpamdMetrics;
    type Error = ReadError<ParseError>;
    const ID: CollectorId = CollectorId::IpamdMetrics;
    const TIMEOUT: std::time::Duration = http::TIMEOUT;

    async fn collect(&mut self) -> Result<Reading<IpamdMetrics>, Self::Error> {
        self.endpoint
            .read(|body| {
                let text = std::str::from_utf8(&body).map_err(ParseError::Utf8)?;
                parse_text(text).map(|samples| extract(&samples))
            })
            .await
    }
}

/// Text that is not the Prometheus text format.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("not UTF-8")]
    Utf8(#[source] std::str::Utf8Error),
    #[error("line {line}: {problem}")]
    Line { line: usize, problem: LineError },
}

/// What is wrong with one sample line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("expected a metric name, got {0:?}")]
    Name(String),
    #[error("expected label=\"value\" in {0:?}")]
    Label(String),
    #[error("label {0}: expected a quoted value")]
    Unquoted(String),
    #[error("label {0}: unterminated value")]
    Unterminated(String),
    #[error("{0}: expected a value")]
    NoValue(String),
    #[error("{name}: expected a number, got {got:?}")]
    Value { name: String, got: String },
    #[error("{name}: expected a millisecond timestamp, got {got:?}")]
    Timestamp { name: String, got: String },
}

/// One sample line: name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
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
    /// The cni-metrics-helper's 20 CloudWatch figures for this node, in [`HELPER`] order
    /// (those whose ipamd series exist): its compatibility names, one value each.
    pub helper: Vec<(&'static str, f64)>,
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

/// The cni-metrics-helper's CloudWatch names, their ipamd families and how they aggregate.
pub const HELPER: &[(&str, &str, HelperKind)] = &[
    (
        "assignIPAddresses",
        "awscni_assigned_ip_addresses",
        HelperKind::Gauge,
    ),
    (
        "totalIPAddresses",
        "awscni_total_ip_addresses",
        HelperKind::Gauge,
    ),
    (
        "totalIPv4Prefixes",
        "awscni_total_ipv4_prefixes",
        HelperKind::Gauge,
    ),
    (
        "totalAssignedIPv4sPerCidr",
        "awscni_assigned_ip_per_cidr",
        HelperKind::Gauge,
    ),
    ("eniAllocated", "awscni_eni_allocated", HelperKind::Gauge),
    ("eniMaxAvailable", "awscni_eni_max", HelperKind::Gauge),
    ("maxIPAddresses", "awscni_ip_max", HelperKind::Gauge),
    (
        "awsAPILatency",
        "awscni_aws_api_latency_ms",
        HelperKind::MaxP99,
    ),
    (
        "awsAPIErr",
        "awscni_aws_api_error_count",
        HelperKind::Counter,
    ),
    (
        "awsUtilErr",
        "awscni_aws_utils_error_count",
        HelperKind::Counter,
    ),
    ("ipamdErr", "awscni_ipamd_error_count", HelperKind::Counter),
    (
        "forceRemoveENI",
        "awscni_force_removed_enis",
        HelperKind::Counter,
    ),
    (
        "forceRemoveIPs",
        "awscni_force_removed_ips",
        HelperKind::Counter,
    ),
    (
        "ipamdActionInProgress",
        "awscni_ipamd_action_inprogress",
        HelperKind::Gauge,
    ),
    (
        "reconcileCount",
        "awscni_reconcile_count",
        HelperKind::Counter,
    ),
    (
        "addReqCount",
        "awscni_add_ip_req_count",
        HelperKind::Counter,
    ),
    (
        "delReqCount",
        "awscni_del_ip_req_count",
        HelperKind::Counter,
    ),
    (
        "podENIErr",
        "awscni_pod_eni_error_count",
        HelperKind::Counter,
    ),
    (
        "ec2ApiReqCount",
        "awscni_ec2api_req_count",
        HelperKind::Counter,
    ),
    (
        "ec2ApiErrCount",
        "awscni_ec2api_error_count",
        HelperKind::Counter,
    ),
];

/// The kind of a cni-metrics-helper name.
pub fn helper_kind(name: &str) -> Option<HelperKind> {
    HELPER
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|&(_, _, k)| k)
}

/// Parses the text exposition format. Errors name the line.
pub fn parse_text(text: &str) -> Result<Vec<Sample>, ParseError> {
    let mut samples = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        samples.push(parse_sample(line).map_err(|problem| ParseError::Line {
            line: index + 1,
            problem,
        })?);
    }
    Ok(samples)
}

fn parse_sample(line: &str) -> Result<Sample, LineError> {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    if name_end == 0 {
        return Err(LineError::Name(line.to_owned()));
    }
    let name = line[..name_end].to_owned();
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = parse_labels(after, &mut labels)?;
    }
    let mut fields = rest.split_whitespace();
    let Some(raw) = fields.next() else {
        return Err(LineError::NoValue(name));
    };
    let Some(value) = parse_value(raw) else {
        return Err(LineError::Value {
            name,
            got: raw.to_owned(),
        });
    };
    if let Some(timestamp) = fields.next()
        && timestamp.parse::<i64>().is_err()
    {
        return Err(LineError::Timestamp {
            name,
            got: timestamp.to_owned(),
        });
    }
    Ok(Sample {
        name,
        labels,
        value,
    })
}

/// Parses `a="x",b="y"}` and returns what follows the closing brace.
fn parse_labels<'a>(
    mut rest: &'a str,
    labels: &mut BTreeMap<String, String>,
) -> Result<&'a str, LineError> {
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('}') {
            return Ok(after);
        }
        let (key, after) = rest
            .split_once('=')
            .ok_or_else(|| LineError::Label(rest.to_owned()))?;
        let key = key.trim();
        let after = after
            .trim_start()
            .strip_prefix('"')
            .ok_or_else(|| LineError::Unquoted(key.to_owned()))?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err(LineError::Unterminated(key.to_owned())),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => return Err(LineError::Unterminated(key.to_owned())),
            }
        };
        labels.insert(key.to_owned(), value);
        rest = after[end + 1..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

fn parse_value(raw: &str) -> Option<f64> {
    match raw {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => raw.parse().ok(),
    }
}

/// Picks nodecap's figures out of the samples.
pub fn extract(samples: &[Sample]) -> IpamdMetrics {
    let one = |name: &str| samples.iter().find(|s| s.name == name).map(|s| s.value);
    let sum = |name: &str| {
        let mut matching = samples.iter().filter(|s| s.name == name).peekable();
        matching.peek()?;
        Some(matching.map(|s| s.value).filter(|v| v.is_finite()).sum())
    };
    IpamdMetrics {
        version: samples
            .iter()
            .find(|s| s.name == "awscni_build_info")
            .and_then(|s| s.labels.get("version").cloned()),
        eni_max: one("awscni_eni_max"),
        ip_max: one("awscni_ip_max"),
        enis_allocated: one("awscni_eni_allocated"),
        total_ip_addresses: one("awscni_total_ip_addresses"),
        assigned_ip_addresses: one("awscni_assigned_ip_addresses"),
        ipv4_prefixes: one("awscni_total_ipv4_prefixes"),
        no_available_ip_addresses: one("awscni_no_available_ip_addresses"),
        ipamd_errors: sum("awscni_ipamd_error_count"),
        ec2_api_errors: sum("awscni_ec2api_error_count"),
        helper: HELPER
            .iter()
            .filter_map(|&(cw, family, kind)| {
                let value = match kind {
                    HelperKind::Gauge | HelperKind::Counter => sum(family)?,
                    HelperKind::MaxP99 => {
                        let count = format!("{family}_count");
                        samples.iter().find(|s| s.name == count)?;
                        samples
                            .iter()
                            .filter(|s| s.name == family)
                            .filter(|s| {
                                s.labels.get("quantile").map(String::as_str) == Some("0.99")
                            })
                            .map(|s| s.value)
                            .filter(|v| v.is_finite())
                            .fold(0.0, f64::max)
                    }
                };
                Some((cw, value))
            })
            .collect(),
    }
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
        let samples = parse_text(SCRAPE).unwrap();
        assert_eq!(samples.len(), 17);
        assert!(samples[2].value.is_nan());
        assert_eq!(
            samples[7].labels["error"],
            "failed to delete \"eni-0aa\": \\ unauthorized\nretrying"
        );
        let m = extract(&samples);
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
        assert_eq!(helper["assignIPAddresses"], 7.0);
        assert_eq!(helper["addReqCount"], 42.0);
        assert_eq!(helper["ipamdErr"], 3.0);
        assert_eq!(helper["awsUtilErr"], 1.0);
        assert_eq!(helper["awsAPILatency"], 0.0);
        assert!(!helper.contains_key("totalIPv4Prefixes") && !helper.contains_key("delReqCount"));
        assert_eq!(helper_kind("ec2ApiErrCount"), Some(HelperKind::Counter));
    }

    #[test]
    fn type_drift_and_special_values() {
        for kind in ["gauge", "counter", "untyped"] {
            let text =
                format!("# TYPE awscni_force_removed_ips {kind}\nawscni_force_removed_ips 4\n");
            assert_eq!(parse_text(&text).unwrap()[0].value, 4.0);
        }
        let values = parse_text("a +Inf\nb -Inf\nc 1e3\nd -0.5\n").unwrap();
        assert_eq!(values[0].value, f64::INFINITY);
        assert_eq!(values[1].value, f64::NEG_INFINITY);
        assert_eq!(values[2].value, 1000.0);
        assert_eq!(values[3].value, -0.5);
        assert_eq!(extract(&[]), IpamdMetrics::default());
    }

    #[test]
    fn malformed_lines_name_the_line() {
        for (text, expected) in [
            (
                "ok 1\nbad{a=\"x\" 1\n",
                "line 2: expected label=\"value\" in \"1\"",
            ),
            ("bad{a=\"x} 1\n", "line 1: label a: unterminated value"),
            ("x{a=1} 2", "line 1: label a: expected a quoted value"),
            ("x 1\n\nx", "line 3: x: expected a value"),
            ("x one", "line 1: x: expected a number, got \"one\""),
            ("{a=\"1\"} 2", "line 1: expected a metric name"),
            (
                "x 1 later",
                "line 1: x: expected a millisecond timestamp, got \"later\"",
            ),
        ] {
            let err = parse_text(text).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{text:?}: {err}");
        }
    }
}
