//! Per-account state: which UIDs were delivered (or permanently rejected by the MTA), kept durably, and the
//! per-account lock (design "State", invariants 1-3; catalog C-01..C-16, T-22). The daemon's single-instance lock
//! lives in the same directory and is here too ([`daemon_lock`]).
//!
//! [`State::open`] takes an exclusive `flock` on `<dir>/<account>.lock`, then reads `<dir>/<account>.state`
//! (format in [`mod@format`], decoded by the pure [`format::decode`]). The poller journals each attempt:
//! [`State::begin`] right before the message goes to the MTA, then [`State::record_delivered`] (only after it
//! returns may the message be `DELE`d), [`State::record_rejected`] or [`State::record_abandoned`]. Each record is
//! one appended line, fsynced before the call returns. At the end of a successful poll [`State::compact`]
//! rewrites the file atomically: temp file, fsync, rename, fsync of the directory (C-06).
//!
//! # Safety of the files (T-22)
//! Files are created `0600` and the directory `0700`, with the mode given to `open(2)`/`mkdir(2)` (no
//! chmod-after-write window) and then set explicitly so no umask widens or narrows it. A symbolic link at the
//! state, temp or lock path is refused, never followed (`O_NOFOLLOW` where its value is known, and an `lstat`
//! check everywhere). The lock file is never removed: unlinking a lock file races with a second run that has
//! just opened it.
//!
//! # Failures
//! Nothing here resets state silently (invariant 3): a corrupt, foreign or newer file refuses the account. After
//! a failed append or fsync the file's tail is unknown (an fsync error may already have dropped the dirty pages),
//! so the [`State`] refuses every later write of this run ([`StateError::Poisoned`]) and the caller stops.

pub mod daemon_lock;
mod decode;
mod error;
mod files;
pub mod format;
mod group;
mod recipients;
mod snapshot;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::{self, DirBuilder, File, OpenOptions, Permissions, TryLockError};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

pub use error::StateError;
use error::io_err;
use files::{check_regular, fsync_dir, open_nofollow, read_bounded};
use format::{Entry, Outcome, PRUNE_AFTER, Record};
pub use format::{Identity, Rejection};
pub use snapshot::Snapshot;

/// Refuse to read a state file larger than this: even 100 000 UIDs of the 1 KiB maximum fit well below it.
pub const MAX_STATE_BYTES: u64 = 256 << 20;
/// Rejection texts are stored up to this many bytes (cut at a character boundary): they are for the log only.
pub const MAX_REJECTION_TEXT: usize = 1000;

/// The state of one account, locked for this process until dropped.
#[derive(Debug)]
pub struct State {
    dir: PathBuf,
    path: PathBuf,
    tmp_path: PathBuf,
    identity: Identity,
    entries: BTreeMap<String, Entry>,
    /// UIDs pending when the file was opened: begun by an earlier run that never concluded them.
    earlier_pending: BTreeSet<String>,
    /// The state file, positioned at its end; `None` until it exists.
    file: Option<File>,
    existed: bool,
    poisoned: bool,
    /// The format version of the file on disk (0: no file yet); per-recipient records need 2 ([`mod@format`]).
    disk_version: u32,
    /// Group commit ([`group`]): what the caller waits to do for records appended since the last fsync, and for
    /// those an fsync has since covered.
    deferred: Vec<u32>,
    durable: Vec<u32>,
    /// Held for the flock; released when dropped (closing the descriptor releases it).
    _lock: File,
}

/// A rejection at this time, its text cut to [`MAX_REJECTION_TEXT`] bytes at a character boundary.
fn rejection_now(code: u16, text: &str) -> Rejection {
    let mut cut = text.len().min(MAX_REJECTION_TEXT);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let unix_time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    Rejection {
        code,
        text: text[..cut].to_string(),
        unix_time,
    }
}

