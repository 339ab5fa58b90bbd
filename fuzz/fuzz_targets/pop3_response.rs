//! Fuzz the POP3 response decoder (src/pop3/codec.rs) with hostile server bytes.
//!
//! Input layout: byte 0 picks the line bound, byte 1 the body bound, byte 2 how many split points follow (each one
//! byte, a chunk length for the streaming decoder); the rest is what the server sent. Short inputs use defaults.
//!
//! Beyond "no panic" it checks: every `consumed` is within the input; status lines end at the first LF and never
//! exceed the line bound (P-06); bodies match a line-by-line RFC 1939 §3 model in both CRLF and LF mode, including
//! the exact point where the size bound trips (P-01, P-02, P-07); feeding the same bytes in fuzzer-chosen chunks
//! gives the one-shot result (P-04); listings that parse are well-formed and re-parse to themselves (P-15..P-17);
//! an APOP timestamp is a well-shaped substring of the greeting (T-19); the one escaper for server text
//! (src/untrusted) leaves no control character but TAB, is idempotent and never shows a scrubbed secret (P-32,
//! T-20).
#![no_main]

use libfuzzer_sys::fuzz_target;
use popfetch::pop3::codec::{
    self, AuthLine, BodyDecoder, CodecError, MAX_UID_LEN, RespCode, StatusLine,
};
use popfetch::secret::Secret;
use popfetch::untrusted::Secrets;
use popfetch_fuzz::pop3_decode_model;

fuzz_target!(init: popfetch_fuzz::self_check(), |data: &[u8]| {
    let (max_line, max_body, splits, wire) = match data {
        [a, b, n, rest @ ..] => {
            let n = usize::from(*n % 16).min(rest.len());
            let (splits, wire) = rest.split_at(n);
            // 255 stands for a roomy bound so UIDs near MAX_UID_LEN are reachable.
            let max_line = if *a == 255 { 4096 } else { usize::from(*a) + 1 };
            (max_line, u64::from(*b) * 4, splits, wire)
        }
        _ => (512, 1024, &[][..], data),
    };
    status_line(wire, max_line);
    auth_line(wire, max_line);
    for lf_lines in [false, true] {
        body(wire, max_body, lf_lines, splits);
    }
    listings(wire, max_line);
    shown(wire, max_line);
    if let Some(ts) = codec::apop_timestamp(wire) {
        let b = ts.as_bytes();
        assert!(b.len() <= 255 && b.len() >= 5, "{ts:?}");
        assert!(b.starts_with(b"<") && b.ends_with(b">"));
        assert!(b[1..b.len() - 1].contains(&b'@'));
        assert!(
            b[1..b.len() - 1]
                .iter()
                .all(|&c| c.is_ascii_graphic() && c != b'<' && c != b'>')
        );
        assert!(wire.windows(b.len()).any(|w| w == b), "not a substring");
    }
});

fn status_line(wire: &[u8], max_line: usize) {
    let lf = wire.iter().position(|&b| b == b'\n');
    match codec::parse_status_line(wire, max_line) {
        Ok(Some((line, used))) => {
            assert_eq!(Some(used - 1), lf, "a status line ends at the first LF");
            assert!(used <= max_line && used <= wire.len());
            check_status(&line, &wire[..used]);
        }
        Ok(None) => assert!(lf.is_none() && wire.len() < max_line),
        Err(CodecError::LineTooLong { limit }) => {
            assert_eq!(limit, max_line);
            assert!(lf.is_none_or(|i| i >= max_line) && wire.len() >= max_line);
        }
        Err(CodecError::BadStatus { line }) => {
            let l = lf.expect("a bad status needs a whole line");
            assert!(l < max_line);
            let content = &wire[..l];
            let content = content.strip_suffix(b"\r").unwrap_or(content);
            assert_eq!(line, content, "the raw line, its line end removed");
            assert!(codec::parse_status(&wire[..=l]).is_err());
        }
        Err(e) => panic!("unexpected error {e:?}"),
    }
}

