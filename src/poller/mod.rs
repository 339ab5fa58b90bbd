//! One poll of one account, and a run over several accounts.
//!
//! This is the only module that knows the delivery order (design.md, "The flow of one poll"):
//! lock → connect/authenticate → UIDL+LIST → MTA EHLO → for each new message: RETR → header pipeline →
//! MAIL/RCPT/DATA → on 2xx: record the UID, fsync (shared with the next message's *begun* record) → DELE → QUIT
//! both sides (or, after a message fetched and not delivered, no POP3 QUIT and a second session without RETR that
//! commits the DELEs: [`tidy`]) → compact the state.
//!
//! Invariant 1 (delete only after commit) holds because `send_dele` is reached only for a UID whose *delivered*
//! record an fsync has covered (`commit.rs`, `State::take_durable`); invariant 2 (no implicit deletion) holds because every DELE sent was for a
//! recorded UID, so QUIT can never commit the deletion of an unrecorded message. On a state error the POP3 link
//! is dropped without QUIT all the same: on any doubt, keep mail on the server.

use std::path::Path;
use std::sync::Arc;

use tracing::{debug, error, info, warn};

use crate::config::{Account, Config, TlsMode};
use crate::error::ExitClass;
use crate::failpoint;
use crate::pop3::{self, Client, Reply};
use crate::state::{State, StateError};
use crate::tls;
use crate::untrusted::Secrets;

mod commit;
mod deferral;
mod deliver;
mod destination;
mod dry_run;
mod failure;
mod lanes;
mod link;
mod local_stream;
mod login;
mod mailbox;
mod plan;
mod recipients;
mod refusal;
mod report;
pub(crate) mod retr_check;
mod seen;
mod stream;
mod tidy;

pub use crate::error::chain;
use deliver::{Ctx, deliver_all, note_dele};
pub(crate) use deliver::{describe_edits, prepare};
use destination::Destination;
pub use dry_run::BANNER as DRY_RUN_BANNER;
pub(crate) use failure::{Failure, pop3_fail, state_fail};
use failure::{hint, tls_fail};
pub(crate) use login::{imap_holder, open_imap, pop3_holder};
pub(crate) use mailbox::list_mailbox;
pub(crate) use plan::Pending;
use plan::{Plan, Policy, Step};
use report::deletions;
pub use report::{Report, WaitReason, Waiting};

/// Options of one `popfetch run`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Only these accounts (all when empty).
    pub accounts: Vec<String>,
    /// How each account is polled.
    pub poll: PollOptions,
}

/// How one account is polled.
#[derive(Debug, Clone, Default)]
pub struct PollOptions {
    /// Forget earlier permanent MTA rejections and try those messages again.
    pub retry_rejected: bool,
    /// Asked to stop: finish the message in flight (never abandon a message between the MTA's reply and the
    /// state record), start no new one, QUIT cleanly.
    pub shutdown: Shutdown,
    /// Fetch and show what would be done, change nothing: no SMTP, no DELE, no state write ([`dry_run`]).
    pub dry_run: bool,
    /// Print each message's header diff (before/after the pipeline) to stdout ([`crate::inspect::diff`]).
    pub diff: bool,
    /// Record every message on the server as delivered without fetching or deleting anything (keep accounts
    /// only; the migration step and the way out of the UIDL-change guard, catalog C-08/C-13).
    pub mark_seen: bool,
    /// The terminal's progress bars (none by default).
    pub progress: crate::progress::Progress,
}

/// A stop request shared by every poll of a process (SIGTERM in the daemon). Cheap to clone; the default never
/// fires.
#[derive(Debug, Clone, Default)]
pub struct Shutdown(Option<tokio::sync::watch::Receiver<bool>>);

impl Shutdown {
    /// A shutdown signal and the handle that fires it.
    pub fn new() -> (tokio::sync::watch::Sender<bool>, Shutdown) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        (tx, Shutdown(Some(rx)))
    }

    /// True once a stop was requested.
    pub fn is_requested(&self) -> bool {
        self.0.as_ref().is_some_and(|rx| *rx.borrow())
    }

    /// Resolves when a stop is requested (never, for the default).
    pub async fn requested(&self) {
        match &self.0 {
            Some(rx) => {
                let mut rx = rx.clone();
                // An Err means the sender is gone: nobody can ask any more, so wait for ever.
                if rx.wait_for(|stop| *stop).await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending::<()>().await,
        }
    }
}

