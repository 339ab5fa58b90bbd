//! The body decoder's run copying (`crate::bytes`) against the byte-by-byte state machine it shortcuts: the same
//! body, the same terminator position, the same size verdict, for every feeding (P-01, P-02, P-04).

use proptest::prelude::*;

use super::{BodyDecoder, BodyState, CodecError};
use crate::bytes::arb;

/// The decoder stepped one byte at a time: the body and how many bytes the terminator took, if it came.
fn bytewise(wire: &[u8], lf_lines: bool) -> (Vec<u8>, Option<usize>) {
    let mut d = BodyDecoder::new(u64::MAX, lf_lines);
    let mut out = Vec::new();
    for (i, &b) in wire.iter().enumerate() {
        d.step(b, &mut out);
        if d.state == BodyState::Done {
            return (out, Some(i + 1));
        }
    }
    (out, None)
}

proptest! {
    #[test]
    fn p04_runs_decode_as_byte_by_byte(
        msg in arb::mail(),
        lf_lines in any::<bool>(),
        end in any::<bool>(),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let mut wire = msg;
        if end {
            wire.extend_from_slice(b"\r\n.\r\n+OK next\r\n");
        }
        let (want, used) = bytewise(&wire, lf_lines);

        let mut d = BodyDecoder::new(want.len() as u64, lf_lines);
        let (n, done) = d.feed(&wire).expect("within the bound");
        prop_assert_eq!((Some(n).filter(|_| done), done), (used, used.is_some()));
        prop_assert_eq!(d.into_body(), want.clone());
        if let Some(small) = (want.len() as u64).checked_sub(1) {
            let mut d = BodyDecoder::new(small, lf_lines);
            prop_assert_eq!(d.feed(&wire), Err(CodecError::TooLarge { limit: small }));
        }

        // Streamed into the caller's buffer, piece by piece, as the client does.
        let mut d = BodyDecoder::new(u64::MAX, lf_lines);
        let mut out = Vec::new();
        let mut consumed = 0;
        for piece in arb::pieces(&wire, &cuts) {
            let (n, done) = d.feed_into(piece, &mut out).expect("no bound");
            consumed += n;
            if done {
                break;
            }
            prop_assert_eq!(n, piece.len());
        }
        prop_assert_eq!(d.len(), out.len());
        prop_assert_eq!(out, want);
        prop_assert_eq!(consumed, used.unwrap_or(wire.len()));
    }
}
