//! The `-vv` protocol trace: each line of the POP3 and SMTP conversations at TRACE level, client lines as `C: `
//! and server lines as `S: ` after the protocol's name (`pop3 C: UIDL`, `smtp S: 250 2.0.0 Ok`, since both
//! conversations interleave in one poll), escaped and bounded, and message content shown only up to the end of its header
//! block (`[... N body bytes elided]`): bodies are private and large, and headers are what one debugs.
//!
//! The POP3 client traces its own command lines (credentials replaced by `[redacted]`, see `pop3::wire`) and
//! calls [`message`] for RETR content. SMTP goes through lettre, whose own tracing feature is off (it would log
//! the whole message); [`Traced`] wraps the TCP stream handed to lettre and traces what really crosses it: the
//! greeting, EHLO and its reply, each command and reply, and the DATA content up to its header block. popfetch
//! sends no credentials to the MTA. Every server line, on either side, is shown through the account's
//! [`Secrets`] (scrubbed, escaped, bounded; [`crate::untrusted`]), and lines are cut by the one line-end rule of
//! [`crate::untrusted::lines`].

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tracing::trace;

use crate::headers;
use crate::untrusted::lines::{self, LineEnds};
use crate::untrusted::{self, Secrets};

/// At most this many header lines of one message are traced; the rest are counted.
pub const MAX_HEADER_LINES: usize = 100;
/// A traced line is assembled up to this many bytes; the rest of the line is dropped from the trace.
const MAX_LINE: usize = 4096;

/// Trace message content received or sent on `side` (e.g. `"pop3 S"`): the header block line by line, then the
/// size of the rest, then the terminator line. `secrets` are replaced by `[redacted]` wherever they occur.
pub fn message(side: &str, msg: &[u8], secrets: &Secrets) {
    if !tracing::enabled!(tracing::Level::TRACE) {
        return;
    }
    let block = headers::header_block_end(msg);
    let mut shown = 0;
    let mut more = 0usize;
    // Lines as the header scanner reads them (`header_block_end` above), so the trace shows its header block.
    for line in lines::lines(&msg[..block], LineEnds::Any) {
        let text = &msg[line.start..line.content_end];
        if text.is_empty() {
            break;
        }
        if shown < MAX_HEADER_LINES {
            trace!("{side}: {}", secrets.show(text, untrusted::LINE));
            shown += 1;
        } else {
            more += 1;
        }
    }
    if more > 0 {
        trace!("{side}: [... {more} more header lines]");
    }
    trace!("{side}: [... {} body bytes elided]", msg.len() - block);
    trace!("{side}: .");
}

/// Trace a multi-line listing (CAPA, UIDL, LIST) on `side`: at most [`MAX_HEADER_LINES`] lines, then a count,
/// then the terminator line.
pub fn lines(side: &str, listing: &[u8], secrets: &Secrets) {
    if !tracing::enabled!(tracing::Level::TRACE) {
        return;
    }
    let mut n = 0;
    for line in lines::lines(listing, LineEnds::Lf) {
        if n < MAX_HEADER_LINES {
            let text = &listing[line.start..line.content_end];
            trace!("{side}: {}", secrets.show(text, untrusted::LINE));
        }
        n += 1;
    }
    if n > MAX_HEADER_LINES {
        trace!("{side}: [... {} more lines]", n - MAX_HEADER_LINES);
    }
    trace!("{side}: .");
}

/// Assembles traced lines from a byte stream.
#[derive(Debug, Default)]
struct LineBuf {
    buf: Vec<u8>,
    /// Bytes of the current line beyond [`MAX_LINE`].
    dropped: usize,
}

impl LineBuf {
    /// Feed bytes; call `line` with each completed line (terminator removed).
    fn feed(&mut self, bytes: &[u8], mut line: impl FnMut(&[u8], usize)) {
        for chunk in bytes.split_inclusive(|&b| b == b'\n') {
            let room = MAX_LINE.saturating_sub(self.buf.len());
            let keep = chunk.len().min(room);
            self.buf.extend_from_slice(&chunk[..keep]);
            self.dropped += chunk.len() - keep;
            if chunk.ends_with(b"\n") {
                line(lines::text(&self.buf), self.dropped);
                self.buf.clear();
                self.dropped = 0;
            }
        }
    }
}

/// Where the SMTP conversation is, as far as the trace needs to know.
#[derive(Debug)]
enum Mode {
    Commands,
    /// DATA was sent; a 354 reply starts the content.
    AwaitData,
    Content {
        in_header: bool,
        header_lines: usize,
        more_header_lines: usize,
        body_bytes: u64,
    },
}