/// Poll the selected accounts concurrently (each with its own POP3 and SMTP connection) and return the most
/// severe outcome. A failing account never stops the others (invariant 9). `recorded` gets each account's report
/// as soon as its poll ends (the caller writes the status file: the poller knows nothing of it).
pub async fn run(
    config: Arc<Config>,
    opts: RunOptions,
    recorded: fn(&Config, &Report),
) -> ExitClass {
    let mut set = tokio::task::JoinSet::new();
    // Bound concurrency so a config with many accounts does not open dozens of links at once.
    let permits = Arc::new(tokio::sync::Semaphore::new(4));
    for (i, acct) in config.accounts.iter().enumerate() {
        if !opts.accounts.is_empty() && !opts.accounts.contains(&acct.name) {
            continue;
        }
        let config = config.clone();
        let permits = permits.clone();
        let poll_opts = opts.poll.clone();
        set.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let report = poll(&config, &config.accounts[i], &poll_opts).await;
            recorded(&config, &report);
            report
        });
    }
    let mut worst = ExitClass::Ok;
    while let Some(r) = set.join_next().await {
        match r {
            Ok(report) => worst = worst.worst(report.class),
            Err(e) => {
                error!("internal error: account task failed: {e}");
                worst = worst.worst(ExitClass::Internal);
            }
        }
    }
    worst
}

/// Poll one account once. Never panics on server input; every failure becomes the report's class and one
/// error line naming the account, the server and what to do.
pub async fn poll(config: &Config, acct: &Account, opts: &PollOptions) -> Report {
    let started = std::time::Instant::now();
    let mut report = Report::new(&acct.name);
    let server = format!("{}:{}", acct.host, acct.port);
    // Filled as the credentials become known (password, AUTH payloads, tokens); every server text of this poll is
    // shown through it (catalog T-20).
    let secrets = Secrets::new();
    if let Err(f) = poll_inner(config, acct, opts, &mut report, &secrets).await {
        report.worsen(f.class);
        report.message = f.shown(&secrets).into();
        error!(
            "account {:?} ({server}): {}; {}",
            acct.name,
            report.message,
            hint(f.class)
        );
    }
    // The summary only when something happened: a failure already has its own error line, and a quiet mailbox
    // prints nothing (cron mails any output).
    // An interrupted poll always says how far it got.
    let busy = report.new + report.marked + report.skipped > 0 || report.interrupted;
    if busy && !opts.dry_run {
        info!(
            "account {:?} ({server}): {} new, {} delivered, {} rejected, {} skipped, {}; {} bytes in {:.1} s{}; \
             result {}",
            acct.name,
            report.new,
            report.delivered,
            report.rejected,
            report.skipped,
            deletions(&report),
            report.bytes,
            started.elapsed().as_secs_f64(),
            if report.interrupted {
                "; interrupted, the rest waits for the next run"
            } else {
                ""
            },
            report.class.name()
        );
    } else {
        debug!("account {:?} ({server}): no new mail", acct.name);
    }
    report
}

