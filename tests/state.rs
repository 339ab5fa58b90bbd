//! Black-box tests of `popfetch::state`: the pure format ([`format::decode`] / encode) and the file handling
//! (`State`), named after the catalog cases they cover (C-xx, P-16, T-22).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use popfetch::error::ExitClass;
use popfetch::state::format::{
    self, DecodeError, Entry, Identity, Outcome, Record, Rejection, decode, encode_field,
    encode_header, encode_record, encode_snapshot,
};
use popfetch::state::{State, StateError};
use proptest::prelude::*;

fn ident() -> Identity {
    Identity {
        host: "pop.example.jp".into(),
        port: 995,
        user: "alice".into(),
    }
}

fn header() -> String {
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

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

fn hostile_uids() -> Vec<String> {
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

// ---- pure format ----

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

// ---- files, lock, durability ----

fn open(dir: &Path) -> Result<State, StateError> {
    State::open(dir, "acct", &ident())
}

fn listing(uids: &[&str]) -> Vec<String> {
    uids.iter().map(|u| u.to_string()).collect()
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn fresh_state_is_created_on_first_write_with_safe_modes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a/b/state");
    let mut s = open(&dir).unwrap();
    assert!(!s.existed());
    assert!(!s.path().exists(), "opening writes no state file");
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("acct.lock")), 0o600);
    s.record_delivered("m1").unwrap();
    assert_eq!(s.path(), dir.join("acct.state"));
    assert_eq!(mode(s.path()), 0o600);
    assert_eq!(
        fs::read_to_string(s.path()).unwrap(),
        format!("{}D m1 0\n", header())
    );
}

#[test]
fn c09_second_open_is_locked_and_lock_released_on_drop() {
    let tmp = tempfile::tempdir().unwrap();
    let first = open(tmp.path()).unwrap();
    let err = open(tmp.path()).unwrap_err();
    assert!(matches!(err, StateError::Locked { .. }), "{err:?}");
    assert_eq!(err.class(), ExitClass::TempFail);
    assert_eq!(err.class().code(), 75);
    assert!(err.to_string().contains("another popfetch holds the lock"));
    // Another account in the same directory is independent.
    State::open(tmp.path(), "other", &ident()).unwrap();
    drop(first);
    open(tmp.path()).unwrap();
}

#[test]
fn c04_delivered_and_rejected_survive_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = open(tmp.path()).unwrap();
    for uid in hostile_uids() {
        s.begin(&uid).unwrap();
        s.record_delivered(&uid).unwrap();
    }
    s.begin("bad").unwrap();
    s.record_rejected("bad", 554, "5.7.1 spam\r\nlooks bad")
        .unwrap();
    drop(s);
    let s = open(tmp.path()).unwrap();
    assert!(s.existed());
    for uid in hostile_uids() {
        assert!(s.is_delivered(&uid), "{uid:?}");
    }
    assert!(!s.is_delivered("bad"));
    assert!(!s.is_delivered("never"));
    let r = s.rejection("bad").unwrap();
    assert_eq!((r.code, r.text.as_str()), (554, "5.7.1 spam\r\nlooks bad"));
    assert!(r.unix_time > 1_700_000_000);
    assert_eq!(s.rejections().count(), 1);
    assert_eq!(s.delivered_count(), hostile_uids().len());
    assert!(s.interrupted().is_empty());
}

#[test]
fn rejection_text_is_capped() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = open(tmp.path()).unwrap();
    s.record_rejected("m", 550, &"é".repeat(2000)).unwrap();
    let text = &s.rejection("m").unwrap().text;
    assert!(text.len() <= popfetch::state::MAX_REJECTION_TEXT && text.len() >= 998);
}

