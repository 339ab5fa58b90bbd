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
//! A kill at any instant loses nothing: the server copy goes only after `D`. The one duplicate window stays that of
//! invariant 1, per recipient: killed between the destination's reply and the fsync of its `P` record.

use tracing::{info, warn};

use super::deliver::{Ctx, Delivery, Done, conclude, describe_edits, prepare, print_diff};
use super::destination::{Committed, DeliveryError, Destination};
use super::retr_check::RetrCheck;
use super::stream::Held;
use super::{Failure, Pending, Report, pop3_fail, state_fail};
use crate::config::Multidrop;
use crate::error::ExitClass;
use crate::failpoint;
use crate::multidrop::choose;
use crate::pop3::Client;
use crate::smtp::{Phase, SmtpError, Verdict};
use crate::state::State;

/// Read the rest of a RETR in flight (after `Client::next_head` gave `Ok(None)`) into memory, bounded by the
/// client's `max_message` cap as every RETR is.
///
/// # Errors
/// A POP3 failure: nothing was handed to the destination yet.
pub(super) async fn read_whole(client: &mut Client) -> Result<Held, Failure> {
    let mut raw = Vec::new();
    while !client.retr_chunk(&mut raw).await.map_err(pop3_fail)? {}
    client.trace_retr(&raw);
    Ok(Held::Whole(raw))
}

/// One fetched message.
pub(super) struct Message<'m> {
    pub(super) p: &'m Pending,
    pub(super) raw: &'m [u8],
    pub(super) check: RetrCheck,
}

/// Deliver one multidrop message (module docs).
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
    let (acct, p) = (ctx.acct, m.p);
    let chosen = choose(md, m.raw);
    let (filtered, mut envelope) = prepare(acct, ctx.by_host, client, &p.uid, m.raw);
    if ctx.diff {
        print_diff(
            ctx,
            &p.uid,
            m.raw,
            &filtered.edits,
            &format!("as sent to the MTA; recipients from {}", chosen.describe()),
        );
    }
    let dest_name = dest.to_string();
    let done = Done {
        check: m.check,
        edits: describe_edits(&filtered.edits),
        bytes: m.raw.len() as u64,
    };
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
        return Ok(Delivery::Rejected { code: 0, text });
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
    let missing: Vec<&str> = chosen
        .to
        .iter()
        .map(String::as_str)
        .filter(|r| !served.contains(*r) && !refused.iter().any(|x| x == r))
        .collect();
    if missing.is_empty() {
        // Every recipient was settled by an earlier poll that stopped before recording the message: settle it.
        envelope.to = chosen.to.join(", ");
        let committed = Committed("every recipient was served by an earlier poll".into());
        return conclude(ctx, &dest_name, state, p, envelope, Ok(committed), done);
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
    let Destination::Smtp(lanes) = dest else {
        return Err(Failure::of(
            ExitClass::Internal,
            "multidrop to a destination other than SMTP or LMTP",
        ));
    };
    let link = lanes.link();
    state.begin(&p.uid).map_err(state_fail)?;
    let per = match link
        .deliver_each(&envelope, &missing, &filtered.message)
        .await
    {
        Ok(per) => per,
        Err(e) => {
            envelope.to = missing.join(", ");
            let e = DeliveryError::Smtp(e);
            if let DeliveryError::Smtp(s) = &e
                && refused_for_good(s)
                && s.phase() == Phase::Rcpt
            {
                // Every RCPT TO refused for good: this message's rejection.
                let (code, text) = e.refusal();
                state
                    .record_rejected(&p.uid, code, &text)
                    .map_err(state_fail)?;
                warn!(
                    "account {:?}: uid {:?}: every recipient ({}) refused by {dest_name}: {}; left on the server \
                     and not fetched again (run --retry-rejected to retry)",
                    acct.name,
                    p.uid,
                    envelope.to,
                    super::chain(&e)
                );
                return Ok(Delivery::Rejected { code, text });
            }
            return conclude(ctx, &dest_name, state, p, envelope, Err(e), done);
        }
    };
    failpoint::hit("after_eod_250");
    let mut accepted = Vec::new();
    let mut refused_now = Vec::new();
    let mut temporary = Vec::new();
    for (rcpt, outcome) in missing.iter().zip(per) {
        match outcome {
            Ok(a) => accepted.push(((*rcpt).to_owned(), format!("{} {}", a.code, a.text))),
            Err(e) if refused_for_good(&e) => {
                let (code, text) = DeliveryError::Smtp(e).refusal();
                refused_now.push(((*rcpt).to_owned(), code, text));
            }
            Err(e) => temporary.push(((*rcpt).to_owned(), super::chain(&e))),
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
    envelope.to = chosen.to.join(", ");
    let committed = Committed(format!(
        "{} of {} recipient(s) accepted",
        served.len() + accepted.len(),
        chosen.to.len()
    ));
    conclude(ctx, &dest_name, state, p, envelope, Ok(committed), done)
}

/// A refusal for good of one recipient: a 5xx reply, at `RCPT TO` or (LMTP) after the data. Unlike a single
/// target's, a recipient's "unknown user" is no configuration error: it is that recipient's refusal.
fn refused_for_good(e: &SmtpError) -> bool {
    matches!(e, SmtpError::Reply { code, .. } if *code >= 500) || e.verdict() == Verdict::Rejected
}
