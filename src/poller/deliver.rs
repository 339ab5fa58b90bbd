//! The per-message part of a poll: RETR (pipelined within a window) → header pipeline → MAIL/RCPT/DATA → fsync
//! the UID → DELE, plus the helpers the dry run shares (`prepare`, `describe_edits`).

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::{info, warn};

use super::commit;
use super::deferral::{self, Deferrals};
use super::destination::{DeliveryError, Destination};
use super::lanes::{self, Books, Job};
use super::local_stream;
use super::refusal::RcptRefusals;
use super::retr_check::{self, RetrCheck};
use super::stream::{self, Arriving, Held};
use super::{Failure, Pending, Report, Shutdown, pop3_fail, state_fail};
use crate::config::Account;
use crate::error::ExitClass;
use crate::failpoint;
use crate::headers::{self, Edit, ReturnPath};
use crate::pop3::{self, Client, Head};
use crate::smtp::{self, Envelope, Verdict};
use crate::state::State;
use crate::untrusted::Secrets;

/// How many RETRs may be outstanding ahead of delivery when the server advertises PIPELINING (RFC 2449 §6.6).
/// Replies are read one at a time, so memory stays bounded by one message; TCP flow control holds the rest.
const RETR_WINDOW: usize = 8;

pub(super) fn note_dele(
    acct: &Account,
    n: u32,
    uidl: &[(u32, String)],
    result: Result<(), pop3::ServerError>,
    report: &mut Report,
) {
    let uid = uidl
        .iter()
        .find(|(m, _)| *m == n)
        .map(|(_, u)| u.as_str())
        .unwrap_or("?");
    match result {
        Ok(()) => report.marked += 1,
        // Catalog P-25: the UID stays recorded, so it is not delivered again; DELE is retried next run.
        Err(e) => warn!(
            "account {:?}: uid {uid:?}: DELE refused ({}); retried next run",
            acct.name, e.text
        ),
    }
}

/// RETR (pipelined within [`RETR_WINDOW`]) → pipeline → deliver → record → DELE, in server order. `RCPT TO`
/// refusals judged to be about their message are journalled when the loop ends ([`super::refusal`]).
pub(super) async fn deliver_all(
    ctx: &Ctx<'_>,
    client: &mut Client,
    dest: &mut Destination<'_>,
    state: &mut State,
    todo: VecDeque<Pending>,
    report: &mut Report,
) -> Result<(), Failure> {
    let mut refusals = RcptRefusals::default();
    let mut deferrals = Deferrals::default();
    local_stream::clean_spool(ctx, state);
    let mut books = Books {
        state,
        report,
        refusals: &mut refusals,
        deferrals: &mut deferrals,
    };
    let mut outcome = deliver_loop(ctx, client, dest, &mut books, todo).await;
    // However the loop ended, every transaction still running at the MTA ends and is journalled first.
    let drained = settle_all(ctx, dest, &mut books).await;
    if outcome.is_ok() {
        outcome = drained;
    }
    if matches!(&outcome, Err(f) if f.class == ExitClass::State) {
        // The journal is in doubt: record nothing more; the held messages are simply tried again.
        return outcome;
    }
    // The last delivered records' fsync, then their DELEs ([`commit`]). After a POP3 failure the fsync still
    // runs (the records are kept), and the DELE is left to the next run.
    let flushed = if outcome.is_ok() {
        commit::flush(ctx.acct, client, state).await
    } else {
        state.sync().map_err(state_fail)
    };
    if let Err(f) = flushed {
        if f.class == ExitClass::State {
            return Err(f);
        }
        outcome = outcome.and(Err(f));
    }
    refusals.record(ctx.acct, state, report)?;
    deferrals.end(outcome)
}

/// Wait for the transactions running on the MTA's lanes and journal each ([`lanes::drain`]).
async fn settle_all(
    ctx: &Ctx<'_>,
    dest: &mut Destination<'_>,
    books: &mut Books<'_>,
) -> Result<(), Failure> {
    match dest {
        Destination::Smtp(lanes) if lanes.in_flight() > 0 => lanes::drain(ctx, lanes, books).await,
        _ => Ok(()),
    }
}

