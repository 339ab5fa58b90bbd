//! What one account's poll did: the counts, the exit class and the waiting messages that the summary line, the
//! status file and the metrics show.

use serde::{Deserialize, Serialize};

use crate::error::ExitClass;

/// The outcome of one account's poll: the summary line, the exit class, and what the status file and metrics
/// record ([`crate::status::record`]).
#[derive(Debug, Clone)]
pub struct Report {
    pub account: String,
    pub class: ExitClass,
    pub new: usize,
    pub delivered: usize,
    pub rejected: usize,
    pub skipped: usize,
    /// DELEs the server answered `+OK`; they take effect only with QUIT (RFC 1939 §6).
    pub marked: usize,
    /// Messages deleted: `marked`, once QUIT was answered `+OK`; otherwise 0, and the marked ones are deleted
    /// by the next poll (their UIDs are recorded as delivered).
    pub deleted: usize,
    /// Octets of the delivered messages, as fetched.
    pub bytes: u64,
    /// The failure line as logged (without secrets); empty when the poll did not fail.
    pub message: String,
    /// A stop request (daemon SIGTERM) ended the poll early; the rest waits for the next poll.
    pub interrupted: bool,
    /// The server's listing was read: `server_new` and `waiting` describe the mailbox.
    pub listed: bool,
    /// Listed messages not recorded as delivered.
    pub server_new: usize,
    /// Listed messages left on the server by policy (rejected earlier, too big) or held back for their sender.
    pub waiting: Vec<Waiting>,
    /// Another popfetch held the account's lock: nothing was polled (that one records its own poll).
    pub lock_held: bool,
}

impl Report {
    /// A report of a poll that did nothing yet.
    pub fn new(account: &str) -> Report {
        Report {
            account: account.to_owned(),
            class: ExitClass::Ok,
            new: 0,
            delivered: 0,
            rejected: 0,
            skipped: 0,
            marked: 0,
            deleted: 0,
            bytes: 0,
            message: String::new(),
            interrupted: false,
            listed: false,
            server_new: 0,
            waiting: Vec::new(),
            lock_held: false,
        }
    }

    pub(super) fn wait_too_big(&mut self, uid: &str, size: u64, limit: u64) {
        self.skipped += 1;
        self.worsen(ExitClass::Partial);
        self.wait(uid.to_owned(), WaitReason::TooBig { size, limit });
    }

    pub(crate) fn worsen(&mut self, c: ExitClass) {
        self.class = self.class.worst(c);
    }

    /// One message refused for good by the MTA: counted, exit 1, and listed as waiting on the server (status).
    pub(crate) fn rejected(&mut self, uid: String, code: u16, text: String) {
        self.rejected += 1;
        self.worsen(ExitClass::Partial);
        self.wait(uid, WaitReason::Rejected { code, text });
    }

    /// List `uid` as waiting on the server for `reason` (the status file's `waiting`).
    pub(crate) fn wait(&mut self, uid: String, reason: WaitReason) {
        self.waiting.push(Waiting {
            uid,
            reason,
            since: None,
        });
    }
}

/// The summary's deletions: a DELE is committed only by QUIT's `+OK` (RFC 1939 §6), so without it the messages
/// are still on the server and the next poll deletes them (catalog P-26).
pub(super) fn deletions(report: &Report) -> String {
    let pending = report.marked - report.deleted;
    if pending == 0 {
        format!("{} deleted", report.deleted)
    } else {
        format!(
            "{} deleted, {pending} marked for deletion on the next poll",
            report.deleted
        )
    }
}

/// A message left on the server by policy: it is not fetched again until something changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    pub uid: String,
    #[serde(flatten)]
    pub reason: WaitReason,
    /// When a poll first found it waiting for this kind of reason (unix seconds). The poller leaves it `None`;
    /// the status file's update carries it from one poll to the next ([`crate::status::file::update`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
}

/// Why a message waits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum WaitReason {
    /// The MTA refused it for good; `popfetch run --retry-rejected` tries it again.
    Rejected { code: u16, text: String },
    /// Larger than `max_message_size` or the MTA's SIZE limit.
    TooBig { size: u64, limit: u64 },
    /// The MTA refused its sender for now (a 4xx about the sender, catalog S-17); each poll tries it again.
    Deferred { code: u16, text: String },
}
