//! The pure format: encoding round trips under hostile UIDs and identities (P-16), replay rules, torn lines,
//! corruption located by line (C-07), versions (C-15), identity comparison (C-14).

use super::*;

pub(super) fn header() -> String {
    "popfetch-state 1\nserver pop.example.jp 995\nuser alice\n".to_string()
}

fn delivered(absent: u32) -> Entry {
    Entry {
        outcome: Some(Outcome::Delivered),
        pending: false,
        absent,
        ..Entry::default()
    }
}

fn corrupt_line(text: &[u8]) -> usize {
    match decode(text) {
        Err(DecodeError::Corrupt { line, .. }) => line,
        other => panic!(
            "expected Corrupt for {:?}, got {other:?}",
            String::from_utf8_lossy(text)
        ),
    }
}

pub(super) fn hostile_uids() -> Vec<String> {
    let long_a = format!("{}A", "x".repeat(69));
    let long_b = format!("{}B", "x".repeat(69));
    vec![
        "a".into(),
        "with space".into(),
        "tab\there".into(),
        "del\u{7f}".into(),
        "latin\u{80}\u{ff}é".into(),
        "100%".into(),
        "%41".into(),
        "\"quoted\"".into(),
        "back\\slash".into(),
        "#hash".into(),
        "k=v".into(),
        "a/b,c".into(),
        "line\nD injected 0".into(),
        "cr\r\n".into(),
        "nul\0".into(),
        String::new(),
        "x".repeat(4096),
        long_a,
        long_b,
    ]
}

#[test]
fn p16_encode_field_known_answers() {
    let mut out = Vec::new();
    encode_field(&mut out, "a b%\n\u{7f}é!~".as_bytes());
    assert_eq!(out, b"a%20b%25%0A%7F%C3%A9!~");
}

#[test]
fn p16_hostile_uids_round_trip_without_injection() {
    let uids = hostile_uids();
    let mut entries = BTreeMap::new();
    for (i, uid) in uids.iter().enumerate() {
        let e = match i % 3 {
            0 => delivered(i as u32 % 2),
            1 => Entry {
                outcome: Some(Outcome::Rejected(Rejection {
                    code: 554,
                    text: format!("5.7.1 no {uid}\r\nR x 0 1 2 y"),
                    unix_time: -5 + i as i64,
                })),
                pending: true,
                absent: 1,
                ..Entry::default()
            },
            _ => Entry {
                outcome: None,
                pending: true,
                absent: 0,
                ..Entry::default()
            },
        };
        entries.insert(uid.clone(), e);
    }
    let bytes = encode_snapshot(&ident(), &entries);
    // One line per outcome plus one per pending mark: no UID or text added a line.
    let expected_lines = 3 + entries
        .values()
        .map(|e| e.outcome.is_some() as usize + e.pending as usize)
        .sum::<usize>();
    assert_eq!(
        bytes.iter().filter(|&&b| b == b'\n').count(),
        expected_lines
    );
    assert!(
        bytes
            .iter()
            .all(|&b| b == b'\n' || (0x20..=0x7E).contains(&b))
    );
    let j = decode(&bytes).unwrap();
    assert_eq!(j.identity, ident());
    assert_eq!(j.entries, entries);
    assert_eq!(j.torn_line, None);
    assert_eq!(j.valid_len, bytes.len());
    assert_eq!(
        j.entries.len(),
        uids.len(),
        "the two UIDs sharing 70 chars stay distinct"
    );
}

#[test]
fn p16_hostile_identity_round_trips() {
    let id = Identity {
        host: "h ost\n".into(),
        port: 1,
        user: "user name\r\nD x 0".into(),
    };
    let j = decode(&encode_header(&id)).unwrap();
    assert_eq!(j.identity, id);
    assert!(j.entries.is_empty());
}

