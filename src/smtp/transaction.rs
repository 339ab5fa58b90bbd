//! One MAIL/RCPT/DATA transaction on an [`Mta`], in three steps so that content can be written while it is still
//! arriving (issue 11, streaming): [`Mta::open_data`] (envelope, up to the 354), [`Mta::write_content`] (any number
//! of chunks, dot-stuffed on the way), then [`Mta::end_data`] (end of data and the replies) or [`Mta::abandon`]
//! (drop the connection without the end of data: RFC 5321 §4.1.1.4, the MTA then discards what it got).
//! [`Mta::send`] runs the three for a message in hand.

use std::time::Duration;

use super::{
    AddressRole, DotStuffer, Mta, PerRecipient, Phase, Protocol, SmtpError, check_address,
    utf8_header,
};
use crate::failpoint;
use crate::inspect::trace::Side;

/// Content is written to the MTA in pieces of about this size.
const WRITE_CHUNK: usize = 64 * 1024;

/// What the MAIL command declares about a message whose content may not be in hand yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailHints {
    /// Octets (RFC 1870 §6: an estimate is allowed when the exact size is not known yet).
    pub size: u64,
    /// The content has (or may have) 8-bit bytes: `BODY=8BITMIME` where offered.
    pub eight_bit: bool,
    /// The header block holds UTF-8 beyond ASCII: `SMTPUTF8` where offered.
    pub utf8_header: bool,
}

impl MailHints {
    /// The exact hints for a whole message.
    pub fn of(message: &[u8]) -> MailHints {
        MailHints {
            size: message.len() as u64,
            eight_bit: !message.is_ascii(),
            utf8_header: utf8_header(message),
        }
    }
}

/// How the content follows the envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    /// DATA, dot-stuffed content, the end-of-data line (RFC 5321 §4.1.1.4): any content, also while it arrives.
    Data,
    /// One `BDAT n LAST` chunk (RFC 3030), where the MTA offers CHUNKING: only for a message in hand, whose size is
    /// known (docs/decisions.md "Own SMTP client": 30 % less time per small message against Postfix).
    Bdat,
}

/// The content phase of a transaction.
pub(super) struct DataPhase {
    /// Each recipient's outcome at RCPT.
    per: PerRecipient,
    stuffer: DotStuffer,
    /// Stuffed bytes not yet written.
    out: Vec<u8>,
    /// Something was written already (the `mid_data` crash point was passed).
    wrote: bool,
    /// Content octets fed, and the header's share of them when its trace was shown.
    fed: u64,
    traced_head: Option<u64>,
}

impl Mta {
    /// One transaction to several recipients for a message in hand. `Err` when it failed as a whole (MAIL or
    /// DATA refused, every recipient refused, the link lost, or over SMTP a refusal at end of data); otherwise each
    /// recipient's outcome.
    ///
    /// # Errors
    /// As [`Mta::deliver`]; a bad address is [`SmtpError::Address`] before anything is sent.
    ///
    /// # Cancel safety
    /// Not cancel safe, as [`Mta::deliver`].
    pub async fn send(
        &mut self,
        from: Option<&str>,
        rcpts: &[&str],
        message: &[u8],
    ) -> Result<PerRecipient, SmtpError> {
        if self.caps.chunking {
            let per = self
                .envelope(from, rcpts, MailHints::of(message), Body::Bdat)
                .await?;
            self.write_last_chunk(message).await?;
            let result = self.final_replies(per).await;
            // RFC 3030 §2: after a refused chunk the transaction has failed, and the MTA may refuse what follows
            // until it is reset: RSET, as after a refused envelope (not after `421`, which closes the session).
            if let Err(e) = &result {
                self.reset(e).await;
            }
            return result;
        }
        self.open_data(from, rcpts, MailHints::of(message)).await?;
        self.conn.trace_content(message);
        self.write_content(message).await?;
        self.end_data().await
    }