async fn deliver_loop(
    ctx: &Ctx<'_>,
    client: &mut Client,
    dest: &mut Destination<'_>,
    books: &mut Books<'_>,
    mut todo: VecDeque<Pending>,
) -> Result<(), Failure> {
    let acct = ctx.acct;
    let window = if client.pipelining() { RETR_WINDOW } else { 1 };
    let mut in_flight: VecDeque<Pending> = VecDeque::new();
    loop {
        if ctx.shutdown.is_requested() {
            // Stop between messages: nothing is in the MTA's hands unrecorded once the lanes are settled
            // ([`deliver_all`]). Messages not yet delivered stay on the server; the RETRs already in flight are
            // drained before QUIT.
            info!(
                "account {:?}: stopping: shutdown requested, {} message(s) left for the next poll",
                acct.name,
                todo.len() + in_flight.len()
            );
            books.report.interrupted = true;
            return Ok(());
        }
        while in_flight.len() < window
            && let Some(p) = todo.pop_front()
        {
            client.send_retr(p.n).await.map_err(pop3_fail)?;
            in_flight.push_back(p);
        }
        if in_flight.is_empty() {
            return Ok(());
        }
        let head = client.next_head().await.map_err(pop3_fail)?;
        let (n, result, announced) = match head {
            Head::Dele { n, result } => {
                note_dele(acct, n, ctx.uidl, result, books.report);
                continue;
            }
            Head::Retr {
                n,
                result,
                announced,
            } => (n, result, announced),
        };
        let Some(p) = in_flight.pop_front() else {
            return Err(Failure::of(
                ExitClass::Internal,
                "RETR reply without a request",
            ));
        };
        if p.n != n {
            return Err(Failure::of(
                ExitClass::Internal,
                "RETR replies out of order",
            ));
        }
        let held = match result {
            Ok(Some(raw)) => Held::Whole(raw),
            // Issue 11: the body follows; small messages still arrive whole.
            Ok(None) => stream::hold(client, acct.received).await?,
            Err(e) => {
                warn!(
                    "account {:?}: uid {:?}: RETR refused ({}); left on the server",
                    acct.name, p.uid, e.text
                );
                books.report.worsen(ExitClass::TempFail);
                continue;
            }
        };
        let lane = acct.multidrop.is_none() && matches!(dest, Destination::Smtp(_));
        match (&held, &mut *dest) {
            // A streamed message is sent from this task on a free connection; the others may go on.
            (Held::Head { .. }, Destination::Smtp(lanes)) if lane => {
                lanes::free(ctx, lanes, books).await?;
            }
            (Held::Whole(_), _) if lane => {}
            // Multidrop transactions run in this task, one at a time: the lanes first end theirs.
            _ => settle_all(ctx, dest, books).await?,
        }
        let state = &mut *books.state;
        let (delivery, bytes) = match held {
            Held::Whole(raw) => {
                failpoint::hit("after_retr");
                // A message LIST did not name (P-18) has no size to check against.
                let check = if p.listed {
                    retr_check::check(p.size, announced, &raw)
                } else {
                    RetrCheck::Consistent
                };
                if lane && let Destination::Smtp(lanes) = dest {
                    // Its outcome is journalled and counted when its transaction ends ([`lanes`]).
                    let (envelope, message, done) =
                        begin_whole(ctx, client, "as sent to the MTA", state, &p, &raw, check)
                            .await?;
                    let job = Job { p, envelope, done };
                    lanes::hand_off(ctx, lanes, books, job, message).await?;
                    continue;
                }
                let d = match &acct.multidrop {
                    Some(md) => {
                        let m = super::recipients::Message {
                            p: &p,
                            raw: &raw,
                            check,
                        };
                        super::recipients::deliver(ctx, client, dest, state, m, md, books.report)
                            .await?
                    }
                    None => deliver_one(ctx, client, dest, state, &p, &raw, check).await?,
                };
                (d, raw.len() as u64)
            }
            Held::Head { held, header_end } => {
                let arriving = Arriving {
                    held,
                    end: header_end,
                    announced,
                };
                match (&acct.multidrop, &*dest) {
                    // A multidrop message's recipients come from its header block (issue 15).
                    (Some(md), _) => {
                        let report = &mut *books.report;
                        super::recipients::stream(
                            ctx, client, dest, state, &p, arriving, md, report,
                        )
                        .await?
                    }
                    (None, Destination::Smtp(_)) => {
                        match stream::stream_one(ctx, client, dest, state, &p, arriving).await? {
                            Some(concluded) => concluded,
                            // Its end-of-data reply is awaited in a task; journalled when it comes ([`lanes`]).
                            None => continue,
                        }
                    }
                    (None, _) => {
                        local_stream::stream_local(ctx, client, dest, state, &p, arriving).await?
                    }
                }
            }
        };
        tally(ctx, books, &p, delivery, bytes)?;
    }
}

