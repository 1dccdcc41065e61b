//! ipamd's introspection endpoint (`http://127.0.0.1:61679/v1/enis`): the datastore, ENI by
//! ENI, address by address. From it nodecap derives what ipamd exports nowhere: per ENI and
//! per node, how many IPv4 addresses are in the pool, assigned to pods, cooling down after a
//! pod left (not reusable yet), and free.
//!
//! Both shapes are read (docs/vpc-cni.md "Introspection (`127.0.0.1:61679`)"): one `ENIInfos` object up to v1.19,
//! and from v1.20 an object keyed by network card (`"0"`, `"1"`, …). Address maps are sparse: a
//! CIDR lists only addresses that are or were recently used, so free = CIDR size − assigned −
//! cooling down. `AddressFamily`, `containerID` and `ifName` are not relied on (blank in
//! some releases).

use std::borrow::Cow;
use std::time::SystemTime;

use bytes::Bytes;
use serde::Deserialize;
use serde::de::{Error as _, IgnoredAny, MapAccess, Visitor};

use super::collector::{Collector, CollectorId, Reading};
use super::http::{self, OptionalEndpoint, ReadError};
use crate::core::excerpt::Excerpt;
use crate::telemetry::family::Describe;
use crate::telemetry::family::{Export, Family, Samples, count};

/// Collects ipamd's `/v1/enis`.
#[derive(Debug)]
pub struct IntrospectionCollector {
    endpoint: OptionalEndpoint,
    last: Option<Memo>,
}

impl IntrospectionCollector {
    pub fn new(url: hyper::Uri) -> Self {
        IntrospectionCollector {
            endpoint: OptionalEndpoint::new(url, MAX_BODY),
            last: None,
        }
    }
}

/// The last answer and what it came to. ipamd's JSON is deterministic (Go writes map keys
/// sorted), so on a quiet node the answer repeats byte for byte; its pools then stay what
/// they were until the first cooling address is free again, and need no second parse.
#[derive(Debug)]
struct Memo {
    body: Bytes,
    parsed: Parsed,
}

impl Memo {
    /// `body`'s pools as of `now`: the last ones when nothing can have changed.
    fn pools(last: &mut Option<Memo>, body: Bytes, now: f64) -> Result<IpamdPools, ParseError> {
        if let Some(memo) = last
            && same_bytes(&memo.body, &body)
            && now < memo.parsed.settled_until
        {
            return Ok(memo.parsed.pools.clone());
        }
        *last = None;
        let parsed = read(&body, now)?;
        let pools = parsed.pools.clone();
        *last = Some(Memo { body, parsed });
        Ok(pools)
    }
}

/// Whether two answers are the same bytes. Slice `==` is a `memcmp` call, and musl's (the
/// static builds' libc) compares one byte at a time: on a 15-ENI node's ~250 KB answer that
/// was the largest single cost of a tick (7 % of its CPU, `perf`). Compared 32 bytes at a
/// time, each step is a fixed-size compare the compiler does in registers.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let ((a_blocks, a_tail), (b_blocks, b_tail)) = (a.as_chunks::<32>(), b.as_chunks::<32>());
    a.len() == b.len() && a_tail == b_tail && a_blocks.iter().zip(b_blocks).all(|(x, y)| x == y)
}

impl Collector for IntrospectionCollector {
    type Part = IpamdPools;
    type Error = ReadError<ParseError>;
    const ID: CollectorId = CollectorId::IpamdIntrospection;
    const FAMILIES: &'static [&'static Describe] = &[&POOL_ADDRESSES.describe];
    const TIMEOUT: std::time::Duration = http::TIMEOUT;

    async fn collect(&mut self) -> Result<Reading<IpamdPools>, Self::Error> {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let last = &mut self.last;
        self.endpoint
            .read(|body| Memo::pools(last, body, now))
            .await
    }
}