async fn poll_inner(
    config: &Config,
    acct: &Account,
    opts: &PollOptions,
    report: &mut Report,
    secrets: &Secrets,
) -> Result<(), Failure> {
    if opts.dry_run {
        return dry_run::poll(config, acct, opts, report, secrets).await;
    }
    if opts.mark_seen && !acct.keep {
        return Err(seen::mark_seen_needs_keep(acct));
    }
    // 1. The lock and the state, before any network traffic: a second run exits 75 without touching the server.
    let identity = acct.identity();
    let mut state = State::open(&config.state_dir, &acct.name, &identity).map_err(|e| {
        report.lock_held = matches!(e, StateError::Locked { .. });
        state_fail(e)
    })?;
    for uid in state.interrupted() {
        warn!(
            "account {:?}: uid {uid:?}: possible duplicate: the previous run stopped after handing this message \
             to the MTA and before recording the answer; it is delivered again unless already deleted",
            acct.name
        );
    }
    if opts.retry_rejected {
        state.clear_rejections().map_err(state_fail)?;
    }

    // 2. Connect and authenticate. Nothing is in flight yet, so a stop request (daemon SIGTERM) abandons a slow
    //    connect, TLS handshake or password_command at once (catalog D-11): dropping the password future kills
    //    the command (`kill_on_drop`).
    let mut client = tokio::select! {
        c = open_pop3(acct, &config.state_dir, secrets) => c?,
        () = opts.shutdown.requested() => {
            info!("account {:?}: stopping: shutdown requested before the login completed", acct.name);
            report.interrupted = true;
            return Ok(());
        }
    };

    // 3. What is there, and what is new.
    let mailbox = list_mailbox(&mut client).await?;
    let listing = mailbox.listing();
    let (uidl, sizes) = (&mailbox.uidl, &mailbox.sizes);
    mailbox.warn_shared(acct, report);
    report.listed = true;
    if opts.mark_seen {
        let unique: Vec<String> = uidl.iter().map(|(_, u)| u.clone()).collect();
        return seen::mark_seen(acct, client, &mut state, &unique, report).await;
    }
    // Before anything is fetched or pruned: a listing that shares no UID with a large state is refused whole.
    seen::uidl_change_guard(acct, &state, uidl)?;
    let mut plan = Plan::new(uidl, sizes, &state, Policy::of(acct, opts));
    report.server_new = plan.not_delivered();
    for step in &plan.steps {
        note_wait(acct, step, report);
    }
    report.new = plan.fetches().count();

    // Catalog C-10: prove the state can be written (a full disk, a read-only remount) before the first RETR of
    // every poll, so a poll that could not record a delivery fetches nothing; at most the one message whose
    // record failed is delivered twice in all, not one per poll.
    if report.new > 0 {
        state.probe_writable().map_err(state_fail)?;
        if acct.keep && client.capabilities().expire_zero {
            warn!(
                "account {:?}: the server announces EXPIRE 0 (RFC 2449 §6.7): it removes every message retrieved \
                 when the session ends, so keep = true cannot leave the delivered messages on it",
                acct.name
            );
        }
    }

    for n in plan.redeletes() {
        client.send_dele(n).await.map_err(pop3_fail)?;
    }

    // 4. The MTA before the first RETR, so an outage costs no download.
    let mut outcome = Ok(());
    if report.new > 0 {
        match Destination::open(config, acct, secrets).await {
            Ok(mut dest) => {
                if let Some(limit) = dest.size_limit() {
                    for step in plan.limit_to(limit) {
                        note_wait(acct, &step, report);
                        report.new -= 1;
                    }
                }
                let todo: std::collections::VecDeque<Pending> = plan.fetches().cloned().collect();
                let size = todo.iter().map(|p| p.size).sum();
                let progress = opts.progress.account(&acct.name, todo.len(), size);
                let ctx = Ctx {
                    acct,
                    by_host: &config.smtp.helo_name,
                    uidl,
                    shutdown: &opts.shutdown,
                    diff: opts.diff,
                    secrets,
                    progress: &progress,
                };
                outcome = deliver_all(&ctx, &mut client, &mut dest, &mut state, todo, report).await;
                dest.quit().await;
            }
            Err(e) => {
                outcome = Err(Failure::of(
                    e.class(),
                    format!("{}{}", chain(&e), e.explained()),
                ));
            }
        }
    }
    if let Err(f) = &outcome
        && (f.abort_pop3 || f.class == ExitClass::Internal)
    {
        drop(client);
        if f.class != ExitClass::State {
            state.compact(&listing).map_err(state_fail)?;
        }
        return outcome;
    }

    // 5. QUIT, which commits the DELEs: every one of them is for a recorded UID. Not after this session retrieved
    //    a message it did not deliver (catalog P-27: rejected, held back for its sender, or read ahead when a stop
    //    was asked for): a server that expunges what was retrieved at UPDATE (`EXPIRE 0`, RFC 2449 §6.7;
    //    download-once policies) would lose it. The link is dropped instead, and unless the poll is stopping, a
    //    second session that retrieves nothing commits the deletions ([`tidy`]).
    let sound = drain(acct, &mut client, uidl, report).await;
    if client.retrieved() > report.delivered {
        let login_delay = client.capabilities().login_delay.filter(|&d| d > 0);
        drop(client);
        state.compact(&listing).map_err(state_fail)?;
        if sound && !acct.keep && (report.delivered > 0 || plan.redeletes().next().is_some()) {
            tidy::commit_deletions(config, acct, opts, login_delay, &mut state, secrets, report)
                .await;
        }
        return outcome;
    }
    if sound {
        quit(acct, client, uidl, report).await;
    }
    // 6. Compact: the listing was complete, so absences count towards pruning.
    state.compact(&listing).map_err(state_fail)?;
    outcome
}

/// Collect the replies still owed (DELEs, RETRs of messages we stopped before). False when the link failed
/// (logged): the session must end without QUIT.
async fn drain(
    acct: &Account,
    client: &mut Client,
    uidl: &[(u32, String)],
    report: &mut Report,
) -> bool {
    while client.outstanding() > 0 {
        match client.next_reply().await {
            Ok(Reply::Dele { n, result }) => note_dele(acct, n, uidl, result, report),
            Ok(Reply::Retr { .. }) => {}
            Err(e) => {
                warn!("account {:?}: {e}; dropping the POP3 link", acct.name);
                return false;
            }
        }
    }
    true
}

