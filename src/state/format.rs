//! The state file format: pure encode and decode, no I/O (the file handling lives in [`super`]).
//!
//! # Format, versions 1 and 2
//! Plain text, one record per line, each line ended by a single LF. Fields are separated by exactly one space.
//! Every free-form field (host, user, UID, rejection text) is percent-encoded: each byte outside `0x21..=0x7E`,
//! and `%` itself, is written as `%XX` (upper-case hex). A line therefore never contains a space, CR, LF or
//! control byte inside a field, so a hostile UID (RFC 1939 §7 allows 0x21..=0x7E only, but servers send anything:
//! catalog P-16) can neither split a record nor inject one. An empty field is the empty string between two spaces.
//!
//! ```text
//! popfetch-state 1                         header, line 1: magic and format version
//! server <host> <port>                     header, line 2: the POP3 server this state belongs to
//! user <user>                              header, line 3: the POP3 user
//! D <uid> <absent>                         delivered: the MTA accepted it (2xx to end-of-DATA)
//! K <uid> <absent>                         kept: delivered, but the server copy is never deleted (its RETR did
//!                                          not match LIST: docs/decisions.md, catalog P-19)
//! R <uid> <absent> <code> <time> <text>    rejected permanently (5xx) at <time> (Unix seconds)
//! B <uid> <absent>                         begun: about to be sent to the MTA
//! A <uid>                                  abandoned: the attempt ended without delivery (clears B)
//! P <uid> <absent> <rcpt>                  version 2: multidrop, the destination accepted it for <rcpt>
//! X <uid> <absent> <rcpt> <code> <time> <text>   version 2: multidrop, refused for good for <rcpt>
//! ```
//!
//! Version 2 (issue 15, multidrop) adds the per-recipient records `P` and `X`: a message with several recipients
//! is settled recipient by recipient, and only once every recipient is settled does its `D` follow (then `DELE`).
//! `D`, `K` and `R` keep the recipients recorded before them, so the journal says who got the message until the
//! UID is pruned. A file is written as version 2 only while it holds such records; otherwise as version 1, so an
//! account without multidrop stays readable by an older popfetch, and an older popfetch refuses a version 2 file
//! by its version instead of as corrupt.
//!
//! `<absent>` counts the consecutive successful listings that did not name the UID; the entry is pruned when it
//! reaches [`PRUNE_AFTER`] (catalog C-12). Between compactions records are only appended; decoding replays them
//! in order, later records overriding earlier ones, and repeated records are harmless (set semantics, C-07).
//! A `B` that no later `D`, `R` or `A` concludes marks the one duplicate window of the delivery invariant
//! (catalog C-03): the run was killed after handing the message to the MTA and before recording the outcome.
//!
//! # Damage
//! The last line may lack its LF when a crash interrupted an append; such a line was never acknowledged (the
//! caller proceeds only after the fsync of a complete line), so it is reported as [`Journal::torn_line`] and
//! ignored. Anything else that does not parse is [`DecodeError::Corrupt`] with its line number: the state is never
//! silently reset (design invariant 3). The header is only ever written by an atomic rewrite, so a torn header is
//! corruption too.

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

/// The newest format version this code reads and writes (it reads every version from 1 on).
pub const VERSION: u32 = 2;
/// Magic word opening line 1.
pub const MAGIC: &str = "popfetch-state";
/// An entry is pruned once its UID was absent from this many consecutive successful listings (C-12).
pub const PRUNE_AFTER: u32 = 2;

/// Who a state file belongs to: the POP3 server and user of one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub host: String,
    pub port: u16,
    pub user: String,
}

impl Identity {
    /// Same account: host compared case-insensitively (DNS names are, RFC 4343), user exactly (POP3 user names
    /// are case-sensitive on many servers). The port is not compared: moving from STLS on 110 to implicit TLS on
    /// 995 reaches the same maildrop with the same UIDs, so the state stays valid (issue 9). The header still
    /// records the port last used, for the reader.
    pub fn same_account(&self, other: &Identity) -> bool {
        self.host.eq_ignore_ascii_case(&other.host) && self.user == other.user
    }
}

impl std::fmt::Display for Identity {
    /// `user@host:port`, with control characters escaped (a foreign file's header is untrusted text).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}@{}:{}",
            self.user.escape_debug(),
            self.host.escape_debug(),
            self.port
        )
    }
}

/// A permanent rejection by the MTA (a 5xx reply), kept so the message is not fetched again every poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: u16,
    pub text: String,
    pub unix_time: i64,
}

/// How the last concluded attempt for a UID ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Delivered, but what RETR gave did not match LIST (shorter, or altered by the server): the server copy may
    /// be the only faithful one, so it is never deleted.
    Kept,
    Rejected(Rejection),
}

