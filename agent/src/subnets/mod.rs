//! `nodecap subnets`: the cluster's subnets, how many addresses and how many aligned /28
//! blocks each has left, read from the EC2 API on a jittered timer (one replica per cluster, a
//! Deployment) or once (`--once`).
//!
//! Data flow, one way, once per cycle: [`select`] (`DescribeSubnets`: the cluster's tagged
//! subnets, explicit ids, or a VPC's) → [`view::Tally`] per subnet, fed page by page by
//! `DescribeNetworkInterfaces` and finished with the subnet's `GetSubnetCidrReservations` →
//! [`view::View`] (the figures of [`crate::core::subnet`]) → the exporters: the Prometheus
//! text, rendered once per cycle and served by the node daemon's endpoint (its own listen
//! address), and CloudWatch datums through the node daemon's publisher.
//!
//! A failed cycle (the API unreachable, throttled past its retries, an answer that does not
//! parse) keeps serving the last good view with `nodecap_subnets_stale 1`; `/healthz` fails
//! only when no cycle ends at all.

pub mod view;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use tokio::sync::watch;

use crate::aws::ec2::subnets::{self as api, Selector, Subnets};
use crate::aws::ec2::{CallError, Client, Deadline, Retry};
use crate::daemon::export::cloudwatch;
use crate::daemon::export::prometheus::{self, server};
use crate::daemon::family::Export;
use view::{Status, Tally, View};

/// The tag that marks a cluster's subnets (value `owned` or `shared`), as the AWS Load
/// Balancer Controller and Karpenter's examples use it.
pub const CLUSTER_TAG_PREFIX: &str = "kubernetes.io/cluster/";
/// The tag the VPC CNI's subnet discovery (`ENABLE_SUBNET_DISCOVERY`) looks for.
pub const CNI_ROLE_TAG: &str = "kubernetes.io/role/cni";

/// Which subnets to watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Those tagged `kubernetes.io/cluster/<name>` (`owned` or `shared`), and those tagged
    /// `kubernetes.io/role/cni` in the same VPC (`vpc_id`, else the tagged subnets' VPCs).
    Cluster {
        name: String,
        vpc_id: Option<String>,
    },
    /// Exactly these.
    Ids(Vec<String>),
    /// Every subnet of this VPC.
    Vpc(String),
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
            Selection::Ids(ids) => write!(f, "{}", ids.join(",")),
            Selection::Vpc(vpc) => write!(f, "in {vpc}"),
        }
    }
}

/// What `nodecap subnets` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub region: String,
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

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Api(#[from] api::Error),
    #[error("the EC2 API in {region}")]
    Client { region: String, source: CallError },
    #[error("no subnet {0}")]
    NoSubnets(Selection),
    /// The endpoint could not start (the node daemon's errors: web config, bind, signals).
    #[error(transparent)]
    Serve(#[from] crate::daemon::Error),
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
            let vpcs: Vec<String> = vpc_id.iter().cloned().collect();
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
    let ids: Vec<String> = ipv4.iter().map(|s| s.id.clone()).collect();
    let mut tallies: BTreeMap<String, Tally> = ipv4
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

async fn client(region: &str, retry: Retry) -> Result<Client, Error> {
    Client::new(region, retry)
        .await
        .map_err(|source| Error::Client {
            region: region.to_owned(),
            source,
        })
}

/// How long `--once` may take, every page of every listing together: a cluster of thousands
/// of nodes lists in seconds; retries under throttling take a minute or two.
pub const ONCE_DEADLINE: Duration = Duration::from_secs(300);

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
    let addr = settings.listen;
    let (web, listener, mut stop) =
        crate::daemon::start_serving(addr, settings.web_config_file.as_deref())?;
    let client = client(&settings.region, Retry::STANDARD).await?;
    let timeout = settings
        .timeout
        .unwrap_or_else(|| cycle_timeout(settings.interval));

    let (publish, published) = watch::channel(Arc::new(server::Published::default()));
    let (stopping, stopped) = watch::channel(false);
    let server = tokio::spawn(server::serve(
        listener,
        Arc::new(web),
        published,
        stopped,
        settings.interval * 3 + timeout,
    ));
    tracing::info!(listen = %addr, interval = ?settings.interval, region = %settings.region,
        subnets = %settings.selection, "serving /metrics, /healthz, /readyz");
    let stats = cloudwatch::SharedStats::default();
    let mut publisher = settings.cloudwatch.clone().map(|cw| {
        (
            cw.cluster_name.clone(),
            cloudwatch::Publisher::new(cw, Arc::clone(&stats)),
        )
    });

    let mut status = Status::default();
    let mut cycles: u64 = 0;
    loop {
        let started = Instant::now();
        let result = tokio::select! {
            r = cycle(&client, &settings.selection, Deadline::after(timeout)) => r,
            () = stop.received() => break,
        };
        status.last_duration = started.elapsed();
        status.calls = client.calls();
        let fresh = match result {
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
        let cw_stats = publisher.as_ref().map(|_| cloudwatch::read_stats(&stats));
        let mut sources: Vec<&dyn Export> = vec![&status];
        sources.extend(cw_stats.as_ref().map(|s| s as &dyn Export));
        match prometheus::render(&sources) {
            Ok(text) => {
                publish.send_replace(Arc::new(server::Published {
                    metrics: Some(Bytes::from(text)),
                    at: Some(std::time::Instant::now()),
                }));
            }
            Err(e) => tracing::error!("cannot render the metrics: {e}"),
        }
        if let (Some((cluster, publisher)), Some(view)) = (publisher.as_mut(), &fresh) {
            publisher.enqueue_datums(view::datums(cluster, view));
            let deadline =
                tokio::time::Instant::now() + (settings.interval / 2).min(Duration::from_secs(60));
            tokio::select! {
                () = publisher.flush(Some(&settings.region), deadline) => {}
                () = stop.received() => break,
            }
        }
        cycles += 1;
        tokio::select! {
            () = tokio::time::sleep(crate::daemon::jittered(settings.interval, cycles)) => {}
            () = stop.received() => break,
        }
    }
    tracing::info!(grace = ?crate::daemon::GRACE, "stopping");
    let _ = stopping.send(true);
    if tokio::time::timeout(crate::daemon::GRACE, server)
        .await
        .is_err()
    {
        tracing::warn!("open connections did not finish within the grace period; closing them");
    }
    if let Some((_, mut publisher)) = publisher {
        let deadline = tokio::time::Instant::now() + crate::daemon::GRACE;
        publisher.flush(Some(&settings.region), deadline).await;
    }
    Ok(())
}
