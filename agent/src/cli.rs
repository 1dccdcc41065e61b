//! The command line (clap). Only argument shapes live here; what each command does is in
//! `commands/`, so the CLI can be read as the program's table of contents. The value types of
//! the core and the kubelet side get their command-line spelling here too (their
//! [`ValueEnum`] impls, or a `Choices` table for the core crate's types), so those modules
//! know nothing of clap.

use std::path::PathBuf;

use clap::builder::PossibleValue;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::core::density::Column;
use crate::core::instance::{Architecture, Hypervisor};
use crate::core::sizing::{CapPolicy, IpFamily, Profile};
use crate::kubelet::Backend;
use crate::logging::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "nodecap",
    version,
    about = "Pod capacity, kubelet reservations and ENI/IP headroom for Amazon EKS nodes",
    after_help = crate::exit::HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Each command's arguments are built only when it is the one invoked (`defer`): `nodecap
/// max-pods` does not pay for `run`'s hundred flags at every start (README, "Start-up").
/// `--help`, the man pages and the completions build them all.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Size an instance type offline: max pods, reservations and eviction thresholds, with
    /// the formula behind each number.
    Plan(PlanArgs),
    /// Drop-in for the EKS AMI's max-pods-calculator.sh: same flags, one integer.
    MaxPods(MaxPodsArgs),
    /// Show the embedded limits of instance types (all of them when none is named).
    InstanceTypes(InstanceTypesArgs),
    /// Compare instance types by the pods they hold in a VPC CNI mode, each pod's share of
    /// allocatable CPU and memory, and (with prices) the price per pod-hour.
    Density(Box<DensityArgs>),
    /// At boot, before the kubelet: size this node (IMDS, then its limits) and write the
    /// kubelet's settings atomically. Idempotent.
    Init(InitArgs),
    /// The daemon: collect ENI/IP allocation, ENA allowances and memory headroom on a timer
    /// and serve them to Prometheus.
    Run(Box<RunArgs>),
    /// One collection, then computed vs configured vs observed, one line per finding.
    /// Exit 1 on drift.
    Check(SourceArgs),
    /// The cluster's subnets from the EC2 API: free addresses and free aligned /28 blocks per
    /// subnet, served to Prometheus on a timer (one replica per cluster), or printed once.
    Subnets(SubnetsArgs),
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the default configuration file, every key commented with its default.
    Defaults,
}

/// Serializes to a configuration layer: field names are config keys (`imds_*` go to the
/// `[imds]` section, the kubelet paths to `[kubelet]`), unset flags are omitted.
#[derive(Debug, Clone, Args, serde::Serialize)]
pub struct InitArgs {
    /// Where to write the kubelet's settings. [default: auto]
    #[arg(long, value_enum)]
    pub backend: Option<Backend>,
    /// Print the target file and its content; write nothing.
    #[arg(long)]
    #[serde(skip)]
    pub dry_run: bool,
    #[command(flatten)]
    #[serde(flatten)]
    pub node: NodeArgs,
}

/// `nodecap run`: the collection sources plus the endpoint and the timer.
#[derive(Debug, Clone, Args, serde::Serialize)]
pub struct RunArgs {
    /// Address and port of /metrics, /healthz and /readyz. [default: 127.0.0.1:61682]
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// Time between collections, jittered by up to 10%: 60s, 2m, 1s. [default: 60s]
    #[arg(long, value_name = "DURATION")]
    pub interval: Option<String>,
    /// TLS and basic authentication for /metrics: a web-config file (Prometheus
    /// exporter-toolkit format). /healthz and /readyz stay open.
    #[arg(long, value_name = "PATH")]
    pub web_config_file: Option<PathBuf>,
    #[command(flatten)]
    #[serde(flatten)]
    pub cloudwatch: CloudwatchArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub sources: SourceArgs,
}

