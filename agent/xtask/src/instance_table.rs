//! `cargo xtask instance-table`: regenerates nodecap's embedded instance table from
//! `DescribeInstanceTypes` output (agent/data/README.md).
//!
//! ```text
//! cargo xtask instance-table merge INPUT.json...   # regions → agent/data/instance-types.json
//! cargo xtask instance-table render                # data + supplement → agent/core/src/instance/table.rs
//! ```
//!
//! `agent/data/refresh.sh` runs both, from moto's copy of the data or from a real AWS account.
//! Everything is validated before anything is written; a failure leaves the files as they
//! were. The functions are pure (strings in, strings out) so the regeneration test can run
//! them without touching the file system twice.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use nodecap::core::instance::describe::{self, DescribedType};
use nodecap::core::instance::{Architecture, Hypervisor};
use nodecap::core::names::InstanceType;
use serde_json::Value;

pub const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/instance-types.json");
pub const SUPPLEMENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../data/instance-types-supplement.json"
);
pub const TABLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../core/src/instance/table.rs");

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Describe(#[from] describe::Error),
    #[error("{instance_type}: {source_a} and {source_b} disagree:\n  {a}\n  {b}")]
    Conflict {
        instance_type: InstanceType,
        source_a: String,
        source_b: String,
        a: String,
        b: String,
    },
    #[error("{path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The result of merging sources: one record per type, sorted by name.
#[derive(Debug, Default)]
pub struct Merged {
    pub sources: Vec<String>,
    pub types: BTreeMap<InstanceType, DescribedType>,
}

/// Merges documents from several regions (or other sources). A type seen twice must be
/// described identically; if two sources disagree, that is an error, never a silent
/// overwrite (nodeadm's generator lets the later region win).
pub fn merge(sources: Vec<(String, Vec<DescribedType>)>) -> Result<Merged, Error> {
    let mut merged = Merged::default();
    let mut seen_in: BTreeMap<InstanceType, String> = BTreeMap::new();
    for (source_name, records) in sources {
        for record in records {
            if let Some(existing) = merged.types.get(&record.instance_type) {
                if *existing != record {
                    return Err(conflict(
                        &seen_in[&record.instance_type],
                        existing,
                        &source_name,
                        &record,
                    ));
                }
                continue;
            }
            seen_in.insert(record.instance_type.clone(), source_name.clone());
            merged.types.insert(record.instance_type.clone(), record);
        }
        merged.sources.push(source_name);
    }
    Ok(merged)
}

fn conflict(source_a: &str, a: &DescribedType, source_b: &str, b: &DescribedType) -> Error {
    Error::Conflict {
        instance_type: a.instance_type.clone(),
        source_a: source_a.to_owned(),
        source_b: source_b.to_owned(),
        a: serde_json::to_string(a).unwrap_or_else(|e| e.to_string()),
        b: serde_json::to_string(b).unwrap_or_else(|e| e.to_string()),
    }
}

/// Renders merged data as the committed `instance-types.json`: the API shape plus a
/// `Sources` list, one record per line so a refresh diffs line by line.
pub fn render_document(
    sources: &[String],
    types: &BTreeMap<InstanceType, DescribedType>,
) -> String {
    let mut out = String::from("{\"Sources\":");
    out.push_str(&serde_json::Value::from(sources.to_vec()).to_string());
    out.push_str(",\n\"InstanceTypes\":[\n");
    let mut first = true;
    for record in types.values() {
        if !first {
            out.push_str(",\n");
        }
        first = false;
        // A struct of strings and numbers always serializes.
        out.push_str(&serde_json::to_string(record).unwrap_or_else(|e| e.to_string()));
    }
    out.push_str("\n]}\n");
    out
}

/// The `Sources` list of a committed `instance-types.json`, for the table header.
pub fn document_sources(text: &str) -> Vec<String> {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.get("Sources").cloned())
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

/// What rendering the table found worth telling the person running the generator.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TableReport {
    pub types: usize,
    pub from_supplement: Vec<InstanceType>,
    /// Supplement entries the API data now covers (the data wins; the entry can go).
    pub shadowed: Vec<InstanceType>,
    /// Types skipped because the VPC CNI cannot put pods on them.
    pub skipped: Vec<InstanceType>,
}

