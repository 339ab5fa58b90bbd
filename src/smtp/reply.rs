//! Sans-IO decoding of SMTP and LMTP replies (RFC 5321 §4.2, RFC 2033 §4.2). No I/O and no tokio here;
//! [`super::conn`] moves the bytes.
//!
//! [`parse_reply`] returns `Ok(None)` while the reply is incomplete and `Ok(Some((reply, consumed)))` once its last
//! line arrived. It is bounded: a line by [`MAX_LINE`], a reply by [`MAX_LINES`]. Anything that is not a
//! well-formed reply (a code that is not three digits in the RFC's ranges, no space or `-` after it, lines that
//! disagree on the code) is a [`ReplyError`]: the caller drops the connection and treats the step as a temporary
//! failure (catalog S-09), so a garbled reply is never read as success.

/// Longest reply line, line ending included. RFC 5321 §4.5.3.1.5 allows 512 octets; real MTAs stay far below, but
/// a long queue id or a verbose policy text can pass it (catalog S-09: a 600-octet reply is fine).
pub const MAX_LINE: usize = 4096;
/// Most lines in one reply. A real EHLO reply has about 15; only a hostile MTA sends thousands.
pub const MAX_LINES: usize = 256;

use crate::untrusted::{self, Secrets, Shown};

/// A reply that is not one, or one too large to read.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum ReplyError {
    #[error("reply line longer than {limit} octets")]
    LineTooLong { limit: usize },
    #[error("reply of more than {limit} lines")]
    TooManyLines { limit: usize },
    /// The line does not start with a reply code followed by SP, `-` or the line end. `line` holds the raw
    /// bytes: the connection shows them through the account's secrets (`SmtpError::Garbled`), this parser never
    /// does, since an MTA may echo a secret in a garbled line too (catalog T-20).
    #[error("malformed reply line")]
    Malformed { line: Vec<u8> },
    /// A multi-line reply whose lines carry different codes (RFC 5321 §4.2.1: they must all be the same).
    #[error("reply lines with different codes ({first} then {then})")]
    MixedCodes { first: u16, then: u16 },
}

/// One complete reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code (200..=559).
    pub code: u16,
    /// The text of each line after the code and its separator, without the line ending. Untrusted bytes: escape
    /// them before showing them ([`Reply::text`]).
    pub lines: Vec<Vec<u8>>,
}

impl Reply {
    /// The first digit: 2 positive, 3 intermediate, 4 transient, 5 permanent.
    pub fn class(&self) -> u16 {
        self.code / 100
    }

    /// The lines joined by a space, made safe for a log line, the state journal or the status file
    /// ([`crate::untrusted`]: `secrets` scrubbed, escaped, bounded). An enhanced status code (RFC 3463, `4.5.3`)
    /// stays at the front, as the MTA sent it.
    pub fn text(&self, secrets: &Secrets) -> Shown {
        let joined = self.lines.join(&b' ');
        secrets.show(joined.trim_ascii_end(), untrusted::REPLY)
    }

    /// The enhanced status code (RFC 3463 §2: `class.subject.detail`) at the start of the first line, if any.
    pub fn enhanced(&self) -> Option<(u8, u16, u16)> {
        enhanced(self.lines.first()?)
    }
}

/// `class.subject.detail` (RFC 3463 §2: class 2, 4 or 5; subject and detail of 1 to 3 digits) at the start of
/// `text`, followed by a space or the end.
fn enhanced(text: &[u8]) -> Option<(u8, u16, u16)> {
    let word = text.split(|&b| b == b' ').next()?;
    let mut parts = word.split(|&b| b == b'.');
    let class = match parts.next()? {
        [c @ (b'2' | b'4' | b'5')] => c - b'0',
        _ => return None,
    };
    let mut num = || -> Option<u16> {
        let p = parts.next()?;
        if !(1..=3).contains(&p.len()) || !p.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(p).ok()?.parse().ok()
    };
    let (subject, detail) = (num()?, num()?);
    parts.next().is_none().then_some((class, subject, detail))
}

/// One parsed reply line: its code, whether more lines follow, and its text.
fn parse_line(line: &[u8]) -> Result<(u16, bool, &[u8]), ReplyError> {
    let bad = || ReplyError::Malformed {
        line: line.to_vec(),
    };
    // RFC 5321 §4.2: the first digit is 2-5, the second 0-5, the third 0-9.
    let (code, rest) = match line {
        [a @ b'2'..=b'5', b @ b'0'..=b'5', c @ b'0'..=b'9', rest @ ..] => (
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'),
            rest,
        ),
        _ => return Err(bad()),
    };
    match rest {
        [] => Ok((code, false, rest)),
        [b' ', text @ ..] => Ok((code, false, text)),
        [b'-', text @ ..] => Ok((code, true, text)),
        _ => Err(bad()),
    }
}

