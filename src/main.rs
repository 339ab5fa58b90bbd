//! The `popfetch` binary: parse the command line, set up logging, load the configuration, dispatch, and turn the
//! outcome into a documented exit status (see `man 1 popfetch`, EXIT STATUS).

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use tracing::level_filters::LevelFilter;

use popfetch::cli::{Cli, Command, FilterArgs, RunArgs};
use popfetch::config::{self, Config};
use popfetch::error::ExitClass;
use popfetch::{headers, poller};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    let path = cli.config.clone().unwrap_or_else(config::default_path);
    let class = match cli.command {
        None => run(&path, RunArgs::default()),
        Some(Command::Run(args)) => run(&path, args),
        Some(Command::Check) => check(&path),
        Some(Command::Filter(args)) => filter(&path, args),
    };
    class.into()
}

/// Log lines go to stderr without timestamps (cron and journald add their own). Default level INFO, which
/// prints nothing on a run without mail; `-q` keeps warnings and errors; `-v` adds debug lines, `-vv` the protocol trace.
fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => LevelFilter::WARN,
        (false, 0) => LevelFilter::INFO,
        (false, 1) => LevelFilter::DEBUG,
        (false, _) => LevelFilter::TRACE,
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_max_level(level)
        .without_time()
        .with_target(false)
        .init();
}

fn load(path: &Path) -> Result<Config, ExitClass> {
    config::load(path).map_err(|e| {
        eprintln!("popfetch: {e}");
        e.class()
    })
}

fn check(path: &Path) -> ExitClass {
    match load(path) {
        Ok(c) => {
            println!(
                "{}: ok, {} account{}",
                path.display(),
                c.accounts.len(),
                if c.accounts.len() == 1 { "" } else { "s" }
            );
            ExitClass::Ok
        }
        Err(class) => class,
    }
}

fn run(path: &Path, args: RunArgs) -> ExitClass {
    let config = match load(path) {
        Ok(c) => c,
        Err(class) => return class,
    };
    for name in &args.accounts {
        if !config.accounts.iter().any(|a| &a.name == name) {
            eprintln!(
                "popfetch: {}: no account named {name:?} (popfetch check lists the file's problems)",
                path.display()
            );
            return ExitClass::Config;
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("popfetch: cannot start the async runtime: {e}");
            return ExitClass::Internal;
        }
    };
    if args.dry_run {
        println!("{}", popfetch::dryrun::BANNER);
    }
    let opts = poller::RunOptions {
        accounts: args.accounts,
        poll: poller::PollOptions {
            retry_rejected: args.retry_rejected,
            dry_run: args.dry_run,
            diff: args.diff,
            ..Default::default()
        },
    };
    runtime.block_on(poller::run(Arc::new(config), opts))
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
        Some(name) => config.accounts.iter().find(|a| &a.name == name),
        None => config.accounts.first(),
    };
    let Some(acct) = acct else {
        eprintln!(
            "popfetch: {}: no account named {:?}",
            path.display(),
            args.account.unwrap_or_default()
        );
        return ExitClass::Config;
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
        let text = popfetch::diff::render(
            &raw,
            &out.edits,
            &popfetch::diff::Style {
                before: &name,
                after: &format!("{name} filtered for account {:?}", acct.name),
                color: std::io::stderr().is_terminal(),
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
