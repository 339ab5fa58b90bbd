//! Fuzz the header scanner and splicer (src/headers/) with random messages and random rules.
//!
//! Input layout (text-friendly, so seeds are readable): the first line configures, the rest is the message.
//! Config byte 0: `a` drop all, `n` drop none, anything else matching; byte 1: `r` prepends a Received field;
//! the remaining bytes, split at spaces: the target, then up to four `strip_delivered_to` addresses (they also
//! feed the Received field's host and UID). An input without LF is all message, with default rules.
//!
//! `apply` is checked against a model built from Postfix's header rules (fuzz/src/lib.rs): the output must be
//! exactly the Received field, then the normalised message with the selected `Delivered-To` fields cut out
//! (invariant 7, H-01..H-18). Also: no bare CR or LF in the output (invariant 6, H-18); filtering twice changes
//! nothing; `header_block_end` agrees with the model and stays within the input; `return_path` only yields
//! addresses that pass `valid_envelope_address` (S-16); `normalize_address` never panics and yields lower-case
//! addresses; the Received field is one well-formed, folded, printable field (H-15).
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use popfetch::config::DropDeliveredTo;
use popfetch::headers::{
    self, Edit, ReceivedInfo, RemovalReason, ReturnPath, Rules, normalize_address,
    normalize_line_endings, valid_envelope_address,
};
use popfetch_fuzz::{has_bare_cr_or_lf, header_section_model, normalize_model};

fuzz_target!(init: popfetch_fuzz::self_check(), |data: &[u8]| {
    let (config, raw) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b""[..], data),
    };
    let rules = rules_from(config);
    if let Some(received) = &rules.received {
        check_received(received);
    }
    check_apply(raw, &rules);
    check_scanners(raw);
});

fn rules_from(config: &[u8]) -> Rules {
    let drop = match config.first() {
        Some(b'a') => DropDeliveredTo::All,
        Some(b'n') => DropDeliveredTo::None,
        _ => DropDeliveredTo::Matching,
    };
    let words: Vec<String> = config
        .get(2..)
        .unwrap_or_default()
        .split(|&b| b == b' ')
        .filter(|w| !w.is_empty())
        .take(5)
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    let target = words
        .first()
        .cloned()
        .unwrap_or_else(|| "joe@example.test".to_owned());
    let strip = words.get(1..).unwrap_or_default().to_vec();
    let received = (config.get(1) == Some(&b'r')).then(|| {
        let seed = config
            .iter()
            .fold(0i64, |h, &b| h.wrapping_mul(131).wrapping_add(i64::from(b)));
        headers::received_field(&ReceivedInfo {
            server_host: strip
                .last()
                .cloned()
                .unwrap_or_else(|| "pop.example.test".into()),
            server_ip: match seed.rem_euclid(3) {
                0 => None,
                1 => Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))),
                _ => Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            },
            by_host: "mx.example.org".into(),
            encrypted: seed & 1 == 1,
            uid: strip.first().cloned().unwrap_or_else(|| "uid-1".into()),
            target: target.clone(),
            unix_time: seed,
        })
    });
    let recipients = strip.iter().skip(1).step_by(2).cloned().collect();
    Rules {
        target,
        drop,
        strip,
        // Multidrop recipients (issue 15): a subset of the strip list, so the oracle's set of removed fields is
        // unchanged while the fields naming a recipient must be logged as such (the rule checks recipients first).
        recipients,
        received,
    }
}

/// H-15: one field, CRLF lines no longer than 998 octets, continuation lines start with TAB, printable ASCII.
fn check_received(received: &[u8]) {
    // A long host name may fold right after `from`.
    let unfolded: Vec<u8> = received
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    assert!(unfolded.starts_with(b"Received: from ") || unfolded.starts_with(b"Received: from\t"));
    assert!(received.ends_with(b"\r\n"));
    assert!(!has_bare_cr_or_lf(received));
    assert!(
        received
            .iter()
            .all(|&b| b.is_ascii_graphic() || matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
    );
    let body = received.strip_suffix(b"\r\n").unwrap_or(received);
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        assert!(line.len() <= 998, "line {i} is {} octets", line.len());
        assert!(i == 0 || line.starts_with(b"\t"), "line {i} does not fold");
    }
    let (fields, end) = header_section_model(received, false);
    assert_eq!((fields.len(), end), (1, received.len()));
    assert_eq!(headers::header_block_end(received), received.len());
}