/// Parse one reply from the front of `buf`. Lines end in CRLF; a bare LF is accepted as a line end too (Postfix
/// never sends one; refusing it would only turn an odd MTA's success into a retry loop).
///
/// # Errors
/// A [`ReplyError`]; the connection cannot be used after it.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, ReplyError> {
    let mut pos = 0;
    let mut code = None;
    let mut lines = Vec::new();
    loop {
        let rest = &buf[pos..];
        let window = &rest[..rest.len().min(MAX_LINE)];
        let Some(nl) = window.iter().position(|&b| b == b'\n') else {
            if rest.len() >= MAX_LINE {
                return Err(ReplyError::LineTooLong { limit: MAX_LINE });
            }
            return Ok(None);
        };
        let line = &rest[..nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        pos += nl + 1;
        let (c, more, text) = parse_line(line)?;
        match code {
            None => code = Some(c),
            Some(first) if first != c => return Err(ReplyError::MixedCodes { first, then: c }),
            Some(_) => {}
        }
        if lines.len() >= MAX_LINES {
            return Err(ReplyError::TooManyLines { limit: MAX_LINES });
        }
        lines.push(text.to_vec());
        if !more {
            return Ok(Some((Reply { code: c, lines }, pos)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(b: &[u8]) -> Result<Option<(Reply, usize)>, ReplyError> {
        parse_reply(b)
    }

    #[test]
    fn s09_single_and_multi_line_replies() {
        let (r, n) = whole(b"250 2.0.0 Ok: queued as 1A2B\r\nrest")
            .unwrap()
            .unwrap();
        assert_eq!((r.code, n), (250, 30));
        assert_eq!(r.text(&Secrets::none()), "2.0.0 Ok: queued as 1A2B");
        assert_eq!(r.enhanced(), Some((2, 0, 0)));
        let (r, n) = whole(b"250-mx.test\r\n250-SIZE 100\r\n250 8BITMIME\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(n, 41);
        assert_eq!(
            r.lines,
            vec![
                b"mx.test".to_vec(),
                b"SIZE 100".to_vec(),
                b"8BITMIME".to_vec()
            ]
        );
        assert_eq!(r.text(&Secrets::none()), "mx.test SIZE 100 8BITMIME");
        // A bare code, and bare LF line ends.
        let (r, _) = whole(b"354\r\n").unwrap().unwrap();
        assert_eq!((r.code, r.lines.len()), (354, 1));
        assert_eq!(whole(b"220-a\n220 b\n").unwrap().unwrap().1, 12);
        // Incomplete.
        assert_eq!(whole(b"250-a\r\n250 b").unwrap(), None);
        assert_eq!(whole(b"").unwrap(), None);
        assert_eq!(whole(b"25").unwrap(), None);
    }

    #[test]
    fn s09_malformed_replies_are_errors_never_success() {
        for bad in [
            &b"2x0 looks like success\r\n"[..],
            b"250ok\r\n",
            b"25\r\n",
            b"hello\r\n",
            b"-250 no\r\n",
            b"650 six\r\n",
            b"260 y out of range\r\n",
            b"\r\n",
            b" 250 x\r\n",
        ] {
            assert!(
                matches!(whole(bad), Err(ReplyError::Malformed { .. })),
                "{:?}",
                bad.escape_ascii().to_string()
            );
        }
        assert_eq!(
            whole(b"250-2.0.0 looks fine\r\n451 4.3.0 but is not\r\n"),
            Err(ReplyError::MixedCodes {
                first: 250,
                then: 451
            })
        );
    }

    #[test]
    fn s09_bounds() {
        let long = format!("250 {}\r\n", "Q".repeat(600));
        assert!(whole(long.as_bytes()).unwrap().is_some());
        let huge = vec![b'2'; MAX_LINE];
        assert_eq!(
            whole(&huge),
            Err(ReplyError::LineTooLong { limit: MAX_LINE })
        );
        let mut many = b"250-x\r\n".repeat(MAX_LINES);
        many.extend_from_slice(b"250 x\r\n");
        assert_eq!(
            whole(&many),
            Err(ReplyError::TooManyLines { limit: MAX_LINES })
        );
    }

    #[test]
    fn s09_every_split_gives_the_same_reply() {
        let wire = b"250-mx.test\r\n250-PIPELINING\r\n250 SIZE 10240000\r\n";
        let want = whole(wire).unwrap().unwrap();
        for cut in 0..wire.len() {
            assert_eq!(whole(&wire[..cut]).unwrap(), None, "cut {cut}");
        }
        assert_eq!(whole(wire).unwrap().unwrap(), want);
    }

    #[test]
    fn enhanced_codes_per_rfc_3463() {
        let e = |t: &[u8]| enhanced(t);
        assert_eq!(e(b"4.5.3 Too many"), Some((4, 5, 3)));
        assert_eq!(e(b"5.7.1"), Some((5, 7, 1)));
        assert_eq!(e(b"2.1.10 x"), Some((2, 1, 10)));
        assert_eq!(e(b"3.0.0 x"), None);
        assert_eq!(e(b"4.5 x"), None);
        assert_eq!(e(b"4.5.3.1 x"), None);
        assert_eq!(e(b"4.5.1234 x"), None);
        assert_eq!(e(b"Ok"), None);
        assert_eq!(e(b""), None);
    }

    #[test]
    fn shown_text_is_scrubbed_escaped_and_bounded() {
        let (r, _) = whole(b"250-hunter2 echoed\r\n250 \x1b[31m\r\n")
            .unwrap()
            .unwrap();
        let secrets = Secrets::none();
        secrets.add_bytes(b"hunter2");
        let shown = r.text(&secrets);
        assert!(
            !shown.contains("hunter2") && shown.contains("\\x1b"),
            "{shown}"
        );
        let (r, _) = whole(format!("250 {}\r\n", "x".repeat(1000)).as_bytes())
            .unwrap()
            .unwrap();
        assert!(r.text(&Secrets::none()).len() < 400);
    }
}
