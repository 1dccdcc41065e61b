//! The VPC CNI as it runs on this node, read rather than assumed: its mode, fact by fact with
//! where each came from; the pods its addresses can serve in that mode; and its warm pool's
//! shortfall per network card (docs/vpc-cni.md "Warm pool").
//!
//! Facts ipamd does not expose are inferred where the data allows (prefix delegation from the
//! datastore, from ipamd's own ceiling, or from EC2's view of the ENIs; custom networking from
//! an unused primary ENI when the settings endpoint is missing), taken from nodecap's
//! configuration where the user declared them (`MINIMUM_IP_TARGET`, `WARM_PREFIX_TARGET`),
//! and otherwise [`Fact::Unknown`]: a figure that needs an unknown fact is not computed.
//!
//! Everything here is pure: [`Cni::derive`] reads the tick's observations.

use crate::core::instance::InstanceFacts;
use crate::core::node::Node;
use crate::core::sizing::{self, IPS_PER_PREFIX, IpFamily, SizingOptions};
use crate::daemon::collect::Observations;
use crate::daemon::collect::ipamd_enis::{EniPool, IpamdPools};
use crate::daemon::collect::ipamd_settings::EniConfig;
use crate::telemetry::family::{Export, Family, Samples, count};

/// Where a fact about the CNI came from (the `source` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactSource {
    /// ipamd `/v1/ipamd-env-settings`.
    IpamdSettings,
    /// ipamd `/v1/eni-configs`.
    IpamdEniConfigs,
    /// ipamd `/v1/enis`: the datastore.
    IpamdEnis,
    /// ipamd `/metrics`.
    IpamdMetrics,
    /// IMDS: what EC2 attached to the ENIs.
    Imds,
    /// nodecap's configuration (`run.minimum_ip_target`, `run.warm_prefix_target`).
    Config,
}

impl FactSource {
    pub fn label(self) -> &'static str {
        match self {
            FactSource::IpamdSettings => "ipamd_env_settings",
            FactSource::IpamdEniConfigs => "ipamd_eni_configs",
            FactSource::IpamdEnis => "ipamd_enis",
            FactSource::IpamdMetrics => "ipamd_metrics",
            FactSource::Imds => "imds",
            FactSource::Config => "config",
        }
    }
}

/// One fact about the CNI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact<T> {
    Known(T, FactSource),
    /// The CNI runs, but nothing observed (or declared) tells.
    Unknown,
    /// No ipamd, or an ipamd without the endpoint that would tell.
    NotApplicable,
}

impl<T: Clone> Fact<T> {
    pub fn value(&self) -> Option<T> {
        match self {
            Fact::Known(v, _) => Some(v.clone()),
            Fact::Unknown | Fact::NotApplicable => None,
        }
    }

    /// `self` when known, else `other()`.
    fn or_else(self, other: impl FnOnce() -> Fact<T>) -> Fact<T> {
        match self {
            Fact::Known(..) => self,
            Fact::Unknown | Fact::NotApplicable => other(),
        }
    }

    /// Known from `source` when `value` is, else `otherwise`.
    fn from(value: Option<T>, source: FactSource, otherwise: Fact<T>) -> Fact<T> {
        value.map_or(otherwise, |v| Fact::Known(v, source))
    }
}

/// Every fact nodecap knows about the CNI's mode, by its setting's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniFacts {
    /// `ENABLE_PREFIX_DELEGATION`: /28 prefixes rather than single addresses.
    pub prefix_delegation: Fact<bool>,
    /// `AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG`: pods on ENIConfig subnets, not on the primary ENI.
    pub custom_networking: Fact<bool>,
    /// A trunk ENI is attached: security groups for pods (`ENABLE_POD_ENI`) takes an ENI slot.
    pub security_groups_for_pods: Fact<bool>,
    /// `awscni_eni_max`: ENIs ipamd may use on the default card (`MAX_ENI`, unmanaged ENIs).
    pub max_enis: Fact<u32>,
    pub warm_ip_target: Fact<u32>,
    pub warm_eni_target: Fact<u32>,
    pub minimum_ip_target: Fact<u32>,
    pub warm_prefix_target: Fact<u32>,
    pub manage_enis_non_schedulable: Fact<bool>,
    pub subnet_discovery: Fact<bool>,
    /// The node's ENIConfig (`None`: the node has none).
    pub eni_config: Fact<Option<String>>,
}

/// A setting as a sample: its name, its value (1/0 for a flag), and its fact.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SettingSample {
    pub name: &'static str,
    /// A flag (1/0) rather than a number.
    pub flag: bool,
    pub value: Option<f64>,
    pub source: Option<FactSource>,
    pub applicable: bool,
}

