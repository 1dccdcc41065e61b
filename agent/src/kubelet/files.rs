//! What the kubelet runs with: `maxPods` and the memory of `kubeReserved` and
//! `systemReserved`, read from the files that configure it, in the order the kubelet (and
//! nodeadm before it) applies them — later wins:
//!
//! 1. nodeadm `NodeConfig` drop-ins (`spec.kubelet.config`), by file name;
//! 2. the kubelet's config file;
//! 3. the kubelet's `--config-dir` drop-ins (`*.conf`), by file name;
//! 4. `KUBELET_EXTRA_ARGS` flags in the environment file (flags beat files).
//!
//! JSON and YAML are both read (YAML through `serde-saphyr`), `KUBELET_EXTRA_ARGS` through
//! [`flags`]. `Ok(None)` when none of these files is on the node; a file that does not parse
//! is an error naming the file.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Targets, flags};
use crate::core::excerpt::{Excerpt, MAX_CHARS, clip};

/// The kubelet's effective settings, each with the file it came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubeletView {
    /// With the file it came from and that file's format (to write a fix in).
    pub max_pods: Option<(u32, PathBuf, Format)>,
    pub kube_reserved_memory: Option<(u64, PathBuf)>,
    pub system_reserved_memory: Option<(u64, PathBuf)>,
    /// Every file read, in order.
    pub files: Vec<PathBuf>,
}

/// One file's contribution.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settings {
    pub max_pods: Option<u32>,
    pub kube_reserved_memory: Option<u64>,
    pub system_reserved_memory: Option<u64>,
}

/// A kubelet file that cannot be read or understood.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Read(#[from] crate::file::ReadError),
    #[error("{path}")]
    ReadDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}")]
    Parse { path: PathBuf, source: ParseError },
}

/// What is wrong with a kubelet file's content.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("expected JSON or YAML: {detail}")]
    NotDocument { detail: String },
    #[error("expected a KubeletConfiguration object")]
    NotAnObject,
    #[error("maxPods: expected a pod count, got {value}")]
    MaxPods { value: Excerpt },
    #[error("{map}.memory: expected a quantity string such as \"574Mi\", got {value}")]
    MemoryNotAString { map: &'static str, value: Excerpt },
    #[error("{field}")]
    Quantity {
        field: &'static str,
        source: QuantityError,
    },
    #[error("--max-pods: expected a pod count, got {value}")]
    MaxPodsFlag { value: Excerpt },
    #[error(transparent)]
    Flags(#[from] flags::Error),
}

/// A Kubernetes quantity nodecap cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a quantity such as 574Mi or 1Gi, got {0}")]
pub struct QuantityError(Excerpt);

/// The formats the kubelet's settings are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// nodeadm's `NodeConfig` (`spec.kubelet.config`).
    NodeConfig,
    /// A `KubeletConfiguration` file or `--config-dir` drop-in.
    KubeletConfig,
    /// `KUBELET_EXTRA_ARGS` in an environment file.
    EnvFile,
}

impl Format {
    /// The line that sets maxPods to `n` in this format.
    pub fn max_pods_line(self, n: u32) -> String {
        match self {
            Format::NodeConfig => format!("spec.kubelet.config.maxPods: {n}"),
            Format::KubeletConfig => format!("\"maxPods\": {n}"),
            Format::EnvFile => format!("--max-pods={n} in KUBELET_EXTRA_ARGS"),
        }
    }
}

fn read_file(path: &Path) -> Result<String, Error> {
    Ok(crate::file::read_text(path, crate::file::MAX_CONFIG_FILE)?)
}

fn parse_error(path: &Path) -> impl FnOnce(ParseError) -> Error + '_ {
    move |source| Error::Parse {
        path: path.to_owned(),
        source,
    }
}

