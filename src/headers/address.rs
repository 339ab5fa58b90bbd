//! Addresses in header values: the `Delivered-To` comparison form and the `Return-Path` envelope sender.
//!
//! Both are parsed from raw bytes without re-serialising anything; the results only drive decisions (remove a
//! field, choose `MAIL FROM`), never the message bytes.

use super::scan::{self, LineEnds};

/// The envelope sender the message's first `Return-Path` field names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnPath {
    /// No `Return-Path` field in the header section.
    Absent,
    /// `<>`: the null reverse-path (RFC 5321 §4.5.5); it must stay null.
    Null,
    /// A valid address, without angle brackets or source route.
    Address(String),
    /// Present but unusable or unsafe (catalog S-16): use the fallback sender.
    Invalid,
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_wsp(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s
        && is_wsp(*first)
    {
        s = rest;
    }
    while let [rest @ .., last] = s
        && is_wsp(*last)
    {
        s = rest;
    }
    s
}

/// Removes RFC 5322 §3.2.2 comments (nested, with quoted-pairs), each replaced by one SP; quoted strings are kept
/// verbatim. An unclosed comment runs to the end. Other bytes, CR and LF included, are kept.
fn strip_comments(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let (mut depth, mut in_quote) = (0usize, false);
    let mut i = 0;
    while i < value.len() {
        let b = value[i];
        match b {
            b'\\' if in_quote || depth > 0 => {
                if depth == 0 {
                    out.extend_from_slice(&value[i..(i + 2).min(value.len())]);
                }
                i += 2;
                continue;
            }
            _ if depth > 0 => match b {
                b'(' => depth += 1,
                b')' => depth -= 1,
                _ => {}
            },
            b'"' => {
                in_quote = !in_quote;
                out.push(b);
            }
            b'(' if !in_quote => {
                depth = 1;
                out.push(b' ');
            }
            _ => out.push(b),
        }
        i += 1;
    }
    out
}

/// RFC 5322 §3.2.3 atext.
fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

/// Normalise a Delivered-To value the way Postfix compares it: strip RFC 5322 comments (nested parens), surrounding
/// whitespace and angle brackets, unfold, lowercase. None when nothing address-like remains.
///
/// Beyond Postfix (which compares the rest of the first line, lower-cased), this also accepts the obs-syntax
/// whitespace around `.` and `@` (RFC 5322 §4.4), a needlessly quoted local part (`"joe"@x`) and a trailing dot
/// in the domain, so that popfetch's set of matches is a superset of Postfix's (catalog H-03). Whitespace between
/// two words is kept, so `joe x@y` never equals `joex@y`. Case folding is ASCII only. "Address-like" means
/// valid UTF-8 with an `@`.
pub fn normalize_address(value: &[u8]) -> Option<String> {
    let unfolded: Vec<u8> = value
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    let stripped = strip_comments(&unfolded);
    let mut s = trim_wsp(&stripped);
    if let [b'<', inner @ .., b'>'] = s {
        s = trim_wsp(inner);
    }
    // Drop whitespace next to '.' and '@' (obs-local-part / obs-domain), keep one SP between words.
    let mut out: Vec<u8> = Vec::with_capacity(s.len());
    let (mut in_quote, mut pending_space) = (false, false);
    for (i, &b) in s.iter().enumerate() {
        if !in_quote && is_wsp(b) {
            pending_space = true;
            continue;
        }
        if pending_space {
            let prev = out.last().copied();
            if !matches!(prev, Some(b'.' | b'@')) && !matches!(b, b'.' | b'@') {
                out.push(b' ');
            }
            pending_space = false;
        }
        if b == b'"' && (i == 0 || s[i - 1] != b'\\') {
            in_quote = !in_quote;
        }
        out.push(b);
    }
    // `"joe"@x` is `joe@x` when the quotes protect nothing (RFC 5321 §4.1.2: a Quoted-string that could be a
    // Dot-string is the same mailbox).
    if let [b'"', rest @ ..] = out.as_slice()
        && let Some(close) = rest.iter().position(|&b| b == b'"')
        && rest.get(close + 1) == Some(&b'@')
        && close > 0
        && rest[..close].iter().all(|&b| is_atext(b) || b == b'.')
    {
        out = [&rest[..close], &rest[close + 1..]].concat();
    }
    if out.len() > 1 && out.ends_with(b".") && !out.ends_with(b"@.") {
        out.pop();
    }
    out.make_ascii_lowercase();
    let s = String::from_utf8(out).ok()?;
    s.contains('@').then_some(s)
}

/// Envelope address safety (invariant 6): non-empty, ≤ 254 octets, printable ASCII only, no CR/LF/NUL/SP/TAB/`<`/`>`, exactly one `@` outside a quoted local part is enough (keep it simple but safe against SMTP injection, catalog S-16/S-17).
///
/// Concretely an RFC 5321 §4.1.2 Mailbox without SP: a local part of atext and dots or a quoted string, `@`, and
/// a domain of letters, digits, `-`, `_`, `.` or an address literal `[...]`. 254 = the 256-octet path limit
/// (RFC 5321 §4.5.3.1.3) minus the brackets.
pub fn valid_envelope_address(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty()
        || b.len() > 254
        || !b
            .iter()
            .all(|c| c.is_ascii_graphic() && *c != b'<' && *c != b'>')
    {
        return false;
    }
    let at = if b[0] == b'"' {
        // Quoted-string: qtext or quoted-pair up to the closing quote, which must be followed by '@'.
        let mut i = 1;
        loop {
            match b.get(i) {
                None => return false,
                Some(b'\\') => i += 2,
                Some(b'"') => break i + 1,
                Some(_) => i += 1,
            }
        }
    } else {
        let n = b.iter().take_while(|&&c| is_atext(c) || c == b'.').count();
        if n == 0 {
            return false;
        }
        n
    };
    if b.get(at) != Some(&b'@') {
        return false;
    }
    let domain = &b[at + 1..];
    match domain {
        [b'[', inner @ .., b']'] => !inner.is_empty() && !inner.iter().any(|c| b"[]\\".contains(c)),
        [first, ..] => {
            first.is_ascii_alphanumeric()
                && domain
                    .iter()
                    .all(|&c| c.is_ascii_alphanumeric() || b"-_.".contains(&c))
        }
        [] => false,
    }
}