/// Decode a state file's bytes and check that it belongs to `identity`: the refusals every reader shares
/// (corrupt, newer version, foreign server or user), so the dry run's read-only view refuses exactly what a run
/// would.
pub fn decode_checked(
    path: &Path,
    text: &[u8],
    identity: &Identity,
) -> Result<format::Journal, StateError> {
    let journal = format::decode(text).map_err(|e| match e {
        format::DecodeError::Corrupt { line, why } => StateError::Corrupt {
            path: path.to_path_buf(),
            line,
            why,
        },
        format::DecodeError::UnsupportedVersion { version } => StateError::UnsupportedVersion {
            path: path.to_path_buf(),
            version,
        },
    })?;
    if !journal.identity.same_account(identity) {
        return Err(StateError::Foreign {
            path: path.to_path_buf(),
            expected: identity.to_string(),
            found: journal.identity.to_string(),
        });
    }
    Ok(journal)
}

/// What the state says about each UID: the common view of a locked [`State`] and a read-only [`Snapshot`], which
/// is all the poller's plan needs.
pub trait Recorded {
    /// The recorded entry of `uid`, if any.
    fn entry(&self, uid: &str) -> Option<&Entry>;
}

impl Recorded for State {
    fn entry(&self, uid: &str) -> Option<&Entry> {
        self.entries.get(uid)
    }
}

fn valid_account(account: &str) -> bool {
    !account.is_empty() && !account.starts_with('.') && !account.contains(['/', '\0'])
}

