//! nodecap: the node-side companion agent for Amazon EKS worker nodes.
//!
//! Two flows, each in one direction, on one pure core:
//!
//! ```text
//!   core (instance facts, sizing, explanations; pure)
//!     ↑                         ↑
//!   kubelet (settings, formats, backends, files)   aws (IMDS, EC2, limits)
//!     ↑                         ↑
//!   init:   IMDS → limits → sizing → kubelet settings → file::write_atomic
//!   daemon: collect → snapshot → export (Prometheus endpoint, CloudWatch, check's findings)
//!     ↑
//!   subnets: EC2 listings → core::subnet figures → view → the daemon's exporters
//!     ↑
//!   config (layers → each stage's settings), cli, commands, main
//! ```
//!
//! [`core`] depends on nothing else in the crate. [`kubelet`] and [`aws`] build on it;
//! [`init`] and [`daemon`] are the node's two pipelines; [`subnets`] is the cluster-level
//! reader (one replica per cluster), serving through the daemon's exporters; [`config`] turns
//! the file, environment and flags into their settings; [`cli`] and [`commands`] are the thin shell. [`file`],
//! [`error`] and [`exit`] are small shared pieces: the one atomic writer, how an error is
//! told, and every exit code; [`alloc`] is the static builds' start-up arena. A test checks that imports follow these arrows and form no
//! cycle.

pub mod alloc;
pub mod aws;
pub mod cli;
pub mod commands;
pub mod config;
/// The pure core, its own crate (`agent/core`): Cargo holds it to plain data in and out.
pub use nodecap_core as core;
pub mod daemon;
pub mod error;
pub mod exit;
pub mod file;
pub mod init;
pub mod kubelet;
pub mod logging;
pub mod subnets;
pub mod telemetry;