impl CniFacts {
    /// Every setting, in the order they are reported.
    pub fn settings(&self) -> Vec<SettingSample> {
        fn flag(name: &'static str, fact: &Fact<bool>) -> SettingSample {
            SettingSample {
                flag: true,
                ..sample(name, fact, |v| if *v { 1.0 } else { 0.0 })
            }
        }
        fn number(name: &'static str, fact: &Fact<u32>) -> SettingSample {
            sample(name, fact, |v| f64::from(*v))
        }
        fn sample<T>(name: &'static str, fact: &Fact<T>, f: impl Fn(&T) -> f64) -> SettingSample {
            let (value, source) = match fact {
                Fact::Known(v, source) => (Some(f(v)), Some(*source)),
                Fact::Unknown | Fact::NotApplicable => (None, None),
            };
            SettingSample {
                name,
                flag: false,
                value,
                source,
                applicable: !matches!(fact, Fact::NotApplicable),
            }
        }
        vec![
            flag("prefix_delegation", &self.prefix_delegation),
            flag("custom_networking", &self.custom_networking),
            flag("security_groups_for_pods", &self.security_groups_for_pods),
            number("max_enis", &self.max_enis),
            number("warm_ip_target", &self.warm_ip_target),
            number("minimum_ip_target", &self.minimum_ip_target),
            number("warm_eni_target", &self.warm_eni_target),
            number("warm_prefix_target", &self.warm_prefix_target),
            flag(
                "manage_enis_non_schedulable",
                &self.manage_enis_non_schedulable,
            ),
            flag("subnet_discovery", &self.subnet_discovery),
            SettingSample {
                flag: true,
                ..sample("eni_config", &self.eni_config, |v| {
                    if v.is_some() { 1.0 } else { 0.0 }
                })
            },
        ]
    }
}

/// The warm-pool targets ipamd works to on one network card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarmTargets {
    pub warm_ip: u32,
    pub minimum_ip: u32,
    pub warm_eni: u32,
    pub warm_prefix: u32,
}

impl WarmTargets {
    /// "IP target mode": either IP target set; the ENI and prefix targets are then ignored.
    pub fn ip_target_mode(&self) -> bool {
        self.warm_ip > 0 || self.minimum_ip > 0
    }
}

/// Addresses ipamd is short of on one network card, by its own arithmetic
/// (docs/vpc-cni.md "Warm pool"), where `available = total − assigned` (addresses cooling
/// down count as available, as ipamd counts them):
///
/// - IP target mode (`WARM_IP_TARGET` or `MINIMUM_IP_TARGET` set):
///   `max(WARM_IP_TARGET − available, MINIMUM_IP_TARGET − total, 0)`; with prefix delegation
///   ipamd asks for `ceil(short / 16)` prefixes to cover it.
/// - Otherwise the pool is low when `available < target × addresses per unit`, where the unit
///   is an ENI (`WARM_ENI_TARGET`, `max_ips_per_eni` addresses) or, with prefix delegation, a
///   /28 (`WARM_PREFIX_TARGET`, 16): short by the difference. A target of 0 wants one free
///   address.
pub fn addresses_needed(
    targets: WarmTargets,
    prefix_delegation: bool,
    max_ips_per_eni: u64,
    total: u64,
    assigned: u64,
) -> u64 {
    let available = total.saturating_sub(assigned);
    if targets.ip_target_mode() {
        let warm = u64::from(targets.warm_ip).saturating_sub(available);
        let minimum = u64::from(targets.minimum_ip).saturating_sub(total);
        return warm.max(minimum);
    }
    let (target, per_unit) = if prefix_delegation {
        (targets.warm_prefix, u64::from(IPS_PER_PREFIX))
    } else {
        (targets.warm_eni, max_ips_per_eni)
    };
    if target == 0 {
        u64::from(available == 0)
    } else {
        (u64::from(target) * per_unit).saturating_sub(available)
    }
}

/// One network card's pool as ipamd holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardPool {
    pub network_card: u32,
    /// Addresses in the pool and held by pods (excluded ENIs left out).
    pub total: u64,
    pub assigned: u64,
    /// [`addresses_needed`]; `None` when a target it needs is unknown.
    pub addresses_needed: Option<u64>,
    /// No free address, no free ENI slot and no room for another address (or prefix) on an
    /// ENI that takes pods: the next pod on this card gets no address. `None` without the
    /// instance's limits.
    pub at_capacity: Option<bool>,
}