/// A TCP stream that traces the SMTP conversation crossing it (see the module docs). Tracing is decided once, when
/// the stream is made: with TRACE off it only forwards bytes.
pub struct Traced {
    inner: TcpStream,
    active: bool,
    sent: LineBuf,
    received: LineBuf,
    mode: Mode,
    secrets: Secrets,
}

impl fmt::Debug for Traced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Traced")
            .field("inner", &self.inner)
            .field("active", &self.active)
            .finish()
    }
}

impl Traced {
    /// Trace the conversation on `inner`, showing the MTA's lines scrubbed of `secrets` (an MTA could echo them).
    pub fn new(inner: TcpStream, secrets: Secrets) -> Traced {
        Traced {
            secrets,
            inner,
            active: tracing::enabled!(tracing::Level::TRACE),
            sent: LineBuf::default(),
            received: LineBuf::default(),
            mode: Mode::Commands,
        }
    }

    fn on_write(&mut self, bytes: &[u8]) {
        let secrets = &self.secrets;
        if let Mode::Content {
            in_header,
            header_lines,
            more_header_lines,
            body_bytes,
        } = &mut self.mode
        {
            let mut rest = bytes;
            while *in_header && !rest.is_empty() {
                let cut = rest
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(rest.len(), |i| i + 1);
                self.sent.feed(&rest[..cut], |text, dropped| {
                    if text.is_empty() {
                        *in_header = false;
                    } else if *header_lines < MAX_HEADER_LINES {
                        *header_lines += 1;
                        trace!(
                            "smtp C: {}",
                            secrets.show_cut(text, untrusted::LINE, dropped)
                        );
                    } else {
                        *more_header_lines += 1;
                    }
                });
                rest = &rest[cut..];
            }
            *body_bytes += rest.len() as u64;
            return;
        }
        let mode = &mut self.mode;
        self.sent.feed(bytes, |text, dropped| {
            trace!(
                "smtp C: {}",
                secrets.show_cut(text, untrusted::LINE, dropped)
            );
            if text.eq_ignore_ascii_case(b"DATA") {
                *mode = Mode::AwaitData;
            }
        });
    }

    fn on_read(&mut self, bytes: &[u8]) {
        let secrets = &self.secrets;
        if bytes.is_empty() {
            return;
        }
        // The client sends the whole content before it reads again: server bytes mean the content has ended.
        if let Mode::Content {
            in_header,
            more_header_lines,
            body_bytes,
            ..
        } = self.mode
        {
            if more_header_lines > 0 {
                trace!("smtp C: [... {more_header_lines} more header lines]");
            }
            if !in_header {
                // The last 3 bytes are the terminator's `.` CRLF (its first CRLF ends the last content line).
                trace!(
                    "smtp C: [... {} body bytes elided]",
                    body_bytes.saturating_sub(3)
                );
                trace!("smtp C: .");
            }
            self.sent = LineBuf::default();
            self.mode = Mode::Commands;
        }
        let mode = &mut self.mode;
        self.received.feed(bytes, |text, dropped| {
            trace!(
                "smtp S: {}",
                secrets.show_cut(text, untrusted::LINE, dropped)
            );
            // The last line of a reply has a space (or nothing) after the code (RFC 5321 §4.2.1).
            let last = text.get(3) != Some(&b'-');
            if matches!(mode, Mode::AwaitData) && last {
                *mode = if text.starts_with(b"354") {
                    Mode::Content {
                        in_header: true,
                        header_lines: 0,
                        more_header_lines: 0,
                        body_bytes: 0,
                    }
                } else {
                    Mode::Commands
                };
            }
        });
    }
}

impl AsyncRead for Traced {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if this.active && matches!(r, Poll::Ready(Ok(()))) {
            let got = buf.filled()[before..].to_vec();
            this.on_read(&got);
        }
        r
    }
}

impl AsyncWrite for Traced {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, data);
        if this.active
            && let Poll::Ready(Ok(n)) = r
        {
            this.on_write(&data[..n]);
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl lettre::transport::smtp::client::AsyncTokioStream for Traced {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_buffer_joins_split_lines_and_bounds_long_ones() {
        let mut b = LineBuf::default();
        let mut got = Vec::new();
        for chunk in [&b"250-a"[..], b"\r", b"\n250 b\r\n", b"x"] {
            b.feed(chunk, |t, d| got.push((t.to_vec(), d)));
        }
        assert_eq!(got, vec![(b"250-a".to_vec(), 0), (b"250 b".to_vec(), 0)]);
        let mut got = Vec::new();
        let long = vec![b'y'; MAX_LINE + 10];
        b.feed(&long, |_, _| {});
        b.feed(b"\r\n", |t, d| got.push((t.len(), d)));
        // The leftover `x` plus MAX_LINE - 1 bytes are kept; the rest is counted.
        assert_eq!(got, vec![(MAX_LINE, 13)]);
    }
}
