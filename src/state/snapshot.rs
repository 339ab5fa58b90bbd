//! A read-only view of an account's state, for the dry run and `check --connect`.
//!
//! [`State::open`](super::State::open) takes the account's lock (creating the state directory and lock file when
//! missing) and may cut a torn last line off the file. A look must do neither: it creates no file, takes no lock
//! (so it neither disturbs nor waits for a run; a run at the same moment may make the picture a moment stale) and
//! writes nothing. It refuses exactly what a run would, with the same checks.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use super::format::{Entry, Outcome};
use super::{
    Identity, Recorded, StateError, check_regular, decode_checked, open_nofollow, read_bounded,
    valid_account,
};

/// The state file of one account as it is on disk now.
#[derive(Debug)]
pub struct Snapshot {
    path: PathBuf,
    /// `false`: no state file yet (a fresh account).
    existed: bool,
    entries: BTreeMap<String, Entry>,
    torn_line: Option<usize>,
}

impl Snapshot {
    /// Read `<dir>/<account>.state` with the refusals of a run (bad account name, symlink, not a regular file,
    /// too large, corrupt, foreign, newer version). A missing file or directory is an empty state.
    pub fn read(dir: &Path, account: &str, identity: &Identity) -> Result<Snapshot, StateError> {
        if !valid_account(account) {
            return Err(StateError::AccountName {
                account: account.to_owned(),
            });
        }
        let path = dir.join(format!("{account}.state"));
        let mut snap = Snapshot {
            path,
            existed: false,
            entries: BTreeMap::new(),
            torn_line: None,
        };
        if !check_regular(&snap.path)? {
            return Ok(snap);
        }
        let mut file = open_nofollow(&snap.path, OpenOptions::new().read(true), "open")?;
        let text = read_bounded(&mut file, &snap.path)?;
        let journal = decode_checked(&snap.path, &text, identity)?;
        snap.existed = true;
        snap.entries = journal.entries;
        snap.torn_line = journal.torn_line;
        Ok(snap)
    }

    /// The UID has an outcome (delivered or rejected): a run would not fetch it.
    pub fn is_known(&self, uid: &str) -> bool {
        self.entries.get(uid).is_some_and(|e| e.outcome.is_some())
    }

    /// One line for a person: the file, and what it holds.
    pub fn describe(&self) -> String {
        if !self.existed {
            return format!(
                "{} (not there yet: every message is new)",
                self.path.display()
            );
        }
        let count = |f: fn(&Outcome) -> bool| {
            self.entries
                .values()
                .filter(|e| e.outcome.as_ref().is_some_and(f))
                .count()
        };
        let delivered = count(|o| matches!(o, Outcome::Delivered | Outcome::Kept));
        let rejected = count(|o| matches!(o, Outcome::Rejected(_)));
        let torn = match self.torn_line {
            Some(line) => format!("; its torn last line {line} would be cut off by a run"),
            None => String::new(),
        };
        format!(
            "{} ({delivered} delivered, {rejected} rejected{torn})",
            self.path.display()
        )
    }
}

impl Recorded for Snapshot {
    fn entry(&self, uid: &str) -> Option<&Entry> {
        self.entries.get(uid)
    }
}
