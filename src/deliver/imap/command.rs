//! The command lines the APPEND destination sends (RFC 9051 §6, RFC 3501 §6), built as bytes without I/O: quoted
//! strings, the SASL PLAIN payload, the APPEND line with its literal header, and the internal date.

use base64::Engine;

/// A quoted string (RFC 3501 §4.3): `"` and `\` escaped. The caller has made sure there is no CR, LF or NUL
/// (config validation), which a quoted string cannot carry.
pub fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A mailbox name on the wire: modified UTF-7 (RFC 3501 §5.1.3) for the printable ASCII names the config accepts
/// is the name itself with `&` written `&-`.
pub fn mailbox(name: &str) -> String {
    quoted(&name.replace('&', "&-"))
}

/// The SASL PLAIN response (RFC 4616), base64: no authorization identity, then the user and the password.
pub fn plain(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"))
}

/// How the literal of an APPEND is announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Literal {
    /// `{N}`: wait for the server's `+` before sending the bytes.
    Sync,
    /// `{N+}` (RFC 7888): send the bytes straight away.
    NonSync,
}

/// Which literal to use: `{N+}` with LITERAL+, or with LITERAL- when the message is at most 4096 bytes (RFC 7888
/// §4); else a synchronizing one.
pub fn literal_for(caps: &[String], len: u64) -> Literal {
    let has = |c: &str| caps.iter().any(|x| x == c);
    if has("LITERAL+") || (has("LITERAL-") && len <= 4096) {
        Literal::NonSync
    } else {
        Literal::Sync
    }
}

/// `TAG APPEND "folder" (flags) "date-time" {N}` + CRLF (RFC 9051 §6.3.12).
pub fn append(
    tag: &str,
    folder: &str,
    flags: &[String],
    date: &str,
    len: u64,
    lit: Literal,
) -> Vec<u8> {
    let plus = if lit == Literal::NonSync { "+" } else { "" };
    format!(
        "{tag} APPEND {} ({}) \"{date}\" {{{len}{plus}}}\r\n",
        mailbox(folder),
        flags.join(" ")
    )
    .into_bytes()
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The internal date (RFC 9051 §9 `date-time`, e.g. `02-Dec-2026 09:10:00 +0100`): the message's own `Date`
/// field when it parses, else `now` (seconds since the epoch, UTC).
pub fn internal_date(message: &[u8], now: i64) -> String {
    if let Some(d) = crate::headers::first_field(message, "Date").and_then(|v| date_time(&v)) {
        return d;
    }
    // "Sun, 22 Nov 2026 21:00:00 +0000" → "22-Nov-2026 21:00:00 +0000".
    let rfc5322 = crate::headers::rfc5322_date(now);
    date_time(rfc5322.as_bytes()).unwrap_or_else(|| "01-Jan-1970 00:00:00 +0000".into())
}

/// An RFC 5322 §3.3 date (`[Day,] D Mon YYYY HH:MM[:SS] zone`, with `UT`/`GMT` as `+0000`; a trailing comment
/// ignored) as an IMAP `date-time`; `None` for anything else (the obsolete military zones included).
fn date_time(value: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(value).ok()?;
    let mut words = text.split_ascii_whitespace().peekable();
    if words.peek()?.ends_with(',') {
        words.next();
    }
    let num = |s: &str, lo: u32, hi: u32| {
        (s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty())
            .then(|| s.parse::<u32>().ok())
            .flatten()
            .filter(|n| (lo..=hi).contains(n))
    };
    let day = num(words.next()?, 1, 31)?;
    let month = words.next()?;
    let month = MONTHS.iter().find(|m| m.eq_ignore_ascii_case(month))?;
    let year = words.next()?;
    let year = num(year, 1900, 9999).filter(|_| year.len() == 4)?;
    let mut hms = words.next()?.split(':');
    let hour = num(hms.next()?, 0, 23)?;
    let minute = num(hms.next()?, 0, 59)?;
    let second = hms.next().map_or(Some(0), |s| num(s, 0, 60))?;
    if hms.next().is_some() {
        return None;
    }
    let zone = match words.next()? {
        "UT" | "GMT" => "+0000".to_owned(),
        z if z.len() == 5
            && (z.starts_with('+') || z.starts_with('-'))
            && num(&z[1..3], 0, 23).is_some()
            && num(&z[3..], 0, 59).is_some() =>
        {
            z.to_owned()
        }
        _ => return None,
    };
    Some(format!(
        "{day:02}-{month}-{year} {hour:02}:{minute:02}:{second:02} {zone}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_mailbox_and_plain() {
        assert_eq!(quoted(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(mailbox("Tom & Jerry"), "\"Tom &- Jerry\"");
        assert_eq!(plain("u", "p"), "AHUAcA==");
    }

    #[test]
    fn append_line_and_literal_choice() {
        let caps = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(literal_for(&caps(&["LITERAL+"]), 1 << 20), Literal::NonSync);
        assert_eq!(literal_for(&caps(&["LITERAL-"]), 4096), Literal::NonSync);
        assert_eq!(literal_for(&caps(&["LITERAL-"]), 4097), Literal::Sync);
        assert_eq!(literal_for(&caps(&["IMAP4REV1"]), 1), Literal::Sync);
        assert_eq!(
            append(
                "a3",
                "INBOX",
                &["\\Seen".into(), "$Fetched".into()],
                "02-Dec-2026 09:10:00 +0100",
                42,
                Literal::NonSync
            ),
            b"a3 APPEND \"INBOX\" (\\Seen $Fetched) \"02-Dec-2026 09:10:00 +0100\" {42+}\r\n"
        );
        assert_eq!(
            append(
                "a3",
                "INBOX",
                &[],
                "02-Dec-2026 09:10:00 +0100",
                7,
                Literal::Sync
            ),
            b"a3 APPEND \"INBOX\" () \"02-Dec-2026 09:10:00 +0100\" {7}\r\n"
        );
    }

    #[test]
    fn internal_date_from_the_message_or_now() {
        let m = b"Date: Tue, 1 Dec 2026 08:05:09 -0130\r\nSubject: x\r\n\r\nbody\r\n";
        assert_eq!(internal_date(m, 0), "01-Dec-2026 08:05:09 -0130");
        let none = b"Subject: x\r\n\r\nbody\r\n";
        assert_eq!(
            internal_date(none, 1_795_000_000),
            "18-Nov-2026 11:06:40 +0000"
        );
        for bad in [
            "Date: yesterday-ish\r\n\r\n",
            "Date: 1 Dec 2026 08:05 EST\r\n\r\n",
            "Date: 32 Dec 2026 08:05 +0000\r\n\r\n",
            "Date: 1 Foo 2026 08:05 +0000\r\n\r\n",
            "Date: 1 Dec 26 08:05 +0000\r\n\r\n",
        ] {
            assert_eq!(
                internal_date(bad.as_bytes(), 0),
                "01-Jan-1970 00:00:00 +0000",
                "{bad}"
            );
        }
        let folded = b"Subject: y\r\ndate: Wed,\r\n 2 Dec 2026 9:10 GMT (comment)\r\n\r\n";
        assert_eq!(internal_date(folded, 0), "02-Dec-2026 09:10:00 +0000");
    }
}
