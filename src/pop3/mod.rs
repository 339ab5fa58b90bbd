//! popfetch's own POP3 client: RFC 1939, CAPA and response codes (RFC 2449), STLS (RFC 2595), AUTH PLAIN
//! (RFC 5034), SYS/AUTH codes (RFC 3206).
//!
//! - [`codec`]: sans-IO parsers (status lines, dot-unstuffed bodies, CAPA, UIDL, LIST, APOP timestamp).
//! - [`client`]: [`Client`], the one type that does I/O; it owns the socket and the read buffer.
//! - [`auth`]: mechanism choice and credential encodings.
//!
//! Errors are one [`Pop3Error`] enum; [`Pop3Error::class`] maps each to the process exit class.

pub mod auth;
pub mod client;
pub mod codec;

use std::fmt;
use std::io;

use tokio_rustls::rustls;

pub use client::{Client, Head, Options, Reply, Security};
pub use codec::{Capabilities, CodecError, RespCode};

use crate::untrusted::Shown;

/// A `-ERR` reply: its response code and its text, escaped and with secrets scrubbed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    /// The RFC 2449 §8 response code, if the server sent one.
    pub code: Option<RespCode>,
    /// The server's text, scrubbed, escaped and bounded ([`crate::untrusted`]); the code in brackets is part of it.
    pub text: Shown,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.text.is_empty() {
            f.write_str("-ERR")
        } else {
            write!(f, "-ERR {}", self.text)
        }
    }
}

