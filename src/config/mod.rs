//! Configuration: TOML text → `raw` (serde mirror of the file, unknown keys rejected) → `validate` → the
//! validated [`Config`] every other module reads.
//!
//! [`parse_str`] does no file I/O: it turns text into a `Config` or a [`ConfigError`] that lists *every* problem
//! found, each with its line, column and key path. [`load`] reads the file and enforces the permission rules
//! (design invariant 5, test case T-21). Password sources are resolved only at poll time (`password`, [`PasswordSource::resolve`]).

mod delivery;
mod error;
mod imap;
pub mod locate;
mod multidrop;
mod oauth;
mod oauth_provider;
mod password;
mod perm;
mod raw;
mod validate;

#[cfg(test)]
mod delivery_tests;
#[cfg(test)]
mod load_tests;
#[cfg(test)]
mod multidrop_tests;
#[cfg(test)]
mod oauth_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod validate_tests;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::secret::Secret;

pub(crate) use delivery::check_placeholders;
pub use delivery::{DEFAULT_MDA_TIMEOUT, Delivery, Lmtp, Mda};
pub use error::{ConfigError, Problem};
pub use imap::{Bearer, Imap, ImapLogin, ImapTls};
pub use multidrop::{ENVELOPE_HEADERS, Multidrop, in_domains};
pub use oauth_provider::{ClientSecret, Provider, Settings};
pub use password::{PASSWORD_COMMAND_TIMEOUT, PasswordError, read_secret_file};
pub use validate::validate_address;

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the per-account state files live.
    pub state_dir: PathBuf,
    /// `metrics_file`: where the Prometheus text-format metrics are written after each poll ([`crate::status`]).
    pub metrics_file: Option<PathBuf>,
    /// `stale_after`: an account without a successful poll for longer needs attention (`popfetch status`);
    /// `None`: three of the account's intervals, at least an hour.
    pub stale_after: Option<Duration>,
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
    /// `batch_limit`: messages per SMTP connection before popfetch QUITs and opens a new one.
    pub batch_limit: BatchLimit,
    /// `smtp_connections`: how many transactions one account's poll may have in flight at once, each on its own
    /// connection to the MTA or LMTP server (issue 11 point 3). Default 1.
    pub connections: usize,
}

/// At most this many messages per connection to a destination, then QUIT and a new connection (fetchmail's
/// `batchlimit`). Debian's Exim stops delivering at once from the 11th message of a connection on
/// (`smtp_accept_queue_per_connection = 10`), so its users set 10. Not SMTP-specific: any destination that takes
/// several messages per connection (LMTP) counts with the same type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchLimit(Option<std::num::NonZeroU32>);

impl BatchLimit {
    /// `0` means no limit (the default).
    pub fn new(n: u32) -> BatchLimit {
        BatchLimit(std::num::NonZeroU32::new(n))
    }

    /// True when a connection that has taken `sent` messages must be closed before the next one.
    pub fn reached(self, sent: usize) -> bool {
        self.0.is_some_and(|n| sent >= n.get() as usize)
    }
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
    /// SASL XOAUTH2 (Google's and Microsoft's bearer-token mechanism) with a token from `[account.oauth2]`.
    XOAuth2,
    /// SASL OAUTHBEARER (RFC 7628) with a token from `[account.oauth2]`.
    OAuthBearer,
}

/// Where the password comes from. Resolved at poll time by [`PasswordSource::resolve`].
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// The password source; `None` exactly when `oauth2` is set (an OAuth login has no password).
    pub password: Option<PasswordSource>,
    /// `[account.oauth2]`, set exactly when `auth` is `xoauth2` or `oauthbearer`.
    pub oauth2: Option<crate::config::Settings>,
    pub auth: AuthMethod,
    /// Explicit consent to send a password over an unencrypted link (`tls = "none"`).
    pub allow_plaintext_password: bool,
    /// The RCPT TO address; validated (no CR, LF, NUL, SP, `<`, `>`; one `@`). Empty exactly when `multidrop` is
    /// set: a multidrop account's recipients come from each message.
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
    /// Where the messages go (`delivery`, default SMTP to `[smtp]`).
    pub delivery: Delivery,
    /// `[account.multidrop]` (issue 15): recipients from the envelope header; `None`: every message to `target`.
    pub multidrop: Option<Multidrop>,
}

/// Defaults that depend on the machine rather than on the file. Kept apart so that [`parse_str_with`] stays a pure
/// function of its arguments and tests can pin them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    /// `state_dir` when the file has none; `None` when it cannot be worked out (no `HOME`), which makes a missing
    /// `state_dir` an error instead of a guess.
    pub state_dir: Option<PathBuf>,
    /// `[smtp] helo_name` when the file has none.
    pub helo_name: String,
}

impl Defaults {
    /// Work the defaults out from this process: `state_dir` is `$XDG_STATE_HOME/popfetch` when that variable holds
    /// an absolute path, else `/var/lib/popfetch` when the effective uid is 0 (read from `/proc/self/status`, or
    /// `USER=root` where `/proc` is missing), else `$HOME/.local/state/popfetch`. `helo_name` is the host name when
    /// it is a plausible domain, else `localhost`.
    pub fn detect() -> Defaults {
        let is_root = perm::effective_uid()
            .map(|uid| uid == 0)
            .unwrap_or_else(|| std::env::var_os("USER").is_some_and(|u| u == "root"));
        let state_dir = default_state_dir(
            std::env::var_os("XDG_STATE_HOME").map(PathBuf::from),
            std::env::var_os("HOME").map(PathBuf::from),
            is_root,
        );
        let helo_name = hostname::get()
            .ok()
            .and_then(|h| h.into_string().ok())
            .filter(|h| validate::is_domain_like(h))
            .unwrap_or_else(|| "localhost".to_owned());
        Defaults {
            state_dir,
            helo_name,
        }
    }
}