/// Count one message's outcome in the report and the progress bar; hand a `RCPT TO` refusal to the poll's
/// judgement ([`super::refusal`]).
pub(super) fn tally(
    ctx: &Ctx<'_>,
    books: &mut Books<'_>,
    p: &Pending,
    delivery: Delivery,
    bytes: u64,
) -> Result<(), Failure> {
    ctx.progress.message_done(p.size);
    let report = &mut *books.report;
    match delivery {
        Delivery::Done => {
            report.delivered += 1;
            report.bytes += bytes;
        }
        Delivery::Kept => {
            report.delivered += 1;
            report.bytes += bytes;
            report.worsen(ExitClass::Partial);
        }
        Delivery::Rejected { code, text } => report.rejected(p.uid.clone(), code, text),
        // Multidrop: delivered to some recipients; the rest wait for the next poll (already reported).
        Delivery::Pending => {}
        Delivery::RcptRefused { error, sender } => {
            books
                .refusals
                .judge(ctx.acct, books.state, p, error, sender)?
        }
        Delivery::Deferred { error, sender } => {
            books
                .deferrals
                .defer(ctx.acct, books.state, books.report, p, error, sender)?
        }
    }
    Ok(())
}

/// What every message of one poll shares.
pub(super) struct Ctx<'a> {
    pub(super) acct: &'a Account,
    /// This host's name for the `by` clause of the Received field.
    pub(super) by_host: &'a str,
    /// The server's listing, to name UIDs in DELE replies.
    pub(super) uidl: &'a [(u32, String)],
    pub(super) shutdown: &'a Shutdown,
    /// `--diff`: print each message's header diff.
    pub(super) diff: bool,
    /// The account's secrets, for everything shown from the servers.
    pub(super) secrets: &'a Secrets,
    /// The account's progress bar (a no-op without a terminal).
    pub(super) progress: &'a crate::progress::AccountBar,
}

pub(super) enum Delivery {
    Done,
    /// Delivered, but what RETR gave did not match LIST: kept on the server for good (catalog P-19, issue 18).
    Kept,
    /// Refused for good by the MTA (code and text as recorded): it waits on the server.
    Rejected {
        code: u16,
        text: String,
    },
    /// A 5xx to `RCPT TO` that the reply alone does not put on the target: the poll's evidence decides
    /// ([`super::refusal`]). The message is kept; its `begin` mark is concluded there.
    RcptRefused {
        error: smtp::SmtpError,
        sender: Option<String>,
    },
    /// A 4xx to MAIL or RCPT about this message's sender: the message stays on the server and the poll goes on
    /// ([`super::deferral`]); its `begin` mark is concluded there.
    Deferred {
        error: smtp::SmtpError,
        sender: Option<String>,
    },
    /// Multidrop: delivered to some recipients, others refused temporarily: the message stays on the server and
    /// the next poll delivers to those only (issue 15).
    Pending,
}

async fn deliver_one(
    ctx: &Ctx<'_>,
    client: &mut Client,
    dest: &mut Destination<'_>,
    state: &mut State,
    p: &Pending,
    raw: &[u8],
    check: RetrCheck,
) -> Result<Delivery, Failure> {
    let after = match &*dest {
        Destination::Smtp(_) => "as sent to the MTA".to_owned(),
        Destination::Imap(_) => "as appended to the IMAP server".to_owned(),
        other => format!("as handed to {other} (with LF line endings)"),
    };
    let (envelope, message, done) = begin_whole(ctx, client, &after, state, p, raw, check).await?;
    let result = dest.deliver(&envelope, &message).await;
    let dest = dest.to_string();
    conclude(ctx, &dest, state, p, envelope, result, done)
}

/// A message held whole, right before it goes to its destination: the header pipeline, its diff (`after` names
/// the destination's side), and its *begun* record (fsynced). That fsync also made the previous messages'
/// *delivered* records durable: their DELEs go now ([`commit`]).
async fn begin_whole(
    ctx: &Ctx<'_>,
    client: &mut Client,
    after: &str,
    state: &mut State,
    p: &Pending,
    raw: &[u8],
    check: RetrCheck,
) -> Result<(Envelope, Vec<u8>, Done), Failure> {
    let (filtered, envelope) = prepare(ctx.acct, ctx.by_host, client, &p.uid, raw);
    if ctx.diff {
        print_diff(ctx, &p.uid, raw, &filtered.edits, after);
    }
    let done = Done {
        check,
        edits: describe_edits(&filtered.edits),
        bytes: raw.len() as u64,
    };
    state.begin(&p.uid).map_err(state_fail)?;
    commit::release(ctx.acct, client, state).await?;
    Ok((envelope, filtered.message, done))
}

