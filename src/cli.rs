//! The command line, as clap derive types and nothing else: no I/O happens here. The doc comments are the
//! `--help` text and, through clap_mangen, the generated part of `man/popfetch.1` (kept in step by
//! `tests/man_pages.rs`).

use std::path::PathBuf;

/// popfetch's command line.
#[derive(clap::Parser, Debug)]
#[command(
    name = "popfetch",
    version,
    about = "Fetch mail from POP3 accounts and reinject it into the local MTA over SMTP",
    long_about = "Fetch mail from POP3 accounts and reinject it, byte-exact, into the local MTA over SMTP.\n\
\n\
Each configured account is polled in turn: new messages are downloaded, their Delivered-To fields are \
filtered and a Received field is prepended, and each is handed to the MTA. A message is deleted from the \
server only after the MTA accepted it and its UID was recorded on disk.\n\
\n\
Without a command, popfetch runs `run`."
)]
pub struct Cli {
    /// Configuration file (default: the first that exists of $XDG_CONFIG_HOME/popfetch/config.toml, where an unset
    /// XDG_CONFIG_HOME means ~/.config, and /etc/popfetch/config.toml; also taken from the POPFETCH_CONFIG
    /// environment variable)
    #[arg(
        short,
        long,
        global = true,
        env = "POPFETCH_CONFIG",
        value_name = "PATH"
    )]
    pub config: Option<PathBuf>,

    /// Log more: once for debug messages, twice for protocol traces, three times for the libraries' internals
    /// too (TLS, async runtime, HTTP); RUST_LOG, when set, overrides the level (passwords are never logged)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Log only warnings and errors
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// What to do (default: run)
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Poll every account once and exit (the default; for cron)
    Run(RunArgs),
    /// Poll each account on its own interval until stopped (SIGTERM); SIGUSR1 polls now, SIGHUP reloads
    Daemon(DaemonArgs),
    /// Validate the configuration and what it names (password and CA files, password_command, state_dir) and
    /// exit; with --connect, also try each account's server and the MTA without changing anything
    Check(CheckArgs),
    /// Run the header pipeline on a local message offline and print the result
    Filter(FilterArgs),
    /// Authorize popfetch once for an OAuth 2.0 account (auth = "xoauth2" or "oauthbearer") and store the
    /// refresh token in state_dir
    Auth(AuthArgs),
    /// Convert another fetcher's configuration (fetchmail, getmail, mpop) or record the UIDs it delivered
    Import(crate::import::ImportArgs),
    /// Show each account's last poll, health and counters from the status files (no lock, works beside a running
    /// daemon); exit 0 when every account is healthy, 1 when one needs attention
    Status(StatusArgs),
    /// Print the shell completion script for bash, zsh or fish
    Completions(CompletionsArgs),
}

/// Options of `status`.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Print JSON for scripts instead of the table (with -q: nothing, only the exit status)
    #[arg(long)]
    pub json: bool,
}

/// Options of `completions`.
#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to generate the script for
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: Shell,
}

/// Shells `completions` knows.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// Options of `check`.
#[derive(clap::Args, Debug, Default)]
pub struct CheckArgs {
    /// Also connect (like fetchmail -c): for each account, concurrently, log in to the POP3 server (printing the
    /// certificate's SHA-256 fingerprint) and count the new messages with UIDL, then ask the MTA whether it takes
    /// mail for the target (MAIL FROM:<>, RCPT TO, RSET); nothing is fetched, deleted, queued or recorded. One
    /// line per account; the exit status is the one a run would give
    #[arg(long)]
    pub connect: bool,

    /// With --connect, try only this account (repeatable; default: every account)
    #[arg(long = "account", value_name = "NAME", requires = "connect")]
    pub accounts: Vec<String>,
}

/// Options of `auth`.
#[derive(clap::Args, Debug)]
pub struct AuthArgs {
    /// The account to authorize (its name in the configuration)
    #[arg(value_name = "ACCOUNT")]
    pub account: String,
    /// Authorize the login of the account's IMAP destination ([account.imap] with auth = "xoauth2" or
    /// "oauthbearer") instead of its POP3 login; the token is stored apart
    #[arg(long)]
    pub imap: bool,
}

