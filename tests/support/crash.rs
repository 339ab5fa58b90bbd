//! What a `kill -9` at a named crash point may cost (catalog C-01..C-05, C-16), for the crash tests
//! (tests/robustness_crash.rs, tests/run.rs): one rule, worked out from the delivery flow with one MTA connection,
//! where the next message is read and *begun* while one is at the MTA (src/poller/lanes.rs) and a *delivered*
//! record is made durable by the fsync of the *begun* record after next (src/poller/commit.rs).
//!
//! Where the flow leaves a race (whether the MTA had answered the message in flight when the kill came), the rule
//! takes what the MTA saw before the kill as the evidence, and requires the consequences of that to be exact.

use std::collections::{BTreeSet, HashMap};

/// What one kill left: the point, its pass `k`, the message count `m` (messages are "message i", UIDs "uid-i").
pub struct Kill<'a> {
    pub point: &'a str,
    pub k: usize,
    pub m: usize,
    /// Messages the MTA had accepted when the kill came.
    pub before: usize,
    /// Transactions the MTA saw end inside DATA (the connection dropped without the final dot).
    pub aborted: usize,
    /// Every subject the MTA accepted, after the clean run.
    pub subjects: &'a [String],
    /// The clean run's log.
    pub log: &'a str,
}

/// Where the flow stood at the kill: messages settled (accepted and recorded, or at least accepted by the MTA),
/// the one possibly at the MTA without an answer read, and the messages a clean run must name as possible
/// duplicates (their *begun* record durable, their outcome not recorded).
struct Stand {
    settled: usize,
    in_flight: Option<usize>,
    named: BTreeSet<usize>,
    /// `mid_data` only: the next message may or may not have been begun yet.
    maybe_named: Option<usize>,
}

fn stand(point: &str, k: usize, m: usize) -> Stand {
    let set = |v: &[usize]| v.iter().copied().filter(|&i| i >= 1 && i <= m).collect();
    match point {
        // Message k read whole; k-1 handed to the MTA before RETR k was read, k-2 settled when k-1 waited.
        "after_retr" => Stand {
            settled: k.saturating_sub(2),
            in_flight: (k >= 2).then(|| k - 1),
            named: set(&[k - 1]),
            maybe_named: None,
        },
        // Inside message k's DATA: k-1 settled before k was handed; k+1 may have been read and begun meanwhile.
        "mid_data" => Stand {
            settled: k - 1,
            in_flight: None,
            named: set(&[k]),
            maybe_named: (k < m).then_some(k + 1),
        },
        // Message k accepted, its outcome not journalled yet; k+1 begun and waiting for the connection.
        "after_eod_250" => Stand {
            settled: k,
            in_flight: None,
            named: set(&[k, k + 1]),
            maybe_named: None,
        },
        // Message k's delivered record just became durable, by message k+2's begun record, with k+1 at the MTA;
        // or, for the last two, by the final fsync, with nothing in flight.
        "after_state_fsync" | "after_dele" if k + 2 <= m => Stand {
            settled: k,
            in_flight: Some(k + 1),
            named: set(&[k + 1, k + 2]),
            maybe_named: None,
        },
        _ => Stand {
            settled: m,
            in_flight: None,
            named: BTreeSet::new(),
            maybe_named: None,
        },
    }
}

/// Check one kill against the rule; the error says what broke.
pub fn judge(kill: &Kill<'_>) -> Result<(), String> {
    let Kill {
        point,
        k,
        m,
        before,
        aborted,
        subjects,
        log,
    } = *kill;
    let at = format!("{point}:{k} m={m}");
    let s = stand(point, k, m);
    let mut counts: HashMap<usize, usize> = HashMap::new();
    for subject in subjects {
        let i = subject
            .strip_prefix("message ")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("{at}: unexpected subject {subject:?}"))?;
        *counts.entry(i).or_default() += 1;
    }
    for i in 1..=m {
        if !counts.contains_key(&i) {
            return Err(format!("{at}: message {i} lost"));
        }
    }
    // What the MTA had before the kill: the settled messages, and perhaps the one in flight.
    let reached_in_flight = match s.in_flight {
        Some(_) if before == s.settled + 1 => true,
        _ if before == s.settled => false,
        _ => {
            return Err(format!(
                "{at}: the MTA had {before} messages before the kill, want {}{}",
                s.settled,
                if s.in_flight.is_some() {
                    " or one more"
                } else {
                    ""
                }
            ));
        }
    };
    // A transaction cut inside DATA: the killed one at `mid_data`; elsewhere only the one in flight, if it had
    // not reached the MTA.
    let want_aborted = match s.in_flight {
        _ if point == "mid_data" => 1..=1,
        Some(_) if !reached_in_flight => 0..=1,
        _ => 0..=0,
    };
    if !want_aborted.contains(&aborted) {
        return Err(format!(
            "{at}: {aborted} aborted DATA phases, want {want_aborted:?}"
        ));
    }
    // Duplicates: exactly the message the MTA had without popfetch having recorded it.
    let want_dups: BTreeSet<usize> = match (point, s.in_flight) {
        ("after_eod_250", _) => [k].into(),
        (_, Some(i)) if reached_in_flight => [i].into(),
        _ => BTreeSet::new(),
    };
    let dups: BTreeSet<usize> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(i, _)| *i)
        .collect();
    if dups != want_dups || counts.values().any(|n| *n > 2) {
        return Err(format!(
            "{at}: duplicates {counts:?}, want {want_dups:?} twice"
        ));
    }
    if subjects.len() != m + want_dups.len() {
        return Err(format!("{at}: {} deliveries", subjects.len()));
    }
    // Each message that may have reached the MTA unrecorded is named once by the clean run, and no other.
    let named: BTreeSet<usize> = (1..=m)
        .filter(|i| log.contains(&format!("uid \"uid-{i}\": possible duplicate")))
        .collect();
    let mut allowed = s.named.clone();
    allowed.extend(s.maybe_named);
    let logged = log.matches("possible duplicate").count();
    if !s.named.is_subset(&named) || !named.is_subset(&allowed) || logged != named.len() {
        return Err(format!(
            "{at}: named as possible duplicates {named:?} ({logged} lines), want {:?}{}: {log}",
            s.named,
            s.maybe_named
                .map(|i| format!(" and perhaps {i}"))
                .unwrap_or_default()
        ));
    }
    Ok(())
}
