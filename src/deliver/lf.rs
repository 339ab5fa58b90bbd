//! CRLF → LF for the local destinations, a chunk at a time.
//!
//! After the header pipeline a message has CRLF line endings only (invariant 6: every bare CR and LF was
//! normalised). An MDA's stdin and a Maildir file want LF, as Postfix's local delivery and procmail write them, so
//! each CR directly before an LF is dropped. Any other CR stays (none should be left; if one is, it is the
//! message's byte, not ours to change). The converter keeps one byte of state so a CRLF split across two chunks is
//! still one line end.

/// Streaming CRLF → LF.
#[derive(Debug, Default)]
pub struct ToLf {
    /// The previous chunk ended in a CR not yet written.
    held_cr: bool,
}

impl ToLf {
    /// Convert `chunk`, appending to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        let mut rest = chunk;
        if rest.is_empty() {
            return;
        }
        if self.held_cr {
            self.held_cr = false;
            if rest.first() != Some(&b'\n') {
                out.push(b'\r');
            }
        }
        while let Some(i) = rest.iter().position(|&b| b == b'\r') {
            out.extend_from_slice(&rest[..i]);
            match rest.get(i + 1) {
                Some(b'\n') => {}
                Some(_) => out.push(b'\r'),
                None => self.held_cr = true,
            }
            rest = &rest[i + 1..];
        }
        out.extend_from_slice(rest);
    }

    /// The end of the message: a CR held back at the very end is written as it was.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.held_cr) {
            out.push(b'\r');
        }
    }
}

/// Convert a whole message.
pub fn to_lf(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len());
    let mut c = ToLf::default();
    c.push(message, &mut out);
    c.finish(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn crlf_becomes_lf_and_other_bytes_stay() {
        assert_eq!(to_lf(b"a\r\nb\r\n\r\nc"), b"a\nb\n\nc");
        assert_eq!(to_lf(b"x\ry\r"), b"x\ry\r");
        assert_eq!(to_lf(b"\xff\x00\r\n"), b"\xff\x00\n");
    }

    proptest! {
        /// Any split of the input into chunks gives the same output as the whole at once.
        #[test]
        fn chunking_never_changes_the_output(
            msg in proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), any::<u8>()], 0..200),
            cuts in proptest::collection::vec(0usize..200, 0..6),
        ) {
            let whole = to_lf(&msg);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(msg.len())).collect();
            cuts.sort_unstable();
            let mut out = Vec::new();
            let mut c = ToLf::default();
            let mut at = 0;
            for cut in cuts {
                c.push(&msg[at..cut], &mut out);
                at = cut;
            }
            c.push(&msg[at..], &mut out);
            c.finish(&mut out);
            prop_assert_eq!(out, whole);
        }
    }
}