/// Options of `run`.
#[derive(clap::Args, Debug, Default)]
pub struct RunArgs {
    /// Poll only this account (repeatable; default: every account)
    #[arg(long = "account", value_name = "NAME")]
    pub accounts: Vec<String>,

    /// Try messages the MTA rejected permanently again
    #[arg(long)]
    pub retry_rejected: bool,

    /// Fetch the new messages and print what would be done with each (envelope, header edits), changing
    /// nothing: no SMTP connection, no DELE, no state write
    #[arg(long)]
    pub dry_run: bool,

    /// Print each message's header block before and after the header pipeline as a unified diff on stdout, each
    /// changed line annotated with the rule that changed it
    #[arg(long)]
    pub diff: bool,

    /// Record every message now on the server as already delivered, without fetching or deleting anything (keep
    /// = true accounts only): the migration step from another fetcher, and the answer to a state refused because
    /// the server's UIDs all changed
    #[arg(long, conflicts_with_all = ["dry_run", "diff", "retry_rejected"])]
    pub mark_seen: bool,

    /// At SIGINT (Ctrl-C) or SIGTERM, wait at most this long for the messages in flight before exiting anyway
    /// (default: 660, as for the daemon); a second signal exits at once
    #[arg(long, value_name = "SECONDS")]
    pub stop_grace: Option<u64>,
}

/// Where log lines go.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogTarget {
    /// Standard error, each line stamped with its RFC 3339 time in UTC, unless standard error is the systemd
    /// journal (JOURNAL_STREAM), which stamps lines itself
    #[default]
    Stderr,
    /// The systemd journal, with priorities (falls back to stderr when there is no journal socket)
    Journald,
    /// syslog(3), facility mail, with the pid
    Syslog,
}

/// Options of `daemon`.
#[derive(clap::Args, Debug)]
pub struct DaemonArgs {
    /// Poll only this account (repeatable; default: every account)
    #[arg(long = "account", value_name = "NAME")]
    pub accounts: Vec<String>,

    /// At SIGTERM, wait at most this long for the messages in flight before exiting anyway (default: 660, the
    /// 10-minute SMTP end-of-DATA timeout plus a minute)
    #[arg(long, value_name = "SECONDS", default_value_t = crate::daemon::DEFAULT_STOP_GRACE.as_secs())]
    pub stop_grace: u64,

    /// Where log lines go: stderr (default), journald (falls back to stderr when there is no journal socket),
    /// or syslog (facility mail)
    #[arg(long, value_enum, default_value_t = LogTarget::Stderr, value_name = "TARGET")]
    pub log: LogTarget,
}

/// Options of `filter`.
#[derive(clap::Args, Debug)]
pub struct FilterArgs {
    /// Apply this account's settings (target, strip_delivered_to, ...; default: the first account)
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,

    /// Also print the header diff (before/after, each change annotated with its rule) on standard error
    #[arg(long)]
    pub diff: bool,

