//! The kubelet side: the settings a sizing decides ([`settings`]), their wire formats
//! ([`render`]), where `init` writes them and how it merges them into files it does not own
//! ([`backend`], [`flags`]), and what the kubelet's files say it runs with ([`files`]).
//!
//! Pure except [`backend::detect`] and [`files::read`], which look at the node's files; every
//! write goes through [`crate::file::write_atomic`].

pub mod backend;
pub mod files;
pub mod flags;
pub mod render;
pub mod settings;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where `init` writes the kubelet's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    Auto,
    Nodeadm,
    KubeletDropin,
    KubeletConfig,
    Flags,
}

impl Backend {
    /// Every backend, `auto` first, then in the order `auto` tries them.
    pub const ALL: [Backend; 5] = [
        Backend::Auto,
        Backend::Nodeadm,
        Backend::KubeletDropin,
        Backend::KubeletConfig,
        Backend::Flags,
    ];
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Auto => "auto",
            Backend::Nodeadm => "nodeadm",
            Backend::KubeletDropin => "kubelet-dropin",
            Backend::KubeletConfig => "kubelet-config",
            Backend::Flags => "flags",
        })
    }
}

/// The kubelet's files on this node, and the backend `init` writes through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    pub backend: Backend,
    /// nodeadm's `NodeConfig` drop-in directory (AL2023).
    pub nodeadm_config_dir: PathBuf,
    /// The kubelet's `--config-dir`.
    pub kubelet_config_dir: PathBuf,
    /// The kubelet's `--config` file.
    pub kubelet_config: PathBuf,
    /// The environment file with `KUBELET_EXTRA_ARGS`.
    pub kubelet_env_file: PathBuf,
    /// The name of nodecap's drop-ins, without extension.
    pub dropin_name: String,
}

impl Default for Targets {
    /// Where the EKS AMIs put them.
    fn default() -> Self {
        Targets {
            backend: Backend::Auto,
            nodeadm_config_dir: PathBuf::from("/etc/eks/nodeadm.d"),
            kubelet_config_dir: PathBuf::from("/etc/kubernetes/kubelet/config.json.d"),
            kubelet_config: PathBuf::from("/etc/kubernetes/kubelet/config.json"),
            kubelet_env_file: PathBuf::from("/etc/default/kubelet"),
            dropin_name: "40-nodecap".to_owned(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The kubelet's files under `root`, named as on a node.
    pub(crate) fn targets_in(root: &std::path::Path) -> Targets {
        Targets {
            backend: Backend::Auto,
            nodeadm_config_dir: root.join("nodeadm.d"),
            kubelet_config_dir: root.join("config.json.d"),
            kubelet_config: root.join("config.json"),
            kubelet_env_file: root.join("kubelet.env"),
            dropin_name: "40-nodecap".to_owned(),
        }
    }
}
