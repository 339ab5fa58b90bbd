//! `--diff`: the header block of one message before and after the header pipeline, as a unified diff whose changed
//! lines name the rule that changed them.
//!
//! Pure: bytes in, text out. The diff is driven by the pipeline's own [`Edit`] list rather than by a generic
//! line-diff algorithm, because the pipeline only ever removes whole fields, prepends one and rewrites line ends
//! (invariant 7): walking the original lines once and matching each removal in order is exact and linear, where
//! an LCS would be quadratic on a hostile 200 000-field header (catalog H-13).
//!
//! Safety of the output (catalog H-13, H-14, T-20; fetchmail CVE-2008-2711, CVE-2010-1167): every shown line goes
//! through the account's [`Secrets`] ([`crate::untrusted`]: scrubbed, control bytes, invalid UTF-8 and bidi controls
//! as `\xNN`, cut after [`MAX_LINE_CHARS`] characters), and the only colour codes are our own, added when the caller
//! says the output is a terminal. Lines end where the header scanner says they do ([`crate::untrusted::lines`]).
//!
//! Neighbours: the poller (`run --diff`, `run --dry-run --diff`) and `popfetch filter --diff` call [`render`].

use std::fmt::Write as _;

use crate::headers::{self, Edit};
use crate::untrusted::lines::{LineEnds, line_at};
use crate::untrusted::{self, Secrets};

/// Unchanged lines shown around each change (as `diff -u`).
pub const CONTEXT: usize = 3;
/// A shown line is cut after this many characters (of escaped text).
pub const MAX_LINE_CHARS: usize = untrusted::LINE;

/// How the diff is labelled and shown.
#[derive(Debug, Clone, Copy)]
pub struct Style<'a> {
    /// The `---` label (the message as fetched).
    pub before: &'a str,
    /// The `+++` label (the message as delivered).
    pub after: &'a str,
    /// ANSI colours (only when the output is a terminal).
    pub color: bool,
    /// The account's secrets ([`Secrets::none`] offline), scrubbed from every shown line.
    pub secrets: &'a Secrets,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Same,
    Removed,
    Added,
}

/// One line of the diff: its text (without terminator), the terminator it had, and the rule that changed it.
#[derive(Debug, Clone)]
struct Line<'a> {
    kind: Kind,
    text: &'a [u8],
    /// The original terminator when it was not CRLF (shown on removed lines, escaped).
    bare_end: &'a [u8],
    rule: Option<String>,
}

/// The unified diff of `raw`'s header block against the result of `headers::apply(raw, rules)` whose edit list is
/// `edits`. Ends with a newline; a message whose header block did not change gives the two label lines and a note.
pub fn render(raw: &[u8], edits: &[Edit], style: &Style<'_>) -> String {
    let lines = diff_lines(raw, edits);
    let mut out = String::new();
    let paint = |code: &str, text: &str| {
        if style.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    };
    let _ = writeln!(out, "{}", paint("1", &format!("--- {}", style.before)));
    let _ = writeln!(out, "{}", paint("1", &format!("+++ {}", style.after)));
    for e in edits {
        if let Edit::NormalizedLineEndings { bare_lf, bare_cr } = e {
            let note = format!(
                "# line endings: {bare_lf} bare LF and {bare_cr} bare or stray CR normalised to CRLF in the whole message"
            );
            let _ = writeln!(out, "{}", paint("33", &note));
        }
    }
    let hunks = hunks(&lines);
    if hunks.is_empty() {
        let _ = writeln!(out, "{}", paint("2", "# no change to the header block"));
        return out;
    }
    for h in hunks {
        let (old_start, old_len, new_start, new_len) = h.ranges;
        let _ = writeln!(
            out,
            "{}",
            paint(
                "36",
                &format!(
                    "@@ -{} +{} @@",
                    range(old_start, old_len),
                    range(new_start, new_len)
                )
            )
        );
        for line in &lines[h.from..h.to] {
            let (sign, colour) = match line.kind {
                Kind::Same => (' ', ""),
                Kind::Removed => ('-', "31"),
                Kind::Added => ('+', "32"),
            };
            let mut text = String::from(style.secrets.show(line.text, MAX_LINE_CHARS));
            if line.kind == Kind::Removed {
                text.push_str(&style.secrets.show(line.bare_end, MAX_LINE_CHARS));
            }
            let body = format!("{sign}{text}");
            out.push_str(&if colour.is_empty() {
                body
            } else {
                paint(colour, &body)
            });
            if let Some(rule) = &line.rule {
                out.push_str("  ");
                out.push_str(&paint("33", &format!("# {rule}")));
            }
            out.push('\n');
        }
    }
    out
}

