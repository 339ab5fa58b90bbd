//! Tests of [`load`]: the permission rules (T-21) and file-level errors.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::tests::{MINIMAL, replacing};
use super::*;

fn write_config(dir: &Path, text: &str, mode: u32) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

fn inline_password_config() -> String {
    format!(
        "state_dir = \"/tmp/s\"\n{}",
        replacing("password_file", "\"pw\"").replace("password_file", "password")
    )
}

#[test]
fn t21_config_with_password_readable_by_others_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for mode in [0o644, 0o640, 0o604, 0o700 | 0o010] {
        let path = write_config(dir.path(), &inline_password_config(), mode);
        let err = load(&path).unwrap_err();
        let shown = err.to_string();
        assert!(
            matches!(err, ConfigError::Unsafe { .. }),
            "{mode:o}: {shown}"
        );
        assert!(
            shown.contains(&format!("chmod 600 {}", path.display())),
            "{shown}"
        );
        assert!(shown.starts_with(&path.display().to_string()), "{shown}");
        assert!(shown.contains(&format!("mode {mode:04o}")), "{shown}");
        assert!(!shown.contains("pw\""), "{shown}");
    }
    let path = write_config(dir.path(), &inline_password_config(), 0o600);
    let c = load(&path).unwrap();
    assert!(matches!(
        c.accounts[0].password,
        Some(PasswordSource::Inline(_))
    ));
}

#[test]
fn t21_config_without_password_may_be_readable_but_never_writable_by_others() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("state_dir = \"/tmp/s\"\n{MINIMAL}");
    let path = write_config(dir.path(), &text, 0o644);
    load(&path).unwrap();
    for mode in [0o664, 0o646] {
        let path = write_config(dir.path(), &text, mode);
        let err = load(&path).unwrap_err();
        assert!(
            err.to_string().contains("writable by group or others"),
            "{err}"
        );
        assert!(err.to_string().contains("chmod go-w"), "{err}");
    }
}

#[test]
fn load_reports_unreadable_and_invalid_files_with_their_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let err = load(&missing).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
    assert!(
        err.to_string().starts_with(&missing.display().to_string()),
        "{err}"
    );
    let path = write_config(dir.path(), "[[account]]\nname = 1\n", 0o600);
    let err = load(&path).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("{}:2:", path.display())),
        "{err}"
    );
    let big = write_config(dir.path(), &"#".repeat(2 * 1024 * 1024), 0o600);
    assert!(matches!(
        load(&big).unwrap_err(),
        ConfigError::TooLarge { .. }
    ));
}

#[test]
fn t21_config_with_password_owned_by_someone_else_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &inline_password_config(), 0o600);
    if perm::effective_uid() != Some(0) {
        // Only root can give a file away; as anyone else, check at least that our own file is accepted.
        load(&path).unwrap();
        return;
    }
    std::os::unix::fs::chown(&path, Some(54321), None).unwrap();
    let err = load(&path).unwrap_err();
    assert!(err.to_string().contains("owned by uid 54321"), "{err}");
    // Root-owned is fine (a root-run service's /etc/popfetch/config.toml).
    std::os::unix::fs::chown(&path, Some(0), None).unwrap();
    load(&path).unwrap();
}
