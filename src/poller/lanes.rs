//! Messages in flight at the MTA while the poll goes on (issue 11 point 3): each message held whole is handed to
//! a task that runs its SMTP or LMTP transaction on one of up to `[smtp] smtp_connections` connections (a *lane*),
//! and the poll reads the next RETR, runs the header pipeline and fsyncs the next *begun* record meanwhile. With
//! one connection this overlaps popfetch's own work and fsync with the MTA's; with several, the MTA's transactions
//! (each ending in its own queue-file fsync) run side by side too.
//!
//! Only the transaction runs in the task. The journal and the POP3 link stay with the poll: each message is
//! *begun* (fsynced) before it is handed over, and its outcome is journalled by [`settle`] in the poll's task, so
//! each message keeps its own deliver → record (durable) → DELE order (docs/design.md invariant 1; the DELE waits
//! for the group commit, [`super::commit`]). A kill at any instant finds at most one message per lane handed to
//! the MTA and not recorded: the one duplicate window per connection, named by the next run. It also finds the
//! next message *begun* and not yet handed: named as a possible duplicate too, although the MTA never had it (as
//! for a kill inside DATA, catalog C-02).
//!
//! A streamed message (over 256 KiB) is sent by the poll itself on a free connection ([`free`]), since its body
//! comes from the RETR as it arrives; only the wait for its end-of-data reply goes to a task
//! ([`Lanes::end_in_task`]). Multidrop messages are not handed to lanes: the poll first waits for every lane
//! ([`drain`]), then runs them on one connection as before.

use tokio::task::JoinSet;
use tracing::{debug, info};

use super::deferral::Deferrals;
use super::deliver::{Ctx, Done, conclude, tally};
use super::destination::{Committed, DeliveryError};
use super::link::{Link, Server};
use super::refusal::RcptRefusals;
use super::{Failure, Pending, Report, state_fail};
use crate::error::ExitClass;
use crate::smtp::{Accepted, Envelope, SmtpError};
use crate::state::State;
use crate::untrusted::Secrets;

/// The poll's connections to the MTA or LMTP server and the transactions running on them.
pub(super) struct Lanes {
    server: Server,
    secrets: Secrets,
    /// Connections with no transaction running.
    idle: Vec<Link>,
    /// One task per transaction running; each gives its connection back.
    busy: JoinSet<(Link, Landed)>,
    /// Connections that exist, idle or busy.
    links: usize,
    /// The most connections: `smtp_connections`, lowered to what exists when one more could not be opened.
    most: usize,
    /// The MTA's SIZE limit, from the first session.
    size_limit: Option<u64>,
}

/// A message handed to a lane, with what its conclusion needs.
pub(super) struct Job {
    pub(super) p: Pending,
    pub(super) envelope: Envelope,
    pub(super) done: Done,
}

/// A transaction that ended, and how.
pub(super) struct Landed {
    job: Job,
    result: Result<Accepted, SmtpError>,
}

impl Lanes {
    /// Connect and EHLO once; more connections are opened only when a message waits for one.
    ///
    /// # Errors
    /// As [`Link::open`].
    pub(super) async fn open(
        server: Server,
        most: usize,
        secrets: &Secrets,
    ) -> Result<Lanes, SmtpError> {
        let first = Link::open(server.clone(), secrets).await?;
        Ok(Lanes {
            server,
            secrets: secrets.clone(),
            size_limit: first.size_limit(),
            idle: vec![first],
            busy: JoinSet::new(),
            links: 1,
            most: most.max(1),
        })
    }

    /// The MTA's announced SIZE limit (RFC 1870).
    pub(super) fn size_limit(&self) -> Option<u64> {
        self.size_limit
    }

    /// Transactions running.
    pub(super) fn in_flight(&self) -> usize {
        self.busy.len()
    }

