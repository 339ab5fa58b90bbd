//! The wire plumbing of [`Client`]: writing command lines, reading responses into the one buffer with their
//! deadlines, the STLS/implicit TLS handshake, and the checks for unsolicited bytes.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, timeout, timeout_at};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;
use tracing::debug;

use super::{Client, Expect, FLOOR_RATE, InFlight, READ_CHUNK};
use crate::inspect::trace::Side;
use crate::pop3::codec::{self, AuthLine, BodyDecoder, Capabilities, CodecError, StatusLine};
use crate::pop3::{Pop3Error, ServerError};
use crate::tls::stream::{Sniff, Stream};
use crate::untrusted;

impl Client {
    /// Start an operation: refuse on a poisoned session, and poison it until [`Client::leave`] (so a cancelled
    /// call leaves it poisoned). `idle` additionally requires that no reply is outstanding.
    pub(super) fn enter(&mut self, idle: bool) -> Result<(), Pop3Error> {
        if self.poisoned {
            return Err(Pop3Error::Aborted);
        }
        if idle && (self.outstanding() > 0 || self.inflight.is_some()) {
            return Err(Pop3Error::Misuse {
                what: "replies to queued commands are still outstanding",
            });
        }
        self.poisoned = true;
        Ok(())
    }

    pub(super) fn leave<T>(&mut self, r: Result<T, Pop3Error>) -> Result<T, Pop3Error> {
        self.poisoned = matches!(&r, Err(e) if e.is_fatal());
        r
    }

    /// Nothing may arrive while no command is outstanding (P-05).
    pub(super) async fn check_idle(&mut self, phase: &'static str) -> Result<(), Pop3Error> {
        if self.drain_unsolicited(phase).await? {
            Err(unsolicited())
        } else {
            Ok(())
        }
    }

    /// Pull in whatever the socket already holds without waiting, and report whether any unread byte exists.
    /// Catches a server that sent more than was asked for (P-05) or bytes injected after the STLS reply (T-04).
    pub(super) async fn drain_unsolicited(
        &mut self,
        phase: &'static str,
    ) -> Result<bool, Pop3Error> {
        if self.start < self.buf.len() {
            return Ok(true);
        }
        // A zero timeout polls the read exactly once: ready data is taken, an empty socket yields at once.
        match timeout(Duration::ZERO, self.stream.read_buf(&mut self.buf)).await {
            Err(_) => Ok(false),
            Ok(Ok(0)) => Err(Pop3Error::Closed { phase }),
            Ok(Ok(_)) => Ok(true),
            Ok(Err(source)) => Err(Pop3Error::Io { phase, source }),
        }
    }

