//! Reinjection into the local MTA: popfetch's own SMTP and LMTP client (issue 11; lettre was dropped, README.md).
//!
//! Shaped like `pop3/`: [`reply`] decodes replies and [`ehlo`] capabilities without I/O, [`data`] dot-stuffs
//! content, `conn` owns the stream and its one read buffer, and [`Mta`] here runs the session: greeting, EHLO
//! (HELO fallback) or LHLO, then MAIL/RCPT/DATA per message with a deadline on every step (RFC 5321 §4.5.3.2).
//!
//! Neighbours: the poller hands in a message that the header pipeline already normalised to CRLF (design
//! invariant 6); a connection that saw an I/O error, a timeout, a garbled or out-of-sequence reply is never used
//! again. At TRACE level (`-vv`) the conversation is logged as `smtp C:`/`smtp S:` lines, the message content only
//! up to its header block (through the caller's [`Trace`]).

use std::time::Duration;

use tokio::net::TcpStream;

use crate::inspect::trace::Trace;
use crate::untrusted::{Secrets, Shown};

mod conn;
mod data;
mod ehlo;
mod error;
pub mod reply;
mod transaction;

pub use conn::Io;
use conn::{Conn, WireError};
pub use data::{DotStuffer, data_wire};
pub use ehlo::Capabilities;
pub use error::{AddressRole, Phase, SmtpError, Verdict};
use reply::Reply;
use transaction::DataPhase;
pub use transaction::MailHints;

/// RFC 5321 §4.5.3.2 minimum timeouts. A too-short end-of-DATA timeout turns a slow MTA into endless duplicates
/// (fetchmail 6.3.10's NEWS), so these are floors, not tunables.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// TCP connect.
    pub connect: Duration,
    /// Greeting, EHLO, MAIL and RCPT replies (§4.5.3.2.1-3: 5 minutes).
    pub command: Duration,
    /// Reply to DATA (§4.5.3.2.4: 2 minutes).
    pub data_init: Duration,
    /// Writing one block of content (§4.5.3.2.5: 3 minutes); the whole write gets this plus size at 1 MiB/s.
    pub data_block: Duration,
    /// Reply to end-of-DATA (§4.5.3.2.6: 10 minutes).
    pub data_end: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(30),
            command: Duration::from_secs(300),
            data_init: Duration::from_secs(120),
            data_block: Duration::from_secs(180),
            data_end: Duration::from_secs(600),
        }
    }
}

/// SMTP (RFC 5321) or LMTP (RFC 2033: LHLO, and one reply per accepted recipient after the end of data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Smtp,
    Lmtp,
}

/// Envelope of one reinjected message. Both addresses were validated (no CR, LF, NUL, SP, `<`, `>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `None` is the null sender `<>`.
    pub from: Option<String>,
    pub to: String,
}

/// The MTA's acceptance of one message (for one recipient).
#[derive(Debug, Clone)]
pub struct Accepted {
    pub code: u16,
    pub text: Shown,
}

/// What one transaction gave each recipient, in the order given: accepted, or refused (at RCPT, or, over LMTP,
/// after the end of data).
pub type PerRecipient = Vec<Result<Accepted, SmtpError>>;

/// One open SMTP or LMTP session with the MTA.
pub struct Mta {
    conn: Conn,
    addr: String,
    timeouts: Timeouts,
    caps: Capabilities,
    protocol: Protocol,
    /// The account's secrets, scrubbed from everything the MTA says (catalog T-20).
    secrets: Secrets,
    /// The content of a transaction being written (between the 354 and the end of data).
    data: Option<DataPhase>,
}

