//! Stands in for `pricing.rs` in a build without the `aws` feature (the fuzz targets', which
//! must not compile the AWS crates): there is no Pricing API client, so asking fails.

use crate::core::density::Prices;
use crate::core::names::Region;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("this build has no Pricing API client (built without the `aws` feature)")]
    NotBuilt,
}

/// No prices from the API in this build.
pub async fn on_demand_linux(_region: &Region) -> Result<Prices, Error> {
    Err(Error::NotBuilt)
}
