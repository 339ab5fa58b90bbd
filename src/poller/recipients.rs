//! Multidrop delivery (issue 15): one transaction per message with one `RCPT TO` per recipient still missing, each
//! recipient's outcome journalled ([`State::record_recipients`]) before anything else happens, and `D` then `DELE`
//! only once every recipient is settled (accepted, or refused for good).
//!
//! - all accepted: delivered, deleted (unless `keep`);
//! - some refused for good (5xx): delivered to the rest, the refusal journalled and logged, exit 1;
//! - some refused temporarily (4xx, or an LMTP server that stopped before answering for them): those accepted
//!   are journalled, the message stays on the server, and the next poll delivers to the missing ones only;
//! - the transaction failed as a whole: as for a single target ([`super::deliver::conclude`]), except that a 5xx to
//!   every `RCPT TO` is this message's rejection (there is no configured target it could be about).
//!
//! A message held whole goes in one write ([`deliver`]); a larger one has its recipients chosen from its held header
//! block and its body streamed into the transaction while the RETR arrives ([`stream`](fn@stream), issue 11
//! point 2), with the end of data only after the RETR ended intact. Both choose ([`plan`]) and journal
//! ([`settle`]) alike.
//!
//! A kill at any instant loses nothing: the server copy goes only after `D`. The one duplicate window stays that of
//! invariant 1, per recipient: killed between the destination's reply and the fsync of its `P` record.

use tracing::{info, warn};

use super::deliver::{Ctx, Delivery, Done, conclude, describe_edits, prepare, print_diff};
use super::destination::{Committed, DeliveryError, Destination};
use super::link::Link;
use super::retr_check::RetrCheck;
use super::stream::{self, Arriving};
use super::{Failure, Pending, Report, state_fail};
use crate::config::Multidrop;
use crate::error::ExitClass;
use crate::failpoint;
use crate::headers::Edit;
use crate::multidrop::choose;
use crate::pop3::Client;
use crate::smtp::{self, Envelope, Phase, SmtpError, Verdict};
use crate::state::State;

/// One fetched message.
pub(super) struct Message<'m> {
    pub(super) p: &'m Pending,
    pub(super) raw: &'m [u8],
    pub(super) check: RetrCheck,
}

/// What a multidrop message's header block decides before any transaction.
enum Plan {
    /// Nothing to send: no usable recipient (journalled as rejected; popfetch never bounces).
    Rejected(Delivery),
    /// Every recipient was settled by an earlier poll that stopped before recording the message.
    Settled {
        envelope: Envelope,
        edits: Vec<Edit>,
    },
    /// One transaction to the recipients still missing.
    Send(Send),
}

/// A transaction to make, from [`plan`].
struct Send {
    envelope: Envelope,
    /// The recipients still missing, in the header's order: one `RCPT TO` each.
    missing: Vec<String>,
    /// Every recipient chosen, for the final log line.
    all: Vec<String>,
    /// Recipients an earlier poll already served.
    served: usize,
    /// The message (or, streamed, its header block) after the header pipeline.
    message: Vec<u8>,
    edits: Vec<Edit>,
}

/// Choose the recipients from `raw` (the whole message, or the header block of a streamed one), run the header
/// pipeline, and leave out those an earlier poll settled.
///
/// # Errors
/// The state cannot be written.
fn plan(
    ctx: &Ctx<'_>,
    client: &Client,
    state: &mut State,
    p: &Pending,
    raw: &[u8],
    md: &Multidrop,
) -> Result<Plan, Failure> {
    let acct = ctx.acct;
    let chosen = choose(md, raw);
    let (filtered, mut envelope) = prepare(acct, ctx.by_host, client, &p.uid, raw);
    if ctx.diff {
        print_diff(
            ctx,
            &p.uid,
            raw,
            &filtered.edits,
            &format!("as sent to the MTA; recipients from {}", chosen.describe()),
        );
    }
    if chosen.to.is_empty() {
        // popfetch never bounces: the message waits on the server, listed by `popfetch status`, until a fallback
        // is set and `--retry-rejected` runs.
        let text = format!("multidrop: no usable recipient ({})", chosen.describe());
        state
            .record_rejected(&p.uid, 0, &text)
            .map_err(state_fail)?;
        warn!(
            "account {:?}: uid {:?}: {text}; left on the server and not fetched again (set fallback in \
             [account.multidrop], then run --retry-rejected)",
            acct.name, p.uid
        );
        return Ok(Plan::Rejected(Delivery::Rejected { code: 0, text }));
    }
    // A fallback delivery or a dropped address is worth a warning: either may be a missing `map` or domain.
    let line = format!(
        "account {:?}: uid {:?}: recipients from {}",
        acct.name,
        p.uid,
        chosen.describe()
    );
    if chosen.fallback || chosen.sorting.dropped().next().is_some() {
        warn!("{line}");
    } else {
        info!("{line}");
    }

    let served = state.served(&p.uid);
    let refused: Vec<String> = state.refused(&p.uid).into_iter().map(|(r, _)| r).collect();
    let missing: Vec<String> = chosen
        .to
        .iter()
        .filter(|r| !served.contains(*r) && !refused.iter().any(|x| x == *r))
        .cloned()
        .collect();
    if missing.is_empty() {
        envelope.to = chosen.to.join(", ");
        return Ok(Plan::Settled {
            envelope,
            edits: filtered.edits,
        });
    }
    if !served.is_empty() || !refused.is_empty() {
        info!(
            "account {:?}: uid {:?}: settled earlier for {}; now delivering to {} only",
            acct.name,
            p.uid,
            served
                .iter()
                .chain(&refused)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            missing.join(", ")
        );
    }
    Ok(Plan::Send(Send {
        envelope,
        missing,
        all: chosen.to,
        served: served.len(),
        message: filtered.message,
        edits: filtered.edits,
    }))
}