/// CloudWatch publishing (the `[cloudwatch]` section).
#[derive(Debug, Clone, Args, serde::Serialize)]
pub struct CloudwatchArgs {
    /// Publish to CloudWatch with PutMetricData. [default: false]
    #[arg(long = "cloudwatch", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_name = "BOOL")]
    #[serde(rename = "enabled")]
    pub enabled: Option<bool>,
    /// The ClusterName (CLUSTER_ID) dimension; required with --cloudwatch (or
    /// --cluster-name-from).
    #[arg(long, value_name = "NAME")]
    pub cluster_name: Option<String>,
    /// Read the cluster name on the node instead: tag:KEY (an instance tag in IMDS) or
    /// label:KEY (a kubelet --node-labels label).
    #[arg(
        long,
        value_name = "tag:KEY|label:KEY",
        conflicts_with = "cluster_name"
    )]
    pub cluster_name_from: Option<String>,
    /// Namespace of the native metrics. [default: nodecap]
    #[arg(long = "cloudwatch-namespace", value_name = "NAMESPACE")]
    #[serde(rename = "namespace")]
    pub namespace: Option<String>,
    /// Time between publications. [default: 60s]
    #[arg(long = "cloudwatch-interval", value_name = "DURATION")]
    #[serde(rename = "publish_interval")]
    pub publish_interval: Option<String>,
    /// Add the {ClusterName, NodeName} dimension set. [default: false]
    #[arg(long = "cloudwatch-per-node", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_name = "BOOL")]
    #[serde(rename = "per_node")]
    pub per_node: Option<bool>,
    /// The NodeName dimension's value. [default: the instance id]
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,
    /// Publish the cni-metrics-helper's names (namespace Kubernetes, dimension CLUSTER_ID).
    /// [default: false]
    #[arg(long = "cloudwatch-compat", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_name = "BOOL")]
    #[serde(rename = "cni_metrics_helper_compat")]
    pub compat: Option<bool>,
    /// Datums kept while CloudWatch is unreachable. [default: 10000]
    #[arg(long = "cloudwatch-queue", value_name = "N")]
    #[serde(rename = "queue_datums")]
    pub queue_datums: Option<u32>,
    /// Region to publish to. [default: $AWS_REGION, else the node's]
    #[arg(long = "cloudwatch-region", value_name = "REGION")]
    #[serde(rename = "region")]
    pub region: Option<String>,
}

/// Where the collectors read: ipamd and the host roots. Shared by `run` and `check`.
#[derive(Debug, Clone, Args, serde::Serialize)]
pub struct SourceArgs {
    /// ipamd's Prometheus endpoint. [default: http://127.0.0.1:61678/metrics]
    #[arg(long, value_name = "URL")]
    pub ipamd_metrics_url: Option<String>,
    /// ipamd's introspection endpoint. [default: http://127.0.0.1:61679/v1/enis]
    #[arg(long, value_name = "URL")]
    pub ipamd_introspection_url: Option<String>,
    /// aws-node's MINIMUM_IP_TARGET, which ipamd does not expose (for the warm pool's
    /// shortfall). [default: unknown]
    #[arg(long, value_name = "N")]
    pub minimum_ip_target: Option<u32>,
    /// aws-node's WARM_PREFIX_TARGET, which ipamd does not expose. [default: unknown]
    #[arg(long, value_name = "N")]
    pub warm_prefix_target: Option<u32>,
    /// The host's procfs. [default: /proc]
    #[arg(long, value_name = "DIR")]
    pub proc_root: Option<PathBuf>,
    /// The host's sysfs. [default: /sys]
    #[arg(long, value_name = "DIR")]
    pub sys_root: Option<PathBuf>,
    #[command(flatten)]
    #[serde(flatten)]
    pub node: NodeArgs,
}

