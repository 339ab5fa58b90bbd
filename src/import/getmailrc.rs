//! getmail (6) rc files → a popfetch [`Plan`]. Pure. A getmail rc is an INI file read by Python's configparser
//! (`[section]`, `key = value` or `key: value`, `#`/`;` comment lines, indented continuation lines); one file is
//! one account. Only the POP3 retrievers map directly; getmail delivers locally (Maildir, mbox, an MDA), so the
//! converted account hands its mail to the MTA for the user running the import, and the note says where getmail
//! put it.

use std::collections::BTreeMap;

use super::{AccountPlan, Invoker, Note, Plan, RcError, Value, account_name};

/// Sections → keys → (value, line). Keys are lower-cased, as configparser does.
type Ini = BTreeMap<String, BTreeMap<String, (String, usize)>>;

fn parse_ini(text: &str) -> Result<Ini, RcError> {
    let mut ini = Ini::new();
    let mut section: Option<String> = None;
    let mut last_key: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            // A continuation of the previous value.
            if let (Some(s), Some(k)) = (&section, &last_key)
                && let Some((v, _)) = ini.get_mut(s).and_then(|t| t.get_mut(k))
            {
                v.push('\n');
                v.push_str(trimmed);
                continue;
            }
        }
        if let Some(name) = trimmed.strip_prefix('[') {
            let Some(name) = name.strip_suffix(']') else {
                return Err(RcError {
                    line: n,
                    col: line.len() + 1,
                    message: "a section header must end with `]`".into(),
                });
            };
            section = Some(name.to_owned());
            ini.entry(name.to_owned()).or_default();
            last_key = None;
            continue;
        }
        let Some(sep) = trimmed.find(['=', ':']) else {
            return Err(RcError {
                line: n,
                col: line.len() - trimmed.len() + 1,
                message: "expected `[section]`, `key = value` or a comment".into(),
            });
        };
        let Some(s) = &section else {
            return Err(RcError {
                line: n,
                col: 1,
                message: "a setting before the first `[section]`".into(),
            });
        };
        let key = trimmed[..sep].trim().to_ascii_lowercase();
        let value = trimmed[sep + 1..].trim().to_owned();
        ini.entry(s.clone())
            .or_default()
            .insert(key.clone(), (value, n));
        last_key = Some(key);
    }
    Ok(ini)
}

