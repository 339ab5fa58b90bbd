//! mpop's configuration (msmtp style) → a popfetch [`Plan`]. Pure.
//!
//! The file is a list of `command argument` lines: `defaults` starts the settings every later account inherits,
//! `account NAME [: PARENT, …]` starts an account (inheriting the defaults, then its parents), `#` starts a
//! comment line, and an argument may be double-quoted (with backslash escapes). mpop's defaults: TLS on, with
//! STARTTLS (`tls_starttls on`), so an account without `tls_starttls off` becomes tls = "stls". mpop delivers
//! locally (an MDA, a Maildir or an mbox); the converted account hands its mail to the MTA instead, and the note
//! says where mpop put it.

use std::collections::BTreeMap;

use super::{AccountPlan, Invoker, Note, Plan, RcError, Value, account_name};

/// Settings by command, each with its argument and line.
type Block = BTreeMap<String, (String, usize)>;

/// One line's argument: unquoted, or double-quoted with `\"` and `\\` escapes.
fn argument(raw: &str, line: usize, col: usize) -> Result<String, RcError> {
    let raw = raw.trim();
    let Some(inner) = raw.strip_prefix('"') else {
        return Ok(raw.to_owned());
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            '"' => return Ok(out),
            c => out.push(c),
        }
    }
    Err(RcError {
        line,
        col,
        message: "quoted argument is never closed".into(),
    })
}

fn on(v: &str) -> bool {
    v == "on" || v.is_empty()
}

/// Translate an mpop configuration file.
///
/// # Errors
/// [`RcError`] for a setting before the first `defaults`/`account`, or an unclosed quote.
pub(crate) fn plan(bytes: &[u8], source: &str, who: &Invoker) -> Result<Plan, RcError> {
    let text = String::from_utf8_lossy(bytes);
    let mut defaults = Block::new();
    let mut accounts: Vec<(String, usize, Block)> = Vec::new();
    // Which block the settings go to: none yet, the defaults, or the account at this index.
    let mut current: Option<Option<usize>> = None;
    let mut notes = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let col = raw.len() - raw.trim_start().len() + 1;
        let (cmd, rest) = line.split_once([' ', '\t']).unwrap_or((line, ""));
        match cmd {
            "defaults" => current = Some(None),
            "account" => {
                let (name, parents) = rest.split_once(':').unwrap_or((rest, ""));
                let name = argument(name, n, col)?;
                if name == "default" {
                    notes.push(Note::info(
                        n,
                        format!("account default: {}", parents.trim()),
                    ));
                    current = None;
                    continue;
                }
                let mut block = defaults.clone();
                for parent in parents.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    if let Some((_, _, b)) = accounts.iter().find(|(a, _, _)| a == parent) {
                        block.extend(b.clone());
                    }
                }
                accounts.push((name, n, block));
                current = Some(Some(accounts.len() - 1));
            }
            _ => {
                let block = match current {
                    Some(None) => &mut defaults,
                    Some(Some(i)) => &mut accounts[i].2,
                    None => {
                        return Err(RcError {
                            line: n,
                            col,
                            message: format!("`{cmd}` before the first `defaults` or `account`"),
                        });
                    }
                };
                block.insert(cmd.to_owned(), (argument(rest, n, col)?, n));
            }
        }
    }
    let mut plan = Plan {
        source: source.to_owned(),
        notes,
        ..Plan::default()
    };
    let mut taken = Vec::new();
    for (name, line, block) in accounts {
        let a = account(&name, line, &block, who, &taken);
        taken.push(a.name.clone());
        plan.accounts.push(a);
    }
    Ok(plan)
}

