//! Streaming a large message to a Maildir, an MDA or an IMAP server (issue 11 point 2, issues 12 and 14): the
//! counterpart of [`super::stream`] for the destinations that are not SMTP. The same threshold
//! ([`super::stream::HOLD`]) decides: a message whose RETR ends within it is delivered whole from memory; a larger
//! one goes through the header pipeline (its header block only), then body chunk by chunk as the RETR arrives:
//! - **Maildir**: straight into its `tmp/` file (LF line endings); linked into `new/` only after the RETR ended
//!   intact; the `tmp/` file is removed on any failure.
//! - **MDA** and **IMAP**: into the account's spool file in `state_dir` ([`crate::deliver::spool`]); once the RETR
//!   ended intact, the MDA is started with the spool as its stdin (LF line endings), or the spool is sent as the
//!   APPEND literal, whose size is then known. A RETR that fails mid-way never starts the MDA nor sends the APPEND.
//!
//! "Ended intact" is what it is for SMTP: the terminator read, no byte after it, within `max_message`. The RETR/LIST
//! comparison (P-19) is made before the commit and decides, as for SMTP, whether the server copy is deleted.

use super::deliver::{Ctx, Delivery, Done, conclude, describe_edits, prepare, print_diff};
use super::destination::{Committed, DeliveryError, Destination};
use super::stream::{Arriving, Passed};
use super::{Failure, Pending, pop3_fail, state_fail};
use crate::deliver::imap::command::internal_date;
use crate::deliver::spool::{self, Spool};
use crate::deliver::{LocalError, maildir};
use crate::failpoint;
use crate::pop3::Client;
use crate::smtp::Envelope;
use crate::state::State;

/// Where the bytes of a streamed message go until the commit.
enum Sink {
    Maildir(maildir::Writer),
    Spool(Spool),
}

impl Sink {
    async fn open(
        dest: &Destination<'_>,
        envelope: &Envelope,
        state: &State,
    ) -> Result<Sink, LocalError> {
        match dest {
            Destination::Maildir(root) => {
                let sender = envelope.from.as_deref().unwrap_or("");
                Ok(Sink::Maildir(
                    maildir::Writer::create(root, &envelope.to, sender).await?,
                ))
            }
            Destination::Mda(_) | Destination::Imap(_) => {
                let path = spool::path_for(state.path());
                Spool::create(&path)
                    .await
                    .map(Sink::Spool)
                    .map_err(|source| LocalError::Spool {
                        op: "create",
                        path,
                        source,
                    })
            }
            Destination::Smtp(_) => Err(LocalError::Internal(
                "an SMTP delivery routed to the local streaming path",
            )),
        }
    }

    async fn write(&mut self, bytes: &[u8], state: &State) -> Result<(), LocalError> {
        match self {
            Sink::Maildir(w) => w.write(bytes).await,
            Sink::Spool(s) => s.write(bytes).await.map_err(|source| LocalError::Spool {
                op: "write",
                path: spool::path_for(state.path()),
                source,
            }),
        }
    }

    /// The commit: the rename into `new/`, the MDA's exit 0, the APPEND's tagged OK.
    async fn commit(
        self,
        dest: &mut Destination<'_>,
        envelope: &Envelope,
        date: &str,
        state: &State,
    ) -> Result<Committed, DeliveryError> {
        match self {
            Sink::Maildir(w) => w
                .commit()
                .await
                .map(|path| Committed(format!("written to {}", path.display())))
                .map_err(DeliveryError::Local),
            Sink::Spool(mut s) => {
                let len = s.len();
                let file = s.reader().await.map_err(|source| {
                    DeliveryError::Local(LocalError::Spool {
                        op: "read back",
                        path: spool::path_for(state.path()),
                        source,
                    })
                })?;
                // `s` (and with it the file) is removed when this returns, committed or not.
                dest.hand(envelope, file, len, date).await
            }
        }
    }
}