fn truthy(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// getmail's `password_command = ('/usr/bin/pass', 'show', 'mail')`: a Python tuple of strings.
fn tuple(v: &str) -> Vec<String> {
    v.trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(|s| s.trim().trim_matches(['\'', '"']).to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Translate one getmail rc file.
///
/// # Errors
/// [`RcError`] for a line configparser would not read either.
pub(crate) fn plan(bytes: &[u8], source: &str, who: &Invoker) -> Result<Plan, RcError> {
    let text = std::str::from_utf8(bytes).map_err(|e| RcError {
        line: 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count(),
        col: 1,
        message: "not UTF-8 text".into(),
    })?;
    let ini = parse_ini(text)?;
    let empty = BTreeMap::new();
    let retr = ini.get("retriever").unwrap_or(&empty);
    let get = |s: &str, k: &str| {
        ini.get(s)
            .and_then(|t| t.get(k))
            .map(|(v, l)| (v.as_str(), *l))
    };
    let mut a = AccountPlan::default();
    let kind = get("retriever", "type").map_or("", |(v, _)| v);
    let server = get("retriever", "server").map_or("", |(v, _)| v);
    let user = get("retriever", "username").map_or("", |(v, _)| v);
    a.name = account_name(&format!("{server}-{user}"), &[]);
    let lines = ini
        .values()
        .flat_map(|t| t.values().map(|(_, l)| *l))
        .fold((usize::MAX, 0), |(lo, hi), l| (lo.min(l), hi.max(l)));
    a.origin = format!(
        "{source}, lines {}-{}: {kind} {server}, user {user:?}",
        lines.0.min(lines.1),
        lines.1
    );
    let tls = match kind {
        "SimplePOP3SSLRetriever" => "implicit",
        "SimplePOP3Retriever" => "none",
        "" => {
            a.disabled = Some("no [retriever] type".into());
            "implicit"
        }
        other => {
            a.disabled = Some(format!(
                "retriever type {other}: popfetch converts SimplePOP3Retriever and SimplePOP3SSLRetriever (one \
                 POP3 mailbox with working UIDL)"
            ));
            "implicit"
        }
    };
    if server.is_empty() || user.is_empty() {
        a.disabled = a
            .disabled
            .or(Some("[retriever] needs server and username".into()));
    }
    a.keys.push(("name", Value::Str(a.name.clone())));
    a.keys.push(("host", Value::Str(server.to_owned())));
    if let Some((p, l)) = get("retriever", "port") {
        match p.parse::<u16>() {
            Ok(p) => a.keys.push(("port", Value::Int(i64::from(p)))),
            Err(_) => a
                .notes
                .push(Note::not(l, format!("port {p:?}: not a port number"))),
        }
    }
    a.keys.push(("tls", Value::Str(tls.into())));
    if let Some((ca, _)) = get("retriever", "ca_certs") {
        a.keys.push(("ca_file", Value::Str(ca.to_owned())));
    }
    if let Some((fp, l)) = get("retriever", "ssl_fingerprints") {
        // getmail's fingerprints are SHA-256, the same hash as cert_sha256; popfetch pins one.
        let list = tuple(fp);
        match list.first() {
            Some(first) if get("retriever", "ca_certs").is_none() => {
                a.keys.push(("cert_sha256", Value::Str(first.clone())));
                if list.len() > 1 {
                    a.notes.push(Note::not(
                        l,
                        "ssl_fingerprints: popfetch pins one certificate, the first",
                    ));
                }
            }
            _ => a.notes.push(Note::not(
                l,
                "ssl_fingerprints: popfetch uses either ca_file or a pin, not both",
            )),
        }
    }
    a.keys.push(("user", Value::Str(user.to_owned())));
    if let Some((cmd, _)) = get("retriever", "password_command") {
        a.keys.push(("password_command", Value::List(tuple(cmd))));
    } else if let Some((p, _)) = get("retriever", "password") {
        a.password = Some(p.as_bytes().to_vec());
    }
    if get("retriever", "use_apop").and_then(|(v, _)| truthy(v)) == Some(true) {
        a.keys.push(("auth", Value::Str("apop".into())));
    }
    if tls == "none" {
        a.keys.push(("allow_plaintext_password", Value::Bool(true)));
        a.notes.push(Note::info(
            None,
            "SimplePOP3Retriever: no TLS, so the password travels unencrypted",
        ));
    }
    a.keys
        .push(("target", Value::Str(format!("{}@localhost", who.login))));
    let dest = get("destination", "type").map_or("(none)", |(v, _)| v);
    let path = get("destination", "path")
        .or(get("destination", "arguments"))
        .map(|(v, _)| format!(" {v}"))
        .unwrap_or_default();
    a.notes.push(Note::not(
        get("destination", "type").map(|(_, l)| l),
        format!(
            "destination {dest}{path}: popfetch hands the mail to the MTA ([smtp]) for target; make the MTA deliver \
             it there (getmail delivered locally itself)"
        ),
    ));
    // getmail's default is delete = false: it keeps mail on the server.
    let delete = get("options", "delete").and_then(|(v, _)| truthy(v)) == Some(true);
    if !delete {
        a.keys.push(("keep", Value::Bool(true)));
    }
    for (key, (v, l)) in ini.get("options").unwrap_or(&empty) {
        let note = match key.as_str() {
            "delete" => continue,
            "read_all" if truthy(v) == Some(false) => continue,
            "read_all" => {
                "getmail fetched every message on each run; popfetch fetches only new ones"
            }
            "max_message_size" => {
                match v.parse::<i64>() {
                    Ok(n) if n > 0 => a.keys.push(("max_message_size", Value::Int(n))),
                    _ => {}
                }
                continue;
            }
            "received" if truthy(v) == Some(false) => {
                a.keys.push(("received", Value::Bool(false)));
                continue;
            }
            "delivered_to" => "popfetch adds no Delivered-To field (the MTA's local delivery does)",
            "verbose" | "message_log" | "message_log_syslog" | "message_log_verbose" => {
                "popfetch logs to stderr, journald or syslog"
            }
            _ => "no popfetch equivalent",
        };
        a.notes
            .push(Note::not(*l, format!("[options] {key} = {v}: {note}")));
    }
    for (section, keys) in &ini {
        if section.starts_with("filter") {
            let l = keys.values().map(|(_, l)| *l).min();
            a.notes.push(Note::not(
                l,
                format!("[{section}]: popfetch runs no filters; the MTA can"),
            ));
        }
    }
    for (key, (_, l)) in retr {
        if ![
            "type",
            "server",
            "port",
            "username",
            "password",
            "password_command",
            "ca_certs",
            "ssl_fingerprints",
            "use_apop",
        ]
        .contains(&key.as_str())
        {
            a.notes.push(Note::not(
                *l,
                format!("[retriever] {key}: no popfetch equivalent"),
            ));
        }
    }
    Ok(Plan {
        source: source.to_owned(),
        accounts: vec![a],
        ..Plan::default()
    })
}