/// The CNI on this node, as derived from one tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cni {
    pub facts: CniFacts,
    /// `nodecap plan` in the observed mode: the sizing rules (cap, pods per core and profile
    /// as configured, no explicit maxPods) applied to the observed prefix delegation, custom
    /// networking, ENI limit and trunk ENI. `None` while a fact it needs is unknown.
    pub max_pods: Option<u32>,
    /// Pods the CNI's addresses allow in the observed mode before any cap:
    /// `ENIs × addresses per ENI + 2`. `None` for IPv6 (not IP-limited) or unknown.
    pub ip_limited_pods: Option<u32>,
    /// One per network card ipamd manages, in card order.
    pub pools: Vec<CardPool>,
}

impl Cni {
    pub fn derive(o: &Observations) -> Cni {
        let facts = facts(o);
        let node = o.node();
        let options = node.and_then(|n| observed_options(n, &facts));
        let sizing = node
            .zip(options.as_ref())
            .map(|(n, options)| sizing::size(&n.facts, n.source, options));
        let pools = o
            .ipamd_pools
            .as_ref()
            .map(|pools| card_pools(pools, &facts, node))
            .unwrap_or_default();
        Cni {
            max_pods: sizing.as_ref().map(|s| s.max_pods),
            ip_limited_pods: sizing.as_ref().and_then(|s| s.ip_limited_pods),
            facts,
            pools,
        }
    }
}

/// The node's sizing options with the CNI's observed mode in place of the configured one;
/// `None` while prefix delegation or custom networking is unknown on an IPv4 node.
fn observed_options(node: &Node, facts: &CniFacts) -> Option<SizingOptions> {
    let mut options = node.options.clone();
    if options.ip_family == IpFamily::Ipv4 {
        options.prefix_delegation = facts.prefix_delegation.value()?;
        options.custom_networking = facts.custom_networking.value()?;
    }
    if let Some(max) = facts.max_enis.value() {
        options.max_enis = Some(max);
    }
    if let Some(trunk) = facts.security_groups_for_pods.value() {
        options.reserved_enis = u32::from(trunk);
    }
    options.max_pods = None;
    Some(options)
}

fn facts(o: &Observations) -> CniFacts {
    let ipamd = o.ipamd_pools.is_some() || o.ipamd_metrics.is_some() || o.ipamd_settings.is_some();
    let settings = o.ipamd_settings.as_ref();
    let env = settings.map(|s| &s.env);
    let declared = |value: Option<u32>| match settings {
        Some(_) => Fact::from(value, FactSource::Config, Fact::Unknown),
        None => Fact::NotApplicable,
    };
    let pools = o.ipamd_pools.as_ref();
    CniFacts {
        prefix_delegation: prefix_delegation(o, ipamd),
        custom_networking: from_env(env.map(|e| e.custom_networking))
            .or_else(|| pools.map_or(absent(ipamd), primary_unused)),
        security_groups_for_pods: pools.map_or(absent(ipamd), |p| {
            Fact::Known(p.enis.iter().any(|e| e.trunk), FactSource::IpamdEnis)
        }),
        max_enis: Fact::from(
            o.ipamd_metrics
                .as_ref()
                .and_then(|m| m.eni_max)
                .and_then(positive_count),
            FactSource::IpamdMetrics,
            absent(ipamd),
        ),
        warm_ip_target: from_env(env.map(|e| e.warm_ip_target)),
        warm_eni_target: from_env(env.map(|e| e.warm_eni_target)),
        minimum_ip_target: declared(settings.and_then(|s| s.declared.minimum_ip_target)),
        warm_prefix_target: declared(settings.and_then(|s| s.declared.warm_prefix_target)),
        manage_enis_non_schedulable: from_env(env.map(|e| e.manage_enis_non_schedulable)),
        subnet_discovery: from_env(env.map(|e| e.subnet_discovery)),
        eni_config: match settings.map(|s| &s.eni_config) {
            Some(EniConfig::Named(name)) => {
                Fact::Known(Some(name.clone()), FactSource::IpamdEniConfigs)
            }
            Some(EniConfig::None) => Fact::Known(None, FactSource::IpamdEniConfigs),
            Some(EniConfig::Absent) | None => Fact::NotApplicable,
        },
    }
}

/// A setting of `/v1/ipamd-env-settings`: `None` without the endpoint, `Some(None)` when the
/// answer lacks the key.
fn from_env<T: Clone>(value: Option<Option<T>>) -> Fact<T> {
    match value {
        Some(v) => Fact::from(v, FactSource::IpamdSettings, Fact::Unknown),
        None => Fact::NotApplicable,
    }
}