    /// MAIL, the RCPTs and DATA, up to the 354. With PIPELINING offered they go in one write (RFC 2920 §3.1); the
    /// content only after the 354. `Ok` means the content may follow; recipients refused at RCPT keep their
    /// refusal for [`Mta::end_data`]'s result.
    ///
    /// # Errors
    /// As [`Mta::send`] before the content.
    pub async fn open_data(
        &mut self,
        from: Option<&str>,
        rcpts: &[&str],
        hints: MailHints,
    ) -> Result<(), SmtpError> {
        let per = self.envelope(from, rcpts, hints, Body::Data).await?;
        self.data = Some(DataPhase {
            per,
            stuffer: DotStuffer::default(),
            out: Vec::new(),
            wrote: false,
            fed: 0,
            traced_head: None,
        });
        Ok(())
    }

    /// MAIL and the RCPTs, and for [`Body::Data`] the DATA command up to its 354. With PIPELINING offered they go
    /// in one write (RFC 2920 §3.1). `Ok` holds each recipient's outcome at RCPT, at least one of them accepted;
    /// the content may follow.
    async fn envelope(
        &mut self,
        from: Option<&str>,
        rcpts: &[&str],
        hints: MailHints,
        body: Body,
    ) -> Result<PerRecipient, SmtpError> {
        let t = self.timeouts;
        self.data = None;
        // DATA joins the pipelined batch; BDAT waits for the envelope's replies (docs/decisions.md: sent with
        // the envelope, the last chunk's reply is held up by Nagle's algorithm at the MTA, 44 ms per message).
        let data_in_batch = body == Body::Data && self.caps.pipelining;
        let mut utf8 = false;
        if let Some(f) = from {
            utf8 |= check_address(AddressRole::Sender, f, self.caps.smtputf8)?;
        }
        for r in rcpts {
            utf8 |= check_address(AddressRole::Recipient, r, self.caps.smtputf8)?;
        }
        let mut mail = format!("MAIL FROM:<{}>", from.unwrap_or(""));
        // RFC 1870 §6: declare the size, so an MTA with a limit refuses at MAIL, before the content is sent. Only
        // when it announced a limit: against `SIZE 0` (no fixed maximum) the declaration could not change the answer.
        if self.caps.size_limit.is_some() {
            mail.push_str(&format!(" SIZE={}", hints.size));
        }
        // RFC 6152: declare 8-bit content only when the MTA offered 8BITMIME; otherwise send it unchanged as
        // fetchmail does (a local Postfix accepts it; converting would break signatures).
        if self.caps.eight_bit_mime && hints.eight_bit {
            mail.push_str(" BODY=8BITMIME");
        }
        // RFC 6531 §3.4: UTF-8 in the envelope or in header fields (RFC 6532) asks for SMTPUTF8 where offered.
        if self.caps.smtputf8 && (utf8 || hints.utf8_header) {
            mail.push_str(" SMTPUTF8");
        }
        mail.push_str("\r\n");
        let rcpt_lines: Vec<String> = rcpts.iter().map(|r| format!("RCPT TO:<{r}>\r\n")).collect();

        let (mail_r, rcpt_rs, data_r) = if self.caps.pipelining {
            let mut batch = mail.into_bytes();
            for l in &rcpt_lines {
                batch.extend_from_slice(l.as_bytes());
            }
            if data_in_batch {
                batch.extend_from_slice(b"DATA\r\n");
            }
            self.write_commands(Phase::Mail, t.command, &batch).await?;
            let mail_r = self.read(Phase::Mail, t.command).await?;
            let mut rs = Vec::new();
            for _ in rcpts {
                rs.push(self.read(Phase::Rcpt, t.command).await?);
            }
            let data_r = if data_in_batch {
                Some(self.read(Phase::Data, t.data_init).await?)
            } else {
                None
            };
            (mail_r, rs, data_r)
        } else {
            let mail_r = self.command(Phase::Mail, t.command, &mail).await?;
            let mut rs = Vec::new();
            if mail_r.class() == 2 {
                for l in &rcpt_lines {
                    rs.push(self.command(Phase::Rcpt, t.command, l).await?);
                }
            }
            (mail_r, rs, None)
        };

        // Judge the envelope. A 354 that came anyway (pipelined after a refusal) opened a data phase that only
        // dropping the connection ends without a message: never send content for it.
        let mut per: PerRecipient = Vec::new();
        let failed = if mail_r.class() != 2 {
            Some(self.refused(Phase::Mail, &mail_r))
        } else {
            for r in &rcpt_rs {
                let outcome = if r.class() == 2 {
                    Ok(self.accepted(r))
                } else {
                    Err(self.refused(Phase::Rcpt, r))
                };
                per.push(outcome);
            }
            if per.iter().any(Result::is_ok) {
                None
            } else {
                let first = std::mem::take(&mut per).into_iter().find_map(Result::err);
                Some(first.unwrap_or_else(|| self.lost(Phase::Rcpt)))
            }
        };
        if let Some(e) = failed {
            if data_r.as_ref().is_some_and(|r| r.code == 354) {
                self.conn.poison();
            } else {
                self.reset(&e).await;
            }
            return Err(e);
        }
        if body == Body::Bdat {
            return Ok(per);
        }
        let data_r = match data_r {
            Some(r) => r,
            None => self.command(Phase::Data, t.data_init, "DATA\r\n").await?,
        };
        if data_r.code != 354 {
            let e = self.refused(Phase::Data, &data_r);
            self.reset(&e).await;
            return Err(e);
        }
        Ok(per)
    }