/// `start,len` as in `diff -u` (`len` omitted when 1; an empty range starts before its position).
fn range(start: usize, len: usize) -> String {
    match len {
        0 => format!("{},0", start.saturating_sub(1)),
        1 => start.to_string(),
        _ => format!("{start},{len}"),
    }
}

/// The lines of both header blocks in diff order: the prepended field first, then the original lines, each kept,
/// removed, or (when its terminator was a bare LF or CR) removed and added back with CRLF.
fn diff_lines<'a>(raw: &'a [u8], edits: &'a [Edit]) -> Vec<Line<'a>> {
    let mut out = Vec::new();
    for e in edits {
        if let Edit::AddedReceived { raw } = e {
            for (text, _) in split_lines(raw) {
                out.push(Line {
                    kind: Kind::Added,
                    text,
                    bare_end: b"",
                    rule: Some("received: added by popfetch".to_owned()),
                });
            }
        }
    }
    let mut removals = edits
        .iter()
        .filter_map(|e| match e {
            Edit::RemovedDeliveredTo { raw, reason, .. } => Some((raw.as_slice(), reason)),
            _ => None,
        })
        .peekable();
    // Removals were recorded on the normalised message, whose lines correspond one to one to the raw lines.
    let (normalized, _, _) = headers::normalize_line_endings(raw);
    let block_end = headers::header_block_end(&normalized);
    let mut pos = 0; // in `normalized`
    let mut raw_pos = 0;
    let mut removing: Option<(usize, String)> = None; // (end in `normalized`, rule)
    // Past `block_end` only while removals are pending: `apply` scans as if its Received field were already
    // prepended, so leading continuation lines can extend the block (headers/scan.rs). The separator line ends
    // the walk in any case, so body lines are never shown.
    while raw_pos < raw.len()
        && (pos < block_end || removing.is_some() || removals.peek().is_some())
    {
        let (text, end) = line_of(raw, raw_pos);
        let norm_line_len = text.len() + 2;
        if text.is_empty() && removing.is_none() {
            break; // the separator line ends the block
        }
        if removing.is_none()
            && let Some((field, reason)) = removals.peek()
            && normalized[pos..].starts_with(field)
            && !matches!(normalized.get(pos + field.len()), Some(b' ' | b'\t'))
        {
            removing = Some((pos + field.len(), format!("delivered-to: {reason}")));
            removals.next();
        }
        let bare_end = &raw[raw_pos + text.len()..end];
        let bare = if bare_end == b"\r\n" || bare_end.is_empty() {
            &b""[..]
        } else {
            bare_end
        };
        match &removing {
            Some((_, rule)) => out.push(Line {
                kind: Kind::Removed,
                text,
                bare_end: bare,
                rule: Some(rule.clone()),
            }),
            None if !bare.is_empty() => {
                let rule = format!(
                    "line endings: {} normalised to CRLF",
                    match bare {
                        b"\n" => "bare LF",
                        b"\r" => "bare CR",
                        _ => "stray CR before CRLF",
                    }
                );
                out.push(Line {
                    kind: Kind::Removed,
                    text,
                    bare_end: bare,
                    rule: Some(rule.clone()),
                });
                out.push(Line {
                    kind: Kind::Added,
                    text,
                    bare_end: b"",
                    rule: Some(rule),
                });
            }
            None => out.push(Line {
                kind: Kind::Same,
                text,
                bare_end: b"",
                rule: None,
            }),
        }
        pos = (pos
            + if end == raw.len() && bare_end.is_empty() {
                text.len()
            } else {
                norm_line_len
            })
        .min(normalized.len());
        raw_pos = end;
        if removing.as_ref().is_some_and(|(until, _)| pos >= *until) {
            removing = None;
        }
    }
    out
}

/// The line of `raw` starting at `start`: its text and the offset past its terminator (CRLF, bare LF, bare CR or
/// a run of CRs before a LF, exactly as `headers::normalize_line_endings` reads them).
fn line_of(raw: &[u8], start: usize) -> (&[u8], usize) {
    let line = line_at(raw, start, LineEnds::Any);
    (&raw[start..line.content_end], line.end)
}

