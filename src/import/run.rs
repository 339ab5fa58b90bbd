//! The I/O edge of `popfetch import`: read the other tool's files, write the configuration and password files
//! (mode 0600, never over an existing file without `--force`), record UIDs through [`State`], and `--connect`
//! with the poller's own login and listing code.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::render::{Passwords, Rendered, render};
use super::{
    ImportArgs, ImportCommand, Invoker, Plan, RcArgs, RcError, Tool, UidsArgs, Value, account_name,
};
use super::{fetchmail, getmailrc, mpoprc, uids};
use crate::config::{self, Account};
use crate::error::ExitClass;
use crate::poller::{Failure, chain, list_mailbox, open_pop3};
use crate::state::State;
use crate::untrusted::Secrets;

/// Refuse to read a source file larger than this (rc files are small; UID files hold at most a few 100 000 lines).
const MAX_INPUT: u64 = 64 << 20;

/// Run `popfetch import …`; `config` is `-c` (`import uids` reads that configuration, or the one popfetch finds
/// by itself; the conversions need none).
pub fn run(config: Option<PathBuf>, args: ImportArgs) -> ExitClass {
    match args.what {
        ImportCommand::Fetchmailrc(a) => convert(Kind::Fetchmail, a),
        ImportCommand::Getmailrc(a) => convert(Kind::Getmail, a),
        ImportCommand::Mpoprc(a) => convert(Kind::Mpop, a),
        ImportCommand::Uids(a) => match config.map_or_else(config::locate::locate, Ok) {
            Ok(path) => import_uids(&path, a),
            Err(e) => {
                eprintln!("popfetch: {e}");
                e.class()
            }
        },
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Fetchmail,
    Getmail,
    Mpop,
}

fn home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from)
}

fn invoker() -> Invoker {
    let login = ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "root".into());
    Invoker { login }
}

/// The tool's own default file when none is named.
fn default_inputs(kind: Kind) -> Vec<PathBuf> {
    let home = home();
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| home.join(".config"));
    let candidates = match kind {
        Kind::Fetchmail => vec![home.join(".fetchmailrc")],
        Kind::Getmail => vec![
            xdg.join("getmail/getmailrc"),
            home.join(".getmail/getmailrc"),
        ],
        Kind::Mpop => vec![home.join(".mpoprc"), xdg.join("mpop/config")],
    };
    let first = candidates[0].clone();
    vec![candidates.into_iter().find(|p| p.exists()).unwrap_or(first)]
}

fn read_input(path: &Path) -> Result<Vec<u8>, String> {
    let file = fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_INPUT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_INPUT {
        return Err(format!(
            "{} is larger than {MAX_INPUT} bytes",
            path.display()
        ));
    }
    Ok(bytes)
}

fn parse_error(path: &Path, e: &RcError) -> ExitClass {
    eprintln!(
        "popfetch: {}:{}:{}: {}; nothing was written",
        path.display(),
        e.line,
        e.col,
        e.message
    );
    ExitClass::Config
}