/// Reads the files of `targets`: `Ok(None)` when none exists.
pub fn read(targets: &Targets) -> Result<Option<KubeletView>, Error> {
    let mut files = Vec::new();
    files.extend(
        dir_files(&targets.nodeadm_config_dir, &["yaml", "yml", "json"])?
            .into_iter()
            .map(|p| (p, Format::NodeConfig)),
    );
    if targets.kubelet_config.is_file() {
        files.push((targets.kubelet_config.clone(), Format::KubeletConfig));
    }
    files.extend(
        dir_files(&targets.kubelet_config_dir, &["conf"])?
            .into_iter()
            .map(|p| (p, Format::KubeletConfig)),
    );
    if targets.kubelet_env_file.is_file() {
        files.push((targets.kubelet_env_file.clone(), Format::EnvFile));
    }
    if files.is_empty() {
        return Ok(None);
    }
    let mut view = KubeletView::default();
    for (path, kind) in files {
        let text = read_file(&path)?;
        let settings = match kind {
            Format::NodeConfig => parse_nodeconfig(&text),
            Format::KubeletConfig => parse_kubelet_config(&text),
            Format::EnvFile => parse_env_file(&text),
        }
        .map_err(parse_error(&path))?;
        if let Some(n) = settings.max_pods {
            view.max_pods = Some((n, path.clone(), kind));
        }
        if let Some(n) = settings.kube_reserved_memory {
            view.kube_reserved_memory = Some((n, path.clone()));
        }
        if let Some(n) = settings.system_reserved_memory {
            view.system_reserved_memory = Some((n, path.clone()));
        }
        view.files.push(path);
    }
    Ok(Some(view))
}

/// The labels the kubelet registers the node with (`--node-labels`): from nodeadm
/// `NodeConfig` drop-ins' `spec.kubelet.flags`, then `KUBELET_EXTRA_ARGS` in the environment
/// file; a later value for a key wins.
pub fn node_labels(targets: &Targets) -> Result<Vec<(String, String)>, Error> {
    let mut args: Vec<String> = Vec::new();
    for path in dir_files(&targets.nodeadm_config_dir, &["yaml", "yml", "json"])? {
        let doc = parse_document(&read_file(&path)?).map_err(parse_error(&path))?;
        if let Some(Value::Array(list)) = doc.pointer("/spec/kubelet/flags") {
            args.extend(list.iter().filter_map(Value::as_str).map(str::to_owned));
        }
    }
    let path = &targets.kubelet_env_file;
    if path.is_file() {
        let text = read_file(path)?;
        args.extend(flags::extra_args(&text).map_err(|e| parse_error(path)(ParseError::Flags(e)))?);
    }
    // A `--node-labels` without a value labels nothing.
    let values = flags::values_of(&args, "--node-labels").unwrap_or_default();
    let mut labels: Vec<(String, String)> = Vec::new();
    for value in values {
        for pair in value.split(',').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            labels.retain(|(k, _)| k != key);
            labels.push((key.to_owned(), value.to_owned()));
        }
    }
    Ok(labels)
}

fn dir_files(dir: &Path, extensions: &[&str]) -> Result<Vec<PathBuf>, Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::ReadDir {
                path: dir.to_owned(),
                source,
            });
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| extensions.contains(&e))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// JSON (the common case, read by `serde_json`) or YAML (`serde-saphyr`; JSON is YAML too, so
/// a file either reads is read the same).
fn parse_document(text: &str) -> Result<Value, ParseError> {
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        return Ok(value);
    }
    serde_saphyr::from_str::<Value>(text).map_err(|e| ParseError::NotDocument {
        detail: clip(
            e.to_string().lines().next().unwrap_or_default(),
            2 * MAX_CHARS,
        ),
    })
}

/// A `KubeletConfiguration` (file or drop-in), JSON or YAML.
pub fn parse_kubelet_config(text: &str) -> Result<Settings, ParseError> {
    let doc = parse_document(text)?;
    if doc.is_null() {
        return Ok(Settings::default());
    }
    if !doc.is_object() {
        return Err(ParseError::NotAnObject);
    }
    from_config(&doc)
}

/// A nodeadm `NodeConfig`: its `spec.kubelet.config`. Other documents (and other kinds in
/// a multi-document drop-in) contribute nothing.
pub fn parse_nodeconfig(text: &str) -> Result<Settings, ParseError> {
    let doc = parse_document(text)?;
    match doc.pointer("/spec/kubelet/config") {
        Some(config) => from_config(config),
        None => Ok(Settings::default()),
    }
}

fn from_config(config: &Value) -> Result<Settings, ParseError> {
    let max_pods = match config.get("maxPods") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| ParseError::MaxPods {
                    value: Excerpt::of(&v.to_string()),
                })?,
        ),
    };
    let memory = |map: &'static str, field: &'static str| -> Result<Option<u64>, ParseError> {
        match config.get(map).and_then(|m| m.get("memory")) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(q)) => parse_quantity(q)
                .map(Some)
                .map_err(|source| ParseError::Quantity { field, source }),
            Some(v) => Err(ParseError::MemoryNotAString {
                map,
                value: Excerpt::of(&v.to_string()),
            }),
        }
    };
    Ok(Settings {
        max_pods,
        kube_reserved_memory: memory("kubeReserved", "kubeReserved.memory")?,
        system_reserved_memory: memory("systemReserved", "systemReserved.memory")?,
    })
}

