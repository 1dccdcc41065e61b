//! The EC2 API as a source of instance limits: `DescribeInstanceTypes` for one type, through
//! aws-sdk-ec2 with the default credential chain (instance profile, IRSA, EKS Pod Identity,
//! environment) in the node's region. Honours `AWS_ENDPOINT_URL` (the SDK does), which is how
//! tests point it at an emulator. Needs `ec2:DescribeInstanceTypes`.
//!
//! The answer is mapped to the same [`DescribedType`] the embedded table is generated from,
//! so one conversion ([`describe::to_facts`](crate::instance::describe::to_facts)) serves the
//! table, the cache and the API.

use std::time::Duration;

use aws_sdk_ec2::types::{InstanceType, InstanceTypeInfo};

use crate::instance::describe::{DescribedType, MemoryInfo, NetworkCard, NetworkInfo, VCpuInfo};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("ec2:DescribeInstanceTypes {instance_type} in {region}: {reason}")]
    Call {
        instance_type: String,
        region: String,
        reason: String,
    },
    #[error("ec2:DescribeInstanceTypes {instance_type} in {region}: no such instance type")]
    NotFound {
        instance_type: String,
        region: String,
    },
    #[error("ec2:DescribeInstanceTypes {instance_type}: {what}")]
    Answer { instance_type: String, what: String },
}

/// Asks the EC2 API in `region` about `instance_type`, within `timeout`.
pub async fn describe_instance_type(
    instance_type: &str,
    region: &str,
    timeout: Duration,
) -> Result<DescribedType, Error> {
    let call_error = |reason: String| Error::Call {
        instance_type: instance_type.to_owned(),
        region: region.to_owned(),
        reason,
    };
    let call = async {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            .load()
            .await;
        aws_sdk_ec2::Client::new(&config)
            .describe_instance_types()
            .instance_types(InstanceType::from(instance_type))
            .send()
            .await
            .map_err(|e| {
                // The SDK's Display is just "service error"; the source chain has the code.
                let mut reason = e.to_string();
                let mut cause: &dyn std::error::Error = &e;
                while let Some(source) = cause.source() {
                    reason = format!("{reason}: {source}");
                    cause = source;
                }
                reason
            })
    };
    let output = tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| call_error(format!("no answer within {timeout:?}")))?
        .map_err(call_error)?;
    let info = output
        .instance_types()
        .iter()
        .find(|info| info.instance_type().map(InstanceType::as_str) == Some(instance_type))
        .ok_or_else(|| Error::NotFound {
            instance_type: instance_type.to_owned(),
            region: region.to_owned(),
        })?;
    from_sdk(info).map_err(|what| Error::Answer {
        instance_type: instance_type.to_owned(),
        what,
    })
}

/// Maps the SDK's `InstanceTypeInfo` to the API-shaped record nodecap keeps.
pub fn from_sdk(info: &InstanceTypeInfo) -> Result<DescribedType, String> {
    fn num<T: TryFrom<i64>>(name: &str, value: Option<i64>) -> Result<T, String> {
        let value = value.ok_or_else(|| format!("{name} missing"))?;
        T::try_from(value).map_err(|_| format!("{name}: {value} out of range"))
    }
    let network = info.network_info().ok_or("NetworkInfo missing")?;
    let cards = network
        .network_cards()
        .iter()
        .map(|card| {
            Ok(NetworkCard {
                network_card_index: num(
                    "NetworkCardIndex",
                    card.network_card_index().map(i64::from),
                )?,
                maximum_network_interfaces: num(
                    "NetworkCards.MaximumNetworkInterfaces",
                    card.maximum_network_interfaces().map(i64::from),
                )?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(DescribedType {
        instance_type: info
            .instance_type()
            .map(|t| t.as_str().to_owned())
            .ok_or("InstanceType missing")?,
        hypervisor: info.hypervisor().map(|h| h.as_str().to_owned()),
        bare_metal: info.bare_metal().unwrap_or(false),
        vcpu_info: VCpuInfo {
            default_vcpus: num(
                "VCpuInfo.DefaultVCpus",
                info.v_cpu_info()
                    .and_then(|v| v.default_v_cpus())
                    .map(i64::from),
            )?,
        },
        memory_info: MemoryInfo {
            size_in_mib: num(
                "MemoryInfo.SizeInMiB",
                info.memory_info().and_then(|m| m.size_in_mib()),
            )?,
        },
        network_info: NetworkInfo {
            default_network_card_index: num(
                "DefaultNetworkCardIndex",
                Some(i64::from(network.default_network_card_index().unwrap_or(0))),
            )?,
            maximum_network_interfaces: num(
                "MaximumNetworkInterfaces",
                network.maximum_network_interfaces().map(i64::from),
            )?,
            network_cards: cards,
            ipv4_addresses_per_interface: num(
                "Ipv4AddressesPerInterface",
                network.ipv4_addresses_per_interface().map(i64::from),
            )?,
            ipv6_addresses_per_interface: num(
                "Ipv6AddressesPerInterface",
                Some(i64::from(
                    network.ipv6_addresses_per_interface().unwrap_or(0),
                )),
            )?,
            ipv6_supported: network.ipv6_supported().unwrap_or(false),
            efa_supported: network.efa_supported().unwrap_or(false),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{
        InstanceTypeHypervisor, MemoryInfo as SdkMemory, NetworkCardInfo,
        NetworkInfo as SdkNetwork, VCpuInfo as SdkVCpu,
    };

    #[test]
    fn maps_the_sdk_answer() {
        let info = InstanceTypeInfo::builder()
            .instance_type(InstanceType::from("p4d.24xlarge"))
            .hypervisor(InstanceTypeHypervisor::Nitro)
            .bare_metal(false)
            .v_cpu_info(SdkVCpu::builder().default_v_cpus(96).build())
            .memory_info(SdkMemory::builder().size_in_mib(1_179_648).build())
            .network_info(
                SdkNetwork::builder()
                    .maximum_network_interfaces(60)
                    .default_network_card_index(0)
                    .set_network_cards(Some(
                        (0..4)
                            .map(|i| {
                                NetworkCardInfo::builder()
                                    .network_card_index(i)
                                    .maximum_network_interfaces(15)
                                    .build()
                            })
                            .collect(),
                    ))
                    .ipv4_addresses_per_interface(50)
                    .ipv6_addresses_per_interface(50)
                    .ipv6_supported(true)
                    .efa_supported(true)
                    .build(),
            )
            .build();
        let record = from_sdk(&info).unwrap();
        let facts = crate::instance::describe::to_facts(&record)
            .unwrap()
            .unwrap();
        assert_eq!(facts.default_card_enis(), 15);
        assert_eq!(facts.total_enis(), 60);
        assert_eq!(facts.vcpus, 96);
        assert_eq!(record.hypervisor.as_deref(), Some("nitro"));

        let broken = InstanceTypeInfo::builder()
            .instance_type(InstanceType::from("x.large"))
            .build();
        assert_eq!(from_sdk(&broken).unwrap_err(), "NetworkInfo missing");
    }
}
