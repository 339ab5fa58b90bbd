//! fetchmail's polls ([`super::Rc`]) → a popfetch [`Plan`]: every setting becomes a popfetch key or a
//! "not translated: why" note. Pure. The meanings follow fetchmail 6.4: without `ssl`, STARTTLS is required
//! (`sslcertck` is the default there), `sslproto ''` turns TLS off; the RCPT TO address is the local name when it
//! holds an `@`, else `smtpname`, else `NAME@` `smtpaddress` or the first `smtphost` or `localhost`.
//!
//! A multidrop poll becomes `[account.multidrop]` (`multidrop.rs`). Accounts whose mail would go somewhere else
//! under popfetch (a multidrop poll it cannot translate, an MDA, LMTP, BSMTP, a protocol other
//! than POP3) or that fetchmail polls only on request (`skip`) are written commented out, with the reason: the
//! configuration then still passes `popfetch check`, and nothing is delivered to a place the user did not choose.

use super::why::WHY;
use super::{Query, Rc, Setting, Settings, Val};
use crate::config::validate_address;
use crate::import::{AccountPlan, Invoker, Note, Plan, SmtpPlan, Value, account_name};

/// popfetch's accepted ranges (src/config/validate/); a value outside is noted, not written.
const INTERVAL_RANGE: (i64, i64) = (10, 7 * 24 * 3600);
const TIMEOUT_RANGE: (i64, i64) = (1, 3600);

/// Keys whose values are secret: never shown in a note.
const SECRET: &[&str] = &["password", "esmtppassword"];

/// Translate a parsed rc file. `source` names it in the output's header comment.
pub(crate) fn plan(rc: &Rc, source: &str, who: &Invoker) -> Plan {
    let mut plan = Plan {
        source: source.to_owned(),
        ..Plan::default()
    };
    let mut daemon = None;
    for g in &rc.globals {
        let why = match (g.name, &g.val) {
            ("daemon", Val::Num(n)) => {
                daemon = Some(*n);
                plan.notes.push(Note::info(
                    g.line,
                    format!(
                        "set daemon {n}: every account polls every {n} seconds (`interval`) under `popfetch daemon`"
                    ),
                ));
                continue;
            }
            ("logfile", _) => {
                "popfetch logs to stderr, or with `popfetch daemon --log journald|syslog`"
            }
            ("syslog", Val::Flag(true)) => "use `popfetch daemon --log syslog` (facility mail)",
            ("syslog", _) => continue,
            ("idfile", Val::Str(p)) => {
                plan.notes.push(Note::not(
                    g.line,
                    format!(
                        "set idfile {}: popfetch keeps one state file per account; import these UIDs with `popfetch \
                         import uids fetchmail {} --account NAME`",
                        shown(p),
                        shown(p)
                    ),
                ));
                continue;
            }
            ("postmaster" | "bouncemail" | "spambounce" | "softbounce", _) => {
                "popfetch never generates bounces: a message the MTA refuses for good stays on the server"
            }
            ("pidfile", _) => "`popfetch daemon` takes a lock in state_dir; systemd tracks its pid",
            ("invisible", _) => {
                "popfetch always adds its own Received field (turn it off per account with received = false)"
            }
            ("showdots", _) => "popfetch shows no progress dots",
            _ => "no popfetch equivalent",
        };
        let no = if g.val == Val::Flag(false) { "no " } else { "" };
        plan.notes
            .push(Note::not(g.line, format!("set {no}{}: {why}", g.name)));
    }
    let mut names = Vec::new();
    for q in &rc.queries {
        let acct = account(q, daemon, who, &names, &mut plan.smtp);
        names.push(acct.name.clone());
        plan.accounts.push(acct);
    }
    plan
}

fn shown(v: &[u8]) -> String {
    String::from_utf8_lossy(v).escape_debug().to_string()
}

fn text(v: &Val) -> Option<String> {
    match v {
        Val::Str(s) => String::from_utf8(s.clone()).ok(),
        _ => None,
    }
}

fn flag(s: &Settings, key: &str) -> Option<bool> {
    match s.get(key)?.val {
        Val::Flag(b) => Some(b),
        _ => None,
    }
}