/// The connection a multidrop transaction runs on, in the poll's own task.
fn link<'d>(dest: &'d mut Destination<'_>) -> Result<&'d mut Link, Failure> {
    match dest {
        Destination::Smtp(lanes) => Ok(lanes.link()),
        _ => Err(Failure::of(
            ExitClass::Internal,
            "multidrop to a destination other than SMTP or LMTP",
        )),
    }
}

/// The outcome of a message every recipient of which an earlier poll settled.
fn settled_earlier(
    ctx: &Ctx<'_>,
    dest_name: &str,
    state: &mut State,
    p: &Pending,
    envelope: Envelope,
    done: Done,
) -> Result<Delivery, Failure> {
    let committed = Committed("every recipient was served by an earlier poll".into());
    conclude(ctx, dest_name, state, p, envelope, Ok(committed), done)
}

/// Deliver one multidrop message held whole (module docs).
///
/// # Errors
/// A [`Failure`] that ends the poll: the state cannot be written, or the destination failed as a whole
/// temporarily.
pub(super) async fn deliver(
    ctx: &Ctx<'_>,
    client: &mut Client,
    dest: &mut Destination<'_>,
    state: &mut State,
    m: Message<'_>,
    md: &Multidrop,
    report: &mut Report,
) -> Result<Delivery, Failure> {
    let p = m.p;
    let dest_name = dest.to_string();
    let done = |edits: &[Edit]| Done {
        check: m.check,
        edits: describe_edits(edits),
        bytes: m.raw.len() as u64,
    };
    let send = match plan(ctx, client, state, p, m.raw, md)? {
        Plan::Rejected(d) => return Ok(d),
        Plan::Settled { envelope, edits } => {
            return settled_earlier(ctx, &dest_name, state, p, envelope, done(&edits));
        }
        Plan::Send(send) => send,
    };
    let link = link(dest)?;
    state.begin(&p.uid).map_err(state_fail)?;
    let rcpts: Vec<&str> = send.missing.iter().map(String::as_str).collect();
    let r = link
        .deliver_each(&send.envelope, &rcpts, &send.message)
        .await;
    let done = done(&send.edits);
    match r {
        Ok(per) => settle(ctx, &dest_name, state, p, send, per, done, report),
        Err(e) => failed(ctx, &dest_name, state, p, send, e, done),
    }
}

/// Deliver one multidrop message whose RETR is still arriving (issue 11 point 2): the recipients come from its
/// held header block, and the body goes into the one transaction while it arrives, as [`super::stream`] does for
/// one target; the end of data only after the RETR ended intact. Returns the outcome and the octets retrieved.
///
/// # Errors
/// As [`deliver`], or a POP3 failure (the MTA got no end of data and accepted nothing).
#[allow(clippy::too_many_arguments)]
pub(super) async fn stream(
    ctx: &Ctx<'_>,
    client: &mut Client,
    dest: &mut Destination<'_>,
    state: &mut State,
    p: &Pending,
    arriving: Arriving,
    md: &Multidrop,
    report: &mut Report,
) -> Result<(Delivery, u64), Failure> {
    let Arriving {
        held,
        end,
        announced,
    } = arriving;
    let dest_name = dest.to_string();
    let mut send = match plan(ctx, client, state, p, &held[..end], md)? {
        Plan::Rejected(d) => return stream::refused_before_content(client, &held, Ok(d)).await,
        Plan::Settled { envelope, edits } => {
            let passed = stream::drain(client, &held).await?;
            let done = passed.done(p, announced, edits);
            let bytes = done.bytes;
            return settled_earlier(ctx, &dest_name, state, p, envelope, done).map(|d| (d, bytes));
        }
        Plan::Send(send) => send,
    };
    let link = link(dest)?;
    state.begin(&p.uid).map_err(state_fail)?;
    let rcpts: Vec<&str> = send.missing.iter().map(String::as_str).collect();
    let hints = stream::hints(p, end, &send.message);
    if let Err(e) = link.open_data(&send.envelope, &rcpts, hints).await {
        let done = Done::unchecked(describe_edits(&send.edits), held.len() as u64);
        let outcome = failed(ctx, &dest_name, state, p, send, e, done);
        return stream::refused_before_content(client, &held, outcome).await;
    }
    link.trace_header(&send.message);
    let header = std::mem::take(&mut send.message);
    let (passed, sent) = stream::pump(link, client, header, held, end).await;
    if let Err(broke) = sent {
        let mut envelope = send.envelope.clone();
        envelope.to = send.missing.join(", ");
        return stream::broke(ctx, &dest_name, state, p, envelope, link, &passed, broke)
            .map(|d| (d, passed.got));
    }
    client.trace_retr_end(passed.got.saturating_sub(end as u64));
    failpoint::hit("after_retr");
    let done = passed.done(p, announced, send.edits.clone());
    let bytes = done.bytes;
    let d = match link.end_data_each().await {
        Ok(per) => settle(ctx, &dest_name, state, p, send, per, done, report),
        Err(e) => failed(ctx, &dest_name, state, p, send, e, done),
    }?;
    Ok((d, bytes))
}

