//! Where `init` puts the kubelet's settings, and what it puts there, per backend:
//!
//! | backend | file | content |
//! |---|---|---|
//! | `nodeadm` | `<nodeadm_config_dir>/<dropin_name>.yaml` | a `NodeConfig` with `spec.kubelet.config` (AL2023) |
//! | `kubelet-dropin` | `<kubelet_config_dir>/<dropin_name>.conf` | a `KubeletConfiguration` JSON drop-in |
//! | `kubelet-config` | `<kubelet_config>` | merged into the existing JSON; every other field kept |
//! | `flags` | `<kubelet_env_file>` | `KUBELET_EXTRA_ARGS`, with the flags nodecap owns replaced |
//!
//! nodecap only ever writes the one file of the chosen backend: a user's own drop-ins, higher
//! or lower in priority, are never touched. [`detect`] looks at the node (I/O); [`render`]
//! and the merges are pure.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::settings::KubeletSettings;
use super::{Backend, Targets, flags, render as format};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "cannot tell where the kubelet reads its settings: none of {candidates} exists; set \
         kubelet.backend (--backend nodeadm|kubelet-dropin|kubelet-config|flags)"
    )]
    NotDetected { candidates: String },
    #[error("{path}: the kubelet config file to merge into does not exist")]
    NothingToMerge { path: PathBuf },
    #[error("{path}")]
    Malformed { path: PathBuf, source: MergeError },
    #[error("{path}")]
    Render {
        path: PathBuf,
        source: format::Error,
    },
}

