//! Sans-IO parsing of the IMAP server responses the APPEND destination needs (RFC 9051 §7, RFC 3501 §7): the
//! greeting, `* CAPABILITY`, status responses (`OK`/`NO`/`BAD`/`BYE`/`PREAUTH`, tagged or untagged) with their
//! response code, and the continuation request `+`. Other untagged data (`* 3 EXISTS`) is kept as
//! [`Response::Data`] and ignored by the session.
//!
//! A line longer than [`MAX_LINE`] is an error: nothing this client asks for is that long, and a server that
//! sends more must not make it buffer without bound. A response with a literal (`{N}` at the end of a line) is
//! not expected from any command popfetch sends and is reported as unsupported.

use thiserror::Error;

/// Longest response line accepted, CRLF included.
pub const MAX_LINE: usize = 64 * 1024;

/// One response line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `TAG OK|NO|BAD [code] text`.
    Tagged {
        tag: String,
        status: Status,
        code: Option<Code>,
        text: Vec<u8>,
    },
    /// `* OK|NO|BAD|BYE|PREAUTH [code] text`.
    Untagged {
        status: Status,
        code: Option<Code>,
        text: Vec<u8>,
    },
    /// `* CAPABILITY ...` (RFC 9051 §7.2.2), upper-cased.
    Capability(Vec<String>),
    /// Any other untagged data (`* 1 EXISTS`, `* FLAGS (...)`).
    Data,
    /// `+ text` (RFC 9051 §7.5).
    Continue(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
    Bye,
    PreAuth,
}

/// The response codes popfetch acts on (RFC 9051 §7.1, RFC 4315 §3, RFC 5530).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    /// The folder does not exist; popfetch never creates it.
    TryCreate,
    /// The mailbox is over quota (RFC 5530).
    OverQuota,
    /// A temporary server failure (RFC 5530).
    Unavailable,
    /// Text the user must see (RFC 9051 §7.1).
    Alert,
    /// UIDPLUS: `APPENDUID uidvalidity uid`, kept as the text after the atom.
    AppendUid(String),
    /// The capability list, in a greeting or a tagged OK.
    Capability(Vec<String>),
    /// Any other code, by its atom (upper-cased).
    Other(String),
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("a response line longer than {MAX_LINE} bytes")]
    TooLong,
    #[error("a response with a literal, which popfetch does not expect here")]
    Literal,
    #[error("a malformed response line")]
    Malformed,
}

/// Parse the first complete line in `buf`: `Ok(None)` when more bytes are needed, else the response and how many
/// bytes it used. A line ends at LF (a CR before it is dropped): a server sending bare LF is tolerated.
pub fn parse(buf: &[u8]) -> Result<Option<(Response, usize)>, CodecError> {
    let Some(lf) = buf.iter().position(|&b| b == b'\n') else {
        return if buf.len() >= MAX_LINE {
            Err(CodecError::TooLong)
        } else {
            Ok(None)
        };
    };
    if lf + 1 > MAX_LINE {
        return Err(CodecError::TooLong);
    }
    let line = &buf[..lf];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.ends_with(b"}") && line.contains(&b'{') {
        let open = line.iter().rposition(|&b| b == b'{').unwrap_or(0);
        let inner = &line[open + 1..line.len() - 1];
        if !inner.is_empty() && inner.iter().all(u8::is_ascii_digit) {
            return Err(CodecError::Literal);
        }
    }
    Ok(Some((parse_line(line)?, lf + 1)))
}

fn parse_line(line: &[u8]) -> Result<Response, CodecError> {
    if let Some(rest) = line.strip_prefix(b"+") {
        return Ok(Response::Continue(
            rest.strip_prefix(b" ").unwrap_or(rest).to_vec(),
        ));
    }
    let (tag, rest) = word(line).ok_or(CodecError::Malformed)?;
    let (kind, rest) = word(rest).ok_or(CodecError::Malformed)?;
    let kind = String::from_utf8_lossy(kind).to_ascii_uppercase();
    let status = match kind.as_str() {
        "OK" => Some(Status::Ok),
        "NO" => Some(Status::No),
        "BAD" => Some(Status::Bad),
        "BYE" => Some(Status::Bye),
        "PREAUTH" => Some(Status::PreAuth),
        _ => None,
    };
    if tag == b"*" {
        return Ok(match status {
            Some(status) => {
                let (code, text) = code(rest)?;
                Response::Untagged { status, code, text }
            }
            None if kind == "CAPABILITY" => Response::Capability(atoms(rest)),
            None => Response::Data,
        });
    }
    let valid_tag = tag
        .iter()
        .all(|&b| (0x21..0x7f).contains(&b) && !b"(){%*\"\\+".contains(&b));
    match status {
        Some(status @ (Status::Ok | Status::No | Status::Bad)) if valid_tag => {
            let (code, text) = code(rest)?;
            Ok(Response::Tagged {
                tag: String::from_utf8_lossy(tag).into_owned(),
                status,
                code,
                text,
            })
        }
        _ => Err(CodecError::Malformed),
    }
}

