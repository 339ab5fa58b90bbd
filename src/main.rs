//! The `popfetch` binary: parse the command line, set up logging, load the configuration, dispatch, and turn the
//! outcome into a documented exit status (see `man 1 popfetch`, EXIT STATUS).

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use popfetch::cli::{
    AuthArgs, CheckArgs, Cli, Command, DaemonArgs, FilterArgs, LogTarget, RunArgs, Shell,
};
use popfetch::config::{self, Config};
use popfetch::error::ExitClass;
use popfetch::{daemon, headers, logging, poller};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `--log` belongs to the daemon; one-shot commands log to stderr, which cron mails and systemd journals.
    // Only the daemon stamps its stderr lines: it runs for months, while cron dates the mail of a run's output.
    let (log, timestamps) = match &cli.command {
        Some(Command::Daemon(args)) => (args.log, true),
        _ => (LogTarget::Stderr, false),
    };
    let progress = if shows_progress(&cli) {
        popfetch::progress::Progress::on_stderr()
    } else {
        popfetch::progress::Progress::default()
    };
    logging::init(
        log,
        &logging::Options {
            verbose: cli.verbose,
            quiet: cli.quiet,
            timestamps,
            progress: progress.clone(),
        },
    );
    // Completions describe the command line only: no configuration needed (package builds run it).
    if let Some(Command::Completions(args)) = &cli.command {
        return completions(args.shell).into();
    }
    if let Some(Command::Import(args)) = cli.command {
        // Converting another tool's file writes a configuration rather than reading one.
        return popfetch::import::run(cli.config, args).into();
    }
    let path = match cli.config.clone().map_or_else(config::locate::locate, Ok) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("popfetch: {e}");
            return e.class().into();
        }
    };
    let class = match cli.command {
        None => run(&path, RunArgs::default(), progress),
        Some(Command::Run(args)) => run(&path, args, progress),
        Some(Command::Daemon(args)) => daemon(&path, args),
        Some(Command::Check(args)) => check(&path, args),
        Some(Command::Filter(args)) => filter(&path, args),
        Some(Command::Auth(args)) => auth(&path, args),
        Some(Command::Status(args)) => status(&path, args.json, cli.quiet),
        Some(Command::Completions(_) | Command::Import(_)) => unreachable!("dispatched above"),
    };
    class.into()
}

fn load(path: &Path) -> Result<Config, ExitClass> {
    config::load(path).map_err(|e| {
        eprintln!("popfetch: {e}");
        e.class()
    })
}

/// `popfetch status`: the status files, read without locks; 0 when every account is healthy, 1 when one needs
/// attention (stopped for authentication, TLS, state or config, or no success for longer than `stale_after`).
/// `-q` prints only the accounts that need attention (a monitoring check's message).
fn status(path: &Path, json: bool, quiet: bool) -> ExitClass {
    let config = match load(path) {
        Ok(c) => c,
        Err(class) => return class,
    };
    let now = popfetch::status::now();
    let entries = popfetch::status::overview(&config, now);
    let text = match (json, quiet) {
        (true, true) => String::new(),
        (true, false) => popfetch::status::render::json(&entries, now),
        (false, true) => popfetch::status::render::problems(&entries),
        (false, false) => popfetch::status::render::text(&entries, now),
    };
    if let Err(e) = std::io::stdout().lock().write_all(text.as_bytes()) {
        eprintln!("popfetch: cannot write the status: {e}");
        return ExitClass::Internal;
    }
    if entries
        .iter()
        .all(|e| e.health == popfetch::status::Health::Healthy)
    {
        ExitClass::Ok
    } else {
        ExitClass::Partial
    }
}

/// `popfetch completions SHELL`: the script clap_complete derives from the same definitions as `--help` and the
/// man page.
fn completions(shell: Shell) -> ExitClass {
    use clap::CommandFactory;
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(
        generator,
        &mut Cli::command(),
        "popfetch",
        &mut std::io::stdout(),
    );
    ExitClass::Ok
}

/// `popfetch check`: the file, then what it names (offline), then with `--connect` the servers.
fn check(path: &Path, args: CheckArgs) -> ExitClass {
    let (config, runtime) = match load_for(path, &args.accounts) {
        Ok(c) => c,
        Err(class) => return class,
    };
    let mut worst = ExitClass::Ok;
    for finding in runtime.block_on(popfetch::check::offline(&config)) {
        eprintln!("popfetch: {}: {finding}", path.display());
        worst = worst.worst(finding.class);
    }
    if worst == ExitClass::Ok {
        println!(
            "{}: ok, {} account{}, state in {}",
            path.display(),
            config.accounts.len(),
            if config.accounts.len() == 1 { "" } else { "s" },
            config.state_dir.display()
        );
    }
    if args.connect {
        let config = Arc::new(config);
        worst =
            worst.worst(runtime.block_on(popfetch::check::connect::run(config, &args.accounts)));
    }
    worst
}

