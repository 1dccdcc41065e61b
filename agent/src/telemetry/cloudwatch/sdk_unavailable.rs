//! Stands in for `sdk.rs` in a build without the `aws` feature (the fuzz targets', which
//! must not compile the AWS crates): there is no CloudWatch client, so every call fails as
//! an unreachable endpoint would.

use std::time::Duration;

use super::call::ErrorKind;
use super::datum::Datum;
use crate::core::names::Region;

#[derive(Debug)]
pub struct Client;

impl Client {
    pub async fn from_environment(_region: Option<Region>) -> Self {
        Client
    }

    pub async fn put(
        &self,
        _namespace: &str,
        _batch: &[Datum],
        _timeout: Duration,
    ) -> Result<(), ErrorKind> {
        tracing::warn!(
            "cloudwatch:PutMetricData: this build has no CloudWatch client (built without the `aws` feature)"
        );
        Err(ErrorKind::Network)
    }
}
