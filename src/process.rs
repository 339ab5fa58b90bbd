//! The child processes popfetch runs (`password_command`, an MDA): each leads its own process group
//! (`process_group(0)`), so a time limit can stop helpers it forked too.

use std::process::Stdio;

/// Kill the child's whole process group, catching grandchildren that hold a pipe open. Without libc (the crate
/// forbids unsafe code) this goes through kill(1), by absolute path so PATH cannot substitute it; where it is
/// missing only the child itself is killed (by the caller's `start_kill`).
pub(crate) async fn kill_group(child: &tokio::process::Child) {
    if let Some(pid) = child.id() {
        kill_group_of(pid).await;
    }
}

/// [`kill_group`] by the leader's process id, for code that holds no reference to the child.
pub(crate) async fn kill_group_of(pid: u32) {
    for kill in ["/bin/kill", "/usr/bin/kill"] {
        if std::path::Path::new(kill).exists() {
            let _ = tokio::process::Command::new(kill)
                .args(["-KILL", "--", &format!("-{pid}")])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await;
            return;
        }
    }
}
