//! nodecap: the node-side companion agent for Amazon EKS worker nodes.
//!
//! Data flows one way: instance facts ([`instance`]) → sizing ([`sizing`], pure) → kubelet
//! settings in every format ([`render`]) or a human explanation ([`explain`]). The command line
//! is in [`cli`]; [`commands`] wires a parsed command to these modules.

pub mod cli;
pub mod commands;
pub mod explain;
pub mod instance;
pub mod render;
pub mod sizing;
