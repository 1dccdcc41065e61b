//! The pure core: what an instance type offers ([`instance`]), what the node is ([`node`]),
//! how many pods it holds and what it keeps for itself ([`sizing`]), the CEL policies users
//! bring from nodeadm and Karpenter ([`expression`]), the EKS AMI calculator's contract
//! ([`calculator`]), the human explanation of every number ([`explain`]), and a subnet's
//! free addresses and free /28 blocks ([`subnet`]).
//!
//! Nothing here does I/O, reads a clock or knows about a command line, HTTP or AWS: plain data
//! in, plain data out, tested with literals. Everything else in the crate builds on this; this
//! imports nothing from the rest of the crate (a test checks it).

pub mod calculator;
pub mod density;
pub mod excerpt;
pub mod explain;
pub mod expression;
pub mod instance;
pub mod names;
pub mod node;
pub mod offer;
pub mod prices;
pub mod sizing;
pub mod subnet;
