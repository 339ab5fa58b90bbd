//! One daemon per state directory: `<state_dir>/daemon.lock`, an advisory whole-file lock (`flock(2)` through std's
//! `File::try_lock`) held for the daemon's lifetime, with the holder's pid written inside so that a second start
//! can name it (catalog D-10).
//!
//! The kernel drops the lock when its holder dies, however it dies, so a file left behind by a `kill -9`'d daemon
//! never blocks the next start: what counts is the lock, not the file's existence or the pid in it (fetchmail's
//! stale-pidfile troubles are the counter-example).

use std::fs::{DirBuilder, File, OpenOptions, Permissions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The lock file's name inside `state_dir`.
pub const LOCK_FILE: &str = "daemon.lock";

/// Why the daemon lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another daemon holds it.
    #[error("{}: another popfetch daemon (pid {}) is already running for this state directory", path.display(), pid.as_deref().unwrap_or("unknown"))]
    Held { path: PathBuf, pid: Option<String> },
    /// The file or its directory could not be created, opened or locked.
    #[error("{}: cannot {action} the daemon lock", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        error: std::io::Error,
    },
}

/// The held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct DaemonLock {
    _file: File,
    path: PathBuf,
}

impl DaemonLock {
    /// Take the lock in `state_dir` (created 0700 if missing) and write this process's pid into it.
    ///
    /// # Errors
    /// [`LockError::Held`] naming the holder's pid; [`LockError::Io`] otherwise.
    pub fn acquire(state_dir: &Path) -> Result<DaemonLock, LockError> {
        let path = state_dir.join(LOCK_FILE);
        let io = |action: &'static str| {
            let path = path.clone();
            move |error| LockError::Io {
                path,
                action,
                error,
            }
        };
        if !state_dir.exists() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(state_dir)
                .map_err(io("create the directory of"))?;
        }
        // No truncation on open: the file may be another daemon's, whose pid we want to read.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(O_NOFOLLOW)
            .open(&path)
            .map_err(io("open"))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let pid = file
                    .take(32)
                    .read_to_string(&mut text)
                    .ok()
                    .map(|_| text.trim().to_owned())
                    .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
                return Err(LockError::Held { path, pid });
            }
            Err(TryLockError::Error(e)) => return Err(io("lock")(e)),
        }
        file.set_permissions(Permissions::from_mode(0o600))
            .map_err(io("set permissions of"))?;
        file.set_len(0).map_err(io("write"))?;
        file.seek(SeekFrom::Start(0)).map_err(io("write"))?;
        writeln!(file, "{}", std::process::id()).map_err(io("write"))?;
        file.sync_all().map_err(io("write"))?;
        Ok(DaemonLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// `O_NOFOLLOW` on Linux: a symlink planted at the lock's path is refused rather than followed.
const O_NOFOLLOW: i32 = 0o400000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ExitClass;

    #[test]
    fn d10_second_lock_in_same_dir_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = DaemonLock::acquire(dir.path()).unwrap();
        let text = std::fs::read_to_string(first.path()).unwrap();
        assert_eq!(text.trim(), std::process::id().to_string());
        match DaemonLock::acquire(dir.path()) {
            Err(e @ LockError::Held { .. }) => {
                assert_eq!(e.class(), ExitClass::TempFail);
                let msg = e.to_string();
                assert!(
                    msg.contains(&format!("pid {}", std::process::id())),
                    "{msg}"
                );
            }
            other => panic!("expected Held, got {other:?}"),
        }
        drop(first);
        DaemonLock::acquire(dir.path()).expect("free again after drop");
    }

    #[test]
    fn d10_lock_creates_missing_private_directory() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        let lock = DaemonLock::acquire(&sub).unwrap();
        let mode = std::fs::metadata(&sub).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let mode = std::fs::metadata(lock.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn d10_symlinked_lock_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "").unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join(LOCK_FILE)).unwrap();
        assert!(matches!(
            DaemonLock::acquire(dir.path()),
            Err(LockError::Io { action: "open", .. })
        ));
    }
}
