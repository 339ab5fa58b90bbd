//! The state file format: pure encode and decode, no I/O (the file handling lives in [`super`]).
//!
//! # Format, version 1
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
//! ```
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

use std::collections::BTreeMap;

use thiserror::Error;

/// The only format version this code reads and writes.
pub const VERSION: u32 = 1;
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
}

impl Entry {
    /// An entry that says nothing can be dropped.
    pub fn is_empty(&self) -> bool {
        self.outcome.is_none() && !self.pending
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
}

/// Why a state file could not be decoded.
#[derive(Error, Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    #[error("line {line}: {why}")]
    Corrupt { line: usize, why: String },
    #[error("format version {version} is not supported (this popfetch reads version {VERSION})")]
    UnsupportedVersion { version: u32 },
}

fn corrupt(line: usize, why: impl Into<String>) -> DecodeError {
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

/// The three header lines.
pub fn encode_header(identity: &Identity) -> Vec<u8> {
    let mut out = format!("{MAGIC} {VERSION}\nserver ").into_bytes();
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
        Record::Rejected {
            absent, rejection, ..
        } => {
            out.push(b' ');
            push_num(&mut out, absent);
            out.push(b' ');
            push_num(&mut out, rejection.code);
            out.push(b' ');
            push_num(&mut out, rejection.unix_time);
            out.push(b' ');
            encode_field(&mut out, rejection.text.as_bytes());
        }
        Record::Abandon { .. } => {}
    }
    out.push(b'\n');
    out
}

/// A whole file: header plus one line per outcome and one per pending mark, in UID order. Decoding it yields
/// `entries` again (with empty entries dropped).
pub fn encode_snapshot(identity: &Identity, entries: &BTreeMap<String, Entry>) -> Vec<u8> {
    let mut out = encode_header(identity);
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
            *e = Entry {
                outcome: Some(outcome),
                pending: false,
                absent,
            };
        }
        Record::Rejected {
            uid,
            absent,
            rejection,
        } => {
            let e = entries.entry(uid.to_string()).or_default();
            *e = Entry {
                outcome: Some(Outcome::Rejected(rejection.clone())),
                pending: false,
                absent,
            };
        }
        Record::Begin { uid, absent } => {
            let e = entries.entry(uid.to_string()).or_default();
            e.pending = true;
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

/// Strict unsigned decimal: digits only, no sign, no leading zero unless the number is 0 (one spelling per value).
fn parse_u<T: std::str::FromStr>(field: &[u8]) -> Option<T> {
    let canonical = !field.is_empty()
        && field.iter().all(u8::is_ascii_digit)
        && (field == b"0" || field[0] != b'0');
    if !canonical {
        return None;
    }
    std::str::from_utf8(field).ok()?.parse().ok()
}

fn parse_i64(field: &[u8]) -> Option<i64> {
    // Same canonical spelling rule as `parse_u` for the magnitude; "-0" is not canonical. Parsing the whole
    // field (sign included) keeps i64::MIN, whose magnitude does not fit.
    let magnitude = field.strip_prefix(b"-").unwrap_or(field);
    if (magnitude == b"0" && magnitude.len() != field.len()) || parse_u::<u64>(magnitude).is_none()
    {
        return None;
    }
    std::str::from_utf8(field).ok()?.parse().ok()
}

fn fields_exact<'a>(
    line: &'a [u8],
    n: usize,
    lineno: usize,
    what: &str,
) -> Result<Vec<&'a [u8]>, DecodeError> {
    let fields: Vec<&[u8]> = line.splitn(n + 1, |&b| b == b' ').collect();
    if fields.len() != n {
        return Err(corrupt(
            lineno,
            format!("{what} needs {n} fields, found {}", fields.len()),
        ));
    }
    Ok(fields)
}

fn field(f: &[u8], lineno: usize, what: &str) -> Result<String, DecodeError> {
    decode_field(f).map_err(|why| corrupt(lineno, format!("{what}: {why}")))
}

fn num<T: std::str::FromStr>(f: &[u8], lineno: usize, what: &str) -> Result<T, DecodeError> {
    parse_u(f).ok_or_else(|| corrupt(lineno, format!("{what} is not a valid number")))
}

fn decode_server(line: &[u8], lineno: usize) -> Result<(String, u16), DecodeError> {
    let f = fields_exact(line, 3, lineno, "the server line")?;
    if f[0] != b"server" {
        return Err(corrupt(lineno, "expected the server line"));
    }
    Ok((field(f[1], lineno, "host")?, num(f[2], lineno, "port")?))
}

fn decode_user(line: &[u8], lineno: usize) -> Result<String, DecodeError> {
    let f = fields_exact(line, 2, lineno, "the user line")?;
    if f[0] != b"user" {
        return Err(corrupt(lineno, "expected the user line"));
    }
    field(f[1], lineno, "user")
}

fn decode_version(line: &[u8]) -> Result<u32, DecodeError> {
    let f: Vec<&[u8]> = line.splitn(2, |&b| b == b' ').collect();
    if f[0] != MAGIC.as_bytes() || f.len() != 2 {
        return Err(corrupt(
            1,
            "not a popfetch state file (no \"popfetch-state VERSION\" header)",
        ));
    }
    parse_u(f[1]).ok_or_else(|| corrupt(1, "the format version is not a number"))
}