/// A `/v1/enis` answer nodecap cannot read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("expected JSON: not UTF-8")]
    Utf8(#[source] std::str::Utf8Error),
    #[error("expected JSON")]
    Syntax(#[source] serde_json::Error),
    #[error(transparent)]
    Shape(serde_json::Error),
    #[error("ENI {eni}: expected an IPv4 CIDR key, got {key}")]
    Cidr { eni: String, key: Excerpt },
    #[error("expected ENIs or network card numbers at the top level, found neither")]
    NoEnis,
    #[error("network card {0} appears twice")]
    DuplicateCard(u32),
    #[error("ENI {0} appears twice")]
    DuplicateEni(String),
    #[error("{0} ENIs: expected at most {MAX_ENIS} (the most any instance type attaches is 64)")]
    TooManyEnis(usize),
    #[error("ENI id {0}: expected eni- and at most {MAX_ID} characters")]
    EniId(Excerpt),
}

/// The most ENIs read from one answer. No instance type attaches more than 64 (docs/ena.md
/// lists the largest); each ENI becomes a handful of series.
pub const MAX_ENIS: usize = 128;
/// The longest ENI id taken: ids are `eni-` and 17 hex digits, and become label values.
pub const MAX_ID: usize = 32;
/// The longest answer read. A large node's `/v1/enis` (15 ENIs, hundreds of pods with their
/// recently released addresses) is a few hundred KiB.
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// ipamd's default `IP_COOLDOWN_PERIOD`: a released address is not reused for 30 s.
const COOLDOWN_SECONDS: f64 = 30.0;

/// One ENI's IPv4 pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EniPool {
    pub id: String,
    pub network_card: u32,
    pub device_number: u32,
    pub primary: bool,
    pub trunk: bool,
    /// The subnet is tagged `kubernetes.io/role/cni=0`: no pod gets these addresses.
    pub excluded: bool,
    /// `/28` prefixes and single `/32` addresses in the pool.
    pub prefixes: u32,
    pub secondary_ips: u32,
    /// Addresses: total = assigned + cooldown + free.
    pub total: u64,
    pub assigned: u64,
    pub cooldown: u64,
    pub free: u64,
}

/// The node's pools, every network card, sorted by card and device number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpamdPools {
    pub enis: Vec<EniPool>,
}

/// Node totals over the ENIs pods can use (excluded ENIs left out).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub total: u64,
    pub assigned: u64,
    pub cooldown: u64,
    pub free: u64,
}

impl IpamdPools {
    pub fn totals(&self) -> Totals {
        self.enis
            .iter()
            .filter(|e| !e.excluded)
            .fold(Totals::default(), |t, e| Totals {
                total: t.total + e.total,
                assigned: t.assigned + e.assigned,
                cooldown: t.cooldown + e.cooldown,
                free: t.free + e.free,
            })
    }

    /// What the datastore holds: `Some(true)` prefixes, `Some(false)` single addresses,
    /// `None` nothing yet (a fresh node) — ipamd works in one mode at a time.
    pub fn prefix_delegation(&self) -> Option<bool> {
        if self.enis.iter().any(|e| e.prefixes > 0) {
            Some(true)
        } else if self.enis.iter().any(|e| e.secondary_ips > 0) {
            Some(false)
        } else {
            None
        }
    }
}

// The wire format, read in one pass, borrowing from the response where no JSON escape is in
// the way (`Cow`), and building no maps: ENIs and CIDRs are read as lists of entries, each
// CIDR's addresses as a tally of those in use and the release times of the others.

#[derive(Debug, Deserialize)]
struct EniInfos<'a> {
    #[serde(rename = "ENIs", borrow)]
    enis: Entries<'a, RawEni<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawEni<'a> {
    #[serde(rename = "ID", borrow)]
    id: Cow<'a, str>,
    #[serde(default)]
    is_primary: bool,
    #[serde(default)]
    is_trunk: bool,
    #[serde(default)]
    device_number: u32,
    #[serde(rename = "AvailableIPv4Cidrs", default, borrow)]
    available_ipv4_cidrs: Option<Entries<'a, RawCidr<'a>>>,
    #[serde(rename = "IsExcludedForPodIPs", default)]
    is_excluded_for_pod_ips: bool,
}

#[derive(Debug, Deserialize)]
struct RawCidr<'a> {
    #[serde(rename = "IPAddresses", default, borrow)]
    ip_addresses: Option<Tally<'a>>,
}

#[derive(Debug, Deserialize)]
struct RawAddress<'a> {
    #[serde(rename = "IPAMKey", default, borrow)]
    ipam_key: Option<IpamKey<'a>>,
    #[serde(rename = "UnassignedTime", default, borrow)]
    unassigned_time: Option<Cow<'a, str>>,
}

/// A JSON object's entries in order, keys kept as written (borrowed unless escaped).
#[derive(Debug)]
struct Entries<'a, V>(Vec<(Cow<'a, str>, V)>);

impl<V> Default for Entries<'_, V> {
    fn default() -> Self {
        Entries(Vec::new())
    }
}

