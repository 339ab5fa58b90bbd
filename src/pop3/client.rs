//! [`Client`]: one POP3 session over TCP, implicit TLS or STLS. It owns the socket and the single read buffer,
//! sends commands, and hands the bytes to [`super::codec`]. Which messages to fetch or delete is the poller's
//! business; this type only keeps the wire in order and every wait bounded.
//!
//! Deadlines: every read must make progress within `Options::timeout`, and each response must be complete within
//! `timeout` plus its size cap at a floor rate of [`FLOOR_RATE`] bytes per second, so a server dripping one byte
//! per minute is cut off too (P-21). Sizes: status lines are capped by `max_line`, multi-line responses by
//! `max_message`.

use std::collections::VecDeque;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;
use tracing::{debug, trace};

use super::auth::{self, Mechanism};
use super::codec::{self, AuthLine, BodyDecoder, Capabilities, CodecError, StatusLine};
use super::text::sanitize;
use super::{Pop3Error, ServerError};
use crate::config::{AuthMethod, TlsMode};
use crate::secret::Secret;

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
}

impl Default for Options {
    fn default() -> Options {
        Options {
            timeout: Duration::from_secs(60),
            max_line: 64 * 1024,
            max_message: 64 * 1024 * 1024,
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
    /// RETR n: the dot-unstuffed message (its last line ending kept) or the server's `-ERR`.
    Retr {
        n: u32,
        result: Result<Vec<u8>, ServerError>,
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
}

/// A response being read. Lives in the client so that a cancelled read resumes where it stopped.
struct InFlight {
    status: Option<StatusLine>,
    body: Option<BodyDecoder>,
    /// Bytes at the front of the unread buffer already known to hold no LF.
    scanned: usize,
    deadline: Instant,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
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
    buf: Vec<u8>,
    /// Start of the unread bytes in `buf`.
    start: usize,
    caps: Capabilities,
    apop_timestamp: Option<String>,
    encrypted: bool,
    peer: Option<IpAddr>,
    opts: Options,
    pending: VecDeque<Pending>,
    ready: VecDeque<Reply>,
    inflight: Option<InFlight>,
    /// Scrubbed from any server text we show (T-20).
    secrets: Vec<Secret>,
    /// Set by a failure or a cancelled command: the wire may be out of step.
    poisoned: bool,
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
        let mut c = Client {
            stream: Stream::Plain(tcp),
            buf: Vec::new(),
            start: 0,
            caps: Capabilities::default(),
            apop_timestamp: None,
            encrypted: false,
            peer,
            opts,
            pending: VecDeque::new(),
            ready: VecDeque::new(),
            inflight: None,
            secrets: Vec::new(),
            poisoned: false,
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
            c.caps = Capabilities::default();
            c.caps = c.capa().await?;
        }
        Ok(c)
    }

    /// The capabilities from the last CAPA (post-TLS for STLS).
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// True when the link is TLS.
    pub fn is_encrypted(&self) -> bool {
        self.encrypted
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

    /// Authenticate. `Auto` uses AUTH PLAIN when CAPA lists it in SASL, else USER/PASS; APOP only when asked (it
    /// needs a valid greeting timestamp). A failure is returned as is: no other mechanism is tried. Over an
    /// unencrypted link no password-bearing command is sent unless `allow_plaintext` (T-15). AUTH PLAIN sends an
    /// initial response unless `AUTH PLAIN <b64>` would exceed 255 octets (RFC 5034 §4), then the continuation.
    ///
    /// # Errors
    /// [`Pop3Error::PlaintextRefused`], [`Pop3Error::AuthNotOffered`], [`Pop3Error::NoApopTimestamp`] and
    /// [`Pop3Error::BadCredential`] before anything is sent; [`Pop3Error::Server`] for `-ERR`; transport errors.
    ///
    /// # Cancel safety
    /// Not cancel-safe (see [`Client`]).
    pub async fn login(
        &mut self,
        user: &str,
        password: &Secret,
        method: AuthMethod,
        allow_plaintext: bool,
    ) -> Result<(), Pop3Error> {
        self.enter(true)?;
        let r = self
            .login_inner(user, password, method, allow_plaintext)
            .await;
        self.leave(r)
    }

    async fn login_inner(
        &mut self,
        user: &str,
        password: &Secret,
        method: AuthMethod,
        allow_plaintext: bool,
    ) -> Result<(), Pop3Error> {
        if !auth::is_line_safe(user) || !auth::is_line_safe(password.expose()) {
            return Err(Pop3Error::BadCredential);
        }
        let mech = auth::choose(method, &self.caps)?;
        let ts = match mech {
            Mechanism::Apop => Some(
                self.apop_timestamp
                    .clone()
                    .ok_or(Pop3Error::NoApopTimestamp)?,
            ),
            Mechanism::UserPass | Mechanism::Plain => None,
        };
        if !self.encrypted && !allow_plaintext {
            return Err(Pop3Error::PlaintextRefused);
        }
        self.secrets.push(password.clone());
        self.check_idle("login").await?;
        let shown_user = sanitize(user.as_bytes(), &[]);
        match (mech, ts) {
            (Mechanism::Apop, Some(ts)) => {
                let digest = Secret::new(auth::apop_digest(&ts, password.expose()));
                self.secrets.push(digest.clone());
                let line = format!("APOP {user} {}", digest.expose());
                self.send(&line, &format!("APOP {shown_user} [redacted]"), "apop")
                    .await?;
                self.expect_ok("APOP", "apop").await
            }
            (Mechanism::UserPass, _) => {
                self.send(
                    &format!("USER {user}"),
                    &format!("USER {shown_user}"),
                    "user",
                )
                .await?;
                self.expect_ok("USER", "user").await?;
                let line = format!("PASS {}", password.expose());
                self.send(&line, "PASS [redacted]", "pass").await?;
                self.expect_ok("PASS", "pass").await
            }
            (Mechanism::Plain, _) => self.auth_plain(user, password).await,
            (Mechanism::Apop, None) => Err(Pop3Error::NoApopTimestamp),
        }
    }

    /// AUTH PLAIN (RFC 5034 §4, RFC 4616).
    async fn auth_plain(&mut self, user: &str, password: &Secret) -> Result<(), Pop3Error> {
        let response = Secret::new(auth::plain_response(user, password.expose()));
        self.secrets.push(response.clone());
        if auth::initial_response_fits(response.expose()) {
            let line = format!("AUTH PLAIN {}", response.expose());
            self.send(&line, "AUTH PLAIN [redacted]", "auth").await?;
        } else {
            self.send("AUTH PLAIN", "AUTH PLAIN", "auth").await?;
            match self.read_auth_line().await? {
                AuthLine::Continue(_) => self.send(response.expose(), "[redacted]", "auth").await?,
                AuthLine::Status(st) if !st.ok => {
                    return Err(Pop3Error::Server {
                        command: "AUTH",
                        error: self.server_error(&st),
                    });
                }
                AuthLine::Status(_) => {
                    return Err(Pop3Error::Protocol {
                        what: "auth succeeded before credentials were sent".into(),
                    });
                }
            }
        }
        match self.read_auth_line().await? {
            AuthLine::Status(st) if st.ok => Ok(()),
            AuthLine::Status(st) => Err(Pop3Error::Server {
                command: "AUTH",
                error: self.server_error(&st),
            }),
            AuthLine::Continue(_) => {
                // PLAIN has no further round; cancel the exchange (RFC 5034 §4) before reporting.
                self.send("*", "*", "auth").await?;
                let _ = self.read_auth_line().await;
                Err(Pop3Error::Protocol {
                    what: "unexpected sasl challenge after plain credentials".into(),
                })
            }
        }
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
            let (line, phase) = match cmd {
                Pending::Retr(n) => (format!("RETR {n}"), "retr"),
                Pending::Dele(n) => (format!("DELE {n}"), "dele"),
            };
            self.send(&line, &line, phase).await?;
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
                let result = if st.ok {
                    Ok(body.unwrap_or_default())
                } else {
                    Err(self.server_error(&st))
                };
                Reply::Retr { n, result }
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

    // ---- plumbing ----

    /// Start an operation: refuse on a poisoned session, and poison it until [`Client::leave`] (so a cancelled
    /// call leaves it poisoned). `idle` additionally requires that no reply is outstanding.
    fn enter(&mut self, idle: bool) -> Result<(), Pop3Error> {
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

    fn leave<T>(&mut self, r: Result<T, Pop3Error>) -> Result<T, Pop3Error> {
        self.poisoned = matches!(&r, Err(e) if e.is_fatal());
        r
    }

    /// Nothing may arrive while no command is outstanding (P-05).
    async fn check_idle(&mut self, phase: &'static str) -> Result<(), Pop3Error> {
        if self.drain_unsolicited(phase).await? {
            Err(unsolicited())
        } else {
            Ok(())
        }
    }

    /// Pull in whatever the socket already holds without waiting, and report whether any unread byte exists.
    /// Catches a server that sent more than was asked for (P-05) or bytes injected after the STLS reply (T-04).
    async fn drain_unsolicited(&mut self, phase: &'static str) -> Result<bool, Pop3Error> {
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

    async fn start_tls(
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
        let s = match timeout(self.opts.timeout, tls.connect(name, tcp)).await {
            Err(_) => return Err(Pop3Error::Timeout { phase }),
            Ok(Err(e)) => return Err(handshake_error(e)),
            Ok(Ok(s)) => s,
        };
        debug!(version = ?s.get_ref().1.protocol_version(), "tls established");
        self.stream = Stream::Tls(Box::new(s));
        self.encrypted = true;
        Ok(())
    }

    async fn capa(&mut self) -> Result<Capabilities, Pop3Error> {
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
        debug!(capabilities = ?caps.raw, encrypted = self.encrypted, "capabilities");
        Ok(caps)
    }

    async fn expect_ok(
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

    /// Write one command line. `shown` is what the trace shows (secrets replaced).
    async fn send(
        &mut self,
        line: &str,
        shown: &str,
        phase: &'static str,
    ) -> Result<(), Pop3Error> {
        trace!("C: {shown}");
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        let stream = &mut self.stream;
        let write = async {
            stream.write_all(&bytes).await?;
            stream.flush().await
        };
        match timeout(self.opts.timeout, write).await {
            Err(_) => Err(Pop3Error::Timeout { phase }),
            Ok(Err(source)) => Err(Pop3Error::Io { phase, source }),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Read one response, resuming a half-read one. Returns the status and, for `MultiOnOk` and `+OK`, the body.
    async fn read_response(
        &mut self,
        expect: Expect,
        phase: &'static str,
    ) -> Result<(StatusLine, Option<Vec<u8>>), Pop3Error> {
        let codec_err = |source: CodecError| match source {
            CodecError::TooLarge { limit } => Pop3Error::TooLarge { phase, limit },
            source => Pop3Error::Codec { phase, source },
        };
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
                    trace!("S: [{} bytes]", body.len());
                    return Ok((st, Some(body.into_body())));
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
                        if expect == Expect::MultiOnOk && st.ok {
                            let deadline = self.deadline(self.opts.max_message);
                            let inf = InFlight {
                                body: Some(BodyDecoder::new(self.opts.max_message, st.bare_lf)),
                                status: Some(st),
                                scanned: 0,
                                deadline,
                            };
                            self.inflight = Some(inf);
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

    /// A line during AUTH. Not resumable; login is not cancel-safe anyway.
    async fn read_auth_line(&mut self) -> Result<AuthLine, Pop3Error> {
        let phase = "auth";
        let deadline = self.deadline(self.opts.max_line as u64);
        loop {
            let unread = &self.buf[self.start..];
            match codec::parse_auth_line(unread, self.opts.max_line) {
                Err(source) => return Err(Pop3Error::Codec { phase, source }),
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
    fn deadline(&self, cap: u64) -> Instant {
        Instant::now() + self.opts.timeout + Duration::from_secs(cap / FLOOR_RATE)
    }

    /// Read more bytes: within `timeout` of now and before `deadline`.
    async fn fill(&mut self, phase: &'static str, deadline: Instant) -> Result<(), Pop3Error> {
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

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start >= self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    fn secret_bytes(&self) -> Vec<&[u8]> {
        self.secrets.iter().map(|s| s.expose().as_bytes()).collect()
    }

    fn trace_status(&self, line: &[u8]) {
        if tracing::enabled!(tracing::Level::TRACE) {
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            trace!("S: {}", sanitize(line, &self.secret_bytes()));
        }
    }

    fn server_error(&self, st: &StatusLine) -> ServerError {
        ServerError {
            code: st.code.clone(),
            text: sanitize(&st.text, &self.secret_bytes()),
        }
    }
}

fn unsolicited() -> Pop3Error {
    Pop3Error::Protocol {
        what: "data received while no command was outstanding".into(),
    }
}

/// A failed handshake: rustls' own verdict when there is one, else the transport failure.
fn handshake_error(e: io::Error) -> Pop3Error {
    if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) {
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

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