#[test]
fn c03_begin_without_outcome_is_interrupted_after_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = open(tmp.path()).unwrap();
    s.begin("m1").unwrap();
    s.begin("m2").unwrap();
    s.begin("m3").unwrap();
    s.record_delivered("m3").unwrap();
    assert!(
        s.interrupted().is_empty(),
        "marks of this run are not 'earlier'"
    );
    drop(s); // killed between the MTA's 250 and the record
    let mut s = open(tmp.path()).unwrap();
    assert_eq!(s.interrupted(), vec!["m1".to_string(), "m2".to_string()]);
    assert!(s.is_interrupted("m1") && !s.is_interrupted("m3"));
    assert!(
        !s.is_delivered("m1"),
        "an interrupted UID is delivered again (at-least-once)"
    );
    // m1 is retried and the MTA says 4xx: the earlier mark stays for the run that finally delivers it.
    s.begin("m1").unwrap();
    s.record_abandoned("m1").unwrap();
    s.begin("m2").unwrap();
    s.record_delivered("m2").unwrap();
    assert_eq!(s.interrupted(), vec!["m1".to_string()]);
    drop(s);
    let mut s = open(tmp.path()).unwrap();
    assert_eq!(s.interrupted(), vec!["m1".to_string()]);
    s.record_rejected("m1", 550, "no").unwrap();
    assert!(s.interrupted().is_empty());
    drop(s);
    assert!(open(tmp.path()).unwrap().interrupted().is_empty());
}

#[test]
fn abandon_in_this_run_clears_the_mark() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = open(tmp.path()).unwrap();
    s.begin("m1").unwrap();
    s.record_abandoned("m1").unwrap();
    s.record_abandoned("never-begun").unwrap();
    drop(s);
    let s = open(tmp.path()).unwrap();
    assert!(s.interrupted().is_empty());
    assert!(!s.is_delivered("m1"));
}

#[test]
fn clear_rejections_forgets_them_durably() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = open(tmp.path()).unwrap();
    s.record_rejected("r1", 550, "no").unwrap();
    s.record_rejected("r2", 554, "no").unwrap();
    s.record_delivered("d1").unwrap();
    s.clear_rejections().unwrap();
    assert!(s.rejection("r1").is_none());
    drop(s);
    let s = open(tmp.path()).unwrap();
    assert_eq!(s.rejections().count(), 0);
    assert!(s.is_delivered("d1"));
    assert_eq!(dir_names(tmp.path()), ["acct.lock", "acct.state"]);
}

#[test]
fn c12_compact_prunes_only_after_two_absences() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = open(tmp.path()).unwrap();
    for uid in ["m1", "m2", "m3"] {
        s.record_delivered(uid).unwrap();
    }
    s.record_rejected("r1", 550, "no").unwrap();
    s.compact(&listing(&["m1", "m2", "m3", "r1"])).unwrap();
    // The server lists nothing once (index rebuild): nothing is forgotten.
    s.compact(&[]).unwrap();
    for uid in ["m1", "m2", "m3"] {
        assert!(s.is_delivered(uid));
    }
    drop(s);
    let mut s = open(tmp.path()).unwrap();
    assert!(
        s.is_delivered("m1") && s.rejection("r1").is_some(),
        "the absence count survives reopen"
    );
    // Back again except m3 and r1: m1/m2 are reset, m3/r1 reach two consecutive absences and go.
    s.compact(&listing(&["m1", "m2"])).unwrap();
    assert!(s.is_delivered("m1") && s.is_delivered("m2"));
    assert!(!s.is_delivered("m3") && s.rejection("r1").is_none());
    s.compact(&[]).unwrap();
    assert!(
        s.is_delivered("m1"),
        "one absence after a reset prunes nothing"
    );
    s.compact(&[]).unwrap();
    assert!(!s.is_delivered("m1") && !s.is_delivered("m2"));
    drop(s);
    let s = open(tmp.path()).unwrap();
    assert_eq!(s.delivered_count(), 0);
    assert_eq!(fs::read_to_string(s.path()).unwrap(), header());
}

