//! Where lines end in bytes from a server, in one place: the header scanner, `--diff` and the `-vv` trace all cut
//! lines with [`line_at`], so a message reads the same in all three.
//!
//! The rule (issue 18): a run of CRs right before a LF is one line end, because a Maildir holding CRLF files makes
//! Courier send `\r\r\n`. What else ends a line depends on the reader, see [`LineEnds`].

/// Which byte sequences end a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineEnds {
    /// CR+LF (any run of CRs before a LF), bare LF and bare CR each end one line: the view after
    /// `headers::normalize_line_endings`.
    Any,
    /// Only CRLF ends a line; a bare CR or LF is ordinary content.
    CrlfOnly,
    /// A LF ends a line, with the run of CRs right before it; a CR anywhere else is content (and shows escaped).
    /// Wire lines for the trace: the protocols end lines with CRLF, and a lone CR is worth seeing.
    Lf,
}

/// One line: `raw[start..content_end]` is its text, `raw[content_end..end]` its terminator (empty at EOF).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Line {
    pub start: usize,
    pub content_end: usize,
    pub end: usize,
}

/// The line starting at `start` (which must be `<= raw.len()`; at `raw.len()` the line is empty).
pub(crate) fn line_at(raw: &[u8], start: usize, mode: LineEnds) -> Line {
    let rest = &raw[start..];
    // The CRs directly before position `i` of `rest`, back to `floor`.
    let crs_before = |i: usize, floor: usize| {
        rest[floor..i]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\r')
            .count()
    };
    let found = match mode {
        // A CR not followed by CRs and a LF, and a LF alone, are one line end each.
        LineEnds::Any => rest
            .iter()
            .position(|&b| b == b'\r' || b == b'\n')
            .map(|i| {
                let crs = rest[i..].iter().take_while(|&&b| b == b'\r').count();
                let len = if crs > 0 && rest.get(i + crs) == Some(&b'\n') {
                    crs + 1
                } else {
                    1
                };
                (i, len)
            }),
        LineEnds::CrlfOnly => {
            let mut from = 0;
            loop {
                match rest[from..].iter().position(|&b| b == b'\n') {
                    Some(i) if from + i > 0 && rest[from + i - 1] == b'\r' => {
                        break Some((from + i - 1, 2));
                    }
                    Some(i) => from += i + 1,
                    None => break None,
                }
            }
        }
        LineEnds::Lf => rest.iter().position(|&b| b == b'\n').map(|i| {
            let crs = crs_before(i, 0);
            (i - crs, crs + 1)
        }),
    };
    match found {
        Some((i, len)) => Line {
            start,
            content_end: start + i,
            end: start + i + len,
        },
        None => Line {
            start,
            content_end: raw.len(),
            end: raw.len(),
        },
    }
}

/// The lines of `raw` as [`LineEnds`] reads them, with their terminators (the last one may have none).
pub(crate) fn lines(raw: &[u8], mode: LineEnds) -> impl Iterator<Item = Line> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        (pos < raw.len()).then(|| {
            let line = line_at(raw, pos, mode);
            pos = line.end;
            line
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(raw: &[u8], mode: LineEnds) -> Vec<(&[u8], &[u8])> {
        lines(raw, mode)
            .map(|l| (&raw[l.start..l.content_end], &raw[l.content_end..l.end]))
            .collect()
    }

    #[test]
    fn i18_a_run_of_crs_before_lf_is_one_line_end_in_every_mode_that_reads_lf() {
        let raw = b"a\r\r\nb\nc\rd\r\n";
        assert_eq!(
            split(raw, LineEnds::Any),
            [
                (&b"a"[..], &b"\r\r\n"[..]),
                (b"b", b"\n"),
                (b"c", b"\r"),
                (b"d", b"\r\n")
            ]
        );
        assert_eq!(
            split(raw, LineEnds::Lf),
            [
                (&b"a"[..], &b"\r\r\n"[..]),
                (b"b", b"\n"),
                (b"c\rd", b"\r\n")
            ]
        );
        assert_eq!(
            split(raw, LineEnds::CrlfOnly),
            [(&b"a\r"[..], &b"\r\n"[..]), (b"b\nc\rd", b"\r\n")]
        );
        assert_eq!(split(b"x", LineEnds::Lf), [(&b"x"[..], &b""[..])]);
        assert_eq!(
            split(b"250 ok\r\r\n", LineEnds::Lf),
            [(&b"250 ok"[..], &b"\r\r\n"[..])]
        );
    }
}
