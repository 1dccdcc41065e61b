//! What the node is and what it can hold: the identity from IMDS, then the instance type's
//! limits from the embedded table, the on-disk cache of an earlier EC2 answer, or
//! `ec2:DescribeInstanceTypes` (whose answer is cached for the next boot). With `prefer_api`
//! the API is asked first and the cache, then the table, are the fallbacks. The result always
//! says which one it came from. `init` and the daemon both start here.
//!
//! Cache: `<state_dir>/instance-types/<type>.json`, one `DescribeInstanceTypes` record in the
//! API's shape, written with the atomic writer. A cache file that does not parse is logged and
//! ignored (the API is asked again), never trusted.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::ec2::instance_types;
use super::imds;
use crate::core::instance::describe::{self, DescribedType};
use crate::core::instance::{self, Architecture, Hypervisor, InstanceFacts, Source};
use crate::core::names::{InstanceType, Region};
use crate::core::node::Node;
use crate::core::sizing::SizingOptions;
use crate::error::Chain;
use crate::file;

/// How to find the node's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// Where EC2 answers are cached.
    pub state_dir: PathBuf,
    /// Everything IMDS and the EC2 API are asked must answer within this.
    pub deadline: Duration,
    /// Ask the EC2 API before the embedded table.
    pub prefer_api: bool,
    /// maxPods for a node that cannot be sized; `None`: fail instead.
    pub fallback_max_pods: Option<u32>,
    /// The sizing options the node is sized with.
    pub options: SizingOptions,
    /// Whether an EC2 answer is cached (`init --dry-run` writes nothing, the cache included).
    pub write_cache: bool,
}

