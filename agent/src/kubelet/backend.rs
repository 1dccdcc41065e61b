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
//! and the merge functions are pure.

use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::config::{Backend, KubeletTargets};
use crate::render::{self, KubeletSettings};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "cannot tell where the kubelet reads its settings: none of {0} exists; set kubelet.backend \
         (--backend nodeadm|kubelet-dropin|kubelet-config|flags)"
    )]
    NotDetected(String),
    #[error("{path}: {what}")]
    Existing { path: PathBuf, what: String },
}

/// The backend `auto` picks: the first whose target exists, in the order nodeadm's drop-in
/// directory, the kubelet's `--config-dir`, the kubelet's config file, the environment file.
/// Returns the backend and why it was chosen.
pub fn detect(targets: &KubeletTargets) -> Result<(Backend, String), Error> {
    let candidates = [
        (Backend::Nodeadm, &targets.nodeadm_config_dir),
        (Backend::KubeletDropin, &targets.kubelet_config_dir),
        (Backend::KubeletConfig, &targets.kubelet_config),
        (Backend::Flags, &targets.kubelet_env_file),
    ];
    for (backend, path) in candidates {
        if path.exists() {
            return Ok((backend, format!("{} exists", path.display())));
        }
    }
    Err(Error::NotDetected(
        candidates
            .iter()
            .map(|(_, p)| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    ))
}

/// The file a backend writes.
pub fn target_path(backend: Backend, targets: &KubeletTargets) -> PathBuf {
    let name = &targets.dropin_name;
    match backend {
        Backend::Nodeadm | Backend::Auto => targets.nodeadm_config_dir.join(format!("{name}.yaml")),
        Backend::KubeletDropin => targets.kubelet_config_dir.join(format!("{name}.conf")),
        Backend::KubeletConfig => targets.kubelet_config.clone(),
        Backend::Flags => targets.kubelet_env_file.clone(),
    }
}

/// What the backend's file must contain. `existing` is the file's current content, needed by
/// the merging backends (`kubelet-config` requires it).
pub fn render(
    backend: Backend,
    path: &std::path::Path,
    settings: &KubeletSettings,
    header: &str,
    existing: Option<&str>,
) -> Result<String, Error> {
    match backend {
        Backend::Nodeadm | Backend::Auto => Ok(render::nodeconfig(settings, header)),
        Backend::KubeletDropin => Ok(render::kubelet_config(settings)),
        Backend::KubeletConfig => {
            let existing = existing.ok_or_else(|| Error::Existing {
                path: path.to_owned(),
                what: "the kubelet config file to merge into does not exist".to_owned(),
            })?;
            merge_kubelet_config(existing, settings).map_err(|what| Error::Existing {
                path: path.to_owned(),
                what,
            })
        }
        Backend::Flags => Ok(merge_env_file(existing.unwrap_or_default(), settings)),
    }
}

/// Sets maxPods and nodecap's keys of kubeReserved, systemReserved and evictionHard in a
/// kubelet config JSON. Every other field, and other keys of those maps, keep their values and
/// their order.
pub fn merge_kubelet_config(existing: &str, settings: &KubeletSettings) -> Result<String, String> {
    let mut doc: Value = serde_json::from_str(existing)
        .map_err(|e| format!("expected a KubeletConfiguration JSON object: {e}"))?;
    let Some(object) = doc.as_object_mut() else {
        return Err("expected a KubeletConfiguration JSON object".to_owned());
    };
    object.insert("maxPods".to_owned(), Value::from(settings.max_pods));
    let mut merge_map = |field: &str, entries: Vec<(&str, String)>| -> Result<(), String> {
        let map = object
            .entry(field)
            .or_insert_with(|| Value::Object(Map::new()));
        let Some(map) = map.as_object_mut() else {
            return Err(format!("{field}: expected an object"));
        };
        for (key, value) in entries {
            map.insert(key.to_owned(), Value::String(value));
        }
        Ok(())
    };
    merge_map(
        "kubeReserved",
        settings
            .kube_reserved
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect(),
    )?;
    if let Some(system) = &settings.system_reserved {
        merge_map(
            "systemReserved",
            system.iter().map(|(k, v)| (*k, v.clone())).collect(),
        )?;
    }
    merge_map(
        "evictionHard",
        settings
            .eviction_hard
            .iter()
            .map(|(k, v)| (*k, (*v).to_owned()))
            .collect(),
    )?;
    Ok(render::to_json(&doc))
}

const EXTRA_ARGS: &str = "KUBELET_EXTRA_ARGS";

/// Sets `KUBELET_EXTRA_ARGS` in an environment file: the user's own flags stay, the flags
/// nodecap sets (`--max-pods`, `--kube-reserved`, `--system-reserved`, `--eviction-hard`)
/// are replaced. Other lines are kept as they are.
pub fn merge_env_file(existing: &str, settings: &KubeletSettings) -> String {
    let flags = render::kubelet_flags(settings);
    let ours: Vec<&str> = flags.split_whitespace().collect();
    let owned: Vec<&str> = ours
        .iter()
        .filter_map(|flag| flag.split_once('=').map(|(name, _)| name))
        .collect();
    let assignment = |mut args: Vec<String>| {
        args.extend(ours.iter().map(|flag| (*flag).to_owned()));
        format!("{EXTRA_ARGS}=\"{}\"", args.join(" "))
    };
    let mut found = false;
    let mut lines: Vec<String> = Vec::new();
    for line in existing.lines() {
        match line
            .strip_prefix(EXTRA_ARGS)
            .and_then(|rest| rest.strip_prefix('='))
        {
            Some(value) if !found => {
                found = true;
                lines.push(assignment(without_flags(unquote(value), &owned)));
            }
            _ => lines.push(line.to_owned()),
        }
    }
    if !found {
        lines.push(assignment(Vec::new()));
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

fn unquote(value: &str) -> &str {
    let v = value.trim();
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

/// Drops `--name=value` and `--name value` for every owned name.
fn without_flags(args: &str, owned: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut tokens = args.split_whitespace();
    while let Some(token) = tokens.next() {
        let name = token.split_once('=').map_or(token, |(n, _)| n);
        if owned.contains(&name) {
            if !token.contains('=') {
                tokens.next();
            }
            continue;
        }
        out.push(token.to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::tests::m5_large as m5;

    #[test]
    fn kubelet_config_merge_keeps_foreign_fields_and_order() {
        let existing = r#"{"kind":"KubeletConfiguration","apiVersion":"kubelet.config.k8s.io/v1beta1",
            "clusterDNS":["10.100.0.10"],"maxPods":110,
            "kubeReserved":{"cpu":"10m","pid":"1000"},
            "evictionHard":{"pid.available":"5%","memory.available":"100Mi"},
            "providerID":"aws:///us-east-1a/i-1"}"#;
        let merged = merge_kubelet_config(existing, &m5()).unwrap();
        let doc: Value = serde_json::from_str(&merged).unwrap();
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
        assert_eq!(merge_kubelet_config(&merged, &m5()).unwrap(), merged);
        assert!(
            merge_kubelet_config("[1]", &m5())
                .unwrap_err()
                .contains("JSON object")
        );
        assert!(
            merge_kubelet_config("maxPods: 3", &m5())
                .unwrap_err()
                .contains("JSON object")
        );
        assert!(
            merge_kubelet_config(r#"{"kubeReserved":"x"}"#, &m5())
                .unwrap_err()
                .contains("kubeReserved")
        );
    }

    #[test]
    fn env_file_keeps_user_flags_and_lines() {
        let existing = "# managed by the AMI\nKUBELET_EXTRA_ARGS=\"--node-labels=a=b --max-pods 58 --kube-reserved=cpu=1\"\nOTHER=1\n";
        let merged = merge_env_file(existing, &m5());
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
        assert_eq!(merge_env_file(&merged, &m5()), merged, "idempotent");
        let fresh = merge_env_file("", &m5());
        assert_eq!(fresh.lines().count(), 1);
        assert!(fresh.starts_with("KUBELET_EXTRA_ARGS=\"--max-pods=29 "));
    }

    #[test]
    fn detection_order() {
        let dir = tempfile::tempdir().unwrap();
        let targets = KubeletTargets {
            backend: Backend::Auto,
            nodeadm_config_dir: dir.path().join("nodeadm.d"),
            kubelet_config_dir: dir.path().join("config.json.d"),
            kubelet_config: dir.path().join("config.json"),
            kubelet_env_file: dir.path().join("kubelet.env"),
            dropin_name: "40-nodecap".to_owned(),
        };
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
        assert!(why.ends_with("nodeadm.d exists"));
        assert!(target_path(backend, &targets).ends_with("nodeadm.d/40-nodecap.yaml"));
    }
}
