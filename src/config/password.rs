//! Resolving a [`PasswordSource`] at poll time (T-23): an inline value, the first line of a private file, or the
//! first line printed by a program run from its argv, without a shell. Errors name the account and the file or
//! program, never the bytes read: those may be the password.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::PasswordSource;
use super::perm::{self, FileError};
use crate::secret::Secret;

/// How long `password_command` may run before it is killed.
pub const PASSWORD_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Most bytes read from a password file or command; a password is far shorter, and the bound keeps a runaway
/// program from filling memory.
const MAX_PASSWORD_OUTPUT: u64 = 4096;

/// Why no password could be had. `Display` names the account and the source, never the content.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("account {account:?}: cannot read {key} {}: {error}", path.display())]
    FileRead {
        account: String,
        /// The config key naming the file (`password_file`, `oauth2.client_secret_file`).
        key: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("account {account:?}: {key} {} {problem} (mode {mode:04o}); {fix}", path.display())]
    FileUnsafe {
        account: String,
        key: &'static str,
        path: PathBuf,
        mode: u32,
        problem: String,
        fix: String,
    },
    #[error("account {account:?}: password_command {program:?} could not be started: {error}")]
    Spawn {
        account: String,
        program: String,
        error: std::io::Error,
    },
    #[error("account {account:?}: password_command {program:?} failed ({status})")]
    CommandFailed {
        account: String,
        program: String,
        status: ExitStatus,
    },
    #[error("account {account:?}: password_command {program:?} did not finish within {} s and was killed", after.as_secs())]
    Timeout {
        account: String,
        program: String,
        after: Duration,
    },
    /// The password read is unusable; `problem` describes its shape (empty, several lines, ...), not its content.
    #[error("account {account:?}: the password from {source_name} {problem}")]
    Unusable {
        account: String,
        source_name: String,
        problem: &'static str,
    },
}

impl PasswordSource {
    /// The password for `account` (its name, used in errors). A file or command is read afresh on every call.
    ///
    /// # Errors
    /// [`PasswordError`]: unreadable or unsafe file, failing or hanging program, empty or malformed password.
    pub async fn resolve(&self, account: &str) -> Result<Secret, PasswordError> {
        self.resolve_with_timeout(account, PASSWORD_COMMAND_TIMEOUT)
            .await
    }

    /// [`PasswordSource::resolve`] with an explicit bound on `password_command`.
    ///
    /// # Errors
    /// As [`PasswordSource::resolve`].
    pub async fn resolve_with_timeout(
        &self,
        account: &str,
        limit: Duration,
    ) -> Result<Secret, PasswordError> {
        match self {
            PasswordSource::Inline(s) => Ok(s.clone()),
            PasswordSource::File(path) => read_secret_file(account, "password_file", path).await,
            PasswordSource::Command(argv) => from_command(account, argv, limit).await,
        }
    }
}

