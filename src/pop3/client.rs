//! [`Client`]: one POP3 session over TCP, implicit TLS or STLS. It owns the socket and the single read buffer,
//! sends commands, and hands the bytes to [`super::codec`]. Which messages to fetch or delete is the poller's
//! business; this type only keeps the wire in order and every wait bounded.
//!
//! Deadlines: every read must make progress within `Options::timeout`, and each response must be complete within
//! `timeout` plus its size cap at a floor rate of [`FLOOR_RATE`] bytes per second, so a server dripping one byte
//! per minute is cut off too (P-21). Sizes: status lines are capped by `max_line`, multi-line responses by
//! `max_message`.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};
use tokio_rustls::TlsConnector;

use super::codec::{self, BodyDecoder, Capabilities, StatusLine};
use super::{Pop3Error, ServerError};
use crate::config::TlsMode;
use crate::inspect::trace::Trace;
use crate::tls::stream::Stream;
use crate::untrusted::Secrets;
use wire::unsolicited;

/// Slowest transfer rate a response may sustain before its total deadline cuts it off (bytes per second).
pub const FLOOR_RATE: u64 = 8 * 1024;

/// With PIPELINING, at most this many commands are in flight; beyond it `send_*` first reads the oldest reply
/// (RFC 2449 §6.6 asks clients to bound their window).
pub const MAX_IN_FLIGHT: usize = 16;

const READ_CHUNK: usize = 16 * 1024;

/// Limits for one session.
#[derive(Debug, Clone)]
pub struct Options {
    /// Bound on connect, the TLS handshake, and each wait for data (design: account `timeout`, default 60 s).
    pub timeout: Duration,
    /// Longest status or listing line, line ending included. 64 KiB by default: far above RFC 2449 §4's 512, so
    /// only a hostile server hits it.
    pub max_line: usize,
    /// Largest multi-line response (a message after unstuffing, or a listing).
    pub max_message: u64,
    /// The account's secrets, scrubbed from every server text the client shows (catalog T-20). The client adds
    /// the AUTH payloads it computes.
    pub secrets: Secrets,
    /// Where the `-vv` trace goes, handed in by whoever opens the session; the client labels it `pop3`.
    pub trace: Trace,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            timeout: Duration::from_secs(60),
            max_line: 64 * 1024,
            max_message: 64 * 1024 * 1024,
            secrets: Secrets::new(),
            trace: Trace::log(),
        }
    }
}

/// How the link is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte.
    Implicit,
    /// Plain TCP upgraded with STLS; fails closed.
    Stls,
    /// No TLS.
    None,
}

impl From<TlsMode> for Security {
    fn from(m: TlsMode) -> Security {
        match m {
            TlsMode::Implicit => Security::Implicit,
            TlsMode::Stls => Security::Stls,
            TlsMode::None => Security::None,
        }
    }
}

/// The reply to a queued RETR or DELE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// RETR n: the dot-unstuffed message (its last line ending kept) or the server's `-ERR`, and the size its
    /// `+OK` line announced, if it named one ([`codec::announced_octets`]).
    Retr {
        n: u32,
        result: Result<Vec<u8>, ServerError>,
        announced: Option<u64>,
    },
    /// DELE n.
    Dele {
        n: u32,
        result: Result<(), ServerError>,
    },
}

#[derive(Debug, Clone, Copy)]
enum Pending {
    Retr(u32),
    Dele(u32),
}

/// Whether a `+OK` introduces a multi-line body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Single,
    MultiOnOk,
    /// As `MultiOnOk`, but return after the status line: the body is read by [`Client::retr_chunk`].
    StreamOnOk,
}

/// A response being read. Lives in the client so that a cancelled read resumes where it stopped.
struct InFlight {
    status: Option<StatusLine>,
    body: Option<BodyDecoder>,
    /// Bytes at the front of the unread buffer already known to hold no LF.
    scanned: usize,
    deadline: Instant,
}