/// [`drain`], then QUIT, which commits the DELEs (RFC 1939 §6): `report.deleted` becomes `report.marked` once the
/// server answered it. False when the deletions are uncertain (a failed link or QUIT, logged); they are re-issued
/// by the next poll.
async fn quit(
    acct: &Account,
    mut client: Client,
    uidl: &[(u32, String)],
    report: &mut Report,
) -> bool {
    if !drain(acct, &mut client, uidl, report).await {
        return false;
    }
    match client.quit().await {
        Ok(()) => {
            report.deleted = report.marked;
            failpoint::hit("after_quit");
            true
        }
        Err(e) => {
            warn!(
                "account {:?}: QUIT failed ({e}); deletions are uncertain and are re-issued next run",
                acct.name
            );
            false
        }
    }
}

/// Log and count a message the plan leaves on the server by policy: rejected earlier (debug only: it was logged
/// when it happened), or over `max_message_size` or the MTA's SIZE limit (catalog S-13: it would be refused after
/// the whole download; tried again each poll, so raising the limit lets it through).
fn note_wait(acct: &Account, step: &Step, report: &mut Report) {
    match step {
        Step::Rejected {
            uid, code, text, ..
        } => {
            debug!(
                "account {:?}: uid {uid:?}: skipped: rejected earlier by the MTA with {code} {text} (run \
                 --retry-rejected to try again)",
                acct.name
            );
            report.wait(
                uid.clone(),
                WaitReason::Rejected {
                    code: *code,
                    text: text.clone(),
                },
            );
        }
        Step::TooBig {
            uid, size, limit, ..
        } => {
            warn!(
                "account {:?}: uid {uid:?}: {size} bytes exceeds {limit}; left on the server",
                acct.name
            );
            report.wait_too_big(uid, *size, limit.bytes());
        }
        Step::Recorded { .. } | Step::Fetch(_) => {}
    }
}

/// Connect to the account's POP3 server and authenticate (design flow step 2). The credential (password, or
/// an OAuth access token, refreshed first when needed) is had before the connection is made, and goes into
/// `secrets` at once, so even the greeting is shown scrubbed of it. An access token the server refuses is
/// replaced by a fresh one from the provider and the login tried once more, on a new connection (catalog T-18).
pub(crate) async fn open_pop3(
    acct: &Account,
    state_dir: &Path,
    secrets: &Secrets,
) -> Result<Client, Failure> {
    let (connector, presented) = match acct.tls {
        TlsMode::None => tls::trust_nothing().map(|c| (c, tls::Presented::default())),
        TlsMode::Implicit | TlsMode::Stls => tls::observed(&tls::TlsSettings {
            ca_file: acct.ca_file.clone(),
            cert_sha256: acct.cert_sha256,
        }),
    }
    .map_err(|e| Failure::of(ExitClass::Config, chain(&e)))?;
    let security = match acct.tls {
        TlsMode::Implicit => pop3::Security::Implicit,
        TlsMode::Stls => pop3::Security::Stls,
        TlsMode::None => pop3::Security::None,
    };
    let pop3_opts = pop3::Options {
        timeout: acct.timeout,
        max_line: 64 * 1024,
        // LIST sizes were checked against max_message_size already; RETR may legitimately be a little larger
        // (servers that count LF as one octet, catalog P-19), so the hard cap on the wire leaves 1/16 of slack.
        max_message: acct
            .max_message_size
            .saturating_add(acct.max_message_size / 16 + 4096),
        secrets: secrets.clone(),
        trace: crate::inspect::trace::Trace::log(),
    };
    let mut retried = false;
    loop {
        let credential = login::credential(acct, state_dir, secrets).await?;
        let bearer = matches!(credential, login::Credential::Bearer(_));
        let mut client = Client::connect(
            &acct.host,
            acct.port,
            security,
            &connector,
            pop3_opts.clone(),
        )
        .await
        .map_err(|e| tls_fail(e, acct, &presented))?;
        match login::login(&mut client, acct, credential, state_dir).await {
            Ok(()) => return Ok(client),
            Err(e) if bearer && !retried && login::token_refused(&e) => {
                info!(
                    "account {:?}: {}; logging in once more with a fresh access token",
                    acct.name,
                    chain(&e)
                );
                retried = true;
                // Still in the AUTHORIZATION state: nothing to commit, nothing to lose.
                let _ = client.quit().await;
            }
            Err(e) => return Err(pop3_fail(e)),
        }
    }
}
