//! Files: the one way nodecap writes a file. A temporary file in the target's directory, written,
//! fsynced, renamed over the target, then the directory fsynced. A reader (the kubelet,
//! nodeadm) sees the complete old file or the complete new one, never a mix, even across a
//! crash or power loss. An identical file is not rewritten (its mtime stays).
//!
//! Temporary files are named `.<name>.nodecap-tmp.<pid>`: hidden, and with an extension that
//! neither the kubelet (`*.conf`) nor nodeadm (`*.yaml`, `*.yml`, `*.json`) reads. Leftovers
//! of a killed run are removed by the next write to the same target.
//!
//! Failure: every error names the step and the path; the previous file is untouched and the
//! temporary file is removed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

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
}

fn io_error<'a>(step: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        step,
        path: path.to_owned(),
        source,
    }
}

/// Writes `contents` to `path` atomically with mode `mode`, creating missing parent
/// directories (0755).
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<Outcome, Error> {
    match fs::read(path) {
        Ok(existing) if existing == contents => {
            let current = fs::metadata(path).map_err(io_error("read", path))?;
            if current.permissions().mode() & 0o7777 == mode {
                return Ok(Outcome::Unchanged);
            }
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error("read", path)(e)),
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io_error("name", path)(io::Error::other("not a file path")))?
        .to_string_lossy()
        .into_owned();
    fs::create_dir_all(dir).map_err(io_error("create directory", dir))?;
    remove_stale_temps(dir, &name);

    let temp = dir.join(format!(".{name}.nodecap-tmp.{}", std::process::id()));
    let result = write_temp(&temp, contents, mode).and_then(|()| {
        fs::rename(&temp, path).map_err(io_error("rename into place", path))?;
        // The rename is durable only once the directory entry is on disk.
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error("sync directory", dir))
    });
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map(|()| Outcome::Written)
}

fn write_temp(temp: &Path, contents: &[u8], mode: u32) -> Result<(), Error> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(temp)
        .map_err(io_error("create temporary file", temp))?;
    // The umask may have narrowed the mode; readers need exactly `mode`.
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io_error("set mode of", temp))?;
    file.write_all(contents).map_err(io_error("write", temp))?;
    file.sync_all().map_err(io_error("sync", temp))
}

/// Removes `.<name>.nodecap-tmp.*` left by a run that was killed mid-write.
fn remove_stale_temps(dir: &Path, name: &str) {
    let prefix = format!(".{name}.nodecap-tmp.");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = fs::remove_file(entry.path());
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
            err.ends_with("target: cannot read: Is a directory (os error 21)"),
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
    fn stale_temporaries_are_cleaned_up() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join(".x.conf.nodecap-tmp.99999");
        fs::write(&stale, b"half").unwrap();
        write_atomic(&dir.path().join("x.conf"), b"full", 0o644).unwrap();
        assert!(!stale.exists());
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