fn line(s: &Settings, key: &str) -> Option<usize> {
    s.get(key).map(|v| v.line)
}

/// `key value` for a note; secret values are left out.
fn describe(key: &str, v: &Val) -> String {
    if SECRET.contains(&key) {
        return key.to_owned();
    }
    match v {
        Val::Flag(true) => key.to_owned(),
        Val::Flag(false) => format!("no {key}"),
        Val::Num(n) => format!("{key} {n}"),
        Val::Str(s) => format!("{key} {:?}", String::from_utf8_lossy(s)),
        Val::List(l) => format!(
            "{key} {}",
            l.iter().map(|s| shown(s)).collect::<Vec<_>>().join(" ")
        ),
        Val::Names(n) => format!(
            "{key} {}",
            n.iter()
                .map(|(a, b)| match b {
                    Some(b) => format!("{}={}", shown(a), shown(b)),
                    None => shown(a),
                })
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Val::Envelope(skip, h) => format!("{key} {skip} {}", shown(h)),
        Val::Word(w) => format!("{key} {w}"),
    }
}

/// One query → one account.
fn account(
    q: &Query,
    daemon: Option<i64>,
    who: &Invoker,
    taken: &[String],
    smtp: &mut Option<SmtpPlan>,
) -> AccountPlan {
    let s = &q.settings;
    let label = shown(&q.label);
    let mut a = AccountPlan::default();
    let user = match s.get("user").map(|v| text(&v.val)) {
        Some(Some(u)) if !u.is_empty() => u,
        Some(_) => {
            disable(&mut a, "the user name is not UTF-8 text".into());
            String::new()
        }
        None => who.login.clone(),
    };
    let host = match s.get("via") {
        Some(v) => text(&v.val).unwrap_or_default(),
        None => String::from_utf8(q.label.clone()).unwrap_or_default(),
    };
    a.name = account_name(
        &if q.users_in_entry > 1 {
            format!("{label}-{user}")
        } else {
            label.clone()
        },
        taken,
    );
    let verb = if q.skip { "skip" } else { "poll" };
    a.origin = format!(
        "rc {}{}",
        if q.users_in_entry > 1 {
            format!(
                "{} ({verb} {label}) and {} (user {user:?})",
                range(q.entry_lines.0, q.entry_lines.0),
                range(q.user_lines.0, q.user_lines.1)
            )
        } else {
            format!(
                "{}: {verb} {label}, user {user:?}",
                range(q.entry_lines.0, q.entry_lines.1)
            )
        },
        q.defaults_lines
            .map(|d| format!(", with defaults from {}", range(d.0, d.1)))
            .unwrap_or_default()
    );
    if q.skip {
        disable(
            &mut a,
            "skip: fetchmail polls this entry only when it is named on its command line; remove the leading `# ` \
             to poll it"
                .into(),
        );
    }
    if host.is_empty() {
        disable(&mut a, "the server name is not UTF-8 text".into());
    }
    if s.get("user").is_none() {
        a.notes.push(Note::info(
            None,
            format!("no `user`: fetchmail logs in as the user running it ({user:?})"),
        ));
    }

    // Protocol and authentication.
    let mut auth = None;
    match s.get("protocol").map(|v| &v.val) {
        None | Some(Val::Word("pop3")) => {}
        Some(Val::Word("auto")) => a.notes.push(Note::info(
            line(s, "protocol"),
            "protocol auto: popfetch speaks POP3",
        )),
        Some(Val::Word("apop")) => auth = Some("apop"),
        Some(v) => disable(
            &mut a,
            format!(
                "{}: popfetch speaks POP3 with USER/PASS, AUTH PLAIN or APOP only",
                describe("protocol", v)
            ),
        ),
    }
    match s.get("auth").map(|v| &v.val) {
        None | Some(Val::Word("any")) => {}
        Some(Val::Word("password")) => auth = auth.or(Some("user")),
        Some(v) => a.notes.push(Note::not(
            line(s, "auth"),
            format!(
                "{}: popfetch authenticates with USER/PASS, AUTH PLAIN or APOP (auth = \"auto\" picks one)",
                describe("auth", v)
            ),
        )),
    }

    // TLS and port.
    let ssl = flag(s, "ssl") == Some(true);
    let sslproto = s.get("sslproto").and_then(|v| text(&v.val));
    let tls = if ssl {
        "implicit"
    } else if sslproto.as_deref() == Some("") {
        "none"
    } else {
        "stls"
    };
    if let Some(p) = &sslproto
        && !p.is_empty()
    {
        a.notes.push(Note::info(
            line(s, "sslproto"),
            format!("sslproto {p:?}: popfetch negotiates TLS 1.2 or 1.3"),
        ));
    }
    if !ssl && sslproto.is_none() {
        a.notes.push(Note::info(
            None,
            "no `ssl`: fetchmail 6.4 requires STARTTLS (sslcertck is its default), so tls = \"stls\"",
        ));
    }
    let mut port = None;
    if let Some(v) = s.get("service") {
        match text(&v.val).as_deref() {
            Some("pop3") => port = Some(110),
            Some("pop3s") => port = Some(995),
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => port = Some(i64::from(n)),
                _ => a.notes.push(Note::not(
                    v.line,
                    format!("{}: not a port number", describe("service", &v.val)),
                )),
            },
            None => {}
        }
    }
    match flag(s, "sslcertck") {
        Some(false) => a.notes.push(Note::not(
            line(s, "sslcertck"),
            "no sslcertck: popfetch always verifies the server's certificate; if it does not verify, pin it with \
             cert_sha256 (`popfetch check --connect` prints its SHA-256 fingerprint)",
        )),
        Some(true) => a.notes.push(Note::info(
            line(s, "sslcertck"),
            "sslcertck: popfetch always verifies certificates",
        )),
        None => {}
    }
    let ca_file = s.get("sslcertfile").and_then(|v| text(&v.val));

    // Where the mail goes.
    let smtphost = match s.get("smtphost").map(|v| &v.val) {
        Some(Val::List(hosts)) => {
            if hosts.len() > 1 {
                a.notes.push(Note::not(
                    line(s, "smtphost"),
                    format!(
                        "{}: popfetch uses one MTA, the first of the list",
                        describe("smtphost", &Val::List(hosts.clone()))
                    ),
                ));
            }
            hosts.first().map(|h| shown(h))
        }
        _ => None,
    };
    let mut mta = None;
    if let Some(h) = &smtphost {
        if h.starts_with('/') {
            disable(
                &mut a,
                format!(
                    "smtphost {h}: an LMTP socket; delivery over LMTP is not in this popfetch yet"
                ),
            );
        } else {
            let (host, port) = match h.split_once('/') {
                Some((host, port)) => (host.to_owned(), port.parse::<u16>().ok()),
                None => (h.clone(), None),
            };
            mta = Some(SmtpPlan { host, port });
        }
    }
    for (key, why) in [
        ("lmtp", "delivery over LMTP is not in this popfetch yet"),
        ("bsmtp", "writing BSMTP files is not supported"),
    ] {
        if let Some(v) = s.get(key)
            && v.val != Val::Flag(false)
        {
            disable(&mut a, format!("{}: {why}", describe(key, &v.val)));
        }
    }
    let mut multidrop = Vec::new();
    let local = match s.get("localnames").map(|v| &v.val) {
        None => Some(who.login.clone()),
        Some(Val::Names(names))
            if names.len() == 1 && names[0].1.is_none() && names[0].0 != b"*" =>
        {
            String::from_utf8(names[0].0.clone()).ok()
        }
        Some(Val::Names(names)) => {
            match super::multidrop::translate(s, names) {
                Ok((keys, notes)) => {
                    multidrop = keys;
                    a.notes.extend(notes);
                }
                Err(why) => disable(&mut a, why),
            }
            None
        }
        Some(v) => {
            disable(
                &mut a,
                format!("{}: not a list of local names", describe("local names", v)),
            );
            None
        }
    };
    if !multidrop.is_empty()
        && let Some(v) = s.get("mda")
    {
        disable(
            &mut a,
            format!(
                "{} with a multidrop poll: popfetch's multidrop delivers over SMTP or LMTP (let the MTA run the MDA)",
                describe("mda", &v.val)
            ),
        );
    }
    let mda = match (s.get("mda"), &local) {
        (Some(v), Some(name)) => match text(&v.val)
            .ok_or("not a command")
            .and_then(|cmd| mda_argv(&cmd, name))
        {
            Ok(argv) => Some((argv, text(&v.val).is_some_and(|c| c.contains("%T")))),
            Err(why) => {
                disable(&mut a, format!("{}: {why}", describe("mda", &v.val)));
                None
            }
        },
        _ => None,
    };
    let target = local.map(|local| {
        if local.contains('@') {
            local
        } else if let Some(name) = s.get("smtpname").and_then(|v| text(&v.val)) {
            name
        } else {
            let domain = s
                .get("smtpaddress")
                .and_then(|v| text(&v.val))
                .or_else(|| mta.as_ref().map(|m| m.host.clone()))
                .unwrap_or_else(|| "localhost".into());
            format!("{local}@{domain}")
        }
    });
    if let Some(t) = &target
        && let Err(why) = validate_address(t)
    {
        disable(
            &mut a,
            format!("recipient {t:?} is not a valid address ({why})"),
        );
    }
    // Only a live account names the MTA: a commented-out one may name an LMTP server.
    if let Some(m) = mta.filter(|_| a.disabled.is_none()) {
        match smtp {
            None => *smtp = Some(m),
            Some(first) if *first == m => {}
            Some(first) => a.notes.push(Note::not(
                line(s, "smtphost"),
                format!(
                    "smtphost {}: popfetch has one [smtp] for all accounts ({} is used)",
                    m.host, first.host
                ),
            )),
        }
    }

    // Everything else, in line order.
    let mut keep = false;
    let mut drop_all = false;
    let mut max_size = None;
    let mut timeout = None;
    let mut interval = None;
    let mut rest: Vec<(&str, &Setting)> = s.iter().map(|(k, v)| (*k, v)).collect();
    rest.sort_by_key(|(k, v)| (v.line, *k));
    for (key, v) in rest {
        let at = v.line;
        match (key, &v.val) {
            ("keep", Val::Flag(b)) => keep = *b,
            ("dropdelivered", Val::Flag(b)) => drop_all = *b,
            ("limit", Val::Num(n)) if *n > 0 => max_size = Some(*n),
            ("timeout", Val::Num(n)) => {
                if (TIMEOUT_RANGE.0..=TIMEOUT_RANGE.1).contains(n) {
                    timeout = Some(*n);
                } else {
                    a.notes.push(Note::not(
                        at,
                        format!("timeout {n}: popfetch accepts 1 to 3600 seconds"),
                    ));
                }
            }
            ("interval", Val::Num(n)) => match daemon {
                Some(d) => interval = Some(d.saturating_mul((*n).max(1))),
                None => a.notes.push(Note::not(
                    at,
                    format!(
                        "interval {n}: counts `set daemon` cycles, and there is no `set daemon`"
                    ),
                )),
            },
            // Translated into [account.multidrop] above.
            ("envelope" | "localdomains", _) if !multidrop.is_empty() => {}
            ("uidl", _) => a
                .notes
                .push(Note::info(at, "uidl: popfetch always uses UIDL")),
            (k, v) if !matches!(v, Val::Flag(false)) => {
                if let Some((_, why)) = WHY.iter().find(|(w, _)| *w == k) {
                    a.notes
                        .push(Note::not(at, format!("{}: {why}", describe(k, v))));
                }
            }
            _ => {}
        }
    }
    if interval.is_none() {
        interval = daemon;
    }
    if let Some(i) = interval
        && !(INTERVAL_RANGE.0..=INTERVAL_RANGE.1).contains(&i)
    {
        a.notes.push(Note::not(
            None,
            format!("poll interval {i} s: popfetch accepts 10 s to 7 days"),
        ));
        interval = None;
    }

    // The keys, in the order of the manual.
    a.keys.push(("name", Value::Str(a.name.clone())));
    a.keys.push(("host", Value::Str(host)));
    if let Some(p) = port {
        a.keys.push(("port", Value::Int(p)));
    }
    a.keys.push(("tls", Value::Str(tls.into())));
    if let Some(ca) = ca_file {
        if tls == "none" {
            a.notes.push(Note::not(
                line(s, "sslcertfile"),
                "sslcertfile: no TLS with sslproto ''",
            ));
        } else {
            a.keys.push(("ca_file", Value::Str(ca)));
        }
    }
    a.keys.push(("user", Value::Str(user)));
    if let Some(v) = s.get("password") {
        if let Val::Str(p) = &v.val {
            a.password = Some(p.clone());
        }
    } else if let Some(path) = s.get("passwordfile").and_then(|v| text(&v.val)) {
        a.keys.push(("password_file", Value::Str(path)));
    }
    if let Some(m) = auth {
        a.keys.push(("auth", Value::Str(m.into())));
    }
    if tls == "none" {
        a.keys.push(("allow_plaintext_password", Value::Bool(true)));
        a.notes.push(Note::info(
            line(s, "sslproto"),
            "sslproto '': no TLS, so the password travels unencrypted (allow_plaintext_password)",
        ));
    }
    if let Some(t) = target {
        a.keys.push(("target", Value::Str(t)));
    }
    a.keys.extend(multidrop);
    if let Some((argv, local_t)) = mda {
        a.keys.push(("delivery", Value::Str("mda".into())));
        a.keys.push(("mda", Value::List(argv)));
        let t = if local_t {
            "; fetchmail's %T (the local name, not popfetch's target address) is written out"
        } else {
            ""
        };
        a.notes.push(Note::info(
            line(s, "mda"),
            format!("mda: an argument list, run without a shell{t}"),
        ));
    }
    if keep {
        a.keys.push(("keep", Value::Bool(true)));
    }
    if let Some(i) = interval {
        a.keys.push(("interval", Value::Int(i)));
    }
    if let Some(t) = timeout {
        a.keys.push(("timeout", Value::Int(t)));
    }
    if drop_all {
        a.keys.push(("drop_delivered_to", Value::Str("all".into())));
    }
    if let Some(n) = max_size {
        a.keys.push(("max_message_size", Value::Int(n)));
    }
    a
}

