//! Tests of password resolution (T-23): real files and real programs, no shell in the code under test.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use super::*;

fn cmd(argv: &[&str]) -> PasswordSource {
    PasswordSource::Command(argv.iter().map(|s| s.to_string()).collect())
}

async fn run(argv: &[&str]) -> Result<Secret, PasswordError> {
    cmd(argv)
        .resolve_with_timeout("isp", Duration::from_secs(10))
        .await
}

#[tokio::test]
async fn inline_is_returned_as_is() {
    let s = PasswordSource::Inline(Secret::new("p w"))
        .resolve("isp")
        .await
        .unwrap();
    assert_eq!(s.expose(), "p w");
}

#[tokio::test]
async fn t23_command_output_loses_exactly_one_line_ending() {
    assert_eq!(run(&["/bin/echo", "pw"]).await.unwrap().expose(), "pw");
    assert_eq!(
        run(&["/bin/sh", "-c", "printf 'pw\\r\\n'"])
            .await
            .unwrap()
            .expose(),
        "pw"
    );
    assert_eq!(
        run(&["/bin/sh", "-c", "printf ' pw '"])
            .await
            .unwrap()
            .expose(),
        " pw ",
        "spaces are kept"
    );
}

#[tokio::test]
async fn t23_argv_is_passed_literally_without_a_shell() {
    let s = run(&["/bin/echo", "a;b", "$(id)", "`id`", "x\ny"]).await;
    // echo joins its arguments with spaces; the embedded newline makes two lines, which is refused, so check
    // the shell metacharacters on their own first.
    assert!(
        matches!(
            s,
            Err(PasswordError::Unusable {
                problem: "has more than one line",
                ..
            })
        ),
        "{s:?}"
    );
    let s = run(&["/bin/echo", "a;b", "$(id)", "`id`", "$HOME"])
        .await
        .unwrap();
    assert_eq!(s.expose(), "a;b $(id) `id` $HOME");
}

#[tokio::test]
async fn t23_empty_output_is_an_error() {
    let e = run(&["/bin/true"]).await.unwrap_err();
    assert!(e.to_string().contains("is empty"), "{e}");
    let e = run(&["/bin/echo"]).await.unwrap_err();
    assert!(e.to_string().contains("is empty"), "{e}");
    assert_eq!(e.class(), crate::error::ExitClass::Config);
}

#[tokio::test]
async fn t23_failure_names_account_and_program_but_not_the_output() {
    let e = run(&["/bin/sh", "-c", "echo hunter2; echo hunter3 >&2; exit 1"])
        .await
        .unwrap_err();
    assert!(matches!(e, PasswordError::CommandFailed { .. }), "{e:?}");
    let shown = format!("{e} {e:?}");
    assert!(
        shown.contains("\"isp\"") && shown.contains("/bin/sh"),
        "{shown}"
    );
    assert!(!shown.contains("hunter"), "output leaked: {shown}");
}

#[tokio::test]
async fn t23_two_lines_oversize_and_nul_are_refused() {
    let e = run(&["/bin/sh", "-c", "printf 'pw\\nmore\\n'"])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("more than one line"), "{e}");
    assert!(!e.to_string().contains("pw"), "{e}");
    let e = run(&["/bin/sh", "-c", "head -c 1048576 /dev/zero | tr '\\0' a"])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("longer than 4096 bytes"), "{e}");
    let e = run(&["/bin/sh", "-c", "printf 'p\\0w'"]).await.unwrap_err();
    assert!(e.to_string().contains("NUL"), "{e}");
}

#[tokio::test]
async fn t23_missing_program_is_a_spawn_error() {
    let e = run(&["/nonexistent/popfetch-pw"]).await.unwrap_err();
    assert!(matches!(e, PasswordError::Spawn { .. }), "{e:?}");
    assert!(e.to_string().contains("/nonexistent/popfetch-pw"), "{e}");
}

#[tokio::test]
async fn t23_hanging_command_is_killed_after_the_timeout() {
    let start = Instant::now();
    let e = cmd(&["/bin/sleep", "30"])
        .resolve_with_timeout("isp", Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(e, PasswordError::Timeout { .. }), "{e:?}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
    assert!(e.to_string().contains("/bin/sleep"), "{e}");
}

#[tokio::test]
async fn t23_timeout_kills_grandchildren_holding_the_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let script = format!("sleep 30 & echo $! > {}; echo pw; wait", pidfile.display());
    let e = cmd(&["/bin/sh", "-c", &script])
        .resolve_with_timeout("isp", Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(matches!(e, PasswordError::Timeout { .. }), "{e:?}");
    let pid = std::fs::read_to_string(&pidfile).unwrap().trim().to_owned();
    // Give the kill a moment to land, then the grandchild must be gone or a zombie awaiting its reaper.
    let mut alive = true;
    for _ in 0..50 {
        alive = match std::fs::read_to_string(format!("/proc/{pid}/status")) {
            Err(_) => false,
            Ok(s) => !s
                .lines()
                .any(|l| l.starts_with("State:") && l.contains('Z')),
        };
        if !alive {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!alive, "grandchild {pid} survived the timeout");
}

fn pw_file(dir: &std::path::Path, content: &[u8], mode: u32) -> PasswordSource {
    let path = dir.join("pw");
    std::fs::write(&path, content).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    PasswordSource::File(path)
}

#[tokio::test]
async fn password_file_first_line_is_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let s = pw_file(dir.path(), b"pw\r\nsecond line\n", 0o600)
        .resolve("isp")
        .await
        .unwrap();
    assert_eq!(s.expose(), "pw");
    let s = pw_file(dir.path(), b"no newline", 0o400)
        .resolve("isp")
        .await
        .unwrap();
    assert_eq!(s.expose(), "no newline");
}

#[tokio::test]
async fn t21_password_file_readable_by_others_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let src = pw_file(dir.path(), b"hunter2\n", 0o644);
    let e = src.resolve("isp").await.unwrap_err();
    let shown = e.to_string();
    assert!(matches!(e, PasswordError::FileUnsafe { .. }), "{shown}");
    assert!(
        shown.contains(&format!("chmod 600 {}", dir.path().join("pw").display())),
        "{shown}"
    );
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[tokio::test]
async fn password_file_empty_or_missing_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let e = pw_file(dir.path(), b"\nsecond\n", 0o600)
        .resolve("isp")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("is empty"), "{e}");
    assert!(!e.to_string().contains("second"), "{e}");
    let e = PasswordSource::File(dir.path().join("missing"))
        .resolve("isp")
        .await
        .unwrap_err();
    assert!(matches!(e, PasswordError::FileRead { .. }), "{e:?}");
    assert!(e.to_string().contains("account \"isp\""), "{e}");
}
