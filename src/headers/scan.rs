//! Line endings and header-field boundaries, byte-exact and linear-time.
//!
//! The scanner reproduces what Postfix sees (`mime_state.c`, `is_header.c`), because the point of removing a
//! `Delivered-To` field is to stop Postfix's loop detection from seeing it, and everything Postfix does not read as a
//! header must stay untouched:
//! - a field starts with a name of printable ASCII except `:` (RFC 5322 §2.2, §3.6.8), then optional SP/TAB
//!   (obs-syntax, RFC 5322 §4.5.8), then `:`;
//! - a line starting with SP or TAB continues the current field, even when it holds only whitespace (RFC 5322 §4.2
//!   obs-FWS; Postfix treats it as folding);
//! - the header section ends at the first empty line (which belongs to it) or at the first line that is neither a
//!   field nor a continuation (which does not). A first line such as `Hello world`, `:x` or an mbox separator
//!   `From sender@x Tue ...` (a space inside the name) therefore ends it at once: the message has no header fields
//!   and everything is body, as in Postfix, which never strips a leading `From ` line received over SMTP.

use std::borrow::Cow;

pub(crate) use crate::untrusted::lines::{LineEnds, line_at};

/// Every line end becomes CRLF (RFC 5321 §2.3.8: SMTP carries CRLF only; invariant 6). Returns the message and
/// how many bare LFs and how many CR line ends (a bare CR, or a run of CRs before a LF) were normalised.
///
/// `\r\r\n` (any run of CRs directly before a LF) is one line end, as a CRLF-stored message relayed by a server
/// that adds its own CR arrives (issue 18); it becomes one CRLF. A CR anywhere else still ends a line of its own,
/// and so does a bare LF: the smuggling defenses are unchanged, and the output holds no bare CR or LF. The input is
/// borrowed when nothing changes.
pub fn normalize_line_endings(raw: &[u8]) -> (Cow<'_, [u8]>, usize, usize) {
    let (mut bare_lf, mut bare_cr) = (0, 0);
    let mut pos = 0;
    while pos < raw.len() {
        let line = line_at(raw, pos, LineEnds::Any);
        match &raw[line.content_end..line.end] {
            b"" | b"\r\n" => {}
            b"\n" => bare_lf += 1,
            _ => bare_cr += 1,
        }
        pos = line.end;
    }
    if bare_lf + bare_cr == 0 {
        return (Cow::Borrowed(raw), 0, 0);
    }
    let mut out = Vec::with_capacity(raw.len() + bare_lf + bare_cr);
    let mut pos = 0;
    while pos < raw.len() {
        let line = line_at(raw, pos, LineEnds::Any);
        out.extend_from_slice(&raw[line.start..line.content_end]);
        if line.end > line.content_end {
            out.extend_from_slice(b"\r\n");
        }
        pos = line.end;
    }
    (Cow::Owned(out), bare_lf, bare_cr)
}

/// Length of the field name if `line` starts a header field (Postfix `is_header_buf`): returns
/// `(name_len, colon_index)`.
pub(crate) fn field_start(line: &[u8]) -> Option<(usize, usize)> {
    let name_len = line
        .iter()
        .take_while(|&&b| b.is_ascii_graphic() && b != b':')
        .count();
    if name_len == 0 {
        return None;
    }
    let wsp = line[name_len..]
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    (line.get(name_len + wsp) == Some(&b':')).then_some((name_len, name_len + wsp))
}

/// One header field: `raw[start..end]` is the whole field, continuation lines and final terminator included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field {
    pub start: usize,
    pub name_end: usize,
    pub colon: usize,
    pub end: usize,
}

impl Field {
    pub fn name<'a>(&self, raw: &'a [u8]) -> &'a [u8] {
        &raw[self.start..self.name_end]
    }

    /// Everything after the colon, folds and terminators included.
    pub fn value<'a>(&self, raw: &'a [u8]) -> &'a [u8] {
        &raw[self.colon + 1..self.end]
    }

    pub fn is_named(&self, raw: &[u8], name: &str) -> bool {
        self.name(raw).eq_ignore_ascii_case(name.as_bytes())
    }
}

/// The header section of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeaderSection {
    /// The fields in order. Continuation lines of a virtual leading field (see [`scan`]) belong to none.
    pub fields: Vec<Field>,
    /// Just past the section: past the empty separator line if there is one; else the start of the first line
    /// that is not part of it; else `raw.len()`.
    pub end: usize,
}

/// Scans the header section.
///
/// `after_field`: the caller will prepend a field (our `Received`), so a leading line that starts with SP/TAB
/// will, in the output, fold into that field instead of ending the section. Scanning as Postfix will see the
/// *output* keeps a `Delivered-To` after such a line from slipping past the filter.
pub(crate) fn scan(raw: &[u8], mode: LineEnds, after_field: bool) -> HeaderSection {
    let mut fields = Vec::new();
    let mut current: Option<Field> = None;
    let mut in_field = after_field;
    let mut pos = 0;
    let end = loop {
        if pos >= raw.len() {
            break raw.len();
        }
        let line = line_at(raw, pos, mode);
        let text = &raw[line.start..line.content_end];
        if text.is_empty() {
            // The empty separator line (RFC 5322 §2.1); at EOF without a terminator there is no line at all.
            break line.end;
        }
        if matches!(text[0], b' ' | b'\t') {
            if !in_field {
                break pos;
            }
            if let Some(field) = current.as_mut() {
                field.end = line.end;
            }
        } else if let Some((name_len, colon)) = field_start(text) {
            fields.extend(current.take());
            current = Some(Field {
                start: pos,
                name_end: pos + name_len,
                colon: pos + colon,
                end: line.end,
            });
            in_field = true;
        } else {
            break pos;
        }
        pos = line.end;
    };
    fields.extend(current);
    HeaderSection { fields, end }
}

/// Byte offset just past the header block (past the blank separator line if present; raw.len() if no separator).
///
/// A message whose first line is not a header field (`Hello world`, an mbox `From ` line, a leading SP/TAB) has
/// an empty header block: 0. Lines end at CRLF, bare LF or bare CR, as after normalisation.
pub fn header_block_end(raw: &[u8]) -> usize {
    scan(raw, LineEnds::Any, false).end
}

/// The field's text with each line terminator removed (RFC 5322 §2.2.3 unfolding), lines split by `mode`.
pub(crate) fn unfolded_value(raw: &[u8], field: &Field, mode: LineEnds) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.end - field.colon);
    let mut pos = field.colon + 1;
    while pos < field.end {
        let line = line_at(raw, pos, mode);
        out.extend_from_slice(&raw[pos..line.content_end.min(field.end)]);
        pos = line.end;
    }
    out
}
