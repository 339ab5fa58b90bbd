//! Whether an account needs attention: the rule behind `popfetch status`'s exit code. Pure: the clock is a
//! parameter, so staleness is tested without sleeping.

use std::time::Duration;

use super::file::{AccountStatus, WaitReason, Waiting};
use crate::error::ExitClass;

/// The default `stale_after`: three intervals, and at least an hour (a poll every 5 minutes that failed for 15
/// minutes is an outage worth a look; a daily poll is stale only after three missed days).
pub fn default_stale_after(interval: Duration) -> Duration {
    interval.saturating_mul(3).max(Duration::from_secs(3600))
}

/// How long a message may stay held back for its sender (catalog S-17: each poll tries it again and the MTA keeps
/// refusing it for now) before its account needs attention: Postfix's default `maximal_queue_lifetime`, after
/// which Postfix itself stops retrying a deferred message and returns it to its sender.
pub const HELD_TOO_LONG: Duration = Duration::from_secs(5 * 86_400);

/// An account's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Healthy,
    /// Needs attention, with the problem in words.
    Attention(String),
}

/// The health of one account at `now` (unix seconds). `status` is `Err` with the reason when the file could not
/// be read, `Ok(None)` when there is none yet.
pub fn assess(
    status: Result<Option<&AccountStatus>, &str>,
    stale_after: Duration,
    now: u64,
) -> Health {
    let s = match status {
        Err(why) => return Health::Attention(format!("status file unreadable: {why}")),
        Ok(None) => {
            return Health::Attention(
                "never polled: no status file yet (is popfetch run from cron, or the daemon running?)"
                    .to_owned(),
            );
        }
        Ok(Some(s)) => s,
    };
    if let Some(class) = stopped_by(s) {
        return Health::Attention(format!(
            "stopped: {} (exit {}): {}",
            what_needs_fixing(class),
            class.code(),
            s.last_poll.message
        ));
    }
    let since = s.last_success.unwrap_or(s.first_poll);
    let quiet = now.saturating_sub(since);
    if quiet > stale_after.as_secs() {
        let what = match s.last_success {
            Some(_) => "no successful poll for",
            None => "no successful poll yet, failing for",
        };
        return Health::Attention(format!(
            "{what} {} (stale_after {}); last: {}",
            human_duration(quiet),
            human_duration(stale_after.as_secs()),
            s.last_poll.message
        ));
    }
    if let Some(why) = held_too_long(s, now) {
        return Health::Attention(why);
    }
    Health::Healthy
}

/// The messages held back for their sender for longer than [`HELD_TOO_LONG`], in words, if any: the MTA's
/// refusal "for now" has lasted as long as Postfix would retry a message of its own.
fn held_too_long(s: &AccountStatus, now: u64) -> Option<String> {
    let old: Vec<(&Waiting, u64)> = s
        .held()
        .map(|(w, since)| (w, now.saturating_sub(since)))
        .filter(|(_, held)| *held > HELD_TOO_LONG.as_secs())
        .collect();
    let (oldest, held) = old.iter().max_by_key(|(_, held)| *held)?;
    let WaitReason::Deferred { code, text } = &oldest.reason else {
        return None;
    };
    let others = match old.len() {
        1 => String::new(),
        n => format!(" and {} more", n - 1),
    };
    Some(format!(
        "uid {:?}{others} held back for its sender for {} (over {}), the MTA still answers {code} {text}: fix the \
         MTA's sender check, or delete the message on the server",
        oldest.uid,
        human_duration(*held),
        human_duration(HELD_TOO_LONG.as_secs())
    ))
}

/// The failure class that stopped the account (its last poll needs a human: exit 74, 77 or 78), if any.
pub fn stopped_by(s: &AccountStatus) -> Option<ExitClass> {
    class_of(s.last_poll.exit_code).filter(|c| c.needs_human())
}

/// The class behind an exit status, among those that can stop an account.
fn class_of(code: u8) -> Option<ExitClass> {
    [ExitClass::State, ExitClass::Security, ExitClass::Config]
        .into_iter()
        .find(|c| c.code() == code)
}

fn what_needs_fixing(class: ExitClass) -> &'static str {
    match class {
        ExitClass::Security => "authentication or TLS policy failed",
        ExitClass::Config => "configuration error",
        ExitClass::State => "state file problem",
        _ => "failure",
    }
}