/// How to learn what the node is and where the kubelet's files are: shared by `init`, `run`
/// and `check`. Serializes to a configuration layer with config key names.
#[derive(Debug, Clone, Args, serde::Serialize)]
pub struct NodeArgs {
    /// Configuration file. A missing default file means defaults; a missing named file is
    /// an error.
    #[arg(long, value_name = "PATH")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Where EC2 API answers are cached. [default: /var/lib/nodecap]
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// IMDS endpoint. [default: $AWS_EC2_METADATA_SERVICE_ENDPOINT or http://169.254.169.254]
    #[arg(long, value_name = "URL")]
    #[serde(rename = "endpoint")]
    pub imds_endpoint: Option<String>,
    /// Seconds IMDS and the EC2 API have, in all, to answer. [default: 60]
    #[arg(long, value_name = "SECONDS")]
    #[serde(rename = "deadline_seconds")]
    pub imds_deadline: Option<u64>,
    /// nodeadm's NodeConfig drop-in directory. [default: /etc/eks/nodeadm.d]
    #[arg(long, value_name = "DIR")]
    pub nodeadm_config_dir: Option<PathBuf>,
    /// The kubelet's --config-dir. [default: /etc/kubernetes/kubelet/config.json.d]
    #[arg(long, value_name = "DIR")]
    pub kubelet_config_dir: Option<PathBuf>,
    /// The kubelet's config file. [default: /etc/kubernetes/kubelet/config.json]
    #[arg(long, value_name = "FILE")]
    pub kubelet_config: Option<PathBuf>,
    /// The environment file with KUBELET_EXTRA_ARGS. [default: /etc/default/kubelet]
    #[arg(long, value_name = "FILE")]
    pub kubelet_env_file: Option<PathBuf>,
    /// Name of nodecap's drop-in files, without extension. [default: 40-nodecap]
    #[arg(long, value_name = "NAME")]
    pub dropin_name: Option<String>,
    /// maxPods to use when the instance cannot be sized (logged as a warning). Unset: fail.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub fallback_max_pods: Option<u32>,
    /// Ask the EC2 API before the embedded table; the cache and the table stay as fallbacks.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_name = "BOOL")]
    pub prefer_api: Option<bool>,
    /// Log format. [default: text]
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    #[command(flatten)]
    #[serde(flatten)]
    pub mode: ModeArgs,
}

/// VPC CNI mode and sizing overrides, shared by every command that sizes a node. Unset flags
/// leave the configuration (or the default) alone.
/// Serializes to a configuration layer: field names are config keys, unset flags are
/// omitted (see `commands::flags_layer`).
#[derive(Debug, Clone, Default, Args, serde::Serialize)]
pub struct ModeArgs {
    /// The VPC CNI allocates /28 prefixes (ENABLE_PREFIX_DELEGATION). [default: false]
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_name = "BOOL")]
    pub prefix_delegation: Option<bool>,
    /// The VPC CNI uses ENIConfigs: the primary ENI carries no pod IPs. [default: false]
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_name = "BOOL")]
    pub custom_networking: Option<bool>,
    /// Use at most N ENIs for pods (the VPC CNI's MAX_ENI).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_enis: Option<u32>,
    /// ENIs not available to pods, e.g. 1 for the security-groups-for-pods trunk ENI.
    /// [default: 0]
    #[arg(long, value_name = "N")]
    pub reserved_enis: Option<u32>,
    /// The cluster's IP family. [default: ipv4]
    #[arg(long, value_parser = choice(IP_FAMILIES))]
    pub ip_family: Option<IpFamily>,
    /// Ceiling on pods: eks (110, or 250 above 30 vCPUs), none, memory (as many as leave each
    /// pod --min-memory-per-pod-mib of allocatable memory), or a number.
    /// [default: eks, except none for the eks profile]
    #[arg(long, value_name = "eks|none|memory|N")]
    pub max_pods_cap: Option<CapPolicy>,
    /// With --max-pods-cap memory: allocatable memory each pod keeps, in MiB. [default: 256]
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..))]
    pub min_memory_per_pod_mib: Option<u64>,
    /// At most N pods per vCPU.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub pods_per_core: Option<u32>,
    /// Set maxPods explicitly instead of computing it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_pods: Option<u32>,
    /// A CEL expression for maxPods (nodeadm's maxPodsExpression) over default_enis,
    /// ips_per_eni, max_pods, vcpus, memory_mib, instance_type; applied before the cap.
    #[arg(long, value_name = "CEL")]
    pub max_pods_expression: Option<String>,
    /// A CEL expression giving kubeReserved's cpu and/or memory, Karpenter's shape:
    /// '{"memory": string(11 * max_pods + 255) + "Mi"}'.
    #[arg(long, value_name = "CEL")]
    pub kube_reserved_expression: Option<String>,
    /// The same for systemReserved.
    #[arg(long, value_name = "CEL")]
    pub system_reserved_expression: Option<String>,
    /// nodecap (corrected EKS numbers), eks (nodeadm exactly), gke or aks (those clouds'
    /// reservations). [default: nodecap]
    #[arg(long, value_parser = choice(PROFILES))]
    pub profile: Option<Profile>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanOutput {
    /// A short explanation: each number with its formula.
    Text,
    /// The whole result, formulas included.
    Json,
    /// A KubeletConfiguration JSON (a --config-dir drop-in).
    KubeletConfig,
    /// Kubelet command-line flags on one line.
    KubeletFlags,
    /// A nodeadm NodeConfig (AL2023) with spec.kubelet.config.
    Nodeconfig,
    /// Bottlerocket settings.kubernetes TOML.
    Bottlerocket,
    /// A Karpenter EC2NodeClass spec.kubelet block.
    Karpenter,
}