/// Everything known about one UID.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entry {
    /// `None`: no attempt concluded yet (only possible while `pending`).
    pub outcome: Option<Outcome>,
    /// A `B` record not yet concluded by `D`, `R` or `A`.
    pub pending: bool,
    /// Consecutive successful listings without this UID.
    pub absent: u32,
    /// Multidrop: the recipients the destination accepted this message for (`P` records).
    pub served: BTreeSet<String>,
    /// Multidrop: the recipients that refused it for good (`X` records).
    pub refused: BTreeMap<String, Rejection>,
}

impl Entry {
    /// An entry that says nothing can be dropped.
    pub fn is_empty(&self) -> bool {
        self.outcome.is_none() && !self.pending && !self.has_recipients()
    }

    /// Per-recipient records exist (the file must be version 2).
    pub fn has_recipients(&self) -> bool {
        !self.served.is_empty() || !self.refused.is_empty()
    }
}

/// One appendable record (see the module docs for the line syntax).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record<'a> {
    Delivered {
        uid: &'a str,
        absent: u32,
    },
    Kept {
        uid: &'a str,
        absent: u32,
    },
    Rejected {
        uid: &'a str,
        absent: u32,
        rejection: &'a Rejection,
    },
    Begin {
        uid: &'a str,
        absent: u32,
    },
    Abandon {
        uid: &'a str,
    },
    Served {
        uid: &'a str,
        absent: u32,
        rcpt: &'a str,
    },
    Refused {
        uid: &'a str,
        absent: u32,
        rcpt: &'a str,
        rejection: &'a Rejection,
    },
}

/// A decoded state file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journal {
    pub identity: Identity,
    /// Replayed records, keyed by UID.
    pub entries: BTreeMap<String, Entry>,
    /// Bytes up to and including the last LF; everything after it is the torn line.
    pub valid_len: usize,
    /// Line number (1-based) of an ignored torn last line.
    pub torn_line: Option<usize>,
    /// The format version of the file.
    pub version: u32,
}

/// Why a state file could not be decoded.
#[derive(Error, Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    #[error("line {line}: {why}")]
    Corrupt { line: usize, why: String },
    #[error("format version {version} is not supported (this popfetch reads version {VERSION})")]
    UnsupportedVersion { version: u32 },
}

pub(super) fn corrupt(line: usize, why: impl Into<String>) -> DecodeError {
    DecodeError::Corrupt {
        line,
        why: why.into(),
    }
}

/// Percent-encode one field (module docs).
pub fn encode_field(out: &mut Vec<u8>, field: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in field {
        if (0x21..=0x7E).contains(&b) && b != b'%' {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0x0F)]]);
        }
    }
}

