//! `popfetch daemon`: poll every account on its own schedule until stopped.
//!
//! - [`schedule`]: the pure scheduling core (due times, backoff, jitter), tested with virtual time.
//! - [`crate::state::daemon_lock`]: one daemon per state directory (beside the other state-directory files).
//! - [`notify`]: systemd readiness (`Type=notify`).
//! - this file: the driver. It owns the [`schedule::Scheduler`], spawns one task per due poll (at most
//!   [`DaemonOptions::max_concurrent`] at once, so a failing account never holds up the others: invariant 9), and
//!   reacts to [`Control`] messages, which the binary feeds from signals (see [`signals`]) and tests feed directly.
//!
//! # Stopping without losing or duplicating mail
//! A poll future is **never cancelled** on a normal stop: dropping it between the MTA's 2xx and the state fsync
//! would leave a delivered-but-unrecorded message (a duplicate on the next poll). Instead the stop fires the
//! pollers' [`Shutdown`]: each finishes the message in flight (RETR, DATA, the end-of-DATA reply, the fsync, DELE)
//! and then QUITs without starting another. The wait is bounded by [`DaemonOptions::stop_grace`]; past it, or on a
//! second stop request, the daemon exits at once with exactly the guarantees of `kill -9` (nothing lost; at most
//! the message in flight is delivered again, and the next run logs it).

pub mod notify;
pub mod schedule;
pub mod stop;

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::config::{self, Config};
use crate::error::ExitClass;
use crate::poller::{self, PollOptions, Report, Shutdown};
use crate::state::daemon_lock::DaemonLock;
use schedule::{Rng, Scheduler, Transition};

/// Default bound on the wait for in-flight polls at stop: the RFC 5321 §4.5.3.2.6 end-of-DATA reply timeout
/// (10 minutes, which the SMTP client honours) plus a minute for the state fsync, DELE and QUIT. With a healthy
/// local MTA a stop takes well under a second; the bound only matters when the MTA stalls after the final dot,
/// and waiting it out is what keeps that message from being delivered twice.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(11 * 60);

/// Default number of accounts polled at the same time.
pub const DEFAULT_MAX_CONCURRENT: usize = 4;

/// What the daemon is told to do (from signals in the binary, directly in tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// SIGUSR1: poll every account now (stopped ones included).
    PollNow,
    /// SIGHUP: re-read the configuration file.
    Reload,
    /// SIGTERM/SIGINT: finish the messages in flight and exit; a second one exits at once.
    Stop,
}

/// Options of `popfetch daemon`.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// Only these accounts (all when empty).
    pub accounts: Vec<String>,
    /// Bound on the wait for in-flight polls at stop.
    pub stop_grace: Duration,
    /// Accounts polled at the same time.
    pub max_concurrent: usize,
    /// Jitter seed; `None` takes one from the clock and pid.
    pub seed: Option<u64>,
}

impl Default for DaemonOptions {
    fn default() -> DaemonOptions {
        DaemonOptions {
            accounts: Vec::new(),
            stop_grace: DEFAULT_STOP_GRACE,
            max_concurrent: DEFAULT_MAX_CONCURRENT,
            seed: None,
        }
    }
}

/// A boxed poll of one account: the real one is [`poller::poll`]; tests may wrap it.
pub type PollFuture = Pin<Box<dyn Future<Output = Report> + Send>>;
/// How the daemon polls account number `usize` of a config.
pub type PollFn = Arc<dyn Fn(Arc<Config>, usize, PollOptions) -> PollFuture + Send + Sync>;

/// The real poll: [`poller::poll`].
pub fn real_poll() -> PollFn {
    Arc::new(|config: Arc<Config>, i: usize, opts: PollOptions| {
        Box::pin(async move { poller::poll(&config, &config.accounts[i], &opts).await })
    })
}

/// Run the daemon on the config file at `path` until a [`Control::Stop`] arrives (or `control` closes).
///
/// Returns [`ExitClass::Ok`] after a stop; [`ExitClass::Config`] when the file is invalid at start or names no
/// account of `--account`; [`ExitClass::TempFail`] when another daemon holds the lock (its pid is logged);
/// [`ExitClass::State`] when the lock cannot be created.
pub async fn run(
    path: &Path,
    opts: DaemonOptions,
    control: mpsc::UnboundedReceiver<Control>,
) -> ExitClass {
    run_with(path, opts, control, real_poll()).await
}

