//! Streaming delivery (issue 11, point 2): a large message goes from the RETR reply into the MTA's DATA while it is
//! still arriving, so peak memory does not grow with its size.
//!
//! The first [`HOLD`] octets are held. A message whose RETR ends within them is delivered whole, exactly as before
//! (`deliver::deliver_one`); so is one whose header block is not decided within [`HEADER_MAX`]. A larger message
//! for a Maildir, an MDA or IMAP goes to [`super::local_stream`]. Otherwise: the header block goes through the
//! header pipeline (`headers::apply`), MAIL/RCPT/DATA are sent, and the rest is line-ending normalised and
//! dot-stuffed chunk by chunk as the RETR delivers it. **The end of data is sent only after the RETR ended intact**
//! (terminator read, no byte after it, within `max_message`) and the RETR/LIST comparison was made (P-19); on any
//! POP3 failure the SMTP connection is dropped without it (RFC 5321 §4.1.1.4), so the MTA accepts nothing of the
//! message.

use super::deliver::{Ctx, Delivery, Done, conclude, describe_edits, prepare, print_diff};
use super::destination::{DeliveryError, Destination};
use super::lanes::Job;
use super::link::Link;
use super::retr_check::{self, RetrCheck};
use super::{Failure, Pending, pop3_fail, state_fail};
use crate::failpoint;
use crate::headers::Edit;
use crate::headers::stream::{BodyNormalizer, HEADER_MAX, header_end};
use crate::pop3::Client;
use crate::smtp::{Envelope, MailHints};
use crate::state::State;

/// Octets of a message held before it is streamed: smaller messages (most mail) are delivered whole.
pub(super) const HOLD: usize = 256 * 1024;

/// The first part of a RETR whose body is being streamed.
pub(super) enum Held {
    /// The RETR ended: the whole message.
    Whole(Vec<u8>),
    /// The first octets, and where the header block ends in them.
    Head { held: Vec<u8>, header_end: usize },
}

/// Read the start of the RETR body in flight (after `Client::next_head` gave `Ok(None)`).
///
/// # Errors
/// A POP3 failure: nothing was handed to the destination yet.
pub(super) async fn hold(client: &mut Client, after_field: bool) -> Result<Held, Failure> {
    let mut held = Vec::new();
    loop {
        if client.retr_chunk(&mut held).await.map_err(pop3_fail)? {
            client.trace_retr(&held);
            return Ok(Held::Whole(held));
        }
        if held.len() >= HOLD
            && held.len() <= HEADER_MAX
            && let Some(end) = header_end(&held, after_field, false)
        {
            client.trace_retr_head(&held[..end]);
            return Ok(Held::Head {
                held,
                header_end: end,
            });
        }
    }
}

/// A message whose RETR is still arriving: its held start, where its header block ends in it, and the size its
/// RETR line announced (P-19).
pub(super) struct Arriving {
    pub(super) held: Vec<u8>,
    pub(super) end: usize,
    pub(super) announced: Option<u64>,
}