#[test]
fn c06_compact_rewrites_atomically_and_ignores_a_stale_temp() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = open(tmp.path()).unwrap();
    s.begin("m1").unwrap();
    s.record_delivered("m1").unwrap();
    s.begin("m2").unwrap();
    drop(s);
    // A crash after writing the temp file and before the rename left it behind.
    let stale = tmp.path().join("acct.state.tmp");
    fs::write(&stale, b"popfetch-state 1\nhalf writ").unwrap();
    let mut s = open(tmp.path()).unwrap();
    assert!(s.is_delivered("m1"));
    s.compact(&listing(&["m1", "m2"])).unwrap();
    assert_eq!(dir_names(tmp.path()), ["acct.lock", "acct.state"]);
    assert_eq!(mode(s.path()), 0o600);
    assert_eq!(
        fs::read_to_string(s.path()).unwrap(),
        format!("{}D m1 0\nB m2 0\n", header())
    );
    // Appends after a compaction go to the new file.
    s.record_delivered("m3").unwrap();
    s.probe_writable().unwrap();
    drop(s);
    let s = open(tmp.path()).unwrap();
    assert!(s.is_delivered("m3"));
    assert_eq!(s.interrupted(), vec!["m2".to_string()]);
    assert_eq!(dir_names(tmp.path()), ["acct.lock", "acct.state"]);
}

#[test]
fn torn_tail_is_cut_before_the_next_append() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("acct.state");
    fs::write(&path, format!("{}D m1 0\nD m2", header())).unwrap();
    let mut s = open(tmp.path()).unwrap();
    assert!(s.is_delivered("m1") && !s.is_delivered("m2"));
    s.record_delivered("m3").unwrap();
    drop(s);
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        format!("{}D m1 0\nD m3 0\n", header())
    );
    assert!(open(tmp.path()).unwrap().is_delivered("m3"));
}

fn refused_untouched(contents: &[u8], expect: impl Fn(&StateError) -> bool) -> StateError {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("acct.state");
    fs::write(&path, contents).unwrap();
    let err = open(tmp.path()).unwrap_err();
    assert!(expect(&err), "{err:?}");
    assert_eq!(err.class(), ExitClass::State);
    assert_eq!(err.class().code(), 74);
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert_eq!(
        fs::read(&path).unwrap(),
        contents,
        "the file is left in place"
    );
    err
}

#[test]
fn c07_corrupt_files_refuse_the_account() {
    let h = header();
    for (contents, want) in [
        (Vec::new(), 1),
        (b"\x89PNG\r\n\x1a\n\0\0".to_vec(), 1),
        (format!("{h}D m1 0\nD m%2 0\nD m3 0\n").into_bytes(), 5),
        (h.as_bytes()[..30].to_vec(), 2),
    ] {
        let err = refused_untouched(&contents, |e| matches!(e, StateError::Corrupt { .. }));
        let StateError::Corrupt { line, .. } = err else {
            unreachable!()
        };
        assert_eq!(line, want);
    }
}