impl<'de: 'a, 'a, V: Deserialize<'de>> Deserialize<'de> for Entries<'a, V> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor<'a, V>(std::marker::PhantomData<(&'a (), V)>);
        impl<'de: 'a, 'a, V: Deserialize<'de>> Visitor<'de> for EntriesVisitor<'a, V> {
            type Value = Entries<'a, V>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(Key(key)) = map.next_key()? {
                    entries.push((key, map.next_value()?));
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(EntriesVisitor(std::marker::PhantomData))
    }
}

/// An object key: borrowed from the document, or owned when it had to be unescaped.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for KeyVisitor<'a> {
            type Value = Key<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor(std::marker::PhantomData))
    }
}

/// Go's zero time: what ipamd writes for an address that was never released, so no
/// cooldown to work out (most free addresses carry it).
const NEVER_RELEASED: &str = "0001-01-01T00:00:00Z";

/// A CIDR's sparse address map, tallied as it is read: how many are held by a pod, and when
/// the others were released (for the cooldown).
#[derive(Debug, Default)]
struct Tally<'a> {
    assigned: u64,
    released: Vec<Cow<'a, str>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Tally<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TallyVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for TallyVisitor<'a> {
            type Value = Tally<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object of addresses")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut tally = Tally::default();
                while map.next_key::<IgnoredAny>()?.is_some() {
                    let address: RawAddress<'a> = map.next_value()?;
                    if address.ipam_key.as_ref().is_some_and(IpamKey::in_use) {
                        tally.assigned += 1;
                    } else if let Some(time) = address.unassigned_time
                        && time != NEVER_RELEASED
                    {
                        tally.released.push(time);
                    }
                }
                Ok(tally)
            }
        }
        deserializer.deserialize_map(TallyVisitor(std::marker::PhantomData))
    }
}

/// Who holds an address; all empty means nobody (`containerID` and `ifName` are blanked in
/// v1.23 responses, so `networkName` is what usually tells).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IpamKey<'a> {
    #[serde(rename = "networkName", borrow)]
    network_name: Cow<'a, str>,
    #[serde(rename = "containerID", borrow)]
    container_id: Cow<'a, str>,
    #[serde(rename = "ifName", borrow)]
    if_name: Cow<'a, str>,
}

impl IpamKey<'_> {
    fn in_use(&self) -> bool {
        !(self.network_name.is_empty() && self.container_id.is_empty() && self.if_name.is_empty())
    }
}

/// The document in either shape: the top level holds `TotalIPs`/`AssignedIPs`/`ENIs` (up to
/// v1.19) or network card numbers (from v1.20). Its first key tells, so one pass suffices.
struct Document<'a> {
    cards: Vec<(u32, EniInfos<'a>)>,
}

impl<'de> Deserialize<'de> for Document<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(DocumentVisitor)
    }
}

struct DocumentVisitor;

impl<'de> Visitor<'de> for DocumentVisitor {
    type Value = Document<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object of ENIs or of network cards")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Document<'de>, A::Error> {
        let mut cards: Vec<(u32, EniInfos<'de>)> = Vec::new();
        while let Some(Key(key)) = map.next_key()? {
            match key.as_ref() {
                "ENIs" => cards.push((
                    0,
                    EniInfos {
                        enis: map.next_value()?,
                    },
                )),
                "TotalIPs" | "AssignedIPs" => {
                    map.next_value::<IgnoredAny>()?;
                }
                card => {
                    let n = card.parse::<u32>().map_err(|_| {
                        A::Error::custom(format!(
                            "expected network card numbers as keys, got {}",
                            Excerpt::of(card)
                        ))
                    })?;
                    if cards.iter().any(|(card, _)| *card == n) {
                        return Err(A::Error::custom(ParseError::DuplicateCard(n)));
                    }
                    cards.push((n, map.next_value()?));
                }
            }
        }
        if cards.is_empty() {
            return Err(A::Error::custom(ParseError::NoEnis));
        }
        Ok(Document { cards })
    }
}

/// Parses `/v1/enis` (either shape) as of `now` (Unix seconds, for the cooldown).
pub fn parse(json: &[u8], now: f64) -> Result<IpamdPools, ParseError> {
    read(json, now).map(|parsed| parsed.pools)
}

/// Pools as of a moment, and until when they hold for the same answer.
#[derive(Debug)]
struct Parsed {
    pools: IpamdPools,
    /// When the first address now cooling down becomes free (Unix seconds; infinity when
    /// none is cooling).
    settled_until: f64,
}

