//! The per-account status file: what `popfetch status` and the metrics file show, as one small JSON document per
//! account (`state_dir/NAME.status`), and [`update`], the pure step from the previous file and a poll's outcome to
//! the next one.
//!
//! The file is monitoring data, not state: it is replaced atomically after each poll and read without any lock.
//! A missing or unreadable file never affects delivery; the next poll starts it afresh (counters restart, which
//! Prometheus handles as a counter reset).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ExitClass;
pub use crate::poller::{Report, WaitReason, Waiting};

/// Format version of the status file.
pub const VERSION: u32 = 1;
/// The delivered counts of the last this many seconds are kept, by the hour.
pub const RECENT_WINDOW: u64 = 24 * 3600;
const HOUR: u64 = 3600;

/// Everything `popfetch status` knows about one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountStatus {
    pub version: u32,
    pub account: String,
    /// When the first poll this file knows of ended (unix seconds): staleness counts from here until a success.
    pub first_poll: u64,
    pub last_poll: LastPoll,
    /// When the last poll with result `ok` or `partial` ended.
    pub last_success: Option<u64>,
    /// Failed polls since the last success (interrupted polls count neither way).
    pub consecutive_failures: u32,
    /// Messages the server listed that are not recorded as delivered, at the last poll that got a listing.
    pub server_new: u64,
    /// Messages left on the server by policy at the last poll that got a listing.
    pub waiting: Vec<Waiting>,
    /// The daemon's plan for the account; `None` after a `popfetch run`.
    pub schedule: Option<Schedule>,
    pub totals: Totals,
    /// Delivered messages and bytes per hour (start of the hour, unix seconds), the last [`RECENT_WINDOW`].
    pub recent: Vec<Hour>,
}

/// The last poll.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LastPoll {
    /// When it ended (unix seconds).
    pub at: u64,
    /// `ok`, `partial`, `interrupted`, or the failure class (`tempfail`, `security`, ...).
    pub result: String,
    /// The exit class's status (0, 1, 69...78).
    pub exit_code: u8,
    /// One line: the failure as logged, or a summary of what was done.
    pub message: String,
    pub new: u64,
    pub delivered: u64,
    pub rejected: u64,
    pub skipped: u64,
    pub deleted: u64,
    pub bytes: u64,
}

/// What the daemon plans for the account, as of the end of its last poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// When the next poll is due (unix seconds).
    pub next_poll: u64,
    /// Stopped by a failure that needs a human: retried only hourly, or on SIGUSR1 / a reload.
    pub stopped: bool,
}

/// Counters since the status file was started.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Totals {
    /// Polls by result (the [`LastPoll::result`] names).
    pub polls: BTreeMap<String, u64>,
    pub delivered: u64,
    pub rejected: u64,
    pub skipped: u64,
    pub deleted: u64,
    /// Octets of the delivered messages, as fetched.
    pub bytes: u64,
}

/// One hour of deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hour {
    pub start: u64,
    pub messages: u64,
    pub bytes: u64,
}

/// Every poll result name, in the order the metrics list them.
pub const RESULTS: &[&str] = &[
    "ok",
    "partial",
    "interrupted",
    "tempfail",
    "unavailable",
    "protocol",
    "internal",
    "state",
    "security",
    "config",
];

/// The poll's waiting list, each entry dated: since when the previous list had the same UID waiting for the same
/// kind of reason (a held message whose MTA reply changed is still held), else since `now`.
fn waiting_since(prev: &[Waiting], listed: &[Waiting], now: u64) -> Vec<Waiting> {
    listed
        .iter()
        .map(|w| {
            let since = prev
                .iter()
                .find(|p| {
                    p.uid == w.uid
                        && std::mem::discriminant(&p.reason) == std::mem::discriminant(&w.reason)
                })
                .and_then(|p| p.since)
                .unwrap_or(now);
            Waiting {
                since: Some(since),
                ..w.clone()
            }
        })
        .collect()
}

/// For tests: the report of a poll that listed the mailbox and held back `held` for their sender (catalog S-17).
#[cfg(test)]
pub(crate) fn holding(held: &[&str]) -> Report {
    let mut r = Report::new("isp");
    r.class = ExitClass::Partial;
    r.listed = true;
    for uid in held {
        r.wait(
            (*uid).to_owned(),
            WaitReason::Deferred {
                code: 450,
                text: "4.1.8 <a@nx.example>: Sender address rejected: Domain not found".into(),
            },
        );
    }
    r
}

/// The result name of a poll: a stop request that ended a poll without a failure is `interrupted`.
pub fn result_name(r: &Report) -> &'static str {
    match r.class {
        ExitClass::Ok | ExitClass::Partial if r.interrupted => "interrupted",
        c => c.name(),
    }
}

impl AccountStatus {
    /// The messages waiting for their sender (catalog S-17) that the file dates, each with when it was first found
    /// held.
    pub fn held(&self) -> impl Iterator<Item = (&Waiting, u64)> {
        self.waiting
            .iter()
            .filter(|w| matches!(w.reason, WaitReason::Deferred { .. }))
            .filter_map(|w| Some((w, w.since?)))
    }