/// Renders `table.rs` from the API data and the supplement. The supplement only adds types
/// the API data lacks.
pub fn render_table(
    sources: &[String],
    data: &BTreeMap<InstanceType, DescribedType>,
    supplement: &[DescribedType],
) -> Result<(String, TableReport), Error> {
    let mut report = TableReport::default();
    let mut all: BTreeMap<&str, &DescribedType> =
        data.iter().map(|(k, v)| (k.as_str(), v)).collect();
    for record in supplement {
        if data.contains_key(&record.instance_type) {
            report.shadowed.push(record.instance_type.clone());
        } else {
            report.from_supplement.push(record.instance_type.clone());
            all.insert(&record.instance_type, record);
        }
    }
    let mut rows = String::new();
    let mut architectures = std::collections::BTreeSet::new();
    for record in all.values() {
        let Some(f) = describe::to_facts(record)? else {
            report.skipped.push(record.instance_type.clone());
            continue;
        };
        report.types += 1;
        let hypervisor = match f.hypervisor {
            Hypervisor::Nitro => "Nitro",
            Hypervisor::Xen => "Xen",
            Hypervisor::None => "None",
        };
        let architecture = match f.architecture {
            Architecture::X86_64 => "X86_64",
            Architecture::Arm64 => "Arm64",
            Architecture::Unknown => "Unknown",
        };
        architectures.insert(architecture);
        let _ = writeln!(
            rows,
            "    row({:?}, {hypervisor}, {}, {}, {}, {}, &{:?}, {}, {}, {}, {}, {architecture}),",
            f.instance_type.as_str(),
            f.bare_metal,
            f.vcpus,
            f.memory_mib,
            f.default_network_card,
            f.enis_per_card,
            f.ipv4_per_eni,
            f.ipv6_per_eni,
            f.ipv6_supported,
            f.efa_supported,
        );
    }
    let mut out = String::new();
    let _ = write!(
        out,
        "\
// @generated by `cargo xtask instance-table render` from
// agent/data/instance-types.json and agent/data/instance-types-supplement.json.
// Do not edit: change the data and regenerate (agent/data/README.md); a test fails on any
// difference between this file and what the generator makes of the data.
//
// API data sources: {sources}
// Types: {types} ({supplement} from the supplement)
//
// Columns: row(type, hypervisor, bare metal, vCPUs, memory MiB, default network card,
//              ENIs per network card, IPv4 per ENI, IPv6 per ENI, IPv6 supported, EFA,
//              architecture)

use super::facts::Architecture::{{{architectures}}};
use super::facts::Hypervisor::{{Nitro, None, Xen}};
use super::facts::{{InstanceFacts, row}};

pub(super) static TABLE: [InstanceFacts; {types}] = [
{rows}];
",
        sources = sources.join("; "),
        architectures = architectures.into_iter().collect::<Vec<_>>().join(", "),
        types = report.types,
        supplement = report.from_supplement.len(),
    );
    Ok((out, report))
}

/// `merge`: DescribeInstanceTypes documents (one per region) → the committed data file. Each
/// input's file name (without .json) is recorded as its source.
pub fn merge_files(inputs: &[PathBuf], out: &Path) -> Result<String, Error> {
    let mut sources = Vec::new();
    for path in inputs {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        sources.push((name.clone(), describe::parse_document(&name, &read(path)?)?));
    }
    let merged = merge(sources)?;
    write(out, &render_document(&merged.sources, &merged.types))?;
    Ok(format!("{}: {} types", out.display(), merged.types.len()))
}

/// `render`: the data file and the supplement → the embedded table. Returns what to tell the
/// person running it.
pub fn render_files(data: &Path, supplement: &Path, out: &Path) -> Result<Vec<String>, Error> {
    let data_text = read(data)?;
    let name = data.display().to_string();
    let records = describe::parse_document(&name, &data_text)?;
    let merged = merge(vec![(name, records)])?;
    let supplement_records =
        describe::parse_document(&supplement.display().to_string(), &read(supplement)?)?;
    let (table, report) = render_table(
        &document_sources(&data_text),
        &merged.types,
        &supplement_records,
    )?;
    write(out, &table)?;
    let mut notes = vec![format!(
        "{}: {} types, {} from the supplement",
        out.display(),
        report.types,
        report.from_supplement.len()
    )];
    for name in &report.shadowed {
        notes.push(format!(
            "note: supplement entry {name} is now in the API data; remove it"
        ));
    }
    for name in &report.skipped {
        notes.push(format!(
            "note: {name} skipped: no ENIs or no IPv4 addresses"
        ));
    }
    Ok(notes)
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}

