//! Delivery into a Maildir (issue 12), as the Maildir specification (D. J. Bernstein, maildir(5)) describes it:
//! write the file under a unique name in `tmp/`, fsync it, link it into `new/`, fsync `new/`; only then is the
//! message delivered (the commit point: the poller records the UID, then `DELE`). A crash before the link leaves
//! at most a stray file in `tmp/` (readers ignore `tmp/`; the spec has them clean it after 36 hours), never a
//! half message in `new/`.
//!
//! A large message is written into `tmp/` while its RETR arrives ([`Writer`], `poller::local_stream`) and linked
//! into `new/` only once the RETR ended intact; a writer dropped before that removes its `tmp/` file.
//!
//! The file starts with `Return-Path: <sender>` and `Delivered-To: <target>`, as local delivery agents write
//! them, then the message with LF line endings ([`super::lf`]). A missing directory tree is created `0700`.
//!
//! Failures keep the message on the server: a full disk or quota (ENOSPC, EDQUOT) is temporary (exit 75); any other
//! error (read-only file system, permissions, a file where a directory should be) needs a person (exit 74, as for
//! a state file that cannot be written).

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::io::AsyncWriteExt;

use super::LocalError;
use super::lf::ToLf;

/// Bytes converted and written per step.
const CHUNK: usize = 64 * 1024;

/// Deliveries by this process, for unique names (the spec's `Q` field).
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Write one message (CRLF line endings, as the header pipeline leaves them) into the Maildir at `root`; returns
/// the path of the new file.
///
/// # Errors
/// [`LocalError::Maildir`] naming the step and path that failed; nothing is left in `new/`.
pub async fn deliver(
    root: &Path,
    target: &str,
    sender: &str,
    message: &[u8],
) -> Result<PathBuf, LocalError> {
    let mut w = Writer::create(root, target, sender).await?;
    for chunk in message.chunks(CHUNK) {
        w.write(chunk).await?;
    }
    w.commit().await
}

/// One message being written into `tmp/` (issue 11 point 2: a large message is written while its RETR arrives).
/// Nothing reaches `new/` before [`Writer::commit`]; a writer dropped without it removes its `tmp/` file, so a
/// RETR that fails mid-way leaves nothing behind.
#[derive(Debug)]
pub struct Writer {
    root: PathBuf,
    name: String,
    file: tokio::fs::File,
    lf: ToLf,
    buf: Vec<u8>,
    /// The `tmp/` file is gone (linked and removed, or removed after an error): nothing to clean up.
    done: bool,
}

impl Writer {
    /// Create the directory tree when missing, then the `tmp/` file with the local delivery fields.
    ///
    /// # Errors
    /// [`LocalError::Maildir`] naming the step and path.
    pub async fn create(root: &Path, target: &str, sender: &str) -> Result<Writer, LocalError> {
        for sub in ["", "tmp", "new", "cur"] {
            let dir = root.join(sub);
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(err(root, "create the directory", &dir))?;
        }
        let name = unique_name();
        let tmp = root.join("tmp").join(&name);
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .await
            .map_err(err(root, "create", &tmp))?;
        let mut w = Writer {
            root: root.to_path_buf(),
            name,
            file,
            lf: ToLf::default(),
            buf: Vec::with_capacity(CHUNK + 1),
            done: false,
        };
        let head = format!("Return-Path: <{sender}>\nDelivered-To: {target}\n");
        w.put(head.as_bytes()).await?;
        Ok(w)
    }

    fn tmp(&self) -> PathBuf {
        self.root.join("tmp").join(&self.name)
    }

    /// Append message bytes (CRLF line endings), written with LF.
    ///
    /// # Errors
    /// [`LocalError::Maildir`]; the writer should then be dropped (which removes the `tmp/` file).
    pub async fn write(&mut self, crlf: &[u8]) -> Result<(), LocalError> {
        for chunk in crlf.chunks(CHUNK) {
            let mut buf = std::mem::take(&mut self.buf);
            buf.clear();
            self.lf.push(chunk, &mut buf);
            let r = self.put(&buf).await;
            self.buf = buf;
            r?;
        }
        Ok(())
    }

    async fn put(&mut self, bytes: &[u8]) -> Result<(), LocalError> {
        let tmp = self.tmp();
        self.file
            .write_all(bytes)
            .await
            .map_err(err(&self.root, "write", &tmp))
    }