#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// The EC2 instance type, e.g. m5.large.
    #[arg(long, value_name = "TYPE", required_unless_present = "enis")]
    pub instance_type: Option<String>,
    #[command(flatten)]
    pub mode: ModeArgs,
    #[arg(long, short, value_enum, default_value_t = PlanOutput::Text)]
    pub output: PlanOutput,
    #[command(flatten)]
    pub facts: FactsArgs,
}

/// Instance limits given by hand, for a type this build does not know.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Instance limits by hand (for types the table lacks)")]
pub struct FactsArgs {
    /// ENIs on the default network card.
    #[arg(long, value_name = "N", requires_all = ["ips_per_eni", "vcpus"],
          value_parser = clap::value_parser!(u16).range(1..))]
    pub enis: Option<u16>,
    /// IPv4 addresses per ENI (the primary included).
    #[arg(long, value_name = "N", requires = "enis",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub ips_per_eni: Option<u16>,
    /// Default vCPUs.
    #[arg(long, value_name = "N", requires = "enis",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub vcpus: Option<u32>,
    /// Memory in MiB (shown only).
    #[arg(long, value_name = "MIB", requires = "enis", default_value_t = 0)]
    pub memory_mib: u64,
    /// The hypervisor: prefix delegation needs nitro (or --bare-metal).
    #[arg(long, value_enum, requires = "enis", default_value_t = HypervisorArg::Nitro)]
    pub hypervisor: HypervisorArg,
    #[arg(long, requires = "enis")]
    pub bare_metal: bool,
}

/// The hypervisor given by hand (`--hypervisor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HypervisorArg {
    Nitro,
    Xen,
    None,
}

impl From<HypervisorArg> for Hypervisor {
    fn from(arg: HypervisorArg) -> Self {
        match arg {
            HypervisorArg::Nitro => Hypervisor::Nitro,
            HypervisorArg::Xen => Hypervisor::Xen,
            HypervisorArg::None => Hypervisor::None,
        }
    }
}

/// The flags of amazon-eks-ami's max-pods-calculator.sh, with the same meaning.
#[derive(Debug, Clone, Args)]
pub struct MaxPodsArgs {
    /// The EC2 instance type.
    #[arg(
        long,
        value_name = "TYPE",
        required_unless_present = "instance_type_from_imds",
        conflicts_with = "instance_type_from_imds"
    )]
    pub instance_type: Option<String>,
    /// Read the instance type from IMDS (IMDSv2; AWS_EC2_METADATA_SERVICE_ENDPOINT is honoured).
    #[arg(long)]
    pub instance_type_from_imds: bool,
    /// The VPC CNI version (1.11.4, v1.11.2 and 1.11.4-eksbuild.1 all work); prefix
    /// delegation needs 1.9.0 or later.
    #[arg(long, value_name = "VERSION", required = true)]
    pub cni_version: String,
    #[arg(long)]
    pub cni_custom_networking_enabled: bool,
    #[arg(long)]
    pub cni_prefix_delegation_enabled: bool,
    /// Use at most N ENIs for pods.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub cni_max_eni: Option<u32>,
    /// Print the number without the 110/250 ceiling.
    #[arg(long)]
    pub show_max_allowed: bool,
}

