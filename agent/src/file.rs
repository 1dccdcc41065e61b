//! Files: the one way nodecap reads a file ([`read_text`]) and the one way it writes one.
//!
//! Reading: only a regular file (checked before opening, and again on the open descriptor),
//! opened non-blocking, and at most a stated number of bytes. A FIFO at a path nodecap reads
//! would otherwise block it for good, and `/dev/zero` would fill its memory; both are
//! refused with an error naming the path and what it is.
//!
//! Writing: A temporary file in the target's directory, written,
//! fsynced, renamed over the target, then the directory fsynced. A reader (the kubelet,
//! nodeadm) sees the complete old file or the complete new one, never a mix, even across a
//! crash or power loss. An identical file is not rewritten (its mtime stays).
//!
//! Temporary files are named `.<name>.nodecap-tmp.<pid>.<unique>`: hidden, and with an
//! extension that neither the kubelet (`*.conf`) nor nodeadm (`*.yaml`, `*.yml`, `*.json`)
//! reads. Each is locked (`flock`) while its run lives; leftovers of a killed run (whose lock
//! died with it) are removed by the next run on the same target, changed or not, and a live
//! run's never are.
//!
//! Failure: every error names the step and the path; the previous file is untouched and the
//! temporary file is removed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A file nodecap cannot read as text.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: cannot {step}")]
    Io {
        step: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{path}: expected a regular file, found {kind}")]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{path}: expected at most {limit} bytes; this is not a file nodecap reads")]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{path}: expected UTF-8 text, found invalid bytes at offset {offset}")]
    NotUtf8 { path: PathBuf, offset: usize },
}

impl ReadError {
    /// The content or the kind of file is wrong (as opposed to the system refusing the read).
    pub fn is_content(&self) -> bool {
        !matches!(self, ReadError::Io { .. })
    }

    /// The file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

fn kind_of(file_type: fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    }
}

/// The text of the regular file at `path` (symbolic links followed), at most `limit` bytes.
pub fn read_text(path: &Path, limit: u64) -> Result<String, ReadError> {
    String::from_utf8(read_bytes(path, limit)?).map_err(|e| ReadError::NotUtf8 {
        path: path.to_owned(),
        offset: e.utf8_error().valid_up_to(),
    })
}

/// The bytes of the regular file at `path` (symbolic links followed), at most `limit`.
/// `/dev/null`, the usual way to say "no file", reads as empty.
pub fn read_bytes(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let file = open_regular(path)?;
    let too_large = || ReadError::TooLarge {
        path: path.to_owned(),
        limit,
    };
    let len = file
        .metadata()
        .map_err(|source| ReadError::Io {
            step: "read",
            path: path.to_owned(),
            source,
        })?
        .len();
    if len > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    read_limited(file, path, limit, &mut bytes)?;
    Ok(bytes)
}

/// At most `limit` bytes of `reader` (the file at `path`) into `bytes`: one byte past the
/// limit tells a file that grew since its `stat`, or one read as a stream.
fn read_limited(
    reader: impl Read,
    path: &Path,
    limit: u64,
    bytes: &mut Vec<u8>,
) -> Result<(), ReadError> {
    reader
        .take(limit + 1)
        .read_to_end(bytes)
        .map_err(|source| ReadError::Io {
            step: "read",
            path: path.to_owned(),
            source,
        })?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge {
            path: path.to_owned(),
            limit,
        });
    }
    Ok(())
}

/// The regular file at `path` (symbolic links followed), open for reading: refused before
/// opening when it is anything else (opening some devices has effects of its own), opened
/// non-blocking, and checked again on the descriptor. `/dev/null`, the usual way to say "no
/// file", opens as the empty file it reads as. For a file read as a stream, which
/// [`read_bytes`] would hold whole.
pub fn open_regular(path: &Path) -> Result<File, ReadError> {
    if path == Path::new("/dev/null") {
        return File::open(path).map_err(|source| ReadError::Io {
            step: "open",
            path: path.to_owned(),
            source,
        });
    }
    let io = |step| {
        move |source| ReadError::Io {
            step,
            path: path.to_owned(),
            source,
        }
    };
    let regular = |file_type: fs::FileType| {
        if file_type.is_file() {
            Ok(())
        } else {
            Err(ReadError::NotRegular {
                path: path.to_owned(),
                kind: kind_of(file_type),
            })
        }
    };
    // Before opening: opening some devices has effects of its own.
    regular(fs::metadata(path).map_err(io("read"))?.file_type())?;
    // Non-blocking: should a FIFO have replaced the file since, the open does not wait for
    // a writer, and the descriptor's own type refuses it below.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io("open"))?;
    regular(file.metadata().map_err(io("read"))?.file_type())?;
    Ok(file)
}

