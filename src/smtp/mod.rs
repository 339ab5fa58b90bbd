//! Reinjection into the local MTA over one SMTP connection per poll (lettre's low-level `AsyncSmtpConnection`).
//!
//! Neighbours: the poller hands in a message that the header pipeline already normalised to CRLF; this module
//! frames it for DATA, runs MAIL/RCPT/DATA with a deadline on every step, and classifies the outcome.
//!
//! lettre traps worked around here (../shared/dependencies.md): its only timeout covers connect, so every step is
//! wrapped in `tokio::time::timeout`; `message()` always appends `\r\n.\r\n`, so one trailing CRLF is stripped
//! first; it dot-stuffs only after CRLF, which is safe because the pipeline removed every bare CR and LF; a
//! connection that saw an I/O error, a timeout or a garbled reply is never used again.
//!
//! At TRACE level (`-vv`) the conversation is logged as `C:`/`S:` lines by the stream wrapper
//! [`crate::trace::Traced`], with the message content shown only up to its header block.
//!
//! Every text the MTA sends (reply lines, and lettre's errors, which quote them) becomes [`Shown`] through the
//! account's [`Secrets`], in [`reply_text`] and [`classify`] only: an MTA that echoes a secret cannot put it
//! into a log line, the state journal or the status file (catalog T-20).

use std::fmt;
use std::time::Duration;

use lettre::Address;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::{Data, Mail, Quit, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::Response;
use tokio::net::TcpStream;

use crate::error::ExitClass;
use crate::failpoint;
use crate::trace::Traced;
use crate::untrusted::{self, Secrets, Shown};

mod ehlo;

pub use ehlo::size_limit;

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
    /// Writing the message (§4.5.3.2.5: 3 minutes per block; we bound the whole write by it plus size).
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

/// The SMTP step an error happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Connect,
    Greeting,
    Mail,
    Rcpt,
    Data,
    EndOfData,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Connect => "connect",
            Phase::Greeting => "greeting/EHLO",
            Phase::Mail => "MAIL FROM",
            Phase::Rcpt => "RCPT TO",
            Phase::Data => "DATA",
            Phase::EndOfData => "end of DATA",
        })
    }
}

/// Why a transaction or the connection failed.
#[derive(thiserror::Error, Debug)]
pub enum SmtpError {
    /// The MTA could not be reached or dropped the connection.
    #[error("MTA {addr}: {phase} failed: {reason}")]
    Unreachable {
        addr: String,
        phase: Phase,
        reason: String,
    },
    /// A step took longer than its RFC 5321 limit.
    #[error("MTA {addr}: no reply to {phase} within {secs} s")]
    Timeout {
        addr: String,
        phase: Phase,
        secs: u64,
    },
    /// The MTA answered with a negative reply.
    #[error("MTA {addr} answered {code} to {phase}: {text}")]
    Reply {
        addr: String,
        phase: Phase,
        code: u16,
        text: Shown,
    },
    /// The MTA broke the protocol (RFC 5321 §3.3: no message data without 354).
    #[error("MTA {addr}: unexpected reply {code} to {phase}")]
    Unexpected {
        addr: String,
        phase: Phase,
        code: u16,
    },
}

/// What a failed delivery means for the message and the poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Try again next poll: keep the message, stop delivering now (4xx, lost connection, timeout).
    Temporary,
    /// This message was refused for good (5xx to MAIL, DATA or end-of-DATA): keep it, record it as rejected.
    Rejected,
    /// Every message would fail alike (a 5xx to RCPT TO that is about the configured target, 530 authentication
    /// required, a refused greeting): a configuration problem, nothing is recorded (catalog S-03).
    Misconfigured,
}

