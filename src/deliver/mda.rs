//! Delivery through a mail delivery agent (issue 12): `mda = ["/usr/bin/procmail", "-d", "%T"]`, one process per
//! message, no shell.
//!
//! The message goes to the program's stdin with LF line endings (from memory, or for a large message from its spool
//! file once the RETR ended intact, [`super::spool`]: an MDA is never started on a message that might not arrive
//! whole), written while its stdout and stderr are read (bounded: the first [`CAPTURE`] bytes of each are kept for
//! the log, the rest is read and dropped, so a chatty MDA can neither block on a full pipe nor grow our memory). The exit status decides, as fetchmail's does and as
//! sendmail's MDAs document it (sysexits.h):
//! - 0: delivered, the commit point; the poller records the UID, then `DELE`.
//! - 75 (`EX_TEMPFAIL`), killed by a signal, or over `mda_timeout` (the whole process group is killed): kept on the
//!   server for the next poll (exit 75).
//! - anything else: refused for good, journalled with the status and the first line of stderr (exit 1).
//!
//! An MDA that exits 0 without reading all of its input has still taken the message (it says so by its status:
//! `/bin/true` as an MDA discards mail on purpose); popfetch logs a warning. The environment holds only PATH,
//! HOME, USER, LOGNAME, SHELL, LANG, LC_ALL and TZ from popfetch's own (no secret of popfetch's ever is in it), plus
//! `POPFETCH_TARGET` and `POPFETCH_SENDER`.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::LocalError;
use super::lf::ToLf;
use crate::config::Mda;
use crate::untrusted::Secrets;
use crate::untrusted::lines::{LineEnds, lines};

/// Bytes of the MDA's stdout and of its stderr kept for the log.
pub const CAPTURE: usize = 4096;
/// Bytes written to the MDA's stdin per write.
const CHUNK: usize = 64 * 1024;
/// Variables of popfetch's environment passed on to the MDA; everything else is cleared.
const KEPT_ENV: [&str; 8] = [
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "TZ",
];
/// PATH when popfetch has none.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";
/// EX_TEMPFAIL (sysexits.h).
const EX_TEMPFAIL: i32 = 75;

/// The PATH the MDA is started with (and looked up in): popfetch's own, or a default when it has none (cron gives
/// one; a bare `env -i` does not).
pub fn mda_path() -> std::ffi::OsString {
    std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into())
}

/// What an MDA said while it delivered (for the log; bounded).
#[derive(Debug, Default)]
pub struct Delivered {
    pub stdout: String,
    pub stderr: String,
    /// It exited 0 before reading the whole message.
    pub unread_input: bool,
}