/// fetchmail's `mda` string as popfetch's argv. fetchmail runs the string through `/bin/sh -c` with `%T` replaced by
/// the local recipient's name (not an address) and `%F` by the sender; popfetch runs an argument list without a
/// shell and its `%T` is the target address. So a command of plain words is split on white space, `%T` written
/// out as `local`, `%F` and `%%` kept; one that needs the shell (quotes, pipes, redirections, variables, globs)
/// or another placeholder is left for a person.
fn mda_argv(cmd: &str, local: &str) -> Result<Vec<String>, &'static str> {
    const SHELL: &[char] = &[
        '|', '&', ';', '<', '>', '(', ')', '$', '`', '\\', '"', '\'', '*', '?', '[', ']', '{', '}',
        '~', '#', '=',
    ];
    if cmd.contains(SHELL) || cmd.contains(['\n', '\r']) {
        return Err(
            "uses the shell (fetchmail runs it with /bin/sh); write mda = [\"program\", \"arg\", ...] by hand",
        );
    }
    let argv: Vec<String> = cmd
        .split_whitespace()
        .map(|w| w.replace("%T", local))
        .collect();
    if argv.is_empty() {
        return Err("is empty");
    }
    if argv
        .iter()
        .any(|w| crate::config::check_placeholders(w).is_err())
    {
        return Err("has a % placeholder popfetch does not know (it has %T, %F and %%)");
    }
    Ok(argv)
}

/// Write the account commented out, for the first reason found.
fn disable(a: &mut AccountPlan, why: String) {
    if a.disabled.is_none() {
        a.disabled = Some(why);
    }
}

/// `line 3` or `lines 3-7`.
fn range(a: usize, b: usize) -> String {
    if a == b {
        format!("line {a}")
    } else {
        format!("lines {a}-{b}")
    }
}