/// The rule, from the design's text: which `Delivered-To` values go.
fn selected(rules: &Rules, value: &[u8]) -> bool {
    let norm = |a: &str| normalize_address(a.as_bytes()).unwrap_or_else(|| a.to_ascii_lowercase());
    match rules.drop {
        DropDeliveredTo::None => false,
        DropDeliveredTo::All => true,
        DropDeliveredTo::Matching => match normalize_address(value) {
            None => false,
            Some(a) => a == norm(&rules.target) || rules.strip.iter().any(|s| a == norm(s)),
        },
    }
}

fn check_apply(raw: &[u8], rules: &Rules) {
    let (normalized, bare_lf, bare_cr) = normalize_line_endings(raw);
    assert_eq!(*normalized, normalize_model(raw));
    let received = rules.received.as_deref().unwrap_or_default();

    // The model: Received, then the normalised message minus the selected Delivered-To fields.
    let (fields, _) = header_section_model(&normalized, rules.received.is_some());
    let cut: Vec<_> = fields
        .iter()
        .filter(|f| f.name.eq_ignore_ascii_case(b"Delivered-To") && selected(rules, f.value))
        .collect();
    let mut want = received.to_vec();
    let mut copied = 0;
    for f in &cut {
        want.extend_from_slice(&normalized[copied..f.start]);
        copied = f.end;
    }
    want.extend_from_slice(&normalized[copied..]);

    let got = headers::apply(raw, rules);
    assert_eq!(got.message, want, "apply differs from the model");
    assert!(
        !has_bare_cr_or_lf(&got.message),
        "bare CR or LF in the output"
    );
    assert!(got.message.len() <= received.len() + normalized.len());
    if rules.drop == DropDeliveredTo::None {
        assert_eq!(&got.message[received.len()..], &*normalized);
    }

    // The edit log says exactly what happened, in order.
    let mut edits = got.edits.iter();
    if bare_lf + bare_cr > 0 {
        assert_eq!(
            edits.next(),
            Some(&Edit::NormalizedLineEndings { bare_lf, bare_cr })
        );
    }
    for f in &cut {
        match edits.next() {
            Some(Edit::RemovedDeliveredTo {
                raw,
                address,
                reason,
            }) => {
                assert_eq!(raw, &normalized[f.start..f.end]);
                match reason {
                    RemovalReason::DropAll => assert_eq!(rules.drop, DropDeliveredTo::All),
                    RemovalReason::EqualsTarget(t) => assert_eq!(t, &rules.target),
                    RemovalReason::InStripList(s) => assert!(rules.strip.contains(s)),
                    RemovalReason::Recipient(r) => assert!(rules.recipients.contains(r)),
                }
                assert!(
                    !address.contains(['\r', '\n']),
                    "log text with a line break"
                );
            }
            other => panic!("expected a removal, got {other:?}"),
        }
    }
    if let Some(r) = &rules.received {
        assert_eq!(edits.next(), Some(&Edit::AddedReceived { raw: r.clone() }));
    }
    assert_eq!(edits.next(), None);

    // Filtering is idempotent: nothing the rule selects survives where Postfix would look.
    let again = headers::apply(
        &got.message,
        &Rules {
            received: None,
            ..rules.clone()
        },
    );
    assert_eq!(again.message, got.message, "a second pass removed more");
    assert!(again.edits.is_empty());
    assert_eq!(
        headers::header_block_end(&got.message),
        header_section_model(&got.message, false).1
    );
}

fn check_scanners(raw: &[u8]) {
    let end = headers::header_block_end(raw);
    assert!(end <= raw.len());
    let (normalized, _, _) = normalize_line_endings(raw);
    assert_eq!(
        headers::header_block_end(&normalized),
        header_section_model(&normalized, false).1
    );
    // Idempotent, and only CRLF line ends (the normalize_dotstuff target goes further).
    let (twice, lf, cr) = normalize_line_endings(&normalized);
    assert_eq!((&*twice, lf, cr), (&*normalized, 0, 0));

    match headers::return_path(raw) {
        ReturnPath::Address(a) => {
            assert!(valid_envelope_address(&a), "unsafe MAIL FROM {a:?}");
            assert!(!a.contains(['\r', '\n', '\0', ' ', '<', '>']));
        }
        ReturnPath::Absent | ReturnPath::Null | ReturnPath::Invalid => {}
    }
    for input in [raw, &*normalized] {
        if let Some(a) = normalize_address(input) {
            assert!(a.contains('@'));
            assert!(!a.contains(['\r', '\n']));
            assert!(!a.bytes().any(|b| b.is_ascii_uppercase()));
        }
    }
}
