//! `DescribeInstanceTypes` for one type: the API-shaped record nodecap keeps, mapped to the
//! same [`DescribedType`] the embedded table is generated from, so one conversion
//! ([`describe::to_facts`](crate::core::instance::describe::to_facts)) serves the table, the
//! cache and the API. Needs `ec2:DescribeInstanceTypes`.
//!
//! One type is asked for, so an answer holds one: at most [`MAX_ANSWER`] bytes and
//! [`MAX_TYPES`] types are read, at most
//! [`MAX_NETWORK_CARDS`] network cards each (EC2's most today: 32, on p5.48xlarge) and
//! [`MAX_ARCHITECTURES`] architectures; more is an unreadable answer (16 MiB of empty
//! `<item/>` once took `init` to half a GiB).

use std::time::Duration;

use serde::Deserialize;

use super::{Action, CallError, Client, Items, Listed, Retry};
use crate::core::instance::describe::{
    DescribedType, MemoryInfo, NetworkCard, NetworkInfo, ProcessorInfo, VCpuInfo,
};
use crate::core::names::{InstanceType, Region};

/// Instance types read from one answer (one is asked for).
const MAX_TYPES: usize = 16;
/// The answer's size: one type is about 5 KiB of XML.
pub const MAX_ANSWER: usize = 1024 * 1024;
/// Network cards of one type.
const MAX_NETWORK_CARDS: usize = 64;
/// Architectures of one type (EC2 names four).
const MAX_ARCHITECTURES: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("ec2:DescribeInstanceTypes {instance_type} in {region}")]
    Call {
        instance_type: InstanceType,
        region: Region,
        source: CallError,
    },
    #[error("ec2:DescribeInstanceTypes {instance_type} in {region}: no such instance type")]
    NotFound {
        instance_type: InstanceType,
        region: Region,
    },
    #[error("ec2:DescribeInstanceTypes {instance_type}: {what}")]
    Answer {
        instance_type: InstanceType,
        what: AnswerError,
    },
}

