//! `popfetch check`: what can be verified before a poll (issue 9, point 5).
//!
//! - [`offline`](mod@offline): without the network, what a run would trip over at its start: the password file (exists,
//!   readable, private, one usable line), the CA file (at least one certificate), the `password_command` program
//!   (found and executable; never run here: it may prompt), and the state directory (writable).
//! - [`connect`]: `check --connect`, like `fetchmail -c`: each account's POP3 server and the MTA are tried for real
//!   and left exactly as they were.
//!
//! Neighbours: [`crate::config`] has already validated the file's content; the checks here look at the files and
//! programs it names. Each [`Finding`] carries the exit class a run would end with.

pub mod connect;
mod offline;

pub use offline::offline;

use crate::error::ExitClass;

/// One problem found, with the exit class a run would give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The account concerned; `None` for the top level (`state_dir`).
    pub account: Option<String>,
    pub class: ExitClass,
    /// One line, without secrets: it names files and programs, never what was read from them.
    pub text: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.account {
            Some(a) => write!(f, "account {a:?}: {}", self.text),
            None => f.write_str(&self.text),
        }
    }
}
