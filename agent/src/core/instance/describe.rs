//! `DescribeInstanceTypes` documents: parsing, merging regions, and rendering the embedded
//! table. This is the generator behind `gen-instance-table`; it is pure (strings in, strings
//! out) so the regeneration test can run it without touching the file system twice.
//!
//! Input shape: the API's JSON (`{"InstanceTypes": [ {...}, ... ]}`, as printed by
//! `aws ec2 describe-instance-types`), or a map from type name to the same record (how moto
//! ships its copy). Only the fields sizing needs are kept; everything else is ignored, so two
//! regions that differ only in, say, `SupportedInRegion` agree.
//!
//! Failure: a malformed document, a record missing a needed field, an unknown hypervisor, or
//! two regions disagreeing about a type are errors naming the source and the type. Records the
//! VPC CNI could never use (no ENIs or no IPv4 addresses) are skipped and reported, as the VPC
//! CNI's own generator does.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Hypervisor, InstanceFacts};

/// The part of a `DescribeInstanceTypes` record that nodecap keeps, in the API's field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescribedType {
    #[serde(rename = "InstanceType")]
    pub instance_type: String,
    #[serde(
        rename = "Hypervisor",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub hypervisor: Option<String>,
    #[serde(rename = "BareMetal", default)]
    pub bare_metal: bool,
    #[serde(rename = "VCpuInfo")]
    pub vcpu_info: VCpuInfo,
    #[serde(rename = "MemoryInfo")]
    pub memory_info: MemoryInfo,
    #[serde(rename = "NetworkInfo")]
    pub network_info: NetworkInfo,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VCpuInfo {
    #[serde(rename = "DefaultVCpus")]
    pub default_vcpus: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryInfo {
    #[serde(rename = "SizeInMiB")]
    pub size_in_mib: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkInfo {
    #[serde(rename = "DefaultNetworkCardIndex", default)]
    pub default_network_card_index: u8,
    #[serde(rename = "MaximumNetworkInterfaces")]
    pub maximum_network_interfaces: u16,
    #[serde(
        rename = "NetworkCards",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub network_cards: Vec<NetworkCard>,
    #[serde(rename = "Ipv4AddressesPerInterface")]
    pub ipv4_addresses_per_interface: u16,
    #[serde(rename = "Ipv6AddressesPerInterface", default)]
    pub ipv6_addresses_per_interface: u16,
    #[serde(rename = "Ipv6Supported", default)]
    pub ipv6_supported: bool,
    #[serde(rename = "EfaSupported", default)]
    pub efa_supported: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkCard {
    #[serde(rename = "NetworkCardIndex")]
    pub network_card_index: u8,
    #[serde(rename = "MaximumNetworkInterfaces")]
    pub maximum_network_interfaces: u16,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{source_name}: not JSON: {error}")]
    Json {
        source_name: String,
        error: serde_json::Error,
    },
    #[error("{source_name}: expected {{\"InstanceTypes\": [...]}} or a map of type name to record")]
    Shape { source_name: String },
    #[error("{source_name}: record {index} ({name}): {error}")]
    Record {
        source_name: String,
        index: usize,
        name: String,
        error: serde_json::Error,
    },
    #[error("{instance_type}: {source_a} and {source_b} disagree:\n  {a}\n  {b}")]
    Conflict {
        instance_type: String,
        source_a: String,
        source_b: String,
        a: String,
        b: String,
    },
    #[error("{instance_type}: unknown hypervisor {value:?} (expected nitro, xen or none)")]
    Hypervisor {
        instance_type: String,
        value: String,
    },
    #[error("{instance_type}: network cards are not numbered 0..n: {indexes:?}")]
    CardIndexes {
        instance_type: String,
        indexes: Vec<u8>,
    },
    #[error("{instance_type}: default network card {index} does not exist")]
    DefaultCard { instance_type: String, index: u8 },
}

/// Parses one `DescribeInstanceTypes` document. `source_name` (a file name or region) only
/// labels errors.
pub fn parse_document(source_name: &str, text: &str) -> Result<Vec<DescribedType>, Error> {
    let value: Value = serde_json::from_str(text).map_err(|error| Error::Json {
        source_name: source_name.to_owned(),
        error,
    })?;
    let records: Vec<Value> = match value {
        Value::Object(mut map) => match map.remove("InstanceTypes") {
            Some(Value::Array(records)) => records,
            Some(_) => {
                return Err(Error::Shape {
                    source_name: source_name.to_owned(),
                });
            }
            None => map.into_iter().map(|(_, record)| record).collect(),
        },
        _ => {
            return Err(Error::Shape {
                source_name: source_name.to_owned(),
            });
        }
    };
    records
        .into_iter()
        .enumerate()
        .map(|(index, record)| {
            let name = record
                .get("InstanceType")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned();
            serde_json::from_value(record).map_err(|error| Error::Record {
                source_name: source_name.to_owned(),
                index,
                name,
                error,
            })
        })
        .collect()
}

/// The result of merging sources: one record per type, sorted by name.
#[derive(Debug, Default)]
pub struct Merged {
    pub sources: Vec<String>,
    pub types: BTreeMap<String, DescribedType>,
}

/// Merges documents from several regions (or other sources). A type seen twice must be
/// described identically; if two sources disagree, that is an error, never a silent
/// overwrite (nodeadm's generator lets the later region win).
pub fn merge(sources: Vec<(String, Vec<DescribedType>)>) -> Result<Merged, Error> {
    let mut merged = Merged::default();
    let mut seen_in: BTreeMap<String, String> = BTreeMap::new();
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
        a: serde_json::to_string(a).unwrap_or_default(),
        b: serde_json::to_string(b).unwrap_or_default(),
    }
}

/// Renders merged data as the committed `instance-types.json`: the API shape plus a
/// `Sources` list, one record per line so a refresh diffs line by line.
pub fn render_document(sources: &[String], types: &BTreeMap<String, DescribedType>) -> String {
    let mut out = String::from("{\"Sources\":");
    out.push_str(&serde_json::to_string(sources).unwrap_or_default());
    out.push_str(",\n\"InstanceTypes\":[\n");
    let mut first = true;
    for record in types.values() {
        if !first {
            out.push_str(",\n");
        }
        first = false;
        out.push_str(&serde_json::to_string(record).unwrap_or_default());
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

/// Converts one record into sizing facts. `Ok(None)` for a type the VPC CNI cannot put pods
/// on (no ENIs on the default card or no IPv4 addresses).
pub fn to_facts(record: &DescribedType) -> Result<Option<InstanceFacts>, Error> {
    let name = &record.instance_type;
    let hypervisor = match record.hypervisor.as_deref() {
        Some("nitro") => Hypervisor::Nitro,
        Some("xen") => Hypervisor::Xen,
        None | Some("") => Hypervisor::None,
        Some(other) => {
            return Err(Error::Hypervisor {
                instance_type: name.clone(),
                value: other.to_owned(),
            });
        }
    };
    let network = &record.network_info;
    let enis_per_card: Vec<u16> = if network.network_cards.is_empty() {
        // Old answers without NetworkCards describe a single card.
        vec![network.maximum_network_interfaces]
    } else {
        let mut cards = network.network_cards.clone();
        cards.sort_by_key(|card| card.network_card_index);
        let indexes: Vec<u8> = cards.iter().map(|c| c.network_card_index).collect();
        if indexes
            .iter()
            .enumerate()
            .any(|(i, &idx)| usize::from(idx) != i)
        {
            return Err(Error::CardIndexes {
                instance_type: name.clone(),
                indexes,
            });
        }
        cards.iter().map(|c| c.maximum_network_interfaces).collect()
    };
    let default_card = network.default_network_card_index;
    let Some(&default_enis) = enis_per_card.get(usize::from(default_card)) else {
        return Err(Error::DefaultCard {
            instance_type: name.clone(),
            index: default_card,
        });
    };
    if default_enis == 0 || network.ipv4_addresses_per_interface == 0 {
        return Ok(None);
    }
    Ok(Some(InstanceFacts {
        instance_type: Cow::Owned(name.clone()),
        default_network_card: default_card,
        enis_per_card: Cow::Owned(enis_per_card),
        ipv4_per_eni: network.ipv4_addresses_per_interface,
        ipv6_per_eni: network.ipv6_addresses_per_interface,
        ipv6_supported: network.ipv6_supported,
        vcpus: record.vcpu_info.default_vcpus,
        memory_mib: record.memory_info.size_in_mib,
        hypervisor,
        bare_metal: record.bare_metal,
        efa_supported: network.efa_supported,
    }))
}

/// What rendering the table found worth telling the person running the generator.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TableReport {
    pub types: usize,
    pub from_supplement: Vec<String>,
    /// Supplement entries the API data now covers (the data wins; the entry can go).
    pub shadowed: Vec<String>,
    /// Types skipped because the VPC CNI cannot put pods on them.
    pub skipped: Vec<String>,
}

/// Renders `table.rs` from the API data and the supplement. The supplement only adds types
/// the API data lacks.
pub fn render_table(
    sources: &[String],
    data: &BTreeMap<String, DescribedType>,
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
    for record in all.values() {
        let Some(f) = to_facts(record)? else {
            report.skipped.push(record.instance_type.clone());
            continue;
        };
        report.types += 1;
        let hypervisor = match f.hypervisor {
            Hypervisor::Nitro => "Nitro",
            Hypervisor::Xen => "Xen",
            Hypervisor::None => "None",
        };
        let _ = writeln!(
            rows,
            "    row({:?}, {hypervisor}, {}, {}, {}, {}, &{:?}, {}, {}, {}, {}),",
            f.instance_type,
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
// @generated by `cargo run -p nodecap --bin gen-instance-table` from
// agent/data/instance-types.json and agent/data/instance-types-supplement.json.
// Do not edit: change the data and regenerate (agent/data/README.md); a test fails on any
// difference between this file and what the generator makes of the data.
//
// API data sources: {sources}
// Types: {types} ({supplement} from the supplement)
//
// Columns: row(type, hypervisor, bare metal, vCPUs, memory MiB, default network card,
//              ENIs per network card, IPv4 per ENI, IPv6 per ENI, IPv6 supported, EFA)

use super::Hypervisor::{{Nitro, None, Xen}};
use super::{{InstanceFacts, row}};

pub(super) static TABLE: [InstanceFacts; {types}] = [
{rows}];
",
        sources = sources.join("; "),
        types = report.types,
        supplement = report.from_supplement.len(),
    );
    Ok((out, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    const M5: &str = r#"{"InstanceType":"m5.large","Hypervisor":"nitro","BareMetal":false,
        "VCpuInfo":{"DefaultVCpus":2,"DefaultCores":1},"MemoryInfo":{"SizeInMiB":8192},
        "SupportedInRegion":true,
        "NetworkInfo":{"DefaultNetworkCardIndex":0,"MaximumNetworkInterfaces":3,
          "NetworkCards":[{"NetworkCardIndex":0,"MaximumNetworkInterfaces":3,"PeakBandwidthInGbps":10.0}],
          "Ipv4AddressesPerInterface":10,"Ipv6AddressesPerInterface":10,"Ipv6Supported":true,
          "EfaSupported":false}}"#;

    fn doc(records: &[&str]) -> String {
        format!("{{\"InstanceTypes\":[{}]}}", records.join(","))
    }

    #[test]
    fn parses_api_shape_and_ignores_other_fields() {
        let types = parse_document("us-east-1", &doc(&[M5])).unwrap();
        assert_eq!(types.len(), 1);
        let facts = to_facts(&types[0]).unwrap().unwrap();
        assert_eq!(facts.default_card_enis(), 3);
        assert_eq!(facts.ipv4_per_eni, 10);
        assert_eq!(facts.hypervisor, Hypervisor::Nitro);
    }

    #[test]
    fn parses_moto_map_shape() {
        let text = format!("{{\"m5.large\": {M5}}}");
        let types = parse_document("moto", &text).unwrap();
        assert_eq!(types[0].instance_type, "m5.large");
    }

    #[test]
    fn names_source_and_type_on_a_bad_record() {
        let bad = M5.replace("\"VCpuInfo\"", "\"VCpuInfoX\"");
        let err = parse_document("eu-west-1.json", &doc(&[&bad])).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("eu-west-1.json: record 0 (m5.large): missing field `VCpuInfo`"));
        assert!(matches!(
            parse_document("x", "[1]").unwrap_err(),
            Error::Shape { .. }
        ));
        assert!(matches!(
            parse_document("x", "{").unwrap_err(),
            Error::Json { .. }
        ));
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
    fn unusable_types_are_skipped_and_bad_ones_rejected() {
        let no_ips = M5.replace(
            "\"Ipv4AddressesPerInterface\":10",
            "\"Ipv4AddressesPerInterface\":0",
        );
        let rec = &parse_document("x", &doc(&[&no_ips])).unwrap()[0];
        assert_eq!(to_facts(rec).unwrap(), None);

        let odd = M5.replace("\"nitro\"", "\"kvm\"");
        let rec = &parse_document("x", &doc(&[&odd])).unwrap()[0];
        assert!(
            to_facts(rec)
                .unwrap_err()
                .to_string()
                .contains("unknown hypervisor \"kvm\"")
        );

        let gap = M5.replace("\"NetworkCardIndex\":0", "\"NetworkCardIndex\":1");
        let rec = &parse_document("x", &doc(&[&gap])).unwrap()[0];
        assert!(matches!(
            to_facts(rec).unwrap_err(),
            Error::CardIndexes { .. }
        ));
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
            "    row(\"m5.large\", Nitro, false, 2, 8192, 0, &[3], 10, 10, true, false),\n"
        ));
        assert!(table.contains("static TABLE: [InstanceFacts; 2]"));
    }
}
