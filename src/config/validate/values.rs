//! Checks of single values that are not tied to a table: envelope addresses, host and EHLO names, certificate
//! fingerprints. Pure functions; [`super::Checker`] turns their verdicts into located issues.

/// Checks an envelope address as it will appear in `MAIL FROM:<...>` / `RCPT TO:<...>` (design invariant 6):
/// printable ASCII only (so no CR, LF, NUL, space or tab), no `<` or `>`, exactly one `@` with something on each
/// side, at most 254 characters (RFC 5321 §4.5.3.1.3 path limit less the brackets).
///
/// # Errors
/// A short reason, fit to follow "not a valid address".
pub fn validate_address(addr: &str) -> Result<(), &'static str> {
    if addr.is_empty() {
        return Err("it is empty");
    }
    if addr.len() > 254 {
        return Err("longer than 254 characters");
    }
    for c in addr.chars() {
        match c {
            '\r' | '\n' => return Err("contains a line break"),
            '\0' => return Err("contains a NUL character"),
            ' ' | '\t' => return Err("contains white space"),
            '<' | '>' => {
                return Err("contains `<` or `>`; write the bare address without angle brackets");
            }
            c if !c.is_ascii() => return Err("contains non-ASCII characters"),
            c if c.is_ascii_control() => return Err("contains a control character"),
            _ => {}
        }
    }
    match addr.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            Ok(())
        }
        _ => Err("must be local-part@domain with exactly one `@`"),
    }
}

/// A host name or IP literal fit for `connect()` and logs: ASCII letters, digits and `.-_:[]`, at most 253.
pub(crate) fn is_host_like(s: &str) -> bool {
    (1..=253).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:[]".contains(&b))
}

/// A name fit for EHLO (RFC 5321 §4.1.1.1): a domain, or an address literal in brackets.
pub(crate) fn is_domain_like(s: &str) -> bool {
    if let Some(lit) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return !lit.is_empty()
            && lit
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b".:".contains(&b) || b == b'v');
    }
    (1..=253).contains(&s.len())
        && !s.starts_with(['.', '-'])
        && !s.contains("..")
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
}

/// `cert_sha256`: 64 hex digits, optionally separated by colons as `openssl x509 -fingerprint` prints them.
pub(crate) fn parse_sha256(s: &str) -> Option<[u8; 32]> {
    let hex: Vec<u8> = s.bytes().filter(|b| *b != b':').collect();
    if hex.len() != 64 || !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        let pair = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}