    /// The commit point: fsync the file, link it into `new/`, fsync `new/`. Returns the path in `new/`.
    ///
    /// # Errors
    /// [`LocalError::Maildir`]; nothing is left in `new/` or `tmp/`.
    pub async fn commit(mut self) -> Result<PathBuf, LocalError> {
        let mut tail = Vec::new();
        self.lf.finish(&mut tail);
        self.put(&tail).await?;
        let (root, tmp) = (self.root.clone(), self.tmp());
        let new = root.join("new").join(&self.name);
        let synced = async {
            self.file.flush().await?;
            self.file.sync_all().await
        }
        .await;
        synced.map_err(err(&root, "write and fsync", &tmp))?;
        // link(2) never replaces an existing file, unlike rename(2): a name collision fails instead of losing mail.
        tokio::fs::hard_link(&tmp, &new)
            .await
            .map_err(err(&root, "link into new/", &new))?;
        let new_dir = root.join("new");
        let synced = match tokio::fs::File::open(&new_dir).await {
            Ok(d) => d.sync_all().await,
            Err(e) => Err(e),
        };
        if let Err(e) = synced {
            // The link may not be durable: take it back, so the server copy stays the one that counts. (If the
            // unlink fails too, the next poll may deliver a second copy; that is the unavoidable duplicate case.)
            let _ = tokio::fs::remove_file(&new).await;
            return Err(err(&root, "fsync", &new_dir)(e));
        }
        self.done = true;
        let _ = tokio::fs::remove_file(&tmp).await;
        Ok(new)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if !self.done {
            // Not committed (an error, or a RETR that failed mid-way): never leave the partial file behind.
            let _ = std::fs::remove_file(self.tmp());
        }
    }
}

/// A [`LocalError::Maildir`] maker for one step.
fn err(root: &Path, op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> LocalError {
    let (root, path) = (root.to_path_buf(), path.to_path_buf());
    move |source| LocalError::Maildir {
        root,
        op,
        path,
        source,
    }
}

/// `time.MmicrosPpidQcount.host` (the spec's modern unique name). The host name has `/` and `:` encoded as
/// `\057` and `\072`, which maildir readers decode.
fn unique_name() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let host = hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
        .replace('/', "\\057")
        .replace(':', "\\072");
    format!(
        "{}.M{}P{}Q{}.{host}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[tokio::test]
    async fn a_message_lands_in_new_with_lf_and_the_local_delivery_fields() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("Mail/box");
        let path = deliver(
            &root,
            "me@example.org",
            "a@b.example",
            b"Subject: x\r\n\r\nbody\xff\r\n",
        )
        .await
        .unwrap();
        assert_eq!(path.parent().unwrap(), root.join("new"));
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"Return-Path: <a@b.example>\nDelivered-To: me@example.org\nSubject: x\n\nbody\xff\n"
        );
        for sub in ["", "tmp", "new", "cur"] {
            let mode = std::fs::metadata(root.join(sub))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700, "{sub}");
        }
        assert_eq!(std::fs::read_dir(root.join("tmp")).unwrap().count(), 0);
        let other = deliver(&root, "me@example.org", "", b"x\r\n")
            .await
            .unwrap();
        assert_ne!(other, path);
        assert!(
            std::fs::read(&other)
                .unwrap()
                .starts_with(b"Return-Path: <>\n")
        );
    }

    #[tokio::test]
    async fn a_writer_dropped_before_its_commit_leaves_nothing_in_tmp_or_new() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("Maildir");
        let mut w = Writer::create(&root, "me@example.org", "").await.unwrap();
        w.write(b"Subject: half\r\n\r\nbo").await.unwrap();
        assert_eq!(std::fs::read_dir(root.join("tmp")).unwrap().count(), 1);
        drop(w);
        assert_eq!(std::fs::read_dir(root.join("tmp")).unwrap().count(), 0);
        assert_eq!(std::fs::read_dir(root.join("new")).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_file_where_the_maildir_should_be_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("Maildir");
        std::fs::write(&root, b"not a directory").unwrap();
        let e = deliver(&root, "me@example.org", "", b"x\r\n")
            .await
            .unwrap_err();
        assert_eq!(e.class(), crate::error::ExitClass::State);
        assert!(e.to_string().contains("Maildir"), "{e}");
    }
}