/// Run the MDA for one message (CRLF line endings, as the header pipeline leaves them) to `target` from `sender`
/// (empty for the null sender).
///
/// # Errors
/// See the module documentation; [`LocalError::Spawn`] when the program cannot be started.
pub async fn deliver(
    mda: &Mda,
    target: &str,
    sender: &str,
    mut message: impl AsyncRead + Unpin,
) -> Result<Delivered, LocalError> {
    let argv = mda.argv_for(target, sender);
    let program = argv.first().cloned().unwrap_or_default();
    let mut cmd = tokio::process::Command::new(&program);
    cmd.args(&argv[1..])
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    for key in KEPT_ENV {
        if let Some(v) = std::env::var_os(key) {
            cmd.env(key, v);
        }
    }
    cmd.env("PATH", mda_path());
    cmd.env("POPFETCH_TARGET", target)
        .env("POPFETCH_SENDER", sender);
    let mut child = cmd.spawn().map_err(|source| LocalError::Spawn {
        program: program.clone(),
        source,
    })?;
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let pid = child.id();
    let feed = async move {
        let Some(mut stdin) = stdin else {
            return Ok(true);
        };
        let mut lf = ToLf::default();
        let mut chunk = vec![0u8; CHUNK];
        let mut buf = Vec::with_capacity(CHUNK + 1);
        loop {
            let n = match message.read(&mut chunk).await {
                Ok(n) => n,
                Err(e) => {
                    // Kill the MDA while its stdin is still open: closing it first would hand it an end of file,
                    // and an MDA delivers what it read by then.
                    if let Some(pid) = pid {
                        crate::process::kill_group_of(pid).await;
                    }
                    drop(stdin);
                    return Err(Fed::Input(e));
                }
            };
            if n == 0 {
                break;
            }
            buf.clear();
            lf.push(&chunk[..n], &mut buf);
            if let Err(e) = stdin.write_all(&buf).await {
                return if e.kind() == std::io::ErrorKind::BrokenPipe {
                    Ok(false)
                } else {
                    Err(Fed::Pipe(e))
                };
            }
        }
        buf.clear();
        lf.finish(&mut buf);
        match stdin.write_all(&buf).await.and(stdin.shutdown().await) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
            Err(e) => Err(Fed::Pipe(e)),
        }
    };
    let run = async {
        let (fed, out, err) = tokio::join!(feed, capture(stdout), capture(stderr));
        let status = child.wait().await;
        (fed, out, err, status)
    };
    let pipe = |op, source| LocalError::Pipe {
        program: program.clone(),
        op,
        source,
    };
    let Ok((fed, out, err, status)) = tokio::time::timeout(mda.timeout, run).await else {
        crate::process::kill_group(&child).await;
        let _ = child.start_kill();
        let _ = child.wait().await;
        return Err(LocalError::Temporary {
            program,
            why: format!(
                "did not finish within {} and was killed",
                seconds(mda.timeout)
            ),
            stderr: String::new(),
        });
    };
    let fed = match fed {
        Ok(fed) => fed,
        Err(e) => {
            // Whatever its exit status, the message was not handed over whole: keep it on the server.
            return Err(match e {
                Fed::Pipe(e) => pipe("writing the message to its stdin", e),
                Fed::Input(e) => pipe("reading the spooled message", e),
            });
        }
    };
    let stdout = out.map_err(|e| pipe("reading its stdout", e))?;
    let stderr = err.map_err(|e| pipe("reading its stderr", e))?;
    let status = status.map_err(|e| pipe("waiting for it", e))?;
    let first = first_line(&stderr);
    match status.code() {
        Some(0) => Ok(Delivered {
            stdout: printable(&stdout),
            stderr: printable(&stderr),
            unread_input: !fed,
        }),
        Some(EX_TEMPFAIL) => Err(LocalError::Temporary {
            program,
            why: "exited with status 75 (EX_TEMPFAIL, try again later)".into(),
            stderr: first,
        }),
        Some(code) => Err(LocalError::Refused {
            program,
            status: u16::try_from(code).unwrap_or(u16::MAX),
            stderr: first,
        }),
        None => Err(LocalError::Temporary {
            program,
            why: format!("was killed by a signal ({status})"),
            stderr: first,
        }),
    }
}

/// Why feeding the MDA's stdin stopped.
enum Fed {
    /// Writing to the MDA failed (other than its closing the pipe early).
    Pipe(std::io::Error),
    /// Reading the message (its spool file) failed.
    Input(std::io::Error),
}

fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs())
}

/// Read a pipe to its end, keeping the first [`CAPTURE`] bytes.
async fn capture(pipe: Option<impl AsyncRead + Unpin>) -> std::io::Result<Vec<u8>> {
    let mut kept = Vec::new();
    let Some(mut pipe) = pipe else {
        return Ok(kept);
    };
    let mut buf = [0u8; 8192];
    loop {
        let n = pipe.read(&mut buf).await?;
        if n == 0 {
            return Ok(kept);
        }
        let room = CAPTURE.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
}

/// The first non-empty line of the MDA's stderr, for the journal and the error line.
fn first_line(bytes: &[u8]) -> String {
    let line = lines(bytes, LineEnds::Lf)
        .map(|l| &bytes[l.start..l.content_end])
        .find(|l| l.iter().any(|b| !b.is_ascii_whitespace()))
        .unwrap_or_default();
    printable(line)
}

/// Shown text from the MDA's bytes, by the one policy for untrusted text ([`crate::untrusted`]), bounded by
/// [`CAPTURE`]. The MDA is a local program that was handed a message, never a credential: nothing to scrub.
fn printable(bytes: &[u8]) -> String {
    Secrets::none().show(bytes, CAPTURE).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_stderr_line_is_bounded_and_escaped() {
        assert_eq!(
            first_line(b"\n  \nno such user\x1b[1m\nmore"),
            "no such user\\x1b[1m"
        );
        assert!(first_line(&vec![b'x'; 10_000]).len() < CAPTURE + 64);
    }
}
