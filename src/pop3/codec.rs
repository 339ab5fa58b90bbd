//! Sans-IO POP3 decoding: status lines, multi-line bodies (dot-unstuffing), CAPA, UIDL and LIST listings, and the
//! APOP timestamp. No I/O and no tokio here; [`super::client`] moves the bytes.
//!
//! Stream parsers return `Ok(None)` when more bytes are needed and `Ok(Some((value, consumed)))` otherwise.
//! Every parser is bounded: status lines by `max_line`, bodies by `max_message` (an error, never a truncation).
//!
//! # Line endings
//! RFC 1939 §3 lines end in CRLF. Some servers send bare LF. A status line ending in bare LF is accepted and
//! reported ([`StatusLine::bare_lf`]); the client then decodes that reply's body in *LF mode*, where LF alone ends a
//! line and `.` LF is a terminator. In the default CRLF mode only CRLF ends a line, so a bare LF inside a message is
//! content, and only `.` CRLF at the start of a line terminates (P-02). Deciding per reply keeps a conforming
//! server's bodies exact while a bare-LF server still works instead of hanging until the timeout.

use std::collections::HashSet;

/// A decoding failure. The session cannot continue after any of these.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum CodecError {
    /// A status or listing line exceeded the line bound (P-06).
    #[error("line longer than {limit} bytes")]
    LineTooLong { limit: usize },
    /// The line does not start with `+OK` or `-ERR` followed by a space or the line end (P-08, P-12).
    /// `line` holds the raw bytes; they are shown only through [`crate::untrusted`] (the client does that).
    #[error("not a pop3 status line")]
    BadStatus { line: Vec<u8> },
    /// A multi-line response exceeded its size bound.
    #[error("response larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// A UIDL or LIST line is malformed (P-15, P-16). `line` counts from 1.
    #[error("malformed listing line {line}: {reason}")]
    BadListing { line: usize, reason: &'static str },
    /// The same message number is listed twice (P-15).
    #[error("message number {n} listed twice")]
    DuplicateMsgNumber { n: u32 },
}

/// An RFC 2449 §8 / RFC 3206 response code, matched case-insensitively on its leading components; unknown
/// hierarchical detail is ignored (`[IN-USE/FOO]` is [`RespCode::InUse`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RespCode {
    /// `[IN-USE]`: the maildrop is locked by another session (RFC 2449 §8.1.2).
    InUse,
    /// `[LOGIN-DELAY]`: logged in too recently (RFC 2449 §8.1.1).
    LoginDelay,
    /// `[SYS/TEMP]`: a temporary server-side problem (RFC 3206 §4).
    SysTemp,
    /// `[SYS/PERM]`: a permanent server-side problem (RFC 3206 §4).
    SysPerm,
    /// `[AUTH]`: the credentials were wrong (RFC 3206 §5).
    Auth,
    /// Any other code, upper-cased and escaped.
    Other(String),
}

/// One `+OK` / `-ERR` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusLine {
    /// `+OK` (true) or `-ERR` (false).
    pub ok: bool,
    /// A response code in brackets right after the indicator, if any.
    pub code: Option<RespCode>,
    /// The raw text after the indicator and its space (code included), without the line ending. Unauthenticated
    /// server bytes: show them only through [`crate::untrusted::Secrets::show`].
    pub text: Vec<u8>,
    /// The line ended in LF without CR.
    pub bare_lf: bool,
}

/// A line received while a SASL exchange is in progress (RFC 5034 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthLine {
    /// `+ <base64 challenge>` (the challenge may be empty).
    Continue(Vec<u8>),
    /// The final `+OK` / `-ERR`.
    Status(StatusLine),
}

