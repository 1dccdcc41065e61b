//! The daemon's metric vocabulary, shared by whoever owns a metric and whoever encodes it:
//! a [`Family`] (name, type, labels, help) declared as a `static` next to the data it
//! describes, and [`Samples`], the values one snapshot gives each family. Collectors, the
//! snapshot's derived figures and the CloudWatch publisher declare families; the Prometheus
//! exporter encodes [`Samples`]; nobody looks a family up by name.
//!
//! A family's label count is part of its type (`Family<2>` takes `[&str; 2]`), so a sample with
//! the wrong number of labels does not compile.
//!
//! Names follow `nodecap_<subsystem>_<name>_<unit>`, base units, `_total` only on counters
//! (a test checks every catalogued family).

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        })
    }
}

/// A family as the catalogue lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Describe {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

/// A metric family with `N` labels.
#[derive(Debug)]
pub struct Family<const N: usize> {
    pub describe: Describe,
}

impl<const N: usize> Family<N> {
    pub const fn gauge(
        name: &'static str,
        labels: &'static [&'static str; N],
        help: &'static str,
    ) -> Self {
        Family {
            describe: Describe {
                name,
                kind: Kind::Gauge,
                labels,
                help,
            },
        }
    }

    pub const fn counter(
        name: &'static str,
        labels: &'static [&'static str; N],
        help: &'static str,
    ) -> Self {
        Family {
            describe: Describe {
                name,
                kind: Kind::Counter,
                labels,
                help,
            },
        }
    }
}

/// One family's samples: label values (in the family's label order) and value.
#[derive(Debug, Clone)]
pub struct Rows {
    pub describe: &'static Describe,
    pub rows: Vec<(Vec<String>, f64)>,
}

/// The samples of one snapshot, by family name.
#[derive(Debug, Default)]
pub struct Samples {
    families: BTreeMap<&'static str, Rows>,
}

impl Samples {
    /// Sets one series. A counter's value is its source's running total: a value that is not
    /// a finite count serves as 0.
    pub fn set<const N: usize>(
        &mut self,
        family: &'static Family<N>,
        labels: [&str; N],
        value: f64,
    ) {
        let describe = &family.describe;
        let value = match describe.kind {
            Kind::Counter if !(value.is_finite() && value >= 0.0) => 0.0,
            _ => value,
        };
        self.families
            .entry(describe.name)
            .or_insert_with(|| Rows {
                describe,
                rows: Vec::new(),
            })
            .rows
            .push((labels.iter().map(|l| (*l).to_owned()).collect(), value));
    }

    /// Every family that has samples, sorted by name.
    pub fn into_families(self) -> impl Iterator<Item = Rows> {
        self.families.into_values()
    }
}

/// What gives samples: a snapshot, the CloudWatch publisher's counts.
pub trait Export {
    fn export(&self, out: &mut Samples);
}

/// A count as a sample value (exact up to 2^53).
/// What every pipeline serves first: the running version.
pub static BUILD_INFO: Family<1> = Family::gauge(
    "nodecap_build_info",
    &["version"],
    "nodecap's version; always 1.",
);

pub fn count(n: u64) -> f64 {
    n as f64
}

/// A signed figure as a sample value.
pub fn signed(n: i64) -> f64 {
    n as f64
}

/// The catalogue as the README's Markdown table (checked by the README test).
pub fn markdown_table(catalogue: &[&Describe]) -> String {
    let mut out = String::from("| metric | type | labels | meaning |\n|---|---|---|---|\n");
    for m in catalogue {
        let labels = m
            .labels
            .iter()
            .map(|l| format!("`{l}`"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "| `{}` | {} | {labels} | {} |\n",
            m.name, m.kind, m.help
        ));
    }
    out
}