/// Everything that can end a POP3 session (or, for [`Pop3Error::Server`] and the policy refusals, one command).
#[derive(thiserror::Error, Debug)]
pub enum Pop3Error {
    /// TCP connect failed (refused, unreachable, name not resolved).
    #[error("cannot connect to {host} port {port}")]
    Connect {
        host: String,
        port: u16,
        #[source]
        source: io::Error,
    },
    /// No progress within the timeout, or a response exceeded its total deadline.
    #[error("timed out during {phase}")]
    Timeout { phase: &'static str },
    /// A read or write failed (reset, TLS stream truncated without close_notify, ...).
    #[error("i/o error during {phase}")]
    Io {
        phase: &'static str,
        #[source]
        source: io::Error,
    },
    /// The server closed the connection.
    #[error("server closed the connection during {phase}")]
    Closed { phase: &'static str },
    /// The TLS handshake failed: certificate not trusted, wrong name, pin mismatch, alert, or not TLS at all.
    #[error("tls handshake failed")]
    Tls(#[source] rustls::Error),
    /// Implicit TLS was configured, but the server's first bytes were a POP3 status line: the port speaks plain
    /// POP3 (nothing was sent but a ClientHello).
    #[error("the server speaks plain pop3 on this port, not tls")]
    PlainPop3,
    /// The host is not usable as a TLS server name.
    #[error("bad tls settings")]
    TlsConfig(#[source] crate::tls::TlsError),
    /// STLS is required but the (pre-TLS) CAPA did not list it; nothing secret was sent (T-01).
    #[error("server does not offer stls")]
    StlsNotOffered,
    /// The server answered `-ERR` to STLS (T-02).
    #[error("server refused stls: {error}")]
    StlsRefused { error: ServerError },
    /// A password would have crossed an unencrypted link without explicit consent; nothing was sent (T-15).
    #[error("refusing to send a password over an unencrypted connection")]
    PlaintextRefused,
    /// The configured mechanism is not offered; no weaker one is substituted (T-16).
    #[error("server does not offer {mechanism}")]
    AuthNotOffered { mechanism: &'static str },
    /// APOP was configured but the greeting has no valid timestamp (T-19).
    #[error("server greeting has no valid apop timestamp")]
    NoApopTimestamp,
    /// The user name or password contains CR, LF or NUL (T-24); nothing was sent.
    #[error("user name or password contains a line break or nul")]
    BadCredential,
    /// The server broke the protocol.
    #[error("protocol violation: {what}")]
    Protocol { what: String },
    /// The server's reply is not a status line. Its text is shown scrubbed: a server that echoes a `PASS` line
    /// back puts the password here (catalog T-20).
    #[error("protocol violation during {phase}: not a pop3 status line: {line}")]
    NotStatus { phase: &'static str, line: Shown },
    /// The server sent bytes the codec rejects.
    #[error("protocol violation during {phase}")]
    Codec {
        phase: &'static str,
        #[source]
        source: CodecError,
    },
    /// The server refused a login with `[LOGIN-DELAY]` (RFC 2449 §8.1.1): the credentials may be fine, the account
    /// may just not log in this often (Cyrus's `popminpoll`). Said plainly, so it does not read like a wrong
    /// password (issue 18).
    #[error(
        "the server limits how often this account may log in and refused this login as too soon after the last \
         one ({error}); this is not a password problem: the daemon waits and retries by itself, and a cron job \
         should poll this account less often"
    )]
    LoginDelay { error: ServerError },
    /// The server refused a bearer token with an error challenge (RFC 7628 §3.2.2), then `-ERR`.
    #[error("server refused the oauth2 token ({challenge}): {error}")]
    BearerRefused {
        challenge: crate::oauth::sasl::Challenge,
        error: ServerError,
    },
    /// The server answered `-ERR`.
    #[error("{command} failed: {error}")]
    Server {
        command: &'static str,
        error: ServerError,
    },
    /// A multi-line response exceeded its cap; the rest was not read.
    #[error("response to {phase} larger than {limit} bytes")]
    TooLarge { phase: &'static str, limit: u64 },
    /// An earlier failure or a cancelled call left the session out of step; drop the client.
    #[error("pop3 session unusable after an earlier failure")]
    Aborted,
    /// The caller used the client out of order (e.g. UIDL with replies outstanding); nothing was sent.
    #[error("pop3 client misuse: {what}")]
    Misuse { what: &'static str },
}

impl Pop3Error {
    /// True when the session can no longer be used (anything but a refusal decided before or by one command).
    pub(crate) fn is_fatal(&self) -> bool {
        !matches!(
            self,
            Pop3Error::Server { .. }
                | Pop3Error::LoginDelay { .. }
                | Pop3Error::BearerRefused { .. }
                | Pop3Error::PlaintextRefused
                | Pop3Error::AuthNotOffered { .. }
                | Pop3Error::NoApopTimestamp
                | Pop3Error::BadCredential
                | Pop3Error::Misuse { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ExitClass;

    fn server(command: &'static str, code: Option<RespCode>) -> Pop3Error {
        Pop3Error::Server {
            command,
            error: ServerError {
                code,
                text: crate::untrusted::Secrets::none().show(b"x", 10),
            },
        }
    }

    #[test]
    fn p09_p11_server_error_classes() {
        assert_eq!(
            server("PASS", Some(RespCode::InUse)).class(),
            ExitClass::TempFail
        );
        assert_eq!(
            server("AUTH", Some(RespCode::LoginDelay)).class(),
            ExitClass::TempFail
        );
        assert_eq!(
            server("PASS", Some(RespCode::SysTemp)).class(),
            ExitClass::TempFail
        );
        assert_eq!(
            server("PASS", Some(RespCode::SysPerm)).class(),
            ExitClass::Unavailable
        );
        assert_eq!(
            server("greeting", Some(RespCode::SysPerm)).class(),
            ExitClass::Unavailable
        );
        assert_eq!(
            server("PASS", Some(RespCode::Auth)).class(),
            ExitClass::Security
        );
        assert_eq!(server("PASS", None).class(), ExitClass::Security);
        assert_eq!(
            server("APOP", Some(RespCode::Other("XYZZY".into()))).class(),
            ExitClass::Security
        );
        assert_eq!(server("greeting", None).class(), ExitClass::TempFail);
        assert_eq!(server("UIDL", None).class(), ExitClass::Protocol);
    }

    #[test]
    fn i18_login_delay_says_what_it_is() {
        let e = Pop3Error::LoginDelay {
            error: ServerError {
                code: Some(RespCode::LoginDelay),
                text: crate::untrusted::Secrets::none()
                    .show(b"[LOGIN-DELAY] Logins must be at least 1 minute apart", 300),
            },
        };
        assert_eq!(e.class(), ExitClass::TempFail);
        assert!(!e.is_fatal());
        let text = e.to_string();
        assert!(text.starts_with("the server limits how often"), "{text}");
        assert!(text.contains("[LOGIN-DELAY] Logins must be at least 1 minute apart"));
        assert!(text.contains("not a password problem") && text.contains("less often"));
    }

    #[test]
    fn policy_and_transport_classes() {
        assert_eq!(Pop3Error::StlsNotOffered.class(), ExitClass::Security);
        assert_eq!(Pop3Error::PlaintextRefused.class(), ExitClass::Security);
        assert_eq!(
            Pop3Error::Timeout { phase: "retr" }.class(),
            ExitClass::TempFail
        );
        assert_eq!(
            Pop3Error::Closed { phase: "retr" }.class(),
            ExitClass::TempFail
        );
        assert_eq!(
            Pop3Error::Protocol { what: "x".into() }.class(),
            ExitClass::Protocol
        );
        let bad_cert = rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName);
        assert_eq!(Pop3Error::Tls(bad_cert).class(), ExitClass::Security);
        let not_tls = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        assert_eq!(Pop3Error::Tls(not_tls).class(), ExitClass::Protocol);
    }

    #[test]
    fn messages_are_lowercase_without_period_and_show_server_text_once() {
        let e = server("PASS", Some(RespCode::Auth));
        assert_eq!(e.to_string(), "PASS failed: -ERR x");
        let e = Pop3Error::Codec {
            phase: "uidl",
            source: CodecError::DuplicateMsgNumber { n: 2 },
        };
        assert_eq!(e.to_string(), "protocol violation during uidl");
        assert!(!Pop3Error::PlaintextRefused.to_string().ends_with('.'));
    }
}
