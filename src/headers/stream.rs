//! The header pipeline for a message that arrives in pieces (issue 11, streaming delivery): only the header block
//! is held and run through [`super::apply`]; the body is line-ending normalised chunk by chunk. Together they give
//! exactly the bytes `apply` gives for the whole message (`tests` below check it at every split point).

use super::scan::{self, LineEnds};

/// The most bytes held while looking for the end of the header block. A message whose header block is not
/// decided within this many bytes is not streamed: the caller reads it whole (bounded by `max_message`, as before).
pub const HEADER_MAX: usize = 1 << 20;

/// Where the header block of `held` (the first bytes of a message) ends, once that is certain: `after_field` as
/// for [`super::Rules::received`] being set. `complete` says `held` is the whole message. `None` while bytes still
/// to come could change the answer.
///
/// Only complete lines are scanned (up to the last LF), so a partial last line is never judged; where the scan
/// stops inside them, later bytes cannot move it.
pub fn header_end(held: &[u8], after_field: bool, complete: bool) -> Option<usize> {
    if complete {
        return Some(scan::scan(held, LineEnds::Any, after_field).end);
    }
    let lines = held.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let end = scan::scan(&held[..lines], LineEnds::Any, after_field).end;
    (end < lines).then_some(end)
}

/// Line-ending normalisation of body bytes fed in chunks: the same output and counts as
/// [`super::normalize_line_endings`] on the whole (a run of CRs before a LF is one line end; any other CR, and a
/// bare LF, ends a line of its own).
#[derive(Debug, Default)]
pub struct BodyNormalizer {
    /// CRs seen and not yet resolved (a following LF makes the run one line end).
    crs: usize,
    /// Bare LFs normalised.
    pub bare_lf: usize,
    /// CR line ends normalised.
    pub bare_cr: usize,
}

impl BodyNormalizer {
    /// Append `chunk`, normalised, to `out`. Runs of plain CRLF lines are copied in one piece (`crate::bytes`: the
    /// per-line loop this replaced was a sixth of popfetch's CPU on large messages); only a bare CR or LF, and the
    /// CRs of a run, are handled byte by byte.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        out.reserve(chunk.len() + 8);
        let mut rest = chunk;
        while let Some(&first) = rest.first() {
            if self.crs == 0 && first != b'\n' {
                // Up to the first CR without its LF or LF without its CR. A CR that ends `rest` waits for the
                // next chunk; a LF whose CR is in the run is copied with it.
                let run = match crate::bytes::find_pair(rest, |x, y| (x == b'\r') != (y == b'\n')) {
                    Some(i) => i + usize::from(rest[i] != b'\r'),
                    None => rest.len() - usize::from(rest.ends_with(b"\r")),
                };
                out.extend_from_slice(&rest[..run]);
                rest = &rest[run..];
                let Some(&b) = rest.first() else { break };
                if b != b'\r' && b != b'\n' {
                    continue;
                }
            }
            let b = rest[0];
            if self.crs > 0 {
                match b {
                    b'\r' => self.crs += 1,
                    b'\n' => {
                        out.extend_from_slice(b"\r\n");
                        if self.crs > 1 {
                            self.bare_cr += 1;
                        }
                        self.crs = 0;
                    }
                    _ => {
                        self.flush(out);
                        continue;
                    }
                }
            } else if b == b'\n' {
                out.extend_from_slice(b"\r\n");
                self.bare_lf += 1;
            } else if b == b'\r' {
                self.crs = 1;
            } else {
                out.push(b);
            }
            rest = &rest[1..];
        }
    }

    /// Resolve CRs still pending at the end of the message: each is a line end of its own.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.flush(out);
    }

    fn flush(&mut self, out: &mut Vec<u8>) {
        for _ in 0..self.crs {
            out.extend_from_slice(b"\r\n");
            self.bare_cr += 1;
        }
        self.crs = 0;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::bytes::arb;
    use crate::config::DropDeliveredTo;
    use crate::headers::{Rules, apply, normalize_line_endings};

    const CASES: &[&[u8]] = &[
        b"",
        b"a",
        b"Subject: x\r\n\r\nbody\r\n",
        b"Delivered-To: me@x.test\nSubject: x\n\nbody\n.\n",
        b"Subject: x\r\r\n\r\r\nb\ro\r\r\rdy\r",
        b" leading fold\r\nDelivered-To: me@x.test\r\n\r\nb\r\n",
        b"Subject: x\r\nnot a header\r\nDelivered-To: me@x.test\r\n\r\n",
        b"Delivered-To: me@x.test\r\n\tfolded\r\nX: y",
        b"\r\n\r\nbody only\n",
        b"Subject: no separator\r\nX: y\r\n",
    ];

    #[test]
    fn h_stream_normaliser_matches_the_whole_message_normaliser_at_every_split() {
        for case in CASES {
            let (want, lf, cr) = normalize_line_endings(case);
            for cut in 0..=case.len() {
                let mut n = BodyNormalizer::default();
                let mut out = Vec::new();
                n.push(&case[..cut], &mut out);
                n.push(&case[cut..], &mut out);
                n.finish(&mut out);
                assert_eq!(
                    out,
                    *want,
                    "{:?} cut {cut}",
                    case.escape_ascii().to_string()
                );
                assert_eq!(
                    (n.bare_lf, n.bare_cr),
                    (lf, cr),
                    "{:?}",
                    case.escape_ascii().to_string()
                );
            }
        }
    }

    proptest! {
        /// Long runs of lines (copied whole) with bare CRs and LFs among them, cut anywhere: still exactly what the
        /// whole-message normaliser gives, with the same counts.
        #[test]
        fn h_stream_normaliser_copies_runs_exactly(
            msg in arb::mail(),
            cuts in proptest::collection::vec(any::<usize>(), 0..6),
        ) {
            let (want, lf, cr) = normalize_line_endings(&msg);
            let mut n = BodyNormalizer::default();
            let mut out = Vec::new();
            for piece in arb::pieces(&msg, &cuts) {
                n.push(piece, &mut out);
            }
            n.finish(&mut out);
            prop_assert_eq!(&out[..], &want[..]);
            prop_assert_eq!((n.bare_lf, n.bare_cr), (lf, cr));
        }
    }

    #[test]
    fn h_header_then_body_gives_what_apply_gives_for_the_whole_message() {
        for received in [None, Some(b"Received: by us\r\n".to_vec())] {
            let rules = Rules {
                target: "me@x.test".into(),
                drop: DropDeliveredTo::Matching,
                strip: vec![],
                recipients: Vec::new(),
                received: received.clone(),
            };
            for case in CASES {
                let want = apply(case, &rules).message;
                for held in 0..=case.len() {
                    let complete = held == case.len();
                    let Some(end) = header_end(&case[..held], received.is_some(), complete) else {
                        continue;
                    };
                    let mut out = apply(&case[..end], &rules).message;
                    let mut n = BodyNormalizer::default();
                    n.push(&case[end..], &mut out);
                    n.finish(&mut out);
                    assert_eq!(
                        out.escape_ascii().to_string(),
                        want.escape_ascii().to_string(),
                        "{:?} held {held}",
                        case.escape_ascii().to_string()
                    );
                }
            }
        }
    }
}
