//! An interface's ethtool statistics (what `ethtool -S` prints) through the `SIOCETHTOOL`
//! ioctl: `ETHTOOL_GSSET_INFO` (how many), `ETHTOOL_GSTRINGS` (names), `ETHTOOL_GSTATS`
//! (values). These three need no capability; the caller must be in the interface's network
//! namespace (linux `net/ethtool/ioctl.c`; docs/ena.md).
//!
//! This module holds the crate's only `unsafe` code. The kernel reads a command from, and
//! writes its answer into, a buffer whose layout the command decides, so the one function
//! that calls the ioctl ([`ethtool`]) takes only the [`Command`] buffers below: each is
//! `#[repr(C)]`-shaped, starts with its command word and is built with room for the longest
//! answer its command can give. No other pointer can reach the kernel.

#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, OwnedFd};

const ETHTOOL_GSTRINGS: u32 = 0x1b;
const ETHTOOL_GSTATS: u32 = 0x1d;
const ETHTOOL_GSSET_INFO: u32 = 0x37;
const ETH_SS_STATS: u32 = 1;
const ETH_GSTRING_LEN: usize = 32;
/// Extra room in every buffer: the kernel writes as many entries as the driver reports *now*,
/// which could exceed the count it gave a moment earlier.
const SLACK: usize = 64;
/// No driver reports anywhere near this many statistics; more means a confused answer.
const MAX_STATS: usize = 1 << 16;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("socket: {}", .0.desc())]
    Socket(nix::Error),
    #[error("{interface:?}: not an interface name")]
    Name { interface: String },
    #[error("{interface}: SIOCETHTOOL: {}", errno.desc())]
    Ioctl {
        interface: String,
        errno: nix::Error,
    },
    #[error("{interface}: the driver reports {count} statistics")]
    TooMany { interface: String, count: usize },
    #[error(
        "{interface}: the statistics changed while being read ({names} names, {values} values)"
    )]
    Changed {
        interface: String,
        names: usize,
        values: usize,
    },
}

/// A buffer `SIOCETHTOOL` may read a command from and write its answer into.
///
/// # Safety
///
/// An implementor's buffer starts with the `u32` command word its command expects, is laid
/// out as the kernel's `struct ethtool_*` for that command, and is long enough for the
/// longest answer the command can write.
unsafe trait Command {
    fn buffer(&mut self) -> *mut libc::c_void;
}

/// `struct ethtool_sset_info { u32 cmd; u32 reserved; u64 sset_mask; u32 data[]; }` asking
/// for one string set: the answer is one `u32`.
#[repr(C)]
struct SsetInfo {
    cmd: u32,
    reserved: u32,
    sset_mask: u64,
    data: [u32; 2],
}

// SAFETY: `#[repr(C)]` with the kernel's field order; one set is asked for (one bit in
// `sset_mask`), so the kernel writes at most one `u32` of `data`, which has room for two.
unsafe impl Command for SsetInfo {
    fn buffer(&mut self) -> *mut libc::c_void {
        std::ptr::from_mut(self).cast()
    }
}

/// `struct ethtool_gstrings { u32 cmd; u32 string_set; u32 len; u8 data[]; }`, as `u32` words
/// with room for `count + SLACK` names of 32 bytes.
struct Strings {
    words: Vec<u32>,
}

impl Strings {
    fn new(count: usize) -> Self {
        let mut words = vec![0u32; 3 + (count + SLACK) * ETH_GSTRING_LEN / 4];
        words[..3].copy_from_slice(&[
            ETHTOOL_GSTRINGS,
            ETH_SS_STATS,
            u32::try_from(count).unwrap_or(0),
        ]);
        Strings { words }
    }

    /// The names the kernel wrote.
    fn names(&self) -> Vec<String> {
        let len = usize::try_from(self.words[2]).unwrap_or(usize::MAX);
        let bytes: Vec<u8> = self.words[3..]
            .iter()
            .flat_map(|w| w.to_ne_bytes())
            .collect();
        bytes
            .chunks(ETH_GSTRING_LEN)
            .take(len)
            .map(|raw| {
                let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
                String::from_utf8_lossy(&raw[..end]).into_owned()
            })
            .collect()
    }

    fn len(&self) -> usize {
        usize::try_from(self.words[2]).unwrap_or(usize::MAX)
    }
}

// SAFETY: a `u32` buffer whose first three words are the header; the kernel writes at most
// the driver's current number of names, bounded by `MAX_STATS` checks and the `SLACK` entries
// beyond the count it reported a moment earlier.
unsafe impl Command for Strings {
    fn buffer(&mut self) -> *mut libc::c_void {
        self.words.as_mut_ptr().cast()
    }
}

/// `struct ethtool_stats { u32 cmd; u32 n_stats; u64 data[]; }`, as `u64` words with room
/// for `count + SLACK` values.
struct Stats {
    words: Vec<u64>,
}