/// Writes next to the target and renames, so an interrupted run never leaves half a table.
fn write(path: &Path, text: &str) -> Result<(), Error> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use describe::parse_document;

    const M5: &str = r#"{"InstanceType":"m5.large","Hypervisor":"nitro","BareMetal":false,
        "VCpuInfo":{"DefaultVCpus":2,"DefaultCores":1},"MemoryInfo":{"SizeInMiB":8192},
        "ProcessorInfo":{"SupportedArchitectures":["x86_64"],"SustainedClockSpeedInGhz":3.1},
        "SupportedInRegion":true,
        "NetworkInfo":{"DefaultNetworkCardIndex":0,"MaximumNetworkInterfaces":3,
          "NetworkCards":[{"NetworkCardIndex":0,"MaximumNetworkInterfaces":3,"PeakBandwidthInGbps":10.0}],
          "Ipv4AddressesPerInterface":10,"Ipv6AddressesPerInterface":10,"Ipv6Supported":true,
          "EfaSupported":false}}"#;

    fn doc(records: &[&str]) -> String {
        format!("{{\"InstanceTypes\":[{}]}}", records.join(","))
    }

    #[test]
    fn identical_regions_merge() {
        let a = parse_document("us-east-1", &doc(&[M5])).unwrap();
        let b = parse_document("eu-west-1", &doc(&[M5])).unwrap();
        let merged = merge(vec![("us-east-1".into(), a), ("eu-west-1".into(), b)]).unwrap();
        assert_eq!(merged.types.len(), 1);
        assert_eq!(merged.sources, ["us-east-1", "eu-west-1"]);
    }

    #[test]
    fn disagreeing_regions_are_an_error() {
        let a = parse_document("us-east-1", &doc(&[M5])).unwrap();
        let other = M5.replace(
            "\"Ipv4AddressesPerInterface\":10",
            "\"Ipv4AddressesPerInterface\":12",
        );
        let b = parse_document("eu-west-1", &doc(&[&other])).unwrap();
        let err = merge(vec![("us-east-1".into(), a), ("eu-west-1".into(), b)]).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("m5.large: us-east-1 and eu-west-1 disagree"),
            "{msg}"
        );
    }

    #[test]
    fn rendered_document_parses_back_identically() {
        let a = parse_document("us-east-1", &doc(&[M5])).unwrap();
        let merged = merge(vec![("us-east-1".into(), a)]).unwrap();
        let text = render_document(&merged.sources, &merged.types);
        assert_eq!(document_sources(&text), ["us-east-1"]);
        let again = parse_document("again", &text).unwrap();
        assert_eq!(again, merged.types.values().cloned().collect::<Vec<_>>());
    }

    #[test]
    fn supplement_only_fills_gaps() {
        let data = merge(vec![(
            "d".into(),
            parse_document("d", &doc(&[M5])).unwrap(),
        )])
        .unwrap();
        let extra = M5.replace("m5.large", "x9.large");
        let supplement = parse_document("s", &doc(&[M5, &extra])).unwrap();
        let (table, report) = render_table(&data.sources, &data.types, &supplement).unwrap();
        assert_eq!(report.types, 2);
        assert_eq!(report.shadowed, ["m5.large"]);
        assert_eq!(report.from_supplement, ["x9.large"]);
        assert!(table.contains(
            "    row(\"m5.large\", Nitro, false, 2, 8192, 0, &[3], 10, 10, true, false, X86_64),\n"
        ));
        assert!(table.contains("static TABLE: [InstanceFacts; 2]"));
    }

    /// The embedded table is generated, never hand-edited: regenerating it from the committed
    /// data must reproduce it byte for byte, and the data file must already be in the
    /// generator's canonical form.
    #[test]
    fn table_regenerates_identically() {
        let data_text = read(Path::new(DATA)).unwrap();
        let data = parse_document("instance-types.json", &data_text).unwrap();
        let merged = merge(vec![("instance-types.json".into(), data)]).unwrap();
        let supplement = parse_document(
            "instance-types-supplement.json",
            &read(Path::new(SUPPLEMENT)).unwrap(),
        )
        .unwrap();
        let (table, report) =
            render_table(&document_sources(&data_text), &merged.types, &supplement).unwrap();
        assert!(report.types >= 1418, "{} types", report.types);
        assert_eq!(report.from_supplement.len(), 23);
        assert!(
            report.shadowed.is_empty(),
            "stale supplement entries: {:?}",
            report.shadowed
        );
        assert!(
            table == read(Path::new(TABLE)).unwrap(),
            "agent/core/src/instance/table.rs differs from what the data generates: run \
             `cargo xtask instance-table render` (agent/data/README.md)"
        );
        let canonical = render_document(&document_sources(&data_text), &merged.types);
        assert!(
            canonical == data_text,
            "agent/data/instance-types.json is not in canonical form"
        );
    }
}
