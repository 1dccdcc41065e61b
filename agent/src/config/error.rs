//! A configuration error: one line naming the source, the key and what was expected.

use std::path::PathBuf;

use crate::aws::imds;
use crate::core::excerpt::{Excerpt, MAX_CHARS, clip};

/// A configuration error: one line naming the source, the key and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("config")]
    Read(#[source] crate::file::ReadError),
    #[error("config {path}: {problem}")]
    File { path: PathBuf, problem: String },
    #[error("environment {name}={value}: {problem}")]
    Environment {
        name: String,
        value: Excerpt,
        problem: String,
    },
    #[error("{layer}: {problem}")]
    Layer { layer: String, problem: String },
    #[error("{key}: expected {expected}, got {got}")]
    Value {
        key: &'static str,
        expected: &'static str,
        got: String,
    },
    #[error("imds.endpoint")]
    Endpoint(#[source] imds::EndpointError),
    // Not a `source`: the message is whole here, and error chains would print it twice.
    #[error("{key} {error}")]
    Expression {
        key: &'static str,
        error: crate::core::expression::ExpressionError,
    },
    #[error(
        "cloudwatch.cluster_name: required when cloudwatch.enabled is true (--cluster-name, or --cluster-name-from)"
    )]
    ClusterNameMissing,
    #[error(
        "cloudwatch.cluster_name_from: expected either cluster_name or cluster_name_from, not both"
    )]
    ClusterNameTwice,
    #[error(
        "subnets: which subnets? set subnets.cluster_name (--cluster-name: the cluster's tagged subnets), subnets.subnet_ids or subnets.vpc_id"
    )]
    NoSubnetSelection,
    #[error("subnets.region: required (--region, or AWS_REGION)")]
    NoRegion,
}

pub(super) fn value_error(
    key: &'static str,
    expected: &'static str,
    got: impl std::fmt::Debug,
) -> Error {
    Error::Value {
        key,
        expected,
        got: clip(&format!("{got:?}"), MAX_CHARS),
    }
}