/// `KUBELET_EXTRA_ARGS` in an environment file: `--max-pods`, `--kube-reserved`,
/// `--system-reserved` (as `--flag=value` or `--flag value`; the last one wins).
pub fn parse_env_file(text: &str) -> Result<Settings, ParseError> {
    let args = flags::extra_args(text)?;
    let mut settings = Settings::default();
    for value in flags::values_of(&args, "--max-pods")? {
        settings.max_pods = Some(value.parse().map_err(|_| ParseError::MaxPodsFlag {
            value: Excerpt::of(value),
        })?);
    }
    for value in flags::values_of(&args, "--kube-reserved")? {
        settings.kube_reserved_memory =
            reserved_memory("--kube-reserved", value)?.or(settings.kube_reserved_memory);
    }
    for value in flags::values_of(&args, "--system-reserved")? {
        settings.system_reserved_memory =
            reserved_memory("--system-reserved", value)?.or(settings.system_reserved_memory);
    }
    Ok(settings)
}

fn reserved_memory(flag: &'static str, value: &str) -> Result<Option<u64>, ParseError> {
    for pair in value.split(',') {
        if let Some(q) = pair.strip_prefix("memory=") {
            return parse_quantity(q)
                .map(Some)
                .map_err(|source| ParseError::Quantity {
                    field: flag,
                    source,
                });
        }
    }
    Ok(None)
}

