//! The AWS clients: IMDSv2 ([`imds`]), the EC2 API ([`ec2`]: instance types, and the subnet
//! listings `nodecap subnets` reads) and, built on both, the lookup of what the node is and
//! what its instance type can hold ([`limits`]), and the Price List API `nodecap density`
//! asks ([`pricing`]); both API clients follow pages with [`paging`]. The only code that
//! talks to AWS at boot; the daemon's CloudWatch publisher is an exporter of its own.

#[cfg(feature = "aws")]
pub mod answer;
pub mod ec2;
pub mod imds;
pub mod json_depth;
pub mod limits;
pub mod paging;
#[cfg_attr(feature = "aws", path = "pricing.rs")]
#[cfg_attr(not(feature = "aws"), path = "pricing_unavailable.rs")]
pub mod pricing;