/// The first line of a private file holding a secret (`password_file`, `oauth2.client_secret_file`; `key` names
/// it in errors): owner-only mode and owned by the caller or root, non-empty, one line, UTF-8.
///
/// # Errors
/// [`PasswordError`] naming `key` and the path, never the content.
pub async fn read_secret_file(
    account: &str,
    key: &'static str,
    path: &PathBuf,
) -> Result<Secret, PasswordError> {
    let read_err = |error| PasswordError::FileRead {
        account: account.to_owned(),
        key,
        path: path.clone(),
        error,
    };
    let file = tokio::fs::File::open(path).await.map_err(read_err)?;
    let meta = file.metadata().await.map_err(read_err)?;
    if let Err(e) = perm::check_private(path, &meta) {
        return Err(match e {
            FileError::Unsafe { mode, problem, fix } => PasswordError::FileUnsafe {
                account: account.to_owned(),
                key,
                path: path.clone(),
                mode: mode & 0o7777,
                problem,
                fix,
            },
            FileError::Io(error) => read_err(error),
            FileError::TooLarge { .. } => unusable(account, path.display(), "is too large"),
        });
    }
    let mut bytes = Vec::new();
    file.take(MAX_PASSWORD_OUTPUT + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(read_err)?;
    let what = format!("{key} {}", path.display());
    if bytes.len() as u64 > MAX_PASSWORD_OUTPUT {
        return Err(unusable(account, what, "is longer than 4096 bytes"));
    }
    // First line only: a file may hold a comment or other data below the password.
    let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    check_password(account, &what, first)
}

async fn from_command(
    account: &str,
    argv: &[String],
    limit: Duration,
) -> Result<Secret, PasswordError> {
    let program = argv.first().cloned().unwrap_or_default();
    let mut cmd = tokio::process::Command::new(&program);
    cmd.args(argv.iter().skip(1))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        // Discarded, not logged: helpers like `pass` or `gpg` may print key material or the password there.
        .stderr(Stdio::null())
        .kill_on_drop(true)
        // Its own process group, so that a timeout can kill helpers it forked too.
        .process_group(0);
    let mut child = cmd.spawn().map_err(|error| PasswordError::Spawn {
        account: account.to_owned(),
        program: program.clone(),
        error,
    })?;
    let mut stdout = child.stdout.take();
    let run = async {
        let mut out = Vec::new();
        if let Some(pipe) = stdout.as_mut() {
            pipe.take(MAX_PASSWORD_OUTPUT + 1)
                .read_to_end(&mut out)
                .await?;
        }
        if out.len() as u64 > MAX_PASSWORD_OUTPUT {
            // Stop it rather than wait for a program that may never stop writing.
            let _ = child.start_kill();
        }
        child.wait().await.map(|status| (out, status))
    };
    let outcome = tokio::time::timeout(limit, run).await;
    let what = format!("password_command {program:?}");
    match outcome {
        Err(_) => {
            crate::process::kill_group(&child).await;
            let _ = child.start_kill();
            let _ = child.wait().await;
            Err(PasswordError::Timeout {
                account: account.to_owned(),
                program,
                after: limit,
            })
        }
        Ok(Err(error)) => Err(PasswordError::Spawn {
            account: account.to_owned(),
            program,
            error,
        }),
        Ok(Ok((out, _))) if out.len() as u64 > MAX_PASSWORD_OUTPUT => {
            Err(unusable(account, what, "is longer than 4096 bytes"))
        }
        Ok(Ok((_, status))) if !status.success() => Err(PasswordError::CommandFailed {
            account: account.to_owned(),
            program,
            status,
        }),
        Ok(Ok((out, _))) => {
            // Exactly one trailing line ending is removed; anything after it means the program printed more than
            // a password, and guessing which line is meant could send the wrong secret to the server.
            let line = out
                .strip_suffix(b"\r\n")
                .or_else(|| out.strip_suffix(b"\n"))
                .unwrap_or(&out);
            check_password(account, &what, line)
        }
    }
}

/// The password must be non-empty UTF-8 without CR, LF or NUL: an empty one is never sent, and a line break
/// would inject a POP3 command (T-24).
fn check_password(account: &str, what: &str, bytes: &[u8]) -> Result<Secret, PasswordError> {
    if bytes.is_empty() {
        return Err(unusable(account, what, "is empty"));
    }
    if bytes.iter().any(|b| matches!(b, b'\r' | b'\n')) {
        return Err(unusable(account, what, "has more than one line"));
    }
    if bytes.contains(&0) {
        return Err(unusable(account, what, "contains a NUL byte"));
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(Secret::new(s)),
        Err(_) => Err(unusable(account, what, "is not valid UTF-8")),
    }
}

fn unusable(account: &str, what: impl ToString, problem: &'static str) -> PasswordError {
    PasswordError::Unusable {
        account: account.to_owned(),
        source_name: what.to_string(),
        problem,
    }
}

#[cfg(test)]
#[path = "password_tests.rs"]
mod tests;
