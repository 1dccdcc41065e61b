//! Wire formats for [`KubeletSettings`]: a `KubeletConfiguration`, kubelet flags, a nodeadm
//! `NodeConfig`, Bottlerocket settings and a Karpenter `EC2NodeClass` block. Pure functions
//! from the settings to text; `init` writes these same strings to disk.
//!
//! Shapes are the consumers' own (docs/kubelet.md): only the keys `cpu`, `memory` and
//! `ephemeral-storage` in reserved maps, every value a quoted string, and the complete
//! `evictionHard` map the profile chose. Every serialized document returns a `Result`: one
//! that cannot be encoded is an error, never an empty file; the kubelet flags are plain text
//! and cannot fail.

use serde::Serialize;

use super::settings::{EvictionHard, KubeletSettings, Reserved};

/// A document that could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot encode the {format} document")]
    Json {
        format: &'static str,
        source: serde_json::Error,
    },
    #[error("cannot encode the {format} document")]
    Yaml {
        format: &'static str,
        source: serde_saphyr::SerializeError,
    },
    #[error("cannot encode the {format} document")]
    Toml {
        format: &'static str,
        source: toml::ser::Error,
    },
}

const KUBELET_API_VERSION: &str = "kubelet.config.k8s.io/v1beta1";
const NODECONFIG_API_VERSION: &str = "node.eks.aws/v1alpha1";

/// A complete `KubeletConfiguration` JSON document: valid as a `--config-dir` drop-in, which
/// must carry `apiVersion` and `kind` (kubernetes/kubernetes `cmd/kubelet/app/server.go`
/// `mergeKubeletConfigurations`; docs/kubelet.md).
pub fn kubelet_config(settings: &KubeletSettings) -> Result<String, Error> {
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
    to_json("KubeletConfiguration", &doc)
}

/// Kubelet flags on one line, in the syntax the kubelet's map flags parse: `k=v` pairs for
/// reservations, `signal<value` pairs for eviction (docs/kubelet.md "Flags"). A map flag
/// replaces the config file's whole map, which is why every key is always given. Quote the
/// line in a shell (`<`); an `EnvironmentFile` needs no quoting.
pub fn kubelet_flags(settings: &KubeletSettings) -> String {
    let mut line = kubelet_flag_list(settings).join(" ");
    line.push('\n');
    line
}

/// The flags of [`kubelet_flags`], one string each (what the flags backend merges).
pub fn kubelet_flag_list(settings: &KubeletSettings) -> Vec<String> {
    fn join<V: std::fmt::Display>(
        entries: impl IntoIterator<Item = (&'static str, V)>,
        sep: char,
    ) -> String {
        entries
            .into_iter()
            .map(|(k, v)| format!("{k}{sep}{v}"))
            .collect::<Vec<_>>()
            .join(",")
    }
    let mut flags = vec![
        format!("--max-pods={}", settings.max_pods),
        format!(
            "--kube-reserved={}",
            join(settings.kube_reserved.entries(), '=')
        ),
    ];
    if let Some(system) = &settings.system_reserved {
        flags.push(format!("--system-reserved={}", join(system.entries(), '=')));
    }
    flags.push(format!(
        "--eviction-hard={}",
        join(settings.eviction_hard.entries(), '<')
    ));
    flags
}

/// A nodeadm `NodeConfig` drop-in for `/etc/eks/nodeadm.d/` (AL2023): `spec.kubelet.config`
/// holds the settings; nodeadm adds `apiVersion`/`kind` when it writes its kubelet drop-in.
pub fn nodeconfig(settings: &KubeletSettings, header: &str) -> Result<String, Error> {
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
    Ok(with_header(header, "#", &to_yaml("NodeConfig", &doc)?))
}

/// A Karpenter `EC2NodeClass` `spec.kubelet` block (v1 API; aws/karpenter-provider-aws
/// `pkg/apis/v1/ec2nodeclass.go`; docs/kubelet.md).
pub fn karpenter(settings: &KubeletSettings, header: &str) -> Result<String, Error> {
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
    Ok(with_header(header, "#", &to_yaml("EC2NodeClass", &doc)?))
}

/// Bottlerocket user data: `settings.kubernetes` keys (docs/kubelet.md "Bottlerocket").
/// Eviction signals contain dots, so the TOML encoder quotes them.
pub fn bottlerocket(settings: &KubeletSettings, header: &str) -> Result<String, Error> {
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
        kube_reserved: &'a Reserved,
        #[serde(skip_serializing_if = "Option::is_none")]
        system_reserved: Option<&'a Reserved>,
        eviction_hard: &'a EvictionHard,
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
    let body = toml::to_string(&doc).map_err(|source| Error::Toml {
        format: "Bottlerocket settings",
        source,
    })?;
    Ok(with_header(header, "#", &body))
}

/// Pretty JSON with a trailing newline; `format` names the document in an error.
pub fn to_json<T: Serialize>(format: &'static str, value: &T) -> Result<String, Error> {
    let mut text =
        serde_json::to_string_pretty(value).map_err(|source| Error::Json { format, source })?;
    text.push('\n');
    Ok(text)
}

/// YAML with every string value quoted: `"15%"` stays a string for any YAML reader, and a
/// future numeric-looking value cannot turn into a number the kubelet rejects
/// (docs/kubelet.md "The fields nodecap writes").
fn to_yaml<T: Serialize>(format: &'static str, value: &T) -> Result<String, Error> {
    let options = serde_saphyr::ser_options! { quote_all: true };
    serde_saphyr::to_string_with_options(value, options)
        .map_err(|source| Error::Yaml { format, source })
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
mod tests {
    use super::*;
    use crate::kubelet::settings::tests::m5_large;

    #[test]
    fn kubelet_config_has_the_values_and_gvk() {
        let json: serde_json::Value =
            serde_json::from_str(&kubelet_config(&m5_large()).unwrap()).unwrap();
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
        let yaml = nodeconfig(&settings, "header").unwrap();
        let doc: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(doc["spec"]["kubelet"]["config"]["maxPods"], 29);
        assert_eq!(
            doc["spec"]["kubelet"]["config"]["evictionHard"]["memory.available"],
            "200Mi"
        );
        let toml_text = bottlerocket(&settings, "header").unwrap();
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
