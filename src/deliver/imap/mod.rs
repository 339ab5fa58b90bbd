//! IMAP APPEND as a destination (issue 14): one session per poll to the `[account.imap]` server, opened before the
//! first RETR, then one `APPEND` per message; the tagged `OK` is the commit (the poller then records the UID and
//! `DELE`s). An own small client rather than a crate: it sends five commands (CAPABILITY, STARTTLS, LOGIN or
//! AUTHENTICATE PLAIN / XOAUTH2 / OAUTHBEARER, APPEND, LOGOUT), with a deadline on every step and byte-exact
//! literals; the parsing is in [`codec`], the command lines in [`command`], the login in `auth`.
//!
//! Outcomes (issue 14): `NO [TRYCREATE]` is a configuration error naming the folder (never created silently);
//! `NO [OVERQUOTA]`, `NO [UNAVAILABLE]`, `BYE`, a timeout or a lost connection keep the message (exit 75); any other
//! `NO` or `BAD` refuses this message (journalled, exit 1). `[ALERT]` text is shown, escaped and scrubbed of
//! secrets like all server text ([`Secrets::show`]).

mod auth;
pub mod codec;
pub mod command;

use std::io;
use std::time::Duration;

use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tracing::{debug, warn};

use crate::config::{Imap, ImapTls, PasswordError};
use crate::oauth::OAuthError;
use crate::oauth::sasl::Challenge;
use crate::tls::stream::{Sniff, Stream};
use crate::tls::{TlsError, TlsSettings};
use crate::untrusted::{REPLY, Secrets};
use codec::{Code, CodecError, Response, Status};
use command::Literal;

pub use auth::Credential;

/// Bytes of a message written per step, each under the timeout.
const CHUNK: usize = 64 * 1024;

