//! [`StateError`]: why the state of an account cannot be used or written, each naming the file and the way out.

use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::{MAX_STATE_BYTES, format};

/// Why the state of an account cannot be used or written.
#[derive(Error, Debug)]
pub enum StateError {
    #[error("{path}: another popfetch holds the lock", path = path.display())]
    Locked { path: PathBuf },
    #[error(
        "state file {path} is corrupt at line {line}: {why}; nothing is delivered for this account until the file \
         is repaired or moved away (moving it away makes every message on the server new again)",
        path = path.display()
    )]
    Corrupt {
        path: PathBuf,
        line: usize,
        why: String,
    },
    #[error(
        "state file {path} belongs to {found}, not {expected}; if the configuration is wrong, fix host or user; \
         if the account really moved, move the file away (every message on the server is then new again) and, \
         for a keep = true account whose mail was delivered before, record it first with \
         `popfetch run --mark-seen --account {account}`",
        path = path.display(),
        account = path.file_stem().unwrap_or_default().to_string_lossy()
    )]
    Foreign {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error(
        "state file {path} has format version {version}, this popfetch reads only version {v}; use a newer popfetch",
        path = path.display(), v = format::VERSION
    )]
    UnsupportedVersion { path: PathBuf, version: u32 },
    #[error("state file {path} is larger than {MAX_STATE_BYTES} bytes ({len} bytes)", path = path.display())]
    TooLarge { path: PathBuf, len: u64 },
    #[error("refusing {path}: {why}", path = path.display())]
    Unsafe { path: PathBuf, why: &'static str },
    #[error(
        "account name {account:?} cannot name a state file (empty, starts with '.', or contains '/' or NUL)"
    )]
    AccountName { account: String },
    #[error("an earlier write to {path} failed; no more state is written in this run", path = path.display())]
    Poisoned { path: PathBuf },
    #[error("cannot {op} {path}", path = path.display())]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },
}

pub(super) fn io_err(path: &Path, op: &'static str) -> impl FnOnce(io::Error) -> StateError {
    let path = path.to_path_buf();
    move |source| StateError::Io { path, op, source }
}
