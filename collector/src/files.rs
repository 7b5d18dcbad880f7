//! Durable, private files: every file the collector writes goes through here.
//!
//! A write is a temporary file in the same directory, `fsync`ed, renamed
//! over the target, and the directory `fsync`ed, so a crash or power loss
//! leaves either the old or the new content, never a torn file. Files are
//! created readable by their owner only (mode 0600): the state directory
//! holds keys and data about the customer's printers.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Create `dir` (and parents) readable by the owner only.
///
/// # Errors
/// The I/O error.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)?;
    // An existing directory keeps its mode otherwise.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Write `bytes` to `path` atomically and durably, mode 0600.
///
/// # Errors
/// The I/O error; the target is unchanged then.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut opts = OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Remove the temporary files that writes interrupted by a crash left in
/// `dir` (`.NAME.PID.tmp` of a process that no longer runs); returns how
/// many. They were never renamed into place, so they hold nothing that
/// counts; a temporary file of a live process (this one, or another
/// collector on the same directory by mistake) is left alone.
///
/// # Errors
/// The I/O error of reading the directory.
pub fn remove_stale_temporaries(dir: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temporary_pid) else {
            continue;
        };
        if pid == std::process::id() || process_runs(pid) {
            continue;
        }
        match std::fs::remove_file(entry.path()) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    if removed > 0 {
        sync_dir(dir)?;
    }
    Ok(removed)
}

/// The writer's process id in a temporary file name `.NAME.PID.tmp`.
fn temporary_pid(name: &str) -> Option<u32> {
    let stem = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (_, pid) = stem.rsplit_once('.')?;
    pid.parse().ok()
}

/// Whether process `pid` exists (Linux: `/proc`; elsewhere every other
/// process counts as gone, which only matters if two collectors share a
/// state directory, which they must not).
fn process_runs(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// `fsync` a directory, so that a rename or removal in it is durable.
///
/// # Errors
/// The I/O error.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Write `value` as pretty JSON, atomically.
///
/// # Errors
/// The I/O error.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// Read JSON from `path`; `Ok(None)` when the file does not exist.
///
/// # Errors
/// The I/O error, or invalid data (with the path in the message).
pub fn read_json<T: DeserializeOwned>(path: &Path) -> std::io::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporaries_of_dead_writers_are_removed_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        // pid_max on Linux is at most 2^22: this process cannot exist.
        let dead = dir.path().join(".7-abc.env.99999999.tmp");
        let own = dir
            .path()
            .join(format!(".state.json.{}.tmp", std::process::id()));
        let entry = dir.path().join("7-abc.env");
        let other = dir.path().join("notes.tmp");
        for p in [&dead, &own, &entry, &other] {
            std::fs::write(p, b"x").unwrap();
        }
        assert_eq!(remove_stale_temporaries(dir.path()).unwrap(), 1);
        assert!(!dead.exists(), "debris of a crashed writer");
        assert!(own.exists() && entry.exists() && other.exists());
        assert_eq!(temporary_pid(".a.b.12.tmp"), Some(12));
        assert_eq!(temporary_pid("a.12.tmp"), None);
    }

    #[test]
    fn atomic_writes_replace_and_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_json(&path, &serde_json::json!({"a": 1})).unwrap();
        write_json(&path, &serde_json::json!({"a": 2})).unwrap();
        let v: serde_json::Value = read_json(&path).unwrap().unwrap();
        assert_eq!(v["a"], 2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
        assert!(
            read_json::<serde_json::Value>(&dir.path().join("missing"))
                .unwrap()
                .is_none()
        );
        std::fs::write(&path, b"{").unwrap();
        let e = read_json::<serde_json::Value>(&path).unwrap_err();
        assert!(e.to_string().contains("state.json"), "{e}");
    }
}