/// Where the next line ends: the index just past its LF, searching from `from` (bytes before it are known to hold
/// no LF, which keeps repeated calls on a growing buffer linear).
///
/// # Errors
/// [`CodecError::LineTooLong`] when `max_line` bytes hold no LF.
pub fn find_line_end(
    buf: &[u8],
    from: usize,
    max_line: usize,
) -> Result<Option<usize>, CodecError> {
    let limit = buf.len().min(max_line);
    if from < limit
        && let Some(i) = buf[from..limit].iter().position(|&b| b == b'\n')
    {
        return Ok(Some(from + i + 1));
    }
    if buf.len() >= max_line {
        Err(CodecError::LineTooLong { limit: max_line })
    } else {
        Ok(None)
    }
}

/// Split a complete line (ending in LF) into its content and whether the CR was missing.
fn strip_eol(line: &[u8]) -> (&[u8], bool) {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    match line.strip_suffix(b"\r") {
        Some(l) => (l, false),
        None => (line, true),
    }
}

/// Parse one status line from the front of `buf`.
///
/// # Errors
/// [`CodecError::LineTooLong`] or [`CodecError::BadStatus`].
pub fn parse_status_line(
    buf: &[u8],
    max_line: usize,
) -> Result<Option<(StatusLine, usize)>, CodecError> {
    match find_line_end(buf, 0, max_line)? {
        Some(end) => Ok(Some((parse_status(&buf[..end])?, end))),
        None => Ok(None),
    }
}

/// Parse a complete line (with its line ending) as `+OK` / `-ERR`.
///
/// The indicator is matched case-insensitively (`+ok` is accepted: RFC 1939 §3 requires upper case from the server,
/// but reading it leniently loses nothing) and must be followed by a space or the line end, so `+OKAY`, `-ERRx` and
/// IMAP's `* OK` are rejected (P-08).
///
/// # Errors
/// [`CodecError::BadStatus`].
pub fn parse_status(line: &[u8]) -> Result<StatusLine, CodecError> {
    let (content, bare_lf) = strip_eol(line);
    let (ok, rest) = if let Some(r) = strip_prefix_ci(content, b"+OK") {
        (true, r)
    } else if let Some(r) = strip_prefix_ci(content, b"-ERR") {
        (false, r)
    } else {
        return Err(bad_status(content));
    };
    let text = match rest.split_first() {
        None => &[][..],
        Some((b' ', t)) => t,
        Some(_) => return Err(bad_status(content)),
    };
    Ok(StatusLine {
        ok,
        code: parse_resp_code(text),
        text: text.to_vec(),
        bare_lf,
    })
}

/// Parse a line received during AUTH: a `+ ` continuation or a status line.
///
/// # Errors
/// As [`parse_status_line`].
pub fn parse_auth_line(
    buf: &[u8],
    max_line: usize,
) -> Result<Option<(AuthLine, usize)>, CodecError> {
    let Some(end) = find_line_end(buf, 0, max_line)? else {
        return Ok(None);
    };
    let (content, _) = strip_eol(&buf[..end]);
    let line = match content {
        [b'+'] => AuthLine::Continue(Vec::new()),
        [b'+', b' ', challenge @ ..] => AuthLine::Continue(challenge.to_vec()),
        _ => AuthLine::Status(parse_status(&buf[..end])?),
    };
    Ok(Some((line, end)))
}

fn bad_status(content: &[u8]) -> CodecError {
    CodecError::BadStatus {
        line: content.to_vec(),
    }
}

fn strip_prefix_ci<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &s[prefix.len()..])
}