/// A POP3 session. Dropping it closes the socket without QUIT, so nothing marked for deletion is removed
/// (RFC 1939 §6, design invariant 2).
///
/// # Cancel safety
/// The read buffer and the state of a half-read response live in the struct, so [`Client::next_reply`] can be
/// cancelled (e.g. by `select!` or `timeout`) and called again without losing or misreading bytes. Every other
/// async method writes a command and is not cancel-safe: if one is cancelled, later calls return
/// [`Pop3Error::Aborted`] and the client should be dropped.
pub struct Client {
    stream: Stream,
    /// Queued RETR and DELE lines not yet written: they go out together, in one write (one TLS record), when the
    /// client next waits for the server ([`Client::fill`]) or sends another command. A pipelining server thus
    /// gets its commands in groups (RFC 2449 §6.6) instead of one wake-up per DELE.
    out: Vec<u8>,
    buf: Vec<u8>,
    /// Start of the unread bytes in `buf`.
    start: usize,
    caps: Capabilities,
    apop_timestamp: Option<String>,
    encrypted: bool,
    /// The server accepted `UTF8` (RFC 6856): it serves messages as stored, raw UTF-8 headers included.
    utf8: bool,
    peer: Option<IpAddr>,
    opts: Options,
    pending: VecDeque<Pending>,
    ready: VecDeque<Reply>,
    inflight: Option<InFlight>,
    /// Scrubbed from any server text we show (T-20); shared with the caller.
    secrets: Secrets,
    /// The caller's trace sink, for this POP3 conversation.
    trace: Trace,
    /// Set by a failure or a cancelled command: the wire may be out of step.
    poisoned: bool,
    /// A RETR body is being streamed ([`Client::next_head`] → [`Client::retr_chunk`]).
    streaming: bool,
    /// RETR replies that began with `+OK` ([`Client::retrieved`]).
    retrieved: usize,
}

impl Client {
    /// Connect, read the greeting and the capabilities, and secure the link as asked.
    ///
    /// For [`Security::Implicit`] the TLS handshake comes first. For [`Security::Stls`], STLS must be listed in
    /// CAPA (else [`Pop3Error::StlsNotOffered`] before anything else is sent), its reply must be `+OK`, and no byte
    /// may follow that reply before the handshake (T-04: such bytes would be parsed as if TLS-protected). After
    /// the handshake the pre-TLS capabilities are discarded and CAPA is asked again (RFC 2595 §4, T-05).
    /// A server that refuses CAPA gets an empty [`Capabilities`] (the RFC 1939 baseline).
    ///
    /// # Errors
    /// Any [`Pop3Error`]; see [`Pop3Error::class`].
    pub async fn connect(
        host: &str,
        port: u16,
        security: Security,
        tls: &TlsConnector,
        opts: Options,
    ) -> Result<Client, Pop3Error> {
        let name = match security {
            Security::None => None,
            Security::Implicit | Security::Stls => {
                Some(crate::tls::server_name(host).map_err(Pop3Error::TlsConfig)?)
            }
        };
        let tcp = match timeout(opts.timeout, TcpStream::connect((host, port))).await {
            Err(_) => return Err(Pop3Error::Timeout { phase: "connect" }),
            Ok(Err(source)) => {
                return Err(Pop3Error::Connect {
                    host: host.to_owned(),
                    port,
                    source,
                });
            }
            Ok(Ok(s)) => s,
        };
        // Commands are tiny and latency-bound; Nagle only delays them.
        let _ = tcp.set_nodelay(true);
        let peer = tcp.peer_addr().ok().map(|a| a.ip());
        let secrets = opts.secrets.clone();
        let trace = opts.trace.of("pop3", &secrets);
        let mut c = Client {
            stream: Stream::Plain(tcp),
            out: Vec::new(),
            buf: Vec::new(),
            start: 0,
            caps: Capabilities::default(),
            apop_timestamp: None,
            encrypted: false,
            utf8: false,
            peer,
            opts,
            pending: VecDeque::new(),
            ready: VecDeque::new(),
            inflight: None,
            secrets,
            trace,
            poisoned: false,
            streaming: false,
            retrieved: 0,
        };
        if let (Security::Implicit, Some(name)) = (security, &name) {
            c.start_tls(tls, name.clone()).await?;
        }
        let (greeting, _) = c.read_response(Expect::Single, "greeting").await?;
        if !greeting.ok {
            return Err(Pop3Error::Server {
                command: "greeting",
                error: c.server_error(&greeting),
            });
        }
        c.apop_timestamp = codec::apop_timestamp(&greeting.text);
        c.caps = c.capa().await?;
        if let (Security::Stls, Some(name)) = (security, name) {
            if !c.caps.stls {
                return Err(Pop3Error::StlsNotOffered);
            }
            c.send("STLS", "STLS", "stls").await?;
            let (reply, _) = c.read_response(Expect::Single, "stls").await?;
            if !reply.ok {
                return Err(Pop3Error::StlsRefused {
                    error: c.server_error(&reply),
                });
            }
            if c.drain_unsolicited("stls").await? {
                return Err(Pop3Error::Protocol {
                    what: "data after the stls reply, before the tls handshake".into(),
                });
            }
            c.start_tls(tls, name).await?;
            // Replaces the pre-TLS list wholesale, never merged with it.
            c.caps = c.capa().await?;
        }
        if c.caps.utf8 {
            c.enable_utf8().await?;
        }
        Ok(c)
    }

