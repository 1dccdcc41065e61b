//! `DescribeInstanceTypes` records: the part of the API's answer nodecap keeps, in the API's
//! JSON field names, and the one conversion to [`InstanceFacts`] that serves the embedded
//! table's generator, the on-disk cache and the EC2 API alike. Pure: strings in, facts out.
//!
//! Input shape: the API's JSON (`{"InstanceTypes": [ {...}, ... ]}`, as printed by
//! `aws ec2 describe-instance-types`), or a map from type name to the same record (how moto
//! ships its copy). Only the fields sizing needs are kept; everything else is ignored, so two
//! regions that differ only in, say, `SupportedInRegion` agree.
//!
//! Failure: a malformed document, a record missing a needed field or an unknown hypervisor
//! are errors naming the source and the type. Records the VPC CNI could never use (no ENIs or
//! no IPv4 addresses) are `Ok(None)`, as the VPC CNI's own generator skips them.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::facts::{Architecture, Hypervisor, InstanceFacts};
use crate::excerpt::{MAX_CHARS, clip};
use crate::names::InstanceType;

/// The part of a `DescribeInstanceTypes` record that nodecap keeps, in the API's field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescribedType {
    #[serde(rename = "InstanceType")]
    pub instance_type: InstanceType,
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
    #[serde(
        rename = "ProcessorInfo",
        default,
        skip_serializing_if = "ProcessorInfo::is_empty"
    )]
    pub processor_info: ProcessorInfo,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessorInfo {
    #[serde(rename = "SupportedArchitectures", default)]
    pub supported_architectures: Vec<String>,
}

impl ProcessorInfo {
    fn is_empty(&self) -> bool {
        self.supported_architectures.is_empty()
    }
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
    #[error("{source_name}: not JSON")]
    Json {
        source_name: String,
        #[source]
        error: serde_json::Error,
    },
    #[error("{source_name}: expected {{\"InstanceTypes\": [...]}} or a map of type name to record")]
    Shape { source_name: String },
    #[error("{source_name}: record {index} ({name})")]
    Record {
        source_name: String,
        index: usize,
        /// The record's `InstanceType` as it came, clipped to [`MAX_CHARS`].
        name: String,
        #[source]
        error: serde_json::Error,
    },
    #[error("{instance_type}: unknown hypervisor {value:?} (expected nitro, xen or none)")]
    Hypervisor {
        instance_type: InstanceType,
        value: String,
    },
    #[error("{instance_type}: network cards are not numbered 0..n: {indexes:?}")]
    CardIndexes {
        instance_type: InstanceType,
        indexes: Vec<u8>,
    },
    #[error("{instance_type}: default network card {index} does not exist")]
    DefaultCard {
        instance_type: InstanceType,
        index: u8,
    },
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
                .map_or_else(|| "?".to_owned(), |name| clip(name, MAX_CHARS));
            serde_json::from_value(record).map_err(|error| Error::Record {
                source_name: source_name.to_owned(),
                index,
                name,
                error,
            })
        })
        .collect()
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
        instance_type: name.clone(),
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
        architecture: Architecture::from_supported(
            record
                .processor_info
                .supported_architectures
                .iter()
                .map(String::as_str),
        ),
    }))
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
        assert_eq!(err.to_string(), "eu-west-1.json: record 0 (m5.large)");
        assert!(
            std::error::Error::source(&err)
                .unwrap()
                .to_string()
                .starts_with("missing field `VCpuInfo`")
        );
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
    fn architectures_from_the_api_list() {
        let of = |names: &[&str]| Architecture::from_supported(names.iter().copied());
        assert_eq!(of(&["i386", "x86_64"]), Architecture::X86_64);
        assert_eq!(of(&["x86_64_mac"]), Architecture::X86_64);
        assert_eq!(of(&["arm64"]), Architecture::Arm64);
        assert_eq!(of(&["arm64_mac"]), Architecture::Arm64);
        assert_eq!(of(&[]), Architecture::Unknown);
        assert_eq!(of(&["riscv64"]), Architecture::Unknown);
        // A record without ProcessorInfo (an older cache entry) is read, architecture unknown.
        let facts = to_facts(&serde_json::from_str::<DescribedType>(M5).unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(facts.architecture, Architecture::Unknown);
    }
}
