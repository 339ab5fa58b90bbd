//! End-to-end tests of the local destinations (issue 12): `delivery = "maildir"` and `delivery = "mda"`, the built
//! binary against the scripted fake POP3 server. Each test asserts the bytes that arrived, what is left on the
//! server, the state, and the exit status. Real MDAs (procmail, dovecot-lda) are in the interop suite.

mod support;

use std::path::{Path, PathBuf};

use support::large::*;
use support::run::toml_str;
use support::world::*;
use support::*;

/// `mail(n)` as a local destination gets it: the Delivered-To naming the target removed, LF line endings.
fn mail_lf(n: usize) -> Vec<u8> {
    String::from_utf8(mail(n))
        .unwrap()
        .replace(&format!("Delivered-To: {TARGET}\r\n"), "")
        .replace("\r\n", "\n")
        .into_bytes()
}

/// `data` without popfetch's Received field (LF line endings), which must be its first field.
fn without_received(data: &[u8]) -> &[u8] {
    assert!(
        data.starts_with(b"Received: from 127.0.0.1"),
        "Received is the first field of the message"
    );
    let line_end = |from: usize| from + data[from..].iter().position(|&b| b == b'\n').unwrap() + 1;
    let mut end = line_end(0);
    while matches!(data.get(end), Some(b' ' | b'\t')) {
        end = line_end(end);
    }
    &data[end..]
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn toml_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| toml_str(s)).collect();
    format!("[{}]", quoted.join(", "))
}

#[test]
fn maildir_gets_each_message_with_lf_and_local_fields_and_no_smtp_is_spoken() {
    let w = World::plain(msgs(2));
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    let cfg = w.config(
        w.account()
            .extra("delivery", "\"maildir\"")
            .extra("maildir", &toml_str(root.to_str().unwrap())),
    );
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let files = files_in(&root.join("new"));
    assert_eq!(files.len(), 2, "{files:?}");
    let mut got: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    got.sort_by_key(|d| subject(d));
    for (i, data) in got.iter().enumerate() {
        let n = i + 1;
        let head = format!("Return-Path: <sender{n}@remote.test>\nDelivered-To: {TARGET}\n");
        assert!(
            data.starts_with(head.as_bytes()),
            "{}",
            String::from_utf8_lossy(data)
        );
        assert_eq!(without_received(&data[head.len()..]), mail_lf(n).as_slice());
    }
    assert!(files_in(&root.join("tmp")).is_empty());
    assert_eq!(w.smtp.connections(), 0, "no SMTP connection for a Maildir");
    assert!(w.pop.mailbox_uids().is_empty());
    assert!(out.stderr.contains("written to"), "{}", out.stderr);
    let again = run(&cfg.path, &["run"]);
    assert_eq!((again.code, again.all()), (0, String::new()));
}

#[test]
fn maildir_that_cannot_be_written_keeps_the_mail_on_the_server_exit_74() {
    let w = World::plain(msgs(1));
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    std::fs::write(&root, b"a file, not a directory").unwrap();
    let cfg = w.config(
        w.account()
            .extra("delivery", "\"maildir\"")
            .extra("maildir", &toml_str(root.to_str().unwrap())),
    );
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 74, "{}", out.all());
    assert!(out.stderr.contains("Maildir"), "{}", out.stderr);
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1"]);
    assert!(w.pop.dele_log().is_empty());
}

/// A shell MDA that appends its arguments to `dir/args`, its environment to `dir/env.N` and stdin to `dir/msg.N`.
fn recording_mda(dir: &Path) -> String {
    toml_list(&[
        "/bin/sh",
        "-c",
        "echo \"$1|$2\" >> \"$0/args\"; env > \"$0/env.$$\"; cat > \"$0/msg.$$\"",
        dir.to_str().unwrap(),
        "%T",
        "%F",
    ])
}