/// A parsed status line agrees with the raw line it came from.
fn check_status(line: &StatusLine, raw: &[u8]) {
    let content = raw.strip_suffix(b"\n").expect("ends in LF");
    assert_eq!(line.bare_lf, !content.ends_with(b"\r"));
    let content = content.strip_suffix(b"\r").unwrap_or(content);
    let indicator = if line.ok { &b"+OK"[..] } else { b"-ERR" };
    assert!(content[..indicator.len()].eq_ignore_ascii_case(indicator));
    let after = &content[indicator.len()..];
    assert!(after.is_empty() || after[0] == b' ');
    assert_eq!(line.text, after.get(1..).unwrap_or_default());
    if let Some(code) = &line.code {
        assert!(
            line.text.starts_with(b"["),
            "a code only right after the indicator"
        );
        if let RespCode::Other(s) = code {
            assert!(!s.is_empty() && s.len() <= 64);
            assert!(
                s.bytes()
                    .all(|b| b.is_ascii_graphic() && !b.is_ascii_lowercase())
            );
        }
    }
    assert_eq!(codec::parse_status(raw).as_ref(), Ok(line));
}

fn auth_line(wire: &[u8], max_line: usize) {
    match codec::parse_auth_line(wire, max_line) {
        Ok(Some((AuthLine::Continue(challenge), used))) => {
            assert!(used <= wire.len() && used <= max_line);
            assert!(wire.starts_with(b"+"));
            assert!(!challenge.contains(&b'\n'));
            assert!(challenge.len() + 1 < used);
        }
        Ok(Some((AuthLine::Status(line), used))) => {
            assert!(used <= wire.len() && used <= max_line);
            check_status(&line, &wire[..used]);
        }
        Ok(None) | Err(_) => {}
    }
}

fn body(wire: &[u8], max: u64, lf_lines: bool, splits: &[u8]) {
    let (want, want_used) = pop3_decode_model(wire, lf_lines);
    let too_large = want.len() as u64 > max;
    let one_shot = codec::parse_multiline(wire, max, lf_lines);
    match &one_shot {
        Ok(Some((body, used))) => {
            assert_eq!(Some(*used), want_used, "terminator position");
            assert!(*used <= wire.len());
            assert_eq!(body, &want, "decoded body");
            assert!(
                body.len() as u64 <= max,
                "an Ok body never exceeds the bound"
            );
            assert!(body.len() <= *used);
            // Bytes after the terminator never change the result.
            assert_eq!(
                codec::parse_multiline(&wire[..*used], max, lf_lines),
                one_shot.clone()
            );
        }
        Ok(None) => {
            assert_eq!(want_used, None);
            assert!(!too_large);
        }
        Err(CodecError::TooLarge { limit }) => {
            assert_eq!(*limit, max);
            assert!(too_large, "TooLarge only once the body passed the bound");
        }
        Err(e) => panic!("unexpected body error {e:?}"),
    }
    if !too_large && want_used.is_some() {
        assert!(matches!(one_shot, Ok(Some(_))));
    }

    // The same bytes, fed in chunks whose lengths the fuzzer chose (P-04: a split anywhere, even in `\r\n.\r\n`).
    let mut d = BodyDecoder::new(max, lf_lines);
    let mut pos = 0;
    let mut cuts = splits.iter().map(|&s| usize::from(s));
    let chunked = loop {
        let take = cuts.next().unwrap_or(wire.len()).min(wire.len() - pos);
        let chunk = &wire[pos..pos + take];
        match d.feed(chunk) {
            Err(e) => break Err(e),
            Ok((used, done)) => {
                assert!(used <= chunk.len());
                assert!(
                    done || used == chunk.len(),
                    "all bytes are consumed until the end"
                );
                pos += used;
                assert!(d.len() <= pos, "decoded more than was consumed");
                if done {
                    break Ok(Some(pos));
                }
                if pos == wire.len() {
                    break Ok(None);
                }
            }
        }
    };
    match (chunked, one_shot) {
        (Ok(Some(used)), Ok(Some((body, one_used)))) => {
            assert_eq!(used, one_used);
            assert_eq!(d.into_body(), body, "chunked result differs from one-shot");
        }
        (Ok(None), Ok(None)) => assert_eq!(d.into_body(), want),
        (Err(a), Err(b)) => assert_eq!(a, b),
        (c, o) => panic!("chunked {c:?} vs one-shot {o:?}"),
    }
}