/// [`run`] with another poll function.
pub async fn run_with(
    path: &Path,
    opts: DaemonOptions,
    control: mpsc::UnboundedReceiver<Control>,
    poll: PollFn,
) -> ExitClass {
    let config = match load(path, &opts.accounts) {
        Ok(c) => c,
        Err(e) => {
            error!("{e}");
            return ExitClass::Config;
        }
    };
    let _lock = match DaemonLock::acquire(&config.state_dir) {
        Ok(l) => l,
        Err(e) => {
            error!("{}", poller::chain(&e));
            return e.class();
        }
    };
    let rng = opts.seed.map_or_else(Rng::from_entropy, Rng::new);
    let (stop_tx, shutdown) = Shutdown::new();
    let mut daemon = Daemon {
        path,
        opts,
        config: Arc::new(config),
        sched: Scheduler::new(rng),
        tasks: JoinSet::new(),
        task_names: HashMap::new(),
        shutdown,
        poll,
    };
    daemon.apply_accounts();
    info!(
        "daemon started: {} account(s) from {}, pid {}",
        daemon.config.accounts.len(),
        path.display(),
        std::process::id()
    );
    notify::ready();
    let control = daemon.serve(control).await;
    notify::stopping();
    let _ = stop_tx.send(true);
    daemon.drain(control).await;
    ExitClass::Ok
}

/// Load and check the config, including that every `--account` name exists.
fn load(path: &Path, only: &[String]) -> Result<Config, config::ConfigError> {
    let config = config::load(path)?;
    config.check_names(path, only)?;
    Ok(config)
}

struct Daemon<'a> {
    path: &'a Path,
    opts: DaemonOptions,
    config: Arc<Config>,
    sched: Scheduler,
    tasks: JoinSet<Report>,
    /// Account of each running task, to name it if the task panics.
    task_names: HashMap<tokio::task::Id, String>,
    shutdown: Shutdown,
    poll: PollFn,
}

impl Daemon<'_> {
    /// The accounts this daemon polls, with their intervals.
    fn selected(&self) -> Vec<(String, Duration)> {
        self.config
            .accounts
            .iter()
            .filter(|a| self.opts.accounts.is_empty() || self.opts.accounts.contains(&a.name))
            .map(|a| (a.name.clone(), a.interval))
            .collect()
    }

    fn apply_accounts(&mut self) {
        let selected = self.selected();
        for name in self.sched.set_accounts(&selected, Instant::now()) {
            info!(
                "account {name:?}: removed from the configuration; {}",
                if self.sched.is_busy(&name) {
                    "its poll in progress finishes first"
                } else {
                    "no longer polled"
                }
            );
        }
    }

    /// Until a stop: start due polls, collect results, obey control messages.
    async fn serve(
        &mut self,
        mut control: mpsc::UnboundedReceiver<Control>,
    ) -> mpsc::UnboundedReceiver<Control> {
        let mut watchdog = Watchdog::from_env();
        loop {
            self.start_due();
            let max = self.opts.max_concurrent.max(1);
            // At capacity the timer is ignored: due accounts start when a running poll ends.
            let wakeup = (self.sched.busy_count() < max)
                .then(|| self.sched.next_wakeup())
                .flatten();
            tokio::select! {
                () = sleep_until(wakeup) => {}
                () = watchdog.tick() => {}
                Some(done) = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => self.finished(done),
                cmd = control.recv() => match cmd {
                    Some(Control::PollNow) => {
                        info!("wake-up: polling every account now");
                        self.sched.wake_all(Instant::now());
                    }
                    Some(Control::Reload) => self.reload(),
                    Some(Control::Stop) | None => {
                        stop::log_stopping(Some(self.tasks.len()), self.opts.stop_grace);
                        return control;
                    }
                },
            }
        }
    }

    fn start_due(&mut self) {
        let max = self.opts.max_concurrent.max(1);
        for name in self.sched.due(Instant::now()) {
            if self.sched.busy_count() >= max {
                break;
            }
            let Some(i) = self.config.accounts.iter().position(|a| a.name == name) else {
                continue;
            };
            self.sched.start(&name);
            debug!("account {name:?}: polling");
            let opts = PollOptions {
                shutdown: self.shutdown.clone(),
                ..Default::default()
            };
            let handle = self.tasks.spawn((self.poll)(self.config.clone(), i, opts));
            self.task_names.insert(handle.id(), name);
        }
    }

    fn finished(&mut self, done: Result<(tokio::task::Id, Report), tokio::task::JoinError>) {
        let report = match done {
            Ok((id, report)) => {
                self.task_names.remove(&id);
                report
            }
            Err(e) => {
                let name = self.task_names.remove(&e.id()).unwrap_or_default();
                error!("account {name:?}: internal error: the poll task failed: {e}");
                Report {
                    class: ExitClass::Internal,
                    message: format!("internal error: the poll task failed: {e}"),
                    ..Report::new(&name)
                }
            }
        };
        let (name, class) = (report.account.clone(), report.class);
        let secs = |d: Duration| d.as_secs();
        let transition = self.sched.on_result(&name, class, Instant::now());
        self.record_status(&report, &transition);
        match transition {
            Transition::Steady { next_in } => {
                debug!("account {name:?}: next poll in {} s", secs(next_in))
            }
            Transition::Recovered { failures, next_in } => info!(
                "account {name:?}: recovered after {failures} failed poll(s); next poll in {} s",
                secs(next_in)
            ),
            Transition::Backoff { failures, next_in } => {
                let cap = schedule::BACKOFF_CAP.as_secs();
                // One line per change: the growing delays, then silence at the cap.
                if next_in.as_secs() < cap * 9 / 10 || failures == 1 {
                    warn!(
                        "account {name:?}: temporary failure #{failures} ({}); retrying in {} s",
                        class.name(),
                        secs(next_in)
                    );
                } else {
                    debug!(
                        "account {name:?}: temporary failure #{failures}; retrying in {} s",
                        secs(next_in)
                    );
                }
            }
            Transition::Stopped {
                class,
                first,
                next_in,
            } => {
                if first {
                    error!(
                        "account {name:?}: stopped: this failure ({}, exit {}) needs attention; retried every hour \
                         (next in {} s), or now on SIGUSR1 or after a reload (SIGHUP)",
                        class.name(),
                        class.code(),
                        secs(next_in)
                    );
                } else {
                    warn!(
                        "account {name:?}: still failing ({}); next attempt in {} s",
                        class.name(),
                        secs(next_in)
                    );
                }
            }
            Transition::Gone => debug!("account {name:?}: poll of a removed account ended"),
        }
    }

    /// The status file (and metrics) after a poll, with the schedule the scheduler just made.
    fn record_status(&self, report: &Report, transition: &Transition) {
        let (next_in, stopped) = match transition {
            Transition::Steady { next_in }
            | Transition::Recovered { next_in, .. }
            | Transition::Backoff { next_in, .. } => (*next_in, false),
            Transition::Stopped { next_in, .. } => (*next_in, true),
            Transition::Gone => return,
        };
        let now = crate::status::now();
        let schedule = crate::status::Schedule {
            next_poll: now + next_in.as_secs(),
            stopped,
        };
        crate::status::record_at(&self.config, report, Some(schedule), now);
    }

    /// SIGHUP: a valid file replaces the config between polls (a poll in flight keeps the snapshot it started
    /// with); an invalid one is logged with its line, column and key, and the old config keeps running
    /// (catalog D-03).
    fn reload(&mut self) {
        notify::reloading();
        match load(self.path, &self.opts.accounts) {
            Err(e) => {
                error!("configuration reload failed, keeping the previous configuration: {e}")
            }
            Ok(c) if c.state_dir != self.config.state_dir => error!(
                "configuration reload refused, keeping the previous configuration: state_dir changed from {} to {}; \
                 restart the daemon to move it",
                self.config.state_dir.display(),
                c.state_dir.display()
            ),
            Ok(c) => {
                self.config = Arc::new(c);
                self.apply_accounts();
                info!(
                    "configuration reloaded: {} account(s)",
                    self.config.accounts.len()
                );
            }
        }
        notify::ready();
    }

    /// After a stop: wait for the polls in flight, at most `stop_grace`; a second stop exits at once.
    async fn drain(&mut self, mut control: mpsc::UnboundedReceiver<Control>) {
        let grace = self.opts.stop_grace;
        let cut = stop::second_stop_or_grace(&mut control, grace);
        tokio::pin!(cut);
        // systemd keeps the watchdog armed while the service stops; the wait may be minutes long.
        let mut watchdog = Watchdog::from_env();
        while !self.tasks.is_empty() {
            tokio::select! {
                () = watchdog.tick() => {}
                Some(done) = self.tasks.join_next_with_id() => self.finished(done),
                c = &mut cut => {
                    stop::log_cut(c, grace, Some(self.tasks.len()));
                    return;
                }
            }
        }
        info!("stopped");
    }
}

