//! Configuration: TOML text → `RawConfig` (serde, unknown keys rejected) → validated [`Config`].
//! `parse_str` is pure; `load` only reads the file and checks its permissions.
//!
//! STUB: the types below are the contract other modules build on; parsing is being written.

use std::path::PathBuf;
use std::time::Duration;

use crate::secret::Secret;

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the per-account state files live.
    pub state_dir: PathBuf,
    /// The MTA popfetch reinjects into.
    pub smtp: SmtpConfig,
    /// Accounts in file order; names are unique.
    pub accounts: Vec<Account>,
}

/// `[smtp]`
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// Default `127.0.0.1`.
    pub host: String,
    /// Default 25.
    pub port: u16,
    /// Name sent in EHLO; default: this machine's hostname.
    pub helo_name: String,
}

/// How the POP3 link is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS from the first byte (port 995).
    Implicit,
    /// Plain connection upgraded with STLS (RFC 2595); fails closed.
    Stls,
    /// No TLS at all. Passwords are then refused unless `allow_plaintext_password = true`.
    None,
}

/// `drop_delivered_to`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropDeliveredTo {
    /// Remove each `Delivered-To` naming `target` (or an address in `strip_delivered_to`).
    Matching,
    /// Remove every `Delivered-To` (fetchmail's `dropdelivered`).
    All,
    /// Remove none.
    None,
}

/// How to authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// AUTH PLAIN if advertised in CAPA SASL, else USER/PASS.
    Auto,
    /// USER/PASS only.
    User,
    /// AUTH PLAIN (RFC 5034) only.
    Plain,
    /// APOP (RFC 1939 §7) only; never chosen automatically.
    Apop,
}

/// Where the password comes from.
#[derive(Debug, Clone)]
pub enum PasswordSource {
    /// `password = "..."` in the config file.
    Inline(Secret),
    /// `password_file`: first line of the file.
    File(PathBuf),
    /// `password_command`: argv (no shell), first line of stdout.
    Command(Vec<String>),
}

/// One `[[account]]`.
#[derive(Debug, Clone)]
pub struct Account {
    pub name: String,
    pub host: String,
    /// Default 995 for implicit TLS, else 110.
    pub port: u16,
    pub tls: TlsMode,
    /// Extra CA certificates (PEM) trusted instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// Optional SHA-256 pin of the server's end-entity certificate (32 bytes).
    pub cert_sha256: Option<[u8; 32]>,
    pub user: String,
    pub password: PasswordSource,
    pub auth: AuthMethod,
    /// Explicit consent to send a password over an unencrypted link (`tls = "none"`).
    pub allow_plaintext_password: bool,
    /// The RCPT TO address; validated (no CR, LF, NUL, SP, `<`, `>`; one `@`).
    pub target: String,
    pub keep: bool,
    /// Daemon poll interval (default 300 s).
    pub interval: Duration,
    /// Bound on connect, TLS handshake and each wait for POP3 data (default 60 s).
    pub timeout: Duration,
    pub drop_delivered_to: DropDeliveredTo,
    /// Extra addresses whose `Delivered-To` is also removed (lower-cased).
    pub strip_delivered_to: Vec<String>,
    pub received: bool,
    /// Default 64 MiB.
    pub max_message_size: u64,
    /// MAIL FROM when the message has no usable Return-Path; `None` means `<>`.
    pub envelope_from_fallback: Option<String>,
}