/// Like [`read_text`], but `Ok(None)` when nothing is at `path`.
pub fn read_text_if_exists(path: &Path, limit: u64) -> Result<Option<String>, ReadError> {
    match read_text(path, limit) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// The largest configuration file read: nodecap's own, a kubelet config, a drop-in, an
/// environment file. Real ones are a few KiB.
pub const MAX_CONFIG_FILE: u64 = 1024 * 1024;

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Written,
    /// The file already had exactly this content; nothing was written.
    Unchanged,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: cannot {step}")]
    Io {
        step: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(transparent)]
    Read(ReadError),
}

fn io_error<'a>(step: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        step,
        path: path.to_owned(),
        source,
    }
}

/// Writes `contents` to `path` atomically with mode `mode`, creating missing parent
/// directories (0755). Something other than a regular file at `path` is refused.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<Outcome, Error> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io_error("name", path)(io::Error::other("not a file path")))?
        .to_string_lossy()
        .into_owned();
    // Reading at most one byte more than the new content tells "identical" from "different".
    let limit = contents.len() as u64 + 1;
    let unchanged = match read_bytes(path, limit) {
        Ok(existing) => existing == contents && mode_of(path)? == mode,
        Err(ReadError::TooLarge { .. }) => false,
        Err(e) if e.is_not_found() => false,
        Err(ReadError::Io { source, .. }) => return Err(io_error("read", path)(source)),
        Err(e) => return Err(Error::Read(e)),
    };
    if dir.is_dir() {
        remove_stale_temps(dir, &name);
    }
    if unchanged {
        return Ok(Outcome::Unchanged);
    }
    fs::create_dir_all(dir).map_err(io_error("create directory", dir))?;

    // The file stays open, so locked, until it has its final name.
    let (temp, mut file) = create_temp(dir, &name, mode)?;
    let result = fill_temp(&temp, &mut file, contents, mode).and_then(|()| {
        fs::rename(&temp, path).map_err(io_error("rename into place", path))?;
        // The rename is durable only once the directory entry is on disk.
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error("sync directory", dir))
    });
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    drop(file);
    result.map(|()| Outcome::Written)
}

fn mode_of(path: &Path) -> Result<u32, Error> {
    let metadata = fs::metadata(path).map_err(io_error("read", path))?;
    Ok(metadata.permissions().mode() & 0o7777)
}

/// A new temporary file for `name` in `dir`, locked for as long as it is open: the lock is
/// what tells a live run's temporary file from a killed run's ([`remove_stale_temps`]).
fn create_temp(dir: &Path, name: &str, mode: u32) -> Result<(PathBuf, File), Error> {
    use std::os::unix::fs::MetadataExt;
    use std::sync::atomic::{AtomicU32, Ordering};
    static SEQUENCE: AtomicU32 = AtomicU32::new(0);
    loop {
        // Unique across processes (and PID namespaces sharing the directory) and calls.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let temp = dir.join(format!(
            ".{name}.nodecap-tmp.{}.{nanos}.{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        ));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)
            .map_err(io_error("create temporary file", &temp))?;
        file.lock()
            .map_err(io_error("lock temporary file", &temp))?;
        // Another run's cleanup may have taken the file between its creation and the lock:
        // only a file still at its name is ours to fill.
        let ours = fs::symlink_metadata(&temp).is_ok_and(|at_name| {
            file.metadata()
                .is_ok_and(|held| (held.dev(), held.ino()) == (at_name.dev(), at_name.ino()))
        });
        if ours {
            return Ok((temp, file));
        }
    }
}

fn fill_temp(temp: &Path, file: &mut File, contents: &[u8], mode: u32) -> Result<(), Error> {
    // The umask may have narrowed the mode; readers need exactly `mode`.
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io_error("set mode of", temp))?;
    file.write_all(contents).map_err(io_error("write", temp))?;
    file.sync_all().map_err(io_error("sync", temp))
}