    /// RFC 6856 §2: `UTF8` is valid only in the AUTHORIZATION state, so it goes after the last CAPA (post-TLS
    /// for STLS) and before any credential. Without it a server may refuse or rewrite a message whose header
    /// holds raw UTF-8: Courier serves a "Cannot display Unicode content" notice in its place (issue 18).
    /// popfetch never alters a message, so UTF-8 mode is always what it wants. Nothing is re-read afterwards:
    /// unlike STLS, RFC 6856 does not change the capability list. A refusal is logged and the session goes on;
    /// a message the server then alters is caught by the RETR/LIST size rule (docs/decisions.md).
    async fn enable_utf8(&mut self) -> Result<(), Pop3Error> {
        self.check_idle("utf8").await?;
        self.send("UTF8", "UTF8", "utf8").await?;
        let (reply, _) = self.read_response(Expect::Single, "utf8").await?;
        if reply.ok {
            self.utf8 = true;
            tracing::debug!("utf-8 mode enabled (RFC 6856)");
        } else {
            tracing::warn!(
                "the server advertises UTF8 but refused it ({}); messages with raw UTF-8 headers may be altered \
                 by the server, and such a message is kept on the server",
                self.server_error(&reply)
            );
        }
        Ok(())
    }

    /// True when the server accepted `UTF8` (RFC 6856).
    pub fn utf8_mode(&self) -> bool {
        self.utf8
    }

    /// Messages this session retrieved: RETR replies that began with `+OK`, whether or not their content was then
    /// read. A server that removes what was retrieved (`EXPIRE 0`, RFC 2449 §6.7; download-once policies) removes
    /// them at QUIT, delivered or not (catalog P-27).
    pub fn retrieved(&self) -> usize {
        self.retrieved
    }

    /// The capabilities from the last CAPA (post-TLS for STLS).
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// True when the link is TLS.
    pub fn is_encrypted(&self) -> bool {
        self.encrypted
    }

