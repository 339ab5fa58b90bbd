//! Reference models the fuzz targets compare popfetch against.
//!
//! Each model is written from the RFC text, line by line and deliberately naive (no state machine shared with
//! popfetch), so a disagreement points at one of the two. They are only as fast as fuzzing needs: inputs are a few
//! KiB. [`self_check`] pins each model on hand-checked examples and every target runs it from libFuzzer's init
//! hook, so a model bug stops the run instead of silently making a target vacuous. (No `#[test]`s: the crate links
//! libFuzzer's `main`, so `cargo test` is not how it runs.)

/// What a POP3 multi-line body decoder must produce for `input` (RFC 1939 §3), computed line by line.
///
/// Lines end at CRLF (`lf_lines = false`) or at LF (`lf_lines = true`, where a CRLF line is an LF line whose content
/// ends in CR). The terminator is the line `.` CRLF, or also `.` LF in LF mode. Every other line that starts with
/// `.` loses exactly that one byte. Returns the decoded bytes and, when the terminator was seen, the number of input
/// bytes up to and including it. Without a terminator the output covers everything a streaming decoder can
/// already commit: a trailing partial line `.` or `.` CR is held back because it may still become the terminator.
pub fn pop3_decode_model(input: &[u8], lf_lines: bool) -> (Vec<u8>, Option<usize>) {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < input.len() {
        let rest = &input[pos..];
        let line_len = if lf_lines {
            rest.iter().position(|&b| b == b'\n').map(|i| i + 1)
        } else {
            rest.windows(2).position(|w| w == b"\r\n").map(|i| i + 2)
        };
        let Some(len) = line_len else {
            // Partial last line.
            if rest == b"." || rest == b".\r" {
                return (out, None);
            }
            out.extend_from_slice(rest.strip_prefix(b".").unwrap_or(rest));
            return (out, None);
        };
        let line = &rest[..len];
        if line == b".\r\n" || (lf_lines && line == b".\n") {
            return (out, Some(pos + len));
        }
        out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
        pos += len;
    }
    (out, None)
}

/// How an RFC 1939 §3 server sends `content` as a multi-line body: each line starting with `.` gets one more, a
/// final line ending is added when the content lacks one, then the terminator. `lf_lines`: a bare-LF server (its
/// lines, stuffing and terminator use LF).
pub fn pop3_stuff(content: &[u8], lf_lines: bool) -> Vec<u8> {
    let eol: &[u8] = if lf_lines { b"\n" } else { b"\r\n" };
    let mut out = Vec::with_capacity(content.len() + content.len() / 8 + 5);
    for line in split_lines_keep(content, eol) {
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    if !content.is_empty() && !content.ends_with(eol) {
        out.extend_from_slice(eol);
    }
    out.push(b'.');
    out.extend_from_slice(eol);
    out
}

/// What a POP3 client must decode from [`pop3_stuff`]`(content, ..)`: the content plus a final line ending when it
/// lacked one (an empty message stays empty).
pub fn pop3_expected_body(content: &[u8], lf_lines: bool) -> Vec<u8> {
    let eol: &[u8] = if lf_lines { b"\n" } else { b"\r\n" };
    let mut want = content.to_vec();
    if !content.is_empty() && !content.ends_with(eol) {
        want.extend_from_slice(eol);
    }
    want
}

/// The lines of `s`, each with its `eol` kept; a trailing partial line is the last item.
fn split_lines_keep<'a>(s: &'a [u8], eol: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= s.len() {
            return None;
        }
        let rest = &s[pos..];
        let len = rest
            .windows(eol.len())
            .position(|w| w == eol)
            .map_or(rest.len(), |i| i + eol.len());
        pos += len;
        Some(&rest[..len])
    })
}

/// RFC 5321 §4.5.2 transparency, line by line: every CRLF line that starts with `.` gets one more `.`.
pub fn smtp_stuff_model(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 8);
    for line in split_lines_keep(data, b"\r\n") {
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    out
}

/// What the DATA phase must carry for a CRLF-only `message`, by RFC 5321 §4.5.2 and §4.1.1.4 alone: the
/// line-by-line stuffed content, a CRLF if its last line was open, then `.` CRLF; an empty message is just `.` CRLF.
/// `smtp::data_wire` and the streaming `smtp::DotStuffer` are checked against it.
pub fn smtp_wire_model(message: &[u8]) -> Vec<u8> {
    let mut wire = smtp_stuff_model(message);
    if !message.is_empty() && !message.ends_with(b"\r\n") {
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b".\r\n");
    wire
}

