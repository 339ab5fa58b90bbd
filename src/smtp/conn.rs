//! [`Conn`]: the byte stream to the MTA (TCP, or a unix socket for LMTP) with its one read buffer. It writes
//! commands and content, reads replies through [`super::reply`], bounds every wait, and traces the conversation at
//! `-vv` (through the [`Trace`] sink the caller hands in). Which commands to send is [`super::Mta`]'s business.
//!
//! A connection that saw an I/O error, a timeout or a garbled reply is *poisoned*: every later call fails at once,
//! so a stream that may be out of step (half a reply read, content half written) is never used again.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::reply::{self, Reply, ReplyError};
use crate::inspect::trace::{Side, Trace};

/// Any byte stream the client can run over.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Io for T {}

const READ_CHUNK: usize = 4096;

/// Why a step on the wire failed. The connection is poisoned after any of these.
#[derive(Debug)]
pub(super) enum WireError {
    Io(io::Error),
    Timeout(Duration),
    Garbled(ReplyError),
    /// Used after an earlier failure.
    Poisoned,
}

/// One connection to the MTA.
///
/// # Cancel safety
/// [`Conn::read_reply`] keeps its bytes in the struct and can be resumed; a cancelled write cannot, so a caller
/// that cancels a write must drop the connection.
pub(super) struct Conn {
    io: Box<dyn Io>,
    buf: Vec<u8>,
    poisoned: bool,
    /// The caller's trace sink, labelled `smtp` or `lmtp`; it scrubs every line (an MTA could echo a secret).
    trace: Trace,
}

impl Conn {
    pub(super) fn new(io: Box<dyn Io>, trace: Trace) -> Conn {
        Conn {
            io,
            buf: Vec::new(),
            poisoned: false,
            trace,
        }
    }

    /// The trace of this conversation.
    pub(super) fn trace(&self) -> &Trace {
        &self.trace
    }

    pub(super) fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Mark the connection unusable (the caller gave up on it mid-exchange).
    pub(super) fn poison(&mut self) {
        self.poisoned = true;
    }

    fn fail<T>(&mut self, e: WireError) -> Result<T, WireError> {
        self.poisoned = true;
        Err(e)
    }

    /// Read one complete reply within `limit`.
    pub(super) async fn read_reply(&mut self, limit: Duration) -> Result<Reply, WireError> {
        if self.poisoned {
            return Err(WireError::Poisoned);
        }
        match tokio::time::timeout(limit, self.read_reply_inner()).await {
            Err(_) => self.fail(WireError::Timeout(limit)),
            Ok(Err(e)) => self.fail(e),
            Ok(Ok(r)) => Ok(r),
        }
    }

    async fn read_reply_inner(&mut self) -> Result<Reply, WireError> {
        loop {
            match reply::parse_reply(&self.buf) {
                Err(e) => return Err(WireError::Garbled(e)),
                Ok(Some((r, used))) => {
                    self.trace.wire_lines(Side::Server, &self.buf[..used]);
                    self.buf.drain(..used);
                    return Ok(r);
                }
                Ok(None) => {}
            }
            let mut chunk = [0u8; READ_CHUNK];
            let n = self.io.read(&mut chunk).await.map_err(WireError::Io)?;
            if n == 0 {
                return Err(WireError::Io(io::ErrorKind::UnexpectedEof.into()));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Write command lines (each ending in CRLF; several at once when pipelining) within `limit`.
    pub(super) async fn send_commands(
        &mut self,
        lines: &[u8],
        limit: Duration,
    ) -> Result<(), WireError> {
        self.trace.wire_lines(Side::Client, lines);
        self.write(lines, limit).await
    }

    /// Write content bytes (already stuffed) within `limit`; nothing is traced here (see [`Conn::trace_content`]).
    pub(super) async fn write(&mut self, bytes: &[u8], limit: Duration) -> Result<(), WireError> {
        if self.poisoned {
            return Err(WireError::Poisoned);
        }
        let fut = async {
            self.io.write_all(bytes).await?;
            self.io.flush().await
        };
        match tokio::time::timeout(limit, fut).await {
            Err(_) => self.fail(WireError::Timeout(limit)),
            Ok(Err(e)) => self.fail(WireError::Io(e)),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Trace the content sent after 354: its header block, then a count of the rest.
    pub(super) fn trace_content(&self, message: &[u8]) {
        self.trace.message(Side::Client, message);
    }
}