/// The config, with every `--account NAME` naming an account (else a configuration error, before anything is
/// tried), and the runtime to try them in.
fn load_for(
    path: &Path,
    accounts: &[String],
) -> Result<(Config, tokio::runtime::Runtime), ExitClass> {
    let config = load(path)?;
    if let Err(e) = config.check_names(path, accounts) {
        eprintln!("popfetch: {e}");
        return Err(e.class());
    }
    Ok((config, runtime()?))
}

/// Progress bars only for a real run on a terminal: not under cron or in a log (stderr not a terminal), not with
/// `-q`, not with the `-vv` trace (a line per protocol line would redraw them for every line), and not for the
/// modes that print their report on stdout (`--dry-run`, `--diff`) or fetch nothing (`--mark-seen`).
fn shows_progress(cli: &Cli) -> bool {
    let plain = match &cli.command {
        None => true,
        Some(Command::Run(a)) => !(a.dry_run || a.diff || a.mark_seen),
        Some(_) => false,
    };
    plain && !cli.quiet && cli.verbose < 2 && std::io::IsTerminal::is_terminal(&std::io::stderr())
}

fn run(path: &Path, args: RunArgs, progress: popfetch::progress::Progress) -> ExitClass {
    let (config, runtime) = match load_for(path, &args.accounts) {
        Ok(c) => c,
        Err(class) => return class,
    };
    if args.dry_run {
        println!("{}", popfetch::poller::DRY_RUN_BANNER);
    }
    let (stop, shutdown) = poller::Shutdown::new();
    let opts = poller::RunOptions {
        accounts: args.accounts,
        poll: poller::PollOptions {
            retry_rejected: args.retry_rejected,
            dry_run: args.dry_run,
            diff: args.diff,
            mark_seen: args.mark_seen,
            shutdown,
            progress,
        },
    };
    let grace = args
        .stop_grace
        .map_or(daemon::DEFAULT_STOP_GRACE, std::time::Duration::from_secs);
    let class = runtime.block_on(async {
        // Before the first connection: a signal must never meet its default action with a message in flight.
        let control = match daemon::stop::signals() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("popfetch: cannot install signal handlers: {e}");
                return ExitClass::Internal;
            }
        };
        // A dry run changes nothing, not even the status file.
        let recorded: fn(&Config, &poller::Report) = if opts.poll.dry_run {
            |_, _| {}
        } else {
            |config, report| popfetch::status::record(config, report, None)
        };
        let work = poller::run(Arc::new(config), opts, recorded);
        daemon::stop::interruptible(work, control, stop, grace).await
    });
    // Polls abandoned after the stop grace (or a second signal) must not hold the exit up.
    runtime.shutdown_background();
    class
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitClass> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("popfetch: cannot start the async runtime: {e}");
            ExitClass::Internal
        })
}

/// `popfetch daemon`: the signal handlers first (a SIGUSR1 or SIGHUP arriving before them would kill the
/// process), then the daemon until SIGTERM/SIGINT.
fn daemon(path: &Path, args: DaemonArgs) -> ExitClass {
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(class) => return class,
    };
    let opts = daemon::DaemonOptions {
        accounts: args.accounts,
        stop_grace: std::time::Duration::from_secs(args.stop_grace),
        ..Default::default()
    };
    let class = runtime.block_on(async {
        let control = match daemon::signals() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("popfetch: cannot install signal handlers: {e}");
                return ExitClass::Internal;
            }
        };
        daemon::run(path, opts, control).await
    });
    // Tasks abandoned after the stop grace (or a second SIGTERM) must not hold the exit up.
    runtime.shutdown_background();
    class
}