/// A strict RFC 5321 §4.5.2 receiver reading DATA content that starts at a line start: CRLF lines only; the line
/// `.` ends it; any other line starting with `.` loses that dot. Returns the content (line endings kept) and the
/// bytes consumed, or `None` when no terminator arrives.
pub fn smtp_unstuff_strict(wire: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::with_capacity(wire.len());
    let mut pos = 0;
    for line in split_lines_keep(wire, b"\r\n") {
        pos += line.len();
        if line == b".\r\n" {
            return Some((out, pos));
        }
        out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
    }
    None
}

/// How many places a lenient receiver could take for end-of-DATA: a `.` at a line start (start of data, after CR,
/// or after LF, as Sendmail-derived and bare-CR-tolerant servers read lines) followed by CR or LF. On a safe wire
/// this is exactly one (catalog S-11).
pub fn lenient_terminators(wire: &[u8]) -> usize {
    (0..wire.len())
        .filter(|&i| {
            wire[i] == b'.'
                && (i == 0 || matches!(wire[i - 1], b'\r' | b'\n'))
                && matches!(wire.get(i + 1), Some(b'\r' | b'\n'))
        })
        .count()
}

/// Occurrences (overlapping) of `needle` in `hay`.
pub fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

/// True when some CR is not followed by LF or some LF is not preceded by CR.
pub fn has_bare_cr_or_lf(s: &[u8]) -> bool {
    s.iter().enumerate().any(|(i, &b)| match b {
        b'\r' => s.get(i + 1) != Some(&b'\n'),
        b'\n' => i == 0 || s[i - 1] != b'\r',
        _ => false,
    })
}

