//! Fuzz the SMTP/LMTP reply decoder and the EHLO capability reader (src/smtp/reply.rs, src/smtp/ehlo.rs) with
//! hostile MTA bytes (catalog S-09).
//!
//! Input layout: byte 0 picks a chunk length for the incremental check; the rest is what the MTA sent.
//!
//! Beyond "no panic" it checks: `consumed` is within the input and ends just after a LF; a reply matches a
//! line-by-line RFC 5321 §4.2 model (same code on every line, `-` on all but the last, text kept byte-exact); no
//! line exceeds `MAX_LINE` and no reply `MAX_LINES`; every prefix of a complete reply is `Ok(None)` (incomplete)
//! and the input fed as growing chunks gives the one-shot result; a success is never made of a malformed line; the
//! shown text is bounded and free of control characters but TAB (crate::untrusted keeps TAB); capabilities come only from keyword lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use popfetch::smtp::Capabilities;
use popfetch::smtp::reply::{MAX_LINE, MAX_LINES, ReplyError, parse_reply};
use popfetch::untrusted::Secrets;

fuzz_target!(|data: &[u8]| {
    let (step, wire) = match data {
        [s, rest @ ..] => (usize::from(*s).max(1), rest),
        [] => (1, data),
    };
    let whole = parse_reply(wire);
    // Incremental: growing prefixes are incomplete until the one-shot answer appears, and then agree with it.
    let mut len = 0;
    loop {
        len = (len + step).min(wire.len());
        match parse_reply(&wire[..len]) {
            Ok(None) if len < wire.len() => {}
            r => {
                match (&r, &whole) {
                    (Ok(Some((a, n))), Ok(Some((b, m)))) => assert!(a == b && n == m),
                    (Err(_), Err(_)) => {}
                    (Ok(None), Ok(None)) => {}
                    _ => panic!("prefix {len} gives {r:?}, whole gives {whole:?}"),
                }
                break;
            }
        }
    }
    match whole {
        Ok(Some((reply, used))) => {
            assert!(used <= wire.len() && used > 0 && wire[used - 1] == b'\n');
            let model = model(&wire[..used]).expect("the model refuses what the codec accepted");
            assert_eq!(model, (reply.code, reply.lines.clone()));
            assert!((200..=559).contains(&reply.code));
            for cut in 0..used {
                assert_eq!(parse_reply(&wire[..cut]), Ok(None), "prefix {cut}");
            }
            let shown = reply.text(&Secrets::none());
            assert!(shown.len() < 2000 && !shown.chars().any(|c| c.is_control() && c != '\t'), "{shown:?}");
            let caps = Capabilities::parse(&reply);
            if reply.lines.len() < 2 {
                assert_eq!(caps, Capabilities::default());
            }
            if let Some(n) = caps.size_limit {
                assert!(n > 0 && caps.size);
            }
        }
        Ok(None) => assert!(!wire.contains(&b'\n') || model_incomplete(wire)),
        Err(ReplyError::LineTooLong { limit }) => assert_eq!(limit, MAX_LINE),
        Err(ReplyError::TooManyLines { limit }) => assert_eq!(limit, MAX_LINES),
        Err(_) => assert!(model(wire).is_none()),
    }
});

/// RFC 5321 §4.2 line by line: `(code, texts)` of the first reply in `wire`, or `None` when a line is malformed,
/// the codes differ, or the reply does not end within `wire`.
fn model(wire: &[u8]) -> Option<(u16, Vec<Vec<u8>>)> {
    let mut code = None;
    let mut texts = Vec::new();
    for line in wire.split_inclusive(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\n")?;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() < 3 {
            return None;
        }
        let (c, rest) = line.split_at(3);
        let ok = (b'2'..=b'5').contains(&c[0]) && (b'0'..=b'5').contains(&c[1]) && c[2].is_ascii_digit();
        if !ok {
            return None;
        }
        let c = std::str::from_utf8(c).ok()?.parse::<u16>().ok()?;
        if *code.get_or_insert(c) != c {
            return None;
        }
        let (more, text) = match rest {
            [] => (false, rest),
            [b' ', t @ ..] => (false, t),
            [b'-', t @ ..] => (true, t),
            _ => return None,
        };
        texts.push(text.to_vec());
        if !more {
            return Some((c, texts));
        }
    }
    None
}

/// The complete lines of `wire` are all well-formed continuation lines of one code.
fn model_incomplete(wire: &[u8]) -> bool {
    let end = wire.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut code = None;
    wire[..end].split_inclusive(|&b| b == b'\n').all(|line| {
        line.len() >= 4
            && line[3] == b'-'
            && *code.get_or_insert(&line[..3]) == &line[..3]
    })
}
