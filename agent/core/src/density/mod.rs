//! Pod density and cost per instance type: how many pods a node of each type holds in a
//! given VPC CNI mode, what each of them gets of the node's allocatable CPU and memory, and —
//! with prices — what a pod-hour costs. Pure: sizings and prices in, rows out; the rows sort,
//! filter and render (table, CSV, JSON, Markdown; the SVG chart in [`chart`]) here too.
//!
//! Every figure comes from the type's [`Sizing`], the same one `plan` prints:
//! `allocatable / max_pods` per pod, `usd_per_hour / max_pods` per pod-hour. Prices are never
//! embedded (they change): they come from a file or the Pricing API, and a type without one
//! keeps its density and an empty price.

pub mod chart;

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::instance::Architecture;
use super::names::InstanceType;
use super::sizing::Sizing;

/// Decimal places prices per pod-hour are rounded to in every output (a tenth of a
/// thousandth of a cent: enough to order any two types apart).
pub const PRICE_DECIMALS: i32 = 6;

/// One instance type's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub instance_type: InstanceType,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub architecture: Architecture,
    pub max_pods: u32,
    pub allocatable_cpu_millis: u32,
    pub allocatable_memory_mib: u64,
    /// `allocatable_cpu_millis / max_pods`, whole millicores (rounded down).
    pub cpu_per_pod_millis: u32,
    /// `allocatable_memory_mib / max_pods`, whole MiB (rounded down).
    pub memory_per_pod_mib: u64,
    pub usd_per_hour: Option<f64>,
    /// `usd_per_hour / max_pods`, rounded to [`PRICE_DECIMALS`] places.
    pub usd_per_pod_hour: Option<f64>,
}

impl Row {
    pub fn new(sizing: &Sizing<'_>, usd_per_hour: Option<f64>) -> Self {
        let i = sizing.instance;
        let a = sizing.allocatable;
        let pods = sizing.max_pods.max(1);
        Row {
            instance_type: i.instance_type.clone(),
            vcpus: i.vcpus,
            memory_mib: i.memory_mib,
            architecture: i.architecture,
            max_pods: sizing.max_pods,
            allocatable_cpu_millis: a.cpu_millis,
            allocatable_memory_mib: a.memory_mib,
            cpu_per_pod_millis: a.cpu_millis / pods,
            memory_per_pod_mib: a.memory_mib / u64::from(pods),
            usd_per_hour,
            usd_per_pod_hour: usd_per_hour.map(|p| round(p / f64::from(pods))),
        }
    }
}

fn round(price: f64) -> f64 {
    let scale = 10f64.powi(PRICE_DECIMALS);
    (price * scale).round() / scale
}

/// What a table may be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    InstanceType,
    Vcpus,
    Memory,
    /// By name: arm64 before x86_64.
    Arch,
    Pods,
    AllocatableCpu,
    AllocatableMemory,
    CpuPerPod,
    MemoryPerPod,
    Price,
    PricePerPod,
}

