//! Wire formats for the kubelet settings a [`Sizing`] decides: a `KubeletConfiguration`, kubelet
//! flags, a nodeadm `NodeConfig`, Bottlerocket settings and a Karpenter `EC2NodeClass` block.
//! Pure functions from the sizing to text; `init` writes these same strings to disk.
//!
//! Shapes are from reference/kubelet.md §6–9: only the keys `cpu`, `memory` and
//! `ephemeral-storage` in reserved maps (Bottlerocket rejects `pid`), every value a quoted
//! string, and the complete `evictionHard` map the profile chose.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::sizing::{Reservation, Sizing};

/// The `KubeletConfiguration` fields nodecap owns, in the kubelet's JSON names. Every format
/// is rendered from this one value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeletSettings {
    pub max_pods: u32,
    pub kube_reserved: BTreeMap<&'static str, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_reserved: Option<BTreeMap<&'static str, String>>,
    pub eviction_hard: BTreeMap<&'static str, &'static str>,
}

impl KubeletSettings {
    pub fn from_sizing(sizing: &Sizing<'_>) -> Self {
        KubeletSettings {
            max_pods: sizing.max_pods,
            kube_reserved: reservation_map(&sizing.kube_reserved),
            system_reserved: sizing.system_reserved.as_ref().map(reservation_map),
            eviction_hard: sizing.eviction_hard.iter().copied().collect(),
        }
    }
}

/// `{cpu: "70m", ephemeral-storage: "1Gi", memory: "574Mi"}`.
fn reservation_map(r: &Reservation) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("cpu", format!("{}m", r.cpu_millis)),
        ("memory", format!("{}Mi", r.memory_mib)),
        (
            "ephemeral-storage",
            format!("{}Gi", r.ephemeral_storage_gib),
        ),
    ])
}

pub const KUBELET_API_VERSION: &str = "kubelet.config.k8s.io/v1beta1";
pub const NODECONFIG_API_VERSION: &str = "node.eks.aws/v1alpha1";

/// A complete `KubeletConfiguration` JSON document: valid as a `--config-dir` drop-in, which
/// must carry `apiVersion` and `kind` (reference/kubelet.md §4.2).
pub fn kubelet_config(settings: &KubeletSettings) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Document<'a> {
        api_version: &'static str,
        kind: &'static str,
        #[serde(flatten)]
        settings: &'a KubeletSettings,
    }
    let doc = Document {
        api_version: KUBELET_API_VERSION,
        kind: "KubeletConfiguration",
        settings,
    };
    to_json(&doc)
}

/// Kubelet flags on one line, in the syntax the kubelet's map flags parse: `k=v` pairs for
/// reservations, `signal<value` pairs for eviction (reference/kubelet.md §6). A map flag
/// replaces the config file's whole map, which is why every key is always given. Quote the
/// line in a shell (`<`); an `EnvironmentFile` needs no quoting.
pub fn kubelet_flags(settings: &KubeletSettings) -> String {
    let join = |map: &BTreeMap<&str, String>, sep: char| {
        map.iter()
            .map(|(k, v)| format!("{k}{sep}{v}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut flags = vec![
        format!("--max-pods={}", settings.max_pods),
        format!("--kube-reserved={}", join(&settings.kube_reserved, '=')),
    ];
    if let Some(system) = &settings.system_reserved {
        flags.push(format!("--system-reserved={}", join(system, '=')));
    }
    let eviction: BTreeMap<&str, String> = settings
        .eviction_hard
        .iter()
        .map(|(k, v)| (*k, (*v).to_owned()))
        .collect();
    flags.push(format!("--eviction-hard={}", join(&eviction, '<')));
    let mut line = flags.join(" ");
    line.push('\n');
    line
}

/// A nodeadm `NodeConfig` drop-in for `/etc/eks/nodeadm.d/` (AL2023): `spec.kubelet.config`
/// holds the settings; nodeadm adds `apiVersion`/`kind` when it writes its kubelet drop-in.
pub fn nodeconfig(settings: &KubeletSettings, header: &str) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct NodeConfig<'a> {
        api_version: &'static str,
        kind: &'static str,
        spec: Spec<'a>,
    }
    #[derive(Serialize)]
    struct Spec<'a> {
        kubelet: Kubelet<'a>,
    }
    #[derive(Serialize)]
    struct Kubelet<'a> {
        config: &'a KubeletSettings,
    }
    let doc = NodeConfig {
        api_version: NODECONFIG_API_VERSION,
        kind: "NodeConfig",
        spec: Spec {
            kubelet: Kubelet { config: settings },
        },
    };
    with_header(header, "#", &to_yaml(&doc))
}