/// Why the IMAP destination did not take a message (or could not be opened).
#[derive(Debug, Error)]
pub enum ImapError {
    #[error("IMAP server {host}:{port}: cannot connect: {source}")]
    Connect {
        host: String,
        port: u16,
        #[source]
        source: io::Error,
    },
    #[error("IMAP server: no answer within the timeout during {phase}")]
    Timeout { phase: &'static str },
    #[error("IMAP server: connection lost during {phase}: {source}")]
    Io {
        phase: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("IMAP server closed the connection during {phase}")]
    Closed { phase: &'static str },
    #[error("IMAP server said BYE during {phase}: {text}")]
    Bye { phase: &'static str, text: String },
    #[error("IMAP server broke the protocol during {phase}: {what}")]
    Protocol { phase: &'static str, what: String },
    #[error("IMAP server sent {source} during {phase}")]
    Codec {
        phase: &'static str,
        #[source]
        source: CodecError,
    },
    #[error("IMAP tls settings: {0}")]
    TlsConfig(#[source] TlsError),
    #[error("IMAP server: tls handshake failed: {0}")]
    Handshake(#[source] io::Error),
    #[error(
        "IMAP server does not offer STARTTLS; use tls = \"implicit\" (port 993) in [account.imap]"
    )]
    NoStarttls,
    #[error("IMAP server refused {command}: {text}")]
    Refused { command: &'static str, text: String },
    #[error("IMAP server offers no login popfetch can use (LOGINDISABLED and no AUTH=PLAIN)")]
    NoLogin,
    #[error("IMAP login as {user:?} failed: {text}")]
    Login { user: String, text: String },
    #[error("IMAP server does not offer AUTH={mechanism}; check imap.auth in [account.imap]")]
    MechanismNotOffered { mechanism: &'static str },
    /// The server refused the bearer token, with an error challenge (RFC 7628 §3.2.2) when it sent one.
    #[error("IMAP server refused the oauth2 token of {user:?}{}: {text}", challenge.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
    BearerRefused {
        user: String,
        challenge: Option<Challenge>,
        text: String,
    },
    #[error("IMAP destination's oauth2 token")]
    OAuth(#[source] OAuthError),
    #[error("IMAP password: {0}")]
    Password(#[source] PasswordError),
    /// The folder does not exist; popfetch never creates it.
    #[error(
        "IMAP folder {folder:?} does not exist ({text}); create it or fix `folder` in [account.imap]"
    )]
    TryCreate { folder: String, text: String },
    /// Over quota, temporarily unavailable: the message stays on the POP3 server.
    #[error("IMAP APPEND deferred: {text}")]
    Deferred { text: String },
    /// Refused for good: this message is journalled as rejected.
    #[error("IMAP APPEND refused this message: {text}")]
    Rejected { text: String },
}

impl ImapError {
    /// For a refusal for good: what the state journals.
    pub fn refusal(&self) -> Option<(u16, String)> {
        match self {
            ImapError::Rejected { text } => Some((0, format!("IMAP APPEND NO: {text}"))),
            _ => None,
        }
    }
}

/// One IMAP session to the destination server.
pub struct Session {
    io: Stream,
    buf: Vec<u8>,
    /// Upper-cased capabilities, as last announced.
    caps: Vec<String>,
    tag: u32,
    timeout: Duration,
    secrets: Secrets,
    folder: String,
    flags: Vec<String>,
}

impl Session {
    /// Connect, secure the link, authenticate as `cfg.user` with `credential` (already known to `secrets`).
    ///
    /// # Errors
    /// Any [`ImapError`]; nothing was appended.
    pub async fn open(
        cfg: &Imap,
        credential: &Credential,
        wait: Duration,
        secrets: &Secrets,
    ) -> Result<Session, ImapError> {
        let connector = crate::tls::connector(&TlsSettings {
            ca_file: cfg.ca_file.clone(),
            cert_sha256: cfg.cert_sha256,
        })
        .map_err(ImapError::TlsConfig)?;
        let name = crate::tls::server_name(&cfg.host).map_err(ImapError::TlsConfig)?;
        let tcp = match timeout(wait, TcpStream::connect((cfg.host.as_str(), cfg.port))).await {
            Err(_) => return Err(ImapError::Timeout { phase: "connect" }),
            Ok(Err(source)) => {
                return Err(ImapError::Connect {
                    host: cfg.host.clone(),
                    port: cfg.port,
                    source,
                });
            }
            Ok(Ok(s)) => s,
        };
        let _ = tcp.set_nodelay(true);
        let mut s = Session {
            io: Stream::Plain(tcp),
            buf: Vec::new(),
            caps: Vec::new(),
            tag: 0,
            timeout: wait,
            secrets: secrets.clone(),
            folder: cfg.folder.clone(),
            flags: cfg.flags.clone(),
        };
        if cfg.tls == ImapTls::Implicit {
            s.start_tls(&connector, name.clone()).await?;
        }
        let preauth = s.greeting().await?;
        if cfg.tls == ImapTls::Starttls {
            if preauth {
                // Already logged in on a plain link: STARTTLS is no longer allowed (RFC 9051 §6.2.1).
                return Err(ImapError::NoStarttls);
            }
            if s.caps.is_empty() {
                s.simple("CAPABILITY", "capability").await?;
            }
            if !s.has("STARTTLS") {
                return Err(ImapError::NoStarttls);
            }
            s.simple("STARTTLS", "starttls").await?;
            // Bytes after the OK and before the handshake would be read as if protected (RFC 9051 §11.1).
            if !s.buf.is_empty() {
                return Err(ImapError::Protocol {
                    phase: "starttls",
                    what: "data after the STARTTLS reply, before the tls handshake".into(),
                });
            }
            s.caps.clear();
            s.start_tls(&connector, name).await?;
        }
        if s.caps.is_empty() {
            s.simple("CAPABILITY", "capability").await?;
        }
        if !preauth {
            s.login(cfg, credential).await?;
        }
        Ok(s)
    }

    async fn start_tls(
        &mut self,
        connector: &tokio_rustls::TlsConnector,
        name: rustls_pki_types::ServerName<'static>,
    ) -> Result<(), ImapError> {
        let Stream::Plain(tcp) = std::mem::replace(&mut self.io, Stream::Gone) else {
            return Err(ImapError::Protocol {
                phase: "tls handshake",
                what: "tls started twice".into(),
            });
        };
        let tls = match timeout(self.timeout, connector.connect(name, Sniff::new(tcp))).await {
            Err(_) => {
                return Err(ImapError::Timeout {
                    phase: "tls handshake",
                });
            }
            Ok(Err(e)) => return Err(ImapError::Handshake(e)),
            Ok(Ok(s)) => s,
        };
        self.io = Stream::Tls(Box::new(tls));
        Ok(())
    }

    fn has(&self, cap: &str) -> bool {
        self.caps.iter().any(|c| c == cap)
    }

    /// The greeting: `OK` (true if it was `PREAUTH`); `BYE` is a refusal to serve now.
    async fn greeting(&mut self) -> Result<bool, ImapError> {
        let phase = "greeting";
        loop {
            match self.read(phase).await? {
                Response::Untagged { status, code, text } => {
                    self.note(&code, &text);
                    return match status {
                        Status::Ok => Ok(false),
                        Status::PreAuth => Ok(true),
                        Status::Bye => Err(ImapError::Bye {
                            phase,
                            text: self.show(&text),
                        }),
                        Status::No | Status::Bad => Err(ImapError::Protocol {
                            phase,
                            what: format!("a greeting that is not OK: {}", self.show(&text)),
                        }),
                    };
                }
                Response::Capability(caps) => self.caps = caps,
                _ => {
                    return Err(ImapError::Protocol {
                        phase,
                        what: "no greeting".into(),
                    });
                }
            }
        }
    }

    /// Append one message (CRLF line endings) to the folder; `now` is the internal date when its Date field is
    /// missing or unusable. Returns the APPENDUID when the server gives one (UIDPLUS, RFC 4315).
    ///
    /// # Errors
    /// [`ImapError::TryCreate`], [`ImapError::Deferred`], [`ImapError::Rejected`], or a session failure.
    pub async fn append(&mut self, message: &[u8], now: i64) -> Result<Option<String>, ImapError> {
        let date = command::internal_date(message, now);
        self.append_from(&date, message.len() as u64, message).await
    }

    /// [`Session::append`] of a message read from `message` (a spool file for a large one, issue 11 point 2),
    /// exactly `len` octets, with the internal date `date` already worked out (from the header block).
    ///
    /// # Errors
    /// As [`Session::append`]; a read error of `message`, or fewer than `len` octets, breaks the session (the
    /// literal cannot be completed), so the message is kept.
    pub async fn append_from(
        &mut self,
        date: &str,
        len: u64,
        mut message: impl tokio::io::AsyncRead + Unpin,
    ) -> Result<Option<String>, ImapError> {
        let phase = "append";
        if self.caps.is_empty() {
            self.simple("CAPABILITY", "capability").await?;
        }
        let tag = self.next_tag();
        let lit = command::literal_for(&self.caps, len);
        let line = command::append(&tag, &self.folder, &self.flags, date, len, lit);
        debug!(line = %String::from_utf8_lossy(&line).trim_end(), "imap");
        self.write(&line, phase).await?;
        if lit == Literal::Sync
            && let Some(done) = self.read_until_tagged_or_continue(&tag, phase).await?
        {
            // Refused before the literal (RFC 9051 §7.5: a NO instead of the continuation).
            return self.append_result(done).map(|_| None);
        }
        let mut chunk = vec![0u8; CHUNK];
        let mut left = len;
        while left > 0 {
            let want = usize::try_from(left).map_or(CHUNK, |l| l.min(CHUNK));
            let n = match message.read(&mut chunk[..want]).await {
                Ok(0) => Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                r => r,
            };
            let n = match n {
                Ok(n) => n,
                Err(source) => {
                    // The literal cannot be completed: drop the connection, so nothing (not even LOGOUT) is ever
                    // read by the server as the rest of the message.
                    self.io = Stream::Gone;
                    return Err(ImapError::Io {
                        phase: "reading the spooled message",
                        source,
                    });
                }
            };
            self.write(&chunk[..n], phase).await?;
            left -= n as u64;
        }
        self.write(b"\r\n", phase).await?;
        let done = self.tagged(&tag, phase).await?;
        self.append_result(done)
    }

    fn append_result(&mut self, (status, code, text): Done) -> Result<Option<String>, ImapError> {
        let text = self.show(&text);
        match (status, code) {
            (Status::Ok, Some(Code::AppendUid(uid))) => Ok(Some(uid)),
            (Status::Ok, _) => Ok(None),
            (_, Some(Code::TryCreate)) => Err(ImapError::TryCreate {
                folder: self.folder.clone(),
                text,
            }),
            (_, Some(Code::OverQuota | Code::Unavailable)) => Err(ImapError::Deferred { text }),
            _ => Err(ImapError::Rejected { text }),
        }
    }

    /// LOGOUT, without waiting long: the messages are committed already.
    pub async fn logout(mut self) {
        let tag = self.next_tag();
        if self
            .write(format!("{tag} LOGOUT\r\n").as_bytes(), "logout")
            .await
            .is_ok()
        {
            let _ = self.tagged(&tag, "logout").await;
        }
        let _ = timeout(self.timeout, self.io.shutdown()).await;
    }

    /// A command without arguments that must succeed.
    async fn simple(&mut self, cmd: &'static str, phase: &'static str) -> Result<(), ImapError> {
        let tag = self.next_tag();
        self.write(format!("{tag} {cmd}\r\n").as_bytes(), phase)
            .await?;
        let (status, code, text) = self.tagged(&tag, phase).await?;
        if status != Status::Ok {
            return Err(ImapError::Refused {
                command: cmd,
                text: self.show(&text),
            });
        }
        if let Some(Code::Capability(caps)) = code {
            self.caps = caps;
        }
        Ok(())
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("p{}", self.tag)
    }

    /// Server text for a person: secrets scrubbed, escaped, bounded.
    fn show(&self, text: &[u8]) -> String {
        self.secrets.show(text, REPLY).as_str().to_owned()
    }

    /// What every response may carry: an `[ALERT]` is shown to the user (RFC 9051 §7.1).
    fn note(&mut self, code: &Option<Code>, text: &[u8]) {
        match code {
            Some(Code::Alert) => warn!("the IMAP server says: {}", self.show(text)),
            Some(Code::Capability(caps)) => self.caps = caps.clone(),
            _ => {}
        }
    }

    /// Read up to the tagged response for `tag`.
    async fn tagged(&mut self, tag: &str, phase: &'static str) -> Result<Done, ImapError> {
        loop {
            if let Ok(done) = self.step(tag, phase, false).await? {
                return Ok(done);
            }
        }
    }

    /// Read until a continuation request (`None`) or the tagged response for `tag`.
    async fn read_until_tagged_or_continue(
        &mut self,
        tag: &str,
        phase: &'static str,
    ) -> Result<Option<Done>, ImapError> {
        Ok(self.step(tag, phase, true).await?.ok())
    }

    /// Untagged responses are handled; returns the tagged response for `tag` or, when `want_continue`, the text
    /// of a continuation request (`Err`, a SASL challenge for AUTHENTICATE).
    async fn step(
        &mut self,
        tag: &str,
        phase: &'static str,
        want_continue: bool,
    ) -> Result<Result<Done, Vec<u8>>, ImapError> {
        loop {
            match self.read(phase).await? {
                Response::Tagged {
                    tag: t,
                    status,
                    code,
                    text,
                } if t == tag => {
                    self.note(&code, &text);
                    return Ok(Ok((status, code, text)));
                }
                Response::Tagged { tag: t, .. } => {
                    return Err(ImapError::Protocol {
                        phase,
                        what: format!("a reply for tag {}", self.show(t.as_bytes())),
                    });
                }
                Response::Untagged {
                    status: Status::Bye,
                    text,
                    ..
                } => {
                    return Err(ImapError::Bye {
                        phase,
                        text: self.show(&text),
                    });
                }
                Response::Untagged { code, text, .. } => self.note(&code, &text),
                Response::Capability(caps) => self.caps = caps,
                Response::Data => {}
                Response::Continue(text) if want_continue => return Ok(Err(text)),
                Response::Continue(_) => {
                    return Err(ImapError::Protocol {
                        phase,
                        what: "a continuation request nothing was waiting for".into(),
                    });
                }
            }
        }
    }

    /// One response line, each read under the timeout.
    async fn read(&mut self, phase: &'static str) -> Result<Response, ImapError> {
        loop {
            if let Some((r, used)) =
                codec::parse(&self.buf).map_err(|source| ImapError::Codec { phase, source })?
            {
                self.buf.drain(..used);
                return Ok(r);
            }
            let mut chunk = [0u8; 4096];
            let n = match timeout(self.timeout, self.io.read(&mut chunk)).await {
                Err(_) => return Err(ImapError::Timeout { phase }),
                Ok(Err(source)) => return Err(ImapError::Io { phase, source }),
                Ok(Ok(n)) => n,
            };
            if n == 0 {
                return Err(ImapError::Closed { phase });
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn write(&mut self, bytes: &[u8], phase: &'static str) -> Result<(), ImapError> {
        let io = async {
            self.io.write_all(bytes).await?;
            self.io.flush().await
        };
        match timeout(self.timeout, io).await {
            Err(_) => Err(ImapError::Timeout { phase }),
            Ok(Err(source)) => Err(ImapError::Io { phase, source }),
            Ok(Ok(())) => Ok(()),
        }
    }
}

/// A tagged response: its status, code and text.
type Done = (Status, Option<Code>, Vec<u8>);
