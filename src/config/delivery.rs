//! Validation of an account's destination (issue 12): `delivery` and the keys that belong to it.
//!
//! Each destination has its own keys; a key that belongs to another destination is an error at that key (it would
//! do nothing, and a user who wrote it meant something). `[smtp]` stays the top-level table for `delivery = "smtp"`.

use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use super::raw::RawAccount;
use super::validate::Checker;

/// How long an MDA may run by default before its process group is killed and the message kept (issue 12).
pub const DEFAULT_MDA_TIMEOUT: Duration = Duration::from_secs(600);
/// Accepted `mda_timeout` values, in seconds.
const MDA_TIMEOUT_RANGE: (i64, i64) = (1, 86_400);

/// Where an account's messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// MAIL/RCPT/DATA to the `[smtp]` host and port (the default).
    Smtp,
    /// LHLO/MAIL/RCPT/DATA (RFC 2033) to an LMTP server, such as Dovecot's.
    Lmtp(Lmtp),
    /// A mail delivery agent, one process per message, the message on its stdin.
    Mda(Mda),
    /// A Maildir: the message is written into `tmp/`, fsynced and moved into `new/`.
    Maildir(PathBuf),
    /// IMAP APPEND into a folder of `[account.imap]` (issue 14). Boxed: it is much larger than the others.
    Imap(Box<super::Imap>),
}

/// `lmtp = "unix:PATH"` or `"HOST:PORT"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lmtp {
    Unix(PathBuf),
    Tcp { host: String, port: u16 },
}

impl std::fmt::Display for Lmtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lmtp::Unix(p) => write!(f, "unix:{}", p.display()),
            Lmtp::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Lmtp::Tcp { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

/// `mda = [argv...]` and `mda_timeout`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mda {
    /// The program and its arguments, with `%T`, `%F` and `%%` still in them (substituted per message).
    pub argv: Vec<String>,
    pub timeout: Duration,
}

impl Mda {
    /// Substitute `%T` (the target), `%F` (the envelope sender without brackets, empty for the null sender) and `%%`.
    /// Each argument stays one argument whatever it holds: there is no shell to split it.
    pub fn argv_for(&self, target: &str, sender: &str) -> Vec<String> {
        self.argv
            .iter()
            .map(|arg| {
                let mut out = String::with_capacity(arg.len());
                let mut chars = arg.chars();
                while let Some(c) = chars.next() {
                    match (c, c == '%') {
                        (_, false) => out.push(c),
                        (_, true) => match chars.next() {
                            Some('T') => out.push_str(target),
                            Some('F') => out.push_str(sender),
                            Some(other) => out.push(other),
                            None => out.push('%'),
                        },
                    }
                }
                out
            })
            .collect()
    }
}

/// Check that `arg` uses only `%T`, `%F` and `%%`; `Err` holds the character after an unknown `%` (or `' '` for a
/// `%` at the end).
pub(crate) fn check_placeholders(arg: &str) -> Result<(), char> {
    let mut chars = arg.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some('T' | 'F' | '%') => {}
                Some(other) => return Err(other),
                None => return Err(' '),
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Smtp,
    Lmtp,
    Mda,
    Maildir,
    Imap,
}

