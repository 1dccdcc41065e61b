//! The EC2 API as a source of instance limits: `DescribeInstanceTypes` for one type, in the
//! node's region, with the default credential chain (instance profile, IRSA, EKS Pod Identity,
//! environment; `aws-config`). Honours `AWS_ENDPOINT_URL_EC2` and `AWS_ENDPOINT_URL`, which is
//! how tests point it at an emulator. Needs `ec2:DescribeInstanceTypes`.
//!
//! Why not `aws-sdk-ec2`: it generates the whole EC2 API (hundreds of operations) and took 6.5
//! of a cold debug build's 9.5 minutes, and as long again in every other profile, for the one
//! call nodecap makes. This module speaks EC2's Query protocol itself
//! (<https://docs.aws.amazon.com/AWSEC2/latest/APIReference/Query-Requests.html>): a form
//! POST signed with SigV4 by `aws-sigv4` (the SDK's own signer), the XML answer read into
//! plain structs by `quick-xml`'s serde support. The answer is mapped to the same
//! [`DescribedType`] the embedded table is generated from, so one conversion
//! ([`describe::to_facts`](crate::core::instance::describe::to_facts)) serves the table, the
//! cache and the API.

// The signed HTTPS POST: aws-config, aws-sigv4 and rustls. Built without the `aws` feature
// (the fuzz targets' build, which must not compile the AWS crates), a stand-in answers
// every call with `CallError::NotBuilt`.
#[cfg_attr(feature = "aws", path = "transport.rs")]
#[cfg_attr(not(feature = "aws"), path = "transport_unavailable.rs")]
mod transport;

use std::time::Duration;

use hyper::StatusCode;
use serde::Deserialize;
use transport::Transport;

use crate::core::instance::describe::{
    DescribedType, MemoryInfo, NetworkCard, NetworkInfo, VCpuInfo,
};

/// The Query API version EC2 documents its actions under.
const API_VERSION: &str = "2016-11-15";
/// An answer for one instance type is a few KiB; a page of a hundred, a few hundred.
const MAX_ANSWER: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("ec2:DescribeInstanceTypes {instance_type} in {region}")]
    Call {
        instance_type: String,
        region: String,
        source: CallError,
    },
    #[error("ec2:DescribeInstanceTypes {instance_type} in {region}: no such instance type")]
    NotFound {
        instance_type: String,
        region: String,
    },
    #[error("ec2:DescribeInstanceTypes {instance_type}: {what}")]
    Answer {
        instance_type: String,
        what: AnswerError,
    },
}

/// Why one call to the EC2 API failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Transport(#[from] transport::Error),
    #[error("HTTP {status}: {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("HTTP {status}")]
    Status { status: u16 },
    #[error("unreadable answer")]
    Xml(#[source] quick_xml::DeError),
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
}

/// Asks the EC2 API in `region` about `instance_type`, within `timeout`.
pub async fn describe_instance_type(
    instance_type: &str,
    region: &str,
    timeout: Duration,
) -> Result<DescribedType, Error> {
    let call_error = |source: CallError| Error::Call {
        instance_type: instance_type.to_owned(),
        region: region.to_owned(),
        source,
    };
    let params = [("InstanceType.1", instance_type)];
    let call = call::<DescribeInstanceTypesResponse>(region, "DescribeInstanceTypes", &params);
    let answer = tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| call_error(CallError::Timeout(timeout)))?
        .map_err(call_error)?;
    let info = answer
        .instance_type_set
        .item
        .into_iter()
        .find(|info| info.instance_type.as_deref() == Some(instance_type))
        .ok_or_else(|| Error::NotFound {
            instance_type: instance_type.to_owned(),
            region: region.to_owned(),
        })?;
    info.into_record().map_err(|what| Error::Answer {
        instance_type: instance_type.to_owned(),
        what,
    })
}

