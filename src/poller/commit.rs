//! Group commit of the journal (issue 11, point 3; `src/state/group.rs`): a delivered message's *delivered* record
//! is appended at once but fsynced together with the next message's *begun* record (or at the end of the loop), and
//! its `DELE` is sent only after that fsync. One fsync per message instead of two, and the order of each message
//! stays deliver → record (durable) → DELE (docs/design.md invariant 1): [`release`] sends a `DELE` only for a
//! record an fsync has covered, and QUIT (which commits the DELEs, invariant 2) comes after the final [`flush`].
//!
//! The cost: a kill after the shared fsync and before the next message reaches the MTA finds that message begun,
//! so the next run names it as a possible duplicate although the MTA never had it (as for a kill in the middle of
//! DATA, catalog C-02). At most one message is in flight per connection, so at most one such warning, and at most
//! one real (logged) duplicate: the message between the MTA's 2xx and the shared fsync.

use super::{Failure, pop3_fail, state_fail};
use crate::config::Account;
use crate::failpoint;
use crate::pop3::Client;
use crate::state::State;

/// Send the `DELE` of every message whose *delivered* record an fsync has made durable since the last call
/// (nothing with `keep`). Call only between RETR replies (not while a body is being streamed).
///
/// # Errors
/// The POP3 connection failed: the DELEs not sent are sent by the next run (catalog P-25).
pub(super) async fn release(
    acct: &Account,
    client: &mut Client,
    state: &mut State,
) -> Result<(), Failure> {
    for n in state.take_durable() {
        failpoint::hit("after_state_fsync");
        if !acct.keep {
            client.send_dele(n).await.map_err(pop3_fail)?;
            failpoint::hit("after_dele");
        }
    }
    Ok(())
}

/// The end of the delivery loop: fsync what is still deferred, then [`release`] it.
///
/// # Errors
/// As [`release`], or the fsync failed (exit 74; nothing more is deleted).
pub(super) async fn flush(
    acct: &Account,
    client: &mut Client,
    state: &mut State,
) -> Result<(), Failure> {
    state.sync().map_err(state_fail)?;
    release(acct, client, state).await
}
