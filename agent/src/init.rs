//! `nodecap init`: at boot, before the kubelet, learn what the node is (IMDS), find its limits
//! (embedded table → cache → EC2 API), size it, and write the kubelet's settings where the
//! kubelet or nodeadm reads them, through the atomic writer. Running it again with the same
//! inputs changes nothing.
//!
//! Data flow: `ImdsClient::identity` → `limits::resolve` → `sizing::size` →
//! `render::KubeletSettings` → `kubelet::render` for the chosen backend → `writer::write_atomic`.
//! Each step logs one line. A step that fails stops `init` with its error; nothing has been
//! written by then (the write is the last step).

use std::borrow::Cow;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::config::{Backend, Config};
use crate::instance::{Hypervisor, InstanceFacts, Source};
use crate::render::KubeletSettings;
use crate::sizing;
use crate::{imds, kubelet, limits, writer};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Imds(#[from] imds::Error),
    #[error(transparent)]
    Limits(#[from] limits::Error),
    #[error(transparent)]
    Kubelet(#[from] kubelet::Error),
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Write(#[from] writer::Error),
}

impl Error {
    /// sysexits-style codes; see `nodecap --help`.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Imds(_) => 69,
            Error::Limits(_) => 2,
            Error::Kubelet(kubelet::Error::NotDetected(_)) => 64,
            Error::Kubelet(kubelet::Error::Existing { .. }) => 65,
            Error::Read { .. } | Error::Write(_) => 73,
        }
    }
}

/// The file `init` targets and the content it wrote (or, in a dry run, would write).
#[derive(Debug)]
pub struct Report {
    pub path: PathBuf,
    pub contents: String,
}

/// What the node is and what it can hold, before any sizing: its identity, its limits and
/// where they came from, and the sizing options (with `fallback_max_pods` applied when the
/// limits are unknown). Shared by `init` and the daemon.
#[derive(Debug, Clone)]
pub struct Node {
    pub identity: imds::Identity,
    pub facts: InstanceFacts,
    pub source: Source,
    pub options: sizing::SizingOptions,
}

impl Node {
    pub fn sizing(&self) -> sizing::Sizing<'_> {
        sizing::size(&self.facts, self.source, &self.options)
    }
}

/// IMDS identity → limits (table, cache, EC2 API) → [`Node`], logging each step.
pub async fn resolve_node(config: &Config, imds: &imds::ImdsClient) -> Result<Node, Error> {
    let start = Instant::now();
    let identity = imds.identity().await?;
    tracing::info!(
        instance_type = %identity.instance_type,
        instance_id = %identity.instance_id,
        region = %identity.region,
        availability_zone = %identity.availability_zone,
        imds_requests = imds.requests(),
        "instance identity from IMDS"
    );

    let remaining = config
        .imds_deadline
        .saturating_sub(start.elapsed())
        .max(Duration::from_secs(1));
    let mut options = config.sizing.clone();
    let (facts, source) = match limits::resolve(
        &identity.instance_type,
        &identity.region,
        &config.state_dir,
        remaining,
        config.prefer_api,
    )
    .await
    {
        Ok(found) => found,
        Err(e) => {
            let Some(fallback) = config.fallback_max_pods else {
                return Err(e.into());
            };
            tracing::warn!(error = %e, max_pods = fallback, "cannot size the node; using fallback_max_pods");
            options.max_pods = Some(fallback);
            (fallback_facts(&identity.instance_type), Source::Fallback)
        }
    };
    tracing::info!(
        %source,
        enis = facts.default_card_enis(),
        ipv4_per_eni = facts.ipv4_per_eni,
        vcpus = facts.vcpus,
        hypervisor = %facts.hypervisor,
        "instance limits"
    );
    Ok(Node {
        identity,
        facts,
        source,
        options,
    })
}

pub async fn run(config: &Config, dry_run: bool) -> Result<Report, Error> {
    let imds = imds::ImdsClient::new(&config.imds_endpoint, config.imds_deadline)?;
    let node = resolve_node(config, &imds).await?;
    let (facts, source) = (&node.facts, node.source);
    let sizing = node.sizing();
    for note in &sizing.notes {
        tracing::warn!("{note}");
    }
    let settings = KubeletSettings::from_sizing(&sizing);
    tracing::info!(
        profile = %sizing.profile,
        addressing = %sizing.addressing,
        max_pods = sizing.max_pods,
        kube_reserved_cpu = %settings.kube_reserved["cpu"],
        kube_reserved_memory = %settings.kube_reserved["memory"],
        system_reserved = settings.system_reserved.is_some(),
        eviction_hard_keys = settings.eviction_hard.len(),
        "sizing"
    );

    let backend = match config.kubelet.backend {
        Backend::Auto => {
            let (backend, why) = kubelet::detect(&config.kubelet)?;
            tracing::info!(backend = %backend, reason = %why, "backend chosen");
            backend
        }
        chosen => chosen,
    };
    let path = kubelet::target_path(backend, &config.kubelet);
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => return Err(Error::Read { path, source }),
    };
    let header = format!(
        "Written by nodecap init: {} ({} data), profile {}, {} pods. Do not edit: nodecap rewrites it;\noverride it with a later drop-in.",
        facts.instance_type, source, sizing.profile, sizing.max_pods
    );
    let contents = kubelet::render(backend, &path, &settings, &header, existing.as_deref())?;

    if dry_run {
        tracing::info!(path = %path.display(), "dry run: nothing written");
    } else {
        match writer::write_atomic(&path, contents.as_bytes(), 0o644)? {
            writer::Outcome::Written => {
                tracing::info!(path = %path.display(), backend = %backend, imds_requests = imds.requests(), "kubelet settings written");
            }
            writer::Outcome::Unchanged => {
                tracing::info!(path = %path.display(), backend = %backend, imds_requests = imds.requests(), "kubelet settings unchanged");
            }
        }
    }
    Ok(Report { path, contents })
}

/// Facts for a node that cannot be sized: only the CPU count is known (online CPUs, as
/// nodeadm counts them), so the CPU reservation is still right; maxPods comes from
/// `fallback_max_pods`.
fn fallback_facts(instance_type: &str) -> InstanceFacts {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    InstanceFacts {
        instance_type: Cow::Owned(instance_type.to_owned()),
        default_network_card: 0,
        enis_per_card: Cow::Owned(vec![0]),
        ipv4_per_eni: 0,
        ipv6_per_eni: 0,
        ipv6_supported: false,
        vcpus: u32::try_from(cpus).unwrap_or(u32::MAX),
        memory_mib: 0,
        hypervisor: Hypervisor::None,
        bare_metal: false,
        efa_supported: false,
    }
}