/// Unknown while the CNI runs; not applicable without it.
fn absent<T>(ipamd: bool) -> Fact<T> {
    if ipamd {
        Fact::Unknown
    } else {
        Fact::NotApplicable
    }
}

/// Prefix delegation, from the best witness: the datastore (prefixes or single addresses
/// held), ipamd's metrics (prefixes attached, or its ceiling `awscni_ip_max` =
/// `awscni_eni_max × (IPv4 per ENI − 1) [× 16]`), else EC2's view of the ENIs (IMDS), which
/// also serves a node without ipamd.
fn prefix_delegation(o: &Observations, ipamd: bool) -> Fact<bool> {
    if let Some(seen) = o
        .ipamd_pools
        .as_ref()
        .and_then(IpamdPools::prefix_delegation)
    {
        return Fact::Known(seen, FactSource::IpamdEnis);
    }
    if let Some(m) = &o.ipamd_metrics {
        if m.ipv4_prefixes.is_some_and(|n| n > 0.0) {
            return Fact::Known(true, FactSource::IpamdMetrics);
        }
        let ceiling = o
            .node()
            .zip(m.eni_max.and_then(positive_count))
            .zip(m.ip_max.and_then(positive_count));
        if let Some(((node, enis), ip_max)) = ceiling {
            let per_eni = u32::from(node.facts.ipv4_per_eni).saturating_sub(1);
            if ip_max == enis * per_eni * IPS_PER_PREFIX {
                return Fact::Known(true, FactSource::IpamdMetrics);
            }
            if ip_max == enis * per_eni {
                return Fact::Known(false, FactSource::IpamdMetrics);
            }
        }
    }
    if let Some(imds) = &o.imds {
        let enis = imds.enis.as_slice();
        if enis.iter().any(|e| !e.ipv4_prefixes.is_empty()) {
            return Fact::Known(true, FactSource::Imds);
        }
        if enis.iter().any(|e| e.ipv4.len() > 1) {
            return Fact::Known(false, FactSource::Imds);
        }
    }
    absent(ipamd)
}

/// Custom networking without the settings endpoint: ipamd never gives the primary ENI's
/// addresses to pods then, so a primary ENI with none while another ENI has some tells.
fn primary_unused(pools: &IpamdPools) -> Fact<bool> {
    let holds = |e: &EniPool| e.prefixes + e.secondary_ips > 0;
    let primary = pools.enis.iter().find(|e| e.primary);
    match primary {
        Some(p) if holds(p) => Fact::Known(false, FactSource::IpamdEnis),
        Some(_) if pools.enis.iter().any(|e| !e.primary && holds(e)) => {
            Fact::Known(true, FactSource::IpamdEnis)
        }
        _ => Fact::Unknown,
    }
}

/// A gauge value as a positive whole count.
fn positive_count(value: f64) -> Option<u32> {
    if value >= 1.0 && value < f64::from(u32::MAX) && value.fract() == 0.0 {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(value as u32)
    } else {
        None
    }
}

/// Each card's pool, shortfall and capacity. Cards other than the default one are managed
/// (`ENABLE_MULTI_NIC`) with ipamd's fixed targets: 1 warm and 1 minimum address.
fn card_pools(pools: &IpamdPools, facts: &CniFacts, node: Option<&Node>) -> Vec<CardPool> {
    let mut cards: Vec<u32> = pools.enis.iter().map(|e| e.network_card).collect();
    cards.dedup();
    let default_card = node.map_or(0, |n| u32::from(n.facts.default_network_card));
    let prefix_delegation = facts.prefix_delegation.value();
    cards
        .into_iter()
        .map(|card| {
            let on_card: Vec<&EniPool> = pools
                .enis
                .iter()
                .filter(|e| e.network_card == card)
                .collect();
            let for_pods = || on_card.iter().filter(|e| !e.excluded);
            let total = for_pods().map(|e| e.total).sum();
            let assigned = for_pods().map(|e| e.assigned).sum();
            let free: u64 = for_pods().map(|e| e.free).sum();
            let targets = if card == default_card {
                default_card_targets(facts, prefix_delegation)
            } else {
                Some(WarmTargets {
                    warm_ip: 1,
                    minimum_ip: 1,
                    warm_eni: 0,
                    warm_prefix: 0,
                })
            };
            let addresses_needed = targets.and_then(|t| {
                if t.ip_target_mode() {
                    return Some(addresses_needed(t, false, 0, total, assigned));
                }
                let slots = u64::from(node?.facts.ipv4_per_eni.saturating_sub(1));
                let pd = prefix_delegation?;
                let per_eni = if pd {
                    slots * u64::from(IPS_PER_PREFIX)
                } else {
                    slots
                };
                Some(addresses_needed(t, pd, per_eni, total, assigned))
            });
            let at_capacity = node.map(|n| {
                let limit = match facts.max_enis.value() {
                    Some(max) if card == default_card => max,
                    _ => card_limit(&n.facts, card),
                };
                let attached = u32::try_from(on_card.len()).unwrap_or(u32::MAX);
                let slots = u32::from(n.facts.ipv4_per_eni.saturating_sub(1));
                let custom_networking = facts.custom_networking.value().unwrap_or(false);
                let room = for_pods().any(|e| {
                    let takes_pods = !(e.trunk || e.primary && custom_networking);
                    takes_pods && e.prefixes + e.secondary_ips < slots
                });
                free == 0 && attached >= limit && !room
            });
            CardPool {
                network_card: card,
                total,
                assigned,
                addresses_needed,
                at_capacity,
            }
        })
        .collect()
}

