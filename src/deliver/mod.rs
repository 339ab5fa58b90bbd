//! Local destinations (issue 12): a mail delivery agent ([`mda`]) and a Maildir ([`maildir`]). SMTP goes over the
//! wire through [`crate::smtp`]; which destination an account uses is its `delivery` key.
//!
//! Each destination commits a message in its own way (the MDA's exit status 0; the rename into `new/` and the fsync
//! of the directory), and the poller records the UID and `DELE`s only after that commit (invariant 1). Both want
//! LF line endings, as Postfix's local delivery and procmail write them ([`lf`]). A large message for an MDA or
//! IMAP is spooled to a file first ([`spool`]).

pub mod imap;
pub mod lf;
pub mod maildir;
pub mod mda;
pub mod spool;

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Why a local destination did not take a message.
#[derive(Debug, Error)]
pub enum LocalError {
    /// The MDA refused this message for good (an exit status other than 0 and 75): it is journalled as rejected
    /// and waits on the server for `--retry-rejected` (exit 1).
    #[error("the MDA {program:?} exited with status {status}{}", stderr_note(.stderr))]
    Refused {
        program: String,
        status: u16,
        /// The first line of its stderr, bounded (it may be empty).
        stderr: String,
    },
    /// Try again next poll: `EX_TEMPFAIL`, killed by a signal, or over its time limit.
    #[error("the MDA {program:?} {why}{}", stderr_note(.stderr))]
    Temporary {
        program: String,
        why: String,
        stderr: String,
    },
    /// The MDA cannot be run at all: fix the configuration.
    #[error(
        "the MDA {program:?} could not be started ({source}); check `mda` in the configuration"
    )]
    Spawn {
        program: String,
        #[source]
        source: io::Error,
    },
    /// Talking to the MDA's pipes failed.
    #[error("the MDA {program:?}: {op} failed: {source}")]
    Pipe {
        program: String,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    /// The spool file of a large message (in `state_dir`, [`spool`]) could not be written or read.
    #[error("cannot {op} the spool file {}: {source}", .path.display())]
    Spool {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A bug: a message was routed to a destination that does not take it this way.
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// The Maildir could not be written.
    #[error("Maildir {}: cannot {op} {}: {source}", .root.display(), .path.display())]
    Maildir {
        root: PathBuf,
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn stderr_note(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}

impl LocalError {
    /// For a refusal for good: the code and text journalled in the state (the exit status, and what the MDA said).
    pub fn refusal(&self) -> Option<(u16, String)> {
        match self {
            LocalError::Refused {
                program,
                status,
                stderr,
            } => Some((
                *status,
                format!("MDA {program} exited {status}{}", stderr_note(stderr)),
            )),
            _ => None,
        }
    }
}