/// One signed Query API call in `region`: `Action=…&Version=…&params`, the answer read as
/// `T`, an error answer read as EC2's `<Response><Errors>`.
async fn call<T: serde::de::DeserializeOwned>(
    region: &str,
    action: &str,
    params: &[(&str, &str)],
) -> Result<T, CallError> {
    let body = form(
        [("Action", action), ("Version", API_VERSION)]
            .into_iter()
            .chain(params.iter().copied()),
    );
    let transport = Transport::from_environment(region, &regional_endpoint(region)).await?;
    let (status, answer) = transport.post(body, MAX_ANSWER).await?;
    let text = String::from_utf8_lossy(&answer);
    if status != StatusCode::OK {
        return Err(match quick_xml::de::from_str::<ErrorResponse>(&text) {
            Ok(ErrorResponse { errors }) if !errors.error.is_empty() => {
                let first = &errors.error[0];
                CallError::Api {
                    status: status.as_u16(),
                    code: first.code.clone(),
                    message: first.message.clone(),
                }
            }
            _ => CallError::Status {
                status: status.as_u16(),
            },
        });
    }
    quick_xml::de::from_str(&text).map_err(CallError::Xml)
}

/// `https://ec2.REGION.amazonaws.com` (`.com.cn` in the China regions).
fn regional_endpoint(region: &str) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://ec2.{region}.{suffix}")
}

/// `application/x-www-form-urlencoded` parameters.
fn form<'a>(params: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (key, value) in params {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&encode(key));
        out.push('=');
        out.push_str(&encode(value));
    }
    out
}

/// RFC 3986 percent-encoding of everything but the unreserved characters, as SigV4 expects.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

// ---- the XML answers (EC2's element names; only the fields nodecap uses) --------------------

/// `<Response><Errors><Error><Code/><Message/></Error></Errors></Response>`.
#[derive(Debug, Deserialize)]
struct ErrorResponse {
    #[serde(rename = "Errors")]
    errors: ErrorList,
}

#[derive(Debug, Deserialize)]
struct ErrorList {
    #[serde(rename = "Error", default)]
    error: Vec<ErrorDetail>,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    #[serde(rename = "Code", default)]
    code: String,
    #[serde(rename = "Message", default)]
    message: String,
}

/// An EC2 list: `<set><item>…</item>…</set>`.
#[derive(Debug, Deserialize)]
struct Items<T> {
    #[serde(default = "Vec::new")]
    item: Vec<T>,
}

impl<T> Default for Items<T> {
    fn default() -> Self {
        Items { item: Vec::new() }
    }
}

#[derive(Debug, Deserialize)]
struct DescribeInstanceTypesResponse {
    #[serde(rename = "instanceTypeSet", default)]
    instance_type_set: Items<XmlInstanceType>,
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
    network_cards: Items<XmlNetworkCard>,
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
            .item
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
        Ok(DescribedType {
            instance_type: self
                .instance_type
                .ok_or(AnswerError::Missing("InstanceType"))?,
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
            .item
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
        assert_eq!(record.hypervisor.as_deref(), Some("nitro"));

        let broken = XmlInstanceType {
            instance_type: Some("x.large".to_owned()),
            hypervisor: None,
            bare_metal: None,
            vcpu_info: None,
            memory_info: None,
            network_info: None,
        };
        assert_eq!(
            broken.into_record().unwrap_err().to_string(),
            "NetworkInfo missing"
        );
    }

    #[test]
    fn reads_api_errors_and_empty_answers() {
        let error = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>InvalidInstanceType</Code><Message>The following supplied instance types do not exist: [x9z.large]</Message></Error></Errors><RequestID>1</RequestID></Response>"#;
        let parsed: ErrorResponse = quick_xml::de::from_str(error).unwrap();
        assert_eq!(parsed.errors.error[0].code, "InvalidInstanceType");
        let empty = r#"<DescribeInstanceTypesResponse><requestId>1</requestId><instanceTypeSet/></DescribeInstanceTypesResponse>"#;
        let answer: DescribeInstanceTypesResponse = quick_xml::de::from_str(empty).unwrap();
        assert!(answer.instance_type_set.item.is_empty());
    }

    #[test]
    fn form_encoding_and_endpoints() {
        assert_eq!(
            form(
                [
                    ("Action", "DescribeInstanceTypes"),
                    ("InstanceType.1", "m5.large")
                ]
                .into_iter()
            ),
            "Action=DescribeInstanceTypes&InstanceType.1=m5.large"
        );
        assert_eq!(encode("a b/c=d"), "a%20b%2Fc%3Dd");
        assert_eq!(
            regional_endpoint("us-east-1"),
            "https://ec2.us-east-1.amazonaws.com"
        );
        assert_eq!(
            regional_endpoint("cn-north-1"),
            "https://ec2.cn-north-1.amazonaws.com.cn"
        );
    }
}
