//! The command line as a user meets it: `check`, config errors with their location, `filter` on stdin/files,
//! and the exit codes of docs/design.md for configuration problems.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use support::run::write_private;
use support::*;

fn config_text(extra: &str) -> String {
    format!(
        "state_dir = \"/tmp/popfetch-cli-test-state\"\n\n[[account]]\nname = \"isp\"\nhost = \"pop.example.jp\"\n\
         user = \"me\"\npassword = \"hunter2-secret\"\ntarget = \"me@example.org\"\n{extra}"
    )
}

#[test]
fn check_accepts_a_valid_config_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_private(&dir.path().join("c.toml"), config_text("").as_bytes());
    let out = run_popfetch(&path, &["check"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("ok, 1 account"), "{}", out.stdout);
    assert!(!out.all().contains("hunter2-secret"));
}

#[test]
fn check_names_key_line_and_column_and_exits_78() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_private(
        &dir.path().join("c.toml"),
        config_text("pasword = \"x\"\nkeep = \"yes\"\n").as_bytes(),
    );
    let out = run_popfetch(&path, &["check"]);
    assert_eq!(out.code, 78, "{}", out.all());
    // Both problems, each with its place: the unknown key and the wrong type.
    assert!(
        out.stderr
            .contains("c.toml:9:1: account \"isp\": key `pasword`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("c.toml:10:8: account \"isp\": key `keep`"),
        "{}",
        out.stderr
    );
    assert!(!out.all().contains("hunter2-secret"));
}

#[test]
fn t21_a_password_config_readable_by_others_is_refused_with_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = write_private(&dir.path().join("c.toml"), config_text("").as_bytes());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run_popfetch(&path, &["run"]);
    assert_eq!(out.code, 78, "{}", out.all());
    assert!(out.stderr.contains("chmod 600"), "{}", out.stderr);
}

#[test]
fn missing_config_and_unknown_account_exit_78() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_popfetch(&dir.path().join("nope.toml"), &["run"]);
    assert_eq!(out.code, 78, "{}", out.all());
    assert!(out.stderr.contains("nope.toml"), "{}", out.stderr);

    let path = write_private(&dir.path().join("c.toml"), config_text("").as_bytes());
    let out = run_popfetch(&path, &["run", "--account", "other"]);
    assert_eq!(out.code, 78, "{}", out.all());
    assert!(out.stderr.contains("other"), "{}", out.stderr);
}

#[test]
fn filter_reads_stdin_and_writes_the_filtered_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_private(&dir.path().join("c.toml"), config_text("").as_bytes());
    let mut child = Command::new(popfetch_bin())
        .args(["-c"])
        .arg(&path)
        .args(["filter", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"Delivered-To: ME@example.org\nDelivered-To: other@example.org\nSubject: x\n\nbody\n",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        out.stdout,
        b"Delivered-To: other@example.org\r\nSubject: x\r\n\r\nbody\r\n"
    );
}