/// The word before the first space, and what follows the space (empty at the end of the line).
fn word(s: &[u8]) -> Option<(&[u8], &[u8])> {
    if s.is_empty() {
        return None;
    }
    Some(match s.iter().position(|&b| b == b' ') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, &[][..]),
    })
}

fn atoms(s: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(s)
        .split_ascii_whitespace()
        .map(str::to_ascii_uppercase)
        .collect()
}

/// `[code args] text` or just `text` (RFC 9051 §7.1: `resp-text = ["[" resp-text-code "]" SP] text`).
fn code(rest: &[u8]) -> Result<(Option<Code>, Vec<u8>), CodecError> {
    let Some(inner) = rest.strip_prefix(b"[") else {
        return Ok((None, rest.to_vec()));
    };
    let close = inner
        .iter()
        .position(|&b| b == b']')
        .ok_or(CodecError::Malformed)?;
    let (body, text) = (&inner[..close], &inner[close + 1..]);
    let text = text.strip_prefix(b" ").unwrap_or(text).to_vec();
    let (atom, args) = word(body).ok_or(CodecError::Malformed)?;
    let atom = String::from_utf8_lossy(atom).to_ascii_uppercase();
    let code = match atom.as_str() {
        "TRYCREATE" => Code::TryCreate,
        "OVERQUOTA" => Code::OverQuota,
        "UNAVAILABLE" => Code::Unavailable,
        "ALERT" => Code::Alert,
        "APPENDUID" => Code::AppendUid(String::from_utf8_lossy(args).into_owned()),
        "CAPABILITY" => Code::Capability(atoms(args)),
        _ => Code::Other(atom),
    };
    Ok((Some(code), text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Response {
        let (r, n) = parse(s.as_bytes()).unwrap().unwrap();
        assert_eq!(n, s.len());
        r
    }

    #[test]
    fn status_lines_codes_and_continuations() {
        assert_eq!(
            one("* OK [CAPABILITY IMAP4rev1 LITERAL+ auth=plain] Dovecot ready.\r\n"),
            Response::Untagged {
                status: Status::Ok,
                code: Some(Code::Capability(
                    ["IMAP4REV1", "LITERAL+", "AUTH=PLAIN"]
                        .map(String::from)
                        .to_vec()
                )),
                text: b"Dovecot ready.".to_vec(),
            }
        );
        assert_eq!(
            one("a3 NO [TRYCREATE] Mailbox doesn't exist: Junk\r\n"),
            Response::Tagged {
                tag: "a3".into(),
                status: Status::No,
                code: Some(Code::TryCreate),
                text: b"Mailbox doesn't exist: Junk".to_vec(),
            }
        );
        assert_eq!(
            one("a4 OK [APPENDUID 1700000000 7] Append completed.\r\n"),
            Response::Tagged {
                tag: "a4".into(),
                status: Status::Ok,
                code: Some(Code::AppendUid("1700000000 7".into())),
                text: b"Append completed.".to_vec(),
            }
        );
        for (line, want) in [
            ("a5 no [OVERQUOTA] full\r\n", Code::OverQuota),
            ("a5 NO [UNAVAILABLE] later\r\n", Code::Unavailable),
            ("a5 NO [ALERT] read this\r\n", Code::Alert),
            (
                "a5 NO [SERVERBUG] oops\r\n",
                Code::Other("SERVERBUG".into()),
            ),
        ] {
            assert!(
                matches!(one(line), Response::Tagged { status: Status::No, code: Some(c), .. } if c == want)
            );
        }
        assert_eq!(one("+ \r\n"), Response::Continue(Vec::new()));
        assert_eq!(one("+ Ready\r\n"), Response::Continue(b"Ready".to_vec()));
        assert_eq!(one("* 3 EXISTS\r\n"), Response::Data);
        assert_eq!(
            one("* CAPABILITY IMAP4rev1 STARTTLS\r\n"),
            Response::Capability(vec!["IMAP4REV1".into(), "STARTTLS".into()])
        );
        assert!(matches!(
            one("* BYE shutting down\n"),
            Response::Untagged {
                status: Status::Bye,
                ..
            }
        ));
    }

    #[test]
    fn partial_long_literal_and_garbage() {
        assert_eq!(parse(b"a1 OK done"), Ok(None));
        assert_eq!(parse(&vec![b'x'; MAX_LINE]), Err(CodecError::TooLong));
        let mut long = vec![b'x'; MAX_LINE];
        long.extend_from_slice(b"\r\n");
        assert_eq!(parse(&long), Err(CodecError::TooLong));
        assert_eq!(
            parse(b"* 1 FETCH (BODY[] {5}\r\n"),
            Err(CodecError::Literal)
        );
        assert_eq!(parse(b"a1 HELLO\r\n"), Err(CodecError::Malformed));
        assert_eq!(parse(b"a1 NO [TRYCREATE\r\n"), Err(CodecError::Malformed));
        assert_eq!(parse(b"\r\n"), Err(CodecError::Malformed));
        // Two responses in one read: the first is returned with its length.
        let (_, n) = parse(b"* OK hi\r\na1 OK done\r\n").unwrap().unwrap();
        assert_eq!(n, 9);
    }
}