/// `3d 4h`, `2h 5m`, `4m 10s`, `12s`: the two largest units.
pub fn human_duration(secs: u64) -> String {
    let units = [(86_400, "d"), (3600, "h"), (60, "m"), (1, "s")];
    let mut parts = Vec::new();
    let mut rest = secs;
    for (size, name) in units {
        if rest >= size || (parts.is_empty() && size == 1) {
            parts.push(format!("{}{name}", rest / size));
            rest %= size;
        }
        if parts.len() == 2 || (!parts.is_empty() && rest == 0) {
            break;
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poller::Report;
    use crate::status::file::update;

    fn polled(class: ExitClass, at: u64, prev: Option<AccountStatus>) -> AccountStatus {
        let mut r = Report::new("isp");
        r.class = class;
        r.message = format!("{} happened", class.name());
        update(prev, &r, None, at)
    }

    #[test]
    fn default_is_three_intervals_at_least_an_hour() {
        assert_eq!(
            default_stale_after(Duration::from_secs(300)),
            Duration::from_secs(3600)
        );
        assert_eq!(
            default_stale_after(Duration::from_secs(7200)),
            Duration::from_secs(21_600)
        );
    }

    #[test]
    fn stale_after_success_counts_from_the_last_success() {
        let hour = Duration::from_secs(3600);
        let s = polled(ExitClass::Ok, 1000, None);
        let s = polled(ExitClass::TempFail, 2000, Some(s));
        assert_eq!(assess(Ok(Some(&s)), hour, 1000 + 3600), Health::Healthy);
        let Health::Attention(why) = assess(Ok(Some(&s)), hour, 1000 + 3601) else {
            panic!("not stale")
        };
        assert_eq!(
            why,
            "no successful poll for 1h 1s (stale_after 1h); last: tempfail happened"
        );
        // A success resets it.
        let s = polled(ExitClass::Partial, 5000, Some(s));
        assert_eq!(assess(Ok(Some(&s)), hour, 5000 + 3600), Health::Healthy);
    }

    #[test]
    fn never_successful_counts_from_the_first_poll() {
        let hour = Duration::from_secs(3600);
        let s = polled(ExitClass::TempFail, 1000, None);
        let s = polled(ExitClass::TempFail, 4000, Some(s));
        assert_eq!(assess(Ok(Some(&s)), hour, 4600), Health::Healthy);
        assert!(
            matches!(assess(Ok(Some(&s)), hour, 4601), Health::Attention(w) if w.starts_with("no successful poll yet, failing for 1h 1s"))
        );
    }

    #[test]
    fn failures_that_need_a_human_are_attention_at_once() {
        let day = Duration::from_secs(86_400);
        for (class, words) in [
            (
                ExitClass::Security,
                "authentication or TLS policy failed (exit 77)",
            ),
            (ExitClass::Config, "configuration error (exit 78)"),
            (ExitClass::State, "state file problem (exit 74)"),
        ] {
            let s = polled(ExitClass::Ok, 1000, None);
            let s = polled(class, 1001, Some(s));
            let Health::Attention(why) = assess(Ok(Some(&s)), day, 1001) else {
                panic!("{class:?} healthy")
            };
            assert_eq!(why, format!("stopped: {words}: {} happened", class.name()));
        }
        for class in [
            ExitClass::TempFail,
            ExitClass::Protocol,
            ExitClass::Unavailable,
            ExitClass::Internal,
        ] {
            let s = polled(class, 1001, None);
            assert_eq!(
                assess(Ok(Some(&s)), day, 1001),
                Health::Healthy,
                "{class:?}"
            );
        }
    }

    #[test]
    fn s17_a_message_held_back_for_its_sender_for_over_five_days_is_attention() {
        let day = 86_400;
        let poll = |prev: Option<AccountStatus>, held: &[&str], at: u64| {
            let mut r = crate::status::file::holding(held);
            // A rejected message waits too, and is never a health problem.
            r.rejected("r1".into(), 554, "5.7.1 spam".into());
            update(prev, &r, None, at)
        };
        let hour = Duration::from_secs(3600);
        let s = poll(None, &["u1"], 1000);
        let s = poll(Some(s), &["u1", "u2"], 1000 + 5 * day);
        assert_eq!(assess(Ok(Some(&s)), hour, 1000 + 5 * day), Health::Healthy);
        let s = poll(Some(s), &["u1", "u2"], 1000 + 5 * day + 60);
        let Health::Attention(why) = assess(Ok(Some(&s)), hour, 1000 + 5 * day + 60) else {
            panic!("held for over five days, still healthy")
        };
        assert_eq!(
            why,
            "uid \"u1\" held back for its sender for 5d 1m (over 5d), the MTA still answers 450 4.1.8 \
             <a@nx.example>: Sender address rejected: Domain not found: fix the MTA's sender check, or delete the \
             message on the server"
        );
        // Both past the limit: the oldest is named, the other counted.
        let s = poll(Some(s), &["u1", "u2"], 1000 + 11 * day);
        let Health::Attention(why) = assess(Ok(Some(&s)), hour, 1000 + 11 * day) else {
            panic!("held for eleven days, still healthy")
        };
        assert!(
            why.starts_with("uid \"u1\" and 1 more held back for its sender for 11d"),
            "{why}"
        );
        // Delivered at last: healthy again.
        let s = poll(Some(s), &[], 1000 + 12 * day);
        assert_eq!(assess(Ok(Some(&s)), hour, 1000 + 12 * day), Health::Healthy);
    }

    #[test]
    fn missing_or_unreadable_status_is_attention() {
        let hour = Duration::from_secs(3600);
        assert!(
            matches!(assess(Ok(None), hour, 0), Health::Attention(w) if w.starts_with("never polled"))
        );
        assert!(
            matches!(assess(Err("bad json"), hour, 0), Health::Attention(w) if w == "status file unreadable: bad json")
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(59), "59s");
        assert_eq!(human_duration(60), "1m");
        assert_eq!(human_duration(3661), "1h 1m");
        assert_eq!(human_duration(90_061), "1d 1h");
        assert_eq!(human_duration(3 * 86_400), "3d");
    }
}