    /// Trace the header block of streamed content (`-vv`); the body's size follows at [`Mta::end_data`].
    pub fn trace_header(&mut self, header: &[u8]) {
        if let Some(d) = self.data.as_mut() {
            self.conn.trace().message_head(Side::Client, header);
            d.traced_head = Some(header.len() as u64);
        }
    }

    /// Write content (CRLF-only bytes), dot-stuffed; written out in pieces of [`WRITE_CHUNK`].
    ///
    /// # Errors
    /// A lost link or a write timeout (phase DATA: no end of data was sent, so the MTA has nothing).
    pub async fn write_content(&mut self, chunk: &[u8]) -> Result<(), SmtpError> {
        let Some(d) = self.data.as_mut() else {
            return Err(self.lost(Phase::Data));
        };
        d.stuffer.push(chunk, &mut d.out);
        d.fed += chunk.len() as u64;
        if d.out.len() < WRITE_CHUNK {
            return Ok(());
        }
        let out = std::mem::take(&mut d.out);
        let first = !d.wrote;
        d.wrote = true;
        self.write(
            Phase::Data,
            budget(self.timeouts.data_block, out.len()),
            &out,
        )
        .await?;
        if first {
            // A kill here leaves the MTA part of the content and no end of data (catalog C-02).
            failpoint::hit("mid_data");
        }
        if let Some(d) = self.data.as_mut() {
            d.out = out;
            d.out.clear();
        }
        Ok(())
    }

    /// End the content and read the reply (SMTP) or one reply per recipient accepted at RCPT, in order
    /// (LMTP, RFC 2033 §4.2).
    ///
    /// # Errors
    /// As [`Mta::send`] at end of data.
    pub async fn end_data(&mut self) -> Result<PerRecipient, SmtpError> {
        let t = self.timeouts;
        let Some(d) = self.data.take() else {
            return Err(self.lost(Phase::EndOfData));
        };
        if let Some(head) = d.traced_head {
            self.conn
                .trace()
                .message_end(Side::Client, d.fed.saturating_sub(head));
        }
        let DataPhase {
            per,
            stuffer,
            mut out,
            wrote,
            ..
        } = d;
        stuffer.finish(&mut out);
        if !wrote {
            self.write_halves(&out).await?;
        } else {
            self.write(Phase::EndOfData, budget(t.data_block, out.len()), &out)
                .await?;
        }
        self.final_replies(per).await
    }

