//! What is on the server: UIDL and LIST, and the messages that share a UIDL (issue 18, catalog P-17).
//!
//! RFC 1939 §7 gives every message a unique-id, but popa3d derives it from the content, so two byte-identical
//! messages (a resend, a list duplicate) share one. popfetch cannot tell which of the two a recorded UID meant, so
//! it leaves every message of a shared UID on the server untouched (no RETR, no DELE), warns naming them, and
//! delivers the rest: one message never stalls an account.

use std::collections::{BTreeMap, HashMap};

use tracing::warn;

use super::{Failure, Report, pop3_fail};
use crate::config::Account;
use crate::error::ExitClass;
use crate::pop3::Client;

/// The server's messages as one poll sees them.
pub(crate) struct Mailbox {
    /// Messages whose UIDL is unique, in server order: the only ones popfetch fetches, records or deletes.
    pub(crate) uidl: Listing,
    /// LIST's size of each message number.
    pub(crate) sizes: HashMap<u32, u64>,
    /// UIDLs that several messages share, with those message numbers (in server order).
    pub(crate) shared: Shared,
}

impl Mailbox {
    /// Every UID on the server, shared ones included, for the state's pruning: a recorded UID that is now
    /// shared stays recorded, so once the extra copies are gone the remaining one is not delivered again.
    pub(crate) fn listing(&self) -> Vec<String> {
        let mut out: Vec<String> = self.uidl.iter().map(|(_, u)| u.clone()).collect();
        out.extend(self.shared.iter().map(|(u, _)| u.clone()));
        out
    }

    /// One warning per shared UIDL, counted as skipped (exit 1).
    pub(crate) fn warn_shared(&self, acct: &Account, report: &mut Report) {
        for (uid, numbers) in &self.shared {
            let list = numbers
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            warn!(
                "account {:?}: messages {list} share the UIDL {uid:?} (RFC 1939 §7 requires unique ones; popa3d \
                 gives byte-identical messages the same): left on the server untouched, since popfetch cannot \
                 tell them apart; delete the extra copies with another mail client and the remaining one is \
                 fetched on the next poll",
                acct.name
            );
            report.skipped += numbers.len();
            report.worsen(ExitClass::Partial);
        }
    }
}

/// A UIDL listing: `(message number, uid)` in server order.
type Listing = Vec<(u32, String)>;
/// UIDs several messages share, each with those message numbers.
type Shared = Vec<(String, Vec<u32>)>;

/// Split a UIDL listing into the messages with a unique UID and the UIDs several messages share.
pub(crate) fn split_shared(listing: Listing) -> (Listing, Shared) {
    let mut numbers: HashMap<&str, Vec<u32>> = HashMap::new();
    for (n, uid) in &listing {
        numbers.entry(uid.as_str()).or_default().push(*n);
    }
    // In server order of each UID's first message.
    let mut shared: BTreeMap<u32, (String, Vec<u32>)> = BTreeMap::new();
    for (uid, ns) in &numbers {
        if ns.len() > 1 {
            shared.insert(ns[0], ((*uid).to_owned(), ns.clone()));
        }
    }
    let unique = listing
        .iter()
        .filter(|(_, uid)| numbers[uid.as_str()].len() == 1)
        .cloned()
        .collect();
    (unique, shared.into_values().collect())
}

/// UIDL and LIST. Shared by a run and a dry run, so both see the mailbox the same way.
pub(crate) async fn list_mailbox(client: &mut Client) -> Result<Mailbox, Failure> {
    let listing = client.uidl().await.map_err(pop3_fail)?;
    let sizes = client
        .list()
        .await
        .map_err(pop3_fail)?
        .into_iter()
        .collect();
    let (uidl, shared) = split_shared(listing);
    Ok(Mailbox {
        uidl,
        sizes,
        shared,
    })
}

#[cfg(test)]
mod tests {
    use super::split_shared;

    fn l(items: &[(u32, &str)]) -> Vec<(u32, String)> {
        items.iter().map(|(n, u)| (*n, (*u).to_owned())).collect()
    }

    #[test]
    fn i18_p17_shared_uids_are_set_apart_in_server_order() {
        let (unique, shared) = split_shared(l(&[
            (1, "a"),
            (2, "dup"),
            (3, "b"),
            (4, "x"),
            (5, "dup"),
            (6, "x"),
            (7, "dup"),
        ]));
        assert_eq!(unique, l(&[(1, "a"), (3, "b")]));
        assert_eq!(
            shared,
            vec![
                ("dup".to_owned(), vec![2, 5, 7]),
                ("x".to_owned(), vec![4, 6])
            ]
        );
        let (unique, shared) = split_shared(l(&[(1, "a"), (2, "b")]));
        assert_eq!(unique, l(&[(1, "a"), (2, "b")]));
        assert!(shared.is_empty());
        assert_eq!(split_shared(Vec::new()), (Vec::new(), Vec::new()));
    }
}
