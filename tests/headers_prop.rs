//! Property tests for the header pipeline against an independent oracle.
//!
//! The generator builds each message line by line and knows which lines belong to which planted field, so the
//! expected output is assembled from those lines (kept lines, each ending turned into CRLF, Received first)
//! without using popfetch's scanner or normaliser.

use popfetch::config::DropDeliveredTo;
use popfetch::headers::{Edit, ReceivedInfo, Rules, apply, normalize_line_endings, received_field};
use proptest::prelude::*;
use std::collections::BTreeMap;

const TARGET: &str = "joe@example.test";
const STRIP: &str = "list@example.test";
const NEAR_MISSES: [&str; 5] = [
    "other@example.test",
    "joe@example.test.evil",
    "xjoe@example.test",
    "joe@example.tes",
    "\"joe x\"@example.test",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Addr {
    Target,
    Strip,
    Other,
}

#[derive(Debug, Clone)]
struct Line {
    content: Vec<u8>,
    /// CRLF, LF or CR; empty only for an unterminated last line.
    ending: &'static [u8],
}

#[derive(Debug, Clone)]
struct Field {
    /// `Some` for a real `Delivered-To` field.
    delivered_to: Option<Addr>,
    lines: Vec<Line>,
}

#[derive(Debug, Clone)]
struct Message {
    fields: Vec<Field>,
    separator: Option<&'static [u8]>,
    body: Vec<Line>,
    unterminated: bool,
}

fn ending() -> impl Strategy<Value = &'static [u8]> {
    // `\r\r\n` and `\r\r\r\n`: stray CRs before CRLF (a CRLF-stored message relayed by Courier, issue 18) are one
    // line end.
    prop_oneof![
        8 => Just(&b"\r\n"[..]),
        2 => Just(&b"\n"[..]),
        2 => Just(&b"\r"[..]),
        1 => Just(&b"\r\r\n"[..]),
        1 => Just(&b"\r\r\r\n"[..])
    ]
}

/// Line content without CR or LF: printable ASCII, TAB, NUL and 8-bit bytes.
fn content() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![6 => 0x20u8..0x7f, 1 => Just(0u8), 1 => Just(b'\t'), 2 => 0x80u8..=0xff],
        0..24,
    )
}

fn random_case(text: &str, mask: &[bool]) -> String {
    text.chars()
        .zip(mask.iter().cycle())
        .map(|(c, &upper)| if upper { c.to_ascii_uppercase() } else { c })
        .collect()
}

fn delivered_to_field() -> impl Strategy<Value = Field> {
    let addr = prop_oneof![Just(Addr::Target), Just(Addr::Strip), Just(Addr::Other)];
    (
        0usize..6,
        addr,
        0usize..NEAR_MISSES.len(),
        prop::collection::vec(any::<bool>(), 7),
        0usize..9,
        [ending(), ending(), ending()],
    )
        .prop_map(|(name, kind, miss, mask, form, ends)| {
            let name = [
                "Delivered-To",
                "delivered-to",
                "DELIVERED-TO",
                "DeLiVeReD-To",
                "Delivered-To ",
                "Delivered-To\t",
            ][name];
            let address = match kind {
                Addr::Target => TARGET,
                Addr::Strip => STRIP,
                Addr::Other => NEAR_MISSES[miss],
            };
            let a = random_case(address, &mask);
            let (local, domain) = a.rsplit_once('@').expect("has @");
            let values: Vec<String> = match form {
                0 => vec![format!(" {a}")],
                1 => vec![format!(" <{a}>")],
                2 => vec![format!("\t{a}  ")],
                3 => vec![format!(" {a} (comment)")],
                4 => vec![format!(" (c) <{a}> (x (y))")],
                5 => vec![String::new(), format!(" {a}")],
                6 => vec![format!(" {local}@"), format!("\t{domain}")],
                7 => vec![format!(" {a}"), " ".into()],
                _ => vec![format!("{a}")],
            };
            let lines = values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let text = if i == 0 {
                        format!("{name}:{v}")
                    } else {
                        v.clone()
                    };
                    Line {
                        content: text.into_bytes(),
                        ending: ends[i % ends.len()],
                    }
                })
                .collect();
            Field {
                delivered_to: Some(kind),
                lines,
            }
        })
}

