//! Collection: one module per source, each behind the [`Collector`] trait and each failing
//! alone. [`Collectors::collect`] runs them all once (a tick), concurrently, each under its
//! own timeout, so a tick takes as long as its slowest source; it returns [`Observations`],
//! plain data and the only input of the snapshot.
//!
//! What every collector is and the one wrapper that runs it are in `collector.rs`: the
//! [`Collector`] trait, and [`Slot`], which times the run, turns the outcome into a
//! [`Status`] (ok, failed with why, or not applicable: the source does not exist on this
//! node, which is not a failure), and, for a collector that asks for it, serves the last good
//! reading marked stale when a run fails.
//!
//! | collector | source | module |
//! |---|---|---|
//! | `imds` | IMDS: identity and limits (once), ENIs (each tick) | [`imds`] |
//! | `ipamd_metrics` | ipamd `/metrics` (Prometheus text) | [`ipamd_metrics`] |
//! | `ipamd_introspection` | ipamd `/v1/enis` (JSON) | [`ipamd_enis`] |
//! | `ipamd_settings` | ipamd `/v1/ipamd-env-settings`, `/v1/eni-configs` (JSON) | [`ipamd_settings`] |
//! | `memory` | procfs `meminfo`, memory cgroups | [`memory`] |
//! | `ena` | ENA ethtool statistics (ioctl) | [`ena`] |
//! | `kubelet` | the kubelet's configuration files | [`kubelet`] |
//!
//! Each module owns its metric families and its part of the snapshot (an [`Export`]); the
//! `collectors!` table below registers it, in one line.

pub mod cluster_name;
mod collector;
pub mod ena;
pub mod ethtool;
mod http;
pub mod imds;
pub mod ipamd_enis;
pub mod ipamd_metrics;
pub mod ipamd_settings;
pub mod kubelet;
pub mod memory;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::aws::imds::Endpoint;
use crate::aws::limits::Lookup;
use crate::core::node::Node;
use crate::kubelet::Targets;
use crate::telemetry::family::{Describe, Export, Samples};

pub use collector::{
    APPLICABLE, Collector, CollectorId, DURATION, Health, Reading, RunError, STALE, SUCCESS, Slot,
    Status,
};

/// Where the collectors read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources {
    pub imds: Endpoint,
    /// How the IMDS collector sizes the node (once).
    pub lookup: Lookup,
    pub ipamd_metrics_url: hyper::Uri,
    /// ipamd's `/v1/enis`; its settings endpoints are on the same address.
    pub ipamd_introspection_url: hyper::Uri,
    /// What aws-node is set to where ipamd does not say.
    pub cni_declared: ipamd_settings::Declared,
    /// The host's procfs and sysfs (a container mounts them elsewhere).
    pub proc_root: PathBuf,
    pub sys_root: PathBuf,
    pub kubelet: Targets,
}

