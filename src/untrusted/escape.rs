//! The one escaping policy for bytes a server sent, and [`Shown`], the text it produces.

use std::fmt::{self, Write as _};

/// Server text after [`super::Secrets::show`]: secrets scrubbed, escaped by the policy below, bounded. The only
/// way to get one with content is through a [`super::Secrets`], so text that quotes a server cannot skip the
/// scrubbing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shown(String);

impl Shown {
    pub(super) fn new(text: String) -> Shown {
        Shown(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Read access as a `&str` (the text is final; there is no way to change it).
impl std::ops::Deref for Shown {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<Shown> for String {
    fn from(s: Shown) -> String {
        s.0
    }
}

impl PartialEq<str> for Shown {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Shown {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// The policy: printable ASCII, TAB and printable non-ASCII characters of valid UTF-8 stay as they are (RFC 6532
/// headers, a server's localised `-ERR` text); every other byte (C0 and C1 controls, DEL, invalid UTF-8, and the
/// bytes of Unicode format controls that reorder or hide text, catalog P-32) becomes `\xNN`. `\` itself stays, so
/// escaping is idempotent: a line built from escaped pieces can pass through it again at the edge unchanged.
/// After `max` characters (an invalid byte counts as one) the rest is replaced by `[... N more bytes]`, N counting
/// the bytes left of `raw` plus `more`, bytes the caller already dropped.
pub(super) fn escape(raw: &[u8], max: usize, more: usize) -> String {
    let mut out = String::with_capacity(raw.len().min(max) + 16);
    let mut shown = 0;
    let mut used = 0; // bytes of `raw` consumed
    for chunk in raw.utf8_chunks() {
        let invalid = chunk.invalid().iter().map(|&b| Err(b));
        for unit in chunk.valid().chars().map(Ok).chain(invalid) {
            if shown == max {
                let _ = write!(out, "[... {} more bytes]", raw.len() - used + more);
                return out;
            }
            match unit {
                Ok(c) if keep(c) => out.push(c),
                Ok(c) => {
                    for b in c.encode_utf8(&mut [0; 4]).bytes() {
                        let _ = write!(out, "\\x{b:02x}");
                    }
                }
                Err(b) => {
                    let _ = write!(out, "\\x{b:02x}");
                }
            }
            used += unit.map_or(1, char::len_utf8);
            shown += 1;
        }
    }
    if more > 0 {
        let _ = write!(out, "[... {more} more bytes]");
    }
    out
}

fn keep(c: char) -> bool {
    match c {
        '\t' | ' '..='~' => true,
        c if c.is_ascii() => false,
        c => !c.is_control() && !is_format_control(c),
    }
}

/// Unicode characters that reorder, hide or break text on a terminal: the Arabic letter mark, zero-width
/// characters, the line and paragraph separators, bidi embeddings, overrides and isolates, invisible operators,
/// the BOM and interlinear annotations.
fn is_format_control(c: char) -> bool {
    matches!(c as u32,
        0x061c | 0x180e | 0x200b..=0x200f | 0x2028..=0x202e | 0x2060..=0x2069 | 0xfeff | 0xfff9..=0xfffb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p32_controls_invalid_bytes_and_bidi_are_escaped_and_utf8_stays() {
        assert_eq!(
            escape(b"ok \x1b[31mred\r\n", 100, 0),
            "ok \\x1b[31mred\\x0d\\x0a"
        );
        assert_eq!(
            escape("caf\u{e9} \u{202e}x\u{85}".as_bytes(), 100, 0),
            "caf\u{e9} \\xe2\\x80\\xaex\\xc2\\x85"
        );
        assert_eq!(
            escape(b"a\\b\0\x7f\tc\xff\xe9", 100, 0),
            "a\\b\\x00\\x7f\tc\\xff\\xe9"
        );
    }

    #[test]
    fn escaping_is_idempotent() {
        for raw in [&b"\x1b[2J \xff caf\xc3\xa9 \\x41 \r\n"[..], b"", b"plain"] {
            let once = escape(raw, 1000, 0);
            assert_eq!(escape(once.as_bytes(), 10_000, 0), once);
        }
    }

    #[test]
    fn p32_h13_long_text_is_cut_with_the_count_of_what_is_left() {
        assert_eq!(escape(&[b'x'; 10], 4, 0), "xxxx[... 6 more bytes]");
        assert_eq!(escape(&[b'x'; 4], 4, 0), "xxxx");
        assert_eq!(escape(&[b'x'; 4], 4, 7), "xxxx[... 7 more bytes]");
        let s = escape("é".repeat(300).as_bytes(), 200, 0);
        assert!(s.ends_with("é[... 200 more bytes]"), "{s}");
        let s = escape(&[0xff; 8192], 200, 0);
        assert!(s.len() <= 4 * 200 + 30, "{}", s.len());
    }
}