/// `nodecap subnets`. Serializes to a configuration layer: the `[subnets]` keys nested in
/// their section (their names repeat other sections'), the CloudWatch ones flat.
#[derive(Debug, Clone, Args, serde::Serialize)]
pub struct SubnetsArgs {
    /// One cycle: print the subnets and exit (0, or 69 when the EC2 API cannot be read).
    #[arg(long)]
    #[serde(skip)]
    pub once: bool,
    /// What --once prints.
    #[arg(long, short, value_enum, default_value_t = ListOutput::Text, requires = "once")]
    #[serde(skip)]
    pub output: ListOutput,
    /// Configuration file. A missing default file means defaults; a missing named file is
    /// an error.
    #[arg(long, value_name = "PATH")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub subnets: SubnetsKeys,
    /// Publish each cycle's figures to CloudWatch. [default: false]
    #[arg(long = "cloudwatch", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_name = "BOOL")]
    #[serde(rename = "enabled")]
    pub cloudwatch: Option<bool>,
    /// Namespace of the CloudWatch metrics. [default: nodecap]
    #[arg(long = "cloudwatch-namespace", value_name = "NAMESPACE")]
    #[serde(rename = "namespace")]
    pub namespace: Option<String>,
    /// Log format. [default: text]
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
}

/// The `[subnets]` section's flags.
#[derive(Debug, Clone, Args, serde::Serialize)]
pub struct SubnetsKeys {
    /// The EKS cluster: its subnets are those tagged kubernetes.io/cluster/NAME, and those
    /// tagged kubernetes.io/role/cni in its VPC; also the CloudWatch ClusterName.
    #[arg(long, value_name = "NAME")]
    pub cluster_name: Option<String>,
    /// The VPC: with --cluster-name, where CNI-tagged subnets are looked for; alone, all of
    /// its subnets.
    #[arg(long, value_name = "VPC")]
    pub vpc_id: Option<String>,
    /// Exactly these subnets, comma-separated (overrides the tags).
    #[arg(long, value_name = "SUBNET,...")]
    pub subnet_ids: Option<String>,
    /// The region. [default: $AWS_REGION, else $AWS_DEFAULT_REGION]
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Address and port of /metrics, /healthz and /readyz. [default: 127.0.0.1:61683]
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// Time between cycles, jittered by up to 10%. [default: 5m]
    #[arg(long, value_name = "DURATION")]
    pub interval: Option<String>,
    /// Time every page of one cycle's listings may take together. [default: the interval,
    /// at least 60s; 5m with --once]
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// TLS and basic authentication for /metrics: a web-config file.
    #[arg(long, value_name = "PATH")]
    pub web_config_file: Option<PathBuf>,
}

