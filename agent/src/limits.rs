//! Instance limits for the node: the embedded table, then the on-disk cache of an earlier EC2
//! answer, then `ec2:DescribeInstanceTypes` (whose answer is cached for the next boot). The
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

/// Looks `instance_type` up: embedded table → cache → EC2 API (then cached).
pub async fn resolve(
    instance_type: &str,
    region: &str,
    state_dir: &Path,
    api_timeout: Duration,
) -> Result<(InstanceFacts, Source), Error> {
    if let Some(facts) = instance::lookup_embedded(instance_type) {
        return Ok((facts.clone(), Source::Embedded));
    }
    if let Some(facts) = read_cache(state_dir, instance_type) {
        return Ok((facts, Source::Cache));
    }
    let unknown = |api| Error::Unknown {
        instance_type: instance_type.to_owned(),
        cache: cache_path(state_dir, instance_type).display().to_string(),
        api,
    };
    let record = ec2::describe_instance_type(instance_type, region, api_timeout)
        .await
        .map_err(unknown)?;
    let facts = match describe::to_facts(&record) {
        Ok(Some(facts)) => facts,
        Ok(None) => {
            return Err(unknown(ec2::Error::Answer {
                instance_type: instance_type.to_owned(),
                what: "no ENIs or no IPv4 addresses: the VPC CNI cannot put pods here".to_owned(),
            }));
        }
        Err(e) => {
            return Err(unknown(ec2::Error::Answer {
                instance_type: instance_type.to_owned(),
                what: e.to_string(),
            }));
        }
    };
    let path = cache_path(state_dir, instance_type);
    let mut text = serde_json::to_string_pretty(&record).unwrap_or_default();
    text.push('\n');
    // A cache that cannot be written costs the next boot an API call, nothing more.
    match writer::write_atomic(&path, text.as_bytes(), 0o644) {
        Ok(_) => tracing::info!(path = %path.display(), "cached the EC2 answer for the next boot"),
        Err(e) => tracing::warn!(error = %e, "cannot cache the EC2 answer"),
    }
    Ok((facts, Source::Api))
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