fn account(name: &str, line: usize, b: &Block, who: &Invoker, taken: &[String]) -> AccountPlan {
    let get = |k: &str| b.get(k).map(|(v, l)| (v.as_str(), *l));
    let mut a = AccountPlan {
        name: account_name(name, taken),
        origin: format!("account {name:?} (line {line})"),
        ..AccountPlan::default()
    };
    let host = get("host").map_or("", |(v, _)| v);
    let user = get("user").map_or(who.login.as_str(), |(v, _)| v);
    if host.is_empty() {
        a.disabled = Some("no host".into());
    }
    let tls = match (
        get("tls").map(|(v, _)| on(v)),
        get("tls_starttls").map(|(v, _)| on(v)),
    ) {
        (Some(false), _) => "none",
        (_, Some(false)) => "implicit",
        _ => "stls",
    };
    a.keys.push(("name", Value::Str(a.name.clone())));
    a.keys.push(("host", Value::Str(host.to_owned())));
    if let Some((p, l)) = get("port") {
        match p.parse::<u16>() {
            Ok(p) => a.keys.push(("port", Value::Int(i64::from(p)))),
            Err(_) => a
                .notes
                .push(Note::not(l, format!("port {p:?}: not a port number"))),
        }
    }
    a.keys.push(("tls", Value::Str(tls.into())));
    if let Some((f, _)) = get("tls_trust_file").filter(|(f, _)| *f != "system" && !f.is_empty()) {
        a.keys.push(("ca_file", Value::Str(f.to_owned())));
    }
    if let Some((fp, l)) = get("tls_fingerprint") {
        let hex: String = fp.chars().filter(|c| *c != ':').collect();
        if hex.len() == 64 && get("tls_trust_file").is_none() {
            a.keys.push(("cert_sha256", Value::Str(fp.to_owned())));
        } else {
            a.notes.push(Note::not(
                l,
                "tls_fingerprint: only a SHA-256 fingerprint (without tls_trust_file) becomes cert_sha256; \
                 `popfetch check --connect` prints the server's",
            ));
        }
    }
    if get("tls_certcheck").is_some_and(|(v, _)| !on(v)) {
        a.notes.push(Note::not(
            get("tls_certcheck").map(|(_, l)| l),
            "tls_certcheck off: popfetch always verifies; pin the certificate with cert_sha256 instead",
        ));
    }
    a.keys.push(("user", Value::Str(user.to_owned())));
    if let Some((cmd, _)) = get("passwordeval") {
        // mpop runs it with the shell; popfetch runs an argv, so the shell is named.
        a.keys.push((
            "password_command",
            Value::List(vec!["sh".into(), "-c".into(), cmd.to_owned()]),
        ));
    } else if let Some((p, _)) = get("password") {
        a.password = Some(p.as_bytes().to_vec());
    }
    match get("auth") {
        None | Some(("on", _)) | Some(("", _)) => {}
        Some((m @ ("user" | "plain" | "apop"), _)) => a.keys.push(("auth", Value::Str(m.into()))),
        Some((m, l)) => a.notes.push(Note::not(
            l,
            format!("auth {m}: popfetch authenticates with USER/PASS, AUTH PLAIN or APOP"),
        )),
    }
    if tls == "none" {
        a.keys.push(("allow_plaintext_password", Value::Bool(true)));
        a.notes.push(Note::info(
            get("tls").map(|(_, l)| l),
            "tls off: the password travels unencrypted",
        ));
    }
    a.keys
        .push(("target", Value::Str(format!("{}@localhost", who.login))));
    if get("keep").is_some_and(|(v, _)| on(v)) {
        a.keys.push(("keep", Value::Bool(true)));
    }
    if let Some((t, l)) = get("timeout") {
        match t.parse::<i64>() {
            Ok(t) if (1..=3600).contains(&t) => a.keys.push(("timeout", Value::Int(t))),
            _ => a.notes.push(Note::not(
                l,
                format!("timeout {t}: popfetch accepts 1 to 3600 seconds"),
            )),
        }
    }
    if get("received_header").is_some_and(|(v, _)| !on(v)) {
        a.keys.push(("received", Value::Bool(false)));
    }
    if let Some((s, _)) = get("skipsize")
        && let Ok(n) = s.parse::<i64>()
        && n > 0
    {
        a.keys.push(("max_message_size", Value::Int(n)));
    }
    for (cmd, (v, l)) in b {
        let why = match cmd.as_str() {
            "host" | "port" | "tls" | "tls_starttls" | "tls_trust_file" | "tls_fingerprint"
            | "tls_certcheck" | "user" | "password" | "passwordeval" | "auth" | "keep"
            | "timeout" | "received_header" | "skipsize" => continue,
            "delivery" => format!(
                "delivery {v}: popfetch hands the mail to the MTA ([smtp]) for target; make the MTA deliver it there"
            ),
            "uidls_file" => format!(
                "uidls_file {v}: import its UIDs with `popfetch import uids mpop {v} --account {}`",
                a.name
            ),
            "only_new" if !on(v) => "only_new off: popfetch fetches only new messages".into(),
            "only_new" => continue,
            "killsize" => "killsize: popfetch never deletes a message it did not deliver".into(),
            "filter" => "filter: popfetch runs no filter command; the MTA can".into(),
            other => format!("{other}: no popfetch equivalent"),
        };
        a.notes.push(Note::not(*l, why));
    }
    if !b.contains_key("delivery") {
        a.notes.push(Note::not(
            None,
            "no delivery: mpop would refuse this account",
        ));
    }
    a
}