    /// When the longest-held message waiting for its sender was first found held, if any is and the file dates it.
    pub fn oldest_held(&self) -> Option<u64> {
        self.held().map(|(_, since)| since).min()
    }

    /// Messages and bytes delivered in the [`RECENT_WINDOW`] before `now` (counted by the hour).
    pub fn recent_delivered(&self, now: u64) -> (u64, u64) {
        self.recent
            .iter()
            .filter(|h| h.start + HOUR > now.saturating_sub(RECENT_WINDOW))
            .fold((0, 0), |(m, b), h| (m + h.messages, b + h.bytes))
    }
}

/// The status after a poll that ended at `now` with `r`, given the previous status (`None`: the first poll, or an
/// unreadable file). `schedule` is the daemon's plan; `None` (a `popfetch run`) keeps a plan that is still in the
/// future, so a run beside the daemon does not hide when the daemon polls next.
pub fn update(
    prev: Option<AccountStatus>,
    r: &Report,
    schedule: Option<Schedule>,
    now: u64,
) -> AccountStatus {
    let result = result_name(r);
    let mut s = prev.unwrap_or_else(|| AccountStatus {
        version: VERSION,
        account: r.account.clone(),
        first_poll: now,
        last_poll: LastPoll::default(),
        last_success: None,
        consecutive_failures: 0,
        server_new: 0,
        waiting: Vec::new(),
        schedule: None,
        totals: Totals::default(),
        recent: Vec::new(),
    });
    let n = |v: usize| v as u64;
    s.last_poll = LastPoll {
        at: now,
        result: result.to_owned(),
        exit_code: r.class.code(),
        message: if r.message.is_empty() {
            summary(r)
        } else {
            r.message.clone()
        },
        new: n(r.new),
        delivered: n(r.delivered),
        rejected: n(r.rejected),
        skipped: n(r.skipped),
        deleted: n(r.deleted),
        bytes: r.bytes,
    };
    match result {
        "ok" | "partial" => {
            s.last_success = Some(now);
            s.consecutive_failures = 0;
        }
        "interrupted" => {}
        _ => s.consecutive_failures = s.consecutive_failures.saturating_add(1),
    }
    // A poll that failed before the listing knows nothing new about the mailbox: keep what the last one saw.
    if r.listed {
        s.server_new = n(r.server_new);
        s.waiting = waiting_since(&s.waiting, &r.waiting, now);
    }
    s.schedule = schedule.or(s.schedule.filter(|p| p.next_poll > now));
    *s.totals.polls.entry(result.to_owned()).or_default() += 1;
    s.totals.delivered += n(r.delivered);
    s.totals.rejected += n(r.rejected);
    s.totals.skipped += n(r.skipped);
    s.totals.deleted += n(r.deleted);
    s.totals.bytes += r.bytes;
    s.recent
        .retain(|h| h.start + HOUR > now.saturating_sub(RECENT_WINDOW));
    if r.delivered > 0 {
        let start = now - now % HOUR;
        match s.recent.iter_mut().find(|h| h.start == start) {
            Some(h) => {
                h.messages += n(r.delivered);
                h.bytes += r.bytes;
            }
            None => s.recent.push(Hour {
                start,
                messages: n(r.delivered),
                bytes: r.bytes,
            }),
        }
    }
    s
}