fn listings(body: &[u8], max_line: usize) {
    let longest = body
        .strip_suffix(b"\n")
        .unwrap_or(body)
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l).len())
        .max()
        .unwrap_or(0);
    let fits = longest <= max_line;

    match codec::parse_capabilities(body, max_line) {
        Ok(caps) => {
            assert!(fits);
            for m in &caps.sasl {
                assert!(!m.is_empty());
                assert!(
                    m.bytes()
                        .all(|b| b.is_ascii_graphic() && !b.is_ascii_lowercase())
                );
            }
            for raw in &caps.raw {
                assert!(!raw.contains(&b'\n') && raw.len() <= max_line);
            }
        }
        Err(CodecError::LineTooLong { .. }) => assert!(!fits),
        Err(e) => panic!("unexpected capa error {e:?}"),
    }

    match codec::parse_uidl(body, max_line) {
        Ok(list) => {
            assert!(fits);
            let mut numbers = std::collections::HashSet::new();
            let mut again = Vec::new();
            for (n, uid) in &list {
                assert!(*n >= 1 && numbers.insert(*n));
                assert!(!uid.is_empty() && uid.len() <= MAX_UID_LEN);
                assert!(uid.bytes().all(|b| (0x21..=0x7e).contains(&b)));
                // A UID listed twice is kept (issue 18: popa3d derives UIDs from content); the poller holds
                // those messages back, so the codec must not drop or merge them.
                again.extend_from_slice(format!("{n} {uid}\r\n").as_bytes());
            }
            assert_eq!(codec::parse_uidl(&again, usize::MAX).as_ref(), Ok(&list));
        }
        Err(CodecError::LineTooLong { .. }) => assert!(!fits),
        Err(_) => {}
    }

    match codec::parse_list(body, max_line) {
        Ok(list) => {
            assert!(fits);
            let mut numbers = std::collections::HashSet::new();
            let mut again = Vec::new();
            for (n, size) in &list {
                assert!(*n >= 1 && numbers.insert(*n));
                again.extend_from_slice(format!("{n} {size}\r\n").as_bytes());
            }
            assert_eq!(codec::parse_list(&again, usize::MAX).as_ref(), Ok(&list));
        }
        Err(CodecError::LineTooLong { .. }) => assert!(!fits),
        Err(_) => {}
    }
}

/// The escaper: no control character but TAB survives, and escaping twice changes nothing. The scrubber: with the
/// input's first 4 bytes as the secret, no secret is left between the markers (checked where escaping does not
/// change the text, and for secrets that share no character with the marker).
fn shown(wire: &[u8], max: usize) {
    let text = Secrets::none().show(wire, max);
    assert!(text.chars().all(|c| c == '\t' || !c.is_control()), "{text:?}");
    assert_eq!(Secrets::none().show(text.as_bytes(), usize::MAX), text);
    let plain = |b: &u8| *b == b'\t' || (0x20..0x7f).contains(b);
    let Some(secret) = wire.get(..4).filter(|_| wire.iter().all(plain)) else {
        return;
    };
    if secret.iter().any(|b| b"[redacted]".contains(b)) {
        return;
    }
    let secrets = Secrets::new();
    secrets.add(&Secret::new(String::from_utf8_lossy(secret)));
    let text = secrets.show(wire, usize::MAX);
    assert!(text.starts_with("[redacted]"), "{text:?}");
    let secret = std::str::from_utf8(secret).expect("printable ASCII");
    for piece in text.split("[redacted]") {
        assert!(!piece.contains(secret), "{text:?} shows {secret:?}");
    }
}
