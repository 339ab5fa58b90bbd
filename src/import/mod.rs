//! `popfetch import`: switch from fetchmail, getmail or mpop without fetching anything twice.
//!
//! Two jobs, each split into pure parsing and an I/O edge:
//! - configuration: [`fetchmail`] (scanner, parser, translation), [`getmailrc`] and [`mpoprc`] read the other
//!   tool's file into a [`Plan`] (the accounts, each key translated or listed as "not translated: why"), and
//!   [`render`] writes the plan as popfetch TOML with those notes as comments;
//! - UID state: [`uids`] reads fetchmail's `.fetchids`, getmail's `oldmail-*` and mpop's `uidls` file.
//!
//! [`run`](fn@run) does the file handling (0600 outputs never overwritten without `--force`, password files beside the
//! config, the state file written through [`crate::state::State`]) and `--connect` (the poller's own
//! connection and listing code). docs/decisions.md, "Importing from other fetchers", records the choices.

pub mod args;
mod fetchmail;
mod getmailrc;
mod mpoprc;
mod render;
mod run;
mod uids;

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod tool_tests;

pub use args::{ImportArgs, ImportCommand, RcArgs, Tool, UidsArgs};
pub use run::run;

use thiserror::Error;

/// An rc file that cannot be read as its program would: where, and why.
#[derive(Error, Debug, Clone, PartialEq, Eq)]
#[error("line {line}, column {col}: {message}")]
pub struct RcError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// A value of a translated key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    List(Vec<String>),
    /// An inline table of strings, `{ "key" = "value", ... }`.
    Map(Vec<(String, String)>),
}

/// A comment attached to the output: a setting that was not translated and why, or a remark on one that was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Note {
    /// The source line it is about.
    pub line: Option<usize>,
    pub text: String,
    pub translated: bool,
}

impl Note {
    pub(crate) fn not(line: impl Into<Option<usize>>, text: impl Into<String>) -> Note {
        Note {
            line: line.into(),
            text: text.into(),
            translated: false,
        }
    }

    pub(crate) fn info(line: impl Into<Option<usize>>, text: impl Into<String>) -> Note {
        Note {
            line: line.into(),
            text: text.into(),
            translated: true,
        }
    }
}

/// One account as it will be written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct AccountPlan {
    pub name: String,
    /// Where it came from ("rc lines 3-7: poll pop.example.jp, user joe").
    pub origin: String,
    /// Keys in output order. `password` is never among them: see `password`.
    pub keys: Vec<(&'static str, Value)>,
    /// The password the source file holds, written to a password file or inline.
    pub password: Option<Vec<u8>>,
    pub notes: Vec<Note>,
    /// Written commented out, for this reason (multidrop, another protocol, `skip`, another destination).
    pub disabled: Option<String>,
}

/// The `[smtp]` table, when the source names an MTA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SmtpPlan {
    pub host: String,
    pub port: Option<u16>,
}

/// A whole translated configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Plan {
    /// What was converted ("fetchmailrc /home/joe/.fetchmailrc").
    pub source: String,
    /// Global notes (fetchmail's `set` statements and the like).
    pub notes: Vec<Note>,
    pub smtp: Option<SmtpPlan>,
    pub accounts: Vec<AccountPlan>,
}

/// Who runs the import: fetchmail's defaults for the remote user and the local recipient are this login name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invoker {
    pub login: String,
}

/// An account name popfetch accepts (1-64 of `A-Z a-z 0-9 . _ -`, not starting with `.`), derived from `base`
/// and unique among `taken`.
pub(crate) fn account_name(base: &str, taken: &[String]) -> String {
    let mut name: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    while name.starts_with('.') {
        name.remove(0);
    }
    if name.is_empty() {
        name = "account".into();
    }
    let mut candidate = name.clone();
    let mut n = 2;
    while taken.contains(&candidate) {
        candidate = format!("{name}-{n}");
        n += 1;
    }
    candidate
}