/// What the log line and the journal need of a message whose transaction ended.
pub(super) struct Done {
    pub(super) check: RetrCheck,
    /// The edits, described for the log line.
    pub(super) edits: String,
    /// Octets retrieved.
    pub(super) bytes: u64,
}

impl Done {
    /// A streamed message whose delivery ended before its RETR did: no RETR/LIST comparison could be made.
    pub(super) fn unchecked(edits: String, bytes: u64) -> Done {
        Done {
            check: RetrCheck::Consistent,
            edits,
            bytes,
        }
    }
}

/// Journal and report the outcome of one message's delivery attempt: record, DELE, log; or the refusal's
/// consequences (the same for a message delivered whole or streamed).
#[allow(clippy::too_many_arguments)]
pub(super) fn conclude(
    ctx: &Ctx<'_>,
    dest: &str,
    state: &mut State,
    p: &Pending,
    envelope: Envelope,
    result: Result<super::destination::Committed, DeliveryError>,
    done: Done,
) -> Result<Delivery, Failure> {
    let acct = ctx.acct;
    let Done {
        check,
        edits,
        bytes,
    } = done;
    let sender = envelope.from.as_deref().unwrap_or("");
    match result {
        Ok(committed) => {
            failpoint::hit("after_eod_250");
            // The MTA has it: record the UID; its DELE waits until an fsync made the record durable (group
            // commit, [`commit`]: the next message's *begun* record or the end of the loop). A message whose
            // RETR did not match LIST is recorded as kept, fsynced at once: delivered (nothing is lost either
            // way) and never deleted, now or by a later poll, since the server copy may be the only faithful one.
            let kept = match &check {
                RetrCheck::Consistent => {
                    state
                        .record_delivered_deferred(&p.uid, p.n)
                        .map_err(state_fail)?;
                    None
                }
                RetrCheck::Keep(why) => {
                    state.record_kept(&p.uid).map_err(state_fail)?;
                    failpoint::hit("after_state_fsync");
                    Some(why)
                }
            };
            if let Some(why) = kept {
                warn!(
                    "account {:?}: uid {:?}: {why}; delivered, and kept on the server for good: compare it with \
                     the delivered copy and delete it there yourself (popfetch never fetches or deletes it again)",
                    acct.name, p.uid,
                );
            }
            info!(
                "account {:?}: uid {:?}: {} bytes from <{sender}> delivered to <{}> ({}){}{edits}",
                acct.name,
                p.uid,
                bytes,
                envelope.to,
                committed.0,
                if acct.keep || kept.is_some() {
                    ", kept on the server"
                } else {
                    ""
                },
            );
            Ok(if kept.is_some() {
                Delivery::Kept
            } else {
                Delivery::Done
            })
        }
        Err(DeliveryError::Smtp(e)) if super::refusal::is_rcpt_rejection(&e) => {
            Ok(Delivery::RcptRefused {
                error: e,
                sender: envelope.from.clone(),
            })
        }
        Err(DeliveryError::Smtp(e))
            if deferral::is_sender_deferral(&e, &envelope.to, envelope.from.as_deref()) =>
        {
            Ok(Delivery::Deferred {
                error: e,
                sender: envelope.from.clone(),
            })
        }
        Err(e) => match e.verdict() {
            Verdict::Rejected => {
                let (code, text) = e.refusal();
                state
                    .record_rejected(&p.uid, code, &text)
                    .map_err(state_fail)?;
                warn!(
                    "account {:?}: uid {:?}: {} bytes from <{sender}> rejected by {dest}: {}{}; left on the \
                     server and not fetched again (run --retry-rejected to retry)",
                    acct.name,
                    p.uid,
                    p.size,
                    super::chain(&e),
                    e.explained()
                );
                Ok(Delivery::Rejected { code, text })
            }
            Verdict::Temporary | Verdict::Misconfigured => {
                if e.maybe_accepted() {
                    // Keep the in-flight mark: the next run names the possible duplicate (catalog S-07).
                    warn!(
                        "account {:?}: uid {:?}: no clear answer to end-of-DATA; the MTA may have queued it, so \
                         the retry may deliver it twice",
                        acct.name, p.uid
                    );
                } else {
                    let _ = state.record_abandoned(&p.uid);
                }
                // The message was fetched but not delivered: leave without QUIT, so a server that expunges
                // retrieved messages at UPDATE (EXPIRE 0, download-once policies; catalog P-27) keeps it.
                // DELEs already sent were for recorded UIDs and are re-issued next run.
                Err(Failure {
                    abort_pop3: true,
                    ..Failure::of(
                        e.class(),
                        format!(
                            "uid {:?} not delivered, left on the server: {}{}",
                            p.uid,
                            super::chain(&e),
                            e.explained()
                        ),
                    )
                })
            }
        },
    }
}