#[test]
fn number_extremes_round_trip() {
    for (code, unix_time, absent) in [
        (0, i64::MIN, u32::MAX),
        (u16::MAX, i64::MAX, 0),
        (550, 0, 1),
    ] {
        let rejection = Rejection {
            code,
            text: String::new(),
            unix_time,
        };
        let mut bytes = encode_header(&Identity {
            port: u16::MAX,
            ..ident()
        });
        bytes.extend(encode_record(&Record::Rejected {
            uid: "u",
            absent,
            rejection: &rejection,
        }));
        let j = decode(&bytes).unwrap();
        assert_eq!(j.identity.port, u16::MAX);
        let e = &j.entries["u"];
        assert_eq!(
            (e.outcome.clone(), e.absent),
            (Some(Outcome::Rejected(rejection)), absent)
        );
    }
}

#[test]
fn replay_rules() {
    let text = format!(
        "{}B m1 0\nD m1 0\nB m2 0\nA m2\nD m3 1\nB m3 0\nD m4 0\nD m4 0\nA nothing\nD k1 0\nK k1 1\n",
        header()
    );
    let j = decode(text.as_bytes()).unwrap();
    assert_eq!(j.entries.get("m1"), Some(&delivered(0)));
    // A later K turns a delivered entry into a kept one (issue 18); it survives a snapshot.
    let kept = Entry {
        outcome: Some(Outcome::Kept),
        pending: false,
        absent: 1,
        ..Entry::default()
    };
    assert_eq!(j.entries.get("k1"), Some(&kept));
    let again = decode(&encode_snapshot(&ident(), &j.entries)).unwrap();
    assert_eq!(again.entries, j.entries);
    assert_eq!(
        j.entries.get("m2"),
        None,
        "begin then abandon leaves nothing"
    );
    assert_eq!(
        j.entries.get("m3"),
        Some(&Entry {
            outcome: Some(Outcome::Delivered),
            pending: true,
            absent: 0,
            ..Entry::default()
        })
    );
    assert_eq!(
        j.entries.get("m4"),
        Some(&delivered(0)),
        "duplicate records are tolerated (C-07)"
    );
    assert_eq!(j.entries.len(), 4);
}

#[test]
fn torn_last_line_is_ignored() {
    let good = format!("{}D m1 0\n", header());
    let text = format!("{good}D m2 0");
    let j = decode(text.as_bytes()).unwrap();
    assert_eq!(j.torn_line, Some(5));
    assert_eq!(j.valid_len, good.len());
    assert!(j.entries.contains_key("m1"));
    assert!(!j.entries.contains_key("m2"));
    // A torn line may be any garbage: it was never complete.
    let j = decode(format!("{good}\u{1}\u{2}R %ZZ").as_bytes()).unwrap();
    assert_eq!(j.torn_line, Some(5));
}