/// The response code at the very start of the status text (RFC 2449 §8: "[" code "]" directly after the
/// indicator's space). Brackets later in the text are not a code (P-09).
fn parse_resp_code(text: &[u8]) -> Option<RespCode> {
    let inner = text.strip_prefix(b"[")?;
    let close = inner.iter().position(|&b| b == b']')?;
    let code = &inner[..close];
    if code.is_empty() || code.len() > 64 || !code.iter().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let upper = code.to_ascii_uppercase();
    let mut parts = upper.split(|&b| b == b'/');
    Some(match (parts.next(), parts.next()) {
        (Some(b"IN-USE"), _) => RespCode::InUse,
        (Some(b"LOGIN-DELAY"), _) => RespCode::LoginDelay,
        (Some(b"AUTH"), _) => RespCode::Auth,
        (Some(b"SYS"), Some(b"TEMP")) => RespCode::SysTemp,
        (Some(b"SYS"), Some(b"PERM")) => RespCode::SysPerm,
        _ => RespCode::Other(String::from_utf8_lossy(&upper).into_owned()),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyState {
    /// At the first byte of a line.
    LineStart,
    /// Saw `.` at the start of a line; it is dropped whatever follows (RFC 1939 §3).
    Dot,
    /// Saw `.` CR at the start of a line: LF makes it the terminator.
    DotCr,
    /// Inside a line.
    Mid,
    /// Inside a line, right after a CR.
    MidCr,
    /// The terminator has been consumed.
    Done,
}

/// A resumable decoder for one multi-line response body (RFC 1939 §3).
///
/// It consumes every byte it is given, so the caller's buffer never holds more than one read's worth, and each
/// byte is looked at once: decoding is linear however the input is chunked. The output is the body with exactly
/// one leading `.` removed from each line that starts with one, the last content line's line ending kept, and the
/// terminator line removed; an empty message (`.` CRLF at once) yields no bytes.
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    state: BodyState,
    out: Vec<u8>,
    /// Bytes decoded, including those [`BodyDecoder::feed_into`] handed out (streaming); counted against `max`.
    decoded: u64,
    max: u64,
    lf_lines: bool,
}

impl BodyDecoder {
    /// A decoder that fails with [`CodecError::TooLarge`] once the body exceeds `max` bytes. `lf_lines` selects LF
    /// mode (see the module docs); pass [`StatusLine::bare_lf`] of the reply.
    pub fn new(max: u64, lf_lines: bool) -> BodyDecoder {
        BodyDecoder {
            state: BodyState::LineStart,
            out: Vec::new(),
            decoded: 0,
            max,
            lf_lines,
        }
    }

    /// Decode bytes from the front of `buf` into the decoder's body. Returns how many were consumed (all of them
    /// unless the terminator was found) and whether the body is complete.
    ///
    /// # Errors
    /// [`CodecError::TooLarge`].
    pub fn feed(&mut self, buf: &[u8]) -> Result<(usize, bool), CodecError> {
        let mut out = std::mem::take(&mut self.out);
        let r = self.feed_into(buf, &mut out);
        self.out = out;
        r
    }

    /// As [`BodyDecoder::feed`], but append the decoded bytes to `dst` (streaming: the decoder holds only its state,
    /// and the bytes are copied once).
    ///
    /// # Errors
    /// [`CodecError::TooLarge`].
    pub fn feed_into(
        &mut self,
        buf: &[u8],
        dst: &mut Vec<u8>,
    ) -> Result<(usize, bool), CodecError> {
        let before = dst.len();
        let mut i = 0;
        while i < buf.len() && self.state != BodyState::Done {
            let stuffed = matches!(self.state, BodyState::LineStart) && buf[i] == b'.';
            if matches!(
                self.state,
                BodyState::LineStart | BodyState::Mid | BodyState::MidCr
            ) && !stuffed
            {
                // Only a `.` right after a LF can start a line (RFC 1939 §3): the content up to the next LF `.` is
                // copied in one piece (`crate::bytes`), and the state follows from its last bytes.
                let rest = &buf[i..];
                let run = crate::bytes::find_pair(rest, |x, y| (x == b'\n') & (y == b'.'))
                    .map_or(rest.len(), |k| k + 1);
                dst.extend_from_slice(&rest[..run]);
                self.state = self.after_run(&rest[..run]);
                i += run;
                continue;
            }
            let b = buf[i];
            i += 1;
            self.step(b, dst);
        }
        self.decoded += (dst.len() - before) as u64;
        if self.decoded > self.max {
            return Err(CodecError::TooLarge { limit: self.max });
        }
        Ok((i, self.state == BodyState::Done))
    }

    /// The state after the content bytes `run` (not empty), from one of the in-line states: what [`Self::step`]
    /// would have reached byte by byte. In CRLF mode only a LF after a CR starts a line.
    fn after_run(&self, run: &[u8]) -> BodyState {
        let cr_before = |at: usize| match at.checked_sub(1) {
            Some(j) => run[j] == b'\r',
            None => self.state == BodyState::MidCr,
        };
        match run.last() {
            Some(b'\r') => BodyState::MidCr,
            Some(b'\n') if self.lf_lines || cr_before(run.len() - 1) => BodyState::LineStart,
            Some(_) => BodyState::Mid,
            None => self.state,
        }
    }

    fn step(&mut self, b: u8, out: &mut Vec<u8>) {
        self.state = match self.state {
            BodyState::LineStart if b == b'.' => BodyState::Dot,
            BodyState::LineStart | BodyState::Mid => self.content(b, out),
            BodyState::Dot if b == b'\r' => BodyState::DotCr,
            BodyState::Dot if b == b'\n' && self.lf_lines => BodyState::Done,
            BodyState::Dot => self.content(b, out),
            BodyState::DotCr if b == b'\n' => BodyState::Done,
            BodyState::DotCr => {
                // `.` CR X: the dot was stuffing; the CR is content.
                out.push(b'\r');
                self.after_cr(b, out)
            }
            BodyState::MidCr => self.after_cr(b, out),
            BodyState::Done => BodyState::Done,
        }
    }

    /// Emit a content byte that does not follow a CR.
    fn content(&self, b: u8, out: &mut Vec<u8>) -> BodyState {
        out.push(b);
        match b {
            b'\r' => BodyState::MidCr,
            b'\n' if self.lf_lines => BodyState::LineStart,
            _ => BodyState::Mid,
        }
    }

    /// Emit a content byte that follows a CR.
    fn after_cr(&self, b: u8, out: &mut Vec<u8>) -> BodyState {
        out.push(b);
        match b {
            b'\n' => BodyState::LineStart,
            b'\r' => BodyState::MidCr,
            _ => BodyState::Mid,
        }
    }

    /// Bytes decoded so far, including those handed out.
    pub fn len(&self) -> usize {
        self.decoded as usize
    }

    /// True when nothing has been decoded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The decoded body. Call after [`BodyDecoder::feed`] reported completion.
    pub fn into_body(self) -> Vec<u8> {
        self.out
    }
}

/// Decode a whole multi-line body from the front of `buf` (the status line already removed).
///
/// # Errors
/// [`CodecError::TooLarge`].
pub fn parse_multiline(
    buf: &[u8],
    max: u64,
    lf_lines: bool,
) -> Result<Option<(Vec<u8>, usize)>, CodecError> {
    let mut d = BodyDecoder::new(max, lf_lines);
    match d.feed(buf)? {
        (used, true) => Ok(Some((d.into_body(), used))),
        (_, false) => Ok(None),
    }
}

/// What the server said it supports (RFC 2449 §5, RFC 2595 §4, RFC 5034 §6).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// `STLS` (RFC 2595).
    pub stls: bool,
    /// `USER`.
    pub user: bool,
    /// `SASL` mechanisms, upper-cased.
    pub sasl: Vec<String>,
    /// `UIDL`.
    pub uidl: bool,
    /// `PIPELINING` (RFC 2449 §6.6).
    pub pipelining: bool,
    /// `RESP-CODES` (RFC 2449 §6.4).
    pub resp_codes: bool,
    /// `TOP`.
    pub top: bool,
    /// `UTF8` (RFC 6856 §2), with or without its `USER` argument.
    pub utf8: bool,
    /// `EXPIRE 0` (RFC 2449 §6.7): the server removes the messages retrieved in a session when it ends (UPDATE),
    /// DELEted or not; mail cannot be left on it.
    pub expire_zero: bool,
    /// `LOGIN-DELAY n` (RFC 2449 §6.5): the server may refuse a login within `n` seconds of the last one. Before
    /// the login, a `USER` argument says the value may differ per user. `None` when absent or unreadable.
    pub login_delay: Option<u64>,
    /// Every line as received, escaped (for logs).
    pub raw: Vec<Vec<u8>>,
}

/// Parse a decoded CAPA body. Tolerant: names are case-insensitive, arguments of unknown capabilities and of most
/// known ones (`IMPLEMENTATION ...`) are ignored, and no line can affect another. `LOGIN-DELAY`'s number is read (a
/// value that is not one is as if absent), and whether `EXPIRE` is `0`.
///
/// # Errors
/// [`CodecError::LineTooLong`] for a line over `max_line` (P-06).
pub fn parse_capabilities(body: &[u8], max_line: usize) -> Result<Capabilities, CodecError> {
    let mut caps = Capabilities::default();
    for line in body_lines(body) {
        if line.len() > max_line {
            return Err(CodecError::LineTooLong { limit: max_line });
        }
        let mut words = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty());
        let Some(name) = words.next() else { continue };
        caps.raw.push(line.to_vec());
        match name.to_ascii_uppercase().as_slice() {
            b"STLS" => caps.stls = true,
            b"USER" => caps.user = true,
            b"UIDL" => caps.uidl = true,
            b"PIPELINING" => caps.pipelining = true,
            b"RESP-CODES" => caps.resp_codes = true,
            b"TOP" => caps.top = true,
            b"UTF8" => caps.utf8 = true,
            b"EXPIRE" => caps.expire_zero = number(words.next()) == Some(0),
            b"LOGIN-DELAY" => caps.login_delay = number(words.next()),
            b"SASL" => caps.sasl.extend(
                words
                    .filter(|w| w.iter().all(|b| b.is_ascii_graphic()))
                    .map(|w| String::from_utf8_lossy(&w.to_ascii_uppercase()).into_owned()),
            ),
            _ => {}
        }
    }
    Ok(caps)
}