    pub(super) async fn start_tls(
        &mut self,
        tls: &TlsConnector,
        name: rustls_pki_types::ServerName<'static>,
    ) -> Result<(), Pop3Error> {
        let phase = "tls handshake";
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return Err(Pop3Error::Misuse {
                what: "tls started twice",
            });
        };
        let connect = tls.connect(name, Sniff::new(tcp)).into_fallible();
        let s = match timeout(self.opts.timeout, connect).await {
            Err(_) => return Err(Pop3Error::Timeout { phase }),
            Ok(Err((e, sniff))) => return Err(handshake_error(e, sniff.first_bytes())),
            Ok(Ok(s)) => s,
        };
        debug!(version = ?s.get_ref().1.protocol_version(), "tls established");
        self.stream = Stream::Tls(Box::new(s));
        self.encrypted = true;
        Ok(())
    }

    pub(super) async fn capa(&mut self) -> Result<Capabilities, Pop3Error> {
        // Right after the greeting or the handshake nothing else may be waiting (P-05: a greeting with a fake
        // listing glued to it).
        self.check_idle("capa").await?;
        self.send("CAPA", "CAPA", "capa").await?;
        let (st, body) = self.read_response(Expect::MultiOnOk, "capa").await?;
        if !st.ok {
            debug!("server refused capa; assuming the rfc 1939 baseline");
            return Ok(Capabilities::default());
        }
        let caps = codec::parse_capabilities(&body.unwrap_or_default(), self.opts.max_line)
            .map_err(|source| Pop3Error::Codec {
                phase: "capa",
                source,
            })?;
        let shown: Vec<String> = caps
            .raw
            .iter()
            .map(|l| self.secrets.show(l, untrusted::REPLY).into())
            .collect();
        debug!(capabilities = ?shown, encrypted = self.encrypted, "capabilities");
        Ok(caps)
    }

    pub(super) async fn expect_ok(
        &mut self,
        command: &'static str,
        phase: &'static str,
    ) -> Result<(), Pop3Error> {
        let (st, _) = self.read_response(Expect::Single, phase).await?;
        if st.ok {
            Ok(())
        } else {
            Err(Pop3Error::Server {
                command,
                error: self.server_error(&st),
            })
        }
    }

    /// Write one command line, after any queued ones. `shown` is what the trace shows (secrets replaced).
    pub(super) async fn send(
        &mut self,
        line: &str,
        shown: &str,
        phase: &'static str,
    ) -> Result<(), Pop3Error> {
        self.queue_line(line, shown);
        self.write_out(phase).await
    }

    /// Queue one command line for the next [`Client::write_out`]; `shown` is what the trace shows.
    pub(super) fn queue_line(&mut self, line: &str, shown: &str) {
        self.trace.command(shown);
        self.out.extend_from_slice(line.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    /// Write the queued command lines, if any, in one write.
    pub(super) async fn write_out(&mut self, phase: &'static str) -> Result<(), Pop3Error> {
        if self.out.is_empty() {
            return Ok(());
        }
        let (stream, out) = (&mut self.stream, &self.out);
        let write = async {
            stream.write_all(out).await?;
            stream.flush().await
        };
        let r = match timeout(self.opts.timeout, write).await {
            Err(_) => Err(Pop3Error::Timeout { phase }),
            Ok(Err(source)) => Err(Pop3Error::Io { phase, source }),
            Ok(Ok(())) => Ok(()),
        };
        // Whatever happened, these bytes are never written again: on an error the session is unusable.
        self.out.clear();
        r
    }

    /// Read one response, resuming a half-read one. Returns the status and, for `MultiOnOk` and `+OK`, the body.
    pub(super) async fn read_response(
        &mut self,
        expect: Expect,
        phase: &'static str,
    ) -> Result<(StatusLine, Option<Vec<u8>>), Pop3Error> {
        let secrets = self.secrets.clone();
        let codec_err = |source: CodecError| codec_error(source, phase, &secrets);
        if self.inflight.is_none() {
            let deadline = self.deadline(self.opts.max_line as u64);
            self.inflight = Some(InFlight {
                status: None,
                body: None,
                scanned: 0,
                deadline,
            });
        }
        loop {
            let unread = &self.buf[self.start..];
            let Some(inf) = self.inflight.as_mut() else {
                return Err(Pop3Error::Misuse {
                    what: "response state lost",
                });
            };
            let deadline = inf.deadline;
            if let Some(body) = inf.body.as_mut() {
                let (used, done) = body.feed(unread).map_err(codec_err)?;
                self.consume(used);
                if done {
                    let Some(InFlight {
                        status: Some(st),
                        body: Some(body),
                        ..
                    }) = self.inflight.take()
                    else {
                        return Err(Pop3Error::Misuse {
                            what: "response state lost",
                        });
                    };
                    let body = body.into_body();
                    // A message: its header block, then the size of the rest (crate::inspect::trace), so bodies stay
                    // out of logs. A listing (CAPA, UIDL, LIST): its lines.
                    if phase == "retr" {
                        self.trace.message(Side::Server, &body);
                    } else {
                        self.trace.listing(&body);
                    }
                    return Ok((st, Some(body)));
                }
            } else {
                match codec::find_line_end(unread, inf.scanned, self.opts.max_line)
                    .map_err(codec_err)?
                {
                    Some(end) => {
                        let st = codec::parse_status(&unread[..end]).map_err(codec_err)?;
                        self.trace_status(&unread[..end]);
                        self.consume(end);
                        if st.bare_lf {
                            debug!(phase, "server ended a status line with a bare lf");
                        }
                        if expect != Expect::Single && st.ok {
                            let deadline = self.deadline(self.opts.max_message);
                            let inf = InFlight {
                                body: Some(BodyDecoder::new(self.opts.max_message, st.bare_lf)),
                                status: Some(st.clone()),
                                scanned: 0,
                                deadline,
                            };
                            self.inflight = Some(inf);
                            if expect == Expect::StreamOnOk {
                                return Ok((st, None));
                            }
                            continue;
                        }
                        self.inflight = None;
                        return Ok((st, None));
                    }
                    None => inf.scanned = unread.len(),
                }
            }
            self.fill(phase, deadline).await?;
        }
    }

    /// Append the next decoded bytes of the body in flight (after [`Expect::StreamOnOk`]) to `out`, waiting
    /// for the server only when nothing is decoded yet. True once the terminator was read. Bounded as a whole
    /// response: by `max_message` and by the deadline set at its status line.
    pub(super) async fn read_body_chunk(&mut self, out: &mut Vec<u8>) -> Result<bool, Pop3Error> {
        let phase = "retr";
        let before = out.len();
        loop {
            let unread = &self.buf[self.start..];
            let Some(InFlight {
                body: Some(body),
                deadline,
                ..
            }) = self.inflight.as_mut()
            else {
                return Err(Pop3Error::Misuse {
                    what: "no message body in flight",
                });
            };
            let deadline = *deadline;
            let (used, done) = body.feed_into(unread, out).map_err(|source| match source {
                CodecError::TooLarge { limit } => Pop3Error::TooLarge { phase, limit },
                source => Pop3Error::Codec { phase, source },
            })?;
            self.consume(used);
            if done {
                self.inflight = None;
                return Ok(true);
            }
            if out.len() > before {
                return Ok(false);
            }
            self.fill(phase, deadline).await?;
        }
    }

    /// A line during AUTH. Not resumable; login is not cancel-safe anyway.
    pub(super) async fn read_auth_line(&mut self) -> Result<AuthLine, Pop3Error> {
        let phase = "auth";
        let deadline = self.deadline(self.opts.max_line as u64);
        loop {
            let unread = &self.buf[self.start..];
            match codec::parse_auth_line(unread, self.opts.max_line) {
                Err(source) => return Err(codec_error(source, phase, &self.secrets)),
                Ok(Some((line, used))) => {
                    self.trace_status(&unread[..used]);
                    self.consume(used);
                    return Ok(line);
                }
                Ok(None) => self.fill(phase, deadline).await?,
            }
        }
    }

    /// The total deadline for a response of at most `cap` bytes.
    pub(super) fn deadline(&self, cap: u64) -> Instant {
        Instant::now() + self.opts.timeout + Duration::from_secs(cap / FLOOR_RATE)
    }

    /// Write what is queued, then read more bytes: within `timeout` of now and before `deadline`.
    pub(super) async fn fill(
        &mut self,
        phase: &'static str,
        deadline: Instant,
    ) -> Result<(), Pop3Error> {
        // Never wait for a reply to a command still queued here.
        self.write_out(phase).await?;
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.reserve(READ_CHUNK);
        let until = deadline.min(Instant::now() + self.opts.timeout);
        match timeout_at(until, self.stream.read_buf(&mut self.buf)).await {
            Err(_) => Err(Pop3Error::Timeout { phase }),
            Ok(Ok(0)) => Err(Pop3Error::Closed { phase }),
            Ok(Ok(_)) => Ok(()),
            // rustls reports a TCP close without close_notify as UnexpectedEof: a truncation, never a clean end.
            Ok(Err(source)) => Err(Pop3Error::Io { phase, source }),
        }
    }

    pub(super) fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start >= self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    pub(super) fn trace_status(&self, line: &[u8]) {
        self.trace.wire_lines(Side::Server, line);
    }

    pub(super) fn server_error(&self, st: &StatusLine) -> ServerError {
        ServerError {
            code: st.code.clone(),
            text: self.secrets.show(&st.text, untrusted::REPLY),
        }
    }
}

/// A codec failure as a [`Pop3Error`]; a line that is not a status line is shown scrubbed of `secrets`.
pub(super) fn codec_error(
    source: CodecError,
    phase: &'static str,
    secrets: &untrusted::Secrets,
) -> Pop3Error {
    match source {
        CodecError::TooLarge { limit } => Pop3Error::TooLarge { phase, limit },
        CodecError::BadStatus { line } => Pop3Error::NotStatus {
            phase,
            line: secrets.show(&line, untrusted::REPLY),
        },
        source => Pop3Error::Codec { phase, source },
    }
}

pub(super) fn unsolicited() -> Pop3Error {
    Pop3Error::Protocol {
        what: "data received while no command was outstanding".into(),
    }
}

/// A failed handshake: rustls' own verdict when there is one, else the transport failure. A server whose first
/// bytes were a POP3 status line speaks plain POP3 on this port: a configuration mismatch, not a broken server.
pub(super) fn handshake_error(e: io::Error, first: &[u8]) -> Pop3Error {
    let is_tls_error = e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>());
    if is_tls_error && (first.starts_with(b"+OK") || first.starts_with(b"-ERR")) {
        return Pop3Error::PlainPop3;
    }
    if is_tls_error {
        if let Some(Ok(tls)) = e
            .into_inner()
            .map(|inner| inner.downcast::<rustls::Error>())
        {
            return Pop3Error::Tls(*tls);
        }
        return Pop3Error::Protocol {
            what: "tls handshake failed".into(),
        };
    }
    Pop3Error::Io {
        phase: "tls handshake",
        source: e,
    }
}