    /// The server's end-entity certificate (DER) on a TLS link, e.g. for its fingerprint.
    pub fn peer_certificate(&self) -> Option<&rustls_pki_types::CertificateDer<'static>> {
        match &self.stream {
            Stream::Tls(s) => s.get_ref().1.peer_certificates()?.first(),
            _ => None,
        }
    }

    /// The server's address, for the `Received` field.
    pub fn peer_ip(&self) -> Option<IpAddr> {
        self.peer
    }

    /// True when the server advertised PIPELINING (RFC 2449 §6.6), so `send_*` writes without waiting.
    pub fn pipelining(&self) -> bool {
        self.caps.pipelining
    }

    /// Replies not yet returned by [`Client::next_reply`] (queued on the wire or already read).
    pub fn outstanding(&self) -> usize {
        self.pending.len() + self.ready.len()
    }

    /// The UIDL listing in server order (RFC 1939 §7), validated as a whole (P-15..P-17).
    ///
    /// # Errors
    /// [`Pop3Error::Server`] for `-ERR`, [`Pop3Error::Codec`] for a bad listing, transport errors.
    ///
    /// # Cancel safety
    /// Not cancel-safe (see [`Client`]).
    pub async fn uidl(&mut self) -> Result<Vec<(u32, String)>, Pop3Error> {
        self.enter(true)?;
        let r = async {
            let body = self.listing("UIDL", "uidl").await?;
            codec::parse_uidl(&body, self.opts.max_line).map_err(|source| Pop3Error::Codec {
                phase: "uidl",
                source,
            })
        }
        .await;
        self.leave(r)
    }

    /// The LIST scan listing: `(msg number, size in octets)`.
    ///
    /// # Errors
    /// As [`Client::uidl`].
    ///
    /// # Cancel safety
    /// Not cancel-safe (see [`Client`]).
    pub async fn list(&mut self) -> Result<Vec<(u32, u64)>, Pop3Error> {
        self.enter(true)?;
        let r = async {
            let body = self.listing("LIST", "list").await?;
            codec::parse_list(&body, self.opts.max_line).map_err(|source| Pop3Error::Codec {
                phase: "list",
                source,
            })
        }
        .await;
        self.leave(r)
    }

    async fn listing(
        &mut self,
        command: &'static str,
        phase: &'static str,
    ) -> Result<Vec<u8>, Pop3Error> {
        self.check_idle(phase).await?;
        self.send(command, command, phase).await?;
        let (st, body) = self.read_response(Expect::MultiOnOk, phase).await?;
        if !st.ok {
            return Err(Pop3Error::Server {
                command,
                error: self.server_error(&st),
            });
        }
        Ok(body.unwrap_or_default())
    }

    /// Queue `RETR n`. Without PIPELINING every outstanding reply is read first (and kept, in order, for
    /// [`Client::next_reply`]) so that at most one command is ever on the wire (P-28a).
    ///
    /// # Errors
    /// Transport and protocol errors, including those met while reading earlier replies.
    ///
    /// # Cancel safety
    /// Not cancel-safe (see [`Client`]).
    pub async fn send_retr(&mut self, n: u32) -> Result<(), Pop3Error> {
        self.queue(Pending::Retr(n)).await
    }

    /// Queue `DELE n`; see [`Client::send_retr`].
    ///
    /// # Errors
    /// As [`Client::send_retr`].
    ///
    /// # Cancel safety
    /// Not cancel-safe (see [`Client`]).
    pub async fn send_dele(&mut self, n: u32) -> Result<(), Pop3Error> {
        self.queue(Pending::Dele(n)).await
    }

    async fn queue(&mut self, cmd: Pending) -> Result<(), Pop3Error> {
        self.enter(false)?;
        let r = async {
            let window = if self.caps.pipelining {
                MAX_IN_FLIGHT
            } else {
                1
            };
            while self.pending.len() >= window {
                let reply = self.read_reply().await?;
                self.ready.push_back(reply);
            }
            if self.pending.is_empty() && self.drain_unsolicited("retr").await? {
                return Err(unsolicited());
            }
            let line = match cmd {
                Pending::Retr(n) => format!("RETR {n}"),
                Pending::Dele(n) => format!("DELE {n}"),
            };
            self.queue_line(&line, &line);
            self.pending.push_back(cmd);
            Ok(())
        }
        .await;
        self.leave(r)
    }

    /// The next reply, in the order the commands were sent. A `-ERR` to RETR or DELE is a [`Reply`] with an
    /// `Err` result, not an error of this call.
    ///
    /// # Errors
    /// [`Pop3Error::Misuse`] when nothing is outstanding; transport, size and protocol errors (the session is then
    /// unusable).
    ///
    /// # Cancel safety
    /// Cancel-safe: a half-read reply is kept in the client and completed by the next call.
    pub async fn next_reply(&mut self) -> Result<Reply, Pop3Error> {
        if self.poisoned {
            return Err(Pop3Error::Aborted);
        }
        if let Some(r) = self.ready.pop_front() {
            return Ok(r);
        }
        if self.pending.is_empty() {
            return Err(Pop3Error::Misuse {
                what: "no reply outstanding",
            });
        }
        let r = self.read_reply().await;
        if let Err(e) = &r
            && e.is_fatal()
        {
            self.poisoned = true;
        }
        r
    }

    async fn read_reply(&mut self) -> Result<Reply, Pop3Error> {
        let Some(&front) = self.pending.front() else {
            return Err(Pop3Error::Misuse {
                what: "no reply outstanding",
            });
        };
        let reply = match front {
            Pending::Retr(n) => {
                let (st, body) = self.read_response(Expect::MultiOnOk, "retr").await?;
                // With nothing else outstanding, any byte after the terminator means the reply ended early: a
                // server that did not dot-stuff a lone `.` line (P-31). Refuse the message rather than deliver a
                // truncated copy that a later DELE would make the only one. (Best effort: bytes still in flight
                // are caught by the next command's idle check.)
                if st.ok && self.pending.len() == 1 && self.drain_unsolicited("retr").await? {
                    return Err(unsolicited());
                }
                if st.ok {
                    self.retrieved += 1;
                }
                let announced = if st.ok {
                    codec::announced_octets(&st.text)
                } else {
                    None
                };
                let result = if st.ok {
                    Ok(body.unwrap_or_default())
                } else {
                    Err(self.server_error(&st))
                };
                Reply::Retr {
                    n,
                    result,
                    announced,
                }
            }
            Pending::Dele(n) => {
                let (st, _) = self.read_response(Expect::Single, "dele").await?;
                let result = if st.ok {
                    Ok(())
                } else {
                    Err(self.server_error(&st))
                };
                Reply::Dele { n, result }
            }
        };
        self.pending.pop_front();
        Ok(reply)
    }

    /// Send QUIT, which commits the deletions (RFC 1939 §6), and close. Refused (the socket is then simply
    /// closed, deleting nothing) when replies are still outstanding or the session failed earlier.
    ///
    /// # Errors
    /// [`Pop3Error::Server`] when QUIT got `-ERR` (deletion uncertain, P-26); [`Pop3Error::Misuse`],
    /// [`Pop3Error::Aborted`]; transport errors.
    pub async fn quit(mut self) -> Result<(), Pop3Error> {
        self.enter(true)?;
        self.check_idle("quit").await?;
        self.send("QUIT", "QUIT", "quit").await?;
        self.expect_ok("QUIT", "quit").await?;
        // Best effort: sends TLS close_notify. The server has already committed.
        let _ = timeout(self.opts.timeout, self.stream.shutdown()).await;
        Ok(())
    }
}

#[path = "login.rs"]
mod login;
#[path = "retr_stream.rs"]
mod retr_stream;
#[path = "wire.rs"]
mod wire;
pub use retr_stream::Head;

#[cfg(test)]
#[path = "client_login_tests.rs"]
mod login_tests;
#[cfg(test)]
#[path = "test_server.rs"]
mod test_server;
#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
#[cfg(test)]
#[path = "tls_tests.rs"]
mod tls_tests;