impl SmtpError {
    /// How the poller must treat this failure, judged from the reply alone. A 5xx to RCPT TO is about the target
    /// only when its code or text says so ([`crate::explain::refuses_recipient`]); otherwise it is this message's
    /// rejection (Postfix applies sender restrictions at RCPT TO), and the poller may still find it is about the
    /// target from the envelope or from a second sender refused alike (`poller::refusal`).
    pub fn verdict(&self) -> Verdict {
        match self {
            SmtpError::Reply {
                code, phase, text, ..
            } if (500..600).contains(code) => {
                let about_target = *phase == Phase::Rcpt && crate::explain::refuses_recipient(text);
                if *code == 530 || *phase == Phase::Greeting || about_target {
                    Verdict::Misconfigured
                } else {
                    Verdict::Rejected
                }
            }
            _ => Verdict::Temporary,
        }
    }

    /// The exit class of this failure.
    pub fn class(&self) -> ExitClass {
        match self.verdict() {
            Verdict::Temporary => ExitClass::TempFail,
            Verdict::Rejected => ExitClass::Partial,
            Verdict::Misconfigured => ExitClass::Config,
        }
    }

    /// True when the MTA ended the session for having had enough of this connection rather than refusing the
    /// message: `421` at any step (RFC 5321 §3.8: the server closes the channel; Exim's
    /// `smtp_accept_max_per_connection`), or `452` with enhanced code `4.5.3` to MAIL (OpenSMTPD's
    /// `smtp limit max-mails`: "Too many messages sent"; RFC 3463 §3.6 "too many recipients"). On a connection
    /// that already took a message, the poller then opens a new one and goes on with the same message; the same
    /// refusal on a fresh connection is a real temporary failure. `452 4.3.1` (no queue space) is not this: it
    /// stops the poll (catalog S-01).
    pub fn session_exhausted(&self) -> bool {
        match self {
            SmtpError::Reply { code: 421, .. } => true,
            SmtpError::Reply {
                code: 452,
                phase: Phase::Mail,
                text,
                ..
            } => text.trim_start().starts_with("4.5.3"),
            _ => false,
        }
    }

    /// True when the link failed after the message may have been handed over in full (no clear reply to
    /// end-of-DATA): the MTA may have queued it, so a later retry may deliver it twice (catalog S-07).
    pub fn maybe_accepted(&self) -> bool {
        matches!(
            self,
            SmtpError::Unreachable {
                phase: Phase::EndOfData,
                ..
            } | SmtpError::Timeout {
                phase: Phase::EndOfData,
                ..
            } | SmtpError::Unexpected {
                phase: Phase::EndOfData,
                ..
            }
        )
    }

    /// The reply code, if the MTA answered.
    pub fn code(&self) -> Option<u16> {
        match self {
            SmtpError::Reply { code, .. } | SmtpError::Unexpected { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The reply text, if the MTA answered.
    pub fn text(&self) -> &str {
        match self {
            SmtpError::Reply { text, .. } => text.as_str(),
            _ => "",
        }
    }
}

/// Envelope of one reinjected message. Both addresses were validated (no CR, LF, NUL, SP, `<`, `>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `None` is the null sender `<>`.
    pub from: Option<String>,
    pub to: String,
}

/// The MTA's acceptance of one message.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub code: u16,
    pub text: Shown,
}

/// One open SMTP session with the MTA.
pub struct Mta {
    conn: AsyncSmtpConnection,
    addr: String,
    timeouts: Timeouts,
    eight_bit_mime: bool,
    /// The MTA's announced SIZE limit (RFC 1870), if any.
    size_limit: Option<u64>,
    /// The account's secrets, scrubbed from everything the MTA says.
    secrets: Secrets,
}

impl Mta {
    /// Connect, read the greeting and send EHLO. Called before the first RETR so an MTA outage costs no
    /// download (design flow step 4).
    ///
    /// # Errors
    /// [`SmtpError`] with the phase that failed; connect failures and 4xx greetings are temporary.
    pub async fn connect(
        host: &str,
        port: u16,
        helo_name: &str,
        timeouts: Timeouts,
        secrets: &Secrets,
    ) -> Result<Mta, SmtpError> {
        let s = secrets;
        match Mta::connect_with(host, port, helo_name, timeouts, false, s).await {
            // 500/502/504 to EHLO: an MTA without ESMTP. RFC 5321 §3.2: fall back to HELO (on a new connection:
            // lettre's connect ends with the refusal). A refused greeting fails the same way again, harmlessly.
            Err(SmtpError::Reply {
                phase: Phase::Greeting,
                code: 500 | 502 | 504,
                ..
            }) => Mta::connect_with(host, port, helo_name, timeouts, true, s).await,
            r => r,
        }
    }

