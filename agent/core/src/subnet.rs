//! A subnet's IPv4 headroom from what occupies it: how many addresses are left, and how many
//! aligned /28 blocks prefix delegation can still get. Pure: the subnet's CIDR, the addresses
//! and /28 prefixes its network interfaces hold and its CIDR reservations in; counts out.
//!
//! The rules, from the VPC documentation:
//! - AWS reserves 5 addresses in every subnet: the network address, the VPC router (+1), DNS
//!   (+2), one for future use (+3) and the last (<https://docs.aws.amazon.com/vpc/latest/userguide/subnet-sizing.html>).
//! - A delegated prefix is an aligned /28 none of whose 16 addresses is in use; a subnet with
//!   free addresses scattered between used ones has no such block, and EC2 answers
//!   `InsufficientCidrBlocks` (<https://docs.aws.amazon.com/vpc/latest/userguide/subnet-cidr-reservation.html>).
//! - A CIDR reservation of type `explicit` is never assigned automatically; one of type
//!   `prefix` is where EC2 takes delegated prefixes from first.
//!
//! The subnet is held as a bitmap of its addresses (a /16, the largest subnet a VPC allows,
//! is 8 KiB), so every figure is one pass over it and an address counted twice (a secondary
//! address inside a delegated prefix, an answer listing an ENI twice) is counted once.

// `core::net`, not `std::net`: the address type alone, no sockets.
use ::core::net::Ipv4Addr;

pub use ipnet::Ipv4Net;

/// The addresses AWS keeps in every subnet.
const AWS_RESERVED: u64 = 5;
/// Addresses in a delegated prefix (a /28).
const PREFIX_ADDRESSES: u64 = 16;
/// The prefix lengths of the largest subnet a VPC allows (/16) and of the smallest (/28).
const LARGEST_SUBNET: u8 = 16;
const SMALLEST_SUBNET: u8 = 28;

/// What a subnet CIDR reservation sets its addresses aside for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReservationKind {
    /// Where EC2 takes delegated /28 prefixes from first.
    Prefix,
    /// Assigned only by asking for the address; never automatically.
    Explicit,
}

/// One subnet CIDR reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CidrReservation {
    pub cidr: Ipv4Net,
    pub kind: ReservationKind,
}

/// A subnet's figures. `usable = used + reserved + available`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Headroom {
    /// Addresses in the CIDR minus the 5 AWS keeps.
    pub usable: u64,
    /// Distinct addresses network interfaces hold: primary and secondary addresses and the 16
    /// of every delegated prefix.
    pub used: u64,
    /// Addresses in `explicit` reservations that no interface holds: not available to the CNI.
    pub reserved: u64,
    /// `usable − used − reserved`: what EC2 can still hand out automatically.
    pub available: u64,
    /// Delegated /28 prefixes held.
    pub prefixes_used: u64,
    /// Aligned /28 blocks none of whose addresses is used, kept by AWS or in an `explicit`
    /// reservation: the prefixes prefix delegation can still get.
    pub prefixes_free: u64,
    /// Of those, the blocks wholly inside `prefix` reservations.
    pub prefixes_free_reserved: u64,
}

/// The subnet's addresses as bits: 1 = taken.
#[derive(Debug)]
struct Bitmap {
    base: u32,
    size: u64,
    words: Vec<u64>,
}

impl Bitmap {
    fn new(cidr: Ipv4Net) -> Self {
        let size = cidr_size(cidr);
        Bitmap {
            base: u32::from(cidr.network()),
            size,
            words: vec![0; usize::try_from(size.div_ceil(64)).unwrap_or(0)],
        }
    }

    fn index(&self, address: u32) -> Option<usize> {
        let offset = address.checked_sub(self.base)?;
        if u64::from(offset) < self.size {
            usize::try_from(offset).ok()
        } else {
            None
        }
    }

    /// Sets the bits of `first..=last` that fall inside the subnet.
    fn set_range(&mut self, first: u32, last: u32) {
        let first = first.max(self.base);
        let mut address = first;
        while address <= last {
            let Some(i) = self.index(address) else { break };
            self.words[i / 64] |= 1 << (i % 64);
            match address.checked_add(1) {
                Some(next) => address = next,
                None => break,
            }
        }
    }

    fn set_net(&mut self, net: Ipv4Net) {
        self.set_range(u32::from(net.network()), u32::from(net.broadcast()));
    }

    /// The 16 bits of /28 block `block` (blocks are aligned to the subnet, itself aligned to
    /// at least /28).
    fn block(&self, block: usize) -> u64 {
        (self.words[block / 4] >> ((block % 4) * 16)) & 0xFFFF
    }
}