/// systemd's watchdog, pinged from the loop it watches: when that loop hangs, the pings stop.
struct Watchdog(Option<tokio::time::Interval>);

impl Watchdog {
    fn from_env() -> Watchdog {
        Watchdog(notify::watchdog_interval().map(|every| {
            let mut i = tokio::time::interval(every);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        }))
    }

    /// Resolves at the next ping time, having sent the ping; never without a watchdog.
    async fn tick(&mut self) {
        match &mut self.0 {
            Some(i) => {
                i.tick().await;
                notify::watchdog();
            }
            None => std::future::pending().await,
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Install the daemon's signal handlers and forward them as [`Control`] messages: SIGUSR1 → poll now, SIGHUP →
/// reload, SIGTERM and SIGINT → stop. Call it before anything else in the daemon, so that a signal sent right
/// after start is never met by its default action (which for SIGUSR1 and SIGHUP is to terminate).
///
/// # Errors
/// When a handler cannot be installed (no runtime, or the OS refuses).
pub fn signals() -> std::io::Result<mpsc::UnboundedReceiver<Control>> {
    use tokio::signal::unix::SignalKind;
    stop::forward(&[
        (SignalKind::terminate(), Control::Stop),
        (SignalKind::interrupt(), Control::Stop),
        (SignalKind::hangup(), Control::Reload),
        (SignalKind::user_defined1(), Control::PollNow),
    ])
}