fn other_field() -> impl Strategy<Value = Field> {
    let names = [
        "Subject",
        "X-Delivered-To",
        "Delivered-To-Original",
        "Original-Delivered-To",
        "Received",
        "X-8bit",
    ];
    let continuation = (prop_oneof![Just(b' '), Just(b'\t')], content(), ending());
    (
        0usize..names.len(),
        any::<bool>(),
        content(),
        ending(),
        prop::collection::vec(continuation, 0..3),
    )
        .prop_map(move |(name, target_value, value, end, conts)| {
            let mut first = format!("{}: ", names[name]).into_bytes();
            if target_value {
                first.extend_from_slice(TARGET.as_bytes());
            } else {
                first.extend_from_slice(&value);
            }
            let mut lines = vec![Line {
                content: first,
                ending: end,
            }];
            for (wsp, text, ending) in conts {
                // A continuation may hold only whitespace (catalog H-09).
                lines.push(Line {
                    content: [&[wsp][..], &text].concat(),
                    ending,
                });
            }
            Field {
                delivered_to: None,
                lines,
            }
        })
}

fn body_line() -> impl Strategy<Value = Line> {
    let text = prop_oneof![
        4 => content(),
        1 => Just(b"Delivered-To: joe@example.test".to_vec()),
        1 => Just(b".".to_vec()),
        1 => Just(Vec::new()),
    ];
    (text, ending()).prop_map(|(content, ending)| Line { content, ending })
}

fn message() -> impl Strategy<Value = Message> {
    let fields = || prop::collection::vec(prop_oneof![delivered_to_field(), other_field()], 0..8);
    let body = || prop::collection::vec(body_line(), 0..6);
    let headerless_first = prop_oneof![
        Just("Hello world"),
        Just("From sender@x.test Tue Nov 22 21:00:00 2026"),
        Just(":x"),
        Just("no colon here")
    ];
    prop_oneof![
        // Header section, separator, body.
        (fields(), ending(), body(), any::<bool>()).prop_map(
            |(fields, sep, body, unterminated)| {
                Message {
                    fields,
                    separator: Some(sep),
                    body,
                    unterminated,
                }
            }
        ),
        // Header section only (catalog H-10).
        (fields(), any::<bool>()).prop_map(|(fields, unterminated)| Message {
            fields,
            separator: None,
            body: Vec::new(),
            unterminated
        }),
        // No header section at all (catalog H-11).
        (headerless_first, ending(), body(), any::<bool>()).prop_map(
            |(first, end, mut body, unterminated)| {
                body.insert(
                    0,
                    Line {
                        content: first.as_bytes().to_vec(),
                        ending: end,
                    },
                );
                Message {
                    fields: Vec::new(),
                    separator: None,
                    body,
                    unterminated,
                }
            }
        ),
    ]
}

/// The message's lines, each tagged with the index of the field it belongs to.
fn lines(msg: &Message) -> Vec<(Option<usize>, Line)> {
    let mut out: Vec<(Option<usize>, Line)> = Vec::new();
    for (i, field) in msg.fields.iter().enumerate() {
        out.extend(field.lines.iter().map(|l| (Some(i), l.clone())));
    }
    if let Some(sep) = msg.separator {
        out.push((
            None,
            Line {
                content: Vec::new(),
                ending: sep,
            },
        ));
    }
    out.extend(msg.body.iter().map(|l| (None, l.clone())));
    if msg.unterminated
        && let Some((_, last)) = out.last_mut()
    {
        last.ending = b"";
    }
    // A bare CR followed by an empty line is the start of a CR run that may reach a LF (`\r` + `\n`, `\r` + `\r\n`,
    // `\r` + `\r` + `\n`), which is one line end, not several: make such a bare CR a CRLF.
    for i in 1..out.len() {
        if out[i].1.content.is_empty() && out[i - 1].1.ending == b"\r" {
            out[i - 1].1.ending = b"\r\n";
        }
    }
    out
}

