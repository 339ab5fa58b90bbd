//! The daemon's schedule as pure code: when each account is due, how a poll's outcome moves that, and the jitter.
//! No clock is read and no task is spawned here; the driver in [`super`] passes `now` in, so every rule below is
//! tested with virtual time.
//!
//! # Policy (also in `man 1 popfetch`, DAEMON MODE)
//! - First poll of an account: as soon as it is known (daemon start, or a reload that adds it).
//! - Success (exit classes 0 and 1): next poll after `interval`.
//! - Temporary failure ([`ExitClass::is_transient`], plus 70): exponential backoff, `interval × 2^(k-1)` after the
//!   k-th consecutive failure, capped at [`BACKOFF_CAP`] (or `interval` if that is longer). The first success ends
//!   it. This bounds both the load on a struggling server and the log lines of a long outage.
//! - A failure that needs a human (74 state, 77 authentication/security, 78 configuration): the account is
//!   *stopped*: retried only once per [`STOPPED_RETRY`] (a fixed password file or a renewed certificate is then
//!   picked up without a restart, at a rate no ISP's lockout counts as an attack), or at once on SIGUSR1 or SIGHUP.
//! - Every delay is jittered by ±[`JITTER_PERCENT`] % so that accounts (and daemons on many hosts) drift apart.
//! - Time is the monotonic clock ([`Instant`]): wall-clock jumps move nothing (catalog D-05).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::ExitClass;

/// Longest backoff delay for temporary failures (unless the account's own interval is longer).
pub const BACKOFF_CAP: Duration = Duration::from_secs(3600);
/// How often an account stopped by a failure that needs a human is tried again.
pub const STOPPED_RETRY: Duration = Duration::from_secs(3600);
/// Delays are spread uniformly over ±this percentage.
pub const JITTER_PERCENT: u64 = 10;

/// A small deterministic pseudo-random generator (SplitMix64): jitter needs spread, not secrecy, and a seed makes
/// schedules reproducible in tests.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A seed that differs between processes and starts: the wall clock's nanoseconds mixed with the pid.
    pub fn from_entropy() -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Rng(nanos ^ (u64::from(std::process::id()) << 32))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `d` scaled by a uniform factor in [1 - J, 1 + J], J = [`JITTER_PERCENT`] %, to the millisecond.
    pub fn jitter(&mut self, d: Duration) -> Duration {
        let ms = d.as_millis().min(u128::from(u64::MAX / 4)) as u64;
        let spread = ms * JITTER_PERCENT / 100;
        if spread == 0 {
            return d;
        }
        let offset = self.next_u64() % (2 * spread + 1);
        Duration::from_millis(ms - spread + offset)
    }
}

/// How an account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Last poll fine (or none yet).
    Healthy,
    /// `failures` consecutive temporary failures.
    BackingOff { failures: u32 },
    /// Stopped by a failure that needs a human; retried every [`STOPPED_RETRY`].
    Stopped { class: ExitClass },
}

/// What a poll's outcome changed, for the driver's log line: one line per change of state, not per poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Still healthy; next poll after `next_in`.
    Steady { next_in: Duration },
    /// A temporary failure; the `failures`-th in a row.
    Backoff { failures: u32, next_in: Duration },
    /// Healthy again after `failures` failed polls (temporary ones or a stop).
    Recovered { failures: u32, next_in: Duration },
    /// Stopped by a failure that needs a human; `first` is false when it was stopped already (an hourly retry
    /// that failed again).
    Stopped {
        class: ExitClass,
        first: bool,
        next_in: Duration,
    },
    /// The account is no longer configured; the outcome is dropped.
    Gone,
}

#[derive(Debug, Clone)]
struct Entry {
    interval: Duration,
    next_due: Instant,
    health: Health,
    /// Consecutive failed polls of any kind (for the recovery line).
    failed_polls: u32,
}

/// Per-account due times and backoff state.
#[derive(Debug, Clone)]
pub struct Scheduler {
    entries: BTreeMap<String, Entry>,
    /// Accounts with a poll in flight; kept apart from `entries` so that a poll of an account removed by a reload
    /// is still known to be running (no second poll of a re-added name can start beside it).
    busy: BTreeSet<String>,
    /// Busy accounts a wake-up arrived for: polled again as soon as their current poll ends, since it may have
    /// listed the mailbox before the mail the wake-up is about arrived.
    woken: BTreeSet<String>,
    rng: Rng,
}

impl Scheduler {
    pub fn new(rng: Rng) -> Scheduler {
        Scheduler {
            entries: BTreeMap::new(),
            busy: BTreeSet::new(),
            woken: BTreeSet::new(),
            rng,
        }
    }