#[test]
fn c14_foreign_state_is_refused() {
    let other = encode_header(&Identity {
        host: "pop.other.example".into(),
        port: 995,
        user: "alice".into(),
    });
    let err = refused_untouched(&other, |e| matches!(e, StateError::Foreign { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("alice@pop.other.example:995") && msg.contains("alice@pop.example.jp:995"),
        "{msg}"
    );
    assert!(msg.contains("move the file away"), "{msg}");
    assert!(
        msg.contains("popfetch run --mark-seen --account acct"),
        "{msg}"
    );
    let bob = encode_header(&Identity {
        user: "Alice".into(),
        ..ident()
    });
    refused_untouched(&bob, |e| matches!(e, StateError::Foreign { .. }));
    // Host names compare case-insensitively.
    let tmp = tempfile::tempdir().unwrap();
    fs::write(
        tmp.path().join("acct.state"),
        encode_header(&Identity {
            host: "POP.EXAMPLE.JP".into(),
            ..ident()
        }),
    )
    .unwrap();
    open(tmp.path()).unwrap();
    // Another port on the same host and user is the same maildrop (STLS on 110 moved to 995).
    let tmp = tempfile::tempdir().unwrap();
    fs::write(
        tmp.path().join("acct.state"),
        encode_header(&Identity {
            port: 110,
            ..ident()
        }),
    )
    .unwrap();
    open(tmp.path()).unwrap();
}

#[test]
fn c15_newer_version_is_refused_untouched() {
    let err = refused_untouched(b"popfetch-state 3\nserver x 1\nuser y\nZ new 1\n", |e| {
        matches!(e, StateError::UnsupportedVersion { version: 3, .. })
    });
    assert!(err.to_string().contains("newer popfetch"));
}

#[test]
fn t22_symlink_at_state_or_lock_path_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("victim");
    fs::write(&target, b"precious\n").unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).unwrap();

    let dir = tmp.path().join("state");
    fs::create_dir(&dir).unwrap();
    std::os::unix::fs::symlink(&target, dir.join("acct.state")).unwrap();
    let err = open(&dir).unwrap_err();
    assert!(matches!(err, StateError::Unsafe { .. }), "{err:?}");
    assert_eq!(err.class(), ExitClass::State);
    // A dangling link must not be followed to create its target either.
    let dangling = tmp.path().join("created-by-link");
    std::os::unix::fs::symlink(&dangling, dir.join("b.state")).unwrap();
    assert!(matches!(
        State::open(&dir, "b", &ident()),
        Err(StateError::Unsafe { .. })
    ));
    assert!(!dangling.exists());

    std::os::unix::fs::symlink(&target, dir.join("c.lock")).unwrap();
    assert!(matches!(
        State::open(&dir, "c", &ident()),
        Err(StateError::Unsafe { .. })
    ));

    assert_eq!(fs::read(&target).unwrap(), b"precious\n");
    assert_eq!(mode(&target), 0o644);
}

#[test]
fn account_names_that_are_not_file_names_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for bad in ["", ".hidden", "../escape", "a/b", "nul\0"] {
        let err = State::open(tmp.path(), bad, &ident()).unwrap_err();
        assert!(
            matches!(err, StateError::AccountName { .. }),
            "{bad:?}: {err:?}"
        );
    }
    assert!(dir_names(tmp.path()).is_empty());
}

/// Runs only as the child of `t22_modes_under_umask_000`, which sets `POPFETCH_T22_DIR` and umask 000.
#[test]
#[ignore = "helper: run by t22_modes_under_umask_000 in a child process"]
fn t22_child_creates_files() {
    let Some(base) = std::env::var_os("POPFETCH_T22_DIR") else {
        return;
    };
    let base = Path::new(&base);
    // Prove the umask really is 000 here: a plain create gets 0666.
    let probe = base.join("probe");
    fs::File::create(&probe).unwrap();
    assert_eq!(mode(&probe), 0o666, "the child did not run with umask 000");
    let mut s = open(&base.join("state")).unwrap();
    s.record_delivered("m1").unwrap();
    s.compact(&listing(&["m1"])).unwrap();
    fs::write(base.join("done"), b"").unwrap();
}

#[test]
fn t22_modes_under_umask_000() {
    let tmp = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let status = std::process::Command::new("/bin/sh")
        .args(["-c", "umask 000 && exec \"$0\" \"$@\""])
        .arg(&exe)
        .args([
            "--exact",
            "t22_child_creates_files",
            "--ignored",
            "--test-threads=1",
        ])
        .env("POPFETCH_T22_DIR", tmp.path())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        tmp.path().join("done").exists(),
        "the child test did not run"
    );
    let dir = tmp.path().join("state");
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("acct.state")), 0o600);
    assert_eq!(mode(&dir.join("acct.lock")), 0o600);
}