/// A capability's numeric argument (`EXPIRE 0`, `LOGIN-DELAY 900`); `None` when missing or not a number.
fn number(word: Option<&[u8]>) -> Option<u64> {
    std::str::from_utf8(word?).ok()?.parse().ok()
}

/// The lines of a decoded body without their line endings. The final line ending does not start an extra line.
fn body_lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = body.strip_suffix(b"\n").unwrap_or(body);
    body.split(|&b| b == b'\n')
        .filter(move |_| !body.is_empty())
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

/// The size a RETR `+OK` line announces, when it has RFC 1939 §7's form `+OK <n> octets` (Dovecot, Courier;
/// anything may follow). `text` is [`StatusLine::text`]. Servers that say something else (`+OK`, `+OK message
/// follows`) announce nothing.
pub fn announced_octets(text: &[u8]) -> Option<u64> {
    let mut words = text
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty());
    let n = words.next()?;
    if n.is_empty() || n.len() > 19 || !n.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if !words.next()?.eq_ignore_ascii_case(b"octets") {
        return None;
    }
    std::str::from_utf8(n).ok()?.parse().ok()
}

/// Longest UID accepted. RFC 1939 §7 says 70, but servers send more, and truncating caused endless refetching
/// and merged UIDs elsewhere (P-16), so longer ones are kept whole up to this bound.
pub const MAX_UID_LEN: usize = 512;