/// The lines of a CRLF-terminated field, with their terminators.
fn split_lines(field: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < field.len() {
        let (text, end) = line_of(field, pos);
        out.push((text, &field[pos + text.len()..end]));
        pos = end;
    }
    out
}

/// A hunk: `lines[from..to]` and its `diff -u` ranges (1-based starts).
struct Hunk {
    from: usize,
    to: usize,
    ranges: (usize, usize, usize, usize),
}

/// Group changed lines with [`CONTEXT`] lines around them; hunks closer than twice that merge.
fn hunks(lines: &[Line<'_>]) -> Vec<Hunk> {
    let changed: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].kind != Kind::Same)
        .collect();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for &i in &changed {
        let from = i.saturating_sub(CONTEXT);
        let to = (i + 1 + CONTEXT).min(lines.len());
        match spans.last_mut() {
            Some(last) if from <= last.1 => last.1 = to,
            _ => spans.push((from, to)),
        }
    }
    // Line numbers: count old and new lines before each span.
    let mut out = Vec::new();
    let (mut old_no, mut new_no, mut at) = (1, 1, 0);
    for (from, to) in spans {
        for l in &lines[at..from] {
            advance(l.kind, &mut old_no, &mut new_no);
        }
        let (old_start, new_start) = (old_no, new_no);
        for l in &lines[from..to] {
            advance(l.kind, &mut old_no, &mut new_no);
        }
        at = to;
        out.push(Hunk {
            from,
            to,
            ranges: (old_start, old_no - old_start, new_start, new_no - new_start),
        });
    }
    out
}