/// A Karpenter `EC2NodeClass` `spec.kubelet` block (v1 API; reference/kubelet.md §7).
pub fn karpenter(settings: &KubeletSettings, header: &str) -> String {
    #[derive(Serialize)]
    struct Doc<'a> {
        spec: Spec<'a>,
    }
    #[derive(Serialize)]
    struct Spec<'a> {
        kubelet: &'a KubeletSettings,
    }
    let doc = Doc {
        spec: Spec { kubelet: settings },
    };
    with_header(header, "#", &to_yaml(&doc))
}

/// Bottlerocket user data: `settings.kubernetes` keys (reference/kubelet.md §8). Eviction
/// signals contain dots, so the TOML encoder quotes them.
pub fn bottlerocket(settings: &KubeletSettings, header: &str) -> String {
    #[derive(Serialize)]
    struct Doc<'a> {
        settings: Settings<'a>,
    }
    #[derive(Serialize)]
    struct Settings<'a> {
        kubernetes: Kubernetes<'a>,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "kebab-case")]
    struct Kubernetes<'a> {
        max_pods: u32,
        kube_reserved: &'a BTreeMap<&'static str, String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        system_reserved: Option<&'a BTreeMap<&'static str, String>>,
        eviction_hard: &'a BTreeMap<&'static str, &'static str>,
    }
    let doc = Doc {
        settings: Settings {
            kubernetes: Kubernetes {
                max_pods: settings.max_pods,
                kube_reserved: &settings.kube_reserved,
                system_reserved: settings.system_reserved.as_ref(),
                eviction_hard: &settings.eviction_hard,
            },
        },
    };
    // Serializing these plain maps cannot fail; an empty string would fail the golden tests.
    let body = toml::to_string(&doc).unwrap_or_default();
    with_header(header, "#", &body)
}

/// Pretty JSON with a trailing newline.
pub fn to_json<T: Serialize>(value: &T) -> String {
    // Serializing plain structs and string maps cannot fail.
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// YAML with every string value quoted: `"15%"` stays a string for any YAML reader, and a
/// future numeric-looking value cannot turn into a number the kubelet rejects
/// (reference/kubelet.md §1, serialization tips).
fn to_yaml<T: Serialize>(value: &T) -> String {
    let options = serde_saphyr::ser_options! { quote_all: true };
    serde_saphyr::to_string_with_options(value, options).unwrap_or_default()
}

fn with_header(header: &str, comment: &str, body: &str) -> String {
    let mut out = String::new();
    for line in header.lines() {
        out.push_str(comment);
        out.push(' ');
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(body);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::instance::{Source, lookup_embedded};
    use crate::sizing::{SizingOptions, size};

    /// The default sizing of an m5.large, for tests of every module that renders it.
    pub(crate) fn m5_large() -> KubeletSettings {
        let facts = lookup_embedded("m5.large").unwrap();
        KubeletSettings::from_sizing(&size(facts, Source::Embedded, &SizingOptions::default()))
    }

    #[test]
    fn kubelet_config_has_the_values_and_gvk() {
        let json: serde_json::Value = serde_json::from_str(&kubelet_config(&m5_large())).unwrap();
        assert_eq!(json["apiVersion"], KUBELET_API_VERSION);
        assert_eq!(json["kind"], "KubeletConfiguration");
        assert_eq!(json["maxPods"], 29);
        assert_eq!(json["kubeReserved"]["cpu"], "70m");
        assert_eq!(json["kubeReserved"]["memory"], "574Mi");
        assert_eq!(json["kubeReserved"]["ephemeral-storage"], "1Gi");
        assert_eq!(json["systemReserved"]["memory"], "200Mi");
        assert_eq!(json["evictionHard"].as_object().unwrap().len(), 5);
        assert_eq!(json["evictionHard"]["imagefs.inodesFree"], "5%");
    }

    #[test]
    fn flags_use_the_kubelet_map_syntax() {
        let line = kubelet_flags(&m5_large());
        assert!(line.starts_with(
            "--max-pods=29 --kube-reserved=cpu=70m,ephemeral-storage=1Gi,memory=574Mi "
        ));
        assert!(line.contains(" --eviction-hard=imagefs.available<15%,imagefs.inodesFree<5%,"));
        assert_eq!(line.lines().count(), 1);
    }

    #[test]
    fn yaml_and_toml_parse_back_to_the_same_values() {
        let settings = m5_large();
        let yaml = nodeconfig(&settings, "header");
        let doc: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(doc["spec"]["kubelet"]["config"]["maxPods"], 29);
        assert_eq!(
            doc["spec"]["kubelet"]["config"]["evictionHard"]["memory.available"],
            "200Mi"
        );
        let toml_text = bottlerocket(&settings, "header");
        let doc: toml::Value = toml::from_str(&toml_text).unwrap();
        let k8s = &doc["settings"]["kubernetes"];
        assert_eq!(k8s["max-pods"].as_integer(), Some(29));
        assert_eq!(
            k8s["eviction-hard"]["nodefs.available"].as_str(),
            Some("10%")
        );
        assert_eq!(k8s["kube-reserved"]["memory"].as_str(), Some("574Mi"));
    }
}