/// The transaction failed as a whole: as for a single target ([`conclude`]), except that a 5xx to every
/// `RCPT TO` is this message's rejection (there is no configured target it could be about).
fn failed(
    ctx: &Ctx<'_>,
    dest_name: &str,
    state: &mut State,
    p: &Pending,
    send: Send,
    e: SmtpError,
    done: Done,
) -> Result<Delivery, Failure> {
    let mut envelope = send.envelope;
    envelope.to = send.missing.join(", ");
    if refused_for_good(&e) && e.phase() == Phase::Rcpt {
        // Every RCPT TO refused for good: this message's rejection.
        let e = DeliveryError::Smtp(e);
        let (code, text) = e.refusal();
        state
            .record_rejected(&p.uid, code, &text)
            .map_err(state_fail)?;
        warn!(
            "account {:?}: uid {:?}: every recipient ({}) refused by {dest_name}: {}; left on the server and not \
             fetched again (run --retry-rejected to retry)",
            ctx.acct.name,
            p.uid,
            envelope.to,
            super::chain(&e)
        );
        return Ok(Delivery::Rejected { code, text });
    }
    let e = Err(DeliveryError::Smtp(e));
    conclude(ctx, dest_name, state, p, envelope, e, done)
}

/// Each recipient's outcome of a transaction that went through: journal who was served and who refused for
/// good, then record the message if nobody is missing, or leave it for the next poll.
#[allow(clippy::too_many_arguments)]
fn settle(
    ctx: &Ctx<'_>,
    dest_name: &str,
    state: &mut State,
    p: &Pending,
    send: Send,
    per: smtp::PerRecipient,
    done: Done,
    report: &mut Report,
) -> Result<Delivery, Failure> {
    let acct = ctx.acct;
    failpoint::hit("after_eod_250");
    let mut accepted = Vec::new();
    let mut refused_now = Vec::new();
    let mut temporary = Vec::new();
    for (rcpt, outcome) in send.missing.iter().zip(per) {
        match outcome {
            Ok(a) => accepted.push((rcpt.clone(), format!("{} {}", a.code, a.text))),
            Err(e) if refused_for_good(&e) => {
                let (code, text) = DeliveryError::Smtp(e).refusal();
                refused_now.push((rcpt.clone(), code, text));
            }
            Err(e) => temporary.push((rcpt.clone(), super::chain(&e))),
        }
    }
    let served_now: Vec<String> = accepted.iter().map(|(r, _)| r.clone()).collect();
    state
        .record_recipients(&p.uid, &served_now, &refused_now)
        .map_err(state_fail)?;
    for (rcpt, reply) in &accepted {
        info!(
            "account {:?}: uid {:?}: delivered to <{rcpt}> ({reply})",
            acct.name, p.uid
        );
    }
    for (rcpt, code, text) in &refused_now {
        report.worsen(ExitClass::Partial);
        warn!(
            "account {:?}: uid {:?}: refused for good for <{rcpt}> by {dest_name}: {code} {text}; journalled, \
             not retried (popfetch never bounces)",
            acct.name, p.uid
        );
    }
    if !temporary.is_empty() {
        report.worsen(ExitClass::TempFail);
        for (rcpt, why) in &temporary {
            warn!(
                "account {:?}: uid {:?}: not delivered to <{rcpt}> this time ({why}); the message stays on the \
                 server and the next poll delivers it to the recipients still missing only",
                acct.name, p.uid
            );
        }
        let _ = state.record_abandoned(&p.uid);
        return Ok(Delivery::Pending);
    }
    let mut envelope = send.envelope;
    envelope.to = send.all.join(", ");
    let committed = Committed(format!(
        "{} of {} recipient(s) accepted",
        send.served + accepted.len(),
        send.all.len()
    ));
    conclude(ctx, dest_name, state, p, envelope, Ok(committed), done)
}

/// A refusal for good of one recipient: a 5xx reply, at `RCPT TO` or (LMTP) after the data. Unlike a single
/// target's, a recipient's "unknown user" is no configuration error: it is that recipient's refusal.
fn refused_for_good(e: &SmtpError) -> bool {
    matches!(e, SmtpError::Reply { code, .. } if *code >= 500) || e.verdict() == Verdict::Rejected
}
