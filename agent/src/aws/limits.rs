//! Instance limits for the node: the embedded table, then the on-disk cache of an earlier EC2
//! answer, then `ec2:DescribeInstanceTypes` (whose answer is cached for the next boot). With
//! `prefer_api` the API is asked first and the cache, then the table, are the fallbacks. The
//! result always says which one it came from.
//!
//! Cache: `<state_dir>/instance-types/<type>.json`, one `DescribeInstanceTypes` record in the
//! API's shape, written with the atomic writer. A cache file that does not parse is logged and
//! ignored (the API is asked again), never trusted.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::instance::describe::{self, DescribedType};
use crate::instance::{self, InstanceFacts, Source};
use crate::{ec2, writer};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "instance type {instance_type} is not in this build's table, not cached in {cache}, and \
         the EC2 API did not answer: {api}"
    )]
    Unknown {
        instance_type: String,
        cache: String,
        api: ec2::Error,
    },
}

fn cache_path(state_dir: &Path, instance_type: &str) -> PathBuf {
    state_dir
        .join("instance-types")
        .join(format!("{instance_type}.json"))
}

/// Reads a cached answer: `None` when absent or unusable (logged).
pub fn read_cache(state_dir: &Path, instance_type: &str) -> Option<InstanceFacts> {
    let path = cache_path(state_dir, instance_type);
    let text = std::fs::read_to_string(&path).ok()?;
    let parsed = serde_json::from_str::<DescribedType>(&text)
        .map_err(|e| e.to_string())
        .and_then(|record| {
            if record.instance_type != instance_type {
                return Err(format!("describes {}", record.instance_type));
            }
            match describe::to_facts(&record) {
                Ok(Some(facts)) => Ok(facts),
                Ok(None) => Err("no ENIs or no IPv4 addresses".to_owned()),
                Err(e) => Err(e.to_string()),
            }
        });
    match parsed {
        Ok(facts) => Some(facts),
        Err(reason) => {
            tracing::warn!(path = %path.display(), %reason, "ignoring unusable instance-type cache");
            None
        }
    }
}

/// Looks `instance_type` up: embedded table → cache → EC2 API (then cached); with
/// `prefer_api`, EC2 API (then cached) → cache → embedded table.
pub async fn resolve(
    instance_type: &str,
    region: &str,
    state_dir: &Path,
    api_timeout: Duration,
    prefer_api: bool,
) -> Result<(InstanceFacts, Source), Error> {
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
    match from_api(instance_type, region, state_dir, api_timeout).await {
        Ok(facts) => Ok((facts, Source::Api)),
        Err(api) => {
            if prefer_api && let Some(found) = local() {
                tracing::warn!(error = %api, source = %found.1, "EC2 API unavailable; using local instance data");
                return Ok(found);
            }
            Err(Error::Unknown {
                instance_type: instance_type.to_owned(),
                cache: cache_path(state_dir, instance_type).display().to_string(),
                api,
            })
        }
    }
}

/// Asks the EC2 API and caches a usable answer.
async fn from_api(
    instance_type: &str,
    region: &str,
    state_dir: &Path,
    api_timeout: Duration,
) -> Result<InstanceFacts, ec2::Error> {
    let record = ec2::describe_instance_type(instance_type, region, api_timeout).await?;
    let answer = |what: String| ec2::Error::Answer {
        instance_type: instance_type.to_owned(),
        what,
    };
    let facts = match describe::to_facts(&record) {
        Ok(Some(facts)) => facts,
        Ok(None) => {
            return Err(answer(
                "no ENIs or no IPv4 addresses: the VPC CNI cannot put pods here".to_owned(),
            ));
        }
        Err(e) => return Err(answer(e.to_string())),
    };
    let path = cache_path(state_dir, instance_type);
    let mut text = serde_json::to_string_pretty(&record).unwrap_or_default();
    text.push('\n');
    // A cache that cannot be written costs the next boot an API call, nothing more.
    match writer::write_atomic(&path, text.as_bytes(), 0o644) {
        Ok(_) => tracing::info!(path = %path.display(), "cached the EC2 answer for the next boot"),
        Err(e) => tracing::warn!(error = %e, "cannot cache the EC2 answer"),
    }
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_round_trip_and_bad_entries() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_cache(dir.path(), "x9.large").is_none());
        let text = include_str!("../data/instance-types-supplement.json");
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
            cache_path(dir.path(), "other.large"),
            serde_json::to_string(&record).unwrap(),
        )
        .unwrap();
        assert!(read_cache(dir.path(), "other.large").is_none());
    }
}