/// The header pipeline and the envelope for one fetched message, exactly as a delivery would use them (the dry
/// run shows the same values).
pub(crate) fn prepare(
    acct: &Account,
    by_host: &str,
    client: &Client,
    uid: &str,
    raw: &[u8],
) -> (headers::Filtered, Envelope) {
    let chosen = acct
        .multidrop
        .as_ref()
        .map(|md| crate::multidrop::choose(md, raw));
    // The `for` clause names the one recipient; a multidrop message to several has none.
    let target = match &chosen {
        None => acct.target.clone(),
        Some(c) if c.to.len() == 1 => c.to[0].clone(),
        Some(_) => String::new(),
    };
    let received = acct.received.then(|| {
        headers::received_field(&headers::ReceivedInfo {
            server_host: acct.host.clone(),
            server_ip: client.peer_ip(),
            by_host: by_host.to_owned(),
            encrypted: client.is_encrypted(),
            uid: uid.to_owned(),
            target,
            unix_time: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
        })
    });
    let rules = headers::Rules {
        target: acct.target.to_ascii_lowercase(),
        drop: acct.drop_delivered_to,
        strip: acct.strip_delivered_to.clone(),
        recipients: chosen
            .as_ref()
            .map(crate::multidrop::Chosen::loop_addresses)
            .unwrap_or_default(),
        received,
    };
    let filtered = headers::apply(raw, &rules);
    let from = match headers::return_path(raw) {
        ReturnPath::Address(a) => Some(a),
        ReturnPath::Null => None,
        ReturnPath::Absent => acct.envelope_from_fallback.clone(),
        ReturnPath::Invalid => {
            warn!(
                "account {:?}: uid {:?}: bad Return-Path, using the fallback sender",
                acct.name, uid
            );
            acct.envelope_from_fallback.clone()
        }
    };
    let envelope = Envelope {
        from,
        // Multidrop: the recipients, for log lines only (each goes into its own RCPT TO).
        to: chosen.map_or_else(|| acct.target.clone(), |c| c.to.join(", ")),
    };
    (filtered, envelope)
}

/// Print the header diff of one message to stdout in one write (accounts run concurrently; a block never
/// interleaves with another), coloured when stdout is a terminal.
pub(super) fn print_diff(ctx: &Ctx<'_>, uid: &str, raw: &[u8], edits: &[Edit], after: &str) {
    use std::io::{IsTerminal, Write};
    let name = format!("account {:?} uid {uid:?}", ctx.acct.name);
    let text = crate::inspect::diff::render(
        raw,
        edits,
        &crate::inspect::diff::Style {
            before: &format!("{name} as fetched"),
            after: &format!("{name} {after}"),
            color: std::io::stdout().is_terminal(),
            secrets: ctx.secrets,
        },
    );
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        warn!("cannot write the header diff to stdout: {e}");
    }
}

/// `; reason: ...` in plain words for an MTA refusal ([`crate::inspect::explain`]), or nothing.
pub(super) fn explained(e: &smtp::SmtpError) -> String {
    crate::inspect::explain::describe(e.code(), e.text())
        .map(|r| format!("; {r}"))
        .unwrap_or_default()
}

/// The header edits of one message, for its log line.
pub(crate) fn describe_edits(edits: &[Edit]) -> String {
    let mut parts = Vec::new();
    for e in edits {
        match e {
            Edit::RemovedDeliveredTo {
                address, reason, ..
            } => parts.push(format!("removed Delivered-To: {address} ({reason})")),
            Edit::AddedReceived { .. } => parts.push("added Received".to_owned()),
            Edit::NormalizedLineEndings { bare_lf, bare_cr } => parts.push(format!(
                "normalised {} bare line endings to CRLF",
                bare_lf + bare_cr
            )),
        }
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("; {}", parts.join("; "))
    }
}