/// A Kubernetes memory quantity in bytes: `574Mi`, `1Gi`, `100M`, `1.5Gi`, `1e9`, `1024`.
pub fn parse_quantity(text: &str) -> Result<u64, QuantityError> {
    let bad = || QuantityError(Excerpt::of(text));
    let text = text.trim();
    let split = text
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let multiplier: f64 = match suffix {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        _ => return Err(bad()),
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    let bytes = (value * multiplier).ceil();
    if !(0.0..=9.0e18).contains(&bytes) {
        return Err(bad());
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Chain;
    use crate::kubelet::tests::targets_in;

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("574Mi").unwrap(), 574 * 1024 * 1024);
        assert_eq!(parse_quantity("1Gi").unwrap(), 1 << 30);
        assert_eq!(parse_quantity("100M").unwrap(), 100_000_000);
        assert_eq!(parse_quantity("1.5Gi").unwrap(), 3 << 29);
        assert_eq!(parse_quantity("1e3").unwrap(), 1000);
        assert_eq!(parse_quantity("1024").unwrap(), 1024);
        for bad in ["", "Mi", "5 apples", "-1Gi", "1.2.3"] {
            assert!(
                parse_quantity(bad)
                    .unwrap_err()
                    .to_string()
                    .contains("expected a quantity"),
                "{bad}"
            );
        }
    }

    #[test]
    fn kubelet_config_json_and_yaml() {
        let json = r#"{"kind":"KubeletConfiguration","maxPods":29,"kubeReserved":{"cpu":"70m","memory":"574Mi"},"systemReserved":{"memory":"200Mi"}}"#;
        let s = parse_kubelet_config(json).unwrap();
        assert_eq!(s.max_pods, Some(29));
        assert_eq!(s.kube_reserved_memory, Some(574 << 20));
        assert_eq!(s.system_reserved_memory, Some(200 << 20));
        let yaml =
            "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nmaxPods: 58\n";
        assert_eq!(parse_kubelet_config(yaml).unwrap().max_pods, Some(58));
        assert_eq!(parse_kubelet_config("").unwrap(), Settings::default());
        let err = |text: &str| Chain(&parse_kubelet_config(text).unwrap_err()).to_string();
        assert!(err(r#"{"maxPods":"many"}"#).starts_with("maxPods: expected a pod count"));
        assert!(err(r#"{"kubeReserved":{"memory":5}}"#).starts_with("kubeReserved.memory"));
        assert!(
            err(r#"{"kubeReserved":{"memory":"lots"}}"#)
                .starts_with("kubeReserved.memory: expected a quantity")
        );
        assert!(err("[1, 2]").contains("KubeletConfiguration"));
    }

    #[test]
    fn nodeconfig_dropin() {
        let yaml = "# Written by nodecap init\napiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  kubelet:\n    config:\n      maxPods: 29\n      kubeReserved:\n        memory: \"574Mi\"\n";
        let s = parse_nodeconfig(yaml).unwrap();
        assert_eq!(
            (s.max_pods, s.kube_reserved_memory),
            (Some(29), Some(574 << 20))
        );
        assert_eq!(
            parse_nodeconfig("kind: NodeConfig\nspec: {}\n").unwrap(),
            Settings::default()
        );
    }

    #[test]
    fn env_file_flags() {
        let text = "# kubelet flags\nKUBELET_EXTRA_ARGS=\"--node-labels=a=b --max-pods=29 --kube-reserved=cpu=70m,memory=574Mi --system-reserved memory=200Mi,cpu=100m\"\nOTHER=1\n";
        let s = parse_env_file(text).unwrap();
        assert_eq!(s.max_pods, Some(29));
        assert_eq!(s.kube_reserved_memory, Some(574 << 20));
        assert_eq!(s.system_reserved_memory, Some(200 << 20));
        assert_eq!(
            parse_env_file("KUBELET_EXTRA_ARGS='--max-pods 7'\n")
                .unwrap()
                .max_pods,
            Some(7)
        );
        assert!(
            parse_env_file("KUBELET_EXTRA_ARGS=--max-pods=lots")
                .unwrap_err()
                .to_string()
                .starts_with("--max-pods")
        );
        assert!(
            parse_env_file("KUBELET_EXTRA_ARGS=--max-pods")
                .unwrap_err()
                .to_string()
                .contains("expected a value")
        );
    }

    #[test]
    fn node_labels_from_nodeadm_flags_and_extra_args() {
        let root = tempfile::tempdir().unwrap();
        let p = |name: &str| root.path().join(name);
        std::fs::create_dir_all(p("nodeadm.d")).unwrap();
        std::fs::write(
            p("nodeadm.d/10-user.yaml"),
            "apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  kubelet:\n    flags:\n      - --node-labels=alpha.eksctl.io/cluster-name=bars,role=web\n      - --register-with-taints=a=b:NoSchedule\n",
        )
        .unwrap();
        std::fs::write(
            p("kubelet.env"),
            "KUBELET_EXTRA_ARGS=\"--max-pods=29 --node-labels role=batch,team\"\n",
        )
        .unwrap();
        let targets = targets_in(root.path());
        let labels = node_labels(&targets).unwrap();
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("alpha.eksctl.io/cluster-name", "bars"),
                ("role", "batch"),
                ("team", "")
            ]
        );
        std::fs::write(p("nodeadm.d/20-bad.yaml"), "spec: [").unwrap();
        let err = node_labels(&targets).unwrap_err();
        assert!(err.to_string().ends_with("20-bad.yaml"), "{err}");
    }

    #[test]
    fn later_files_win() {
        let root = tempfile::tempdir().unwrap();
        let p = |name: &str| root.path().join(name);
        std::fs::create_dir_all(p("nodeadm.d")).unwrap();
        std::fs::create_dir_all(p("config.json.d")).unwrap();
        std::fs::write(
            p("nodeadm.d/40-nodecap.yaml"),
            "kind: NodeConfig\nspec:\n  kubelet:\n    config:\n      maxPods: 29\n",
        )
        .unwrap();
        std::fs::write(
            p("config.json"),
            r#"{"maxPods":110,"kubeReserved":{"memory":"1Gi"}}"#,
        )
        .unwrap();
        std::fs::write(p("config.json.d/00-nodeadm.conf"), r#"{"maxPods":29}"#).unwrap();
        std::fs::write(p("config.json.d/90-user.conf"), r#"{"maxPods":50}"#).unwrap();
        std::fs::write(p("config.json.d/README"), "not a drop-in").unwrap();
        let targets = targets_in(root.path());
        let view = read(&targets).unwrap().unwrap();
        assert_eq!(
            view.max_pods,
            Some((50, p("config.json.d/90-user.conf"), Format::KubeletConfig))
        );
        assert_eq!(view.kube_reserved_memory, Some((1 << 30, p("config.json"))));
        assert_eq!(view.system_reserved_memory, None);
        assert_eq!(view.files.len(), 4);
        std::fs::write(p("kubelet.env"), "KUBELET_EXTRA_ARGS=--max-pods=12\n").unwrap();
        assert_eq!(
            read(&targets).unwrap().unwrap().max_pods,
            Some((12, p("kubelet.env"), Format::EnvFile))
        );
        std::fs::write(p("config.json"), "{").unwrap();
        let err = read(&targets).unwrap_err();
        assert!(Chain(&err).to_string().starts_with(&format!(
            "{}: expected JSON or YAML",
            p("config.json").display()
        )));
        let empty = Targets {
            nodeadm_config_dir: p("x"),
            kubelet_config_dir: p("y"),
            kubelet_config: p("z"),
            kubelet_env_file: p("w"),
            ..targets
        };
        assert_eq!(read(&empty).unwrap(), None);
    }
}
