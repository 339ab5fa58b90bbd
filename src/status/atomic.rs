//! Replace a file atomically: a reader (`popfetch status`, node_exporter) sees the old file or the new one, never
//! a part. Temp file in the same directory (created exclusively, so a planted symlink is never followed), then
//! rename over it.
//!
//! Deliberately without fsync: these files are monitoring data, rewritten after every poll, and the daemon writes
//! them from its scheduler loop, where an fsync on a busy disk would hold up every account (and a stop). A crash
//! may leave an old or empty file; the reader reports it and the next poll replaces it.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Write `bytes` to `path` with permissions `mode`. The temp file is `.NAME.tmp.PID` beside it: hidden, and
/// without the `.prom` suffix, so node_exporter's textfile collector never reads a half-written file.
///
/// # Errors
/// The I/O error; the old file is then untouched and the temp file removed.
pub fn write(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let tmp: PathBuf = dir.join(format!(
        ".{}.tmp.{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = write_tmp(&tmp, bytes, mode).and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_tmp(tmp: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    // A temp file left by a crash of this pid's predecessor is stale; `create_new` below refuses anything there.
    let _ = fs::remove_file(tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(tmp)?;
    // The umask may have taken bits away (a metrics file must stay readable by node_exporter).
    file.set_permissions(fs::Permissions::from_mode(mode))?;
    file.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn replaces_the_file_with_its_mode_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.prom");
        write(&path, b"one\n", 0o644).unwrap();
        write(&path, b"two\n", 0o644).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two\n");
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o644);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["x.prom"]);
    }

    #[test]
    fn a_missing_directory_fails_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write(&dir.path().join("no/such/x"), b"x", 0o600).is_err());
    }
}