/// An answer that does not describe a usable instance type.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("{0} missing")]
    Missing(&'static str),
    #[error("{field}: {value} out of range")]
    OutOfRange { field: &'static str, value: u64 },
    #[error("no ENIs or no IPv4 addresses: the VPC CNI cannot put pods here")]
    Unusable,
    #[error("{0}")]
    Facts(#[from] crate::core::instance::describe::Error),
    #[error("InstanceType: {0}")]
    Name(#[from] crate::core::names::InvalidName),
}

/// Asks the EC2 API in `region` about `instance_type`, within `timeout`.
pub async fn describe_instance_type(
    instance_type: &InstanceType,
    region: &Region,
    timeout: Duration,
) -> Result<DescribedType, Error> {
    let call_error = |source: CallError| Error::Call {
        instance_type: instance_type.clone(),
        region: region.clone(),
        source,
    };
    let params = vec![("InstanceType.1".to_owned(), instance_type.to_string())];
    let call = async {
        Client::new(region, Retry::NONE)
            .await?
            .call::<DescribeInstanceTypesResponse>(
                Action::DescribeInstanceTypes,
                &params,
                MAX_ANSWER,
            )
            .await
    };
    let answer = tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| call_error(CallError::Timeout(timeout)))?
        .map_err(call_error)?;
    let info = answer
        .instance_type_set
        .into_iter()
        .find(|info| info.instance_type.as_deref() == Some(instance_type.as_str()))
        .ok_or_else(|| Error::NotFound {
            instance_type: instance_type.clone(),
            region: region.clone(),
        })?;
    info.into_record().map_err(|what| Error::Answer {
        instance_type: instance_type.clone(),
        what,
    })
}

#[derive(Debug, Deserialize)]
struct DescribeInstanceTypesResponse {
    #[serde(rename = "instanceTypeSet", default)]
    instance_type_set: Items<XmlInstanceType, MAX_TYPES>,
}

impl Listed for XmlInstanceType {
    const WHAT: &'static str = "instance types";
}

impl Listed for XmlNetworkCard {
    const WHAT: &'static str = "network cards";
}

#[derive(Debug, Deserialize)]
struct XmlInstanceType {
    #[serde(rename = "instanceType")]
    instance_type: Option<String>,
    hypervisor: Option<String>,
    #[serde(rename = "bareMetal")]
    bare_metal: Option<bool>,
    #[serde(rename = "vCpuInfo")]
    vcpu_info: Option<XmlVCpuInfo>,
    #[serde(rename = "memoryInfo")]
    memory_info: Option<XmlMemoryInfo>,
    #[serde(rename = "networkInfo")]
    network_info: Option<XmlNetworkInfo>,
    #[serde(rename = "processorInfo")]
    processor_info: Option<XmlProcessorInfo>,
}

#[derive(Debug, Deserialize)]
struct XmlProcessorInfo {
    #[serde(rename = "supportedArchitectures", default)]
    supported_architectures: Items<String, MAX_ARCHITECTURES>,
}

#[derive(Debug, Deserialize)]
struct XmlVCpuInfo {
    #[serde(rename = "defaultVCpus")]
    default_vcpus: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct XmlMemoryInfo {
    #[serde(rename = "sizeInMiB")]
    size_in_mib: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct XmlNetworkInfo {
    #[serde(rename = "maximumNetworkInterfaces")]
    maximum_network_interfaces: Option<u64>,
    #[serde(rename = "defaultNetworkCardIndex")]
    default_network_card_index: Option<u64>,
    #[serde(rename = "networkCards", default)]
    network_cards: Items<XmlNetworkCard, MAX_NETWORK_CARDS>,
    #[serde(rename = "ipv4AddressesPerInterface")]
    ipv4_addresses_per_interface: Option<u64>,
    #[serde(rename = "ipv6AddressesPerInterface")]
    ipv6_addresses_per_interface: Option<u64>,
    #[serde(rename = "ipv6Supported")]
    ipv6_supported: Option<bool>,
    #[serde(rename = "efaSupported")]
    efa_supported: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct XmlNetworkCard {
    #[serde(rename = "networkCardIndex")]
    network_card_index: Option<u64>,
    #[serde(rename = "maximumNetworkInterfaces")]
    maximum_network_interfaces: Option<u64>,
}

/// A required number that fits `T`.
fn number<T: TryFrom<u64>>(field: &'static str, value: Option<u64>) -> Result<T, AnswerError> {
    let value = value.ok_or(AnswerError::Missing(field))?;
    T::try_from(value).map_err(|_| AnswerError::OutOfRange { field, value })
}

impl XmlInstanceType {
    /// The API-shaped record nodecap keeps.
    fn into_record(self) -> Result<DescribedType, AnswerError> {
        let network = self
            .network_info
            .ok_or(AnswerError::Missing("NetworkInfo"))?;
        let network_cards = network
            .network_cards
            .into_iter()
            .map(|card| {
                Ok(NetworkCard {
                    network_card_index: number("NetworkCardIndex", card.network_card_index)?,
                    maximum_network_interfaces: number(
                        "NetworkCards.MaximumNetworkInterfaces",
                        card.maximum_network_interfaces,
                    )?,
                })
            })
            .collect::<Result<Vec<_>, AnswerError>>()?;
        let processor_info = ProcessorInfo {
            supported_architectures: self
                .processor_info
                .map(|p| p.supported_architectures.into_iter().collect())
                .unwrap_or_default(),
        };
        Ok(DescribedType {
            processor_info,
            instance_type: self
                .instance_type
                .ok_or(AnswerError::Missing("InstanceType"))?
                .try_into()?,
            hypervisor: self.hypervisor,
            bare_metal: self.bare_metal.unwrap_or(false),
            vcpu_info: VCpuInfo {
                default_vcpus: number(
                    "VCpuInfo.DefaultVCpus",
                    self.vcpu_info.and_then(|v| v.default_vcpus),
                )?,
            },
            memory_info: MemoryInfo {
                size_in_mib: number(
                    "MemoryInfo.SizeInMiB",
                    self.memory_info.and_then(|m| m.size_in_mib),
                )?,
            },
            network_info: NetworkInfo {
                default_network_card_index: number(
                    "DefaultNetworkCardIndex",
                    Some(network.default_network_card_index.unwrap_or(0)),
                )?,
                maximum_network_interfaces: number(
                    "MaximumNetworkInterfaces",
                    network.maximum_network_interfaces,
                )?,
                network_cards,
                ipv4_addresses_per_interface: number(
                    "Ipv4AddressesPerInterface",
                    network.ipv4_addresses_per_interface,
                )?,
                ipv6_addresses_per_interface: number(
                    "Ipv6AddressesPerInterface",
                    Some(network.ipv6_addresses_per_interface.unwrap_or(0)),
                )?,
                ipv6_supported: network.ipv6_supported.unwrap_or(false),
                efa_supported: network.efa_supported.unwrap_or(false),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A p4d.24xlarge as EC2 describes it (fields nodecap ignores included).
    const P4D: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstanceTypesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>
    <instanceTypeSet>
        <item>
            <instanceType>p4d.24xlarge</instanceType>
            <currentGeneration>true</currentGeneration>
            <supportedUsageClasses><item>on-demand</item></supportedUsageClasses>
            <bareMetal>false</bareMetal>
            <hypervisor>nitro</hypervisor>
            <vCpuInfo><defaultVCpus>96</defaultVCpus><defaultCores>48</defaultCores></vCpuInfo>
            <memoryInfo><sizeInMiB>1179648</sizeInMiB></memoryInfo>
            <processorInfo><supportedArchitectures><item>x86_64</item></supportedArchitectures><sustainedClockSpeedInGhz>3.0</sustainedClockSpeedInGhz></processorInfo>
            <networkInfo>
                <networkPerformance>4x 100 Gigabit</networkPerformance>
                <maximumNetworkInterfaces>60</maximumNetworkInterfaces>
                <maximumNetworkCards>4</maximumNetworkCards>
                <defaultNetworkCardIndex>0</defaultNetworkCardIndex>
                <networkCards>
                    <item><networkCardIndex>0</networkCardIndex><maximumNetworkInterfaces>15</maximumNetworkInterfaces></item>
                    <item><networkCardIndex>1</networkCardIndex><maximumNetworkInterfaces>15</maximumNetworkInterfaces></item>
                    <item><networkCardIndex>2</networkCardIndex><maximumNetworkInterfaces>15</maximumNetworkInterfaces></item>
                    <item><networkCardIndex>3</networkCardIndex><maximumNetworkInterfaces>15</maximumNetworkInterfaces></item>
                </networkCards>
                <ipv4AddressesPerInterface>50</ipv4AddressesPerInterface>
                <ipv6AddressesPerInterface>50</ipv6AddressesPerInterface>
                <ipv6Supported>true</ipv6Supported>
                <enaSupport>required</enaSupport>
                <efaSupported>true</efaSupported>
            </networkInfo>
        </item>
    </instanceTypeSet>
</DescribeInstanceTypesResponse>"#;

    #[test]
    fn maps_the_xml_answer() {
        let answer: DescribeInstanceTypesResponse = quick_xml::de::from_str(P4D).unwrap();
        let record = answer
            .instance_type_set
            .into_iter()
            .next()
            .unwrap()
            .into_record()
            .unwrap();
        let facts = crate::core::instance::describe::to_facts(&record)
            .unwrap()
            .unwrap();
        assert_eq!(facts.default_card_enis(), 15);
        assert_eq!(facts.total_enis(), 60);
        assert_eq!(facts.vcpus, 96);
        assert!(facts.efa_supported);
        assert_eq!(
            facts.architecture,
            crate::core::instance::Architecture::X86_64
        );
        assert_eq!(record.hypervisor.as_deref(), Some("nitro"));

        let broken = XmlInstanceType {
            instance_type: Some("x.large".to_owned()),
            hypervisor: None,
            bare_metal: None,
            vcpu_info: None,
            memory_info: None,
            network_info: None,
            processor_info: None,
        };
        assert_eq!(
            broken.into_record().unwrap_err().to_string(),
            "NetworkInfo missing"
        );
    }
}
