//! Per-recipient state of multidrop messages (issue 15, format version 2): catalog M-08..M-10.

use std::fs;

use popfetch::state::format::{DecodeError, decode};
use popfetch::state::{Identity, State};

fn ident() -> Identity {
    Identity {
        host: "pop.example.jp".into(),
        port: 995,
        user: "office".into(),
    }
}

fn text(dir: &std::path::Path) -> String {
    fs::read_to_string(dir.join("isp.state")).unwrap()
}

#[test]
fn m08_recipients_are_journalled_and_survive_a_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = State::open(tmp.path(), "isp", &ident()).unwrap();
    s.record_delivered("old").unwrap();
    assert!(text(tmp.path()).starts_with("popfetch-state 1\n"));
    s.begin("m1").unwrap();
    s.record_recipients(
        "m1",
        &["taro@example.org".into()],
        &[("gone@example.org".into(), 550, "5.1.1 no such user".into())],
    )
    .unwrap();
    // The first per-recipient records turn the file into version 2, with the records in it.
    let t = text(tmp.path());
    assert!(t.starts_with("popfetch-state 2\n"), "{t}");
    assert!(t.contains("\nP m1 0 taro@example.org\n"), "{t}");
    assert!(t.contains("\nX m1 0 gone@example.org 550 "), "{t}");
    // Later records are appended to the version 2 file.
    s.record_recipients("m1", &["hanako@example.org".into()], &[])
        .unwrap();
    assert!(text(tmp.path()).ends_with("P m1 0 hanako@example.org\n"));
    drop(s);

    let mut s = State::open(tmp.path(), "isp", &ident()).unwrap();
    assert_eq!(
        s.served("m1").into_iter().collect::<Vec<_>>(),
        ["hanako@example.org", "taro@example.org"]
    );
    let refused = s.refused("m1");
    assert_eq!(refused.len(), 1);
    assert_eq!(
        (refused[0].0.as_str(), refused[0].1.code),
        ("gone@example.org", 550)
    );
    assert!(!s.is_delivered("m1"));
    assert_eq!(s.interrupted(), ["m1"], "the begin mark is still open");
    // Settled: D keeps the recipients, so the journal says who got it until the UID is pruned.
    s.record_delivered("m1").unwrap();
    assert!(s.is_delivered("m1"));
    assert_eq!(s.served("m1").len(), 2);
    s.compact(&["m1".into()]).unwrap();
    let t = text(tmp.path());
    assert!(t.starts_with("popfetch-state 2\n"), "{t}");
    assert_eq!(decode(t.as_bytes()).unwrap().entries["m1"].served.len(), 2);
    // Once the UID is pruned, the file is version 1 again.
    s.compact(&[]).unwrap();
    s.compact(&[]).unwrap();
    assert!(text(tmp.path()).starts_with("popfetch-state 1\n"));
}

#[test]
fn m09_a_served_recipient_refused_later_is_refused_and_the_reverse() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = State::open(tmp.path(), "isp", &ident()).unwrap();
    s.record_recipients("m", &[], &[("a@x.test".into(), 550, "no".into())])
        .unwrap();
    s.record_recipients("m", &["a@x.test".into()], &[]).unwrap();
    assert!(s.refused("m").is_empty());
    assert_eq!(s.served("m").len(), 1);
    // Nothing to record writes nothing.
    let before = text(tmp.path());
    s.record_recipients("m", &[], &[]).unwrap();
    assert_eq!(text(tmp.path()), before);
}

#[test]
fn m10_per_recipient_records_need_version_2() {
    let v1 = "popfetch-state 1\nserver h 1\nuser u\nP m 0 a@x.test\n";
    assert!(matches!(
        decode(v1.as_bytes()),
        Err(DecodeError::Corrupt { line: 4, .. })
    ));
    let v2 = "popfetch-state 2\nserver h 1\nuser u\nP m 0 a@x.test\nX m 0 b@x.test 550 17 no%20such\nD m 0\n";
    let j = decode(v2.as_bytes()).unwrap();
    let e = &j.entries["m"];
    assert_eq!(j.version, 2);
    assert_eq!(e.served.iter().collect::<Vec<_>>(), ["a@x.test"]);
    assert_eq!(e.refused["b@x.test"].text, "no such");
    for bad in [
        "P m 0\n",
        "P m x a@x.test\n",
        "X m 0 b@x.test 550 17\n",
        "X m 0 b@x.test 5x0 17 no\n",
    ] {
        let t = format!("popfetch-state 2\nserver h 1\nuser u\n{bad}");
        assert!(
            matches!(
                decode(t.as_bytes()),
                Err(DecodeError::Corrupt { line: 4, .. })
            ),
            "{bad}"
        );
    }
}
