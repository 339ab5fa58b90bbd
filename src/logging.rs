//! Where log lines go: stderr (the default), the systemd journal, or syslog (facility mail). Chosen once at start
//! by `--log`; the level comes from `-v`/`-q`. Nothing here ever sees a secret: the modules that log keep them out
//! of their messages (design invariant 5).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::cli::LogTarget;
use crate::progress::Progress;

/// What `-v`/`-q` select, as `EnvFilter` directives: popfetch's own lines at INFO by default (which prints nothing
/// on a run without mail), DEBUG with `-v`, the protocol trace (TRACE) with `-vv`; other crates (rustls, tokio,
/// hyper, reqwest...) only warn, until `-vvv` lets everything through. `-q` keeps warnings and errors.
pub fn directives(verbose: u8, quiet: bool) -> &'static str {
    match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "warn,popfetch=info",
        (false, 1) => "warn,popfetch=debug",
        (false, 2) => "warn,popfetch=trace",
        (false, _) => "trace",
    }
}

/// The filter: `RUST_LOG`, when set and valid, wins over `-v`/`-q` (the usual Rust convention, for a developer
/// who wants one crate's internals); an invalid `RUST_LOG` is reported and ignored.
fn filter(verbose: u8, quiet: bool) -> (EnvFilter, Option<String>) {
    let fallback = || EnvFilter::new(directives(verbose, quiet));
    match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => match EnvFilter::try_new(&v) {
            Ok(f) => (f, None),
            Err(e) => (fallback(), Some(format!("RUST_LOG ignored: {e}"))),
        },
        _ => (fallback(), None),
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-v` count.
    pub verbose: u8,
    pub quiet: bool,
    /// Put an RFC 3339 timestamp (UTC) before each line on stderr, unless stderr is the journal (the daemon).
    pub timestamps: bool,
    /// Bars to keep log lines clear of (`popfetch run` on a terminal).
    pub progress: Progress,
}

/// Install the global subscriber. Returns the target actually used: journald falls back to stderr (with a
/// warning) when there is no journal socket, and syslog when there is no `/dev/log`, so a misplaced `--log` never
/// silences popfetch.
pub fn init(target: LogTarget, opts: &Options) -> LogTarget {
    let (filter, filter_warning) = filter(opts.verbose, opts.quiet);
    let used = match target {
        LogTarget::Stderr => {
            init_stderr(filter, opts);
            LogTarget::Stderr
        }
        LogTarget::Journald => match tracing_journald::layer() {
            Ok(layer) => {
                let layer = layer.with_syslog_identifier("popfetch".to_owned());
                tracing_subscriber::registry()
                    .with(layer.with_filter(filter))
                    .init();
                LogTarget::Journald
            }
            Err(e) => {
                init_stderr(filter, opts);
                tracing::warn!(
                    "--log journald: no journal socket ({e}); logging to stderr instead"
                );
                LogTarget::Stderr
            }
        },
        LogTarget::Syslog => {
            let socket = std::path::Path::new("/dev/log");
            let syslog = socket
                .exists()
                .then(|| {
                    syslog_tracing::Syslog::new(
                        c"popfetch",
                        syslog_tracing::Options::LOG_PID,
                        syslog_tracing::Facility::Mail,
                    )
                })
                .flatten();
            match syslog {
                Some(writer) => {
                    tracing_subscriber::fmt()
                        .with_writer(writer)
                        .with_ansi(false)
                        .with_env_filter(filter)
                        .without_time()
                        .with_target(false)
                        .with_level(false)
                        .init();
                    LogTarget::Syslog
                }
                None => {
                    init_stderr(filter, opts);
                    tracing::warn!("--log syslog: no /dev/log socket; logging to stderr instead");
                    LogTarget::Stderr
                }
            }
        }
    };
    if let Some(w) = filter_warning {
        tracing::warn!("{w}");
    }
    used
}

/// Lines on stderr, ANSI colours only on a terminal. Timestamps when asked for and stderr is not the journal
/// (which stamps each line itself); never for one-shot commands, whose output cron mails with a date of its own.
fn init_stderr(filter: EnvFilter, opts: &Options) {
    let builder = tracing_subscriber::fmt()
        .with_writer(opts.progress.writer())
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter)
        .with_target(false);
    if opts.timestamps && !stderr_is_journal() {
        // tracing-subscriber's default timer: RFC 3339 in UTC with microseconds, e.g. 2026-12-02T08:30:00.123456Z.
        builder.init();
    } else {
        builder.without_time().init();
    }
}

/// systemd.exec(5), `$JOURNAL_STREAM`: set to `DEVICE:INODE` (decimal) of the stream when stdout or stderr is
/// connected to the journal. Only a match with stderr's own numbers counts: the variable is inherited by children
/// whose stderr was redirected elsewhere.
fn stderr_is_journal() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Ok(var) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    let Ok(meta) = std::fs::File::from(fd).metadata() else {
        return false;
    };
    journal_stream_is(&var, meta.dev(), meta.ino())
}

/// `value` (a `$JOURNAL_STREAM`) names device `dev` and inode `ino`.
fn journal_stream_is(value: &str, dev: u64, ino: u64) -> bool {
    value
        .split_once(':')
        .and_then(|(d, i)| Some((d.parse::<u64>().ok()?, i.parse::<u64>().ok()?)))
        == Some((dev, ino))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_opens_popfetch_first_and_libraries_only_at_vvv() {
        assert_eq!(directives(0, false), "warn,popfetch=info");
        assert_eq!(directives(1, false), "warn,popfetch=debug");
        assert_eq!(directives(2, false), "warn,popfetch=trace");
        assert_eq!(directives(3, false), "trace");
        assert_eq!(directives(3, true), "warn");
        for v in 0..4 {
            assert!(EnvFilter::try_new(directives(v, false)).is_ok());
        }
    }

    #[test]
    fn journal_stream_must_name_this_device_and_inode() {
        assert!(journal_stream_is("8:12345", 8, 12345));
        assert!(!journal_stream_is("8:12345", 8, 12346));
        assert!(!journal_stream_is("9:12345", 8, 12345));
        for bad in ["", "8", "8:", ":1", "x:1", "8:12345:1", " 8:12345"] {
            assert!(!journal_stream_is(bad, 8, 12345), "{bad:?}");
        }
    }
}
