//! `nodecap subnets`: the cluster's subnets, how many addresses and how many aligned /28
//! blocks each has left, read from the EC2 API on a jittered timer (one replica per cluster, a
//! Deployment) or once (`--once`).
//!
//! Data flow, one way, once per cycle: [`select`] (`DescribeSubnets`: the cluster's tagged
//! subnets, explicit ids, or a VPC's) → [`view::Tally`] per subnet, fed page by page by
//! `DescribeNetworkInterfaces` and finished with the subnet's `GetSubnetCidrReservations` →
//! [`view::View`] (the figures of [`crate::core::subnet`]) → the exporters: the Prometheus
//! text, rendered once per cycle and served by the shared endpoint (`telemetry`, its own
//! listen address), and CloudWatch datums through the shared publisher.
//!
//! A failed cycle (the API unreachable, throttled past its retries, an answer that does not
//! parse) keeps serving the last good view with `nodecap_subnets_stale 1`; `/healthz` fails
//! only when no cycle ends at all.

pub mod view;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::aws::ec2::subnets::{self as api, Selector, Subnets};
use crate::aws::ec2::{CallError, Client, Deadline, Retry};
use crate::core::names::{ClusterName, DimensionValue, Region, SubnetId, VpcId};
use crate::telemetry::family::Export;
use crate::telemetry::{self, Pipeline, cloudwatch};
use view::{ReaderStatus, Tally, View};

/// The tag that marks a cluster's subnets (value `owned` or `shared`), as the AWS Load
/// Balancer Controller and Karpenter's examples use it.
const CLUSTER_TAG_PREFIX: &str = "kubernetes.io/cluster/";
/// The tag the VPC CNI's subnet discovery (`ENABLE_SUBNET_DISCOVERY`) looks for.
const CNI_ROLE_TAG: &str = "kubernetes.io/role/cni";

/// Which subnets to watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Those tagged `kubernetes.io/cluster/<name>` (`owned` or `shared`), and those tagged
    /// `kubernetes.io/role/cni` in the same VPC (`vpc_id`, else the tagged subnets' VPCs).
    Cluster {
        name: ClusterName,
        vpc_id: Option<VpcId>,
    },
    /// Exactly these.
    Ids(Vec<SubnetId>),
    /// Every subnet of this VPC.
    Vpc(VpcId),
}

impl std::fmt::Display for Selection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Selection::Cluster { name, vpc_id } => {
                write!(f, "tagged {CLUSTER_TAG_PREFIX}{name} or {CNI_ROLE_TAG}")?;
                match vpc_id {
                    Some(vpc) => write!(f, " in {vpc}"),
                    None => Ok(()),
                }
            }
            Selection::Ids(ids) => {
                let ids: Vec<&str> = ids.iter().map(SubnetId::as_str).collect();
                write!(f, "{}", ids.join(","))
            }
            Selection::Vpc(vpc) => write!(f, "in {vpc}"),
        }
    }
}

/// What `nodecap subnets` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub region: Region,
    pub selection: Selection,
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    pub listen: SocketAddr,
    /// Time between cycles (jittered by up to 10 %).
    pub interval: Duration,
    /// Time every page of one cycle's listings may take together; `None`: the interval, at
    /// least a minute ([`ONCE_DEADLINE`] with `--once`).
    pub timeout: Option<Duration>,
    pub web_config_file: Option<std::path::PathBuf>,
    /// CloudWatch publishing (its `cluster_name` set), when enabled.
    pub cloudwatch: Option<cloudwatch::Settings>,
}

/// `nodecap subnets`' section (`[subnets]`), checked; which subnets is decided by
/// `Config::subnets`, since only that command needs one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub cluster_name: Option<ClusterName>,
    pub vpc_id: Option<VpcId>,
    pub subnet_ids: Option<Vec<SubnetId>>,
    pub region: Option<Region>,
    pub listen: std::net::SocketAddr,
    pub interval: Duration,
    /// Unset: [`crate::subnets::Settings::timeout`]'s default.
    pub timeout: Option<Duration>,
    pub web_config_file: Option<std::path::PathBuf>,
}

