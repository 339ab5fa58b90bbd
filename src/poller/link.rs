//! The poll's connection to the MTA, across messages: opened before the first RETR (design flow step 4), closed
//! and opened anew after `[smtp] batch_limit` messages, and opened anew when the MTA ends a session for having had
//! enough of it (issue 19). Which messages to deliver, and what a refusal means for them, stays with `deliver.rs`;
//! the wire with [`crate::smtp`].
//!
//! Why a session end is not a failure: OpenSMTPD takes at most 100 messages per session (`smtp limit max-mails`,
//! then `452 4.5.3` to MAIL), Exim 1000 (`smtp_accept_max_per_connection`, then `421`). Stopping the poll there
//! would leave a backlog for several more polls (and double the daemon's wait each time). The same message goes to
//! a new connection instead; it was refused whole, so nothing is duplicated. Only a connection that has already
//! taken a message is reopened: a refusal on a fresh one is a real temporary failure, so a down MTA can never
//! cause a loop, and each reopening follows progress.

use tracing::{debug, info, warn};

use std::time::Duration;

use crate::config::{Lmtp, SmtpConfig};
use crate::inspect::trace::Trace;
use crate::smtp::{self, Accepted, Envelope, MailHints, Mta, Phase, Protocol, SmtpError};
use crate::untrusted::Secrets;

/// The most sessions the MTA may end on one [`Link`] (one of the poll's `smtp_connections`) in one poll before the
/// poll stops with a temporary failure (exit 75) and the rest waits for the next poll. Every reopening follows at
/// least one delivered message, so this only bounds the connections an MTA with a tiny per-session limit costs: at
/// OpenSMTPD's default of 100 per session, 10,000 messages per poll and connection. Sessions closed by popfetch
/// itself for `batch_limit` do not count.
pub(super) const MAX_RECONNECTS: usize = 100;

/// Whom a [`Link`] talks to. Owned, so that a link can be moved into the task that runs its transaction
/// ([`super::lanes`]).
#[derive(Clone)]
pub(super) enum Server {
    /// The `[smtp]` MTA.
    Smtp(SmtpConfig),
    /// An LMTP server (RFC 2033, issue 12); `helo_name` goes into LHLO.
    Lmtp { at: Lmtp, helo_name: String },
}

/// One poll's MTA connection and its counters.
pub(super) struct Link {
    server: Server,
    /// `None` between a closed session and the next message.
    mta: Option<Mta>,
    /// The MTA's SIZE limit, from the first session.
    size_limit: Option<u64>,
    /// Messages the current session accepted.
    taken: usize,
    /// Sessions the MTA ended that were reopened in this poll.
    reconnects: usize,
    /// The account's secrets, scrubbed from the MTA's text.
    secrets: Secrets,
}

impl Link {
    /// Connect and EHLO.
    ///
    /// # Errors
    /// As [`Mta::connect`]: the MTA is down or refuses the session.
    pub(super) async fn open(server: Server, secrets: &Secrets) -> Result<Link, SmtpError> {
        let mta = connect(&server, secrets).await?;
        Ok(Link {
            secrets: secrets.clone(),
            server,
            size_limit: mta.size_limit(),
            mta: Some(mta),
            taken: 0,
            reconnects: 0,
        })
    }

    /// A link with no session yet: the first message connects (as after a session the MTA ended).
    pub(super) fn closed(server: Server, secrets: &Secrets) -> Link {
        Link {
            secrets: secrets.clone(),
            server,
            size_limit: None,
            mta: None,
            taken: 0,
            reconnects: 0,
        }
    }

    /// The MTA's announced SIZE limit (RFC 1870), see [`Mta::size_limit`].
    pub(super) fn size_limit(&self) -> Option<u64> {
        self.size_limit
    }