impl Mta {
    /// Connect over TCP, read the greeting and send EHLO (HELO if EHLO is refused). Called before the first RETR so
    /// an MTA outage costs no download (design flow step 4).
    ///
    /// # Errors
    /// [`SmtpError`] with the phase that failed; connect failures and 4xx greetings are temporary.
    pub async fn connect(
        host: &str,
        port: u16,
        helo_name: &str,
        timeouts: Timeouts,
        secrets: &Secrets,
        trace: &Trace,
    ) -> Result<Mta, SmtpError> {
        let addr = format!("{host}:{port}");
        let tcp =
            match tokio::time::timeout(timeouts.connect, TcpStream::connect((host, port))).await {
                Err(_) => {
                    return Err(SmtpError::Timeout {
                        addr,
                        phase: Phase::Connect,
                        secs: timeouts.connect.as_secs(),
                    });
                }
                Ok(Err(source)) => {
                    return Err(SmtpError::Unreachable {
                        addr,
                        phase: Phase::Connect,
                        source,
                    });
                }
                Ok(Ok(tcp)) => tcp,
            };
        // Commands and the end-of-data line are small, latency-bound writes: with Nagle on, each waits for the
        // delayed ACK of the previous segment (~40 ms per message, measured against Postfix).
        let _ = tcp.set_nodelay(true);
        Mta::over(
            Box::new(tcp),
            addr,
            helo_name,
            timeouts,
            Protocol::Smtp,
            secrets,
            trace,
        )
        .await
    }

    /// Run the session over an already connected stream (a unix socket for LMTP, or TCP): greeting, then EHLO
    /// (falling back to HELO on 500, 502 or 504, RFC 5321 §3.2) or LHLO. `addr` names the peer in errors; every
    /// text the MTA sends is shown through `secrets` ([`crate::untrusted`]); the conversation goes to `trace`.
    ///
    /// # Errors
    /// As [`Mta::connect`].
    pub async fn over(
        io: Box<dyn Io>,
        addr: String,
        helo_name: &str,
        timeouts: Timeouts,
        protocol: Protocol,
        secrets: &Secrets,
        trace: &Trace,
    ) -> Result<Mta, SmtpError> {
        let label = match protocol {
            Protocol::Smtp => "smtp",
            Protocol::Lmtp => "lmtp",
        };
        let mut mta = Mta {
            conn: Conn::new(io, trace.of(label, secrets)),
            addr,
            timeouts,
            caps: Capabilities::default(),
            protocol,
            secrets: secrets.clone(),
            data: None,
        };
        let t = timeouts.command;
        let greeting = mta.read(Phase::Greeting, t).await?;
        if greeting.code != 220 {
            return Err(mta.refused(Phase::Greeting, &greeting));
        }
        let hello = match protocol {
            Protocol::Smtp => "EHLO",
            Protocol::Lmtp => "LHLO",
        };
        let r = mta
            .command(Phase::Greeting, t, &format!("{hello} {helo_name}\r\n"))
            .await?;
        if r.code == 250 {
            mta.caps = Capabilities::parse(&r);
            return Ok(mta);
        }
        // An MTA without ESMTP (RFC 5321 §3.2): HELO on the same connection; it offers no extensions.
        if protocol == Protocol::Smtp && matches!(r.code, 500 | 502 | 504) {
            let r = mta
                .command(Phase::Greeting, t, &format!("HELO {helo_name}\r\n"))
                .await?;
            if r.code == 250 {
                return Ok(mta);
            }
            return Err(mta.refused(Phase::Greeting, &r));
        }
        Err(mta.refused(Phase::Greeting, &r))
    }

    /// The largest message the MTA accepts, from `SIZE n` in its EHLO reply (RFC 1870 §4); `None` when it announced
    /// no fixed limit. The poller leaves larger messages on the server without fetching them (catalog S-13).
    pub fn size_limit(&self) -> Option<u64> {
        self.caps.size_limit
    }

    /// What the MTA offered in its EHLO/LHLO reply.
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// The `host:port` (or socket path) of the MTA, for log lines.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// False once an error left the connection out of step: open a new one for the next message.
    pub fn is_usable(&self) -> bool {
        !self.conn.is_poisoned()
    }