    async fn connect_with(
        host: &str,
        port: u16,
        helo_name: &str,
        timeouts: Timeouts,
        helo: bool,
        secrets: &Secrets,
    ) -> Result<Mta, SmtpError> {
        let addr = format!("{host}:{port}");
        let client_id = ClientId::Domain(helo_name.to_owned());
        // We connect the socket ourselves and hand lettre a traced stream: lettre reads the greeting and sends
        // EHLO inside connect, so only the stream sees those lines for the `-vv` trace (crate::trace).
        let tcp =
            match tokio::time::timeout(timeouts.connect, TcpStream::connect((host, port))).await {
                Err(_) => {
                    return Err(SmtpError::Timeout {
                        addr,
                        phase: Phase::Connect,
                        secs: timeouts.connect.as_secs(),
                    });
                }
                Ok(Err(e)) => {
                    return Err(SmtpError::Unreachable {
                        addr,
                        phase: Phase::Connect,
                        reason: secrets
                            .show(e.to_string().as_bytes(), untrusted::REPLY)
                            .into(),
                    });
                }
                Ok(Ok(tcp)) => tcp,
            };
        // lettre writes the end-of-DATA dot as its own small segment; with Nagle on, it waits for the delayed ACK
        // of the previous segment (~40 ms per message, measured against Postfix). Commands are latency-bound.
        let _ = tcp.set_nodelay(true);
        let (stream, seen) = ehlo::Sniffer::new(Traced::new(tcp, secrets.clone()), helo);
        let fut = AsyncSmtpConnection::connect_with_transport(Box::new(stream), &client_id);
        let budget = timeouts.command * 2;
        let conn = match tokio::time::timeout(budget, fut).await {
            Err(_) => {
                return Err(SmtpError::Timeout {
                    addr,
                    phase: Phase::Greeting,
                    secs: budget.as_secs(),
                });
            }
            Ok(Err(e)) => return Err(classify(&addr, Phase::Greeting, e, secrets)),
            Ok(Ok(conn)) => conn,
        };
        let eight_bit_mime = conn.server_info().supports_feature(Extension::EightBitMime);
        let size_limit = ehlo::size_limit(&ehlo::take(&seen));
        Ok(Mta {
            conn,
            addr,
            timeouts,
            eight_bit_mime,
            size_limit,
            secrets: secrets.clone(),
        })
    }

    /// The largest message the MTA accepts, from `SIZE n` in its EHLO reply (RFC 1870 §4); `None` when it announced
    /// no fixed limit. The poller leaves larger messages on the server without fetching them (catalog S-13).
    pub fn size_limit(&self) -> Option<u64> {
        self.size_limit
    }