/// The default card's targets: ipamd's `WARM_IP_TARGET` and the declared
/// `MINIMUM_IP_TARGET` decide the mode; outside IP target mode the unit's own target
/// (`WARM_ENI_TARGET`, or `WARM_PREFIX_TARGET` with prefix delegation) must be known too.
fn default_card_targets(facts: &CniFacts, prefix_delegation: Option<bool>) -> Option<WarmTargets> {
    let targets = WarmTargets {
        warm_ip: facts.warm_ip_target.value()?,
        minimum_ip: facts.minimum_ip_target.value()?,
        warm_eni: facts.warm_eni_target.value().unwrap_or(0),
        warm_prefix: facts.warm_prefix_target.value().unwrap_or(0),
    };
    if !targets.ip_target_mode() {
        if prefix_delegation? {
            facts.warm_prefix_target.value()?;
        } else {
            facts.warm_eni_target.value()?;
        }
    }
    Some(targets)
}

/// ENIs network card `card` takes.
fn card_limit(facts: &InstanceFacts, card: u32) -> u32 {
    usize::try_from(card)
        .ok()
        .and_then(|i| facts.enis_per_card.get(i))
        .map_or(0, |&n| u32::from(n))
}

// ---- what the CNI's part of the snapshot serves ---------------------------------------------

pub static MAX_PODS: Family<0> = Family::gauge(
    "nodecap_cni_max_pods",
    &[],
    "maxPods nodecap computes for the VPC CNI's observed mode (prefix delegation, custom networking, ENI limit and trunk ENI as ipamd shows them; cap and profile as configured).",
);
pub static SETTING: Family<2> = Family::gauge(
    "nodecap_cni_setting",
    &["setting", "source"],
    "The VPC CNI's settings as observed (flags 1/0) and where each came from; source unknown with value NaN when nothing observed or declared tells.",
);
pub static ENI_CONFIG: Family<1> = Family::gauge(
    "nodecap_cni_eni_config_info",
    &["name"],
    "The node's ENIConfig (custom networking), as ipamd found it; always 1.",
);
pub static ADDRESSES_NEEDED: Family<1> = Family::gauge(
    "nodecap_ipv4_addresses_needed",
    &["network_card"],
    "Addresses ipamd is short of against its warm and minimum targets, by its own arithmetic (16 per /28 it will ask for with prefix delegation).",
);
pub static AT_CAPACITY: Family<1> = Family::gauge(
    "nodecap_ip_pool_at_capacity",
    &["network_card"],
    "1 when no address is free, no ENI slot is left and no attached ENI has room for another address or prefix: the next pod on this card gets no address.",
);

impl Export for Cni {
    fn export(&self, out: &mut Samples) {
        if let Some(n) = self.max_pods {
            out.set(&MAX_PODS, [], f64::from(n));
        }
        for s in self.facts.settings().iter().filter(|s| s.applicable) {
            match (s.value, s.source) {
                (Some(v), Some(source)) => out.set(&SETTING, [s.name, source.label()], v),
                _ => out.set(&SETTING, [s.name, "unknown"], f64::NAN),
            }
        }
        if let Fact::Known(Some(name), _) = &self.facts.eni_config {
            out.set(&ENI_CONFIG, [name], 1.0);
        }
        for p in &self.pools {
            let card = p.network_card.to_string();
            if let Some(n) = p.addresses_needed {
                out.set(&ADDRESSES_NEEDED, [&card], count(n));
            }
            if let Some(full) = p.at_capacity {
                out.set(&AT_CAPACITY, [&card], if full { 1.0 } else { 0.0 });
            }
        }
    }
}

#[cfg(test)]
mod tests;
