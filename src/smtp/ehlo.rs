//! What the MTA's EHLO reply says that lettre does not keep: the SIZE limit (RFC 1870 §4); and the HELO fallback
//! for an MTA that refuses EHLO (RFC 5321 §3.2), which lettre does not do itself.
//!
//! lettre reads the greeting and the EHLO reply inside `connect` and keeps only the extensions it uses itself
//! (8BITMIME, SMTPUTF8, STARTTLS, AUTH). So the stream handed to lettre is wrapped in a [`Sniffer`] that keeps a
//! bounded copy of the bytes read until the caller takes it (right after `connect`), and [`size_limit`] parses that
//! copy. Sending a second EHLO instead would cost a round trip per poll and reset nothing useful.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::trace::Traced;

/// Bytes kept of the greeting and EHLO reply: far more than any real one (Postfix sends about 200), and a bound
/// against an MTA that sends megabytes of continuation lines.
pub(super) const MAX_SNIFF: usize = 16 * 1024;

/// The copy of what was read, shared with the [`Sniffer`]; `None` once taken (the sniffer then only forwards).
pub(super) type Seen = Arc<Mutex<Option<Vec<u8>>>>;

/// A stream that forwards everything and copies what it reads into `seen` while that is `Some`.
///
/// With `helo`, it also turns lettre's `EHLO` into `HELO` (same length, so write counts stay exact): lettre always
/// greets with EHLO, and RFC 5321 §3.2 wants a client to fall back to HELO when an old MTA refuses EHLO.
pub(super) struct Sniffer {
    inner: Traced,
    seen: Seen,
    helo: bool,
}

impl Sniffer {
    pub(super) fn new(inner: Traced, helo: bool) -> (Sniffer, Seen) {
        let seen: Seen = Arc::new(Mutex::new(Some(Vec::new())));
        (
            Sniffer {
                inner,
                seen: seen.clone(),
                helo,
            },
            seen,
        )
    }
}

/// Take the bytes read so far and stop copying.
pub(super) fn take(seen: &Seen) -> Vec<u8> {
    seen.lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .unwrap_or_default()
}

impl std::fmt::Debug for Sniffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sniffer")
            .field("inner", &self.inner)
            .finish()
    }
}

impl AsyncRead for Sniffer {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) {
            let mut seen = this.seen.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(v) = seen.as_mut() {
                let got = &buf.filled()[before..];
                let room = MAX_SNIFF.saturating_sub(v.len());
                v.extend_from_slice(&got[..got.len().min(room)]);
            }
        }
        r
    }
}

impl AsyncWrite for Sniffer {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.helo
            && let Some(rest) = data.strip_prefix(b"EHLO ")
        {
            let mut helo = b"HELO ".to_vec();
            helo.extend_from_slice(rest);
            let r = Pin::new(&mut this.inner).poll_write(cx, &helo);
            match r {
                // Everything after the first partial write continues the same line unchanged.
                Poll::Ready(Ok(n)) if n > 0 => this.helo = false,
                Poll::Ready(Ok(_)) | Poll::Pending | Poll::Ready(Err(_)) => {}
            }
            return r;
        }
        Pin::new(&mut this.inner).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl lettre::transport::smtp::client::AsyncTokioStream for Sniffer {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        lettre::transport::smtp::client::AsyncTokioStream::peer_addr(&self.inner)
    }
}

/// The SIZE limit the MTA announced in its EHLO reply (`250-SIZE 10240000`, RFC 1870 §4), from the raw greeting and
/// EHLO reply bytes. `None` when SIZE is not announced, announced without a number or with 0 ("no fixed maximum",
/// RFC 1870 §4), or with a parameter that is not a decimal number: then no message is held back for its size.
pub fn size_limit(greeting_and_ehlo: &[u8]) -> Option<u64> {
    let mut first_250 = true;
    for line in greeting_and_ehlo.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        // Only EHLO reply lines (RFC 5321 §4.2.1: code, then `-` or SP); the greeting's 220 lines are skipped.
        let Some(rest) = line
            .strip_prefix(b"250-")
            .or_else(|| line.strip_prefix(b"250 "))
        else {
            continue;
        };
        // The first line of the EHLO reply is the server's domain, not a keyword (RFC 5321 §4.1.1.1).
        if std::mem::take(&mut first_250) {
            continue;
        }
        let Ok(text) = std::str::from_utf8(rest) else {
            continue;
        };
        let mut words = text.split_ascii_whitespace();
        if !words.next().is_some_and(|k| k.eq_ignore_ascii_case("SIZE")) {
            continue;
        }
        let n = words.next()?;
        if !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        return n.parse::<u64>().ok().filter(|&n| n > 0);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s13_size_limit_from_the_ehlo_reply() {
        let reply = |kw: &str| {
            format!(
                "220 mx.test ESMTP\r\n250-mx.test\r\n250-PIPELINING\r\n{kw}\r\n250 8BITMIME\r\n"
            )
            .into_bytes()
        };
        assert_eq!(size_limit(&reply("250-SIZE 10240000")), Some(10_240_000));
        assert_eq!(size_limit(&reply("250-size 1000")), Some(1000));
        // 0 and a bare SIZE: no fixed maximum.
        assert_eq!(size_limit(&reply("250-SIZE 0")), None);
        assert_eq!(size_limit(&reply("250-SIZE")), None);
        // Garbage and overflow: ignored, never a wrong limit.
        assert_eq!(size_limit(&reply("250-SIZE 12k")), None);
        assert_eq!(size_limit(&reply("250-SIZE -5")), None);
        assert_eq!(size_limit(&reply("250-SIZE 99999999999999999999999")), None);
        assert_eq!(size_limit(&reply("250-SIZEX 100")), None);
        // The domain line and the greeting are not keywords; the last line (`250 `) is.
        assert_eq!(
            size_limit(b"220-SIZE 5\r\n220 x\r\n250-SIZE 7\r\n250 AUTH\r\n"),
            None
        );
        assert_eq!(
            size_limit(b"220 x\r\n250-x\r\n250 SIZE 4096\r\n"),
            Some(4096)
        );
        assert_eq!(size_limit(b"220 x\n250-x\n250 SIZE 4096\n"), Some(4096));
        assert_eq!(size_limit(b""), None);
        assert_eq!(size_limit(b"220 x\r\n250 x\r\n"), None);
    }
}
