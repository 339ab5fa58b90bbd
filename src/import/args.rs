//! The command line of `popfetch import` (clap derive types, no I/O; `src/cli.rs` only points here).

use std::path::PathBuf;

/// Options of `import`.
#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// What to import
    #[command(subcommand)]
    pub what: ImportCommand,
}

/// The things `import` converts.
#[derive(clap::Subcommand, Debug)]
pub enum ImportCommand {
    /// Convert a fetchmail run control file (default: ~/.fetchmailrc) into a popfetch configuration
    Fetchmailrc(RcArgs),
    /// Convert getmail rc files (INI; POP3 retrievers only) into a popfetch configuration
    Getmailrc(RcArgs),
    /// Convert an mpop configuration (default: ~/.mpoprc, else $XDG_CONFIG_HOME/mpop/config)
    Mpoprc(RcArgs),
    /// Record the UIDs another fetcher already delivered as delivered in an account's state, so that popfetch's
    /// first run fetches exactly what that fetcher would have fetched next
    Uids(UidsArgs),
}

/// Options of the configuration imports.
#[derive(clap::Args, Debug)]
pub struct RcArgs {
    /// The file(s) to convert (getmailrc: one or more; the others: at most one, else the tool's default)
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Write the configuration here (created with mode 0600) instead of standard output; password files are
    /// written beside it
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,

    /// Replace an existing output file (and password files)
    #[arg(long)]
    pub force: bool,

    /// Put passwords into the configuration itself instead of password files beside it
    #[arg(long)]
    pub inline_passwords: bool,
}

/// Whose UID file `import uids` reads.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// fetchmail's .fetchids (`user@host UID` lines)
    Fetchmail,
    /// getmail's oldmail-SERVER-PORT-USER file
    Getmail,
    /// mpop's uidls file
    Mpop,
}

/// Options of `import uids`.
#[derive(clap::Args, Debug)]
pub struct UidsArgs {
    /// The fetcher that wrote FILE
    #[arg(value_enum, value_name = "TOOL")]
    pub tool: Tool,

    /// Its UID file
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// The popfetch account (in the configuration) the UIDs belong to; its host and user select the lines
    #[arg(long, value_name = "NAME")]
    pub account: String,

    /// Add to an account that already has state (otherwise refused)
    #[arg(long)]
    pub merge: bool,

    /// Also log in and list the mailbox: how many imported UIDs the server still has, and how many messages
    /// the first run will deliver
    #[arg(long)]
    pub connect: bool,
}
