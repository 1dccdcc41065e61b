//! Stands in for `transport.rs` in a build without the `aws` feature (the fuzz targets',
//! which must not compile the AWS crates): there is no signer, so every call fails.

use crate::core::names::Region;
use bytes::Bytes;
use hyper::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("this build has no EC2 client (built without the `aws` feature)")]
    NotBuilt,
}

impl Error {
    pub fn is_network(&self) -> bool {
        false
    }
}

/// No connection to EC2 in this build.
pub struct Transport;

impl Transport {
    pub async fn from_environment(_region: &Region, _regional: &str) -> Result<Self, Error> {
        Err(Error::NotBuilt)
    }

    pub async fn post(
        &self,
        _body: String,
        _max_answer: usize,
    ) -> Result<(StatusCode, Bytes), Error> {
        Err(Error::NotBuilt)
    }
}
