//! What `popfetch status` prints: an aligned table for people (one account a line, the problem in words) or JSON
//! for scripts. Pure: the entries and the clock come in, text goes out.

use serde_json::json;

use super::Entry;
use super::file::{AccountStatus, WaitReason};
use super::health::{Health, human_duration};

/// The table: a header line, then one line per account.
pub fn text(entries: &[Entry], now: u64) -> String {
    let header = [
        "ACCOUNT",
        "HEALTH",
        "LAST POLL",
        "RESULT",
        "LAST SUCCESS",
        "FAILURES",
        "NEXT POLL",
        "NEW",
        "DELIVERED 24H",
        "TOTAL",
        "NOTE",
    ]
    .map(str::to_owned);
    let mut rows = vec![header.to_vec()];
    for e in entries {
        rows.push(row(e, now));
    }
    let columns = rows[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == columns {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(widths[c] - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Only the accounts that need attention, one line each (`status -q`, for a monitoring check's message).
pub fn problems(entries: &[Entry]) -> String {
    entries
        .iter()
        .filter_map(|e| match &e.health {
            Health::Attention(why) => Some(format!("account {:?}: {why}\n", e.account)),
            Health::Healthy => None,
        })
        .collect()
}

fn row(e: &Entry, now: u64) -> Vec<String> {
    let ago = |t: u64| format!("{} ago", human_duration(now.saturating_sub(t)));
    let (health, problem) = match &e.health {
        Health::Healthy => ("ok".to_owned(), None),
        Health::Attention(why) => ("ATTENTION".to_owned(), Some(why.clone())),
    };
    let s = match &e.status {
        Ok(Some(s)) => s,
        Ok(None) | Err(_) => {
            let mut r = vec![e.account.clone(), health];
            r.extend(std::iter::repeat_n("-".to_owned(), 8));
            r.push(problem.unwrap_or_default());
            return r;
        }
    };
    let (recent, recent_bytes) = s.recent_delivered(now);
    let next = match s.schedule {
        None => "-".to_owned(),
        Some(p) if p.stopped => format!("stopped, retry {}", when(p.next_poll, now)),
        Some(p) => when(p.next_poll, now),
    };
    vec![
        e.account.clone(),
        health,
        ago(s.last_poll.at),
        format!("{} ({})", s.last_poll.result, s.last_poll.exit_code),
        s.last_success.map_or_else(|| "never".to_owned(), ago),
        s.consecutive_failures.to_string(),
        next,
        s.server_new.to_string(),
        format!("{recent} ({})", bytes(recent_bytes)),
        format!("{} ({})", s.totals.delivered, bytes(s.totals.bytes)),
        problem.unwrap_or_else(|| note(s, now)),
    ]
}

/// `in 4m 10s`, or `due` once the time has come.
fn when(t: u64, now: u64) -> String {
    if t <= now {
        "due".to_owned()
    } else {
        format!("in {}", human_duration(t - now))
    }
}

/// For a healthy account: what waits on the server, else the last poll's message.
fn note(s: &AccountStatus, now: u64) -> String {
    let waiting = |wanted: fn(&WaitReason) -> bool| -> Vec<&str> {
        s.waiting
            .iter()
            .filter(|w| wanted(&w.reason))
            .map(|w| w.uid.as_str())
            .collect()
    };
    // The longest a message has been held back, when the status file dates it (files older than `since` do not).
    let held = match s.oldest_held() {
        Some(since) => format!(
            "held back for the sender for {}, tried again each poll",
            human_duration(now.saturating_sub(since))
        ),
        None => "held back for the sender, tried again each poll".to_owned(),
    };
    let groups: [(Vec<&str>, &str, &str); 3] = [
        (
            waiting(|r| matches!(r, WaitReason::Rejected { .. })),
            "rejected by the MTA, waiting",
            "popfetch run --retry-rejected tries again",
        ),
        (
            waiting(|r| matches!(r, WaitReason::TooBig { .. })),
            "too big, waiting",
            "raise max_message_size or the MTA's limit",
        ),
        (
            waiting(|r| matches!(r, WaitReason::Deferred { .. })),
            &held,
            "the MTA refuses the sender for now: see the log",
        ),
    ];
    let parts: Vec<String> = groups
        .iter()
        .filter(|(list, ..)| !list.is_empty())
        .map(|(list, what, hint)| format!("{} {what} ({}; {hint})", list.len(), uids(list)))
        .collect();
    if parts.is_empty() {
        s.last_poll.message.clone()
    } else {
        parts.join("; ")
    }
}

/// At most three UIDs, then a count.
fn uids(list: &[&str]) -> String {
    let shown: Vec<String> = list.iter().take(3).map(|u| format!("{u:?}")).collect();
    match list.len() {
        n if n > 3 => format!("{} and {} more", shown.join(", "), n - 3),
        _ => shown.join(", "),
    }
}

/// `512 B`, `12.0 KiB`, `3.4 MiB`, `1.2 GiB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// The JSON document of `status --json`: `healthy` overall, `now`, and per account its health, problem, the
/// `stale_after` in force, the status file's content (`null` when there is none) and the 24-hour counts.
pub fn json(entries: &[Entry], now: u64) -> String {
    let accounts: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            let (healthy, problem) = match &e.health {
                Health::Healthy => (true, None),
                Health::Attention(why) => (false, Some(why.clone())),
            };
            let (status, error) = match &e.status {
                Ok(s) => (s.as_ref(), None),
                Err(why) => (None, Some(why.clone())),
            };
            let (messages, bytes) = status.map_or((0, 0), |s| s.recent_delivered(now));
            json!({
                "account": e.account,
                "healthy": healthy,
                "problem": problem,
                "stale_after": e.stale_after.as_secs(),
                "error": error,
                "delivered_24h": { "messages": messages, "bytes": bytes },
                "status": status,
            })
        })
        .collect();
    let doc = json!({
        "healthy": entries.iter().all(|e| e.health == Health::Healthy),
        "now": now,
        "accounts": accounts,
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(5 * 1024 * 1024), "5.0 MiB");
    }

    #[test]
    fn uid_lists_are_bounded() {
        assert_eq!(uids(&["a", "b"]), r#""a", "b""#);
        assert_eq!(
            uids(&["a", "b", "c", "d", "e"]),
            r#""a", "b", "c" and 2 more"#
        );
    }
}