impl Default for Section {
    fn default() -> Self {
        Section {
            cluster_name: None,
            vpc_id: None,
            subnet_ids: None,
            region: None,
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 61683)),
            interval: Duration::from_secs(300),
            timeout: None,
            web_config_file: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Api(#[from] api::Error),
    #[error("the EC2 API in {region}")]
    Client { region: Region, source: CallError },
    #[error("no subnet {0}")]
    NoSubnets(Selection),
    /// The endpoint could not start (web config, bind, signals).
    #[error(transparent)]
    Serve(#[from] telemetry::Error),
}

/// The subnets `selection` names, each once, by `deadline`.
pub async fn select(
    client: &Client,
    selection: &Selection,
    deadline: Deadline,
) -> Result<Subnets, Error> {
    let subnets = match selection {
        Selection::Ids(ids) => {
            api::describe_subnets(client, &Selector::Ids(ids.clone()), deadline).await?
        }
        Selection::Vpc(vpc) => {
            api::describe_subnets(client, &Selector::Vpcs(vec![vpc.clone()]), deadline).await?
        }
        Selection::Cluster { name, vpc_id } => {
            // Without a VPC given, the tagged subnets' own VPCs.
            let vpcs: Vec<VpcId> = vpc_id.iter().cloned().collect();
            let mut tagged = api::describe_subnets(
                client,
                &Selector::Tag {
                    key: format!("{CLUSTER_TAG_PREFIX}{name}"),
                    values: vec!["owned".to_owned(), "shared".to_owned()],
                    vpcs: vpcs.clone(),
                },
                deadline,
            )
            .await?;
            let mut vpcs = vpcs;
            if vpcs.is_empty() {
                vpcs = tagged.ipv4.iter().map(|s| s.vpc_id.clone()).collect();
                vpcs.sort();
                vpcs.dedup();
            }
            // Without a VPC, CNI-tagged subnets could be any cluster's: none are taken.
            if !vpcs.is_empty() {
                let cni = api::describe_subnets(
                    client,
                    &Selector::Tag {
                        key: CNI_ROLE_TAG.to_owned(),
                        values: Vec::new(),
                        vpcs,
                    },
                    deadline,
                )
                .await?;
                tagged.ipv4.extend(cni.ipv4);
                tagged.ipv6_only.extend(cni.ipv6_only);
            }
            tagged
        }
    };
    let mut ipv4 = BTreeMap::new();
    for subnet in subnets.ipv4 {
        ipv4.entry(subnet.id.clone()).or_insert(subnet);
    }
    let mut ipv6_only = BTreeMap::new();
    for subnet in subnets.ipv6_only {
        ipv6_only.entry(subnet.id.clone()).or_insert(subnet);
    }
    if ipv4.is_empty() && ipv6_only.is_empty() {
        return Err(Error::NoSubnets(selection.clone()));
    }
    Ok(Subnets {
        ipv4: ipv4.into_values().collect(),
        ipv6_only: ipv6_only.into_values().collect(),
    })
}

/// One cycle: select, list every interface of the selected subnets, read each subnet's
/// reservations, compute; every page by `deadline`.
pub async fn cycle(
    client: &Client,
    selection: &Selection,
    deadline: Deadline,
) -> Result<View, Error> {
    let started = Instant::now();
    let taken_at = SystemTime::now();
    let before = client.calls();
    let Subnets { ipv4, ipv6_only } = select(client, selection, deadline).await?;
    let ids: Vec<SubnetId> = ipv4.iter().map(|s| s.id.clone()).collect();
    let mut tallies: BTreeMap<SubnetId, Tally> = ipv4
        .into_iter()
        .map(|s| (s.id.clone(), Tally::new(s)))
        .collect();
    api::network_interfaces(client, &ids, deadline, |interface| {
        if let Some(tally) = tallies.get_mut(&interface.subnet_id) {
            tally.add(interface);
        }
    })
    .await?;
    let mut views = Vec::with_capacity(tallies.len());
    for (id, tally) in tallies {
        let reservations = api::cidr_reservations(client, &id, deadline).await?;
        views.push(tally.finish(&reservations));
    }
    Ok(View::new(
        views,
        ipv6_only,
        taken_at,
        started.elapsed(),
        client.calls().since(&before),
    ))
}

async fn client(region: &Region, retry: Retry) -> Result<Client, Error> {
    Client::new(region, retry)
        .await
        .map_err(|source| Error::Client {
            region: region.clone(),
            source,
        })
}

/// How long `--once` may take, every page of every listing together: a cluster of thousands
/// of nodes lists in seconds; retries under throttling take a minute or two.
const ONCE_DEADLINE: Duration = Duration::from_secs(300);

/// `nodecap subnets --once`: one cycle, within [`ONCE_DEADLINE`].
pub async fn once(settings: &Settings) -> Result<View, Error> {
    let client = client(&settings.region, Retry::STANDARD).await?;
    let limit = settings.timeout.unwrap_or(ONCE_DEADLINE);
    cycle(&client, &settings.selection, Deadline::after(limit)).await
}

/// How long one cycle may take: its interval, and at least a minute (retries under
/// throttling are slow by design).
fn cycle_timeout(interval: Duration) -> Duration {
    interval.max(Duration::from_secs(60))
}

/// The long-running command: returns when stopped by a signal.
pub async fn run(settings: Settings) -> Result<(), Error> {
    let bound = telemetry::bind(settings.listen, settings.web_config_file.as_deref())?;
    let client = client(&settings.region, Retry::STANDARD).await?;
    let timeout = settings
        .timeout
        .unwrap_or_else(|| cycle_timeout(settings.interval));
    tracing::info!(region = %settings.region, subnets = %settings.selection, "reading subnets");
    let stats = cloudwatch::SharedStats::default();
    // Config::subnets fills the cluster name in (the cluster watched, when not configured).
    let publisher = settings.cloudwatch.clone().and_then(|cw| {
        let cluster = cw.cluster_name.clone()?;
        Some((cluster, cloudwatch::Publisher::new(cw, Arc::clone(&stats))))
    });
    let interval = settings.interval;
    let reader = Reader {
        settings,
        client,
        timeout,
        status: ReaderStatus::default(),
        fresh: None,
        stats,
        cloudwatch: None,
        publisher,
    };
    Ok(telemetry::run(bound, interval, timeout, reader).await?)
}

/// `nodecap subnets` as a [`Pipeline`]: the EC2 listings → a view → `/metrics` and CloudWatch.
struct Reader {
    settings: Settings,
    client: Client,
    timeout: Duration,
    status: ReaderStatus,
    /// This cycle's view, when it succeeded: what CloudWatch gets.
    fresh: Option<Arc<View>>,
    stats: cloudwatch::SharedStats,
    /// The publisher's counts as of this cycle, for its rendering.
    cloudwatch: Option<cloudwatch::Stats>,
    /// The cluster name and the publisher, when CloudWatch is enabled.
    publisher: Option<(DimensionValue, cloudwatch::Publisher)>,
}

impl Pipeline for Reader {
    async fn cycle(&mut self) {
        let started = Instant::now();
        let result = cycle(
            &self.client,
            &self.settings.selection,
            Deadline::after(self.timeout),
        )
        .await;
        let status = &mut self.status;
        status.last_duration = started.elapsed();
        status.calls = self.client.calls();
        self.fresh = match result {
            Ok(view) => {
                tracing::info!(subnets = view.subnets.len(), calls = view.calls.total(),
                    duration = ?view.duration, "subnets read");
                status.succeeded += 1;
                status.last_failed = false;
                let view = Arc::new(view);
                status.view = Some(Arc::clone(&view));
                Some(view)
            }
            Err(e) => {
                tracing::warn!(
                    stale = status.view.is_some(),
                    "subnet cycle failed: {}",
                    crate::error::Chain(&e)
                );
                status.failed += 1;
                status.last_failed = true;
                None
            }
        };
        self.cloudwatch = self
            .publisher
            .as_ref()
            .map(|_| cloudwatch::read_stats(&self.stats));
    }

    fn exports(&self) -> Vec<&dyn Export> {
        let mut sources: Vec<&dyn Export> = vec![&self.status];
        sources.extend(self.cloudwatch.as_ref().map(|s| s as &dyn Export));
        sources
    }

    async fn publish(&mut self, _cycles: u64) {
        if let (Some((cluster, publisher)), Some(view)) = (self.publisher.as_mut(), &self.fresh) {
            publisher.enqueue_datums(view::datums(cluster, view));
            let deadline = tokio::time::Instant::now()
                + (self.settings.interval / 2).min(Duration::from_secs(60));
            publisher.flush(Some(&self.settings.region), deadline).await;
        }
    }

    async fn finish(self) {
        if let Some((_, mut publisher)) = self.publisher {
            let deadline = tokio::time::Instant::now() + telemetry::GRACE;
            publisher.flush(Some(&self.settings.region), deadline).await;
        }
    }
}