/// RFC 5321 §2.3.8 normalisation, byte by byte: CRLF stays, a run of CRs directly before a LF is one CRLF (issue
/// 18: `\r\r\n` from a CRLF-stored Maildir), any other CR and a bare LF each become CRLF.
pub fn normalize_model(x: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(x.len() + 8);
    let mut i = 0;
    while i < x.len() {
        let crs = x[i..].iter().take_while(|&&b| b == b'\r').count();
        match x[i] {
            b'\r' if x.get(i + crs) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += crs;
            }
            b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// One header field of a CRLF-only message: `msg[start..end]` is the whole field (folds and final CRLF included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelField<'a> {
    pub name: &'a [u8],
    /// After the colon, folds and CRLFs included.
    pub value: &'a [u8],
    pub start: usize,
    pub end: usize,
}

/// The header section of a CRLF-only message the way Postfix reads it (`is_header.c`): a field is a name of
/// printable ASCII other than `:`, optional SP/TAB, `:`; a line starting with SP/TAB continues the current field
/// (and ends the section when there is none); the first empty line (included) or any other line (excluded) ends
/// the section. `after_field`: a field will be prepended, so leading SP/TAB lines fold into it. Returns the fields
/// and the section's end offset.
pub fn header_section_model(msg: &[u8], after_field: bool) -> (Vec<ModelField<'_>>, usize) {
    let mut fields: Vec<(usize, usize, usize, usize)> = Vec::new(); // start, name_end, colon, end
    let mut pos = 0;
    let end = loop {
        if pos >= msg.len() {
            break msg.len();
        }
        let rest = &msg[pos..];
        let (text_len, line_len) = match rest.windows(2).position(|w| w == b"\r\n") {
            Some(i) => (i, i + 2),
            None => (rest.len(), rest.len()),
        };
        let text = &rest[..text_len];
        if text.is_empty() {
            break pos + line_len;
        }
        if text[0] == b' ' || text[0] == b'\t' {
            match fields.last_mut() {
                Some(f) => f.3 = pos + line_len,
                None if after_field => {}
                None => break pos,
            }
        } else {
            let name_len = text
                .iter()
                .take_while(|b| b.is_ascii_graphic() && **b != b':')
                .count();
            let wsp = text[name_len..]
                .iter()
                .take_while(|b| **b == b' ' || **b == b'\t')
                .count();
            if name_len == 0 || text.get(name_len + wsp) != Some(&b':') {
                break pos;
            }
            fields.push((pos, pos + name_len, pos + name_len + wsp, pos + line_len));
        }
        pos += line_len;
    };
    let fields = fields
        .into_iter()
        .map(|(start, n, c, end)| ModelField {
            name: &msg[start..n],
            value: &msg[c + 1..end],
            start,
            end,
        })
        .collect();
    (fields, end)
}

/// Pins every model on hand-checked examples. Each target calls it from libFuzzer's init hook, so a model bug
/// stops the run at once instead of making the target vacuous.
pub fn self_check() {
    pop3_model_pins();
    pop3_stuff_pins();
    smtp_models_pin();
    normalize_and_section_models_pin();
}

fn pop3_model_pins() {
    assert_eq!(
        pop3_decode_model(b"a\r\n..b\r\n.\r\nX", false),
        (b"a\r\n.b\r\n".to_vec(), Some(11))
    );
    assert_eq!(
        pop3_decode_model(b"a\n.\nb\r\n.\r\n", false),
        (b"a\n.\nb\r\n".to_vec(), Some(10))
    );
    assert_eq!(
        pop3_decode_model(b"a\n.\nb", true),
        (b"a\n".to_vec(), Some(4))
    );
    assert_eq!(pop3_decode_model(b".\r", false), (vec![], None));
    assert_eq!(pop3_decode_model(b".x", false), (b"x".to_vec(), None));
    assert_eq!(
        pop3_decode_model(b".\rx\r\n.\r\n", false),
        (b"\rx\r\n".to_vec(), Some(8))
    );
}

fn pop3_stuff_pins() {
    assert_eq!(pop3_stuff(b"", false), b".\r\n");
    assert_eq!(pop3_stuff(b".a\r\nb", false), b"..a\r\nb\r\n.\r\n");
    assert_eq!(pop3_stuff(b"a\n.b", false), b"a\n.b\r\n.\r\n");
    assert_eq!(pop3_stuff(b"a\n.b", true), b"a\n..b\n.\n");
    assert_eq!(pop3_expected_body(b"a", false), b"a\r\n");
    assert_eq!(pop3_expected_body(b"", false), b"");
}

fn smtp_models_pin() {
    assert_eq!(smtp_stuff_model(b".\r\n.."), b"..\r\n...");
    assert_eq!(smtp_wire_model(b""), b".\r\n");
    assert_eq!(smtp_wire_model(b"\r\n"), b"\r\n.\r\n");
    assert_eq!(smtp_wire_model(b".a"), b"..a\r\n.\r\n");
    assert_eq!(
        smtp_unstuff_strict(b"..a\r\n.\r\nrest"),
        Some((b".a\r\n".to_vec(), 8))
    );
    assert_eq!(smtp_unstuff_strict(b"a\r\n"), None);
    assert_eq!(lenient_terminators(b"a\n.\nb\r\n.\r\n"), 2);
    assert_eq!(lenient_terminators(b"..\r\n.\r\n"), 1);
    assert_eq!(count(b"\r\n.\r\n.\r\n", b"\r\n.\r\n"), 2);
}

fn normalize_and_section_models_pin() {
    assert_eq!(
        normalize_model(b"a\rb\nc\r\n\r\r\n"),
        b"a\r\nb\r\nc\r\n\r\n"
    );
    assert_eq!(normalize_model(b"a\r\r\r\nb\r\rc"), b"a\r\nb\r\n\r\nc");
    assert!(has_bare_cr_or_lf(b"\n"));
    assert!(has_bare_cr_or_lf(b"a\r"));
    assert!(!has_bare_cr_or_lf(b"a\r\nb"));
    let msg = b"A: 1\r\n\tfold\r\nB : 2\r\n\r\nbody\r\n";
    let (fields, end) = header_section_model(msg, false);
    assert_eq!(end, 22);
    assert_eq!(fields.len(), 2);
    assert_eq!(fields[0].value, b" 1\r\n\tfold\r\n");
    assert_eq!(
        (fields[1].name, fields[1].start, fields[1].end),
        (&b"B"[..], 13, 20)
    );
    assert_eq!(header_section_model(b" x: y\r\n", false).1, 0);
    let (fields, end) = header_section_model(b" x\r\nA: y\r\n", true);
    assert_eq!((fields.len(), end), (1, 10));
    assert_eq!(header_section_model(b"From a b\r\n", false).1, 0);
}

#[cfg(test)]
mod tests {
    /// `cargo test` in fuzz/ checks the models' pins without libFuzzer.
    #[test]
    fn models_pin() {
        super::self_check();
    }
}
