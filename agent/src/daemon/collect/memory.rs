//! Memory: the node's `MemTotal`/`MemAvailable` (procfs, parsed by the `procfs-core` crate)
//! and what the slices the kubelet reserves memory for really use, from cgroup v2
//! (`memory.current`, `memory.peak`) or v1 (`memory.usage_in_bytes`,
//! `memory.max_usage_in_bytes`). Compared with `kubeReserved`/`systemReserved` downstream, this
//! says whether the reservations `init` wrote are big enough.
//!
//! Roots are parameters (`--proc-root`, `--sys-root`) so tests read fixture trees. A slice
//! that does not exist (no kubelet yet, a cgroupfs-driver node without `runtime.slice`) is
//! simply absent; an unreadable `meminfo` fails the collector.

use std::path::{Path, PathBuf};
use std::time::Duration;

use procfs_core::FromRead;

use super::collector::{Collector, CollectorId, Joined, Reading, blocking};
use crate::telemetry::family::Describe;
use crate::telemetry::family::{Export, Family, Samples, count};

/// A memory cgroup nodecap reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Slice {
    /// systemd's services: sshd, journald, the SSM agent…
    System,
    /// The kubelet and the container runtime (EKS AMIs put them here).
    Runtime,
    /// The pods.
    Kubepods,
}

impl Slice {
    pub const ALL: [Slice; 3] = [Slice::System, Slice::Runtime, Slice::Kubepods];

    /// The cgroup directories the systemd and the cgroupfs drivers use for it.
    fn directories(self) -> &'static [&'static str] {
        match self {
            Slice::System => &["system.slice"],
            Slice::Runtime => &["runtime.slice"],
            Slice::Kubepods => &["kubepods.slice", "kubepods"],
        }
    }
}

impl std::fmt::Display for Slice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Slice::System => "system.slice",
            Slice::Runtime => "runtime.slice",
            Slice::Kubepods => "kubepods.slice",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Memory {
    pub total_bytes: u64,
    pub available_bytes: Option<u64>,
    /// 2 or 1; `None` when no memory cgroup hierarchy was found.
    pub cgroup_version: Option<u8>,
    pub slices: Vec<SliceUsage>,
}