/// The registration table's expansion (see [`collectors!`](crate::daemon::collect) below):
/// from one line per collector, the [`CollectorId`] constants and their order, the
/// [`Observations`] field of each part, the [`Collectors`] slots, [`MAX_TICK`], the tick's
/// concurrent join and the statuses, and the snapshot's parts ([`Observations::export_parts`]).
macro_rules! collectors {
    ($(
        $(#[doc = $doc:literal])*
        $id:ident $name:literal => $field:ident: $collector:ty = |$sources:ident| $new:expr;
    )+) => {
        /// The table's entries, numbered in order.
        #[derive(Clone, Copy)]
        enum Order { $($id),+ }

        #[allow(non_upper_case_globals)]
        impl CollectorId {
            $(pub const $id: CollectorId = CollectorId::new(Order::$id as usize, $name);)+
            pub const ALL: [CollectorId; [$(Order::$id),+].len()] = [$(CollectorId::$id),+];
        }

        // Each collector names its own entry.
        $(const _: () = assert!(
            <$collector as Collector>::ID.order() == Order::$id as usize,
            concat!(stringify!($collector), "::ID is not CollectorId::", stringify!($id)),
        );)+

        /// Everything one tick saw.
        #[derive(Debug, Clone)]
        pub struct Observations {
            pub taken_at: SystemTime,
            $($(#[doc = $doc])* pub $field: Option<<$collector as Collector>::Part>,)+
            /// One per collector, in [`CollectorId::ALL`] order.
            pub statuses: Vec<Status>,
        }

        impl Observations {
            /// Every part this tick has, in the table's order: the snapshot serves them.
            pub fn export_parts(&self, out: &mut Samples) {
                $(if let Some(part) = &self.$field {
                    part.export(out);
                })+
            }

            /// Whether the part of collector `id` is here (the registration test asks).
            #[cfg(test)]
            pub fn has_part(&self, id: CollectorId) -> bool {
                $(if id == CollectorId::$id {
                    return self.$field.is_some();
                })+
                false
            }
        }

        /// The collectors and the little state they keep between ticks.
        #[derive(Debug)]
        pub struct Collectors {
            $($field: Slot<$collector>,)+
        }

        /// The longest a tick can take: its collectors run at once, so its slowest
        /// collector's timeout.
        pub const MAX_TICK: Duration = {
            let timeouts = [$(<$collector as Collector>::TIMEOUT),+];
            let mut longest = Duration::ZERO;
            let mut i = 0;
            while i < timeouts.len() {
                if timeouts[i].as_nanos() > longest.as_nanos() {
                    longest = timeouts[i];
                }
                i += 1;
            }
            longest
        };

        /// Each collector's metric families, in the table's order.
        pub const FAMILIES: [(CollectorId, &[&Describe]); CollectorId::ALL.len()] =
            [$((CollectorId::$id, <$collector as Collector>::FAMILIES)),+];

        impl Collectors {
            pub fn new(sources: &Sources) -> Self {
                Collectors {
                    $($field: {
                        let $sources = sources;
                        Slot::new($new)
                    },)+
                }
            }

            /// One tick: every collector once, concurrently.
            pub async fn collect(&mut self) -> Observations {
                let ($($field,)+) = tokio::join!($(self.$field.run()),+);
                Observations {
                    taken_at: SystemTime::now(),
                    $($field: $field.0,)+
                    statuses: vec![$($field.1),+],
                }
            }
        }
    };
}

// The registration table: one line per collector (its id, its name in metrics and logs, its
// part's field, its type, how it is made from the sources). Adding a collector is a module
// implementing `Collector` and a line here.
collectors! {
    Imds "imds" => imds: imds::ImdsCollector = |s| imds::ImdsCollector::new(&s.imds, &s.lookup);
    IpamdMetrics "ipamd_metrics" => ipamd_metrics: ipamd_metrics::IpamdMetricsCollector =
        |s| ipamd_metrics::IpamdMetricsCollector::new(s.ipamd_metrics_url.clone());
    IpamdIntrospection "ipamd_introspection" => ipamd_pools: ipamd_enis::IntrospectionCollector =
        |s| ipamd_enis::IntrospectionCollector::new(s.ipamd_introspection_url.clone());
    IpamdSettings "ipamd_settings" => ipamd_settings: ipamd_settings::IpamdSettingsCollector =
        |s| ipamd_settings::IpamdSettingsCollector::new(&s.ipamd_introspection_url, s.cni_declared);
    Memory "memory" => memory: memory::MemoryCollector =
        |s| memory::MemoryCollector::new(&s.proc_root, &s.sys_root);
    Ena "ena" => ena: ena::EnaCollector = |s| ena::EnaCollector::new(&s.sys_root);
    Kubelet "kubelet" => kubelet: kubelet::KubeletCollector =
        |s| kubelet::KubeletCollector::new(s.kubelet.clone());
}

impl Observations {
    /// What the node is, once IMDS and its limits have told.
    pub fn node(&self) -> Option<&Node> {
        self.imds.as_ref().and_then(|i| i.node.as_deref())
    }
}
