//! The offline sizing commands: `plan`, `max-pods` and `instance-types`. Look the instance
//! up, size it, render the chosen output.

use std::borrow::Cow;
use std::time::Duration;

use serde::Serialize;

use super::{Error, Output, flags_layer, runtime};
use crate::aws::imds::{self, Endpoint, ImdsClient};
use crate::cli::{FactsArgs, InstanceTypesArgs, ListOutput, MaxPodsArgs, PlanArgs, PlanOutput};
use crate::config;
use crate::core::calculator::CalculatorFlags;
use crate::core::excerpt::Excerpt;
use crate::core::explain::{self, Formulas};
use crate::core::instance::{self, InstanceFacts, Source};
use crate::core::names::InstanceType;
use crate::core::sizing::{self, Sizing};
use crate::kubelet::render;
use crate::kubelet::settings::KubeletSettings;

fn lookup(instance_type: &str) -> Result<&'static InstanceFacts, Error> {
    instance::lookup_embedded(instance_type)
        .ok_or_else(|| Error::UnknownInstanceType(instance_type.into(), instance::embedded().len()))
}

impl FactsArgs {
    /// Facts from the command line, when `--enis` (and so `--ips-per-eni`, `--vcpus`) is given:
    /// named `--instance-type` (which must then be an instance type's name), or
    /// [`InstanceType::CUSTOM`] without one.
    fn to_facts(&self, instance_type: Option<&str>) -> Result<Option<InstanceFacts>, Error> {
        let (Some(enis), Some(ips), Some(vcpus)) = (self.enis, self.ips_per_eni, self.vcpus) else {
            return Ok(None);
        };
        let instance_type = match instance_type {
            Some(name) => InstanceType::try_from(name).map_err(Error::InstanceTypeFlag)?,
            None => InstanceType::CUSTOM,
        };
        Ok(Some(InstanceFacts {
            instance_type,
            default_network_card: 0,
            enis_per_card: Cow::Owned(vec![enis]),
            ipv4_per_eni: ips,
            ipv6_per_eni: ips,
            ipv6_supported: true,
            vcpus,
            memory_mib: self.memory_mib,
            hypervisor: self.hypervisor.into(),
            bare_metal: self.bare_metal,
            efa_supported: false,
            architecture: instance::Architecture::Unknown,
        }))
    }
}

/// `nodecap plan`.
pub fn plan(args: &PlanArgs) -> Result<Output, Error> {
    let by_hand = args.facts.to_facts(args.instance_type.as_deref())?;
    let (facts, source) = match &by_hand {
        Some(facts) => (facts, Source::Flags),
        None => {
            let name = args.instance_type.as_deref().unwrap_or_default();
            (lookup(name)?, Source::Embedded)
        }
    };
    let options = config::resolve(vec![("flags", flags_layer(&args.mode)?)])?.sizing;
    let sizing = sizing::size(facts, source, &options);
    sizing.check_expressions()?;
    let settings = KubeletSettings::from_sizing(&sizing);
    let header = format!(
        "nodecap plan: {} ({} data), profile {}, {} pods",
        facts.instance_type, source, sizing.profile, sizing.max_pods
    );
    let text = match args.output {
        PlanOutput::Text => explain::explain(&sizing),
        PlanOutput::Json => json(&sizing, settings)?,
        PlanOutput::KubeletConfig => render::kubelet_config(&settings)?,
        PlanOutput::KubeletFlags => render::kubelet_flags(&settings),
        PlanOutput::Nodeconfig => render::nodeconfig(&settings, &header)?,
        PlanOutput::Bottlerocket => render::bottlerocket(&settings, &header)?,
        PlanOutput::Karpenter => render::karpenter(&settings, &header)?,
    };
    Ok(text.into())
}

/// `plan --output json`: the whole result, the formulas and the kubelet settings.
fn json(sizing: &Sizing<'_>, kubelet: KubeletSettings) -> Result<String, render::Error> {
    #[derive(Serialize)]
    struct Document<'a, 'b> {
        #[serde(flatten)]
        sizing: &'b Sizing<'a>,
        formulas: Formulas,
        kubelet: KubeletSettings,
    }
    render::to_json(
        "plan",
        &Document {
            sizing,
            formulas: explain::formulas(sizing),
            kubelet,
        },
    )
}

/// `nodecap max-pods`: the EKS AMI calculator's contract (see
/// [`calculator`](crate::core::calculator)).
pub fn max_pods(args: &MaxPodsArgs) -> Result<Output, Error> {
    let flags = CalculatorFlags {
        cni_version: args.cni_version.parse()?,
        custom_networking: args.cni_custom_networking_enabled,
        prefix_delegation: args.cni_prefix_delegation_enabled,
        max_enis: args.cni_max_eni,
        show_max_allowed: args.show_max_allowed,
    };
    let from_imds;
    let instance_type = match &args.instance_type {
        Some(name) => name.as_str(),
        None => {
            from_imds = instance_type_from_imds()?;
            from_imds.as_str()
        }
    };
    let facts = lookup(instance_type)?;
    let sizing = sizing::size(facts, Source::Embedded, &flags.options());
    Ok(format!("{}\n", sizing.max_pods).into())
}

/// The calculator's `--instance-type-from-imds`: IMDSv2 `meta-data/instance-type`, at
/// `AWS_EC2_METADATA_SERVICE_ENDPOINT` or the default address, within 30 seconds.
fn instance_type_from_imds() -> Result<InstanceType, Error> {
    let endpoint: Endpoint = std::env::var("AWS_EC2_METADATA_SERVICE_ENDPOINT")
        .unwrap_or_else(|_| imds::DEFAULT_ENDPOINT.to_owned())
        .parse()?;
    let client = ImdsClient::new(&endpoint, Duration::from_secs(30));
    let path = "meta-data/instance-type";
    let name = runtime()?.block_on(client.require(path, "an instance type"))?;
    let name = name.trim();
    InstanceType::try_from(name).map_err(|_| Error::NotAnInstanceType {
        url: format!("{endpoint}/latest/{path}"),
        got: Excerpt::of(name),
    })
}

/// `nodecap instance-types`.
pub fn instance_types(args: &InstanceTypesArgs) -> Result<Output, Error> {
    let selected: Vec<&InstanceFacts> = if args.instance_types.is_empty() {
        instance::embedded().iter().collect()
    } else {
        args.instance_types
            .iter()
            .map(|name| lookup(name))
            .collect::<Result<_, _>>()?
    };
    Ok(match args.output {
        ListOutput::Json => render::to_json("instance-types", &selected)?,
        ListOutput::Text => explain::instance_table(&selected),
    }
    .into())
}