fn read(json: &[u8], now: f64) -> Result<Parsed, ParseError> {
    // One UTF-8 check of the whole answer, not one per string.
    let json = std::str::from_utf8(json).map_err(ParseError::Utf8)?;
    let document: Document<'_> = serde_json::from_str(json).map_err(|e| {
        if e.is_data() {
            ParseError::Shape(e)
        } else {
            ParseError::Syntax(e)
        }
    })?;
    let count: usize = document
        .cards
        .iter()
        .map(|(_, infos)| infos.enis.0.len())
        .sum();
    if count > MAX_ENIS {
        return Err(ParseError::TooManyEnis(count));
    }
    let mut enis: Vec<EniPool> = Vec::with_capacity(count);
    let mut settled_until = f64::INFINITY;
    for (card, infos) in document.cards {
        for (_, raw) in infos.enis.0 {
            let id = &raw.id;
            if !id.starts_with("eni-") || id.len() > MAX_ID {
                return Err(ParseError::EniId(Excerpt::of(id)));
            }
            if enis.iter().any(|e| e.id == *id) {
                return Err(ParseError::DuplicateEni(id.clone().into_owned()));
            }
            enis.push(pool(card, raw, now, &mut settled_until)?);
        }
    }
    enis.sort_by(|a, b| {
        (a.network_card, a.device_number, &a.id).cmp(&(b.network_card, b.device_number, &b.id))
    });
    Ok(Parsed {
        pools: IpamdPools { enis },
        settled_until,
    })
}

/// One ENI's pool; lowers `settled_until` to when its first cooling address is free.
fn pool(
    card: u32,
    raw: RawEni<'_>,
    now: f64,
    settled_until: &mut f64,
) -> Result<EniPool, ParseError> {
    let mut pool = EniPool {
        network_card: card,
        device_number: raw.device_number,
        primary: raw.is_primary,
        trunk: raw.is_trunk,
        excluded: raw.is_excluded_for_pod_ips,
        prefixes: 0,
        secondary_ips: 0,
        total: 0,
        assigned: 0,
        cooldown: 0,
        free: 0,
        id: raw.id.into_owned(),
    };
    for (cidr, info) in raw.available_ipv4_cidrs.unwrap_or_default().0 {
        let bits: u32 = cidr
            .split_once('/')
            .and_then(|(_, bits)| bits.parse().ok())
            .filter(|bits| (24..=32).contains(bits))
            .ok_or_else(|| ParseError::Cidr {
                eni: pool.id.clone(),
                key: Excerpt::of(&cidr),
            })?;
        let size = 1u64 << (32 - bits);
        if bits == 32 {
            pool.secondary_ips += 1;
        } else {
            pool.prefixes += 1;
        }
        let tally = info.ip_addresses.unwrap_or_default();
        let assigned = tally.assigned;
        let mut cooldown = 0;
        for released in tally.released.iter().filter_map(|time| unix_seconds(time)) {
            if now - released < COOLDOWN_SECONDS {
                cooldown += 1;
                *settled_until = settled_until.min(released + COOLDOWN_SECONDS);
            }
        }
        // A corrupt map cannot make the pool negative.
        let used = (assigned + cooldown).min(size);
        pool.total += size;
        pool.assigned += assigned.min(size);
        pool.cooldown += used - assigned.min(size);
        pool.free += size - used;
    }
    Ok(pool)
}

/// RFC 3339 (`2026-08-20T10:05:00.123456789Z`, or with a `+hh:mm` offset) → Unix seconds,
/// by `jiff`. Go's zero time (`0001-01-01T00:00:00Z`, "never released") comes out far in the
/// past.
pub fn unix_seconds(text: &str) -> Option<f64> {
    text.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_duration().as_secs_f64())
}

pub static POOL_ADDRESSES: Family<2> = Family::gauge(
    "nodecap_eni_pool_ipv4_addresses",
    &["eni", "state"],
    "The ENI's IPv4 addresses in ipamd's pool by state: total, assigned, cooldown, free.",
);

impl Export for IpamdPools {
    fn export(&self, out: &mut Samples) {
        for pool in &self.enis {
            for (state, n) in [
                ("total", pool.total),
                ("assigned", pool.assigned),
                ("cooldown", pool.cooldown),
                ("free", pool.free),
            ] {
                out.set(&POOL_ADDRESSES, [&pool.id, state], count(n));
            }
        }
    }
}

#[cfg(test)]
mod tests;