    /// Run one MAIL/RCPT/DATA transaction for `message` (CRLF-only bytes) to the envelope's one recipient.
    ///
    /// On `Err`, check [`SmtpError::verdict`]. A negative reply before DATA is followed by RSET so the session stays
    /// usable; after anything else check [`Mta::is_usable`].
    ///
    /// # Cancel safety
    /// Not cancel safe: a cancelled call leaves the session mid-transaction; drop the `Mta`.
    pub async fn deliver(
        &mut self,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<Accepted, SmtpError> {
        let mut per = self
            .send(envelope.from.as_deref(), &[envelope.to.as_str()], message)
            .await?;
        per.pop().unwrap_or_else(|| Err(self.lost(Phase::Rcpt)))
    }

    /// `popfetch check --connect`: would the MTA take mail for `to`? `MAIL FROM:<>`, `RCPT TO:<to>`, then RSET
    /// whatever the answer, so nothing is ever queued. The null sender is the one every MTA must accept
    /// (RFC 5321 §4.5.5), so a refusal is about the recipient. Returns the reply to RCPT.
    ///
    /// # Errors
    /// As [`Mta::deliver`] before DATA.
    pub async fn probe(&mut self, to: &str) -> Result<Accepted, SmtpError> {
        let t = self.timeouts.command;
        check_address(AddressRole::Recipient, to, self.caps.smtputf8)?;
        let r = self.command(Phase::Mail, t, "MAIL FROM:<>\r\n").await?;
        if r.class() != 2 {
            let e = self.refused(Phase::Mail, &r);
            self.reset(&e).await;
            return Err(e);
        }
        let r = self
            .command(Phase::Rcpt, t, &format!("RCPT TO:<{to}>\r\n"))
            .await?;
        // 251: not local, will forward (RFC 5321 §3.4): accepted too.
        let outcome = if r.class() == 2 {
            Ok(self.accepted(&r))
        } else {
            Err(self.refused(Phase::Rcpt, &r))
        };
        match &outcome {
            Ok(_) => {
                let r = self.command(Phase::Rcpt, t, "RSET\r\n").await?;
                if r.class() != 2 {
                    return Err(self.refused(Phase::Rcpt, &r));
                }
            }
            Err(e) => self.reset(e).await,
        }
        outcome
    }

    /// Send QUIT and close. Errors are irrelevant at this point: every message already has its outcome.
    pub async fn quit(mut self) {
        if self.conn.is_poisoned() {
            return;
        }
        let t = self.timeouts.command;
        let _ = self.command(Phase::Greeting, t, "QUIT\r\n").await;
    }

    /// After a refusal before DATA, RSET (RFC 5321 §4.1.1.5) so later messages can use the session. Not after
    /// `421` (the MTA is closing the channel, §3.8) nor after an out-of-sequence reply: then the connection is
    /// dropped instead.
    async fn reset(&mut self, e: &SmtpError) {
        if !matches!(e, SmtpError::Reply { .. }) || e.code() == Some(421) {
            self.conn.poison();
            return;
        }
        let t = self.timeouts.command;
        match self.command(e.phase(), t, "RSET\r\n").await {
            Ok(r) if r.class() == 2 => {}
            _ => self.conn.poison(),
        }
    }

    async fn command(
        &mut self,
        phase: Phase,
        limit: Duration,
        line: &str,
    ) -> Result<Reply, SmtpError> {
        self.write_commands(phase, limit, line.as_bytes()).await?;
        self.read(phase, limit).await
    }

    async fn write_commands(
        &mut self,
        phase: Phase,
        limit: Duration,
        lines: &[u8],
    ) -> Result<(), SmtpError> {
        let r = self.conn.send_commands(lines, limit).await;
        r.map_err(|e| self.wire_error(phase, e))
    }

    async fn write(
        &mut self,
        phase: Phase,
        limit: Duration,
        bytes: &[u8],
    ) -> Result<(), SmtpError> {
        let r = self.conn.write(bytes, limit).await;
        r.map_err(|e| self.wire_error(phase, e))
    }

    async fn read(&mut self, phase: Phase, limit: Duration) -> Result<Reply, SmtpError> {
        let r = self.conn.read_reply(limit).await;
        r.map_err(|e| self.wire_error(phase, e))
    }

    fn wire_error(&self, phase: Phase, e: WireError) -> SmtpError {
        let addr = self.addr.clone();
        match e {
            WireError::Io(source) => SmtpError::Unreachable {
                addr,
                phase,
                source,
            },
            WireError::Timeout(d) => SmtpError::Timeout {
                addr,
                phase,
                secs: d.as_secs(),
            },
            WireError::Garbled(source) => SmtpError::Garbled {
                line: match &source {
                    reply::ReplyError::Malformed { line } => {
                        self.secrets.show(line, crate::untrusted::REPLY)
                    }
                    _ => Shown::default(),
                },
                addr,
                phase,
                source,
            },
            WireError::Poisoned => self.lost(phase),
        }
    }

    /// The error for using a connection that already failed.
    fn lost(&self, phase: Phase) -> SmtpError {
        SmtpError::Unreachable {
            addr: self.addr.clone(),
            phase,
            source: std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "connection dropped after an earlier failure",
            ),
        }
    }