/// Deliver a message from its held start and the rest of its RETR body.
///
/// # Errors
/// As `deliver_one`; a POP3 failure mid-stream abandons the SMTP transaction and ends the poll.
pub(super) async fn stream_one(
    ctx: &Ctx<'_>,
    client: &mut Client,
    dest: &mut Destination<'_>,
    state: &mut State,
    p: &Pending,
    arriving: Arriving,
) -> Result<Option<(Delivery, u64)>, Failure> {
    let Arriving {
        held,
        end,
        announced,
    } = arriving;
    let acct = ctx.acct;
    let header_raw = &held[..end];
    let (filtered, envelope) = prepare(acct, ctx.by_host, client, &p.uid, header_raw);
    if ctx.diff {
        print_diff(
            ctx,
            &p.uid,
            header_raw,
            &filtered.edits,
            "as sent to the MTA",
        );
    }
    let header = filtered.message;
    let hints = hints(p, end, &header);
    let dest_name = dest.to_string();
    let Destination::Smtp(lanes) = dest else {
        return Err(Failure::of(
            crate::error::ExitClass::Internal,
            "streaming to a local destination",
        ));
    };
    let link = lanes.link();
    state.begin(&p.uid).map_err(state_fail)?;
    if let Err(e) = link
        .open_data(&envelope, &[envelope.to.as_str()], hints)
        .await
    {
        let done = Done::unchecked(describe_edits(&filtered.edits), held.len() as u64);
        let e = Err(DeliveryError::Smtp(e));
        let outcome = conclude(ctx, &dest_name, state, p, envelope, e, done);
        return refused_before_content(client, &held, outcome)
            .await
            .map(Some);
    }
    link.trace_header(&header);
    let (passed, sent) = pump(link, client, header, held, end).await;
    if let Err(b) = sent {
        return broke(ctx, &dest_name, state, p, envelope, link, &passed, b)
            .map(|d| Some((d, passed.got)));
    }
    client.trace_retr_end(passed.got.saturating_sub(end as u64));
    failpoint::hit("after_retr");
    let done = passed.done(p, announced, filtered.edits);
    // The RETR ended intact: the end of data goes out, and its reply is awaited in a task while the poll reads on;
    // the outcome is journalled when it comes ([`super::lanes`]).
    lanes.end_in_task(Job {
        p: p.clone(),
        envelope,
        done,
    });
    Ok(None)
}

/// The MAIL parameters of a streamed message whose header block `header` (after the pipeline) replaced the first
/// `end` octets: `SIZE=` the LIST size plus the header's growth (RFC 1870 allows an estimate); 8BITMIME declared
/// where offered, since the body is not in hand yet (RFC 6152 allows it for 7-bit content too); SMTPUTF8 from the
/// header block.
pub(super) fn hints(p: &Pending, end: usize, header: &[u8]) -> MailHints {
    MailHints {
        size: p.size + (header.len() as u64).saturating_sub(end as u64),
        eight_bit: true,
        utf8_header: !header.is_ascii() && std::str::from_utf8(header).is_ok(),
    }
}

/// The end of a streamed message whose envelope was refused before any content, given its `outcome`
/// ([`conclude`]): when the poll goes on, the rest of the RETR is read and dropped first, so the next reply is
/// read in step; when it stops, the POP3 link is dropped anyway. The outcome and the octets retrieved.
///
/// # Errors
/// `outcome`'s failure, or a POP3 failure while reading the rest.
pub(super) async fn refused_before_content(
    client: &mut Client,
    held: &[u8],
    outcome: Result<Delivery, Failure>,
) -> Result<(Delivery, u64), Failure> {
    let d = outcome?;
    let passed = drain(client, held).await?;
    Ok((d, passed.got))
}

/// Read the rest of a RETR in flight to its end and drop it, counted with its `held` start.
///
/// # Errors
/// A POP3 failure.
pub(super) async fn drain(client: &mut Client, held: &[u8]) -> Result<Passed, Failure> {
    let mut passed = Passed::default();
    let mut scratch = Vec::new();
    passed.push(held, &[], false, &mut scratch);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let done = client.retr_chunk(&mut buf).await.map_err(pop3_fail)?;
        passed.push(&buf, &[], done, &mut scratch);
        scratch.clear();
        if done {
            return Ok(passed);
        }
    }
}

/// Write a streamed message into the open DATA of `link`: its header block after the pipeline (`header`), the
/// body `held` after its first `end` octets, then the rest of the RETR as it arrives, line-ending normalised. On a
/// POP3 failure the transaction is abandoned (RFC 5321 §4.1.1.4: no end of data, the MTA discards what it got).
/// The counts come back either way.
pub(super) async fn pump(
    link: &mut Link,
    client: &mut Client,
    header: Vec<u8>,
    held: Vec<u8>,
    end: usize,
) -> (Passed, Result<(), Broke>) {
    let mut passed = Passed::default();
    let mut out = header;
    passed.push(&held, &held[end..], false, &mut out);
    drop(held);
    let mut buf = Vec::new();
    let sent = async {
        link.write_content(&out).await.map_err(Broke::Smtp)?;
        loop {
            buf.clear();
            let done = match client.retr_chunk(&mut buf).await {
                Ok(done) => done,
                Err(e) => {
                    link.abandon();
                    return Err(Broke::Pop3(e));
                }
            };
            out.clear();
            passed.push(&buf, &buf, done, &mut out);
            link.write_content(&out).await.map_err(Broke::Smtp)?;
            if done {
                return Ok(());
            }
        }
    }
    .await;
    (passed, sent)
}