fn advance(kind: Kind, old_no: &mut usize, new_no: &mut usize) {
    match kind {
        Kind::Same => {
            *old_no += 1;
            *new_no += 1;
        }
        Kind::Removed => *old_no += 1,
        Kind::Added => *new_no += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DropDeliveredTo;
    use crate::headers::Rules;

    fn rules(received: Option<&[u8]>) -> Rules {
        Rules {
            target: "me@example.org".into(),
            drop: DropDeliveredTo::Matching,
            strip: vec![],
            recipients: Vec::new(),
            received: received.map(<[u8]>::to_vec),
        }
    }

    fn plain(raw: &[u8], r: &Rules) -> String {
        let f = headers::apply(raw, r);
        render(
            raw,
            &f.edits,
            &Style {
                before: "a",
                after: "b",
                color: false,
                secrets: &Secrets::none(),
            },
        )
    }

    /// Rebuild the new header block from the diff lines: it must equal what `apply` produced.
    fn after_from_lines(raw: &[u8], edits: &[Edit]) -> Vec<u8> {
        let mut out = Vec::new();
        for l in diff_lines(raw, edits) {
            if l.kind != Kind::Removed {
                out.extend_from_slice(l.text);
                out.extend_from_slice(b"\r\n");
            }
        }
        out
    }

    #[test]
    fn h05_removed_and_added_lines_carry_their_rule() {
        let raw =
            b"Return-Path: <a@b.c>\r\nDelivered-To: list@x.y\r\nDelivered-To: ME@example.org\r\n\
                    From: a@b.c\r\nSubject: hi\r\n\r\nbody\r\nDelivered-To: me@example.org\r\n";
        let d = plain(raw, &rules(Some(b"Received: from x\r\n\tby y; date\r\n")));
        assert_eq!(
            d,
            "--- a\n+++ b\n@@ -1,5 +1,6 @@\n\
             +Received: from x  # received: added by popfetch\n\
             +\tby y; date  # received: added by popfetch\n \
             Return-Path: <a@b.c>\n \
             Delivered-To: list@x.y\n\
             -Delivered-To: ME@example.org  # delivered-to: equals target me@example.org\n \
             From: a@b.c\n \
             Subject: hi\n"
        );
    }

    #[test]
    fn h04_folded_field_is_removed_whole_and_hunks_keep_three_lines_of_context() {
        let mut raw = Vec::new();
        for i in 0..10 {
            raw.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        raw.extend_from_slice(b"Delivered-To:\r\n me@example.org\r\nZ: z\r\n\r\n");
        let d = plain(&raw, &rules(None));
        assert_eq!(
            d,
            "--- a\n+++ b\n@@ -8,6 +8,4 @@\n X-7: v\n X-8: v\n X-9: v\n\
             -Delivered-To:  # delivered-to: equals target me@example.org\n\
             - me@example.org  # delivered-to: equals target me@example.org\n Z: z\n"
        );
    }

    #[test]
    fn h18_bare_line_ends_show_as_changed_lines() {
        let raw = b"A: 1\nDelivered-To: me@example.org\nB: 2\r\n\r\nbody\n";
        let d = plain(raw, &rules(None));
        assert!(
            d.contains("# line endings: 3 bare LF and 0 bare or stray CR"),
            "{d}"
        );
        assert!(
            d.contains(
                "-A: 1\\x0a  # line endings: bare LF normalised to CRLF\n+A: 1  # line endings"
            ),
            "{d}"
        );
        assert!(
            d.contains("-Delivered-To: me@example.org\\x0a  # delivered-to"),
            "{d}"
        );
        assert!(d.contains("\n B: 2\n"), "{d}");
    }

    #[test]
    fn h14_hostile_bytes_are_escaped_and_lines_bounded() {
        let mut raw = b"Subject: caf\xe9 \x1b[31m \xe2\x80\xae ok \xc3\xa9\r\nDelivered-To: me@example.org\r\n".to_vec();
        raw.extend_from_slice(b"X-Long: ");
        raw.extend_from_slice(&[b'y'; 5000]);
        raw.extend_from_slice(b"\r\n\r\n");
        let d = plain(&raw, &rules(None));
        assert!(
            d.contains(" Subject: caf\\xe9 \\x1b[31m \\xe2\\x80\\xae ok \u{e9}\n"),
            "{d}"
        );
        assert!(!d.contains('\x1b'));
        let long = d.lines().find(|l| l.starts_with(" X-Long")).unwrap();
        assert!(long.len() < MAX_LINE_CHARS + 40, "{}", long.len());
        // 8 bytes of `X-Long: ` and 992 `y` are shown; 4008 bytes are not.
        assert!(long.ends_with("y[... 4008 more bytes]"), "{long}");
    }

    #[test]
    fn colour_only_when_asked() {
        let raw = b"Delivered-To: me@example.org\r\n\r\n";
        let f = headers::apply(raw, &rules(None));
        let none = Secrets::none();
        let style = |color| Style {
            before: "a",
            after: "b",
            color,
            secrets: &none,
        };
        assert!(render(raw, &f.edits, &style(true)).contains("\x1b[31m-Delivered-To"));
        assert!(!render(raw, &f.edits, &style(false)).contains('\x1b'));
    }

    #[test]
    fn h10_h11_h12_odd_messages_never_panic_and_match_apply() {
        let samples: &[&[u8]] = &[
            b"",
            b"\r\n",
            b"x",
            b"Hello world\r\nDelivered-To: me@example.org\r\n",
            b"Delivered-To: me@example.org",
            b"Delivered-To: me@example.org\r\nDelivered-To: me@example.org\r\n",
            b" leading\r\nDelivered-To: me@example.org\r\n\r\n",
            b"A: b\rDelivered-To: me@example.org\r\r\nC: d\n\nbody",
            b"From sender@x Tue\r\nA: b\r\n",
        ];
        for raw in samples {
            for received in [None, Some(&b"Received: x\r\n"[..])] {
                let r = rules(received);
                let f = headers::apply(raw, &r);
                let _ = plain(raw, &r);
                let block = headers::header_block_end(&f.message);
                let mut want = f.message[..block].to_vec();
                if want.ends_with(b"\r\n\r\n") {
                    want.truncate(want.len() - 2);
                } else if want == b"\r\n" {
                    want.clear();
                }
                if !want.is_empty() && !want.ends_with(b"\r\n") {
                    want.extend_from_slice(b"\r\n");
                }
                assert_eq!(
                    after_from_lines(raw, &f.edits).escape_ascii().to_string(),
                    want.escape_ascii().to_string(),
                    "raw {:?} received {received:?}",
                    raw.escape_ascii().to_string()
                );
            }
        }
    }

    #[test]
    fn h13_many_fields_render_in_linear_time() {
        let mut raw = Vec::new();
        for i in 0..200_000 {
            raw.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        raw.extend_from_slice(b"Delivered-To: me@example.org\r\n\r\n");
        let t = std::time::Instant::now();
        let d = plain(&raw, &rules(None));
        assert!(t.elapsed().as_secs() < 5);
        assert_eq!(d.lines().count(), 2 + 1 + 3 + 1);
    }
}