impl Stats {
    fn new(count: usize) -> Self {
        let mut words = vec![0u64; 1 + count + SLACK];
        words[0] = u64::from_ne_bytes(pair(ETHTOOL_GSTATS, u32::try_from(count).unwrap_or(0)));
        Stats { words }
    }

    fn len(&self) -> usize {
        usize::try_from(u32::from_ne_bytes(last_four(self.words[0]))).unwrap_or(usize::MAX)
    }

    fn values(&self) -> &[u64] {
        &self.words[1..]
    }
}

// SAFETY: a `u64` buffer whose first word holds the two `u32` header fields; the kernel
// writes at most the driver's current number of values, with `SLACK` room as for `Strings`.
unsafe impl Command for Stats {
    fn buffer(&mut self) -> *mut libc::c_void {
        self.words.as_mut_ptr().cast()
    }
}

/// `struct ifreq` with the `ifr_data` member of its union (40 bytes on 64-bit Linux).
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    data: *mut libc::c_void,
    _pad: [u8; 16],
}

nix::ioctl_readwrite_bad!(siocethtool, libc::SIOCETHTOOL, IfReq);

/// Runs one ethtool command on `interface`.
fn ethtool(socket: &OwnedFd, interface: &str, command: &mut impl Command) -> Result<(), Error> {
    let bytes = interface.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ {
        return Err(Error::Name {
            interface: interface.to_owned(),
        });
    }
    let mut request = IfReq {
        name: [0; libc::IFNAMSIZ],
        data: command.buffer(),
        _pad: [0; 16],
    };
    request.name[..bytes.len()].copy_from_slice(bytes);
    // SAFETY: `request` is a properly laid out, NUL-terminated `struct ifreq` that outlives
    // the call; its `ifr_data` points at a live `Command` buffer, which by that trait's
    // contract holds the command and has room for its answer.
    unsafe { siocethtool(socket.as_raw_fd(), &mut request) }
        .map(|_| ())
        .map_err(|errno| Error::Ioctl {
            interface: interface.to_owned(),
            errno,
        })
}

/// An interface's ethtool statistics, as `ethtool -S` prints them.
pub fn read_stats(interface: &str) -> Result<Vec<(String, u64)>, Error> {
    let socket = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(Error::Socket)?;

    let mut info = SsetInfo {
        cmd: ETHTOOL_GSSET_INFO,
        reserved: 0,
        sset_mask: 1 << ETH_SS_STATS,
        data: [0; 2],
    };
    ethtool(&socket, interface, &mut info)?;
    if info.sset_mask & (1 << ETH_SS_STATS) == 0 {
        return Ok(Vec::new());
    }
    let count = usize::try_from(info.data[0]).unwrap_or(usize::MAX);
    if count == 0 {
        return Ok(Vec::new());
    }
    if count > MAX_STATS {
        return Err(Error::TooMany {
            interface: interface.to_owned(),
            count,
        });
    }

    let mut strings = Strings::new(count);
    ethtool(&socket, interface, &mut strings)?;
    let mut stats = Stats::new(count);
    ethtool(&socket, interface, &mut stats)?;

    let (names, values) = (strings.len(), stats.len());
    if names != values || names > count + SLACK {
        return Err(Error::Changed {
            interface: interface.to_owned(),
            names,
            values,
        });
    }
    Ok(strings
        .names()
        .into_iter()
        .zip(stats.values().iter().copied())
        .collect())
}

/// Two `u32`s laid out in memory as one `u64`.
fn pair(first: u32, second: u32) -> [u8; 8] {
    let mut bytes = [0u8; 8];
    bytes[..4].copy_from_slice(&first.to_ne_bytes());
    bytes[4..].copy_from_slice(&second.to_ne_bytes());
    bytes
}

fn last_four(word: u64) -> [u8; 4] {
    let b = word.to_ne_bytes();
    [b[4], b[5], b[6], b[7]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ioctl_answers_for_real_interfaces() {
        // The loopback device has no driver statistics: an empty answer, not an error.
        assert_eq!(read_stats("lo").unwrap(), Vec::new());
        let err = read_stats("nodecap-none0").unwrap_err().to_string();
        assert!(
            err.starts_with("nodecap-none0: SIOCETHTOOL: No such device"),
            "{err}"
        );
        assert!(read_stats("a-name-far-too-long-for-ifreq").is_err());
    }

    #[test]
    fn the_info_buffer_is_the_kernels_layout() {
        assert_eq!(std::mem::size_of::<SsetInfo>(), 24);
        assert_eq!(std::mem::offset_of!(SsetInfo, sset_mask), 8);
        assert_eq!(std::mem::offset_of!(SsetInfo, data), 16);
    }
}