/// The FIRST Return-Path field (the MTA's), unfolded and parsed; `<>` → Null; an address that fails
/// valid_envelope_address → Invalid.
///
/// Pass the message as fetched. When it contains any CRLF, only CRLF ends a line here, so a bare CR or LF inside
/// the field (`<a@b>\nRCPT TO:<x@evil>`, catalog S-16) is part of the value and makes it Invalid instead of being
/// read as a harmless second line; an LF-only message (H-18) is read by LF lines. A source route
/// (`<@a,@b:u@d>`) is dropped (RFC 5321 §4.1.2 / §C); comments are ignored; anything after the closing `>`
/// makes the field Invalid (ESMTP parameters, a second `>`, NUL).
pub fn return_path(raw: &[u8]) -> ReturnPath {
    let mode = if raw.windows(2).any(|w| w == b"\r\n") {
        LineEnds::CrlfOnly
    } else {
        LineEnds::Any
    };
    let section = scan::scan(raw, mode, false);
    match section
        .fields
        .iter()
        .find(|f| f.is_named(raw, "Return-Path"))
    {
        None => ReturnPath::Absent,
        Some(field) => parse_return_path(&scan::unfolded_value(raw, field, mode)),
    }
}

fn parse_return_path(value: &[u8]) -> ReturnPath {
    let stripped = strip_comments(value);
    let s = trim_wsp(&stripped);
    let addr = match s {
        [] => return ReturnPath::Invalid,
        [b'<', rest @ ..] => {
            let Some(close) = rest.iter().position(|&b| b == b'>') else {
                return ReturnPath::Invalid;
            };
            if !trim_wsp(&rest[close + 1..]).is_empty() {
                return ReturnPath::Invalid;
            }
            let inner = trim_wsp(&rest[..close]);
            if inner.is_empty() {
                return ReturnPath::Null;
            }
            match inner {
                [b'@', ..] => match inner.iter().position(|&b| b == b':') {
                    Some(colon) => &inner[colon + 1..],
                    None => return ReturnPath::Invalid,
                },
                _ => inner,
            }
        }
        _ => s,
    };
    match std::str::from_utf8(addr) {
        Ok(a) if valid_envelope_address(a) => ReturnPath::Address(a.to_owned()),
        _ => ReturnPath::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h03_normalize_address_forms() {
        let want = Some("joe@example.test".to_owned());
        for v in [
            &b" joe@example.test\r\n"[..],
            b"<joe@example.test>",
            b"  <joe@example.test>  \t",
            b"\tjoe@example.test",
            b" joe@example.test (comment)",
            b" (a (nested) comment) <joe@example.test> (trailing)",
            b" \"joe\"@example.test",
            b" joe@example.test.",
            b" JOE@EXAMPLE.TEST",
            b" Joe@Example.Test",
            b"\r\n joe@example.test\r\n",
            b" joe@\r\n example.test\r\n",
            b" joe @ example . test",
            b" < joe@example.test >",
            b" joe@example.test (unclosed \\) comment",
        ] {
            assert_eq!(normalize_address(v), want, "{}", v.escape_ascii());
        }
    }

    #[test]
    fn h06_normalize_address_near_misses_differ() {
        for v in [
            &b"joe@example.test.evil"[..],
            b"xjoe@example.test",
            b"joe@example.tes",
            b"joe x@example.test",
            b"\"joe x\"@example.test",
            b"<joe@example.test>>",
            b"joe@example.test, other@example.test",
        ] {
            assert_ne!(
                normalize_address(v).as_deref(),
                Some("joe@example.test"),
                "{}",
                v.escape_ascii()
            );
        }
    }

    #[test]
    fn normalize_address_nothing_address_like() {
        for v in [
            &b""[..],
            b"   ",
            b" (only a comment)",
            b"<>",
            b"joe",
            b" \xff@x",
        ] {
            assert_eq!(normalize_address(v), None, "{}", v.escape_ascii());
        }
    }

    #[test]
    fn valid_envelope_address_table() {
        for ok in [
            "a@b.test",
            "\"a.b\"@d.test",
            "\"a@b\"@d.test",
            "u@[192.0.2.1]",
            "x+tag@mail-1.example_x.org",
        ] {
            assert!(valid_envelope_address(ok), "{ok}");
        }
        let long = format!("{}@example.test", "a".repeat(250));
        for bad in [
            "",
            "a",
            "@b.test",
            "a@",
            "a@@b.test",
            "a@b@c.test",
            "a b@c.test",
            "\"a b\"@c.test",
            "a@b.test\r\nRCPT TO:<x@evil.test>",
            "a@b.test\0",
            "a@b.test>",
            "<a@b.test",
            "a\t@b.test",
            "jö@b.test",
            "a@-b.test",
            "a@[]",
            "\"unterminated@b.test",
            long.as_str(),
        ] {
            assert!(!valid_envelope_address(bad), "{}", bad.escape_debug());
        }
    }
}