/// Sorts `rows` by `column` (ascending, or descending), the instance type breaking ties; rows
/// without a price sort last by price either way.
pub fn sort(rows: &mut [Row], column: Column, descending: bool) {
    rows.sort_by(|a, b| {
        let by_price = |x: Option<f64>, y: Option<f64>| match (x, y) {
            (Some(x), Some(y)) => {
                let o = x.total_cmp(&y);
                if descending { o.reverse() } else { o }
            }
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        let ordered = |o: Ordering| if descending { o.reverse() } else { o };
        let primary = match column {
            Column::InstanceType => ordered(a.instance_type.cmp(&b.instance_type)),
            Column::Vcpus => ordered(a.vcpus.cmp(&b.vcpus)),
            Column::Memory => ordered(a.memory_mib.cmp(&b.memory_mib)),
            Column::Arch => ordered(a.architecture.as_str().cmp(b.architecture.as_str())),
            Column::Pods => ordered(a.max_pods.cmp(&b.max_pods)),
            Column::AllocatableCpu => {
                ordered(a.allocatable_cpu_millis.cmp(&b.allocatable_cpu_millis))
            }
            Column::AllocatableMemory => {
                ordered(a.allocatable_memory_mib.cmp(&b.allocatable_memory_mib))
            }
            Column::CpuPerPod => ordered(a.cpu_per_pod_millis.cmp(&b.cpu_per_pod_millis)),
            Column::MemoryPerPod => ordered(a.memory_per_pod_mib.cmp(&b.memory_per_pod_mib)),
            Column::Price => by_price(a.usd_per_hour, b.usd_per_hour),
            Column::PricePerPod => by_price(a.usd_per_pod_hour, b.usd_per_pod_hour),
        };
        primary.then_with(|| a.instance_type.cmp(&b.instance_type))
    });
}

const HEADERS: [&str; 11] = [
    "instance_type",
    "vcpus",
    "memory_mib",
    "arch",
    "max_pods",
    "allocatable_cpu_m",
    "allocatable_memory_mib",
    "cpu_per_pod_m",
    "memory_per_pod_mib",
    "usd_per_hour",
    "usd_per_pod_hour",
];

fn cells(r: &Row) -> [String; 11] {
    let price = |p: Option<f64>| p.map(|p| format!("{p}")).unwrap_or_default();
    [
        r.instance_type.to_string(),
        r.vcpus.to_string(),
        r.memory_mib.to_string(),
        r.architecture.to_string(),
        r.max_pods.to_string(),
        r.allocatable_cpu_millis.to_string(),
        r.allocatable_memory_mib.to_string(),
        r.cpu_per_pod_millis.to_string(),
        r.memory_per_pod_mib.to_string(),
        price(r.usd_per_hour),
        r.usd_per_pod_hour
            .map(|p| format!("{p:.*}", usize::try_from(PRICE_DECIMALS).unwrap_or(6)))
            .unwrap_or_default(),
    ]
}

/// A readable table: names left, numbers right.
pub fn table(rows: &[Row]) -> String {
    let body: Vec<Vec<String>> = rows.iter().map(|r| cells(r).to_vec()).collect();
    let headers = HEADERS.map(str::to_uppercase);
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    super::explain::aligned(&headers, &body, &[0, 3])
}

/// CSV (RFC 4180; no cell needs quoting: names, numbers, architectures).
pub fn csv(rows: &[Row]) -> String {
    let mut out = HEADERS.join(",") + "\n";
    for row in rows {
        out.push_str(&cells(row).join(","));
        out.push('\n');
    }
    out
}

/// A Markdown table.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = format!("| {} |\n", HEADERS.join(" | "));
    out.push('|');
    for (i, _) in HEADERS.iter().enumerate() {
        out.push_str(if i == 0 || i == 3 { "---|" } else { "---:|" });
    }
    out.push('\n');
    for row in rows {
        let _ = writeln!(out, "| {} |", cells(row).join(" | "));
    }
    out
}

/// Prices by instance type, as a price source gives them.
pub type Prices = BTreeMap<InstanceType, f64>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::{Source, lookup_embedded};
    use crate::sizing::{SizingOptions, size};

    fn row(name: &str, price: Option<f64>, options: &SizingOptions) -> Row {
        let sizing = size(lookup_embedded(name).unwrap(), Source::Embedded, options);
        Row::new(&sizing, price)
    }

    #[test]
    fn per_pod_figures_follow_plan() {
        let options = SizingOptions::default();
        let m5 = row("m5.large", Some(0.096), &options);
        assert_eq!(m5.max_pods, 29);
        let sizing = size(
            lookup_embedded("m5.large").unwrap(),
            Source::Embedded,
            &options,
        );
        assert_eq!(m5.memory_per_pod_mib, sizing.allocatable.memory_mib / 29);
        assert_eq!(m5.usd_per_pod_hour, Some(round(0.096 / 29.0)));
        assert_eq!(m5.usd_per_pod_hour, Some(0.00331));
        let pd = SizingOptions {
            prefix_delegation: true,
            ..SizingOptions::default()
        };
        assert_eq!(row("m5.large", Some(0.096), &pd).max_pods, 110);
    }

    #[test]
    fn sorting_puts_unpriced_last() {
        let options = SizingOptions::default();
        let mut rows = vec![
            row("m5.xlarge", Some(0.192), &options),
            row("c5.large", None, &options),
            row("m5.large", Some(0.096), &options),
        ];
        sort(&mut rows, Column::PricePerPod, false);
        let order: Vec<&str> = rows.iter().map(|r| r.instance_type.as_str()).collect();
        assert_eq!(order, ["m5.large", "m5.xlarge", "c5.large"]);
        // The same price per pod-hour (0.192 / 58 = 0.096 / 29): the name breaks the tie.
        assert_eq!(rows[0].usd_per_pod_hour, rows[1].usd_per_pod_hour);
        sort(&mut rows, Column::Price, true);
        let order: Vec<&str> = rows.iter().map(|r| r.instance_type.as_str()).collect();
        assert_eq!(order, ["m5.xlarge", "m5.large", "c5.large"]);
        sort(&mut rows, Column::Pods, true);
        assert_eq!(rows[0].instance_type, "m5.xlarge");
    }
}