#[test]
fn mda_gets_each_message_on_stdin_with_lf_substituted_arguments_and_no_secret_in_its_environment() {
    let w = World::plain(msgs(2));
    let dir = tempfile::tempdir().unwrap();
    let cfg = w.config(
        w.account()
            .extra("delivery", "\"mda\"")
            .extra("mda", &recording_mda(dir.path())),
    );
    let out = run_env(&cfg.path, &["run"], &[("POPFETCH_TEST_LEAK", PASSWORD)]);
    assert_eq!(out.code, 0, "{}", out.all());
    let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
    assert_eq!(
        args,
        format!("{TARGET}|sender1@remote.test\n{TARGET}|sender2@remote.test\n")
    );
    let files = files_in(dir.path());
    let msgs: Vec<Vec<u8>> = files
        .iter()
        .filter(|f| f.file_name().unwrap().to_str().unwrap().starts_with("msg."))
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    assert_eq!(msgs.len(), 2);
    let mut bodies: Vec<&[u8]> = msgs.iter().map(|m| without_received(m)).collect();
    bodies.sort();
    assert_eq!(bodies, vec![mail_lf(1).as_slice(), mail_lf(2).as_slice()]);
    for f in files
        .iter()
        .filter(|f| f.to_str().unwrap().contains("/env."))
    {
        let env = std::fs::read(f).unwrap();
        assert_no_secret("the MDA's environment", &env, USER, PASSWORD);
        let env = String::from_utf8_lossy(&env);
        assert!(env.contains(&format!("POPFETCH_TARGET={TARGET}")), "{env}");
        assert!(!env.contains("POPFETCH_TEST_LEAK"), "{env}");
    }
    assert_eq!(w.smtp.connections(), 0);
    assert!(w.pop.mailbox_uids().is_empty());
}

/// One message through an MDA running `script` (sh -c).
fn mda_world(script: &str, extra: &[(&str, &str)]) -> (World, TestConfig) {
    let w = World::plain(msgs(1));
    let mut a = w
        .account()
        .extra("delivery", "\"mda\"")
        .extra("mda", &toml_list(&["/bin/sh", "-c", script]));
    for (k, v) in extra {
        a = a.extra(k, v);
    }
    let cfg = w.config(a);
    (w, cfg)
}

#[test]
fn mda_exit_75_or_a_signal_keeps_the_message_for_the_next_poll() {
    for script in ["cat >/dev/null; exit 75", "cat >/dev/null; kill -9 $$"] {
        let (w, cfg) = mda_world(script, &[]);
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, 75, "{script}: {}", out.all());
        assert_eq!(w.pop.mailbox_uids(), vec!["uid-1"], "{script}");
        assert!(w.pop.dele_log().is_empty());
        let state = std::fs::read_to_string(w.state_file()).unwrap_or_default();
        assert!(!state.contains("\nD uid-1"), "{state}");
    }
}

#[test]
fn mda_other_exit_rejects_the_message_with_its_status_and_first_stderr_line() {
    let (w, cfg) = mda_world(
        "cat >/dev/null; echo; echo 'no such user' >&2; exit 67",
        &[],
    );
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr.contains("exited with status 67: no such user"),
        "{}",
        out.stderr
    );
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1"]);
    // Journalled: the next poll does not fetch it or run the MDA again, and is quiet about it (as after an MTA's
    // refusal; `popfetch status` lists it as waiting).
    let again = run(&cfg.path, &["run"]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert_eq!(
        w.pop.retr_log(),
        vec!["uid-1"],
        "RETR only in the first run"
    );
}

#[test]
fn mda_over_its_time_limit_is_killed_with_its_children_and_the_message_kept() {
    let (w, cfg) = mda_world("sleep 60 & wait", &[("mda_timeout", "1")]);
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 75, "{}", out.all());
    assert!(out.elapsed.as_secs() < 30, "{:?}", out.elapsed);
    assert!(
        out.stderr.contains("did not finish within 1 s"),
        "{}",
        out.stderr
    );
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1"]);
}

#[test]
fn mda_flooding_stderr_is_read_bounded_and_still_delivers() {
    let (w, cfg) = mda_world(
        "head -c 5000000 /dev/zero | tr '\\0' x >&2; cat >/dev/null; exit 0",
        &[],
    );
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stderr.len() < 64 * 1024,
        "{} bytes of log",
        out.stderr.len()
    );
    assert!(w.pop.mailbox_uids().is_empty());
}

#[test]
fn mda_that_cannot_start_is_a_configuration_error_and_check_says_so() {
    let w = World::plain(msgs(1));
    let cfg = w.config(
        w.account()
            .extra("delivery", "\"mda\"")
            .extra("mda", &toml_list(&["/nonexistent/procmail", "-d", "%T"])),
    );
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 78, "{}", out.all());
    assert!(
        out.stderr.contains("/nonexistent/procmail"),
        "{}",
        out.stderr
    );
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1"]);
    let check = run(&cfg.path, &["check"]);
    assert_eq!(check.code, 78, "{}", check.all());
    assert!(
        check
            .all()
            .contains("mda program \"/nonexistent/procmail\""),
        "{}",
        check.all()
    );
}