/// Parse a decoded UIDL body into `(msg number, uid)` pairs in server order (RFC 1939 §7). Strict: the whole
/// listing is rejected for one bad line or a repeated number (P-15, P-16). A UID shared by several messages
/// (P-17, which popa3d sends for identical messages) is returned as listed: the poller sets those messages apart.
///
/// # Errors
/// [`CodecError::BadListing`], [`CodecError::DuplicateMsgNumber`], [`CodecError::LineTooLong`].
pub fn parse_uidl(body: &[u8], max_line: usize) -> Result<Vec<(u32, String)>, CodecError> {
    let mut out = Vec::new();
    let mut numbers = HashSet::new();
    for (idx, line) in body_lines(body).enumerate() {
        let lineno = idx + 1;
        if line.len() > max_line {
            return Err(CodecError::LineTooLong { limit: max_line });
        }
        let bad = |reason| CodecError::BadListing {
            line: lineno,
            reason,
        };
        let (n, uid) = split_pair(line).ok_or_else(|| bad("expected \"number uid\""))?;
        let n = parse_msg_number(n).ok_or_else(|| bad("bad message number"))?;
        if uid.is_empty() || uid.len() > MAX_UID_LEN {
            return Err(bad("uid length outside 1..=512"));
        }
        if !uid.iter().all(|b| (0x21..=0x7e).contains(b)) {
            return Err(bad("uid has bytes outside 0x21..=0x7e"));
        }
        if !numbers.insert(n) {
            return Err(CodecError::DuplicateMsgNumber { n });
        }
        // The byte check above makes this ASCII.
        out.push((n, String::from_utf8_lossy(uid).into_owned()));
    }
    Ok(out)
}