/// The outcome of a streamed transfer that broke off ([`pump`]): a POP3 failure ends the poll with nothing
/// recorded (the MTA got no end of data); an MTA failure is the message's outcome ([`conclude`]), its connection
/// dropped.
///
/// # Errors
/// As [`conclude`], or the POP3 failure.
#[allow(clippy::too_many_arguments)]
pub(super) fn broke(
    ctx: &Ctx<'_>,
    dest_name: &str,
    state: &mut State,
    p: &Pending,
    envelope: Envelope,
    link: &mut Link,
    passed: &Passed,
    broke: Broke,
) -> Result<Delivery, Failure> {
    match broke {
        Broke::Pop3(e) => {
            let _ = state.record_abandoned(&p.uid);
            Err(pop3_fail(e))
        }
        Broke::Smtp(e) => {
            link.abandon();
            let done = Done::unchecked(String::new(), passed.got);
            let e = Err(DeliveryError::Smtp(e));
            conclude(ctx, dest_name, state, p, envelope, e, done)
        }
    }
}

/// RETR bytes counted and normalised as they pass, for the RETR/LIST check (P-19) and the log line.
#[derive(Default)]
pub(super) struct Passed {
    norm: BodyNormalizer,
    /// Octets retrieved (dot-unstuffed, before normalisation).
    pub(super) got: u64,
    line_ends: u64,
}

impl Passed {
    /// Count `raw` (retrieved octets) and append its body part, normalised, to `out`; `end`: the message ended.
    pub(super) fn push(&mut self, raw: &[u8], body: &[u8], end: bool, out: &mut Vec<u8>) {
        self.got += raw.len() as u64;
        self.line_ends += crate::bytes::count_lf(raw);
        self.norm.push(body, out);
        if end {
            self.norm.finish(out);
        }
    }

    /// The RETR/LIST judgement (P-19); a message LIST did not name (P-18) has no size to check against.
    pub(super) fn check(&self, p: &Pending, announced: Option<u64>) -> RetrCheck {
        if p.listed {
            retr_check::check_counts(p.size, announced, self.got, self.line_ends)
        } else {
            RetrCheck::Consistent
        }
    }

    /// The [`Done`] of a RETR that ended intact: the RETR/LIST check, and `edits` (the header pipeline's) with the
    /// body's normalised line endings.
    pub(super) fn done(&self, p: &Pending, announced: Option<u64>, edits: Vec<Edit>) -> Done {
        Done {
            check: self.check(p, announced),
            edits: describe_edits(&self.edits(edits)),
            bytes: self.got,
        }
    }

    /// The header pipeline's edits plus the body's normalised line endings, merged into one count.
    pub(super) fn edits(&self, mut edits: Vec<Edit>) -> Vec<Edit> {
        let (lf, cr) = (self.norm.bare_lf, self.norm.bare_cr);
        if lf + cr == 0 {
            return edits;
        }
        match edits
            .iter_mut()
            .find(|e| matches!(e, Edit::NormalizedLineEndings { .. }))
        {
            Some(Edit::NormalizedLineEndings { bare_lf, bare_cr }) => {
                *bare_lf += lf;
                *bare_cr += cr;
            }
            _ => edits.push(Edit::NormalizedLineEndings {
                bare_lf: lf,
                bare_cr: cr,
            }),
        }
        edits
    }
}

/// Which side broke a streamed transfer.
pub(super) enum Broke {
    Pop3(crate::pop3::Pop3Error),
    Smtp(crate::smtp::SmtpError),
}