impl State {
    /// Lock and read the state of `account` in `dir`, creating `dir` (`0700`) when missing.
    ///
    /// A missing state file is a fresh, empty state ([`State::existed`] says which); it is created (`0600`) by the
    /// first write. A torn last line is logged and cut off before anything is appended.
    ///
    /// # Errors
    /// [`StateError::Locked`] when another process (or another `State` in this one) holds the account;
    /// [`StateError::Foreign`] when the file names another server or user; [`StateError::Corrupt`],
    /// [`StateError::UnsupportedVersion`], [`StateError::Unsafe`] (symlink) and I/O errors otherwise. On any error
    /// nothing was written.
    pub fn open(dir: &Path, account: &str, identity: &Identity) -> Result<State, StateError> {
        if !valid_account(account) {
            return Err(StateError::AccountName {
                account: account.to_string(),
            });
        }
        if !dir.exists() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io_err(dir, "create directory"))?;
            fs::set_permissions(dir, Permissions::from_mode(0o700))
                .map_err(io_err(dir, "set permissions of"))?;
        }
        let lock_path = dir.join(format!("{account}.lock"));
        check_regular(&lock_path)?;
        let lock = open_nofollow(
            &lock_path,
            OpenOptions::new().read(true).write(true).create(true),
            "open",
        )?;
        lock.set_permissions(Permissions::from_mode(0o600))
            .map_err(io_err(&lock_path, "set permissions of"))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(StateError::Locked { path: lock_path }),
            Err(TryLockError::Error(e)) => return Err(io_err(&lock_path, "lock")(e)),
        }

        let path = dir.join(format!("{account}.state"));
        let mut state = State {
            dir: dir.to_path_buf(),
            tmp_path: dir.join(format!("{account}.state.tmp")),
            path,
            identity: identity.clone(),
            entries: BTreeMap::new(),
            earlier_pending: BTreeSet::new(),
            file: None,
            existed: false,
            poisoned: false,
            disk_version: 0,
            deferred: Vec::new(),
            durable: Vec::new(),
            _lock: lock,
        };
        if check_regular(&state.path)? {
            state.load()?;
        }
        Ok(state)
    }

    fn load(&mut self) -> Result<(), StateError> {
        let path = self.path.clone();
        let mut file = open_nofollow(&path, OpenOptions::new().read(true).append(true), "open")?;
        let text = read_bounded(&mut file, &path)?;
        let journal = decode_checked(&path, &text, &self.identity)?;
        if let Some(line) = journal.torn_line {
            tracing::warn!(path = %path.display(), line, "ignoring the torn last line of the state file (an append \
                interrupted by a crash; it was never acknowledged)");
            // Cut it off so the next append starts on a line of its own.
            file.set_len(journal.valid_len as u64)
                .map_err(io_err(&path, "truncate"))?;
            file.sync_all().map_err(io_err(&path, "fsync"))?;
        }
        self.earlier_pending = journal
            .entries
            .iter()
            .filter(|(_, e)| e.pending)
            .map(|(u, _)| u.clone())
            .collect();
        self.entries = journal.entries;
        self.disk_version = journal.version;
        self.file = Some(file);
        self.existed = true;
        Ok(())
    }

    /// The state file's path (it may not exist yet).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a state file existed when this state was opened (false: a fresh account, or a lost file; C-08).
    pub fn existed(&self) -> bool {
        self.existed
    }

    /// The MTA accepted this UID (in this or an earlier run), whether or not it may be deleted.
    pub fn is_delivered(&self, uid: &str) -> bool {
        self.entries
            .get(uid)
            .is_some_and(|e| matches!(e.outcome, Some(Outcome::Delivered | Outcome::Kept)))
    }

    /// Delivered, but its server copy must never be deleted ([`State::record_kept`]).
    pub fn is_kept(&self, uid: &str) -> bool {
        self.entries
            .get(uid)
            .is_some_and(|e| e.outcome == Some(Outcome::Kept))
    }

    /// The MTA rejected this UID permanently, and no `--retry-rejected` cleared it since.
    pub fn rejection(&self, uid: &str) -> Option<&Rejection> {
        match self.entries.get(uid)?.outcome.as_ref()? {
            Outcome::Rejected(r) => Some(r),
            Outcome::Delivered | Outcome::Kept => None,
        }
    }

    /// Every recorded rejection, in UID order.
    pub fn rejections(&self) -> impl Iterator<Item = (&str, &Rejection)> {
        self.entries.iter().filter_map(|(uid, e)| match &e.outcome {
            Some(Outcome::Rejected(r)) => Some((uid.as_str(), r)),
            _ => None,
        })
    }

    /// How many UIDs are recorded as delivered (for the caller's UIDL-format guard, C-13).
    pub fn delivered_count(&self) -> usize {
        self.entries
            .values()
            .filter(|e| matches!(e.outcome, Some(Outcome::Delivered | Outcome::Kept)))
            .count()
    }

    /// UIDs whose delivery was begun but never concluded in an earlier run: that run was killed between sending
    /// the message and recording the outcome, so the MTA may have it already (the one duplicate window, C-03).
    /// A UID leaves this list once this run records it delivered or rejected. Logged by the caller.
    pub fn interrupted(&self) -> Vec<String> {
        self.earlier_pending
            .iter()
            .filter(|u| self.is_pending(u))
            .cloned()
            .collect()
    }

    /// Whether `uid` is in [`State::interrupted`]: delivering it now may duplicate it.
    pub fn is_interrupted(&self, uid: &str) -> bool {
        self.earlier_pending.contains(uid) && self.is_pending(uid)
    }

    fn is_pending(&self, uid: &str) -> bool {
        self.entries.get(uid).is_some_and(|e| e.pending)
    }

    /// Journal "begin `uid`" (appended and fsynced) right before the message goes to the MTA.
    pub fn begin(&mut self, uid: &str) -> Result<(), StateError> {
        self.append(&Record::Begin { uid, absent: 0 }, true)
    }

    /// Journal "delivered `uid`" and fsync it (and the directory when this creates the file). Only after this
    /// returns `Ok` may the caller `DELE` the message (invariant 1).
    pub fn record_delivered(&mut self, uid: &str) -> Result<(), StateError> {
        self.append(&Record::Delivered { uid, absent: 0 }, true)
    }

    /// Journal "delivered `uid`, but keep the server copy for good" and fsync it: what RETR gave did not match
    /// LIST, so the server copy may be the only faithful one (docs/decisions.md). Never `DELE`d, never fetched
    /// again; pruned like any entry once the message is gone from the server.
    pub fn record_kept(&mut self, uid: &str) -> Result<(), StateError> {
        self.append(&Record::Kept { uid, absent: 0 }, true)
    }

    /// Journal a permanent MTA rejection (5xx), fsynced: the UID is not fetched again unless `--retry-rejected`.
    /// `text` is kept up to [`MAX_REJECTION_TEXT`] bytes.
    pub fn record_rejected(&mut self, uid: &str, code: u16, text: &str) -> Result<(), StateError> {
        let rejection = rejection_now(code, text);
        self.append(
            &Record::Rejected {
                uid,
                absent: 0,
                rejection: &rejection,
            },
            true,
        )
    }

    /// The attempt ended without delivery (4xx, connection lost): clear this run's begin mark. Not fsynced: a
    /// lost record only causes a spurious "interrupted" warning next run. A mark left by an earlier run stays
    /// until the UID is delivered or rejected, so the run that finally delivers it still knows it may duplicate.
    pub fn record_abandoned(&mut self, uid: &str) -> Result<(), StateError> {
        if !self.is_pending(uid) || self.earlier_pending.contains(uid) {
            return Ok(());
        }
        self.append(&Record::Abandon { uid }, false)
    }

    /// `run --retry-rejected`: forget every rejection (one atomic rewrite).
    pub fn clear_rejections(&mut self) -> Result<(), StateError> {
        let mut entries = self.entries.clone();
        for e in entries.values_mut() {
            if matches!(e.outcome, Some(Outcome::Rejected(_))) {
                e.outcome = None;
            }
        }
        entries.retain(|_, e| !e.is_empty());
        if entries == self.entries {
            return Ok(());
        }
        self.rewrite(entries)
    }

    /// End of a successful poll: `listing` holds every UID the server listed. An entry absent from
    /// [`format::PRUNE_AFTER`] consecutive successful listings is pruned, so one empty or partial listing (an
    /// index rebuild, C-12) resets nothing. The file is rewritten atomically (C-06).
    pub fn compact(&mut self, listing: &[String]) -> Result<(), StateError> {
        let listed: HashSet<&str> = listing.iter().map(String::as_str).collect();
        let mut entries = self.entries.clone();
        entries.retain(|uid, e| {
            e.absent = if listed.contains(uid.as_str()) {
                0
            } else {
                e.absent.saturating_add(1)
            };
            e.absent < PRUNE_AFTER
        });
        self.rewrite(entries)
    }

    /// Prove the state can still be written (C-10: after a failed write, e.g. a full disk): write the current
    /// state to the temp file, fsync it, remove it. Changes nothing.
    pub fn probe_writable(&mut self) -> Result<(), StateError> {
        self.check_poisoned()?;
        let bytes = format::encode_snapshot(&self.identity, &self.entries);
        match self.write_temp(&bytes) {
            Ok(file) => drop(file),
            Err(e) => {
                // A half-written probe on a full disk would hold the very space the next attempt needs.
                let _ = fs::remove_file(&self.tmp_path);
                return Err(e);
            }
        }
        fs::remove_file(&self.tmp_path).map_err(io_err(&self.tmp_path, "remove"))
    }

    /// Record each of `uids` that has no outcome yet as delivered, without any delivery (`run --mark-seen`: the
    /// migration from another fetcher in keep mode, and the way out of the UIDL-change guard, catalog C-08/C-13).
    /// One atomic rewrite for all of them, not one fsync each. Rejected UIDs keep their rejection. Returns how many
    /// were newly recorded.
    pub fn mark_seen(&mut self, uids: &[String]) -> Result<usize, StateError> {
        self.check_poisoned()?;
        let mut entries = self.entries.clone();
        let mut added = 0;
        for uid in uids {
            if entries.get(uid).is_some_and(|e| e.outcome.is_some()) {
                continue;
            }
            format::apply(&mut entries, &Record::Delivered { uid, absent: 0 });
            added += 1;
        }
        if added > 0 {
            self.rewrite(entries)?;
        }
        Ok(added)
    }

    fn check_poisoned(&self) -> Result<(), StateError> {
        if self.poisoned {
            return Err(StateError::Poisoned {
                path: self.path.clone(),
            });
        }
        Ok(())
    }

    /// Append one record; the in-memory state changes only once the bytes are written (and fsynced if `sync`).
    fn append(&mut self, record: &Record<'_>, sync: bool) -> Result<(), StateError> {
        self.append_all(std::slice::from_ref(record), sync)
    }

    /// Append records in one write (and one fsync if `sync`); each is a line of its own, so a crash keeps a prefix
    /// of them.
    fn append_all(&mut self, records: &[Record<'_>], sync: bool) -> Result<(), StateError> {
        self.check_poisoned()?;
        if self.file.is_none() {
            // The first write creates the file atomically with its header, so a torn header is always corruption.
            self.rewrite(self.entries.clone())?;
        }
        let bytes: Vec<u8> = records.iter().flat_map(format::encode_record).collect();
        let path = &self.path;
        let Some(file) = self.file.as_mut() else {
            return Err(StateError::Poisoned { path: path.clone() });
        };
        let result = file.write_all(&bytes).map_err(io_err(path, "append to"));
        let result = result.and_then(|()| {
            if sync {
                file.sync_data().map_err(io_err(path, "fsync"))
            } else {
                Ok(())
            }
        });
        if result.is_err() {
            self.poisoned = true;
        }
        result?;
        if sync {
            // fdatasync covers every byte appended before it: the deferred records are durable now.
            self.durable.append(&mut self.deferred);
        }
        for record in records {
            format::apply(&mut self.entries, record);
        }
        Ok(())
    }

    /// Create the temp file (`0600`, exclusively), write `bytes`, fsync it.
    fn write_temp(&self, bytes: &[u8]) -> Result<File, StateError> {
        let tmp = &self.tmp_path;
        // A temp file left by a crash (C-06) is ours: we hold the lock. Removing a symlink removes only the link.
        match fs::remove_file(tmp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err(tmp, "remove")(e)),
            _ => {}
        }
        // `create_new` is O_EXCL: it never follows a symlink planted meanwhile.
        let mut file = open_nofollow(
            tmp,
            OpenOptions::new().read(true).write(true).create_new(true),
            "create",
        )?;
        file.set_permissions(Permissions::from_mode(0o600))
            .map_err(io_err(tmp, "set permissions of"))?;
        file.write_all(bytes).map_err(io_err(tmp, "write"))?;
        file.sync_all().map_err(io_err(tmp, "fsync"))?;
        Ok(file)
    }

    /// Replace the file with a snapshot of `entries`: temp file, fsync, rename over, fsync the directory (C-06).
    /// Until the rename the old file stays complete; after it the new one is.
    fn rewrite(&mut self, entries: BTreeMap<String, Entry>) -> Result<(), StateError> {
        self.check_poisoned()?;
        let bytes = format::encode_snapshot(&self.identity, &entries);
        let file = match self.write_temp(&bytes) {
            Ok(f) => f,
            Err(e) => {
                let _ = fs::remove_file(&self.tmp_path);
                return Err(e);
            }
        };
        if let Err(e) = fs::rename(&self.tmp_path, &self.path) {
            let _ = fs::remove_file(&self.tmp_path);
            return Err(io_err(&self.path, "rename over")(e));
        }
        // The rename happened: the new file is the state now, durable or not.
        self.disk_version = format::version_for(&entries);
        self.file = Some(file);
        self.entries = entries;
        if let Err(e) = fsync_dir(&self.dir) {
            self.poisoned = true;
            return Err(e);
        }
        // The snapshot holds every record appended before it, fsynced: the deferred ones are durable now.
        self.durable.append(&mut self.deferred);
        Ok(())
    }
}
