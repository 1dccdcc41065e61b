//! What reads the snapshot: the Prometheus endpoint ([`prometheus`]), the CloudWatch
//! publisher ([`cloudwatch`]) and `nodecap check`'s report ([`findings`]). Siblings: each
//! depends on the snapshot, none on another, and the snapshot on none of them.

pub mod cloudwatch;
pub mod findings;
pub mod prometheus;