/// Decode one percent-encoded field; it must be valid UTF-8 once decoded (it was a Rust `String` when written).
pub fn decode_field(field: &[u8]) -> Result<String, String> {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'A'..=b'F' => Some(b - b'A' + 10),
            b'a'..=b'f' => Some(b - b'a' + 10),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while let Some(&b) = field.get(i) {
        match b {
            b'%' => {
                let pair = field
                    .get(i + 1)
                    .copied()
                    .and_then(hex)
                    .zip(field.get(i + 2).copied().and_then(hex));
                let (hi, lo) =
                    pair.ok_or_else(|| format!("bad percent escape at byte {}", i + 1))?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            0x21..=0x7E => {
                out.push(b);
                i += 1;
            }
            _ => return Err(format!("byte 0x{b:02X} not allowed at byte {}", i + 1)),
        }
    }
    String::from_utf8(out).map_err(|_| "field is not UTF-8 once decoded".to_string())
}

fn push_num(out: &mut Vec<u8>, n: impl std::fmt::Display) {
    out.extend_from_slice(n.to_string().as_bytes());
}

/// The three header lines of a version 1 file.
pub fn encode_header(identity: &Identity) -> Vec<u8> {
    encode_header_version(identity, 1)
}

/// The version a snapshot of `entries` is written as: 2 only when it holds per-recipient records.
pub fn version_for(entries: &BTreeMap<String, Entry>) -> u32 {
    if entries.values().any(Entry::has_recipients) {
        2
    } else {
        1
    }
}

/// The three header lines, naming `version`.
pub fn encode_header_version(identity: &Identity, version: u32) -> Vec<u8> {
    let mut out = format!("{MAGIC} {version}\nserver ").into_bytes();
    encode_field(&mut out, identity.host.as_bytes());
    out.push(b' ');
    push_num(&mut out, identity.port);
    out.extend_from_slice(b"\nuser ");
    encode_field(&mut out, identity.user.as_bytes());
    out.push(b'\n');
    out
}

/// One record line, LF included.
pub fn encode_record(record: &Record<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    let (tag, uid) = match record {
        Record::Delivered { uid, .. } => (b'D', uid),
        Record::Kept { uid, .. } => (b'K', uid),
        Record::Rejected { uid, .. } => (b'R', uid),
        Record::Begin { uid, .. } => (b'B', uid),
        Record::Abandon { uid } => (b'A', uid),
        Record::Served { uid, .. } => (b'P', uid),
        Record::Refused { uid, .. } => (b'X', uid),
    };
    out.extend_from_slice(&[tag, b' ']);
    encode_field(&mut out, uid.as_bytes());
    match record {
        Record::Delivered { absent, .. }
        | Record::Kept { absent, .. }
        | Record::Begin { absent, .. } => {
            out.push(b' ');
            push_num(&mut out, absent);
        }
        Record::Served { absent, rcpt, .. } => {
            out.push(b' ');
            push_num(&mut out, absent);
            out.push(b' ');
            encode_field(&mut out, rcpt.as_bytes());
        }
        Record::Refused {
            absent,
            rcpt,
            rejection,
            ..
        } => {
            out.push(b' ');
            push_num(&mut out, absent);
            out.push(b' ');
            encode_field(&mut out, rcpt.as_bytes());
            push_rejection(&mut out, rejection);
        }
        Record::Rejected {
            absent, rejection, ..
        } => {
            out.push(b' ');
            push_num(&mut out, absent);
            push_rejection(&mut out, rejection);
        }
        Record::Abandon { .. } => {}
    }
    out.push(b'\n');
    out
}

/// ` <code> <time> <text>` of an `R` or `X` record.
fn push_rejection(out: &mut Vec<u8>, rejection: &Rejection) {
    out.push(b' ');
    push_num(out, rejection.code);
    out.push(b' ');
    push_num(out, rejection.unix_time);
    out.push(b' ');
    encode_field(out, rejection.text.as_bytes());
}

/// A whole file: header plus one line per outcome and one per pending mark, in UID order. Decoding it yields
/// `entries` again (with empty entries dropped).
pub fn encode_snapshot(identity: &Identity, entries: &BTreeMap<String, Entry>) -> Vec<u8> {
    let mut out = encode_header_version(identity, version_for(entries));
    for (uid, e) in entries {
        let absent = e.absent;
        // The outcome goes first: replaying `B` after `D`/`R` keeps both, the reverse order would clear `B`.
        match &e.outcome {
            Some(Outcome::Delivered) => {
                out.extend(encode_record(&Record::Delivered { uid, absent }))
            }
            Some(Outcome::Kept) => out.extend(encode_record(&Record::Kept { uid, absent })),
            Some(Outcome::Rejected(rejection)) => out.extend(encode_record(&Record::Rejected {
                uid,
                absent,
                rejection,
            })),
            None => {}
        }
        for rcpt in &e.served {
            out.extend(encode_record(&Record::Served { uid, absent, rcpt }));
        }
        for (rcpt, rejection) in &e.refused {
            out.extend(encode_record(&Record::Refused {
                uid,
                absent,
                rcpt,
                rejection,
            }));
        }
        if e.pending {
            out.extend(encode_record(&Record::Begin { uid, absent }));
        }
    }
    out
}

/// Apply one record to the replayed entries (the same rules serve decoding and the live state).
pub fn apply(entries: &mut BTreeMap<String, Entry>, record: &Record<'_>) {
    match *record {
        Record::Delivered { uid, absent } | Record::Kept { uid, absent } => {
            let outcome = if matches!(record, Record::Kept { .. }) {
                Outcome::Kept
            } else {
                Outcome::Delivered
            };
            let e = entries.entry(uid.to_string()).or_default();
            e.outcome = Some(outcome);
            e.pending = false;
            e.absent = absent;
        }
        Record::Rejected {
            uid,
            absent,
            rejection,
        } => {
            let e = entries.entry(uid.to_string()).or_default();
            e.outcome = Some(Outcome::Rejected(rejection.clone()));
            e.pending = false;
            e.absent = absent;
        }
        Record::Begin { uid, absent } => {
            let e = entries.entry(uid.to_string()).or_default();
            e.pending = true;
            e.absent = absent;
        }
        Record::Served { uid, absent, rcpt } => {
            let e = entries.entry(uid.to_string()).or_default();
            e.refused.remove(rcpt);
            e.served.insert(rcpt.to_string());
            e.absent = absent;
        }
        Record::Refused {
            uid,
            absent,
            rcpt,
            rejection,
        } => {
            let e = entries.entry(uid.to_string()).or_default();
            e.served.remove(rcpt);
            e.refused.insert(rcpt.to_string(), rejection.clone());
            e.absent = absent;
        }
        Record::Abandon { uid } => {
            if let Some(e) = entries.get_mut(uid) {
                e.pending = false;
                if e.is_empty() {
                    entries.remove(uid);
                }
            }
        }
    }
}

pub use super::decode::decode;