/// `delivery` and its keys. `None` when there were problems (recorded in `c`).
pub(crate) fn check(r: &RawAccount, whole: &Range<usize>, c: &mut Checker<'_>) -> Option<Delivery> {
    let before = c.issues.len();
    let kind = c.choice(
        &r.delivery,
        "delivery",
        &[
            ("smtp", Kind::Smtp),
            ("lmtp", Kind::Lmtp),
            ("mda", Kind::Mda),
            ("maildir", Kind::Maildir),
            ("imap", Kind::Imap),
        ],
        Kind::Smtp,
    );
    let keys = [
        ("lmtp", r.lmtp.as_ref().map(Spanned::span), Kind::Lmtp),
        ("mda", r.mda.as_ref().map(Spanned::span), Kind::Mda),
        (
            "mda_timeout",
            r.mda_timeout.as_ref().map(Spanned::span),
            Kind::Mda,
        ),
        (
            "maildir",
            r.maildir.as_ref().map(Spanned::span),
            Kind::Maildir,
        ),
        ("imap", r.imap.as_ref().map(Spanned::span), Kind::Imap),
    ];
    for (key, span, belongs) in keys {
        if let Some(span) = span
            && belongs != kind
        {
            c.err(
                span,
                key,
                format!(
                    "is only used with delivery = \"{}\"; remove it or set delivery",
                    key.split('_').next().unwrap_or(key)
                ),
            );
        }
    }
    let at = r.delivery.as_ref().map(Spanned::span).unwrap_or_default();
    let delivery = match kind {
        Kind::Smtp => Delivery::Smtp,
        Kind::Lmtp => match &r.lmtp {
            None => {
                c.err(
                    at.clone(),
                    "lmtp",
                    "missing: delivery = \"lmtp\" needs lmtp = \"unix:/run/dovecot/lmtp\" or \"HOST:PORT\"",
                );
                Delivery::Smtp
            }
            Some(v) => Delivery::Lmtp(lmtp_addr(v, c)),
        },
        Kind::Mda => {
            let timeout = c.int_in(
                &r.mda_timeout,
                "mda_timeout",
                MDA_TIMEOUT_RANGE,
                DEFAULT_MDA_TIMEOUT.as_secs() as i64,
            );
            let argv = match &r.mda {
                None => {
                    c.err(
                        at,
                        "mda",
                        "missing: delivery = \"mda\" needs mda = [\"/path/to/program\", \"args\", ...]",
                    );
                    Vec::new()
                }
                Some(list) => mda_argv(list, c),
            };
            Delivery::Mda(Mda {
                argv,
                timeout: Duration::from_secs(timeout.unsigned_abs()),
            })
        }
        Kind::Maildir => match &r.maildir {
            None => {
                c.err(
                    at,
                    "maildir",
                    "missing: delivery = \"maildir\" needs maildir = \"/path/to/Maildir\"",
                );
                Delivery::Smtp
            }
            Some(p) => Delivery::Maildir(c.path(p, "maildir")),
        },
        Kind::Imap => match super::imap::check(r.imap.as_ref(), whole, c) {
            Some(imap) => Delivery::Imap(Box::new(imap)),
            None => Delivery::Smtp,
        },
    };
    (c.issues.len() == before).then_some(delivery)
}

/// `unix:PATH` (a relative path is taken from the config file's directory) or `HOST:PORT` (`[IPv6]:PORT`).
fn lmtp_addr(v: &super::raw::Str, c: &mut Checker<'_>) -> Lmtp {
    let text = v.get_ref();
    if let Some(path) = text.strip_prefix("unix:") {
        let spanned = Spanned::new(v.span(), path.to_owned());
        return Lmtp::Unix(c.path(&spanned, "lmtp"));
    }
    let parsed = text.rsplit_once(':').and_then(|(host, port)| {
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port = port.parse::<u16>().ok().filter(|p| *p > 0)?;
        (super::validate::is_host_like(host)).then(|| (host.to_owned(), port))
    });
    match parsed {
        Some((host, port)) => Lmtp::Tcp { host, port },
        None => {
            c.err(
                v.span(),
                "lmtp",
                format!("{text:?} is neither \"unix:/path/to/socket\" nor \"HOST:PORT\" (LMTP has no default port)"),
            );
            Lmtp::Tcp {
                host: String::new(),
                port: 0,
            }
        }
    }
}

/// The MDA's argv: a non-empty program, no NUL, and only the placeholders `%T`, `%F` and `%%` (fetchmail's `%T`
/// and `%F` mean the same). The program is looked up at delivery time (and by `popfetch check`), not here: the
/// config may be checked on another machine.
fn mda_argv(list: &Spanned<Vec<super::raw::Str>>, c: &mut Checker<'_>) -> Vec<String> {
    let argv: Vec<String> = list.get_ref().iter().map(|s| s.get_ref().clone()).collect();
    match argv.first() {
        None => c.err(
            list.span(),
            "mda",
            "is empty; give the program and its arguments",
        ),
        Some(p) if p.is_empty() => c.err(list.span(), "mda", "the program name is empty"),
        Some(_) => {}
    }
    for s in list.get_ref() {
        if s.get_ref().contains('\0') {
            c.err(s.span(), "mda", "contains a NUL character");
        }
        if let Err(bad) = check_placeholders(s.get_ref()) {
            c.err(
                s.span(),
                "mda",
                format!("unknown placeholder %{bad}; use %T (the target), %F (the sender) or %% (a percent sign)"),
            );
        }
    }
    argv
}