fn cidr_size(cidr: Ipv4Net) -> u64 {
    1u64 << (32 - u32::from(cidr.prefix_len()))
}

/// What the network interfaces in one subnet hold, gathered interface by interface (its size
/// is the subnet's, whatever the number of interfaces).
#[derive(Debug)]
pub struct Occupancy {
    cidr: Ipv4Net,
    used: Bitmap,
    prefixes_used: u64,
}

impl Occupancy {
    /// An empty subnet `cidr` (a /16 to a /28).
    pub fn new(cidr: Ipv4Net) -> Self {
        let cidr = cidr.trunc();
        Occupancy {
            cidr,
            used: Bitmap::new(cidr),
            prefixes_used: 0,
        }
    }

    /// An address an interface holds; one outside the subnet is ignored.
    pub fn add_address(&mut self, address: Ipv4Addr) {
        let a = u32::from(address);
        self.used.set_range(a, a);
    }

    /// A /28 prefix delegated to an interface; one outside the subnet is ignored.
    pub fn add_prefix(&mut self, prefix: Ipv4Net) {
        let prefix = prefix.trunc();
        if self.cidr.contains(&prefix) {
            self.prefixes_used += 1;
            self.used.set_net(prefix);
        }
    }

    /// The figures, given the subnet's reservations.
    pub fn headroom(&self, reservations: &[CidrReservation]) -> Headroom {
        let cidr = self.cidr;
        let used = &self.used;
        // AWS's five: the first four and the last.
        let mut aws = Bitmap::new(cidr);
        let network = u32::from(cidr.network());
        aws.set_range(network, network + 3);
        aws.set_range(u32::from(cidr.broadcast()), u32::from(cidr.broadcast()));
        let mut explicit = Bitmap::new(cidr);
        let mut prefix_reserved = Bitmap::new(cidr);
        for r in reservations {
            match r.kind {
                ReservationKind::Explicit => explicit.set_net(r.cidr),
                ReservationKind::Prefix => prefix_reserved.set_net(r.cidr),
            }
        }

        let mut used_usable = 0;
        let mut reserved = 0;
        for w in 0..used.words.len() {
            let usable = !aws.words[w];
            used_usable += u64::from((used.words[w] & usable).count_ones());
            reserved += u64::from((explicit.words[w] & usable & !used.words[w]).count_ones());
        }
        let size = cidr_size(cidr);
        let mut prefixes_free = 0;
        let mut prefixes_free_reserved = 0;
        for b in 0..usize::try_from(size / PREFIX_ADDRESSES).unwrap_or(0) {
            if used.block(b) | aws.block(b) | explicit.block(b) == 0 {
                prefixes_free += 1;
                if prefix_reserved.block(b) == 0xFFFF {
                    prefixes_free_reserved += 1;
                }
            }
        }
        let usable = size.saturating_sub(AWS_RESERVED);
        Headroom {
            usable,
            used: used_usable,
            reserved,
            available: usable.saturating_sub(used_usable + reserved),
            prefixes_used: self.prefixes_used,
            prefixes_free,
            prefixes_free_reserved,
        }
    }
}

/// The figures of subnet `cidr` (a /16 to a /28), given every address and /28 prefix its
/// network interfaces hold and its reservations. What falls outside the CIDR is ignored.
pub fn headroom(
    cidr: Ipv4Net,
    addresses: impl IntoIterator<Item = Ipv4Addr>,
    prefixes: impl IntoIterator<Item = Ipv4Net>,
    reservations: &[CidrReservation],
) -> Headroom {
    let mut occupancy = Occupancy::new(cidr);
    addresses.into_iter().for_each(|a| occupancy.add_address(a));
    prefixes.into_iter().for_each(|p| occupancy.add_prefix(p));
    occupancy.headroom(reservations)
}

/// Why a CIDR is not a subnet's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("expected an IPv4 CIDR such as 10.0.0.0/24")]
    Syntax,
    #[error("expected a /16 to a /28 (the sizes a VPC subnet can have)")]
    Size,
    #[error("expected no host bits (the network address is {0})")]
    HostBits(Ipv4Net),
}