/// `nodecap density`.
#[derive(Debug, Clone, Args)]
pub struct DensityArgs {
    /// Instance types to compare; all of the embedded table's when none is given.
    #[arg(value_name = "TYPE")]
    pub instance_types: Vec<String>,
    #[command(flatten)]
    pub mode: ModeArgs,
    /// Only these families (m5, c7g, …), comma-separated or repeated.
    #[arg(long, value_name = "FAMILY", value_delimiter = ',')]
    pub family: Vec<String>,
    /// Only this architecture.
    #[arg(long, value_parser = choice(ARCHITECTURES))]
    pub arch: Option<Architecture>,
    #[arg(long, value_name = "N")]
    pub min_vcpus: Option<u32>,
    #[arg(long, value_name = "N")]
    pub max_vcpus: Option<u32>,
    /// Only types whose pods each get at least this much allocatable memory.
    #[arg(long, value_name = "MIB")]
    pub min_memory_per_pod: Option<u64>,
    /// Prices: a CSV of instance_type,usd_per_hour, or AWS's EC2 offer file for one region
    /// (index.json). Types without one keep an empty price.
    #[arg(long, value_name = "FILE", conflicts_with = "pricing_api")]
    pub prices: Option<PathBuf>,
    /// Prices from AWS's Price List API (pricing:GetProducts, the default credential chain):
    /// on-demand Linux, shared tenancy, in --region.
    #[arg(long)]
    pub pricing_api: bool,
    /// The region whose prices --pricing-api asks for. [default: $AWS_REGION, else
    /// $AWS_DEFAULT_REGION]
    #[arg(long, value_name = "REGION", requires = "pricing_api")]
    pub region: Option<String>,
    /// The column to sort by (ascending; types without a price last).
    #[arg(long, value_parser = choice(COLUMNS), default_value = "instance-type")]
    pub sort: Column,
    /// Sort descending.
    #[arg(long)]
    pub descending: bool,
    /// Only the first N rows after sorting.
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
    #[arg(long, short, value_enum, default_value_t = DensityOutput::Table)]
    pub output: DensityOutput,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DensityOutput {
    Table,
    Csv,
    Json,
    Markdown,
    /// A chart of price per pod-hour against max pods, one labelled point per priced type.
    Svg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListOutput {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct InstanceTypesArgs {
    /// Instance types to show; all when none is given.
    #[arg(value_name = "TYPE")]
    pub instance_types: Vec<String>,
    #[arg(long, short, value_enum, default_value_t = ListOutput::Text)]
    pub output: ListOutput,
}

/// The command-line spelling of a core value, with its help where it has one. The core is
/// another crate, so clap's `ValueEnum` cannot be implemented for its types here; [`choice`]
/// gives the same possible values, help and completions from one table.
type Choices<T> = &'static [(T, &'static str, Option<&'static str>)];

/// A parser that accepts exactly the names of `choices`.
fn choice<T: Copy + Send + Sync + 'static>(
    choices: Choices<T>,
) -> impl clap::builder::TypedValueParser<Value = T> {
    use clap::builder::TypedValueParser;
    let values = choices.iter().map(|(_, name, help)| {
        let value = PossibleValue::new(*name);
        match help {
            Some(help) => value.help(*help),
            None => value,
        }
    });
    clap::builder::PossibleValuesParser::new(values).try_map(move |name: String| {
        choices
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(value, _, _)| *value)
            .ok_or("not one of the possible values")
    })
}

/// An architecture to filter by: "unknown" is not one.
const ARCHITECTURES: Choices<Architecture> = &[
    (Architecture::X86_64, "x86_64", None),
    (Architecture::Arm64, "arm64", None),
];

const COLUMNS: Choices<Column> = &[
    (Column::InstanceType, "instance-type", None),
    (Column::Vcpus, "vcpus", None),
    (Column::Memory, "memory", None),
    (Column::Arch, "arch", None),
    (Column::Pods, "pods", None),
    (Column::AllocatableCpu, "allocatable-cpu", None),
    (Column::AllocatableMemory, "allocatable-memory", None),
    (Column::CpuPerPod, "cpu-per-pod", None),
    (Column::MemoryPerPod, "memory-per-pod", None),
    (Column::Price, "price", None),
    (Column::PricePerPod, "price-per-pod", None),
];

const PROFILES: Choices<Profile> = &[
    (
        Profile::Nodecap,
        "nodecap",
        Some(
            "The EKS numbers, corrected: capped pods, memory for the pods really run, \
             `systemReserved`, and the complete `evictionHard`",
        ),
    ),
    (
        Profile::Eks,
        "eks",
        Some(
            "nodeadm (AL2023) exactly: no cap, memory from the uncapped ENI number, no \
             `systemReserved`, three `evictionHard` keys",
        ),
    ),
    (
        Profile::Gke,
        "gke",
        Some(
            "GKE's reservations: memory in tiers of the machine's memory, the CPU ladder, \
             memory.available 100Mi",
        ),
    ),
    (
        Profile::Aks,
        "aks",
        Some(
            "AKS's reservations (Kubernetes 1.29+): memory min(20 × maxPods + 50, 25%) \
             MiB, CPU by core count, memory.available 100Mi",
        ),
    ),
];

const IP_FAMILIES: Choices<IpFamily> = &[
    (IpFamily::Ipv4, "ipv4", None),
    (IpFamily::Ipv6, "ipv6", None),
];

impl ValueEnum for Backend {
    fn value_variants<'a>() -> &'a [Self] {
        &Backend::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(match self {
            Backend::Auto => "auto",
            Backend::Nodeadm => "nodeadm",
            Backend::KubeletDropin => "kubelet-dropin",
            Backend::KubeletConfig => "kubelet-config",
            Backend::Flags => "flags",
        }))
    }
}

impl ValueEnum for LogFormat {
    fn value_variants<'a>() -> &'a [Self] {
        &[LogFormat::Text, LogFormat::Json]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