impl Default for Lookup {
    fn default() -> Self {
        Lookup {
            state_dir: PathBuf::from("/var/lib/nodecap"),
            deadline: Duration::from_secs(60),
            prefer_api: false,
            fallback_max_pods: None,
            options: SizingOptions::default(),
            write_cache: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Imds(#[from] imds::Error),
    #[error(
        "instance type {instance_type} is not in this build's table, not cached in {cache}, and \
         the EC2 API did not answer"
    )]
    Unknown {
        instance_type: InstanceType,
        cache: String,
        source: Box<instance_types::Error>,
    },
}

/// Why a cache entry is not used.
#[derive(Debug, thiserror::Error)]
enum CacheError {
    #[error("not JSON")]
    Json(#[source] serde_json::Error),
    #[error("describes {0}")]
    OtherType(InstanceType),
    #[error("no ENIs or no IPv4 addresses")]
    Unusable,
    #[error(transparent)]
    Facts(describe::Error),
}

/// IMDS identity → limits (table, cache, EC2 API) → [`Node`], logging each step. With
/// `fallback_max_pods`, a node whose limits are unknown is sized with that instead.
pub async fn resolve_node(imds: &imds::ImdsClient, lookup: &Lookup) -> Result<Node, Error> {
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

    let remaining = lookup
        .deadline
        .saturating_sub(start.elapsed())
        .max(Duration::from_secs(1));
    let mut options = lookup.options.clone();
    let (facts, source) = match limits(&identity.instance_type, &identity.region, lookup, remaining)
        .await
    {
        Ok(found) => found,
        Err(e) => {
            let Some(fallback) = lookup.fallback_max_pods else {
                return Err(e);
            };
            tracing::warn!(error = %Chain(&e), max_pods = fallback, "cannot size the node; using fallback_max_pods");
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

fn cache_path(state_dir: &Path, instance_type: &InstanceType) -> PathBuf {
    state_dir
        .join("instance-types")
        .join(format!("{instance_type}.json"))
}

/// Reads a cached answer: `None` when absent or unusable (logged).
fn read_cache(state_dir: &Path, instance_type: &InstanceType) -> Option<InstanceFacts> {
    let path = cache_path(state_dir, instance_type);
    // A cached answer is one instance type's description: a few KiB.
    let text = match crate::file::read_text_if_exists(&path, 256 * 1024) {
        Ok(text) => text?,
        Err(e) => {
            tracing::warn!(error = %crate::error::Chain(&e), "cached instance type ignored");
            return None;
        }
    };
    let parsed = serde_json::from_str::<DescribedType>(&text)
        .map_err(CacheError::Json)
        .and_then(|record| {
            if record.instance_type != *instance_type {
                return Err(CacheError::OtherType(record.instance_type));
            }
            match describe::to_facts(&record) {
                Ok(Some(facts)) => Ok(facts),
                Ok(None) => Err(CacheError::Unusable),
                Err(e) => Err(CacheError::Facts(e)),
            }
        });
    match parsed {
        Ok(facts) => Some(facts),
        Err(reason) => {
            tracing::warn!(path = %path.display(), reason = %Chain(&reason), "ignoring unusable instance-type cache");
            None
        }
    }
}

/// Looks `instance_type` up: embedded table → cache → EC2 API (then cached); with
/// `prefer_api`, EC2 API (then cached) → cache → embedded table.
async fn limits(
    instance_type: &InstanceType,
    region: &Region,
    lookup: &Lookup,
    api_timeout: Duration,
) -> Result<(InstanceFacts, Source), Error> {
    let state_dir = lookup.state_dir.as_path();
    let prefer_api = lookup.prefer_api;
    let local = || {
        let embedded =
            instance::lookup_embedded(instance_type).map(|f| (f.clone(), Source::Embedded));
        let cached = || read_cache(state_dir, instance_type).map(|f| (f, Source::Cache));
        if prefer_api {
            cached().or(embedded)
        } else {
            embedded.or_else(cached)
        }
    };
    if !prefer_api && let Some(found) = local() {
        return Ok(found);
    }
    let cache_dir = lookup.write_cache.then_some(state_dir);
    match from_api(instance_type, region, cache_dir, api_timeout).await {
        Ok(facts) => Ok((facts, Source::Api)),
        Err(api) => {
            if prefer_api && let Some(found) = local() {
                tracing::warn!(error = %Chain(&api), source = %found.1, "EC2 API unavailable; using local instance data");
                return Ok(found);
            }
            Err(Error::Unknown {
                instance_type: instance_type.clone(),
                cache: cache_path(state_dir, instance_type).display().to_string(),
                source: Box::new(api),
            })
        }
    }
}

/// Asks the EC2 API and caches a usable answer under `cache_dir` (when given).
async fn from_api(
    instance_type: &InstanceType,
    region: &Region,
    cache_dir: Option<&Path>,
    api_timeout: Duration,
) -> Result<InstanceFacts, instance_types::Error> {
    let record = instance_types::describe_instance_type(instance_type, region, api_timeout).await?;
    let answer = |what: instance_types::AnswerError| instance_types::Error::Answer {
        instance_type: instance_type.clone(),
        what,
    };
    let facts = match describe::to_facts(&record) {
        Ok(Some(facts)) => facts,
        Ok(None) => return Err(answer(instance_types::AnswerError::Unusable)),
        Err(e) => return Err(answer(instance_types::AnswerError::Facts(e))),
    };
    let Some(state_dir) = cache_dir else {
        return Ok(facts);
    };
    let path = cache_path(state_dir, instance_type);
    // A cache that cannot be written costs the next boot an API call, nothing more.
    let written = serde_json::to_string_pretty(&record)
        .map(|mut text| {
            text.push('\n');
            text
        })
        .map_err(|e| tracing::warn!(error = %e, "cannot encode the EC2 answer for the cache"))
        .ok()
        .map(|text| file::write_atomic(&path, text.as_bytes(), 0o644));
    match written {
        Some(Ok(_)) => {
            tracing::info!(path = %path.display(), "cached the EC2 answer for the next boot");
        }
        Some(Err(e)) => tracing::warn!(error = %Chain(&e), "cannot cache the EC2 answer"),
        None => {}
    }
    Ok(facts)
}

/// Facts for a node that cannot be sized: only the CPU count is known (online CPUs, as
/// nodeadm counts them), so the CPU reservation is still right; maxPods comes from
/// `fallback_max_pods`.
fn fallback_facts(instance_type: &InstanceType) -> InstanceFacts {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    InstanceFacts {
        instance_type: instance_type.clone(),
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
        // This binary runs on the node: its own architecture is the node's.
        architecture: if cfg!(target_arch = "aarch64") {
            Architecture::Arm64
        } else if cfg!(target_arch = "x86_64") {
            Architecture::X86_64
        } else {
            Architecture::Unknown
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_round_trip_and_bad_entries() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_cache(dir.path(), &"x9.large".parse().unwrap()).is_none());
        let text = include_str!("../../data/instance-types-supplement.json");
        let record = describe::parse_document("s", text).unwrap().remove(0);
        let name = record.instance_type.clone();
        let path = cache_path(dir.path(), &name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_string(&record).unwrap()).unwrap();
        let facts = read_cache(dir.path(), &name).unwrap();
        assert_eq!(facts.instance_type, name);
        std::fs::write(&path, "{half").unwrap();
        assert!(read_cache(dir.path(), &name).is_none());
        // A file under the wrong name is not trusted.
        std::fs::write(
            cache_path(dir.path(), &"other.large".parse().unwrap()),
            serde_json::to_string(&record).unwrap(),
        )
        .unwrap();
        assert!(read_cache(dir.path(), &"other.large".parse().unwrap()).is_none());
    }
}