/// A subnet's CIDR as EC2 gives it: an IPv4 network, /16 to /28, without host bits.
pub fn parse_subnet_cidr(text: &str) -> Result<Ipv4Net, CidrError> {
    let net: Ipv4Net = text.trim().parse().map_err(|_| CidrError::Syntax)?;
    if !(LARGEST_SUBNET..=SMALLEST_SUBNET).contains(&net.prefix_len()) {
        return Err(CidrError::Size);
    }
    if net.trunc() != net {
        return Err(CidrError::HostBits(net.trunc()));
    }
    Ok(net)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> Ipv4Net {
        text.parse().unwrap()
    }

    fn ip(text: &str) -> Ipv4Addr {
        text.parse().unwrap()
    }

    #[test]
    fn an_empty_subnet_is_usable_but_for_five_addresses() {
        let h = headroom(net("10.0.0.0/24"), [], [], &[]);
        assert_eq!((h.usable, h.used, h.available), (251, 0, 251));
        // 16 blocks; the first holds the four AWS keeps, the last the broadcast address.
        assert_eq!(h.prefixes_free, 14);
        let h = headroom(net("10.0.0.0/28"), [], [], &[]);
        assert_eq!((h.usable, h.available, h.prefixes_free), (11, 11, 0));
        let h = headroom(net("10.0.0.0/16"), [], [], &[]);
        assert_eq!((h.usable, h.prefixes_free), (65_531, 4094));
    }

    #[test]
    fn addresses_and_prefixes_are_counted_once() {
        let addresses = [ip("10.0.0.10"), ip("10.0.0.11"), ip("10.0.0.10")];
        // A secondary address inside a prefix counts once; a prefix elsewhere counts 16.
        let prefixes = [net("10.0.0.16/28"), net("10.0.0.32/28")];
        let h = headroom(
            net("10.0.0.0/24"),
            addresses.into_iter().chain([ip("10.0.0.17")]),
            prefixes,
            &[],
        );
        assert_eq!((h.used, h.available, h.prefixes_used), (34, 217, 2));
        // Blocks 1 and 2 are prefixes; block 0 also holds .10 and .11.
        assert_eq!(h.prefixes_free, 12);
    }

    #[test]
    fn a_fragmented_subnet_has_addresses_but_no_free_block() {
        // A /26: blocks .0 (AWS), .16, .32, .48 (broadcast). One address in each of the two
        // middle blocks: 57 − 2 addresses free, no aligned /28.
        let h = headroom(
            net("10.1.0.0/26"),
            [ip("10.1.0.20"), ip("10.1.0.40")],
            [],
            &[],
        );
        assert_eq!((h.usable, h.used, h.available), (59, 2, 57));
        assert_eq!(h.prefixes_free, 0);
    }

    #[test]
    fn reservations() {
        let reservations = [
            CidrReservation {
                cidr: net("10.0.0.64/27"),
                kind: ReservationKind::Explicit,
            },
            CidrReservation {
                cidr: net("10.0.0.128/26"),
                kind: ReservationKind::Prefix,
            },
        ];
        // One address of the explicit range is in use (assigned by asking for it).
        let h = headroom(
            net("10.0.0.0/24"),
            [ip("10.0.0.70")],
            [net("10.0.0.128/28")],
            &reservations,
        );
        assert_eq!((h.used, h.reserved), (17, 31));
        assert_eq!(h.available, 251 - 17 - 31);
        // 14 free blocks in an empty /24, less the explicit range's 2 and the prefix's 1;
        // the prefix reservation's other 3 are free and counted on their own too.
        assert_eq!((h.prefixes_free, h.prefixes_free_reserved), (11, 3));
    }

    #[test]
    fn outside_the_subnet_is_ignored() {
        // A /28 is a quarter of its bitmap's word: the rest is not the subnet's.
        let h = headroom(net("10.0.0.0/28"), [ip("10.0.0.20")], [], &[]);
        assert_eq!((h.used, h.available), (0, 11));
        let h = headroom(
            net("10.0.1.0/24"),
            [ip("10.0.0.5"), ip("10.0.2.5"), ip("255.255.255.255")],
            [net("10.0.0.0/28")],
            &[],
        );
        assert_eq!((h.used, h.prefixes_used, h.prefixes_free), (0, 0, 14));
    }

    #[test]
    fn cidrs() {
        assert_eq!(parse_subnet_cidr("10.0.0.0/24"), Ok(net("10.0.0.0/24")));
        assert_eq!(parse_subnet_cidr("10.0.0.0/29"), Err(CidrError::Size));
        assert_eq!(parse_subnet_cidr("10.0.0.0/15"), Err(CidrError::Size));
        assert_eq!(
            parse_subnet_cidr("10.0.0.1/24"),
            Err(CidrError::HostBits(net("10.0.0.0/24")))
        );
        assert_eq!(parse_subnet_cidr("fd00::/64"), Err(CidrError::Syntax));
    }
}