/// Remove the spool file a killed run may have left (issue 14: "removed afterwards"), at the start of a poll that
/// holds the account's lock.
pub(super) fn clean_spool(ctx: &Ctx<'_>, state: &State) {
    let path = spool::path_for(state.path());
    match spool::clean(&path) {
        Ok(true) => tracing::info!(
            "account {:?}: removed the spool file {} left by an interrupted run",
            ctx.acct.name,
            path.display()
        ),
        Ok(false) => {}
        Err(e) => tracing::warn!(
            "account {:?}: cannot remove the leftover spool file {}: {e}",
            ctx.acct.name,
            path.display()
        ),
    }
}

/// Deliver a message to a local or IMAP destination from its held start (`held`, the header block ending at
/// `end`) and the rest of its RETR body.
///
/// # Errors
/// As `deliver_one`; a POP3 failure mid-stream abandons the delivery (nothing is committed) and ends the poll.
pub(super) async fn stream_local(
    ctx: &Ctx<'_>,
    client: &mut Client,
    dest: &mut Destination<'_>,
    state: &mut State,
    p: &Pending,
    arriving: Arriving,
) -> Result<(Delivery, u64), Failure> {
    let Arriving {
        held,
        end,
        announced,
    } = arriving;
    let header_raw = &held[..end];
    let (filtered, envelope) = prepare(ctx.acct, ctx.by_host, client, &p.uid, header_raw);
    if ctx.diff {
        let after = match &*dest {
            Destination::Imap(_) => "as appended to the IMAP server".to_owned(),
            other => format!("as handed to {other} (with LF line endings)"),
        };
        print_diff(ctx, &p.uid, header_raw, &filtered.edits, &after);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    // The header block is all `internal_date` reads (the Date field), so it gives what the whole message would.
    let date = internal_date(&filtered.message, now);
    let dest_name = dest.to_string();
    state.begin(&p.uid).map_err(state_fail)?;
    let mut passed = Passed::default();
    let mut out = filtered.message;
    passed.push(&held, &held[end..], false, &mut out);
    drop(held);
    let sink = match Sink::open(dest, &envelope, state).await {
        Ok(sink) => sink,
        Err(e) => {
            let done = Done::unchecked(describe_edits(&filtered.edits), passed.got);
            let r = Err(DeliveryError::Local(e));
            let d = conclude(ctx, &dest_name, state, p, envelope, r, done)?;
            return Ok((d, passed.got));
        }
    };
    let mut sink = sink;
    let mut buf = Vec::new();
    let written: Result<(), Broke> = async {
        sink.write(&out, state).await.map_err(Broke::Sink)?;
        loop {
            buf.clear();
            let ended = client.retr_chunk(&mut buf).await.map_err(Broke::Pop3)?;
            out.clear();
            passed.push(&buf, &buf, ended, &mut out);
            sink.write(&out, state).await.map_err(Broke::Sink)?;
            failpoint::hit("mid_spool");
            if ended {
                return Ok(());
            }
        }
    }
    .await;
    match written {
        Err(Broke::Pop3(e)) => {
            // Nothing was committed: the Maildir's tmp/ file or the spool goes with the sink.
            drop(sink);
            let _ = state.record_abandoned(&p.uid);
            return Err(pop3_fail(e));
        }
        Err(Broke::Sink(e)) => {
            drop(sink);
            let done = Done::unchecked(String::new(), passed.got);
            let r = Err(DeliveryError::Local(e));
            let d = conclude(ctx, &dest_name, state, p, envelope, r, done)?;
            return Ok((d, passed.got));
        }
        Ok(()) => {}
    }
    client.trace_retr_end(passed.got.saturating_sub(end as u64));
    failpoint::hit("after_retr");
    let check = passed.check(p, announced);
    let edits = passed.edits(filtered.edits);
    let result = sink.commit(dest, &envelope, &date, state).await;
    let done = Done {
        check,
        edits: describe_edits(&edits),
        bytes: passed.got,
    };
    let d = conclude(ctx, &dest_name, state, p, envelope, result, done)?;
    Ok((d, passed.got))
}

/// Which side broke a streamed transfer.
enum Broke {
    Pop3(crate::pop3::Pop3Error),
    Sink(LocalError),
}
