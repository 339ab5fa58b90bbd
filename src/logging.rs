//! Where log lines go: stderr (the default), the systemd journal, or syslog (facility mail). Chosen once at start
//! by `--log`; the level comes from `-v`/`-q`. Nothing here ever sees a secret: the modules that log keep them out
//! of their messages (design invariant 5).

use std::io::IsTerminal;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::cli::LogTarget;

/// The level for `-v` (repeat count) and `-q`: INFO by default, which prints nothing on a run without mail; `-q`
/// keeps warnings and errors; `-v` adds debug lines, `-vv` the protocol trace.
pub fn level(verbose: u8, quiet: bool) -> LevelFilter {
    match (quiet, verbose) {
        (true, _) => LevelFilter::WARN,
        (false, 0) => LevelFilter::INFO,
        (false, 1) => LevelFilter::DEBUG,
        (false, _) => LevelFilter::TRACE,
    }
}

/// Install the global subscriber. Returns the target actually used: journald falls back to stderr (with a
/// warning) when there is no journal socket, and syslog when there is no `/dev/log`, so a misplaced `--log` never
/// silences popfetch.
pub fn init(target: LogTarget, verbose: u8, quiet: bool) -> LogTarget {
    let level = level(verbose, quiet);
    match target {
        LogTarget::Stderr => {}
        LogTarget::Journald => match tracing_journald::layer() {
            Ok(layer) => {
                let layer = layer.with_syslog_identifier("popfetch".to_owned());
                tracing_subscriber::registry()
                    .with(layer.with_filter(level))
                    .init();
                return LogTarget::Journald;
            }
            Err(e) => {
                init_stderr(level);
                tracing::warn!(
                    "--log journald: no journal socket ({e}); logging to stderr instead"
                );
                return LogTarget::Stderr;
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
                        .with_max_level(level)
                        .without_time()
                        .with_target(false)
                        .with_level(false)
                        .init();
                    return LogTarget::Syslog;
                }
                None => {
                    init_stderr(level);
                    tracing::warn!("--log syslog: no /dev/log socket; logging to stderr instead");
                    return LogTarget::Stderr;
                }
            }
        }
    }
    init_stderr(level);
    LogTarget::Stderr
}

/// Lines on stderr without timestamps (cron and journald add their own), without ANSI colours unless stderr is a
/// terminal.
fn init_stderr(level: LevelFilter) {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_max_level(level)
        .without_time()
        .with_target(false)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_verbose_and_quiet() {
        assert_eq!(level(0, false), LevelFilter::INFO);
        assert_eq!(level(1, false), LevelFilter::DEBUG);
        assert_eq!(level(2, false), LevelFilter::TRACE);
        assert_eq!(level(3, true), LevelFilter::WARN);
    }
}