impl Memory {
    /// What `slice` uses, if it exists.
    pub fn usage(&self, slice: Slice) -> Option<u64> {
        self.slices
            .iter()
            .find(|s| s.slice == slice)
            .map(|s| s.usage_bytes)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceUsage {
    pub slice: Slice,
    pub usage_bytes: u64,
    /// The high-water mark since the cgroup was created (v2 needs kernel 5.19+).
    pub peak_bytes: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: expected /proc/meminfo lines")]
    Meminfo {
        path: PathBuf,
        source: procfs_core::ProcError,
    },
    #[error("{path}: expected a byte count, got {got:?}")]
    Bytes { path: PathBuf, got: String },
    #[error(transparent)]
    Joined(#[from] Joined),
}

/// Reads the node's memory and the slices' cgroups.
#[derive(Debug, Clone)]
pub struct MemoryCollector {
    proc_root: PathBuf,
    sys_root: PathBuf,
}

impl MemoryCollector {
    pub fn new(proc_root: &Path, sys_root: &Path) -> Self {
        MemoryCollector {
            proc_root: proc_root.to_owned(),
            sys_root: sys_root.to_owned(),
        }
    }
}

impl Collector for MemoryCollector {
    type Part = Memory;
    type Error = Error;
    const ID: CollectorId = CollectorId::Memory;
    const FAMILIES: &'static [&'static Describe] = &[
        &TOTAL.describe,
        &AVAILABLE.describe,
        &CGROUP_USAGE.describe,
        &CGROUP_PEAK.describe,
    ];
    const TIMEOUT: Duration = Duration::from_secs(5);

    async fn collect(&mut self) -> Result<Reading<Memory>, Error> {
        let me = self.clone();
        blocking(move || read(&me.proc_root, &me.sys_root))
            .await
            .map(Reading::Fresh)
    }
}

/// Reads `<proc_root>/meminfo` and the slices under `<sys_root>/fs/cgroup`.
pub fn read(proc_root: &Path, sys_root: &Path) -> Result<Memory, Error> {
    let meminfo = proc_root.join("meminfo");
    let text = std::fs::read(&meminfo).map_err(|source| Error::Read {
        path: meminfo.clone(),
        source,
    })?;
    let (total_bytes, available_bytes) = parse_meminfo(&text).map_err(|source| Error::Meminfo {
        path: meminfo.clone(),
        source,
    })?;
    let cgroup = sys_root.join("fs/cgroup");
    let (cgroup_version, base, current, peak) = if cgroup.join("cgroup.controllers").exists() {
        (Some(2), cgroup, "memory.current", "memory.peak")
    } else if cgroup.join("memory").is_dir() {
        (
            Some(1),
            cgroup.join("memory"),
            "memory.usage_in_bytes",
            "memory.max_usage_in_bytes",
        )
    } else {
        (None, PathBuf::new(), "", "")
    };
    let mut slices = Vec::new();
    if cgroup_version.is_some() {
        for slice in Slice::ALL {
            let Some(dir) = slice
                .directories()
                .iter()
                .map(|d| base.join(d))
                .find(|d| d.is_dir())
            else {
                continue;
            };
            let Some(usage_bytes) = read_bytes(&dir.join(current))? else {
                continue;
            };
            slices.push(SliceUsage {
                slice,
                usage_bytes,
                peak_bytes: read_bytes(&dir.join(peak))?,
            });
        }
    }
    Ok(Memory {
        total_bytes,
        available_bytes,
        cgroup_version,
        slices,
    })
}

/// `MemTotal` and `MemAvailable` in bytes.
fn parse_meminfo(text: &[u8]) -> Result<(u64, Option<u64>), procfs_core::ProcError> {
    let info = procfs_core::Meminfo::from_read(text)?;
    Ok((info.mem_total, info.mem_available))
}

/// A cgroup byte counter: `Ok(None)` when the file does not exist.
fn read_bytes(path: &Path) -> Result<Option<u64>, Error> {
    match std::fs::read_to_string(path) {
        Ok(text) => text.trim().parse().map(Some).map_err(|_| Error::Bytes {
            path: path.to_owned(),
            got: text.trim().to_owned(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

pub static TOTAL: Family<0> = Family::gauge(
    "nodecap_memory_total_bytes",
    &[],
    "MemTotal from /proc/meminfo.",
);
pub static AVAILABLE: Family<0> = Family::gauge(
    "nodecap_memory_available_bytes",
    &[],
    "MemAvailable from /proc/meminfo.",
);
pub static CGROUP_USAGE: Family<1> = Family::gauge(
    "nodecap_cgroup_memory_usage_bytes",
    &["slice"],
    "Memory the slice's cgroup uses now.",
);
pub static CGROUP_PEAK: Family<1> = Family::gauge(
    "nodecap_cgroup_memory_peak_bytes",
    &["slice"],
    "The slice cgroup's memory high-water mark.",
);

impl Export for Memory {
    fn export(&self, out: &mut Samples) {
        out.set(&TOTAL, [], count(self.total_bytes));
        if let Some(n) = self.available_bytes {
            out.set(&AVAILABLE, [], count(n));
        }
        for s in &self.slices {
            let slice = s.slice.to_string();
            out.set(&CGROUP_USAGE, [&slice], count(s.usage_bytes));
            if let Some(peak) = s.peak_bytes {
                out.set(&CGROUP_PEAK, [&slice], count(peak));
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A complete `/proc/meminfo` of an 8 GiB node (procfs-core wants every field).
    pub const MEMINFO: &str = "MemTotal:        8026256 kB
MemFree:         5123456 kB
MemAvailable:    6543210 kB
Buffers:          123456 kB
Cached:          1234567 kB
SwapCached:            0 kB
Active:          1500000 kB
Inactive:         900000 kB
Active(anon):     700000 kB
Inactive(anon):    10000 kB
Active(file):     800000 kB
Inactive(file):   890000 kB
Unevictable:           0 kB
Mlocked:               0 kB
SwapTotal:             0 kB
SwapFree:              0 kB
Dirty:               100 kB
Writeback:             0 kB
AnonPages:        690000 kB
Mapped:           300000 kB
Shmem:             20000 kB
KReclaimable:     100000 kB
Slab:             200000 kB
SReclaimable:     100000 kB
SUnreclaim:       100000 kB
KernelStack:       10000 kB
PageTables:        10000 kB
NFS_Unstable:          0 kB
Bounce:                0 kB
WritebackTmp:          0 kB
CommitLimit:     4013128 kB
Committed_AS:    3000000 kB
VmallocTotal:   34359738367 kB
VmallocUsed:       30000 kB
VmallocChunk:          0 kB
Percpu:             5000 kB
HardwareCorrupted:     0 kB
AnonHugePages:         0 kB
ShmemHugePages:        0 kB
ShmemPmdMapped:        0 kB
HugePages_Total:       0
HugePages_Free:        0
HugePages_Rsvd:        0
HugePages_Surp:        0
Hugepagesize:       2048 kB
Hugetlb:               0 kB
DirectMap4k:      200000 kB
DirectMap2M:     8000000 kB
";

    /// Writes `files` (relative path, content) under a new temporary root.
    pub fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        for (path, content) in files {
            let path = root.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        root
    }

    #[test]
    fn cgroup_v2_tree() {
        let root = tree(&[
            ("proc/meminfo", MEMINFO),
            ("sys/fs/cgroup/cgroup.controllers", "cpu memory pids\n"),
            ("sys/fs/cgroup/system.slice/memory.current", "314572800\n"),
            ("sys/fs/cgroup/system.slice/memory.peak", "419430400\n"),
            ("sys/fs/cgroup/runtime.slice/memory.current", "524288000\n"),
            (
                "sys/fs/cgroup/kubepods.slice/memory.current",
                "1073741824\n",
            ),
        ]);
        let m = read(&root.path().join("proc"), &root.path().join("sys")).unwrap();
        assert_eq!(m.total_bytes, 8_026_256 * 1024);
        assert_eq!(m.available_bytes, Some(6_543_210 * 1024));
        assert_eq!(m.cgroup_version, Some(2));
        assert_eq!(
            m.slices,
            vec![
                SliceUsage {
                    slice: Slice::System,
                    usage_bytes: 314_572_800,
                    peak_bytes: Some(419_430_400)
                },
                SliceUsage {
                    slice: Slice::Runtime,
                    usage_bytes: 524_288_000,
                    peak_bytes: None
                },
                SliceUsage {
                    slice: Slice::Kubepods,
                    usage_bytes: 1_073_741_824,
                    peak_bytes: None
                },
            ]
        );
    }

    #[test]
    fn cgroup_v1_tree_with_the_cgroupfs_driver() {
        let root = tree(&[
            ("proc/meminfo", MEMINFO),
            (
                "sys/fs/cgroup/memory/system.slice/memory.usage_in_bytes",
                "200000000",
            ),
            (
                "sys/fs/cgroup/memory/system.slice/memory.max_usage_in_bytes",
                "250000000",
            ),
            (
                "sys/fs/cgroup/memory/kubepods/memory.usage_in_bytes",
                "900000000",
            ),
            (
                "sys/fs/cgroup/memory/kubepods/memory.max_usage_in_bytes",
                "950000000",
            ),
        ]);
        let m = read(&root.path().join("proc"), &root.path().join("sys")).unwrap();
        assert_eq!(m.cgroup_version, Some(1));
        let names: Vec<_> = m
            .slices
            .iter()
            .map(|s| (s.slice, s.usage_bytes, s.peak_bytes))
            .collect();
        assert_eq!(
            names,
            vec![
                (Slice::System, 200_000_000, Some(250_000_000)),
                (Slice::Kubepods, 900_000_000, Some(950_000_000))
            ]
        );
    }

    #[test]
    fn failures_name_the_file() {
        let root = tree(&[("proc/meminfo", "MemTotal: lots\n")]);
        let err = read(&root.path().join("proc"), &root.path().join("sys")).unwrap_err();
        let err = crate::error::Chain(&err).to_string();
        assert!(
            err.contains("meminfo: expected /proc/meminfo lines"),
            "{err}"
        );
        let none = tree(&[]);
        assert!(
            read(&none.path().join("proc"), none.path())
                .unwrap_err()
                .to_string()
                .contains("meminfo")
        );
        let root = tree(&[
            ("proc/meminfo", MEMINFO),
            ("sys/fs/cgroup/cgroup.controllers", ""),
            ("sys/fs/cgroup/system.slice/memory.current", "max\n"),
        ]);
        let err = read(&root.path().join("proc"), &root.path().join("sys"))
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("memory.current: expected a byte count, got \"max\""),
            "{err}"
        );
        // No cgroup tree at all: node figures only.
        let root = tree(&[("proc/meminfo", MEMINFO)]);
        let m = read(&root.path().join("proc"), &root.path().join("sys")).unwrap();
        assert_eq!((m.cgroup_version, m.slices.len()), (None, 0));
    }
}