/// Why an existing file cannot take nodecap's settings.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("expected a KubeletConfiguration JSON object")]
    NotJson(#[source] serde_json::Error),
    #[error("expected a KubeletConfiguration JSON object")]
    NotAnObject,
    #[error("{field}: expected an object")]
    FieldNotAnObject { field: &'static str },
    #[error(transparent)]
    Flags(#[from] flags::Error),
}

/// The backend `auto` picks: the first whose target exists, in the order nodeadm's drop-in
/// directory, the kubelet's `--config-dir`, the kubelet's config file, the environment file.
/// Returns the backend and the path that decided it.
pub fn detect(targets: &Targets) -> Result<(Backend, PathBuf), Error> {
    let candidates = [
        (Backend::Nodeadm, &targets.nodeadm_config_dir),
        (Backend::KubeletDropin, &targets.kubelet_config_dir),
        (Backend::KubeletConfig, &targets.kubelet_config),
        (Backend::Flags, &targets.kubelet_env_file),
    ];
    for (backend, path) in candidates {
        if path.exists() {
            return Ok((backend, path.clone()));
        }
    }
    Err(Error::NotDetected {
        candidates: candidates
            .iter()
            .map(|(_, p)| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// The file a backend writes.
pub fn target_path(backend: Backend, targets: &Targets) -> PathBuf {
    let name = &targets.dropin_name;
    match backend {
        Backend::Nodeadm | Backend::Auto => targets.nodeadm_config_dir.join(format!("{name}.yaml")),
        Backend::KubeletDropin => targets.kubelet_config_dir.join(format!("{name}.conf")),
        Backend::KubeletConfig => targets.kubelet_config.clone(),
        Backend::Flags => targets.kubelet_env_file.clone(),
    }
}

/// What the backend's file at `path` must contain. `existing` is the file's current content,
/// needed by the merging backends (`kubelet-config` requires it).
pub fn render(
    backend: Backend,
    path: &Path,
    settings: &KubeletSettings,
    header: &str,
    existing: Option<&str>,
) -> Result<String, Error> {
    let rendered = |result: Result<String, format::Error>| {
        result.map_err(|source| Error::Render {
            path: path.to_owned(),
            source,
        })
    };
    let malformed = |source: MergeError| Error::Malformed {
        path: path.to_owned(),
        source,
    };
    match backend {
        Backend::Nodeadm | Backend::Auto => rendered(format::nodeconfig(settings, header)),
        Backend::KubeletDropin => rendered(format::kubelet_config(settings)),
        Backend::KubeletConfig => {
            let existing = existing.ok_or_else(|| Error::NothingToMerge {
                path: path.to_owned(),
            })?;
            let merged = merge_kubelet_config(existing, settings).map_err(malformed)?;
            rendered(format::to_json("KubeletConfiguration", &merged))
        }
        Backend::Flags => {
            let ours = format::kubelet_flag_list(settings);
            flags::merge(existing.unwrap_or_default(), &ours)
                .map_err(|e| malformed(MergeError::Flags(e)))
        }
    }
}

/// Sets maxPods and nodecap's keys of kubeReserved, systemReserved and evictionHard in a
/// kubelet config JSON. Every other field, and other keys of those maps, keep their values and
/// their order.
pub fn merge_kubelet_config(
    existing: &str,
    settings: &KubeletSettings,
) -> Result<Value, MergeError> {
    let mut doc: Value = serde_json::from_str(existing).map_err(MergeError::NotJson)?;
    let Some(object) = doc.as_object_mut() else {
        return Err(MergeError::NotAnObject);
    };
    object.insert("maxPods".to_owned(), Value::from(settings.max_pods));
    let mut merge_map =
        |field: &'static str, entries: Vec<(&str, String)>| -> Result<(), MergeError> {
            let map = object
                .entry(field)
                .or_insert_with(|| Value::Object(Map::new()));
            let Some(map) = map.as_object_mut() else {
                return Err(MergeError::FieldNotAnObject { field });
            };
            for (key, value) in entries {
                map.insert(key.to_owned(), Value::String(value));
            }
            Ok(())
        };
    merge_map("kubeReserved", settings.kube_reserved.entries().into())?;
    if let Some(system) = &settings.system_reserved {
        merge_map("systemReserved", system.entries().into())?;
    }
    let eviction = settings.eviction_hard.entries();
    merge_map(
        "evictionHard",
        eviction
            .into_iter()
            .map(|(k, v)| (k, v.to_owned()))
            .collect(),
    )?;
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubelet::settings::tests::m5_large as m5;
    use crate::kubelet::tests::targets_in;

    fn merged(existing: &str) -> Result<String, MergeError> {
        merge_kubelet_config(existing, &m5())
            .map(|doc| format::to_json("KubeletConfiguration", &doc).unwrap())
    }

    #[test]
    fn kubelet_config_merge_keeps_foreign_fields_and_order() {
        let existing = r#"{"kind":"KubeletConfiguration","apiVersion":"kubelet.config.k8s.io/v1beta1",
            "clusterDNS":["10.100.0.10"],"maxPods":110,
            "kubeReserved":{"cpu":"10m","pid":"1000"},
            "evictionHard":{"pid.available":"5%","memory.available":"100Mi"},
            "providerID":"aws:///us-east-1a/i-1"}"#;
        let text = merged(existing).unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&str> = doc
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "kind",
                "apiVersion",
                "clusterDNS",
                "maxPods",
                "kubeReserved",
                "evictionHard",
                "providerID",
                "systemReserved"
            ]
        );
        assert_eq!(doc["maxPods"], 29);
        assert_eq!(doc["clusterDNS"][0], "10.100.0.10");
        assert_eq!(doc["kubeReserved"]["cpu"], "70m");
        assert_eq!(doc["kubeReserved"]["pid"], "1000");
        assert_eq!(doc["evictionHard"]["pid.available"], "5%");
        assert_eq!(doc["evictionHard"]["memory.available"], "200Mi");
        assert_eq!(doc["evictionHard"]["imagefs.inodesFree"], "5%");
        assert_eq!(doc["providerID"], "aws:///us-east-1a/i-1");
        // Merging again changes nothing.
        assert_eq!(merged(&text).unwrap(), text);
        assert!(matches!(merged("[1]"), Err(MergeError::NotAnObject)));
        assert!(matches!(merged("maxPods: 3"), Err(MergeError::NotJson(_))));
        assert_eq!(
            merged(r#"{"kubeReserved":"x"}"#).unwrap_err().to_string(),
            "kubeReserved: expected an object"
        );
    }

    #[test]
    fn env_file_keeps_user_flags_and_lines() {
        let env = |existing: &str| {
            render(
                Backend::Flags,
                Path::new("kubelet"),
                &m5(),
                "",
                Some(existing),
            )
            .unwrap()
        };
        let existing = "# managed by the AMI\nKUBELET_EXTRA_ARGS=\"--node-labels=a=b --max-pods 58 --kube-reserved=cpu=1\"\nOTHER=1\n";
        let merged = env(existing);
        let lines: Vec<&str> = merged.lines().collect();
        assert_eq!(lines[0], "# managed by the AMI");
        assert!(
            lines[1].starts_with(
                "KUBELET_EXTRA_ARGS=\"--node-labels=a=b --max-pods=29 --kube-reserved=cpu=70m,"
            ),
            "{}",
            lines[1]
        );
        assert_eq!(lines[1].matches("--max-pods").count(), 1);
        assert_eq!(lines[1].matches("--kube-reserved").count(), 1);
        assert_eq!(lines[2], "OTHER=1");
        assert_eq!(env(&merged), merged, "idempotent");
        let fresh = env("");
        assert_eq!(fresh.lines().count(), 1);
        assert!(fresh.starts_with("KUBELET_EXTRA_ARGS=\"--max-pods=29 "));
    }

    #[test]
    fn detection_order() {
        let dir = tempfile::tempdir().unwrap();
        let targets = targets_in(dir.path());
        let err = detect(&targets).unwrap_err().to_string();
        assert!(
            err.contains("nodeadm.d") && err.contains("kubelet.env") && err.contains("--backend"),
            "{err}"
        );
        std::fs::write(&targets.kubelet_env_file, "").unwrap();
        assert_eq!(detect(&targets).unwrap().0, Backend::Flags);
        std::fs::write(&targets.kubelet_config, "{}").unwrap();
        assert_eq!(detect(&targets).unwrap().0, Backend::KubeletConfig);
        std::fs::create_dir(&targets.kubelet_config_dir).unwrap();
        assert_eq!(detect(&targets).unwrap().0, Backend::KubeletDropin);
        std::fs::create_dir(&targets.nodeadm_config_dir).unwrap();
        let (backend, why) = detect(&targets).unwrap();
        assert_eq!(backend, Backend::Nodeadm);
        assert!(why.ends_with("nodeadm.d"));
        assert!(target_path(backend, &targets).ends_with("nodeadm.d/40-nodecap.yaml"));
    }
}
