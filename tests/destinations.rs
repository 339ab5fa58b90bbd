//! End-to-end tests of the local destinations (issue 12): `delivery = "maildir"` and `delivery = "mda"`, the built
//! binary against the scripted fake POP3 server. Each test asserts the bytes that arrived, what is left on the
//! server, the state, and the exit status. Real MDAs (procmail, dovecot-lda) are in the interop suite.

mod support;

use std::path::{Path, PathBuf};

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

/// `data` without popfetch's Received field (LF line endings).
fn without_received(data: &[u8]) -> &[u8] {
    let text = std::str::from_utf8(data).unwrap();
    let start = text
        .find("Received: from 127.0.0.1")
        .expect("a Received field");
    let mut end = start + text[start..].find('\n').unwrap() + 1;
    while text[end..].starts_with([' ', '\t']) {
        end += text[end..].find('\n').unwrap() + 1;
    }
    assert_eq!(start, 0, "Received is the first field of the message");
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