    /// Message file, `-` for standard input
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_command_means_run() {
        let cli = Cli::try_parse_from(["popfetch"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.verbose, 0);
        assert!(!cli.quiet);
    }

    #[test]
    fn run_takes_repeated_accounts_and_global_flags_after_it() {
        let cli = Cli::try_parse_from([
            "popfetch",
            "run",
            "--account",
            "a",
            "--account",
            "b",
            "--retry-rejected",
            "-vv",
            "-c",
            "/tmp/x.toml",
        ])
        .unwrap();
        let Some(Command::Run(args)) = cli.command else {
            panic!("expected run, got {:?}", cli.command)
        };
        assert_eq!(args.accounts, ["a", "b"]);
        assert!(args.retry_rejected);
        assert_eq!(cli.verbose, 2);
        assert_eq!(cli.config, Some(PathBuf::from("/tmp/x.toml")));
    }

    #[test]
    fn filter_needs_a_file_and_accepts_stdin_dash() {
        assert!(Cli::try_parse_from(["popfetch", "filter"]).is_err());
        let cli = Cli::try_parse_from(["popfetch", "filter", "--account", "isp", "-"]).unwrap();
        let Some(Command::Filter(args)) = cli.command else {
            panic!("expected filter")
        };
        assert_eq!(args.account.as_deref(), Some("isp"));
        assert_eq!(args.file, PathBuf::from("-"));
    }

    #[test]
    fn daemon_takes_accounts_grace_and_a_log_target() {
        let cli = Cli::try_parse_from([
            "popfetch",
            "daemon",
            "--account",
            "a",
            "--stop-grace",
            "5",
            "--log",
            "journald",
        ])
        .unwrap();
        let Some(Command::Daemon(args)) = cli.command else {
            panic!("expected daemon")
        };
        assert_eq!(args.accounts, ["a"]);
        assert_eq!(args.stop_grace, 5);
        assert_eq!(args.log, LogTarget::Journald);
        let cli = Cli::try_parse_from(["popfetch", "daemon"]).unwrap();
        let Some(Command::Daemon(args)) = cli.command else {
            panic!("expected daemon")
        };
        assert_eq!(
            std::time::Duration::from_secs(args.stop_grace),
            crate::daemon::DEFAULT_STOP_GRACE
        );
        assert_eq!(args.log, LogTarget::Stderr);
        assert!(Cli::try_parse_from(["popfetch", "daemon", "--log", "file"]).is_err());
        assert!(Cli::try_parse_from(["popfetch", "run", "--log", "syslog"]).is_err());
        assert!(Cli::try_parse_from(["popfetch", "daemon", "--retry-rejected"]).is_err());
    }

    #[test]
    fn check_takes_no_arguments_and_unknown_flags_fail() {
        assert!(matches!(
            Cli::try_parse_from(["popfetch", "check"]).unwrap().command,
            Some(Command::Check(CheckArgs { connect: false, .. }))
        ));
        let cli =
            Cli::try_parse_from(["popfetch", "check", "--connect", "--account", "a"]).unwrap();
        let Some(Command::Check(args)) = cli.command else {
            panic!("expected check")
        };
        assert!(args.connect);
        assert_eq!(args.accounts, ["a"]);
        assert!(Cli::try_parse_from(["popfetch", "check", "--account", "a"]).is_err());
        assert!(Cli::try_parse_from(["popfetch", "check", "extra"]).is_err());
        assert!(Cli::try_parse_from(["popfetch", "run", "--dry-runn"]).is_err());
        assert!(Cli::try_parse_from(["popfetch", "check", "--diff"]).is_err());
    }

    #[test]
    fn run_takes_dry_run_and_diff_and_filter_takes_diff() {
        let cli = Cli::try_parse_from(["popfetch", "run", "--dry-run", "--diff"]).unwrap();
        let Some(Command::Run(args)) = cli.command else {
            panic!("expected run")
        };
        assert!(args.dry_run && args.diff);
        let cli = Cli::try_parse_from(["popfetch", "run"]).unwrap();
        let Some(Command::Run(args)) = cli.command else {
            panic!("expected run")
        };
        assert!(!args.dry_run && !args.diff);
        let cli = Cli::try_parse_from(["popfetch", "filter", "--diff", "m.eml"]).unwrap();
        let Some(Command::Filter(args)) = cli.command else {
            panic!("expected filter")
        };
        assert!(args.diff);
        assert_eq!(args.file, PathBuf::from("m.eml"));
    }

    #[test]
    fn c08_mark_seen_is_a_run_flag_alone() {
        let cli =
            Cli::try_parse_from(["popfetch", "run", "--mark-seen", "--account", "isp"]).unwrap();
        let Some(Command::Run(args)) = cli.command else {
            panic!("expected run")
        };
        assert!(args.mark_seen);
        for other in ["--dry-run", "--diff", "--retry-rejected"] {
            assert!(Cli::try_parse_from(["popfetch", "run", "--mark-seen", other]).is_err());
        }
        assert!(Cli::try_parse_from(["popfetch", "daemon", "--mark-seen"]).is_err());
    }
}