/// The one-line message of a poll without a failure.
fn summary(r: &Report) -> String {
    if r.new + r.delivered + r.rejected + r.skipped + r.deleted == 0 {
        return if r.interrupted {
            "stopped by a shutdown request before any message".to_owned()
        } else {
            "no new mail".to_owned()
        };
    }
    let mut text = format!(
        "{} new, {} delivered, {} rejected, {} skipped, {} deleted",
        r.new, r.delivered, r.rejected, r.skipped, r.deleted
    );
    if r.interrupted {
        text.push_str("; stopped by a shutdown request, the rest waits for the next poll");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(class: ExitClass) -> Report {
        Report {
            class,
            ..Report::new("isp")
        }
    }

    #[test]
    fn success_failure_and_interruption_move_the_counters() {
        let mut ok = report(ExitClass::Ok);
        ok.listed = true;
        ok.new = 2;
        ok.delivered = 2;
        ok.deleted = 2;
        ok.bytes = 300;
        ok.server_new = 2;
        let s = update(None, &ok, None, 10_000);
        assert_eq!(s.first_poll, 10_000);
        assert_eq!(s.last_success, Some(10_000));
        assert_eq!(s.last_poll.result, "ok");
        assert_eq!(
            s.last_poll.message,
            "2 new, 2 delivered, 0 rejected, 0 skipped, 2 deleted"
        );
        assert_eq!((s.totals.delivered, s.totals.bytes), (2, 300));
        assert_eq!(s.recent_delivered(10_000), (2, 300));

        let mut fail = report(ExitClass::Security);
        fail.message = "authentication failed".into();
        let s = update(Some(s), &fail, None, 10_100);
        let s = update(Some(s), &fail, None, 10_200);
        assert_eq!(s.consecutive_failures, 2);
        assert_eq!(s.last_success, Some(10_000));
        assert_eq!(s.last_poll.exit_code, 77);
        assert_eq!(s.last_poll.message, "authentication failed");
        // No listing in the failed polls: the mailbox view of the last listing stays.
        assert_eq!(s.server_new, 2);

        let mut stop = report(ExitClass::Ok);
        stop.interrupted = true;
        let s = update(Some(s), &stop, None, 10_300);
        assert_eq!(s.last_poll.result, "interrupted");
        assert_eq!(s.consecutive_failures, 2);
        assert_eq!(s.totals.polls["security"], 2);
        assert_eq!(s.totals.polls["ok"], 1);
        assert_eq!(s.totals.polls["interrupted"], 1);
    }

    #[test]
    fn recent_deliveries_age_out_after_a_day_by_the_hour() {
        let mut r = report(ExitClass::Ok);
        r.delivered = 1;
        r.bytes = 10;
        let t0 = 100 * HOUR + 5;
        let s = update(None, &r, None, t0);
        let s = update(Some(s), &r, None, t0 + 60);
        let s = update(Some(s), &r, None, t0 + 2 * HOUR);
        assert_eq!(s.recent.len(), 2);
        assert_eq!(s.recent_delivered(t0 + 2 * HOUR), (3, 30));
        // An hour counts while any part of it is within the window.
        assert_eq!(s.recent_delivered(t0 + 24 * HOUR), (3, 30));
        assert_eq!(s.recent_delivered(t0 + 25 * HOUR), (1, 10));
        assert_eq!(s.recent_delivered(t0 + 27 * HOUR), (0, 0));
        assert_eq!(s.totals.delivered, 3);
    }

    #[test]
    fn a_run_keeps_the_daemons_future_plan_only() {
        let plan = Schedule {
            next_poll: 500,
            stopped: false,
        };
        let s = update(None, &report(ExitClass::Ok), Some(plan), 100);
        let s = update(Some(s), &report(ExitClass::Ok), None, 200);
        assert_eq!(s.schedule, Some(plan));
        let s = update(Some(s), &report(ExitClass::Ok), None, 600);
        assert_eq!(s.schedule, None);
    }

    #[test]
    fn s17_a_waiting_message_keeps_the_date_it_first_waited_for_that_reason() {
        let held = |code: u16| WaitReason::Deferred {
            code,
            text: "4.1.8 Sender address rejected".into(),
        };
        let poll = |prev: Option<AccountStatus>, waiting: Vec<(&str, WaitReason)>, at: u64| {
            let mut r = report(ExitClass::Partial);
            r.listed = true;
            for (uid, reason) in waiting {
                r.wait(uid.into(), reason);
            }
            update(prev, &r, None, at)
        };
        let since = |s: &AccountStatus| -> Vec<(String, Option<u64>)> {
            s.waiting.iter().map(|w| (w.uid.clone(), w.since)).collect()
        };
        let s = poll(None, vec![("u1", held(450))], 100);
        assert_eq!(since(&s), [("u1".into(), Some(100))]);
        // Still held (another 4xx text is the same kind of reason); a new one dates from its own poll.
        let s = poll(Some(s), vec![("u1", held(451)), ("u2", held(450))], 200);
        assert_eq!(
            since(&s),
            [("u1".into(), Some(100)), ("u2".into(), Some(200))]
        );
        // A poll without a listing keeps the list as it was.
        let mut failed = report(ExitClass::TempFail);
        failed.listed = false;
        let s = update(Some(s), &failed, None, 300);
        assert_eq!(
            since(&s),
            [("u1".into(), Some(100)), ("u2".into(), Some(200))]
        );
        // Rejected for good now: another reason, dated afresh; gone from the list: forgotten.
        let rejected = WaitReason::Rejected {
            code: 550,
            text: "5.1.8 no".into(),
        };
        let s = poll(Some(s), vec![("u1", rejected)], 400);
        assert_eq!(since(&s), [("u1".into(), Some(400))]);
        let s = poll(Some(s), vec![("u2", held(450))], 500);
        assert_eq!(since(&s), [("u2".into(), Some(500))]);
    }

    #[test]
    fn the_file_round_trips_through_json() {
        let mut r = report(ExitClass::Partial);
        r.listed = true;
        r.waiting = vec![
            Waiting {
                uid: "u1".into(),
                reason: WaitReason::Rejected {
                    code: 554,
                    text: "5.7.1 spam".into(),
                },
                since: None,
            },
            Waiting {
                uid: "u2".into(),
                reason: WaitReason::TooBig { size: 9, limit: 5 },
                since: None,
            },
        ];
        let s = update(None, &r, None, 1);
        let text = serde_json::to_string(&s).unwrap();
        assert!(
            text.contains(
                r#"{"uid":"u1","reason":"rejected","code":554,"text":"5.7.1 spam","since":1}"#
            ),
            "{text}"
        );
        let back: AccountStatus = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
    }
}
