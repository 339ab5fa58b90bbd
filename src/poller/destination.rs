//! Where one poll's messages go: the MTA over SMTP (through [`super::link`]), an MDA, or a Maildir (issue 12,
//! [`crate::deliver`]). One interface for the per-message loop: deliver one message and get its commit, or an
//! error that says whether to keep, reject or stop ([`Verdict`]), exactly as an MTA's reply does.

use std::fmt;
use std::path::Path;

use tracing::warn;

use super::lanes::Lanes;
use super::link::Server;
use crate::config::{Account, Config, Delivery, Mda};
use crate::deliver::{self, LocalError};
use crate::error::ExitClass;
use crate::smtp::{Accepted, Envelope, SmtpError, Verdict};
use crate::untrusted::Secrets;

/// One poll's destination, opened before the first RETR (design flow step 4).
pub(super) enum Destination<'a> {
    /// SMTP or LMTP, on up to `smtp_connections` connections. Boxed: a live session is large, the local
    /// destinations are a reference.
    Smtp(Box<Lanes>),
    Mda(&'a Mda),
    Maildir(&'a Path),
    /// IMAP APPEND (issue 14); boxed as the SMTP session is.
    Imap(Box<deliver::imap::Session>),
}

/// How the destination committed one message, for the log line.
pub(super) struct Committed(pub(super) String);

/// The MTA's acceptance: its reply code and text.
impl From<Accepted> for Committed {
    fn from(a: Accepted) -> Committed {
        Committed(format!("{} {}", a.code, a.text))
    }
}

/// A delivery that did not commit.
#[derive(Debug)]
pub(super) enum DeliveryError {
    Smtp(SmtpError),
    Local(LocalError),
    Imap(deliver::imap::ImapError),
}

impl<'a> Destination<'a> {
    /// Connect to the MTA (SMTP); the local destinations need nothing before the first message.
    pub(super) async fn open(
        config: &'a Config,
        acct: &'a Account,
        secrets: &Secrets,
    ) -> Result<Self, DeliveryError> {
        let most = config.smtp.connections;
        Ok(match &acct.delivery {
            Delivery::Smtp => {
                let server = Server::Smtp(config.smtp.clone());
                Destination::Smtp(Box::new(
                    Lanes::open(server, most, secrets)
                        .await
                        .map_err(DeliveryError::Smtp)?,
                ))
            }
            Delivery::Lmtp(at) => {
                let server = Server::Lmtp {
                    at: at.clone(),
                    helo_name: config.smtp.helo_name.clone(),
                };
                Destination::Smtp(Box::new(
                    Lanes::open(server, most, secrets)
                        .await
                        .map_err(DeliveryError::Smtp)?,
                ))
            }
            Delivery::Mda(mda) => Destination::Mda(mda),
            Delivery::Maildir(root) => Destination::Maildir(root),
            Delivery::Imap(imap) => Destination::Imap(Box::new(
                super::login::open_imap(acct, imap, &config.state_dir, secrets)
                    .await
                    .map_err(DeliveryError::Imap)?,
            )),
        })
    }

    /// The MTA's announced SIZE limit (RFC 1870); local destinations have none.
    pub(super) fn size_limit(&self) -> Option<u64> {
        match self {
            Destination::Smtp(lanes) => lanes.size_limit(),
            Destination::Mda(_) | Destination::Maildir(_) | Destination::Imap(_) => None,
        }
    }

    /// Deliver one message (CRLF line endings, dot-stuffing not applied yet).
    ///
    /// # Cancel safety
    /// Not cancel safe: a cancelled delivery leaves the destination's state unknown.
    pub(super) async fn deliver(
        &mut self,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<Committed, DeliveryError> {
        let sender = envelope.from.as_deref().unwrap_or("");
        match self {
            Destination::Smtp(lanes) => lanes
                .link()
                .deliver(envelope, message)
                .await
                .map(Committed::from)
                .map_err(DeliveryError::Smtp),
            Destination::Maildir(root) => {
                let path = deliver::maildir::deliver(root, &envelope.to, sender, message)
                    .await
                    .map_err(DeliveryError::Local)?;
                Ok(Committed(format!("written to {}", path.display())))
            }
            Destination::Mda(_) | Destination::Imap(_) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                let date = deliver::imap::command::internal_date(message, now);
                self.hand(envelope, message, message.len() as u64, &date)
                    .await
            }
        }
    }

    /// Hand a whole message, read from `input` (`len` octets, CRLF line endings), to the MDA or the IMAP server:
    /// from memory, or from the spool of a large message once its RETR ended intact ([`super::local_stream`]).
    /// `date`: the IMAP internal date, worked out from the header block.
    ///
    /// # Cancel safety
    /// Not cancel safe, as [`Destination::deliver`].
    pub(super) async fn hand(
        &mut self,
        envelope: &Envelope,
        input: impl tokio::io::AsyncRead + Unpin,
        len: u64,
        date: &str,
    ) -> Result<Committed, DeliveryError> {
        let sender = envelope.from.as_deref().unwrap_or("");
        match self {
            Destination::Mda(mda) => {
                let done = deliver::mda::deliver(mda, &envelope.to, sender, input)
                    .await
                    .map_err(DeliveryError::Local)?;
                if done.unread_input {
                    warn!(
                        "the MDA {:?} exited 0 without reading the whole message; it has taken it (exit 0 says \
                         so), so it counts as delivered",
                        mda.argv[0]
                    );
                }
                if !done.stderr.is_empty() || !done.stdout.is_empty() {
                    tracing::info!(
                        "the MDA {:?} said: {}{}",
                        mda.argv[0],
                        done.stdout,
                        done.stderr
                    );
                }
                Ok(Committed("MDA exited 0".into()))
            }
            Destination::Imap(session) => match session.append_from(date, len, input).await {
                Ok(Some(uid)) => Ok(Committed(format!("IMAP APPEND OK, APPENDUID {uid}"))),
                Ok(None) => Ok(Committed("IMAP APPEND OK".into())),
                Err(e) => Err(DeliveryError::Imap(e)),
            },
            Destination::Smtp(_) | Destination::Maildir(_) => {
                Err(DeliveryError::Local(LocalError::Internal(
                    "a message handed whole to a destination that takes it otherwise",
                )))
            }
        }
    }

    /// End the session (SMTP QUIT).
    pub(super) async fn quit(self) {
        match self {
            Destination::Smtp(lanes) => lanes.quit().await,
            Destination::Imap(session) => session.logout().await,
            Destination::Mda(_) | Destination::Maildir(_) => {}
        }
    }
}

impl fmt::Display for Destination<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Smtp(_) => f.write_str("the MTA"),
            Destination::Mda(m) => write!(f, "the MDA {:?}", m.argv[0]),
            Destination::Maildir(p) => write!(f, "the Maildir {}", p.display()),
            Destination::Imap(_) => f.write_str("the IMAP server"),
        }
    }
}