    /// The `host:port` of the MTA, for log lines.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Run one MAIL/RCPT/DATA transaction for `message` (CRLF-only bytes).
    ///
    /// On `Err`, check [`SmtpError::verdict`]. After a [`Verdict::Temporary`] error the session must not be used
    /// again (the caller drops it). A negative reply before DATA is followed by RSET so the session stays usable.
    ///
    /// # Cancel safety
    /// Not cancel safe: a cancelled call leaves the session mid-transaction; drop the `Mta`.
    pub async fn deliver(
        &mut self,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<Accepted, SmtpError> {
        let t = self.timeouts;
        let from = match &envelope.from {
            None => None,
            Some(a) => Some(parse_address(&self.addr, Phase::Mail, a)?),
        };
        let to = parse_address(&self.addr, Phase::Rcpt, &envelope.to)?;
        let mut params = Vec::new();
        // RFC 6152: declare 8-bit content only when the MTA advertised 8BITMIME; otherwise send it unchanged as
        // fetchmail does (a local Postfix accepts it; converting would break signatures).
        if self.eight_bit_mime && !message.is_ascii() {
            params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        // RFC 1870 §6: declare the size, so an MTA with a limit refuses at MAIL, before the content is sent. Only
        // when it announced a limit: against `SIZE 0` (no fixed maximum) the declaration could not change the answer.
        if self.size_limit.is_some() {
            params.push(MailParameter::Size(message.len()));
        }

        let r = self
            .step(Phase::Mail, t.command, Mail::new(from, params))
            .await;
        self.expect(Phase::Mail, r, 250).await?;
        let r = self
            .step(Phase::Rcpt, t.command, Rcpt::new(to, vec![]))
            .await;
        self.expect(Phase::Rcpt, r, 250).await?;
        let r = self.step(Phase::Data, t.data_init, Data).await;
        self.expect(Phase::Data, r, 354).await?;

        let body = frame_for_data(message);
        // The write is bounded by the data-block time plus a generous rate floor (1 MiB/s); the reply by the
        // RFC's 10 minutes.
        let write_budget = t.data_block + Duration::from_secs(message.len() as u64 / (1 << 20));
        let budget = write_budget + t.data_end;
        let fut = async {
            if message.is_empty() {
                // lettre's message() would put an empty line before the terminator: send the bare terminator.
                // (A message of just CRLF frames to an empty body, which message() turns back into CRLF.)
                self.conn.command(".\r\n").await
            } else {
                // Two writes, with the `mid_data` crash point between them (catalog C-02): a kill there leaves the
                // MTA with part of the content and no terminator, which it must discard (RFC 5321 §4.1.1.4).
                // lettre's encoder keeps its dot-stuffing state across the parts.
                let (head, tail) = body.split_at(body.len() / 2);
                let parts = [head, tail].into_iter().enumerate().map(|(i, part)| {
                    if i == 1 {
                        failpoint::hit("mid_data");
                    }
                    part
                });
                self.conn.message_iter(parts).await
            }
        };
        let reply = match tokio::time::timeout(budget, fut).await {
            Err(_) => {
                return Err(SmtpError::Timeout {
                    addr: self.addr.clone(),
                    phase: Phase::EndOfData,
                    secs: budget.as_secs(),
                });
            }
            Ok(r) => r,
        };
        match reply {
            Ok(resp) if (200..300).contains(&code_of(&resp)) => Ok(Accepted {
                code: code_of(&resp),
                text: reply_text(&resp, &self.secrets),
            }),
            Ok(resp) => Err(SmtpError::Unexpected {
                addr: self.addr.clone(),
                phase: Phase::EndOfData,
                code: code_of(&resp),
            }),
            Err(e) => Err(classify(&self.addr, Phase::EndOfData, e, &self.secrets)),
        }
    }

    /// `popfetch check --connect`: would the MTA take mail for `to`? `MAIL FROM:<>`, `RCPT TO:<to>`, then RSET
    /// whatever the answer, so nothing is ever queued. The null sender is the one every MTA must accept
    /// (RFC 5321 §4.5.5), so a refusal is about the recipient. Returns the reply to RCPT.
    ///
    /// # Errors
    /// As [`Mta::deliver`] before DATA.
    pub async fn probe(&mut self, to: &str) -> Result<Accepted, SmtpError> {
        let t = self.timeouts;
        let to = parse_address(&self.addr, Phase::Rcpt, to)?;
        let r = self
            .step(Phase::Mail, t.command, Mail::new(None, vec![]))
            .await;
        self.expect(Phase::Mail, r, 250).await?;
        let r = self
            .step(Phase::Rcpt, t.command, Rcpt::new(to, vec![]))
            .await;
        match r {
            // 251: not local, will forward (RFC 5321 §3.4): accepted too.
            Ok(resp) if matches!(code_of(&resp), 250 | 251) => {
                let accepted = Accepted {
                    code: code_of(&resp),
                    text: reply_text(&resp, &self.secrets),
                };
                let r = self.step(Phase::Rcpt, t.command, Rset).await;
                self.expect(Phase::Rcpt, r, 250).await?;
                Ok(accepted)
            }
            Ok(resp) => Err(SmtpError::Unexpected {
                addr: self.addr.clone(),
                phase: Phase::Rcpt,
                code: code_of(&resp),
            }),
            // A negative reply: expect() resets the transaction (RFC 5321 §4.1.1.5) and passes the error on.
            Err(e) => self
                .expect(Phase::Rcpt, Err(e), 250)
                .await
                .map(|()| Accepted {
                    code: 0,
                    text: Shown::default(),
                }),
        }
    }

    /// Send QUIT and close. Errors are irrelevant at this point: every message already has its outcome.
    pub async fn quit(mut self) {
        let _ = tokio::time::timeout(self.timeouts.command, self.conn.command(Quit)).await;
    }

    async fn step(
        &mut self,
        phase: Phase,
        limit: Duration,
        cmd: impl fmt::Display,
    ) -> Result<Response, SmtpError> {
        match tokio::time::timeout(limit, self.conn.command(cmd)).await {
            Err(_) => Err(SmtpError::Timeout {
                addr: self.addr.clone(),
                phase,
                secs: limit.as_secs(),
            }),
            Ok(Err(e)) => Err(classify(&self.addr, phase, e, &self.secrets)),
            Ok(Ok(resp)) => Ok(resp),
        }
    }

    /// Check a step's reply. A negative reply before DATA leaves the session in a defined state after RSET
    /// (RFC 5321 §4.1.1.5), so later messages can still use it.
    async fn expect(
        &mut self,
        phase: Phase,
        r: Result<Response, SmtpError>,
        want: u16,
    ) -> Result<(), SmtpError> {
        match r {
            Ok(resp) if code_of(&resp) == want => Ok(()),
            Ok(resp) => Err(SmtpError::Unexpected {
                addr: self.addr.clone(),
                phase,
                code: code_of(&resp),
            }),
            // 421: the MTA is closing the channel (RFC 5321 §3.8); an RSET would only meet a closed socket.
            Err(e @ SmtpError::Reply { code: 421, .. }) => Err(e),
            Err(e @ SmtpError::Reply { .. }) => {
                let limit = self.timeouts.command;
                let _ = tokio::time::timeout(limit, self.conn.command(Rset)).await;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
}

fn parse_address(addr: &str, phase: Phase, a: &str) -> Result<Address, SmtpError> {
    a.parse::<Address>().map_err(|_| SmtpError::Reply {
        addr: addr.to_owned(),
        phase,
        code: 553,
        text: Secrets::none().show(
            b"address refused by popfetch's own syntax check",
            untrusted::REPLY,
        ),
    })
}

fn code_of(resp: &Response) -> u16 {
    resp.code().to_string().parse().unwrap_or(0)
}

/// The MTA's reply lines, joined by spaces, as shown text.
fn reply_text(resp: &Response, secrets: &Secrets) -> Shown {
    let text = resp.message().collect::<Vec<_>>().join(" ");
    secrets.show(text.trim_end().as_bytes(), untrusted::REPLY)
}

/// Turn a lettre error into ours: negative replies keep their code and text, everything else is a lost link.
fn classify(
    addr: &str,
    phase: Phase,
    e: lettre::transport::smtp::Error,
    secrets: &Secrets,
) -> SmtpError {
    use std::error::Error as _;
    if let Some(code) = e.status() {
        let code = code.to_string().parse().unwrap_or(0);
        let text = e.source().map(|s| s.to_string()).unwrap_or_default();
        return SmtpError::Reply {
            addr: addr.to_owned(),
            phase,
            code,
            text: secrets.show(text.trim_end().as_bytes(), untrusted::REPLY),
        };
    }
    let phase = if phase == Phase::Greeting && e.is_timeout() {
        Phase::Connect
    } else {
        phase
    };
    SmtpError::Unreachable {
        addr: addr.to_owned(),
        phase,
        reason: secrets
            .show(e.to_string().as_bytes(), untrusted::REPLY)
            .into(),
    }
}

/// Prepare CRLF-only message bytes for lettre's `message()`, which appends `\r\n.\r\n` itself: strip exactly one
/// trailing CRLF so a message ending in CRLF does not gain an empty line. A message without a final line break
/// gets one from the terminator (SMTP cannot carry a partial last line, RFC 5321 §4.1.1.4).
pub fn frame_for_data(message: &[u8]) -> &[u8] {
    message.strip_suffix(b"\r\n").unwrap_or(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s10_frame_strips_exactly_one_trailing_crlf() {
        assert_eq!(frame_for_data(b"a\r\n"), b"a");
        assert_eq!(frame_for_data(b"a\r\n\r\n"), b"a\r\n");
        assert_eq!(frame_for_data(b"a"), b"a");
        assert_eq!(frame_for_data(b""), b"");
        assert_eq!(frame_for_data(b"\r\n"), b"");
    }

    #[test]
    fn s03_rcpt_5xx_about_the_recipient_is_misconfiguration_and_eod_5xx_a_rejection() {
        let t = |phase, code, text: &str| SmtpError::Reply {
            addr: "x".into(),
            phase,
            code,
            text: Secrets::none().show(text.as_bytes(), untrusted::REPLY),
        };
        let e = |phase, code| t(phase, code, "");
        assert_eq!(
            t(Phase::Rcpt, 550, "5.1.1 <a@b>: Recipient address rejected").verdict(),
            Verdict::Misconfigured
        );
        // A sender restriction applied at RCPT TO (Postfix's smtpd_delay_reject) refuses one message.
        let sender = "5.7.1 <s@spam.test>: Sender address rejected: Access denied";
        assert_eq!(t(Phase::Rcpt, 554, sender).verdict(), Verdict::Rejected);
        assert_eq!(t(Phase::Rcpt, 554, sender).class(), ExitClass::Partial);
        assert_eq!(e(Phase::Rcpt, 550).verdict(), Verdict::Rejected);
        assert_eq!(e(Phase::Mail, 530).verdict(), Verdict::Misconfigured);
        assert_eq!(e(Phase::EndOfData, 550).verdict(), Verdict::Rejected);
        assert_eq!(e(Phase::Mail, 553).verdict(), Verdict::Rejected);
        assert_eq!(e(Phase::EndOfData, 451).verdict(), Verdict::Temporary);
        assert_eq!(e(Phase::Rcpt, 450).verdict(), Verdict::Temporary);
        assert_eq!(e(Phase::EndOfData, 451).class(), ExitClass::TempFail);
        assert_eq!(e(Phase::EndOfData, 554).class(), ExitClass::Partial);
    }

    #[test]
    fn s08_421_and_452_4_5_3_to_mail_end_the_session_other_4xx_do_not() {
        let e = |phase, code, text: &str| SmtpError::Reply {
            addr: "x".into(),
            phase,
            code,
            text: Secrets::none().show(text.as_bytes(), untrusted::REPLY),
        };
        for phase in [
            Phase::Greeting,
            Phase::Mail,
            Phase::Rcpt,
            Phase::Data,
            Phase::EndOfData,
        ] {
            assert!(
                e(phase, 421, "4.7.0 too many messages in this connection").session_exhausted()
            );
        }
        assert!(
            e(
                Phase::Mail,
                452,
                "4.5.3 Too many recipients: Too many messages sent"
            )
            .session_exhausted()
        );
        assert!(!e(Phase::Mail, 452, "4.3.1 Insufficient system storage").session_exhausted());
        assert!(!e(Phase::Rcpt, 452, "4.5.3 Too many recipients").session_exhausted());
        assert!(!e(Phase::Mail, 451, "4.5.3 odd").session_exhausted());
        assert!(!e(Phase::EndOfData, 451, "4.3.0 queue file write error").session_exhausted());
        let lost = SmtpError::Unreachable {
            addr: "x".into(),
            phase: Phase::Mail,
            reason: "reset".into(),
        };
        assert!(!lost.session_exhausted());
    }
}

#[cfg(test)]
mod timeout_tests;
