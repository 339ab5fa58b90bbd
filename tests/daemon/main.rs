//! Tests of `popfetch daemon` (issue 4, catalog D-xx):
//! - `schedule`: the pure scheduler (due times, jitter bounds, backoff, recovery, stopped accounts).
//! - `driver`: the daemon core in-process on tokio's paused clock, with a scripted poll function (backoff timing
//!   end to end) and with the real poller against the fakes through 30 virtual minutes of flapping faults.
//! - `process`: the real binary receiving real signals (SIGUSR1, SIGHUP good/bad, SIGTERM idle and mid-DATA,
//!   the single-instance lock, sd_notify).
//! - `catalog`: the real binary against the remaining daemon cases of the catalog (D-01..D-03, D-06, D-09, D-11, T-07, T-25).
//! - `clock`: the real binary under libfaketime, its wall clock jumping while idle and mid-poll (D-05).

#[path = "../support/mod.rs"]
mod support;

mod catalog;
mod clock;
mod driver;
mod process;
mod schedule;
mod status;

/// A test message whose Subject names it, so deliveries can be counted per message.
pub fn mail(tag: &str) -> Vec<u8> {
    format!(
        "Return-Path: <sender@remote.test>\r\nFrom: sender@remote.test\r\nTo: alice@local.test\r\n\
         Subject: {tag}\r\n\r\nbody of {tag}\r\n"
    )
    .into_bytes()
}

/// Subjects of the messages the fake MTA accepted (2xx to end-of-DATA), in order.
pub fn accepted_subjects(smtp: &support::FakeSmtp) -> Vec<String> {
    smtp.delivered()
        .iter()
        .map(|d| {
            String::from_utf8_lossy(&d.data)
                .lines()
                .find_map(|l| l.strip_prefix("Subject: ").map(str::to_owned))
                .unwrap_or_default()
        })
        .collect()
}