/// The `state_dir` default rule of [`Defaults::detect`], separated from the environment for testing.
fn default_state_dir(
    xdg_state_home: Option<PathBuf>,
    home: Option<PathBuf>,
    is_root: bool,
) -> Option<PathBuf> {
    // The XDG base directory spec says relative values are invalid and must be ignored.
    if let Some(xdg) = xdg_state_home.filter(|p| p.is_absolute()) {
        return Some(xdg.join("popfetch"));
    }
    if is_root {
        return Some(PathBuf::from("/var/lib/popfetch"));
    }
    home.filter(|p| p.is_absolute())
        .map(|h| h.join(".local/state/popfetch"))
}

/// Parse and validate config text with the defaults of this machine ([`Defaults::detect`]). No file is read;
/// `source` only names the text in errors and anchors relative paths (`ca_file`, `password_file`, `state_dir`),
/// which are taken relative to the directory holding the config file.
///
/// # Errors
/// [`ConfigError::Invalid`] listing every problem found.
pub fn parse_str(text: &str, source: &Path) -> Result<Config, ConfigError> {
    parse_str_with(text, source, &Defaults::detect())
}

/// [`parse_str`] with explicit machine defaults.
///
/// # Errors
/// [`ConfigError::Invalid`] listing every problem found.
pub fn parse_str_with(
    text: &str,
    source: &Path,
    defaults: &Defaults,
) -> Result<Config, ConfigError> {
    let invalid = |mut issues: Vec<error::Issue>| {
        // In file order, whichever phase found them.
        issues.sort_by_key(|i| i.span.start);
        ConfigError::Invalid {
            path: source.to_path_buf(),
            problems: issues.into_iter().map(|i| i.locate(text)).collect(),
        }
    };
    let (raw, issues) = raw::parse(text).map_err(invalid)?;
    validate::validate(raw, issues, source, defaults).map_err(invalid)
}

/// Read, check and parse the config file at `path`.
///
/// Refused, before any network activity (T-21): a file writable by group or others (anyone who can write it can
/// make popfetch run a program through `password_command`), and a file holding an inline `password` that is
/// readable by group or others or owned by someone other than the caller or root. The error names the path and
/// the `chmod` that fixes it.
///
/// # Errors
/// [`ConfigError`]: unreadable, too large, unsafe permissions, or invalid content.
impl Account {
    /// True when the config file itself holds a secret of this account: an inline `password` or `client_secret`,
    /// for POP3 or for the IMAP destination. The file must then be private (invariant 5).
    fn holds_a_secret(&self) -> bool {
        let inline = |o: Option<&crate::config::Settings>| {
            o.is_some_and(|o| {
                matches!(
                    o.client_secret,
                    Some(crate::config::ClientSecret::Inline(_))
                )
            })
        };
        let imap = match &self.delivery {
            Delivery::Imap(i) => match &i.login {
                ImapLogin::Password(p) => matches!(p, PasswordSource::Inline(_)),
                ImapLogin::Bearer { oauth2, .. } => inline(Some(oauth2)),
            },
            _ => false,
        };
        imap || matches!(self.password, Some(PasswordSource::Inline(_)))
            || inline(self.oauth2.as_ref())
    }

    /// The server and user the account's state file names (compared by [`crate::state::Identity::same_account`]).
    pub fn identity(&self) -> crate::state::Identity {
        crate::state::Identity {
            host: self.host.clone(),
            port: self.port,
            user: self.user.clone(),
        }
    }
}

impl Config {
    /// The account named `name` in the file at `path`.
    ///
    /// # Errors
    /// [`ConfigError::NoSuchAccount`] when there is none.
    pub fn account(&self, path: &Path, name: &str) -> Result<&Account, ConfigError> {
        self.accounts
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| ConfigError::NoSuchAccount {
                path: path.to_owned(),
                name: name.to_owned(),
            })
    }

    /// Check that every name in `names` (the `--account` options) is an account of the file at `path`.
    ///
    /// # Errors
    /// [`ConfigError::NoSuchAccount`] for the first one that is not.
    pub fn check_names(&self, path: &Path, names: &[String]) -> Result<(), ConfigError> {
        names
            .iter()
            .try_for_each(|n| self.account(path, n).map(drop))
    }
}

pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let (text, meta) = perm::read_bounded(path).map_err(|e| e.into_config_error(path))?;
    perm::check_not_writable_by_others(path, &meta)?;
    let config = parse_str(&text, path)?;
    if config.accounts.iter().any(Account::holds_a_secret) {
        perm::check_private(path, &meta).map_err(|e| e.into_config_error(path))?;
    }
    Ok(config)
}

/// Every key the config file accepts, as `section.key` (`state_dir`, `smtp.host`, `account.name`, ...). The man
/// page and `config.example.toml` are tested against this list, and this list against the parser.
pub fn known_keys() -> &'static [&'static str] {
    raw::KNOWN_KEYS
}
