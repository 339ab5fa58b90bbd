//! The file-system primitives of the state directory (T-22): open without following a symbolic link, refuse
//! what is not a regular file, read with a bound, fsync a directory. Every error names the path.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::MAX_STATE_BYTES;
use super::error::{StateError, io_err};

/// `O_NOFOLLOW` for the Linux targets whose value is known; elsewhere 0 and only the `lstat` check guards.
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86", target_arch = "x86_64", target_arch = "riscv64")
))]
const O_NOFOLLOW: i32 = 0o400_000;
#[cfg(all(target_os = "linux", any(target_arch = "arm", target_arch = "aarch64")))]
const O_NOFOLLOW: i32 = 0o100_000;
#[cfg(not(all(
    target_os = "linux",
    any(
        target_arch = "x86",
        target_arch = "x86_64",
        target_arch = "riscv64",
        target_arch = "arm",
        target_arch = "aarch64"
    )
)))]
const O_NOFOLLOW: i32 = 0;

/// Refuse a symlink or non-regular file at `path`; `Ok(false)` when nothing is there.
pub(super) fn check_regular(path: &Path) -> Result<bool, StateError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(StateError::Unsafe {
            path: path.to_path_buf(),
            why: "it is a symbolic link (not followed)",
        }),
        Ok(m) if !m.is_file() => Err(StateError::Unsafe {
            path: path.to_path_buf(),
            why: "not a regular file",
        }),
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err(path, "inspect")(e)),
    }
}

/// Open (maybe create, `0600`) a regular file without following a symlink; `opts` says read/write/create.
pub(super) fn open_nofollow(
    path: &Path,
    opts: &mut OpenOptions,
    op: &'static str,
) -> Result<File, StateError> {
    let file = opts
        .mode(0o600)
        .custom_flags(O_NOFOLLOW)
        .open(path)
        .map_err(io_err(path, op))?;
    let meta = file.metadata().map_err(io_err(path, "inspect"))?;
    if !meta.is_file() {
        return Err(StateError::Unsafe {
            path: path.to_path_buf(),
            why: "not a regular file",
        });
    }
    Ok(file)
}

pub(super) fn fsync_dir(dir: &Path) -> Result<(), StateError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir, "fsync directory"))
}

/// Read a whole state file, refusing one over [`MAX_STATE_BYTES`]; `take` bounds the read even if the file grows
/// meanwhile.
pub(super) fn read_bounded(file: &mut File, path: &Path) -> Result<Vec<u8>, StateError> {
    let len = file.metadata().map_err(io_err(path, "inspect"))?.len();
    if len > MAX_STATE_BYTES {
        return Err(StateError::TooLarge {
            path: path.to_path_buf(),
            len,
        });
    }
    let mut text = Vec::new();
    Read::take(&mut *file, MAX_STATE_BYTES)
        .read_to_end(&mut text)
        .map_err(io_err(path, "read"))?;
    Ok(text)
}