/// `import fetchmailrc|getmailrc|mpoprc`.
fn convert(kind: Kind, args: RcArgs) -> ExitClass {
    let inputs = if args.files.is_empty() {
        default_inputs(kind)
    } else {
        args.files.clone()
    };
    if kind != Kind::Getmail && inputs.len() > 1 {
        eprintln!("popfetch: import reads one file here (getmailrc takes several)");
        return ExitClass::Config;
    }
    let who = invoker();
    let mut plan = Plan::default();
    for path in &inputs {
        let bytes = match read_input(path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("popfetch: {e}");
                return ExitClass::Config;
            }
        };
        let source = format!("{} {}", tool_name(kind), path.display());
        let part = match kind {
            Kind::Fetchmail => {
                fetchmail::parse(&bytes).map(|rc| fetchmail::plan::plan(&rc, &source, &who))
            }
            Kind::Getmail => getmailrc::plan(&bytes, &source, &who),
            Kind::Mpop => mpoprc::plan(&bytes, &source, &who),
        };
        match part {
            Ok(p) => merge(&mut plan, p),
            Err(e) => return parse_error(path, &e),
        }
    }
    let mode = if args.inline_passwords {
        Passwords::Inline
    } else {
        Passwords::Files
    };
    let rendered = render(&plan, mode);
    let out_path = args.output.clone();
    if out_path.is_none() && !rendered.password_files.is_empty() {
        eprintln!(
            "popfetch: the source holds passwords: give --output PATH (each goes into a 0600 password file beside \
             it) or --inline-passwords; nothing was written"
        );
        return ExitClass::Config;
    }
    // The result must be a configuration popfetch accepts; anything else is a bug of this converter.
    if rendered.live > 0 {
        let name = out_path
            .clone()
            .unwrap_or_else(|| PathBuf::from("config.toml"));
        if let Err(e) = config::parse_str(&rendered.text, &name) {
            eprintln!(
                "popfetch: internal error: the converted configuration does not pass its own check; nothing was \
                 written:\n{e}"
            );
            return ExitClass::Internal;
        }
    }
    match &out_path {
        None => {
            print!("{}", rendered.text);
        }
        Some(path) => {
            if let Err(e) = write_outputs(path, &rendered, args.force) {
                eprintln!("popfetch: {e}");
                return ExitClass::Config;
            }
            eprintln!(
                "popfetch: wrote {} ({} account(s), {} commented out; {} password file(s)); check it with `popfetch \
                 -c {} check`",
                path.display(),
                plan.accounts.len(),
                plan.accounts.len() - rendered.live,
                rendered.password_files.len(),
                path.display()
            );
        }
    }
    if rendered.live == 0 {
        eprintln!(
            "popfetch: no account could be converted as it is (see the \"not translated\" comments): `popfetch \
             check` refuses a configuration without an account"
        );
        return ExitClass::Partial;
    }
    ExitClass::Ok
}

fn tool_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Fetchmail => "fetchmailrc",
        Kind::Getmail => "getmailrc",
        Kind::Mpop => "mpoprc",
    }
}

fn merge(into: &mut Plan, part: Plan) {
    if into.source.is_empty() {
        into.source = part.source;
    } else {
        into.source = format!("{} and {}", into.source, part.source);
    }
    into.notes.extend(part.notes);
    if into.smtp.is_none() {
        into.smtp = part.smtp;
    }
    for mut a in part.accounts {
        let taken: Vec<String> = into.accounts.iter().map(|a| a.name.clone()).collect();
        let name = account_name(&a.name, &taken);
        if name != a.name {
            for (k, v) in &mut a.keys {
                if *k == "name" {
                    *v = Value::Str(name.clone());
                }
            }
            a.name = name;
        }
        into.accounts.push(a);
    }
}

