//! Keep-mode safety around the set of known UIDs: the guard against a server whose UIDs all changed (catalog C-13)
//! and `run --mark-seen`, which records what is on the server as delivered without fetching it (the migration
//! step from another fetcher, catalog C-08, and the way out of the guard). docs/decisions.md explains both.

use tracing::info;

use super::{Failure, Report, pop3_fail, state_fail};
use crate::config::Account;
use crate::error::ExitClass;
use crate::failpoint;
use crate::pop3::Client;
use crate::state::State;

/// The guard needs at least this many delivered UIDs in the state and this many messages on the server: with
/// fewer, "nothing in common" is an ordinary turnover of a small mailbox, not evidence of renumbered UIDs.
pub(super) const GUARD_MIN: usize = 10;

/// Keep mode only: when the state knows at least [`GUARD_MIN`] delivered UIDs, the server lists at least as many
/// messages and not one listed UID is known, the server's UIDs have almost certainly all changed (Dovecot's
/// `pop3_uidl_format` changed, a mailbox migration): fetching would deliver the whole mailbox again. Refuse with
/// exit 74 and say how to proceed. In delete mode no overlap is the normal case (delivered mail is gone).
pub(super) fn uidl_change_guard(
    acct: &Account,
    state: &State,
    uidl: &[(u32, String)],
) -> Result<(), Failure> {
    let known = state.delivered_count();
    if !acct.keep || known < GUARD_MIN || uidl.len() < GUARD_MIN {
        return Ok(());
    }
    if uidl
        .iter()
        .any(|(_, u)| state.is_delivered(u) || state.rejection(u).is_some())
    {
        return Ok(());
    }
    Err(Failure::of(
        ExitClass::State,
        format!(
            "none of the {} messages on the server has a UID recorded in {} ({known} UIDs known): the server's UIDs \
             all changed (UIDL format change or mailbox migration?), so nothing was fetched. If these messages were \
             delivered before, record them without fetching: popfetch run --mark-seen --account {}; if they are \
             all new, move the state file away and run again",
            uidl.len(),
            state.path().display(),
            acct.name
        ),
    ))
}

/// `run --mark-seen` after authentication and the listing: record every listed UID without an outcome as
/// delivered (nothing is fetched, nothing deleted), QUIT, compact. Keep-mode accounts only (checked before
/// connecting): in delete mode the next run would DELE messages popfetch never delivered.
pub(super) async fn mark_seen(
    acct: &Account,
    client: Client,
    state: &mut State,
    listing: &[String],
    report: &mut Report,
) -> Result<(), Failure> {
    let added = state.mark_seen(listing).map_err(state_fail)?;
    client.quit().await.map_err(pop3_fail)?;
    failpoint::hit("after_quit");
    state.compact(listing).map_err(state_fail)?;
    info!(
        "account {:?}: marked {added} message(s) on the server as seen without fetching them ({} already recorded); \
         later runs fetch only mail that arrives from now on",
        acct.name,
        listing.len() - added
    );
    report.new = 0;
    Ok(())
}

/// The refusal of `--mark-seen` for an account that deletes what it delivered.
pub(super) fn mark_seen_needs_keep(acct: &Account) -> Failure {
    Failure::of(
        ExitClass::Config,
        format!(
            "--mark-seen is only for accounts with keep = true: with keep = false the next run would delete the \
             marked messages from the server although popfetch never delivered them; select keep accounts with \
             --account (account {:?} has keep = false)",
            acct.name
        ),
    )
}