    /// Make the configured accounts exactly `accounts` (name, interval). New accounts are due at once; removed
    /// ones are forgotten (a poll in flight finishes, its outcome is dropped) and returned; stopped accounts are
    /// due at once (a reload is how a human says "fixed"); an account whose interval shrank is due no later than
    /// `now + new interval`.
    pub fn set_accounts(&mut self, accounts: &[(String, Duration)], now: Instant) -> Vec<String> {
        let removed: Vec<String> = self
            .entries
            .keys()
            .filter(|k| !accounts.iter().any(|(n, _)| n == *k))
            .cloned()
            .collect();
        for name in &removed {
            self.entries.remove(name);
        }
        for (name, interval) in accounts {
            match self.entries.get_mut(name) {
                Some(e) => {
                    if let Health::Stopped { .. } = e.health {
                        e.next_due = now;
                    } else if *interval < e.interval {
                        e.next_due = e.next_due.min(now + *interval);
                    }
                    e.interval = *interval;
                }
                None => {
                    self.entries.insert(
                        name.clone(),
                        Entry {
                            interval: *interval,
                            next_due: now,
                            health: Health::Healthy,
                            failed_polls: 0,
                        },
                    );
                }
            }
        }
        removed
    }

    /// SIGUSR1: every account is due now, stopped ones included (catalog D-04); one polling right now is polled
    /// again as soon as that poll ends.
    pub fn wake_all(&mut self, now: Instant) {
        for (name, e) in self.entries.iter_mut() {
            e.next_due = now;
            if self.busy.contains(name) {
                self.woken.insert(name.clone());
            }
        }
    }

    /// Accounts due at `now` and not busy, most overdue first.
    pub fn due(&self, now: Instant) -> Vec<String> {
        let mut due: Vec<(&Instant, &String)> = self
            .entries
            .iter()
            .filter(|(n, e)| e.next_due <= now && !self.busy.contains(*n))
            .map(|(n, e)| (&e.next_due, n))
            .collect();
        due.sort();
        due.into_iter().map(|(_, n)| n.clone()).collect()
    }

    /// A poll of `name` starts.
    pub fn start(&mut self, name: &str) {
        self.busy.insert(name.to_owned());
    }

    pub fn is_busy(&self, name: &str) -> bool {
        self.busy.contains(name)
    }

    pub fn busy_count(&self) -> usize {
        self.busy.len()
    }

    /// The earliest due time of an account that is not busy.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.entries
            .iter()
            .filter(|(n, _)| !self.busy.contains(*n))
            .map(|(_, e)| e.next_due)
            .min()
    }

    pub fn health(&self, name: &str) -> Option<Health> {
        self.entries.get(name).map(|e| e.health)
    }

    pub fn next_due(&self, name: &str) -> Option<Instant> {
        self.entries.get(name).map(|e| e.next_due)
    }

    pub fn accounts(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// The poll of `name` ended with `class` at `now`: schedule the next one.
    pub fn on_result(&mut self, name: &str, class: ExitClass, now: Instant) -> Transition {
        self.busy.remove(name);
        let woken = self.woken.remove(name);
        let t = self.schedule_after(name, class, now);
        if woken && let Some(e) = self.entries.get_mut(name) {
            e.next_due = now;
        }
        t
    }

    fn schedule_after(&mut self, name: &str, class: ExitClass, now: Instant) -> Transition {
        let Some(e) = self.entries.get_mut(name) else {
            return Transition::Gone;
        };
        if class.needs_human() {
            let first = !matches!(e.health, Health::Stopped { class: c } if c == class);
            e.health = Health::Stopped { class };
            e.failed_polls = e.failed_polls.saturating_add(1);
            let next_in = self.rng.jitter(STOPPED_RETRY);
            e.next_due = now + next_in;
            return Transition::Stopped {
                class,
                first,
                next_in,
            };
        }
        // 70 (a bug) is retried like an outage: it may depend on what the server sent this time.
        if class.is_transient() || class == ExitClass::Internal {
            let failures = match e.health {
                Health::BackingOff { failures } => failures.saturating_add(1),
                _ => 1,
            };
            e.health = Health::BackingOff { failures };
            e.failed_polls = e.failed_polls.saturating_add(1);
            let next_in = self.rng.jitter(backoff_delay(e.interval, failures));
            e.next_due = now + next_in;
            return Transition::Backoff { failures, next_in };
        }
        let failed = std::mem::take(&mut e.failed_polls);
        e.health = Health::Healthy;
        let next_in = self.rng.jitter(e.interval);
        e.next_due = now + next_in;
        if failed > 0 {
            Transition::Recovered {
                failures: failed,
                next_in,
            }
        } else {
            Transition::Steady { next_in }
        }
    }
}

/// The delay after the `failures`-th consecutive temporary failure (before jitter): `interval × 2^(failures-1)`,
/// at most `max(BACKOFF_CAP, interval)`.
pub fn backoff_delay(interval: Duration, failures: u32) -> Duration {
    let cap = BACKOFF_CAP.max(interval);
    let shift = failures.saturating_sub(1).min(20);
    interval.saturating_mul(1 << shift).min(cap)
}