#[test]
fn c07_corruption_cases_name_their_line() {
    let h = header();
    let cases: Vec<(Vec<u8>, usize)> = vec![
        (b"".to_vec(), 1),
        (b"popfetch-state 1".to_vec(), 1),
        (b"\x00\xff\x13garbage\nmore\n".to_vec(), 1),
        (b"popfetch-state one\n".to_vec(), 1),
        (b"popfetch-state 01\n".to_vec(), 1),
        (b"popfetch-state 1\r\nserver h 1\r\nuser u\r\n".to_vec(), 1),
        (b"popfetch-state 1\n".to_vec(), 2),
        (b"popfetch-state 1\nserver pop.example.jp 995\n".to_vec(), 3),
        (b"popfetch-state 1\nuser alice\nserver h 1\n".to_vec(), 2),
        (b"popfetch-state 1\nserver h 99999\nuser u\n".to_vec(), 2),
        (b"popfetch-state 1\nserver h\nuser u\n".to_vec(), 2),
        (b"popfetch-state 1\nserver h 1\nuser u v\n".to_vec(), 3),
        (format!("{h}X m1 0\n").into_bytes(), 4),
        (format!("{h}D m1 0\n\n").into_bytes(), 5),
        (format!("{h}D m1 0\nD m2\n").into_bytes(), 5),
        (format!("{h}D m1 0 extra\n").into_bytes(), 4),
        (format!("{h}D m1  0\n").into_bytes(), 4),
        (format!("{h}D m1 -1\n").into_bytes(), 4),
        (format!("{h}D m1 +1\n").into_bytes(), 4),
        (format!("{h}D m1 00\n").into_bytes(), 4),
        (format!("{h}D m1 0\r\n").into_bytes(), 4),
        (format!("{h}D m%4 0\n").into_bytes(), 4),
        (format!("{h}D m%FF 0\n").into_bytes(), 4),
        (format!("{h}D m\u{e9} 0\n").into_bytes(), 4),
        (format!("{h}D m\t1 0\n").into_bytes(), 4),
        (format!("{h}R m1 0 70000 1 text\n").into_bytes(), 4),
        (format!("{h}R m1 0 550 -0 text\n").into_bytes(), 4),
        (format!("{h}R m1 0 550 1\n").into_bytes(), 4),
        (format!("{h}A m1 0\n").into_bytes(), 4),
        (
            format!("{h}D m1 0\nserver other.example 995\n").into_bytes(),
            5,
        ),
        (format!("{h}user bob\n").into_bytes(), 4),
        (format!("{h}popfetch-state 2\n").into_bytes(), 4),
        (
            format!("{h}D m1 0\nD m2 0\nB m3 0\nB m4 0 0\nD m5 0").into_bytes(),
            7,
        ),
    ];
    for (text, line) in cases {
        assert_eq!(
            corrupt_line(&text),
            line,
            "{:?}",
            String::from_utf8_lossy(&text)
        );
    }
}

#[test]
fn c07_identical_duplicate_header_is_tolerated() {
    let text = format!(
        "{h}D m1 0\nserver POP.example.jp 995\nuser alice\npopfetch-state 1\n",
        h = header()
    );
    // The host is compared exactly here: a differently spelled duplicate is suspicious.
    assert_eq!(corrupt_line(text.as_bytes()), 5);
    let text = format!(
        "{h}D m1 0\nserver pop.example.jp 995\nuser alice\npopfetch-state 1\n",
        h = header()
    );
    assert_eq!(decode(text.as_bytes()).unwrap().entries.len(), 1);
}

#[test]
fn c15_unknown_version_is_unsupported() {
    for (text, version) in [
        ("popfetch-state 3\nanything at all\n", 3),
        ("popfetch-state 0\n", 0),
    ] {
        assert_eq!(
            decode(text.as_bytes()),
            Err(DecodeError::UnsupportedVersion { version })
        );
    }
}

#[test]
fn c14_identity_comparison() {
    let a = ident();
    assert!(a.same_account(&Identity {
        host: "POP.Example.JP".into(),
        ..ident()
    }));
    assert!(!a.same_account(&Identity {
        user: "Alice".into(),
        ..ident()
    }));
    // The port is not part of the identity: STLS on 110 and implicit TLS on 995 reach the same maildrop.
    assert!(a.same_account(&Identity {
        port: 110,
        ..ident()
    }));
    assert!(!a.same_account(&Identity {
        host: "pop.example.com".into(),
        ..ident()
    }));
    assert_eq!(format::PRUNE_AFTER, 2);
}

proptest! {
    #[test]
    fn p16_any_uid_and_text_round_trip(uid in any::<String>(), text in any::<String>(), code: u16, t: i64, absent: u32) {
        let rejection = Rejection { code, text, unix_time: t };
        let mut bytes = encode_header(&ident());
        bytes.extend(encode_record(&Record::Rejected { uid: &uid, absent, rejection: &rejection }));
        let j = decode(&bytes).unwrap();
        let e = j.entries.get(&uid).unwrap();
        prop_assert_eq!(e.outcome.clone(), Some(Outcome::Rejected(rejection)));
        prop_assert_eq!(e.absent, absent);
    }
}
