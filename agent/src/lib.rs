//! nodecap: the node-side companion agent for Amazon EKS worker nodes.
//!
//! Data flows one way: instance facts ([`instance`]) → sizing ([`sizing`], pure) → kubelet
//! settings in every format ([`render`]) or a human explanation ([`explain`]). At boot,
//! [`init`] gets the facts from IMDS ([`imds`]) and [`limits`] (embedded table, cache, EC2
//! API via [`ec2`]) and writes the settings through [`kubelet`] and [`writer`]. Configuration is
//! [`config`]; the command line is [`cli`]; [`commands`] wires a parsed command to the rest.
//!
//! The daemon ([`daemon`]): [`collect`] (IMDS, ipamd, memory, ENA, kubelet files, one module
//! each) → [`snapshot`] (derived figures, pure) → [`metrics`] (Prometheus text, pure) →
//! [`server`] (the HTTP endpoint). [`check`] reports the same snapshot as findings;
//! [`cloudwatch`] turns it into PutMetricData datums.

pub mod check;
pub mod cli;
pub mod cloudwatch;
pub mod collect;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod ec2;
pub mod explain;
pub mod imds;
pub mod init;
pub mod instance;
pub mod kubelet;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod render;
pub mod server;
pub mod sizing;
pub mod snapshot;
pub mod writer;
