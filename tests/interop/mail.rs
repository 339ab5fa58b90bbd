//! Reading what the real servers delivered: Maildir files, the header fields Postfix adds, byte comparisons.

use std::fs;
use std::path::Path;

pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The messages of a Maildir (`new/` and `cur/`), sorted by file name; an absent Maildir holds none.
pub(crate) fn maildir_messages(dir: &Path) -> Vec<Vec<u8>> {
    let mut files = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(entries) = fs::read_dir(dir.join(sub)) {
            for entry in entries {
                let entry = entry.expect("read Maildir entry");
                if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
                    files.push(entry.path());
                }
            }
        }
    }
    files.sort_by_key(|p| p.file_name().map(|n| n.to_owned()));
    files
        .into_iter()
        .map(|p| fs::read(&p).expect("read Maildir message"))
        .collect()
}

pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The header fields at the top of `data` (each with its continuation lines, LF line endings), split off one
/// by one: `(field, rest)`.
pub(crate) fn next_field(data: &[u8]) -> (&[u8], &[u8]) {
    let mut at = 0;
    loop {
        let nl = data[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| p + at + 1)
            .unwrap_or(data.len());
        at = nl;
        if !matches!(data.get(at), Some(b' ') | Some(b'\t')) {
            return (&data[..at], &data[at..]);
        }
    }
}

pub(crate) fn field_named(field: &[u8], name: &str) -> bool {
    field.len() > name.len()
        && field[..name.len()].eq_ignore_ascii_case(name.as_bytes())
        && field[name.len()] == b':'
}

/// What popfetch handed to Postfix, recovered from a delivered Maildir file: check and remove the four fields
/// Postfix adds (`Return-Path`, `X-Original-To`, `Delivered-To: target`, smtpd's `Received`) and popfetch's
/// own `Received`; return the rest, which must be the original message after the documented edits.
pub(crate) fn strip_added(delivered: &[u8], target: &str) -> Vec<u8> {
    let show = |b: &[u8]| String::from_utf8_lossy(&b[..b.len().min(600)]).into_owned();
    let (rp, rest) = next_field(delivered);
    assert!(
        field_named(rp, "Return-Path"),
        "first field is not Postfix's Return-Path:\n{}",
        show(delivered)
    );
    let (xo, rest) = next_field(rest);
    assert!(
        field_named(xo, "X-Original-To"),
        "no X-Original-To from local(8):\n{}",
        show(delivered)
    );
    let (dt, rest) = next_field(rest);
    assert_eq!(
        dt,
        format!("Delivered-To: {target}\n").as_bytes(),
        "no Delivered-To from local(8):\n{}",
        show(delivered)
    );
    let (pf, rest) = next_field(rest);
    assert!(
        field_named(pf, "Received") && contains(pf, b"(Postfix)"),
        "no Received from Postfix's smtpd:\n{}",
        show(delivered)
    );
    let (ours, rest) = next_field(rest);
    assert!(
        field_named(ours, "Received") && contains(ours, b"popfetch"),
        "no Received from popfetch right below Postfix's:\n{}",
        show(delivered)
    );
    assert!(
        contains(ours, format!("<{target}>").as_bytes()),
        "popfetch's Received names no target: {}",
        show(ours)
    );
    rest.to_vec()
}

/// The original message as Postfix writes it to a Maildir: CRLF and bare LF both become LF.
pub(crate) fn to_lf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'\r' && data.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(data[i]);
        i += 1;
    }
    out
}

/// `got == want`, or a panic that shows where they part (a 20 MiB message is not worth printing whole).
pub(crate) fn assert_same_bytes(case: &str, got: &[u8], want: &[u8]) {
    if got != want {
        let at = got
            .iter()
            .zip(want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        let lo = at.saturating_sub(80);
        panic!(
            "case {case}: differs at byte {at} (got {} bytes, want {})\n got: {:?}\nwant: {:?}",
            got.len(),
            want.len(),
            String::from_utf8_lossy(&got[lo..(at + 80).min(got.len())]),
            String::from_utf8_lossy(&want[lo..(at + 80).min(want.len())])
        );
    }
}

/// A plain message with CRLF line endings, no Return-Path (see the module docs), tagged `X-Case`.
pub(crate) fn simple(case: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Remote Sender <remote@example.org>\r\nTo: joe@example.test\r\nSubject: {case}\r\n\
         Message-ID: <{case}@example.org>\r\nX-Case: {case}\r\n{extra_headers}\r\n{body}"
    )
    .into_bytes()
}

/// The delivered message carrying `X-Case: case`, asserting there is exactly one.
pub(crate) fn delivered_case<'a>(delivered: &'a [Vec<u8>], case: &str) -> &'a [u8] {
    let tag = format!("\nX-Case: {case}\n");
    let hits: Vec<&Vec<u8>> = delivered
        .iter()
        .filter(|m| contains(m, tag.as_bytes()))
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "case {case} delivered {} times (want exactly once)",
        hits.len()
    );
    hits[0]
}
