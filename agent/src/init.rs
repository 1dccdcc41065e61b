//! `nodecap init`: at boot, before the kubelet, learn what the node is (IMDS), find its limits
//! (embedded table → cache → EC2 API), size it, and write the kubelet's settings where the
//! kubelet or nodeadm reads them, through the atomic writer. Running it again with the same
//! inputs changes nothing.
//!
//! Data flow: [`limits::resolve_node`] → [`Node::sizing`](crate::core::node::Node::sizing) →
//! [`KubeletSettings`] → [`backend::render`] for the chosen backend → [`file::write_atomic`].
//! Each step logs one line. A step that fails stops `init` with its error; nothing has been
//! written by then (the write is the last step, and [`apply`] renders before it writes).

use std::path::{Path, PathBuf};

use crate::aws::imds::{self, ImdsClient};
use crate::aws::limits::{self, Lookup};
use crate::exit::Exit;
use crate::file;
use crate::kubelet::backend::{self, Error as BackendError};
use crate::kubelet::settings::KubeletSettings;
use crate::kubelet::{Backend, Targets};

/// What `init` needs to know.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    pub imds: imds::Endpoint,
    /// How to find the limits (its deadline covers IMDS too).
    pub lookup: Lookup,
    pub kubelet: Targets,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Resolve(#[from] limits::Error),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Read(file::ReadError),
    #[error("{path}: the rendered settings are empty; nothing written")]
    Empty { path: PathBuf },
    #[error(transparent)]
    Write(#[from] file::Error),
    #[error(transparent)]
    Expression(#[from] crate::core::sizing::KeyedExpressionError),
}

impl Error {
    pub fn exit(&self) -> Exit {
        match self {
            Error::Resolve(limits::Error::Imds(_)) => Exit::Unavailable,
            Error::Resolve(limits::Error::Unknown { .. }) => Exit::UnknownInstanceType,
            Error::Backend(BackendError::NotDetected { .. }) | Error::Expression(_) => Exit::Usage,
            Error::Backend(
                BackendError::NothingToMerge { .. } | BackendError::Malformed { .. },
            ) => Exit::DataErr,
            Error::Backend(BackendError::Render { .. }) | Error::Empty { .. } => Exit::Software,
            // Not a regular file, too large, not text: the file to merge into is malformed.
            Error::Read(e) | Error::Write(file::Error::Read(e)) if e.is_content() => Exit::DataErr,
            Error::Read(_) | Error::Write(_) => Exit::CantCreate,
        }
    }
}

/// The file `init` targets and the content it wrote (or, in a dry run, would write).
#[derive(Debug)]
pub struct Report {
    pub path: PathBuf,
    pub contents: String,
}

pub async fn run(settings: &Settings, dry_run: bool) -> Result<Report, Error> {
    let imds = ImdsClient::new(&settings.imds, settings.lookup.deadline);
    let lookup = limits::Lookup {
        write_cache: !dry_run,
        ..settings.lookup.clone()
    };
    let node = limits::resolve_node(&imds, &lookup).await?;
    let sizing = node.sizing();
    sizing.check_expressions()?;
    for note in &sizing.notes {
        tracing::warn!("{note}");
    }
    let kubelet = KubeletSettings::from_sizing(&sizing);
    tracing::info!(
        profile = %sizing.profile,
        addressing = %sizing.addressing,
        max_pods = sizing.max_pods,
        kube_reserved_cpu = %kubelet.kube_reserved.cpu(),
        kube_reserved_memory = %kubelet.kube_reserved.memory(),
        system_reserved = kubelet.system_reserved.is_some(),
        eviction_hard_keys = kubelet.eviction_hard.len(),
        "sizing"
    );

    let backend = match settings.kubelet.backend {
        Backend::Auto => {
            let (backend, path) = backend::detect(&settings.kubelet)?;
            let reason = format!("{} exists", path.display());
            tracing::info!(backend = %backend, reason = %reason, "backend chosen");
            backend
        }
        chosen => chosen,
    };
    let path = backend::target_path(backend, &settings.kubelet);
    let header = format!(
        "Written by nodecap init: {} ({} data), profile {}, {} pods. Do not edit: nodecap rewrites it;\noverride it with a later drop-in.",
        node.facts.instance_type, node.source, sizing.profile, sizing.max_pods
    );
    let (report, outcome) = apply(&path, dry_run, |existing| {
        backend::render(backend, &path, &kubelet, &header, existing)
    })?;
    let requests = imds.requests();
    match outcome {
        None => tracing::info!(path = %path.display(), "dry run: nothing written"),
        Some(file::Outcome::Written) => {
            tracing::info!(path = %path.display(), backend = %backend, imds_requests = requests, "kubelet settings written");
        }
        Some(file::Outcome::Unchanged) => {
            tracing::info!(path = %path.display(), backend = %backend, imds_requests = requests, "kubelet settings unchanged");
        }
    }
    Ok(report)
}

/// Reads what is at `path` now, renders the new content from it and, unless `dry_run`,
/// writes it atomically. Any failure leaves the old file exactly as it was: rendering
/// happens before the write, and an empty rendering is refused.
pub fn apply(
    path: &Path,
    dry_run: bool,
    render: impl FnOnce(Option<&str>) -> Result<String, BackendError>,
) -> Result<(Report, Option<file::Outcome>), Error> {
    let existing = file::read_text_if_exists(path, file::MAX_CONFIG_FILE).map_err(Error::Read)?;
    let contents = render(existing.as_deref())?;
    if contents.trim().is_empty() {
        return Err(Error::Empty {
            path: path.to_owned(),
        });
    }
    let outcome = if dry_run {
        None
    } else {
        Some(file::write_atomic(path, contents.as_bytes(), 0o644)?)
    };
    let report = Report {
        path: path.to_owned(),
        contents,
    };
    Ok((report, outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rendering that fails (an encoder error) exits 70 and leaves the old file alone.
    #[test]
    fn a_render_failure_exits_70_and_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("40-nodecap.conf");
        std::fs::write(&path, "{\"maxPods\": 29}\n").unwrap();
        let failing = |_: Option<&str>| {
            Err(BackendError::Render {
                path: path.clone(),
                source: crate::kubelet::render::Error::Json {
                    format: "KubeletConfiguration",
                    source: <serde_json::Error as serde::ser::Error>::custom("injected"),
                },
            })
        };
        let err = apply(&path, false, failing).unwrap_err();
        assert_eq!(err.exit(), Exit::Software);
        assert_eq!(
            crate::error::Chain(&err).to_string(),
            format!(
                "{}: cannot encode the KubeletConfiguration document: injected",
                path.display()
            )
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"maxPods\": 29}\n"
        );
        // An empty rendering is refused the same way.
        let err = apply(&path, false, |_| Ok(String::new())).unwrap_err();
        assert_eq!(err.exit(), Exit::Software);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"maxPods\": 29}\n"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left");
    }

    #[test]
    fn the_existing_file_is_what_the_render_sees() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubelet");
        let (report, outcome) = apply(&path, false, |existing| {
            assert_eq!(existing, None);
            Ok("A=1\n".to_owned())
        })
        .unwrap();
        assert_eq!(
            (report.contents.as_str(), outcome),
            ("A=1\n", Some(file::Outcome::Written))
        );
        let (_, outcome) = apply(&path, true, |existing| {
            assert_eq!(existing, Some("A=1\n"));
            Ok("A=2\n".to_owned())
        })
        .unwrap();
        assert_eq!(outcome, None, "a dry run writes nothing");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "A=1\n");
    }
}