impl DeliveryError {
    /// As [`SmtpError::verdict`]: keep and stop, reject this message, or a configuration problem.
    pub(super) fn verdict(&self) -> Verdict {
        match self {
            DeliveryError::Smtp(e) => e.verdict(),
            DeliveryError::Local(e) => verdict_of(e.class()),
            DeliveryError::Imap(e) => verdict_of(e.class()),
        }
    }

    pub(super) fn class(&self) -> ExitClass {
        match self {
            DeliveryError::Smtp(e) => e.class(),
            DeliveryError::Local(e) => e.class(),
            DeliveryError::Imap(e) => e.class(),
        }
    }

    /// The end-of-DATA reply was lost: the MTA may have queued the message (catalog S-07). A local destination
    /// always knows.
    pub(super) fn maybe_accepted(&self) -> bool {
        matches!(self, DeliveryError::Smtp(e) if e.maybe_accepted())
    }

    /// What the state journals for a refusal for good: the reply code and text, or the MDA's status and stderr.
    pub(super) fn refusal(&self) -> (u16, String) {
        match self {
            DeliveryError::Smtp(e) => (e.code().unwrap_or(550), e.text().to_owned()),
            DeliveryError::Local(e) => e.refusal().unwrap_or((0, e.to_string())),
            DeliveryError::Imap(e) => e.refusal().unwrap_or((0, e.to_string())),
        }
    }

    /// `; reason: ...` in plain words for an MTA refusal ([`crate::inspect::explain`]), or nothing.
    pub(super) fn explained(&self) -> String {
        match self {
            DeliveryError::Smtp(e) => super::deliver::explained(e),
            DeliveryError::Local(_) | DeliveryError::Imap(_) => String::new(),
        }
    }
}

/// A local or IMAP destination's exit class as a verdict: refused for good, a configuration problem, or keep.
fn verdict_of(class: ExitClass) -> Verdict {
    match class {
        ExitClass::Partial => Verdict::Rejected,
        ExitClass::Config => Verdict::Misconfigured,
        _ => Verdict::Temporary,
    }
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeliveryError::Smtp(e) => e.fmt(f),
            DeliveryError::Local(e) => e.fmt(f),
            DeliveryError::Imap(e) => e.fmt(f),
        }
    }
}

/// Transparent: the inner error's text and sources, so an error chain names each cause once.
impl std::error::Error for DeliveryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DeliveryError::Smtp(e) => e.source(),
            DeliveryError::Local(e) => e.source(),
            DeliveryError::Imap(e) => e.source(),
        }
    }
}