/// `popfetch auth ACCOUNT`: the one-time OAuth 2.0 authorization (popfetch::oauth::authorize). Instructions go
/// to stdout; a redirected URL may be pasted on stdin.
fn auth(path: &Path, args: AuthArgs) -> ExitClass {
    let config = match load(path) {
        Ok(c) => c,
        Err(class) => return class,
    };
    let acct = match config.account(path, &args.account) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("popfetch: {e}");
            return e.class();
        }
    };
    // `--imap`: the IMAP destination's login, with its own settings, user and token file (issue 14).
    let imap_login = match &acct.delivery {
        config::Delivery::Imap(i) => match &i.login {
            config::ImapLogin::Bearer { oauth2, .. } => Some((oauth2, i.user.as_str())),
            config::ImapLogin::Password(_) => None,
        },
        _ => None,
    };
    let chosen = if args.imap {
        imap_login
    } else {
        acct.oauth2.as_ref().map(|s| (s, acct.user.as_str()))
    };
    let Some((settings, user)) = chosen else {
        if args.imap {
            eprintln!(
                "popfetch: account {:?} does not use OAuth 2.0 for its IMAP destination (set delivery = \"imap\", and in [account.imap] auth = \"xoauth2\" or \"oauthbearer\" and an [account.imap.oauth2] table)",
                acct.name
            );
        } else {
            let hint = if imap_login.is_some() {
                "; its IMAP destination does: run `popfetch auth ACCOUNT --imap`"
            } else {
                ""
            };
            eprintln!(
                "popfetch: account {:?} does not use OAuth 2.0 for POP3 (set auth = \"xoauth2\" or \"oauthbearer\" and an [account.oauth2] table){hint}",
                acct.name
            );
        }
        return ExitClass::Config;
    };
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(class) => return class,
    };
    let req = popfetch::oauth::authorize::Request {
        settings,
        holder: popfetch::oauth::Holder {
            account: &acct.name,
            imap: args.imap,
        },
        user,
        state_dir: &config.state_dir,
        timeout: acct.timeout,
    };
    let result = runtime.block_on(popfetch::oauth::authorize::authorize(
        &req,
        &mut std::io::stdout(),
        tokio::io::BufReader::new(tokio::io::stdin()),
    ));
    // A stdin read may still be blocked in its thread; it must not hold the exit up.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitClass::Ok,
        Err(e) => {
            eprintln!("popfetch: account {:?}: {}", acct.name, poller::chain(&e));
            e.class()
        }
    }
}

/// `popfetch filter`: the header pipeline on a local message, offline. No server hop happens, so no Received
/// field is added; the Delivered-To rule and line-ending normalisation are exactly those of a run. The result
/// goes to stdout byte for byte; `--diff` puts the header diff on stderr so stdout stays the message.
fn filter(path: &Path, args: FilterArgs) -> ExitClass {
    let config = match load(path) {
        Ok(c) => c,
        Err(class) => return class,
    };
    let acct = match &args.account {
        Some(name) => config.account(path, name),
        None => config
            .accounts
            .first()
            .ok_or_else(|| config::ConfigError::NoSuchAccount {
                path: path.to_owned(),
                name: String::new(),
            }),
    };
    let acct = match acct {
        Ok(a) => a,
        Err(e) => {
            eprintln!("popfetch: {e}");
            return e.class();
        }
    };
    let mut raw = Vec::new();
    let read = if args.file.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut raw).map(|_| ())
    } else {
        std::fs::File::open(&args.file).and_then(|mut f| f.read_to_end(&mut raw).map(|_| ()))
    };
    if let Err(e) = read {
        eprintln!("popfetch: cannot read {}: {e}", args.file.display());
        return ExitClass::Config;
    }
    let rules = headers::Rules {
        target: acct.target.to_ascii_lowercase(),
        drop: acct.drop_delivered_to,
        strip: acct.strip_delivered_to.clone(),
        recipients: acct
            .multidrop
            .as_ref()
            .map(|md| popfetch::multidrop::choose(md, &raw).loop_addresses())
            .unwrap_or_default(),
        received: None,
    };
    let out = headers::apply(&raw, &rules);
    for e in &out.edits {
        if let headers::Edit::RemovedDeliveredTo {
            address, reason, ..
        } = e
        {
            tracing::info!("removed Delivered-To: {address} ({reason})");
        }
    }
    if args.diff {
        let name = if args.file.as_os_str() == "-" {
            "standard input".to_owned()
        } else {
            args.file.display().to_string()
        };
        let text = popfetch::inspect::diff::render(
            &raw,
            &out.edits,
            &popfetch::inspect::diff::Style {
                before: &name,
                after: &format!("{name} filtered for account {:?}", acct.name),
                color: std::io::IsTerminal::is_terminal(&std::io::stderr()),
                // Offline: a local file and no server, so no account secret is in play.
                secrets: &popfetch::untrusted::Secrets::none(),
            },
        );
        let mut stderr = std::io::stderr().lock();
        if let Err(e) = stderr
            .write_all(text.as_bytes())
            .and_then(|_| stderr.flush())
        {
            eprintln!("popfetch: cannot write the diff: {e}");
            return ExitClass::Internal;
        }
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(&out.message).and_then(|_| stdout.flush()) {
        eprintln!("popfetch: cannot write the result: {e}");
        return ExitClass::Internal;
    }
    ExitClass::Ok
}
