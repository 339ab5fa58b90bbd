//! Making server text safe to log or show: secrets scrubbed, control and non-ASCII bytes escaped, length bounded.
//! Server text is unauthenticated input (greetings, `-ERR` text, CAPA lines; before STLS it may come from an
//! attacker): escaping stops terminal escapes and bidi tricks (P-32), and scrubbing stops a server that echoes the
//! password from putting it into our logs (T-20).

/// Escaped output is cut after this many characters.
pub const MAX_SHOWN: usize = 200;

/// Render `raw` for humans: each occurrence of a non-empty secret becomes `[redacted]` (matched on the raw bytes,
/// before escaping or truncation, so a secret cut in half can't leak), printable ASCII stays, `\` becomes `\\`,
/// every other byte `\xNN`, and the result is cut at [`MAX_SHOWN`] characters with `...` appended.
pub fn sanitize(raw: &[u8], secrets: &[&[u8]]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < raw.len() {
        if out.len() >= MAX_SHOWN {
            out.truncate(MAX_SHOWN);
            out.push_str("...");
            return out;
        }
        if let Some(s) = secrets
            .iter()
            .find(|s| !s.is_empty() && raw[i..].starts_with(s))
        {
            out.push_str("[redacted]");
            i += s.len();
            continue;
        }
        match raw[i] {
            b'\\' => out.push_str("\\\\"),
            b @ 0x20..=0x7e => out.push(char::from(b)),
            b => out.push_str(&format!("\\x{b:02x}")),
        }
        i += 1;
    }
    if out.len() > MAX_SHOWN {
        out.truncate(MAX_SHOWN);
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p32_control_and_8bit_bytes_are_escaped() {
        assert_eq!(
            sanitize(b"ok \x1b[31mred\r\n", &[]),
            "ok \\x1b[31mred\\x0d\\x0a"
        );
        assert_eq!(
            sanitize("caf\u{e9} \u{202e}".as_bytes(), &[]),
            "caf\\xc3\\xa9 \\xe2\\x80\\xae"
        );
        assert_eq!(sanitize(b"a\\b\0", &[]), "a\\\\b\\x00");
    }

    #[test]
    fn p32_long_text_is_bounded() {
        let s = sanitize(&[b'x'; 8192], &[]);
        assert_eq!(s.len(), MAX_SHOWN + 3);
        assert!(s.ends_with("..."));
        let s = sanitize(&[0xff; 8192], &[]);
        assert!(s.len() <= MAX_SHOWN + 3, "{}", s.len());
    }

    #[test]
    fn t20_secrets_are_scrubbed_before_escaping() {
        let text = b"-ERR bad password hunter2 for hunter2";
        let s = sanitize(text, &[b"hunter2"]);
        assert_eq!(s, "-ERR bad password [redacted] for [redacted]");
        // A secret with bytes that would be escaped is still found.
        assert_eq!(sanitize(b"x p\xe4ss y", &[b"p\xe4ss"]), "x [redacted] y");
        // Empty secrets are ignored rather than matching everywhere.
        assert_eq!(sanitize(b"abc", &[b""]), "abc");
        // A secret straddling the display cut is still redacted, not half-shown.
        let mut long = vec![b'a'; MAX_SHOWN - 3];
        long.extend_from_slice(b"hunter2");
        assert!(!sanitize(&long, &[b"hunter2"]).contains("hun"));
    }
}