    fn accepted(&self, r: &Reply) -> Accepted {
        Accepted {
            code: r.code,
            text: r.text(&self.secrets),
        }
    }

    /// A reply that is not the one wanted: a 4xx/5xx refusal, or (poisoning the connection) an out-of-sequence
    /// code such as 354 to MAIL or 250 to DATA (RFC 5321 §3.3; catalog S-20).
    fn refused(&mut self, phase: Phase, r: &Reply) -> SmtpError {
        if matches!(r.class(), 4 | 5) {
            SmtpError::Reply {
                addr: self.addr.clone(),
                phase,
                code: r.code,
                text: r.text(&self.secrets),
            }
        } else {
            self.conn.poison();
            SmtpError::Unexpected {
                addr: self.addr.clone(),
                phase,
                code: r.code,
            }
        }
    }
}

/// Refuse an address that could break out of `MAIL FROM:<...>` / `RCPT TO:<...>` (design invariant 6). Returns
/// whether it needs SMTPUTF8 (RFC 6531: non-ASCII), which is only allowed when the MTA offered it.
fn check_address(role: AddressRole, a: &str, smtputf8: bool) -> Result<bool, SmtpError> {
    let bad = |reason| SmtpError::Address {
        role,
        address: a.escape_debug().take(300).collect(),
        reason,
    };
    if a.is_empty() {
        return Err(bad("it is empty"));
    }
    if a.len() > 254 {
        return Err(bad("longer than 254 octets (RFC 5321 §4.5.3.1.3)"));
    }
    if a.chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>')
    {
        return Err(bad("it holds a control character, white space, `<` or `>`"));
    }
    if !a.contains('@') {
        return Err(bad("it has no `@`"));
    }
    let utf8 = !a.is_ascii();
    if utf8 && !smtputf8 {
        return Err(bad("it is not ASCII and the MTA does not offer SMTPUTF8"));
    }
    Ok(utf8)
}

/// The header block holds UTF-8 beyond ASCII (RFC 6532). 8-bit bytes that are not UTF-8 (a raw Latin-1 subject)
/// are not internationalised headers: SMTPUTF8 would not describe them.
fn utf8_header(message: &[u8]) -> bool {
    let header = &message[..crate::headers::header_block_end(message)];
    !header.is_ascii() && std::str::from_utf8(header).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s16_addresses_that_could_inject_are_refused_locally() {
        let ok = |a| check_address(AddressRole::Sender, a, false);
        assert!(!ok("a@b.test").unwrap());
        let long = format!("a@{}", "x".repeat(253));
        for bad in [
            "",
            "a b@c",
            "a@b>",
            "<a@b",
            "a@b\r\nRCPT TO:<x@y>",
            "a@b\0",
            "ab",
            &long,
        ] {
            assert!(matches!(ok(bad), Err(SmtpError::Address { .. })), "{bad:?}");
        }
        assert!(ok("j\u{f6}rg@b.test").is_err());
        assert!(check_address(AddressRole::Recipient, "j\u{f6}rg@b.test", true).unwrap());
    }

    #[test]
    fn s14_smtputf8_only_for_utf8_headers() {
        assert!(utf8_header("Subject: caf\u{e9}\r\n\r\nbody\r\n".as_bytes()));
        assert!(!utf8_header(b"Subject: caf\xe9\r\n\r\nbody\r\n"));
        assert!(!utf8_header("Subject: x\r\n\r\ncaf\u{e9}\r\n".as_bytes()));
    }
}

#[cfg(test)]
mod client_tests;
#[cfg(test)]
mod timeout_tests;