/// Write the config and its password files, all 0600; refuse before writing anything if one exists already
/// (unless `force`).
fn write_outputs(path: &Path, r: &Rendered, force: bool) -> Result<(), String> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut files: Vec<(PathBuf, &[u8])> = vec![(path.to_path_buf(), r.text.as_bytes())];
    let with_newline: Vec<Vec<u8>> = r
        .password_files
        .iter()
        .map(|(_, p)| [p.as_slice(), b"\n"].concat())
        .collect();
    for ((name, _), bytes) in r.password_files.iter().zip(&with_newline) {
        files.push((dir.join(name), bytes));
    }
    if !force && let Some((p, _)) = files.iter().find(|(p, _)| p.symlink_metadata().is_ok()) {
        return Err(format!(
            "{} exists; nothing was written (use --force to replace it)",
            p.display()
        ));
    }
    for (p, bytes) in files {
        write_private(&p, bytes, force)
            .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8], force: bool) -> std::io::Result<()> {
    let mut opts = OpenOptions::new();
    opts.write(true).mode(0o600);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    let mut f = opts.open(path)?;
    // An existing file replaced with --force may have had a wider mode.
    f.set_permissions(fs::Permissions::from_mode(0o600))?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// `import uids TOOL FILE --account NAME`.
fn import_uids(config_path: &Path, args: UidsArgs) -> ExitClass {
    let config = match config::load(config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("popfetch: {e}");
            return e.class();
        }
    };
    let acct = match config.account(config_path, &args.account) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("popfetch: {e}");
            return e.class();
        }
    };
    let bytes = match read_input(&args.file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("popfetch: {e}");
            return ExitClass::Config;
        }
    };
    let found = match args.tool {
        Tool::Fetchmail => uids::fetchids(&bytes, &acct.host, &acct.user),
        Tool::Getmail => {
            // The file holds no server or user; getmail names it after them.
            let want = uids::getmail_oldmail_name(&acct.host, acct.port, &acct.user);
            let name = args.file.file_name().map(|n| n.to_string_lossy());
            if name.as_deref() != Some(want.as_str()) {
                eprintln!(
                    "popfetch: warning: getmail names the file of {}@{}:{} {want:?}, not {:?}; is it this account's?",
                    acct.user,
                    acct.host,
                    acct.port,
                    name.unwrap_or_default()
                );
            }
            uids::getmail_oldmail(&bytes)
        }
        Tool::Mpop => match uids::mpop_uidls(&bytes, &acct.host, &acct.user) {
            Ok(f) => f,
            Err(e) => return parse_error(&args.file, &e),
        },
    };
    if found.uids.is_empty() && !found.others.is_empty() {
        eprintln!(
            "popfetch: {} has no UID for {}@{} (account {:?}); it has UIDs for: {}; nothing was recorded",
            args.file.display(),
            acct.user,
            acct.host,
            acct.name,
            found.others.iter().cloned().collect::<Vec<_>>().join(", ")
        );
        return ExitClass::Config;
    }
    if found.unusable > 0 {
        eprintln!(
            "popfetch: warning: {} UID(s) in {} have bytes outside 0x21..0x7E, which no POP3 server popfetch accepts \
             sends (RFC 1939 section 7); they are not recorded",
            found.unusable,
            args.file.display()
        );
    }
    let identity = acct.identity();
    let mut state = match State::open(&config.state_dir, &acct.name, &identity) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("popfetch: {}", chain(&e));
            return e.class();
        }
    };
    if state.existed() && !args.merge {
        eprintln!(
            "popfetch: account {:?} already has state ({}); add --merge to record these UIDs in it as well; nothing \
             was recorded",
            acct.name,
            state.path().display()
        );
        return ExitClass::State;
    }
    let mut to_record = found.uids.clone();
    let listing = if args.connect {
        match list_server(acct, &config.state_dir) {
            Ok(l) => Some(l),
            Err((class, message)) => {
                eprintln!(
                    "popfetch: account {:?}: {message}; nothing was recorded",
                    acct.name
                );
                return class;
            }
        }
    } else {
        None
    };
    if let (Some(listing), Tool::Getmail) = (&listing, args.tool) {
        for uid in uids::getmail_server_spelling(&found.uids, listing) {
            if !to_record.contains(&uid) {
                to_record.push(uid);
            }
        }
    }
    let added = match state.mark_seen(&to_record) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("popfetch: {}", chain(&e));
            return e.class();
        }
    };
    println!(
        "account {:?}: recorded {added} UID(s) from {} as delivered ({} already recorded); state file {}",
        acct.name,
        args.file.display(),
        to_record.len() - added,
        state.path().display()
    );
    if let Some(listing) = listing {
        let still = listing.iter().filter(|u| to_record.contains(u)).count();
        let new = listing
            .iter()
            .filter(|u| !state.is_delivered(u) && state.rejection(u).is_none())
            .count();
        println!(
            "account {:?}: the server lists {} message(s): {still} of them were imported, {new} are new (the next \
             `popfetch run` delivers these)",
            acct.name,
            listing.len()
        );
    }
    if !acct.keep && !to_record.is_empty() {
        println!(
            "account {:?}: keep = false: the next run deletes from the server the listed messages whose UIDs were \
             imported (the other fetcher delivered them)",
            acct.name
        );
    }
    ExitClass::Ok
}

/// Log in and list the mailbox with the poller's own code, then QUIT.
fn list_server(
    acct: &Account,
    state_dir: &std::path::Path,
) -> Result<Vec<String>, (ExitClass, String)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            (
                ExitClass::Internal,
                format!("cannot start the runtime: {e}"),
            )
        })?;
    rt.block_on(async {
        let secrets = Secrets::new();
        let failed = |f: Failure| (f.class, f.shown(&secrets).into());
        let mut client = open_pop3(acct, state_dir, &secrets).await.map_err(failed)?;
        let mailbox = list_mailbox(&mut client).await.map_err(failed)?;
        client.quit().await.map_err(|e| (e.class(), chain(&e)))?;
        Ok(mailbox.listing())
    })
}