    /// An idle connection, opening one more if below `smtp_connections`; `None` when every one is busy.
    ///
    /// # Errors
    /// No connection exists (the tasks that had them failed) and a new one cannot be opened.
    async fn idle(&mut self) -> Result<Option<Link>, SmtpError> {
        if let Some(link) = self.idle.pop() {
            return Ok(Some(link));
        }
        if self.links >= self.most {
            return Ok(None);
        }
        match Link::open(self.server.clone(), &self.secrets).await {
            Ok(link) => {
                self.links += 1;
                debug!("MTA connection {} of {} opened", self.links, self.most);
                Ok(Some(link))
            }
            Err(e) if self.links > 0 => {
                // The MTA limits connections per client (Postfix's smtpd_client_connection_count_limit):
                // go on with those already open.
                info!("{e}: going on with {} connection(s) to the MTA", self.links);
                self.most = self.links;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The connection for a transaction run in the poll's own task: a streamed message after [`free`], a multidrop
    /// message after [`drain`]. When every connection was lost with a failed task, a new one connects on its
    /// first use.
    pub(super) fn link(&mut self) -> &mut Link {
        if self.idle.is_empty() {
            self.idle
                .push(Link::closed(self.server.clone(), &self.secrets));
            self.links += 1;
        }
        self.idle.last_mut().expect("one idle connection")
    }

    /// Await the end-of-data reply of the streamed transaction on the connection [`Lanes::link`] gave, in a task
    /// of its own: the poll reads the next RETR meanwhile.
    pub(super) fn end_in_task(&mut self, job: Job) {
        // [`Lanes::link`] left that connection last among the idle ones, and nothing took it since.
        let mut link = self.idle.pop().expect("the connection Lanes::link gave");
        self.busy.spawn(async move {
            let result = link.end_data().await;
            (link, Landed { job, result })
        });
    }

    /// Run `job`'s transaction on `link` in a task of its own.
    fn start(&mut self, mut link: Link, job: Job, message: Vec<u8>) {
        self.busy.spawn(async move {
            let result = link.deliver(&job.envelope, &message).await;
            (link, Landed { job, result })
        });
    }

    /// The next transaction to end; `None` when none is running.
    async fn landed(&mut self) -> Option<Result<Landed, Failure>> {
        let joined = self.busy.join_next().await?;
        Some(match joined {
            Ok((link, landed)) => {
                self.idle.push(link);
                Ok(landed)
            }
            Err(e) => {
                // A task that panicked took its connection and its message's outcome with it: the message stays
                // begun, so the next run names it as a possible duplicate.
                self.links -= 1;
                Err(Failure::of(
                    ExitClass::Internal,
                    format!("a delivery task failed: {e}"),
                ))
            }
        })
    }

    /// QUIT every connection. Call only with nothing in flight.
    pub(super) async fn quit(self) {
        for link in self.idle {
            link.quit().await;
        }
    }
}

/// What the poll owns while it settles landed transactions.
pub(super) struct Books<'s> {
    pub(super) state: &'s mut State,
    pub(super) report: &'s mut Report,
    pub(super) refusals: &'s mut RcptRefusals,
    pub(super) deferrals: &'s mut Deferrals,
}

/// A free connection, settling transactions that end while waiting for one; the flag says whether it had to
/// wait. The inner `Err`: no connection exists (the tasks that had them failed) and none can be opened, so nothing
/// is in flight either.
///
/// # Errors
/// A settled transaction failed so that the poll must stop (a temporary refusal, a lost connection, the state):
/// every other transaction in flight is waited for and settled first.
async fn free_link(
    ctx: &Ctx<'_>,
    lanes: &mut Lanes,
    books: &mut Books<'_>,
) -> Result<(Result<Link, SmtpError>, bool), Failure> {
    let mut waited = false;
    let stopped = loop {
        match lanes.idle().await {
            Ok(Some(link)) => return Ok((Ok(link), waited)),
            Ok(None) => {}
            Err(e) => return Ok((Err(e), waited)),
        }
        let Some(landed) = lanes.landed().await else {
            break Failure::of(ExitClass::Internal, "no MTA connection and none in flight");
        };
        waited = true;
        if let Err(f) = settle(ctx, books, landed).await {
            break f;
        }
    };
    let _ = drain(ctx, lanes, books).await;
    Err(stopped)
}

/// Hand `job` (already *begun*, fsynced) to a free lane ([`free_link`]).
///
/// # Errors
/// As [`free_link`], or no connection could be had: either way `job` was not handed over and its begin mark is
/// abandoned.
pub(super) async fn hand_off(
    ctx: &Ctx<'_>,
    lanes: &mut Lanes,
    books: &mut Books<'_>,
    job: Job,
    message: Vec<u8>,
) -> Result<(), Failure> {
    let got = free_link(ctx, lanes, books)
        .await
        .and_then(|(link, waited)| Ok((link.map_err(|e| failed(&job, e))?, waited)));
    let (link, waited) = match got {
        Ok(got) => got,
        Err(f) => {
            let _ = books.state.record_abandoned(&job.p.uid);
            return Err(f);
        }
    };
    if waited && ctx.shutdown.is_requested() {
        // Asked to stop while this message waited for a lane: it stays on the server, unsent. (A message that
        // finds a lane free goes at once, as it did when nothing overlapped: the one being read when the request
        // came is finished.)
        lanes.idle.push(link);
        books
            .state
            .record_abandoned(&job.p.uid)
            .map_err(state_fail)?;
        books.report.interrupted = true;
        return Ok(());
    }
    lanes.start(link, job, message);
    // Let the new transaction write its first commands before this task goes on to the next message's RETR and
    // fsync: a task spawned here waits in this worker's queue until this one yields, so without this the MTA
    // would sit idle through that fsync (seen in an strace of the benchmark).
    tokio::task::yield_now().await;
    Ok(())
}

/// Make sure a connection is free for a transaction run in the poll's own task (a streamed message), settling
/// transactions that end meanwhile; the others may go on running. With no connection at all, [`Lanes::link`]
/// gives one that connects on its first use.
///
/// # Errors
/// As [`free_link`].
pub(super) async fn free(
    ctx: &Ctx<'_>,
    lanes: &mut Lanes,
    books: &mut Books<'_>,
) -> Result<(), Failure> {
    if let (Ok(link), _) = free_link(ctx, lanes, books).await? {
        lanes.idle.push(link);
    }
    Ok(())
}

/// Wait for every transaction in flight and settle each.
///
/// # Errors
/// The first settlement that failed; the others are settled all the same.
pub(super) async fn drain(
    ctx: &Ctx<'_>,
    lanes: &mut Lanes,
    books: &mut Books<'_>,
) -> Result<(), Failure> {
    let mut outcome = Ok(());
    while let Some(landed) = lanes.landed().await {
        let settled = settle(ctx, books, landed).await;
        if outcome.is_ok() {
            outcome = settled;
        }
    }
    outcome
}

/// Journal, log and count one transaction's outcome ([`conclude`], then [`tally`]).
async fn settle(
    ctx: &Ctx<'_>,
    books: &mut Books<'_>,
    landed: Result<Landed, Failure>,
) -> Result<(), Failure> {
    let Landed { job, result } = landed?;
    let Job { p, envelope, done } = job;
    let bytes = done.bytes;
    let result = result.map(Committed::from).map_err(DeliveryError::Smtp);
    let delivery = conclude(ctx, "the MTA", books.state, &p, envelope, result, done)?;
    tally(ctx, books, &p, delivery, bytes)
}

/// No connection could be had for `job`: the poll stops as when the MTA is down before the first message.
fn failed(job: &Job, e: SmtpError) -> Failure {
    Failure {
        abort_pop3: true,
        ..Failure::of(
            e.class(),
            format!(
                "uid {:?} not delivered, left on the server: {}",
                job.p.uid,
                super::chain(&e)
            ),
        )
    }
}