    /// Deliver one message, on a new session when the batch is full or the MTA ended the current one.
    ///
    /// # Errors
    /// As [`Mta::deliver`], or the refusal of a new session. After [`MAX_RECONNECTS`] reopenings, the MTA's
    /// session-ending reply itself.
    ///
    /// # Cancel safety
    /// Not cancel safe, as [`Mta::deliver`].
    pub(super) async fn deliver(
        &mut self,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<Accepted, SmtpError> {
        let rcpts = [envelope.to.as_str()];
        let r = self.run(envelope, Step::Whole(&rcpts, message)).await?;
        r.and_then(|mut per| per.pop())
            .unwrap_or_else(|| Err(self.lost(Phase::EndOfData)))
    }

    /// Deliver one message to several recipients in one transaction (multidrop, issue 15): one `RCPT TO` each,
    /// and each recipient's outcome (over LMTP, its own reply after the data). `envelope.to` is not used.
    ///
    /// # Errors
    /// As [`Link::deliver`], when the transaction failed as a whole (every recipient refused included).
    pub(super) async fn deliver_each(
        &mut self,
        envelope: &Envelope,
        rcpts: &[&str],
        message: &[u8],
    ) -> Result<smtp::PerRecipient, SmtpError> {
        let r = self.run(envelope, Step::Whole(rcpts, message)).await?;
        r.ok_or_else(|| self.lost(Phase::EndOfData))
    }

    /// Start a streamed transaction to `rcpts` (MAIL, one RCPT each, DATA up to the 354), on a new session when the
    /// batch is full or the MTA ended the current one: nothing of the content was sent yet, so reopening is as safe
    /// as for [`Link::deliver`]. Then [`Link::write_content`], and [`Link::end_data`] (one recipient) or
    /// [`Link::end_data_each`] (multidrop), or [`Link::abandon`]. `envelope.to` is not used.
    ///
    /// # Errors
    /// As [`Link::deliver`] before DATA.
    pub(super) async fn open_data(
        &mut self,
        envelope: &Envelope,
        rcpts: &[&str],
        hints: MailHints,
    ) -> Result<(), SmtpError> {
        self.run(envelope, Step::Open(rcpts, hints))
            .await
            .map(|_| ())
    }

    /// Show the streamed message's header block in the `-vv` trace.
    pub(super) fn trace_header(&mut self, header: &[u8]) {
        if let Some(m) = self.mta.as_mut() {
            m.trace_header(header);
        }
    }

    /// Write streamed content. After an error the session is gone (no end of data was sent).
    ///
    /// # Errors
    /// As [`Mta::write_content`].
    pub(super) async fn write_content(&mut self, chunk: &[u8]) -> Result<(), SmtpError> {
        let Some(m) = self.mta.as_mut() else {
            return Err(self.lost(Phase::Data));
        };
        let r = m.write_content(chunk).await;
        if r.is_err() {
            self.mta = None;
        }
        r
    }

    /// End the streamed content of a one-recipient transaction and get the MTA's answer. No session is reopened
    /// after this point: the content went to this one.
    ///
    /// # Errors
    /// As [`Mta::end_data`].
    pub(super) async fn end_data(&mut self) -> Result<Accepted, SmtpError> {
        let mut per = self.end_data_each().await?;
        per.pop()
            .unwrap_or_else(|| Err(self.lost(Phase::EndOfData)))
    }

    /// End the streamed content and get each recipient's outcome, in [`Link::open_data`]'s order (over LMTP, one
    /// reply each after the data).
    ///
    /// # Errors
    /// As [`Mta::end_data`], when the transaction failed as a whole.
    pub(super) async fn end_data_each(&mut self) -> Result<smtp::PerRecipient, SmtpError> {
        let Some(m) = self.mta.as_mut() else {
            return Err(self.lost(Phase::EndOfData));
        };
        let r = m.end_data().await;
        if r.is_ok() {
            self.taken += 1;
        }
        // Out of step (an error, or an LMTP server that stopped after answering for some recipients): the next
        // message opens a new connection.
        if self.mta.as_ref().is_some_and(|m| !m.is_usable()) {
            self.mta = None;
        }
        r
    }

    /// Abandon the streamed transaction: the connection is dropped without the end of data (RFC 5321 §4.1.1.4),
    /// so the MTA accepts nothing; the next message opens a new one.
    pub(super) fn abandon(&mut self) {
        if let Some(mut m) = self.mta.take() {
            m.abandon();
        }
    }

    fn lost(&self, phase: Phase) -> SmtpError {
        SmtpError::Unreachable {
            addr: match &self.server {
                Server::Smtp(smtp) => format!("{}:{}", smtp.host, smtp.port),
                Server::Lmtp { at, .. } => at.to_string(),
            },
            phase,
            source: std::io::Error::new(std::io::ErrorKind::NotConnected, "no open session"),
        }
    }

    async fn run(
        &mut self,
        envelope: &Envelope,
        step: Step<'_>,
    ) -> Result<Option<smtp::PerRecipient>, SmtpError> {
        if let Server::Smtp(smtp) = &self.server
            && smtp.batch_limit.reached(self.taken)
            && let Some(mta) = self.mta.take()
        {
            debug!(
                "MTA {}: batch_limit reached after {} message(s); next message on a new connection",
                mta.addr(),
                self.taken
            );
            mta.quit().await;
        }
        loop {
            let mta = match self.mta.take() {
                Some(m) => m,
                None => {
                    self.taken = 0;
                    connect(&self.server, &self.secrets).await?
                }
            };
            let mta = self.mta.insert(mta);
            let r = match step {
                Step::Whole(rcpts, message) => mta
                    .send(envelope.from.as_deref(), rcpts, message)
                    .await
                    .map(Some),
                Step::Open(rcpts, hints) => {
                    let from = envelope.from.as_deref();
                    mta.open_data(from, rcpts, hints).await.map(|()| None)
                }
            };
            let e = match r {
                Ok(accepted) => {
                    if accepted.is_some() {
                        self.taken += 1;
                    }
                    // An LMTP server that stopped after answering for some recipients: the next message opens a
                    // new connection.
                    if self.mta.as_ref().is_some_and(|m| !m.is_usable()) {
                        self.mta = None;
                    }
                    return Ok(accepted);
                }
                Err(e) => e,
            };
            if !e.session_exhausted() {
                // A connection left out of step is never reused: the next message opens a new one.
                if self.mta.as_ref().is_some_and(|m| !m.is_usable()) {
                    self.mta = None;
                }
                return Err(e);
            }
            // The session is over either way. After 421 the MTA closed it (RFC 5321 §3.8): no QUIT.
            let mta = self.mta.take();
            if e.code() != Some(421)
                && let Some(m) = mta
            {
                m.quit().await;
            }
            if self.taken == 0 {
                return Err(e);
            }
            if self.reconnects >= MAX_RECONNECTS {
                warn!(
                    "the MTA ended {MAX_RECONNECTS} sessions in this poll, the most popfetch reopens in one poll; \
                     the rest waits for the next poll"
                );
                return Err(e);
            }
            self.reconnects += 1;
            info!(
                "{e}: the MTA ended the session after {} message(s); going on with a new connection ({} of at \
                 most {MAX_RECONNECTS} in this poll)",
                self.taken, self.reconnects
            );
        }
    }

    /// QUIT the current session, if one is open.
    pub(super) async fn quit(self) {
        if let Some(mta) = self.mta {
            mta.quit().await;
        }
    }
}

/// What [`Link::run`] does on the session.
#[derive(Clone, Copy)]
enum Step<'m> {
    /// A whole transaction for a message in hand, to these recipients.
    Whole(&'m [&'m str], &'m [u8]),
    /// A streamed transaction's start to these recipients, up to the 354.
    Open(&'m [&'m str], MailHints),
}