fn wire(lines: &[(Option<usize>, Line)]) -> Vec<u8> {
    lines
        .iter()
        .flat_map(|(_, l)| [l.content.as_slice(), l.ending].concat())
        .collect()
}

fn crlf(line: &Line) -> Vec<u8> {
    let end: &[u8] = if line.ending.is_empty() { b"" } else { b"\r\n" };
    [line.content.as_slice(), end].concat()
}

fn removed(field: &Field, drop: DropDeliveredTo) -> bool {
    match (drop, field.delivered_to) {
        (_, None) | (DropDeliveredTo::None, _) => false,
        (DropDeliveredTo::All, Some(_)) => true,
        (DropDeliveredTo::Matching, Some(addr)) => addr != Addr::Other,
    }
}

fn assert_crlf_only(msg: &[u8]) -> Result<(), TestCaseError> {
    for (i, &b) in msg.iter().enumerate() {
        let ok = match b {
            b'\r' => msg.get(i + 1) == Some(&b'\n'),
            b'\n' => i > 0 && msg[i - 1] == b'\r',
            _ => true,
        };
        prop_assert!(ok, "bare line end at {}", i);
    }
    Ok(())
}

fn received() -> Vec<u8> {
    received_field(&ReceivedInfo {
        server_host: "pop.example.jp".into(),
        server_ip: Some("192.0.2.7".parse().unwrap()),
        by_host: "mx.example.org".into(),
        encrypted: true,
        uid: "UID1".into(),
        target: TARGET.into(),
        unix_time: 1_795_381_200,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn h16_apply_matches_oracle(
        msg in message(),
        drop in prop_oneof![Just(DropDeliveredTo::Matching), Just(DropDeliveredTo::All), Just(DropDeliveredTo::None)],
        with_received in any::<bool>(),
        target_mask in prop::collection::vec(any::<bool>(), 5),
    ) {
        let lines = lines(&msg);
        let input = wire(&lines);
        let received = with_received.then(received);
        let rules = Rules {
            target: random_case(TARGET, &target_mask),
            drop,
            strip: vec!["List@Example.Test".into()],
            recipients: Vec::new(),
            received: received.clone(),
        };
        let mut want = received.clone().unwrap_or_default();
        let mut want_removed: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
        for (field, line) in &lines {
            match field {
                Some(i) if removed(&msg.fields[*i], drop) => want_removed.entry(*i).or_default().extend(crlf(line)),
                _ => want.extend(crlf(line)),
            }
        }
        let want_removed: Vec<Vec<u8>> = want_removed.into_values().collect();

        let out = apply(&input, &rules);
        prop_assert_eq!(out.message.escape_ascii().to_string(), want.escape_ascii().to_string());
        assert_crlf_only(&out.message)?;
        let got_removed: Vec<Vec<u8>> = out.edits.iter().filter_map(|e| match e {
            Edit::RemovedDeliveredTo { raw, .. } => Some(raw.clone()),
            _ => None,
        }).collect();
        prop_assert_eq!(got_removed, want_removed);
        prop_assert_eq!(
            out.edits.last().is_some_and(|e| matches!(e, Edit::AddedReceived { .. })),
            with_received
        );
    }

    #[test]
    fn s11_identity_rules_only_normalise(msg in message(), raw_tail in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut input = wire(&lines(&msg));
        input.extend_from_slice(&raw_tail);
        let rules = Rules { target: TARGET.into(), drop: DropDeliveredTo::None, strip: Vec::new(), recipients: Vec::new(), received: None };
        let out = apply(&input, &rules);
        prop_assert_eq!(&out.message[..], &normalize_line_endings(&input).0[..]);
        assert_crlf_only(&out.message)?;
        let all = Rules { drop: DropDeliveredTo::All, received: Some(received()), ..rules };
        assert_crlf_only(&apply(&input, &all).message)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..512)) {
        let rules = Rules { target: TARGET.into(), drop: DropDeliveredTo::All, strip: Vec::new(), recipients: Vec::new(), received: Some(received()) };
        let out = apply(&input, &rules);
        assert_crlf_only(&out.message)?;
        let _ = popfetch::headers::return_path(&input);
        prop_assert!(popfetch::headers::header_block_end(&input) <= input.len());
    }
}