#[test]
fn dry_run_names_the_destination_and_the_mda_argv_after_substitution() {
    let (_w, cfg) = mda_world("cat >/dev/null", &[]);
    let out = run(&cfg.path, &["run", "--dry-run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout
            .contains("to the MDA [\"/bin/sh\", \"-c\", \"cat >/dev/null\"]"),
        "{}",
        out.stdout
    );
}

/// The world's account delivering into the Maildir `root`.
fn maildir_account(w: &World, root: &Path) -> AccountCfg {
    w.account()
        .extra("delivery", "\"maildir\"")
        .extra("maildir", &toml_str(root.to_str().unwrap()))
}

#[test]
fn s21_maildir_takes_a_50_mib_message_byte_exact_in_bounded_memory() {
    let (w, peak, raw) = measured_world();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    let cfg = w.config(maildir_account(&w, &root));
    let out = run_measured(&cfg.path, &peak);
    assert_eq!(out.code, 0, "{}", out.all());
    let files = files_in(&root.join("new"));
    assert_eq!(files.len(), 1, "{files:?}");
    let data = std::fs::read(&files[0]).unwrap();
    let head = format!("Return-Path: <sender1@remote.test>\nDelivered-To: {TARGET}\n");
    assert!(data.starts_with(head.as_bytes()));
    assert!(without_received(&data[head.len()..]) == piped_lf(&raw).as_slice());
    assert!(files_in(&root.join("tmp")).is_empty());
    assert_bounded_and_done(&w, &peak);
}

#[test]
fn p20_maildir_a_retr_dying_mid_stream_leaves_nothing_in_the_maildir_and_deletes_nothing() {
    let (w, _) = dying_world(mail(2));
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    let cfg = w.config(maildir_account(&w, &root));
    let out = run(&cfg.path, &["run"]);
    assert!(files_in(&root.join("new")).is_empty());
    assert!(
        files_in(&root.join("tmp")).is_empty(),
        "the partial tmp/ file is removed"
    );
    assert_kept_then_delivered(&w, &out, &cfg.path);
    assert_eq!(files_in(&root.join("new")).len(), 2);
}

/// An MDA that notes it ran (`dir/ran`) and copies its stdin to `dir/msg`.
fn copying_mda(dir: &Path) -> String {
    toml_list(&[
        "/bin/sh",
        "-c",
        "echo ran >> \"$0/ran\"; cat > \"$0/msg\"",
        dir.to_str().unwrap(),
    ])
}

fn mda_account(w: &World, dir: &Path) -> AccountCfg {
    w.account()
        .extra("delivery", "\"mda\"")
        .extra("mda", &copying_mda(dir))
}

#[test]
fn s21_mda_gets_a_50_mib_message_byte_exact_in_bounded_memory_and_the_spool_is_removed() {
    let (w, peak, raw) = measured_world();
    let dir = tempfile::tempdir().unwrap();
    let cfg = w.config(mda_account(&w, dir.path()));
    let out = run_measured(&cfg.path, &peak);
    assert_eq!(out.code, 0, "{}", out.all());
    let data = std::fs::read(dir.path().join("msg")).unwrap();
    assert!(without_received(&data) == piped_lf(&raw).as_slice());
    assert_bounded_and_done(&w, &peak);
}

#[test]
fn p20_mda_is_never_started_for_a_retr_that_dies_mid_stream_and_nothing_is_deleted() {
    let (w, _) = dying_world(mail(2));
    let dir = tempfile::tempdir().unwrap();
    let cfg = w.config(mda_account(&w, dir.path()));
    let out = run(&cfg.path, &["run"]);
    assert!(!dir.path().join("ran").exists(), "the MDA was started");
    assert_kept_then_delivered(&w, &out, &cfg.path);
    let ran = std::fs::read_to_string(dir.path().join("ran")).unwrap();
    assert_eq!(ran, "ran\nran\n");
}

#[test]
fn c02_a_kill_while_spooling_leaves_a_spool_the_next_poll_removes() {
    let raw = large(1, 3 << 20);
    let w = World::plain(vec![Msg::new("uid-1", raw.clone())]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = w.config(mda_account(&w, dir.path()));
    let failpoint = [("POPFETCH_FAILPOINT", "mid_spool:1")];
    let killed = run_env(&cfg.path, &["run"], &failpoint);
    assert_eq!(killed.code, -1, "not killed: {}", killed.all());
    let spool = w.state.path().join("isp.spool");
    assert!(spool.exists(), "the kill left the spool");
    assert!(!dir.path().join("ran").exists());
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stderr.contains("removed the spool file"),
        "{}",
        out.stderr
    );
    assert!(!spool.exists());
    let data = std::fs::read(dir.path().join("msg")).unwrap();
    assert!(without_received(&data) == piped_lf(&raw).as_slice());
    assert!(w.pop.mailbox_uids().is_empty());
}