async fn connect(server: &Server, secrets: &Secrets) -> Result<Mta, SmtpError> {
    let timeouts = smtp::Timeouts::default();
    let (at, helo_name) = match server {
        Server::Smtp(smtp) => {
            let trace = Trace::log();
            return Mta::connect(
                &smtp.host,
                smtp.port,
                &smtp.helo_name,
                timeouts,
                secrets,
                &trace,
            )
            .await;
        }
        Server::Lmtp { at, helo_name } => (at, helo_name),
    };
    let addr = at.to_string();
    let unreachable = |source| SmtpError::Unreachable {
        addr: addr.clone(),
        phase: Phase::Connect,
        source,
    };
    let io: Box<dyn smtp::Io> = match at {
        Lmtp::Unix(path) => Box::new(
            within(
                timeouts.connect,
                &addr,
                tokio::net::UnixStream::connect(path),
            )
            .await?
            .map_err(unreachable)?,
        ),
        Lmtp::Tcp { host, port } => {
            let tcp = within(
                timeouts.connect,
                &addr,
                tokio::net::TcpStream::connect((host.as_str(), *port)),
            )
            .await?
            .map_err(unreachable)?;
            // As for SMTP: small latency-bound writes (see Mta::connect).
            let _ = tcp.set_nodelay(true);
            Box::new(tcp)
        }
    };
    let trace = Trace::log();
    Mta::over(
        io,
        addr,
        helo_name,
        timeouts,
        Protocol::Lmtp,
        secrets,
        &trace,
    )
    .await
}

/// `fut` bounded by the connect deadline.
async fn within<T>(
    limit: Duration,
    addr: &str,
    fut: impl std::future::Future<Output = T>,
) -> Result<T, SmtpError> {
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| SmtpError::Timeout {
            addr: addr.to_owned(),
            phase: Phase::Connect,
            secs: limit.as_secs(),
        })
}
