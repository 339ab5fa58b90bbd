//! The spool file of a large message for the MDA and IMAP destinations (issue 11 point 2, issues 12 and 14): the
//! message, after the header pipeline (CRLF line endings), is written here while its RETR arrives, and handed on
//! only once the RETR ended intact. Memory stays bounded; disk holds the message once.
//!
//! Why a file and not a pipe straight into the destination (docs/decisions.md, "Streaming to an MDA and to IMAP"):
//! an MDA reading its stdin to the end delivers whatever it got when the stdin closes, and one killed mid-way may
//! already have written part of the message (procmail writes as it reads); an IMAP literal must announce its size
//! before its first byte, and the size after line-ending normalisation is known only at the end.
//!
//! One spool per account, `<state_dir>/<account>.spool`, mode 0600: the account's state lock is held while it
//! exists, so no other poll of the account can touch it. It is removed when the [`Spool`] is dropped (delivered or
//! not); a file left by a killed run is removed by the next poll ([`clean`]) and replaced when created.

use std::io;
use std::path::{Path, PathBuf};

use tokio::fs::{File, OpenOptions};
use tokio::io::{AsyncSeekExt, AsyncWriteExt, BufWriter};

/// A message being spooled, then read back.
#[derive(Debug)]
pub struct Spool {
    path: PathBuf,
    file: BufWriter<File>,
    len: u64,
}

/// The spool path of the account whose state file is `state_path` (`<dir>/<account>.state`).
pub fn path_for(state_path: &Path) -> PathBuf {
    state_path.with_extension("spool")
}

/// Remove a spool file left by a killed run. True if there was one.
///
/// # Errors
/// Any error but the file being absent.
pub fn clean(path: &Path) -> io::Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

impl Spool {
    /// Create the spool at `path`, 0600, replacing a leftover. `create_new` (O_EXCL) never follows a symlink
    /// planted in its place.
    ///
    /// # Errors
    /// The file cannot be removed or created.
    pub async fn create(path: &Path) -> io::Result<Spool> {
        clean(path)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .await?;
        Ok(Spool {
            path: path.to_path_buf(),
            file: BufWriter::with_capacity(64 * 1024, file),
            len: 0,
        })
    }

    /// Append bytes.
    ///
    /// # Errors
    /// A write error (a full disk among them).
    pub async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes).await?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// The octets written.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True before the first byte.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Flush and rewind: the file, to be read from its start. No fsync: the spool never outlives the poll that
    /// wrote it, and the destination's own commit is what counts.
    ///
    /// # Errors
    /// The flush or the seek failed.
    pub async fn reader(&mut self) -> io::Result<&mut File> {
        self.file.flush().await?;
        let file = self.file.get_mut();
        file.rewind().await?;
        Ok(file)
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        // Delivered or not, the copy that counts is the server's or the destination's.
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use tokio::io::AsyncReadExt;

    use super::*;

    #[tokio::test]
    async fn a_spool_is_0600_reads_back_what_was_written_and_is_removed_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(&dir.path().join("isp.state"));
        assert_eq!(path, dir.path().join("isp.spool"));
        std::fs::write(&path, b"left by a killed run").unwrap();
        let mut s = Spool::create(&path).await.unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        s.write(b"Subject: x\r\n\r\n").await.unwrap();
        s.write(b"body\r\n").await.unwrap();
        assert_eq!(s.len(), 20);
        let mut back = Vec::new();
        s.reader()
            .await
            .unwrap()
            .read_to_end(&mut back)
            .await
            .unwrap();
        assert_eq!(back, b"Subject: x\r\n\r\nbody\r\n");
        drop(s);
        assert!(!path.exists());
        assert!(!clean(&path).unwrap());
    }

    #[tokio::test]
    async fn a_symlink_in_place_of_the_spool_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep me").unwrap();
        let path = dir.path().join("isp.spool");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let mut s = Spool::create(&path).await.unwrap();
        s.write(b"x").await.unwrap();
        s.reader().await.unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
    }
}
