//! Fuzz the line-ending normaliser and the SMTP dot-stuffing path popfetch relies on (catalog S-10, S-11).
//!
//! The input is a message as decoded from POP3. popfetch normalises bare CR and bare LF to CRLF
//! (`headers::normalize_line_endings`), runs the header pipeline, frames the result with
//! `smtp::data_wire` (or the streaming `smtp::DotStuffer`, fed in fuzzer-chosen chunks) dot-stuffs it and
//! frames its end; both are checked against an independent line-based RFC 5321 §4.5.2 model.
//!
//! Checked: the normaliser matches a byte-by-byte model (and so does the streaming one, fed in chunks), leaves only CRLF line ends, is idempotent and counts what
//! it changed; on the wire there is no bare CR or LF and exactly one `CRLF . CRLF` (the terminator, at the very
//! end), and a lenient receiver that also ends lines at a bare CR or LF finds no other end-of-data either; a strict
//! receiver's unstuffing gives back the message (plus a final CRLF when it had none): unstuff(stuff(x)) = x.
#![no_main]

use libfuzzer_sys::fuzz_target;
use popfetch::config::DropDeliveredTo;
use popfetch::headers::{self, Rules, normalize_line_endings};
use popfetch_fuzz::{
    count, has_bare_cr_or_lf, lenient_terminators, normalize_model, smtp_unstuff_strict,
    smtp_wire_model,
};

fuzz_target!(init: popfetch_fuzz::self_check(), |raw: &[u8]| {
    let (normalized, bare_lf, bare_cr) = normalize_line_endings(raw);
    assert_eq!(
        *normalized,
        normalize_model(raw),
        "normaliser differs from the model"
    );
    assert!(!has_bare_cr_or_lf(&normalized));
    let ends = line_ends(raw);
    let end_bytes: usize = ends.iter().sum();
    assert_eq!(normalized.len(), raw.len() - end_bytes + 2 * ends.len());
    assert_eq!(count(&normalized, b"\r\n"), ends.len());
    // Every line end other than a plain CRLF (the only 2-byte one) is counted as normalised: a bare LF, a bare
    // CR (1 byte each), or a run of CRs before a LF (`\r\r\n`, issue 18: 3 bytes or more), which is one line end.
    assert_eq!(
        bare_lf + bare_cr,
        ends.iter().filter(|&&len| len != 2).count()
    );
    assert_eq!(
        matches!(normalized, std::borrow::Cow::Borrowed(_)),
        bare_lf + bare_cr == 0
    );
    // The streaming normaliser (a large message's body), fed in chunks cut where the content says.
    let step = usize::from(raw.last().copied().unwrap_or(1)).max(1);
    let mut n = headers::stream::BodyNormalizer::default();
    let mut streamed = Vec::new();
    for chunk in raw.chunks(step) {
        n.push(chunk, &mut streamed);
    }
    n.finish(&mut streamed);
    assert_eq!(streamed, *normalized, "chunked normaliser differs");
    assert_eq!((n.bare_lf, n.bare_cr), (bare_lf, bare_cr));
    let (twice, lf, cr) = normalize_line_endings(&normalized);
    assert_eq!((&*twice, lf, cr), (&*normalized, 0, 0), "not idempotent");

    check_wire(&normalized);
    // The real path: the header pipeline's output (Received prepended, Delivered-To dropped) goes on the wire.
    let filtered = headers::apply(
        raw,
        &Rules {
            target: "joe@example.test".into(),
            drop: DropDeliveredTo::All,
            strip: Vec::new(),
            recipients: Vec::new(),
            received: Some(
                b"Received: from x\r\n\tby y; Thu, 1 Jan 1970 00:00:00 +0000\r\n".to_vec(),
            ),
        },
    );
    check_wire(&filtered.message);
});

/// The length in bytes of each line end in `raw`, by the rule the normaliser states independently: a LF with the
/// run of CRs directly before it is one line end; any other CR is a line end of its own.
fn line_ends(raw: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'\n' => ends.push(1),
            b'\r' => {
                let crs = raw[i..].iter().take_while(|&&b| b == b'\r').count();
                if raw.get(i + crs) == Some(&b'\n') {
                    ends.push(crs + 1);
                    i += crs + 1;
                    continue;
                }
                ends.push(1);
            }
            _ => {}
        }
        i += 1;
    }
    ends
}

/// `message` is CRLF-only; check what goes on the wire for it.
fn check_wire(message: &[u8]) {
    let wire = popfetch::smtp::data_wire(message);
    assert_eq!(wire, smtp_wire_model(message), "stuffing differs from RFC 5321");
    // The streaming stuffer gives the same bytes whatever the chunking (cut points taken from the content).
    let step = usize::from(message.first().copied().unwrap_or(1)).max(1);
    let mut s = popfetch::smtp::DotStuffer::default();
    let mut streamed = Vec::new();
    for chunk in message.chunks(step) {
        s.push(chunk, &mut streamed);
    }
    s.finish(&mut streamed);
    assert_eq!(streamed, wire, "chunked stuffing differs");
    assert!(!has_bare_cr_or_lf(&wire), "bare CR/LF on the wire");
    // DATA content begins right after the CRLF that ended the DATA command line.
    let mut stream = b"DATA\r\n".to_vec();
    stream.extend_from_slice(&wire);
    assert_eq!(count(&stream, b"\r\n.\r\n"), 1, "smuggled end-of-data");
    assert!(stream.ends_with(b"\r\n.\r\n"));
    assert_eq!(
        lenient_terminators(&wire),
        1,
        "a lenient server sees a second end-of-data"
    );

    let (content, used) = smtp_unstuff_strict(&wire).expect("terminated");
    assert_eq!(used, wire.len(), "the terminator is the last line");
    let mut want = message.to_vec();
    if !want.is_empty() && !want.ends_with(b"\r\n") {
        want.extend_from_slice(b"\r\n");
    }
    assert_eq!(content, want, "unstuff(stuff(x)) != x");
}