/// Parse a decoded LIST body into `(msg number, size)` pairs (RFC 1939 §5: "what follows the size" is
/// unspecified, so trailing information is ignored).
///
/// # Errors
/// [`CodecError::BadListing`], [`CodecError::DuplicateMsgNumber`], [`CodecError::LineTooLong`].
pub fn parse_list(body: &[u8], max_line: usize) -> Result<Vec<(u32, u64)>, CodecError> {
    let mut out = Vec::new();
    let mut numbers = HashSet::new();
    for (idx, line) in body_lines(body).enumerate() {
        let lineno = idx + 1;
        if line.len() > max_line {
            return Err(CodecError::LineTooLong { limit: max_line });
        }
        let bad = |reason| CodecError::BadListing {
            line: lineno,
            reason,
        };
        let mut words = line.split(|&b| b == b' ');
        let n = words
            .next()
            .and_then(parse_msg_number)
            .ok_or_else(|| bad("bad message number"))?;
        let size = words
            .next()
            .and_then(parse_digits)
            .ok_or_else(|| bad("bad size"))?;
        if !numbers.insert(n) {
            return Err(CodecError::DuplicateMsgNumber { n });
        }
        out.push((n, size));
    }
    Ok(out)
}

/// `number SP token` with nothing else (trailing blanks tolerated).
fn split_pair(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let line = trim_end_blanks(line);
    let sp = line.iter().position(|&b| b == b' ')?;
    let (n, rest) = (&line[..sp], &line[sp + 1..]);
    (!rest.contains(&b' ')).then_some((n, rest))
}

fn trim_end_blanks(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn parse_digits(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// A message number: decimal, at least 1, fits in `u32`.
fn parse_msg_number(s: &[u8]) -> Option<u32> {
    parse_digits(s)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n >= 1)
}

/// The APOP timestamp in a greeting's text (RFC 1939 §7): the first `<...>` that has the shape of an RFC 822
/// msg-id (`<local@domain>`), printable ASCII without spaces, at most 255 bytes with its brackets. Garbage is
/// refused rather than used: accepting it eased password recovery in fetchmail (CVE-2007-1558, T-19).
pub fn apop_timestamp(greeting_text: &[u8]) -> Option<String> {
    let start = greeting_text.iter().position(|&b| b == b'<')?;
    let len = greeting_text[start..].iter().position(|&b| b == b'>')? + 1;
    let ts = &greeting_text[start..start + len];
    let inner = &ts[1..len - 1];
    let at = inner.iter().position(|&b| b == b'@')?;
    let shape_ok = len <= 255
        && at > 0
        && at + 1 < inner.len()
        && inner
            .iter()
            .all(|&b| b.is_ascii_graphic() && b != b'<' && b != b'>');
    shape_ok.then(|| String::from_utf8_lossy(ts).into_owned())
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "codec_run_tests.rs"]
mod run_tests;
