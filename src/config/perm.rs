//! File permission rules for files that hold secrets or decide what popfetch runs (design invariant 5, T-21),
//! and the effective uid they are checked against. No libc: the uid comes from `/proc/self/status`.

use std::fs::Metadata;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::ConfigError;

/// Largest config file read; a real one is a few KiB.
pub(crate) const MAX_CONFIG_SIZE: u64 = 1024 * 1024;

/// Why a file was not accepted.
#[derive(Debug)]
pub(crate) enum FileError {
    Io(std::io::Error),
    TooLarge {
        size: u64,
        limit: u64,
    },
    Unsafe {
        mode: u32,
        problem: String,
        fix: String,
    },
}

impl FileError {
    pub(crate) fn into_config_error(self, path: &Path) -> ConfigError {
        let path = path.to_path_buf();
        match self {
            FileError::Io(error) => ConfigError::Read { path, error },
            FileError::TooLarge { size, limit } => ConfigError::TooLarge { path, size, limit },
            FileError::Unsafe { mode, problem, fix } => ConfigError::Unsafe {
                path,
                mode,
                problem,
                fix,
            },
        }
    }
}

/// The effective uid of this process (second field of the `Uid:` line of `/proc/self/status`), or `None` where
/// `/proc` is not mounted.
pub(crate) fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_effective_uid(&status)
}

fn parse_effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Read a whole file of at most [`MAX_CONFIG_SIZE`] bytes; the metadata comes from the open file, so the checks
/// made on it apply to the very bytes read (no check-then-open race).
pub(crate) fn read_bounded(path: &Path) -> Result<(String, Metadata), FileError> {
    let file = std::fs::File::open(path).map_err(FileError::Io)?;
    let meta = file.metadata().map_err(FileError::Io)?;
    if meta.len() > MAX_CONFIG_SIZE {
        return Err(FileError::TooLarge {
            size: meta.len(),
            limit: MAX_CONFIG_SIZE,
        });
    }
    let mut text = String::new();
    file.take(MAX_CONFIG_SIZE + 1)
        .read_to_string(&mut text)
        .map_err(FileError::Io)?;
    Ok((text, meta))
}

/// Anyone who can write the config can make popfetch run any program (`password_command`) or redirect mail.
pub(crate) fn check_not_writable_by_others(
    path: &Path,
    meta: &Metadata,
) -> Result<(), ConfigError> {
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(FileError::Unsafe {
            mode,
            problem: "is writable by group or others".to_owned(),
            fix: format!("run `chmod go-w {}`", path.display()),
        }
        .into_config_error(path));
    }
    Ok(())
}

/// A file holding a password must be accessible by its owner only, and owned by the caller or root (as fetchmail
/// demands of its rc file). `fs::File::metadata` follows symlinks, so a link to someone else's file is refused
/// by the owner check.
pub(crate) fn check_private(path: &Path, meta: &Metadata) -> Result<(), FileError> {
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(FileError::Unsafe {
            mode,
            problem: "holds a password and is readable or writable by group or others".to_owned(),
            fix: format!("run `chmod 600 {}`", path.display()),
        });
    }
    if let Some(uid) = effective_uid()
        && meta.uid() != uid
        && meta.uid() != 0
    {
        return Err(FileError::Unsafe {
            mode,
            problem: format!(
                "holds a password but is owned by uid {}, not by uid {uid} or root",
                meta.uid()
            ),
            fix: format!("run `chown {uid} {}` or use your own copy", path.display()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn euid_is_the_second_uid_field() {
        let status = "Name:\tx\nUid:\t1000\t0\t1000\t1000\nGid:\t5\t5\t5\t5\n";
        assert_eq!(parse_effective_uid(status), Some(0));
        assert_eq!(parse_effective_uid("Name:\tx\n"), None);
        assert!(
            effective_uid().is_some(),
            "/proc/self/status is readable on Linux"
        );
    }
}