/// Removes `.<name>.nodecap-tmp.*` left by runs that were killed mid-write. A live run holds
/// a lock on its temporary file until it has renamed it, so a file whose lock can be taken
/// has no writer left: that one, and only that one, is removed.
fn remove_stale_temps(dir: &Path, name: &str) {
    let prefix = format!(".{name}.nodecap-tmp.");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(&prefix) {
            continue;
        }
        let path = entry.path();
        let Ok(file) = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
            .open(&path)
        else {
            continue;
        };
        if file.try_lock().is_ok() {
            let _ = fs::remove_file(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Chain;
    use std::time::{Duration, SystemTime};

    fn mtime(path: &Path) -> SystemTime {
        fs::metadata(path).unwrap().modified().unwrap()
    }

    #[test]
    fn writes_then_leaves_identical_content_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/40-nodecap.conf");
        assert_eq!(
            write_atomic(&path, b"one", 0o644).unwrap(),
            Outcome::Written
        );
        assert_eq!(fs::read(&path).unwrap(), b"one");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
        let before = mtime(&path);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(
            write_atomic(&path, b"one", 0o644).unwrap(),
            Outcome::Unchanged
        );
        assert_eq!(mtime(&path), before);
        assert_eq!(
            write_atomic(&path, b"two", 0o644).unwrap(),
            Outcome::Written
        );
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary files left");
    }

    #[test]
    fn a_directory_in_the_way_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("keep"), b"x").unwrap();
        let err = write_atomic(&target, b"new", 0o644).unwrap_err();
        let err = Chain(&err).to_string();
        assert!(
            err.ends_with("target: expected a regular file, found a directory"),
            "{err}"
        );
        assert!(target.join("keep").exists());
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("nodecap-tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn stale_temporaries_are_cleaned_up_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join(".x.conf.nodecap-tmp.99999");
        fs::write(&stale, b"half").unwrap();
        // Another run, still writing: its temporary file is locked.
        let live = dir.path().join(".x.conf.nodecap-tmp.4242.1.0");
        let writer = File::create(&live).unwrap();
        writer.lock().unwrap();
        write_atomic(&dir.path().join("x.conf"), b"full", 0o644).unwrap();
        assert!(!stale.exists());
        assert!(live.exists(), "a live run's temporary file is kept");
        // Cleaned even when the result is unchanged.
        drop(writer);
        fs::write(&stale, b"half").unwrap();
        assert_eq!(
            write_atomic(&dir.path().join("x.conf"), b"full", 0o644).unwrap(),
            Outcome::Unchanged
        );
        assert!(!stale.exists() && !live.exists());
    }

    #[test]
    fn only_regular_files_are_read_and_only_so_much() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        let err = read_text(&fifo, 100).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}: expected a regular file, found a FIFO", fifo.display())
        );
        assert!(err.is_content());
        let err = write_atomic(&fifo, b"x", 0o644).unwrap_err();
        assert!(Chain(&err).to_string().ends_with("found a FIFO"), "{err}");
        let err = read_text(Path::new("/dev/zero"), 100).unwrap_err();
        assert!(
            err.to_string().ends_with("found a character device"),
            "{err}"
        );

        let big = dir.path().join("big");
        fs::write(&big, [b'a'; 101]).unwrap();
        assert!(matches!(
            read_text(&big, 100).unwrap_err(),
            ReadError::TooLarge { limit: 100, .. }
        ));
        assert_eq!(read_text(&big, 101).unwrap().len(), 101);
        let bad = dir.path().join("bad");
        fs::write(&bad, b"ok\xff").unwrap();
        assert_eq!(
            read_text(&bad, 100).unwrap_err().to_string(),
            format!(
                "{}: expected UTF-8 text, found invalid bytes at offset 2",
                bad.display()
            )
        );
        assert_eq!(
            read_text_if_exists(&dir.path().join("none"), 1).unwrap(),
            None
        );
    }

    #[test]
    fn unwritable_directory_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        fs::write(&file, b"").unwrap();
        let err = write_atomic(&file.join("x.conf"), b"x", 0o644).unwrap_err();
        let err = Chain(&err).to_string();
        assert!(
            err.ends_with("not-a-dir/x.conf: cannot read: Not a directory (os error 20)"),
            "{err}"
        );
    }
}
