//! A second session that commits a poll's deletions when the first had to end without QUIT (catalog P-27, S-17).
//!
//! A poll that goes on after a message it fetched and did not deliver (rejected for good, or held back for its
//! sender: [`super::deferral`]) drops its session without QUIT (catalog P-27): a server that expunges what was
//! retrieved (`EXPIRE 0`, download-once policies) keeps that message. The DELEs of that session die with it. Were
//! they only re-sent by the next poll, they would die again there for as long as a sender stays refused, which can
//! be for ever, and the mailbox would grow until the provider's quota bounced new mail. So the poll logs in once more,
//! lists the mailbox, sends `DELE` for every UID recorded as delivered, and QUITs. This session retrieves nothing,
//! so its UPDATE state (RFC 1939 §6) expunges only what it DELEted, and every DELE is for a UID whose *delivered*
//! record is durable (docs/design.md invariants 1 and 2). A failure here loses nothing: the deletions wait for
//! the next poll, as they would without this session.

use tracing::{debug, info, warn};

use super::plan::{Plan, Policy};
use super::{Failure, PollOptions, Report, list_mailbox, open_pop3, pop3_fail, quit, state_fail};
use crate::config::{Account, Config};
use crate::state::State;
use crate::untrusted::Secrets;

/// Run the deleting session; on success `report.marked` and `report.deleted` count its deletions. A failure is
/// one warning and leaves the report as it was. A stop request (daemon SIGTERM) skips or abandons it: without
/// QUIT nothing is committed. A server that announced a `login_delay` (RFC 2449 §6.5, `LOGIN-DELAY n` with
/// n > 0) would refuse a second login so soon, and may count the attempt against the next poll's: the session is
/// not tried, and the deletions wait for the next poll (info line).
pub(super) async fn commit_deletions(
    config: &Config,
    acct: &Account,
    opts: &PollOptions,
    login_delay: Option<u64>,
    state: &mut State,
    secrets: &Secrets,
    report: &mut Report,
) {
    if opts.shutdown.is_requested() {
        return;
    }
    if let Some(delay) = login_delay {
        info!(
            "account {:?}: the server allows one login per {delay} s (LOGIN-DELAY), so the delivered messages are \
             deleted by the next poll, not by a second session now",
            acct.name
        );
        return;
    }
    let mut counted = Report::new(&acct.name);
    // Log in, list, DELE each message recorded as delivered, QUIT, and prune the state by this listing; false
    // when `quit` found the deletions uncertain (it warned already: the next poll re-issues them).
    let session = async {
        let mut client = open_pop3(acct, &config.state_dir, secrets).await?;
        let mailbox = list_mailbox(&mut client).await?;
        let plan = Plan::new(&mailbox.uidl, &mailbox.sizes, state, Policy::of(acct, opts));
        for n in plan.redeletes() {
            client.send_dele(n).await.map_err(pop3_fail)?;
        }
        let committed = quit(acct, client, &mailbox.uidl, &mut counted).await;
        state.compact(&mailbox.listing()).map_err(state_fail)?;
        Ok::<bool, Failure>(committed)
    };
    let outcome = tokio::select! {
        r = session => r,
        () = opts.shutdown.requested() => return,
    };
    match outcome {
        Ok(false) => {}
        Ok(true) => {
            debug!(
                "account {:?}: a second session without RETR deleted {} delivered message(s)",
                acct.name, counted.deleted
            );
            report.marked = counted.marked;
            report.deleted = counted.deleted;
        }
        Err(f) => warn!(
            "account {:?} ({}:{}): the session that was to delete the delivered messages failed ({}); nothing is \
             lost: their deletion waits for the next poll",
            acct.name,
            acct.host,
            acct.port,
            f.shown(secrets)
        ),
    }
}
