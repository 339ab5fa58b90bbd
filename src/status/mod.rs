//! Seeing whether popfetch works without reading logs: a status file per account, `popfetch status`, and the
//! Prometheus metrics file.
//!
//! - [`file`](mod@file): the status file's content and the pure update from a poll's outcome
//!   ([`crate::poller::Report`]).
//! - [`health`]: whether an account needs attention (exit code of `popfetch status`), clock passed in.
//! - [`render`]: the text and JSON of `popfetch status`.
//! - [`metrics`]: the Prometheus text format.
//! - this file: the one hook the poller's callers use ([`record`]: `run` after each poll, the daemon after each
//!   poll with its schedule) and the reader behind `popfetch status` ([`overview`]).
//!
//! Status files live in `state_dir` as `NAME.status` (`0600`), are replaced atomically and are read without any
//! lock, so `popfetch status` works while the daemon or a run holds the accounts. Nothing here can stop mail
//! delivery: a write that fails is a warning.

mod atomic;
pub mod file;
pub mod health;
pub mod metrics;
pub mod render;

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::warn;

use crate::config::Config;
use crate::poller::Report;
pub use file::{AccountStatus, Schedule, WaitReason, Waiting};
pub use health::Health;

/// A status file is a few KiB; anything much larger is not ours.
const MAX_STATUS_BYTES: u64 = 1024 * 1024;

/// Reading a status file failed.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("cannot read {path}", path = path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is larger than {MAX_STATUS_BYTES} bytes", path = path.display())]
    TooLarge { path: PathBuf },
    #[error("{path} is not a popfetch status file", path = path.display())]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path} has format version {version}, this popfetch reads version {}", file::VERSION, path = path.display())]
    Version { path: PathBuf, version: u32 },
}

/// Serialises this process's status and metrics writes: concurrent polls of a run or the daemon would otherwise
/// race on the metrics file (each rendering from the status files it saw).
static WRITES: Mutex<()> = Mutex::new(());

/// The status file of `account` in `state_dir`.
pub fn path(state_dir: &Path, account: &str) -> PathBuf {
    state_dir.join(format!("{account}.status"))
}

/// Seconds since the epoch (0 for a clock before 1970).
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Read the status file of `account`; `Ok(None)` when there is none.
///
/// # Errors
/// [`StatusError`] when it cannot be read or parsed.
pub fn read(state_dir: &Path, account: &str) -> Result<Option<AccountStatus>, StatusError> {
    let path = path(state_dir, account);
    let io_err = |source| StatusError::Io {
        path: path.clone(),
        source,
    };
    let file = match fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(e)),
    };
    let mut text = Vec::new();
    file.take(MAX_STATUS_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(io_err)?;
    if text.len() as u64 > MAX_STATUS_BYTES {
        return Err(StatusError::TooLarge { path });
    }
    // The version first, so a newer file is named as such rather than as garbage.
    #[derive(serde::Deserialize)]
    struct Versioned {
        version: u32,
    }
    let version = serde_json::from_slice::<Versioned>(&text)
        .map_err(|source| StatusError::Corrupt {
            path: path.clone(),
            source,
        })?
        .version;
    if version != file::VERSION {
        return Err(StatusError::Version { path, version });
    }
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|source| StatusError::Corrupt { path, source })
}

/// After a poll: update the account's status file and, when `metrics_file` is set, rewrite the metrics of every
/// configured account. `schedule` is the daemon's plan (`None` from `popfetch run`). A poll that never ran (the
/// account's lock was held by another popfetch, which records its own poll) changes nothing.
pub fn record(config: &Config, report: &Report, schedule: Option<Schedule>) {
    record_at(config, report, schedule, now());
}

/// [`record`] at a given time (unix seconds).
pub fn record_at(config: &Config, report: &Report, schedule: Option<Schedule>, now: u64) {
    if report.lock_held {
        return;
    }
    let _guard = WRITES.lock().unwrap_or_else(|e| e.into_inner());
    let dir = &config.state_dir;
    let prev = read(dir, &report.account).unwrap_or_else(|e| {
        warn!(
            "account {:?}: {}; starting it afresh",
            report.account,
            crate::error::chain(&e)
        );
        None
    });
    let next = file::update(prev, report, schedule, now);
    let written = serde_json::to_vec_pretty(&next)
        .map_err(io::Error::other)
        .and_then(|mut text| {
            text.push(b'\n');
            ensure_dir(dir)?;
            atomic::write(&path(dir, &report.account), &text, 0o600)
        });
    if let Err(e) = written {
        warn!(
            "account {:?}: cannot write the status file {}: {e}",
            report.account,
            path(dir, &report.account).display()
        );
    }
    if let Some(metrics_file) = &config.metrics_file {
        let statuses: Vec<AccountStatus> = config
            .accounts
            .iter()
            .filter_map(|a| read(dir, &a.name).ok().flatten())
            .collect();
        let text = metrics::render(&statuses.iter().collect::<Vec<_>>());
        // 0644: node_exporter runs as another user.
        if let Err(e) = atomic::write(metrics_file, text.as_bytes(), 0o644) {
            warn!(
                "cannot write the metrics file {}: {e}",
                metrics_file.display()
            );
        }
    }
}

/// The state directory as the state module creates it (`0700`), for a poll that failed before opening its state.
fn ensure_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// One account as `popfetch status` shows it.
#[derive(Debug)]
pub struct Entry {
    pub account: String,
    pub stale_after: Duration,
    pub status: Result<Option<AccountStatus>, String>,
    pub health: Health,
}

/// Every configured account's status and health at `now` (unix seconds), in config order.
pub fn overview(config: &Config, now: u64) -> Vec<Entry> {
    config
        .accounts
        .iter()
        .map(|a| {
            let stale_after = config
                .stale_after
                .unwrap_or_else(|| health::default_stale_after(a.interval));
            let status = read(&config.state_dir, &a.name).map_err(|e| crate::error::chain(&e));
            let health = health::assess(
                status.as_ref().map(Option::as_ref).map_err(String::as_str),
                stale_after,
                now,
            );
            Entry {
                account: a.name.clone(),
                stale_after,
                status,
                health,
            }
        })
        .collect()
}