    /// The whole content of a message in hand as one last chunk (RFC 3030 §2): `BDAT n LAST`, then exactly n
    /// octets: no dot-stuffing and no end line, the count frames the content. Like the end of data, the chunk's
    /// last octet is what commits the message, so the same rules hold: written only once the message is in hand
    /// and checked, and a connection lost or killed before it leaves the MTA nothing (RFC 3030 §2: the
    /// transaction ends only with the LAST chunk).
    async fn write_last_chunk(&mut self, message: &[u8]) -> Result<(), SmtpError> {
        // SMTP cannot carry a partial last line (RFC 5321 §4.1.1.4): closed with CRLF as over DATA, so both ways
        // deliver the same octets.
        let open_line = !message.is_empty() && !message.ends_with(b"\r\n");
        let len = message.len() + if open_line { 2 } else { 0 };
        let command = format!("BDAT {len} LAST\r\n");
        self.conn
            .trace()
            .wire_lines(Side::Client, command.as_bytes());
        self.conn.trace().chunk(Side::Client, message);
        let mut out = Vec::with_capacity(command.len() + len);
        out.extend_from_slice(command.as_bytes());
        out.extend_from_slice(message);
        if open_line {
            out.extend_from_slice(b"\r\n");
        }
        self.write_halves(&out).await
    }

    /// Write the whole rest of a transaction (content and its end) in two writes, with the `mid_data` crash point
    /// between them (catalog C-02), also for a small message.
    async fn write_halves(&mut self, out: &[u8]) -> Result<(), SmtpError> {
        let block = self.timeouts.data_block;
        let (head, tail) = out.split_at(out.len() / 2);
        self.write(Phase::Data, budget(block, head.len()), head)
            .await?;
        failpoint::hit("mid_data");
        self.write(Phase::EndOfData, budget(block, tail.len()), tail)
            .await
    }

    /// The replies after the end of data or the last chunk: one (SMTP), or one per recipient accepted at RCPT, in
    /// order (LMTP, RFC 2033 §4.2; after `BDAT n LAST` as after the dot, as Dovecot's LMTP answers).
    async fn final_replies(&mut self, per: PerRecipient) -> Result<PerRecipient, SmtpError> {
        let t = self.timeouts;
        match self.protocol {
            Protocol::Smtp => {
                let r = self.read(Phase::EndOfData, t.data_end).await?;
                if r.class() != 2 {
                    return Err(self.refused(Phase::EndOfData, &r));
                }
                let a = self.accepted(&r);
                Ok(per.into_iter().map(|p| p.map(|_| a.clone())).collect())
            }
            Protocol::Lmtp => {
                let mut out = Vec::with_capacity(per.len());
                let mut replied = false;
                for p in per {
                    out.push(match p {
                        Err(e) => Err(e),
                        Ok(_) => match self.read(Phase::EndOfData, t.data_end).await {
                            Ok(r) if r.class() == 2 => {
                                replied = true;
                                Ok(self.accepted(&r))
                            }
                            Ok(r) => {
                                replied = true;
                                Err(self.refused(Phase::EndOfData, &r))
                            }
                            // The server stopped after answering for some recipients (RFC 2033 §4.2): those
                            // answers stand; the rest have no clear answer, each its own error.
                            Err(e) if replied => Err(e),
                            Err(e) => return Err(e),
                        },
                    });
                }
                Ok(out)
            }
        }
    }

    /// Give up on the content: the connection is dropped without the end of data (RFC 5321 §4.1.1.4: the MTA then
    /// discards the transaction) and is never used again.
    pub fn abandon(&mut self) {
        self.data = None;
        self.conn.poison();
    }
}

/// The time one write may take: the data-block time (RFC 5321 §4.5.3.2.5) plus a generous rate floor of 1 MiB/s
/// for a large write (a whole message in hand goes out in one).
fn budget(block: Duration, len: usize) -> Duration {
    block + Duration::from_secs(len as u64 >> 20)
}
