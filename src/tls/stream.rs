//! The byte stream under the POP3 client ([`crate::pop3::Client`]) and the IMAP destination: plain TCP before (or
//! without) TLS, and the rustls stream after.
//! One enum rather than a generic parameter because STLS changes the type in the middle of a session.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// The transport under a [`crate::pop3::Client`]: plain TCP, or TLS over it.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<Sniff>>),
    /// Only while the TCP stream is being handed to the TLS handshake, or after it failed.
    Gone,
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection already closed")
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Gone => Poll::Ready(Err(gone())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Gone => Poll::Ready(Err(gone())),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Gone => Poll::Ready(Err(gone())),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }
}

/// How many of the first bytes read [`Sniff`] keeps.
const SNIFFED: usize = 8;

/// How much [`Sniff`] reads from the socket at once. rustls asks for at most 4 KiB per read (one TLS record's
/// worth): reading ahead in 64 KiB serves up to sixteen of its reads with one `recvfrom` (a 50 MiB RETR took
/// 13,156 of them before, 830 after: docs/benchmarks.md).
const READ_AHEAD: usize = 64 * 1024;

/// The TCP stream under TLS, keeping the first bytes the server sent, so that a failed handshake can tell a
/// server that spoke plain POP3 (`+OK ...`) from one that broke TLS (issue 9: implicit TLS on a plain port); and
/// reading ahead of rustls ([`READ_AHEAD`]).
pub(crate) struct Sniff {
    tcp: TcpStream,
    first: Vec<u8>,
    /// Bytes read from the socket, not yet handed to rustls: `ahead[start..end]`.
    ahead: Box<[u8]>,
    start: usize,
    end: usize,
}

impl Sniff {
    pub(crate) fn new(tcp: TcpStream) -> Sniff {
        Sniff {
            tcp,
            first: Vec::with_capacity(SNIFFED),
            ahead: vec![0; READ_AHEAD].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    /// The first bytes read from the server (at most 8).
    pub(crate) fn first_bytes(&self) -> &[u8] {
        &self.first
    }
}

impl AsyncRead for Sniff {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.start == this.end {
            let mut into = ReadBuf::new(&mut this.ahead);
            if let Err(e) = std::task::ready!(Pin::new(&mut this.tcp).poll_read(cx, &mut into)) {
                return Poll::Ready(Err(e));
            }
            let n = into.filled().len();
            (this.start, this.end) = (0, n);
            if this.first.len() < SNIFFED {
                let take = n.min(SNIFFED - this.first.len());
                this.first.extend_from_slice(&this.ahead[..take]);
            }
        }
        // Nothing read ahead here means the end of the stream: `buf` stays as it is, which says so.
        let n = (this.end - this.start).min(buf.remaining());
        buf.put_slice(&this.ahead[this.start..this.start + n]);
        this.start += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Sniff {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}