/// Decode a whole state file (module docs). Pure: the caller adds the path and logs a torn line.
pub fn decode(text: &[u8]) -> Result<Journal, DecodeError> {
    let valid_len = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut lines = text[..valid_len].split(|&b| b == b'\n');
    // `split` yields one empty piece after the final LF; it is not a line.
    let line_count = text[..valid_len].iter().filter(|&&b| b == b'\n').count();
    let torn_line = (valid_len < text.len()).then_some(line_count + 1);
    if line_count == 0 {
        return Err(if text.is_empty() {
            corrupt(1, "the file is empty (no header)")
        } else {
            corrupt(1, "the header is incomplete (no line end)")
        });
    }
    let version = decode_version(lines.next().unwrap_or_default())?;
    if version != VERSION {
        return Err(DecodeError::UnsupportedVersion { version });
    }
    let missing =
        |n: usize, what: &str| corrupt(n, format!("the header is incomplete: no {what} line"));
    let (host, port) = decode_server(
        lines
            .next()
            .filter(|_| line_count >= 2)
            .ok_or_else(|| missing(2, "server"))?,
        2,
    )?;
    let user = decode_user(
        lines
            .next()
            .filter(|_| line_count >= 3)
            .ok_or_else(|| missing(3, "user"))?,
        3,
    )?;
    let identity = Identity { host, port, user };

    let mut entries = BTreeMap::new();
    for (i, line) in lines.take(line_count - 3).enumerate() {
        let lineno = i + 4;
        decode_body_line(line, lineno, &identity, &mut entries)?;
    }
    Ok(Journal {
        identity,
        entries,
        valid_len,
        torn_line,
    })
}

fn decode_body_line(
    line: &[u8],
    lineno: usize,
    identity: &Identity,
    entries: &mut BTreeMap<String, Entry>,
) -> Result<(), DecodeError> {
    let tag = line.split(|&b| b == b' ').next().unwrap_or_default();
    match tag {
        b"D" | b"K" | b"B" => {
            let f = fields_exact(line, 3, lineno, "a D, K or B record")?;
            let uid = field(f[1], lineno, "UID")?;
            let absent = num(f[2], lineno, "absent count")?;
            let rec = match tag {
                b"D" => Record::Delivered { uid: &uid, absent },
                b"K" => Record::Kept { uid: &uid, absent },
                _ => Record::Begin { uid: &uid, absent },
            };
            apply(entries, &rec);
        }
        b"R" => {
            let f = fields_exact(line, 6, lineno, "an R record")?;
            let uid = field(f[1], lineno, "UID")?;
            let absent = num(f[2], lineno, "absent count")?;
            let code = num(f[3], lineno, "reply code")?;
            let unix_time =
                parse_i64(f[4]).ok_or_else(|| corrupt(lineno, "time is not a valid number"))?;
            let rejection = Rejection {
                code,
                text: field(f[5], lineno, "reply text")?,
                unix_time,
            };
            apply(
                entries,
                &Record::Rejected {
                    uid: &uid,
                    absent,
                    rejection: &rejection,
                },
            );
        }
        b"A" => {
            let f = fields_exact(line, 2, lineno, "an A record")?;
            let uid = field(f[1], lineno, "UID")?;
            apply(entries, &Record::Abandon { uid: &uid });
        }
        // A repeated header line is tolerated when it says the same thing; a different one means two files were
        // concatenated or edited by hand, and which identity is right cannot be told.
        b"server" => {
            if decode_server(line, lineno)? != (identity.host.clone(), identity.port) {
                return Err(corrupt(lineno, "a second, different server line"));
            }
        }
        b"user" => {
            if decode_user(line, lineno)? != identity.user {
                return Err(corrupt(lineno, "a second, different user line"));
            }
        }
        _ if tag == MAGIC.as_bytes() => {
            if line != format!("{MAGIC} {VERSION}").as_bytes() {
                return Err(corrupt(lineno, "a second, different version line"));
            }
        }
        _ => return Err(corrupt(lineno, "unknown record type")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p16_field_table() {
        let ok: &[(&[u8], &str)] = &[
            (b"", ""),
            (b"abc", "abc"),
            (b"%20%25%0a", " %\n"),
            (b"%C3%A9", "é"),
            (b"%7F%00", "\u{7f}\0"),
        ];
        for (enc, dec) in ok {
            assert_eq!(decode_field(enc).as_deref(), Ok(*dec), "{enc:?}");
        }
        let bad: &[&[u8]] = &[
            b"%",
            b"%4",
            b"%G0",
            b"a b",
            b"\t",
            b"\x7f",
            b"\xc3\xa9",
            b"%FF",
            b"%C3",
        ];
        for enc in bad {
            assert!(decode_field(enc).is_err(), "{enc:?}");
        }
        let mut out = Vec::new();
        encode_field(&mut out, b"%41 ");
        assert_eq!(out, b"%2541%20");
    }

    #[test]
    fn numbers_have_one_spelling() {
        assert_eq!(parse_u::<u32>(b"0"), Some(0));
        assert_eq!(parse_u::<u32>(b"4294967295"), Some(u32::MAX));
        for bad in [
            &b""[..],
            b"00",
            b"01",
            b"+1",
            b"-1",
            b" 1",
            b"1 ",
            b"4294967296",
            b"1e3",
        ] {
            assert_eq!(parse_u::<u32>(bad), None, "{bad:?}");
        }
        assert_eq!(parse_i64(b"-9223372036854775807"), Some(-i64::MAX));
        assert_eq!(parse_i64(b"-0"), None);
        assert_eq!(parse_i64(b"--1"), None);
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
    }
}
