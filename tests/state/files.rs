//! `State` on disk: creation and modes (T-22), the lock (C-09), durability across reopen (C-03, C-04),
//! compaction (C-06, C-12), refusal of corrupt, foreign and newer files (C-07, C-14, C-15), hostile paths.

use super::*;

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
fn group_commit_hands_back_a_dele_only_after_an_fsync_covered_its_record() {
    // Issue 11 (src/state/group.rs): "delivered m1" is appended without its own fsync; its DELE token comes back
    // only once the next fsync (m2's *begun* record, or `sync`) covered it (invariant 1).
    let tmp = tempfile::tempdir().unwrap();
    let mut s = open(tmp.path()).unwrap();
    s.begin("m1").unwrap();
    s.record_delivered_deferred("m1", 1).unwrap();
    assert!(s.is_delivered("m1"));
    assert_eq!(s.take_durable(), Vec::<u32>::new(), "not fsynced yet");
    s.begin("m2").unwrap();
    assert_eq!(s.take_durable(), vec![1]);
    assert_eq!(s.take_durable(), Vec::<u32>::new(), "handed back once");
    s.record_delivered_deferred("m2", 2).unwrap();
    s.begin("m3").unwrap();
    s.record_delivered_deferred("m3", 3).unwrap();
    s.sync().unwrap();
    assert_eq!(s.take_durable(), vec![2, 3], "in the order recorded");
    s.sync().unwrap();
    assert_eq!(s.take_durable(), Vec::<u32>::new());
    drop(s);
    // The records themselves are in the journal: all three delivered, none interrupted.
    let s = open(tmp.path()).unwrap();
    assert!(s.is_delivered("m1") && s.is_delivered("m2") && s.is_delivered("m3"));
    assert!(s.interrupted().is_empty());
}

#[test]
fn group_commit_on_a_first_write_keeps_the_file_header_and_waits_for_begin() {
    // A deferred record that creates the file: the header is written (and fsynced) by the creation, the record
    // itself still waits for an fsync before its DELE may go.
    let tmp = tempfile::tempdir().unwrap();
    let mut s = open(tmp.path()).unwrap();
    s.record_delivered_deferred("m1", 7).unwrap();
    assert_eq!(s.take_durable(), Vec::<u32>::new());
    s.sync().unwrap();
    assert_eq!(s.take_durable(), vec![7]);
    drop(s);
    assert!(open(tmp.path()).unwrap().is_delivered("m1"));
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
            "files::t22_child_creates_files",
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
