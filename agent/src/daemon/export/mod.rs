//! What reads the snapshot: its CloudWatch publication ([`cloudwatch`]) and `nodecap check`'s
//! report ([`findings`]); the snapshot's `Export` impl is what the shared Prometheus endpoint
//! serves. Siblings: each depends on the snapshot, none on another, and the snapshot on none
//! of them.

pub mod cloudwatch;
pub mod findings;
