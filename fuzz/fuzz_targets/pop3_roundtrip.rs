//! Round trip through the POP3 body decoder: whatever content `c` a server dot-stuffs per RFC 1939 §3 and ends
//! with the terminator, popfetch decodes back to `c` (plus a final line ending when `c` lacked one), consuming
//! exactly the stuffed bytes and none of what follows (P-01, P-03 case 2, P-04).
//!
//! Input layout: byte 0 selects the mode (bit 0: LF server) and the chunk length for a second, streaming decode
//! (bits 1..); the rest is `c`, which a trailer of junk then follows on the wire (the next response).
#![no_main]

use libfuzzer_sys::fuzz_target;
use popfetch::pop3::codec::{BodyDecoder, CodecError, parse_multiline};
use popfetch_fuzz::{pop3_expected_body, pop3_stuff};

fuzz_target!(init: popfetch_fuzz::self_check(), |data: &[u8]| {
    let Some((&ctl, content)) = data.split_first() else {
        return;
    };
    let lf_lines = ctl & 1 == 1;
    let chunk = usize::from(ctl >> 1) + 1;
    let stuffed = pop3_stuff(content, lf_lines);
    let want = pop3_expected_body(content, lf_lines);
    let mut wire = stuffed.clone();
    wire.extend_from_slice(b"+OK next\r\n.\r\n");

    // Exactly large enough: decodes, consuming only the stuffed body.
    let max = want.len() as u64;
    match parse_multiline(&wire, max, lf_lines) {
        Ok(Some((body, used))) => {
            assert_eq!(
                used,
                stuffed.len(),
                "consumed past or short of the terminator"
            );
            assert_eq!(body, want, "round trip changed the content");
        }
        other => panic!("stuffed content did not decode: {other:?}"),
    }
    // One byte too small: refused, never truncated.
    if let Some(small) = max.checked_sub(1) {
        assert_eq!(
            parse_multiline(&wire, small, lf_lines),
            Err(CodecError::TooLarge { limit: small })
        );
    }
    // Streaming into the caller's buffer (as the client streams a RETR), in fixed-size chunks, with the wire cut
    // short before the terminator's last byte first.
    let mut d = BodyDecoder::new(max, lf_lines);
    let mut body = Vec::new();
    for piece in stuffed[..stuffed.len() - 1].chunks(chunk) {
        assert_eq!(
            d.feed_into(piece, &mut body),
            Ok((piece.len(), false)),
            "done before the terminator"
        );
    }
    assert_eq!(
        d.feed_into(&wire[stuffed.len() - 1..], &mut body),
        Ok((1, true))
    );
    assert_eq!(body, want);
    assert_eq!(d.len(), want.len());
});
