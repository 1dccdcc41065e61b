//! The cluster name CloudWatch's dimensions carry, when it is not configured: read once at
//! start on the node, from an instance tag or a kubelet node label.

use std::time::Duration;

use crate::aws::imds::{Endpoint, ImdsClient};
use crate::core::names::{DimensionValue, InvalidName};
use crate::kubelet::{Targets, files};
use crate::telemetry::cloudwatch::ClusterNameSource;

/// Why the cluster name could not be read on the node.
#[derive(Debug, thiserror::Error)]
pub enum ClusterNameError {
    /// The instance has no such tag (exit 64: a configuration problem).
    #[error(
        "cloudwatch.cluster_name_from: IMDS has no {path}: the instance has no tag {key:?}, or \
         its launch template does not allow instance metadata tags \
         (InstanceMetadataTags=enabled); or set cloudwatch.cluster_name"
    )]
    NoTag { path: String, key: String },
    /// The kubelet's flags carry no such label (exit 64).
    #[error(
        "cloudwatch.cluster_name_from: no kubelet --node-labels label {key:?} in {nodeadm} or \
         {env_file}; or set cloudwatch.cluster_name"
    )]
    NoLabel {
        key: String,
        nodeadm: String,
        env_file: String,
    },
    /// The kubelet's files cannot be read (exit 64).
    #[error("cloudwatch.cluster_name_from")]
    Files(#[source] files::Error),
    /// What the node has is not a dimension value (exit 64).
    #[error("cloudwatch.cluster_name_from: {0}")]
    Invalid(#[from] InvalidName),
    /// IMDS did not answer (exit 69: try again).
    #[error(transparent)]
    Imds(crate::aws::imds::Error),
}

/// The cluster name from `source`, read once at start: an instance tag through IMDS (no
/// `ec2:DescribeTags`), or a kubelet node label from the node's kubelet files.
pub async fn read_cluster_name(
    source: &ClusterNameSource,
    imds: &Endpoint,
    deadline: Duration,
    kubelet: &Targets,
) -> Result<DimensionValue, ClusterNameError> {
    let name = match source {
        ClusterNameSource::Tag(key) => {
            let client = ImdsClient::new(imds, deadline);
            let path = format!("meta-data/tags/instance/{key}");
            client
                .get(&path)
                .await
                .map_err(ClusterNameError::Imds)?
                .ok_or_else(|| ClusterNameError::NoTag {
                    path,
                    key: key.clone(),
                })?
        }
        ClusterNameSource::Label(key) => files::node_labels(kubelet)
            .map_err(ClusterNameError::Files)?
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .ok_or_else(|| ClusterNameError::NoLabel {
                key: key.clone(),
                nodeadm: kubelet.nodeadm_config_dir.display().to_string(),
                env_file: kubelet.kubelet_env_file.display().to_string(),
            })?,
    };
    Ok(DimensionValue::try_from(name.trim())?)
}
