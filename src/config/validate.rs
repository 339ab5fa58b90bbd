//! Phase two: [`RawConfig`] → [`Config`]. Applies defaults and checks every value, collecting all problems
//! instead of stopping at the first, each located by the span of the value (or of the table it is missing from).

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::error::Issue;
use super::raw::{RawAccount, RawConfig, RawSmtp, Str};
use super::{
    Account, AuthMethod, BatchLimit, Config, Defaults, DropDeliveredTo, PasswordSource, SmtpConfig,
    TlsMode,
};
use super::{delivery, multidrop, oauth};
use crate::secret::Secret;

/// `interval` bounds (seconds): below 10 s a daemon hammers the server; a week is the longest sane period.
const INTERVAL_RANGE: (i64, i64) = (10, 7 * 24 * 3600);
/// `stale_after` bounds (seconds): a minute up to 90 days.
const STALE_AFTER_RANGE: (i64, i64) = (60, 90 * 24 * 3600);
/// `[smtp] batch_limit` bounds: 0 is "no limit" (fetchmail's `batchlimit 0`).
const BATCH_LIMIT_RANGE: (i64, i64) = (0, 1_000_000);
/// `timeout` bounds (seconds).
const TIMEOUT_RANGE: (i64, i64) = (1, 3600);
const DEFAULT_MAX_MESSAGE_SIZE: u64 = 64 * 1024 * 1024;
/// Longest accepted `user`; RFC 2449 §4 limits a command line to 255 octets.
const MAX_USER_LEN: usize = 240;

/// Checks an envelope address as it will appear in `MAIL FROM:<...>` / `RCPT TO:<...>` (design invariant 6):
/// printable ASCII only (so no CR, LF, NUL, space or tab), no `<` or `>`, exactly one `@` with something on each
/// side, at most 254 characters (RFC 5321 §4.5.3.1.3 path limit less the brackets).
///
/// # Errors
/// A short reason, fit to follow "not a valid address".
pub fn validate_address(addr: &str) -> Result<(), &'static str> {
    if addr.is_empty() {
        return Err("it is empty");
    }
    if addr.len() > 254 {
        return Err("longer than 254 characters");
    }
    for c in addr.chars() {
        match c {
            '\r' | '\n' => return Err("contains a line break"),
            '\0' => return Err("contains a NUL character"),
            ' ' | '\t' => return Err("contains white space"),
            '<' | '>' => {
                return Err("contains `<` or `>`; write the bare address without angle brackets");
            }
            c if !c.is_ascii() => return Err("contains non-ASCII characters"),
            c if c.is_ascii_control() => return Err("contains a control character"),
            _ => {}
        }
    }
    match addr.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            Ok(())
        }
        _ => Err("must be local-part@domain with exactly one `@`"),
    }
}

/// A host name or IP literal fit for `connect()` and logs: ASCII letters, digits and `.-_:[]`, at most 253.
pub(crate) fn is_host_like(s: &str) -> bool {
    (1..=253).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:[]".contains(&b))
}

/// A name fit for EHLO (RFC 5321 §4.1.1.1): a domain, or an address literal in brackets.
pub(crate) fn is_domain_like(s: &str) -> bool {
    if let Some(lit) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return !lit.is_empty()
            && lit
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b".:".contains(&b) || b == b'v');
    }
    (1..=253).contains(&s.len())
        && !s.starts_with(['.', '-'])
        && !s.contains("..")
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
}

/// Collects problems for one section.
pub(crate) struct Checker<'a> {
    pub(crate) issues: &'a mut Vec<Issue>,
    label: String,
    /// Config file, to anchor relative paths.
    source: &'a Path,
}

impl Checker<'_> {
    pub(crate) fn err(&mut self, span: Range<usize>, key: &str, message: impl Into<String>) {
        self.issues
            .push(Issue::new(span, &self.label, Some(key), message));
    }

    /// A required key; `whole` locates the table it is missing from.
    pub(crate) fn required<'v>(
        &mut self,
        v: &'v Option<Str>,
        whole: &Range<usize>,
        key: &str,
    ) -> Option<&'v Str> {
        if v.is_none() {
            self.err(whole.clone(), key, "missing (required)");
        }
        v.as_ref()
    }

    pub(crate) fn choice<T: Copy>(
        &mut self,
        v: &Option<Str>,
        key: &str,
        choices: &[(&str, T)],
        default: T,
    ) -> T {
        self.choice_opt(v, key, choices).unwrap_or(default)
    }

    /// [`Checker::choice`] without a default: `None` when absent or invalid (recorded).
    pub(crate) fn choice_opt<T: Copy>(
        &mut self,
        v: &Option<Str>,
        key: &str,
        choices: &[(&str, T)],
    ) -> Option<T> {
        let s = v.as_ref()?;
        match choices.iter().find(|(name, _)| *name == s.get_ref()) {
            Some((_, val)) => Some(*val),
            None => {
                let names: Vec<String> = choices.iter().map(|(n, _)| format!("\"{n}\"")).collect();
                self.err(
                    s.span(),
                    key,
                    format!("{:?} is not one of {}", s.get_ref(), names.join(", ")),
                );
                None
            }
        }
    }

    pub(crate) fn int_in(
        &mut self,
        v: &Option<Spanned<i64>>,
        key: &str,
        (lo, hi): (i64, i64),
        default: i64,
    ) -> i64 {
        let Some(n) = v else { return default };
        let n_val = *n.get_ref();
        if (lo..=hi).contains(&n_val) {
            n_val
        } else {
            self.err(
                n.span(),
                key,
                format!("{n_val} is out of range; it must be between {lo} and {hi}"),
            );
            default
        }
    }

    pub(crate) fn port(&mut self, v: &Option<Spanned<i64>>, key: &str, default: u16) -> u16 {
        u16::try_from(self.int_in(v, key, (1, 65535), i64::from(default))).unwrap_or(default)
    }

    pub(crate) fn host(&mut self, s: &Str, key: &str) -> String {
        if !is_host_like(s.get_ref()) {
            self.err(s.span(), key, "not a valid host name or IP address");
        }
        s.get_ref().clone()
    }

    fn address(&mut self, s: &Str, key: &str) -> String {
        if let Err(why) = validate_address(s.get_ref()) {
            self.err(s.span(), key, format!("not a valid address ({why})"));
        }
        s.get_ref().clone()
    }

    /// A `cert_sha256` value: 64 hexadecimal digits, colons allowed; `None` when absent or invalid (recorded).
    pub(crate) fn pin(&mut self, v: &Option<Str>, key: &str) -> Option<[u8; 32]> {
        let p = v.as_ref()?;
        let pin = parse_sha256(p.get_ref());
        if pin.is_none() {
            self.err(
                p.span(),
                key,
                "must be 64 hexadecimal digits (colons allowed)",
            );
        }
        pin
    }

    /// A file path; relative paths are taken from the directory holding the config file, so that the meaning of
    /// the file does not depend on the directory cron happens to start popfetch in.
    pub(crate) fn path(&mut self, s: &Str, key: &str) -> PathBuf {
        let text = s.get_ref();
        if text.is_empty() {
            self.err(s.span(), key, "is empty");
        } else if text == "~" || text.starts_with("~/") {
            self.err(s.span(), key, "`~` is not expanded; write the full path");
        } else if text.contains('\0') {
            self.err(s.span(), key, "contains a NUL character");
        }
        let p = PathBuf::from(text);
        if p.is_absolute() {
            p
        } else {
            self.source.parent().unwrap_or(Path::new("")).join(p)
        }
    }

    /// A string that goes onto a POP3 command line: a CR or LF would inject a command (T-24).
    pub(crate) fn no_line_breaks(&mut self, s: &Str, key: &str) {
        if s.get_ref().contains(['\r', '\n', '\0']) {
            self.err(
                s.span(),
                key,
                "contains CR, LF or NUL, which cannot be sent in a POP3 command",
            );
        }
    }
}

/// Validate a raw config into a [`Config`], or return every problem found, after those of phase one (`issues`).
pub(crate) fn validate(
    raw: RawConfig,
    mut issues: Vec<Issue>,
    source: &Path,
    defaults: &Defaults,
) -> Result<Config, Vec<Issue>> {
    let mut top = Checker {
        issues: &mut issues,
        label: String::new(),
        source,
    };
    let state_dir = match &raw.state_dir {
        Some(s) => Some(top.path(s, "state_dir")),
        None => {
            if defaults.state_dir.is_none() {
                top.err(
                    0..0,
                    "state_dir",
                    "no default is known here (HOME is not set); set state_dir",
                );
            }
            defaults.state_dir.clone()
        }
    };
    let metrics_file = raw
        .metrics_file
        .as_ref()
        .map(|s| top.path(s, "metrics_file"));
    let stale_after = raw.stale_after.as_ref().map(|_| {
        Duration::from_secs(
            top.int_in(&raw.stale_after, "stale_after", STALE_AFTER_RANGE, 0)
                .unsigned_abs(),
        )
    });
    if raw.account_tables == 0 {
        top.err(
            raw.accounts_span.clone(),
            "account",
            "no account is configured; add an `[[account]]` table",
        );
    }
    let smtp = smtp(raw.smtp.unwrap_or_default(), defaults, &mut issues, source);

    let mut accounts = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (index, acct) in raw.accounts.into_iter().enumerate() {
        let label = match &acct.get_ref().name {
            Some(n) => format!("account {:?}", n.get_ref()),
            None => format!("account[{index}]"),
        };
        let mut c = Checker {
            issues: &mut issues,
            label,
            source,
        };
        if let Some(n) = &acct.get_ref().name {
            // Names are compared ignoring case: they name state files, and two files differing only in case
            // are a trap on case-insensitive file systems and for the reader.
            let folded = n.get_ref().to_ascii_lowercase();
            if let Some(first) = seen.get(&folded) {
                c.err(
                    n.span(),
                    "name",
                    format!("already used by account[{first}]; names must be unique"),
                );
            } else {
                seen.insert(folded, index);
            }
        }
        if let Some(a) = account(acct, &mut c) {
            accounts.push(a);
        }
    }
    match state_dir {
        Some(state_dir) if issues.is_empty() => Ok(Config {
            state_dir,
            metrics_file,
            stale_after,
            smtp,
            accounts,
        }),
        _ => Err(issues),
    }
}

fn smtp(raw: RawSmtp, defaults: &Defaults, issues: &mut Vec<Issue>, source: &Path) -> SmtpConfig {
    let mut c = Checker {
        issues,
        label: "[smtp]".to_owned(),
        source,
    };
    let host = match &raw.host {
        Some(h) => c.host(h, "host"),
        None => "127.0.0.1".to_owned(),
    };
    let port = c.port(&raw.port, "port", 25);
    let helo_name = match &raw.helo_name {
        Some(h) => {
            if !is_domain_like(h.get_ref()) {
                c.err(
                    h.span(),
                    "helo_name",
                    "not a domain name or [address literal] (RFC 5321 §4.1.1.1)",
                );
            }
            h.get_ref().clone()
        }
        None => defaults.helo_name.clone(),
    };
    let batch_limit = c.int_in(&raw.batch_limit, "batch_limit", BATCH_LIMIT_RANGE, 0);
    SmtpConfig {
        host,
        port,
        helo_name,
        batch_limit: BatchLimit::new(u32::try_from(batch_limit).unwrap_or(0)),
    }
}

/// Validate one account; `None` when it has problems (already recorded).
fn account(acct: Spanned<RawAccount>, c: &mut Checker<'_>) -> Option<Account> {
    let whole = acct.span();
    let r = acct.into_inner();
    let before = c.issues.len();

    let name = c.required(&r.name, &whole, "name").map(|n| {
        let s = n.get_ref();
        let ok = (1..=64).contains(&s.len())
            && !s.starts_with('.')
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !ok {
            c.err(
                n.span(),
                "name",
                "must be 1 to 64 of A-Z a-z 0-9 . _ - and not start with `.` (it names the state file)",
            );
        }
        s.clone()
    });
    let host = c
        .required(&r.host, &whole, "host")
        .map(|h| c.host(h, "host"));
    let tls = c.choice(
        &r.tls,
        "tls",
        &[
            ("implicit", TlsMode::Implicit),
            ("stls", TlsMode::Stls),
            ("none", TlsMode::None),
        ],
        TlsMode::Implicit,
    );
    let port = c.port(
        &r.port,
        "port",
        if tls == TlsMode::Implicit { 995 } else { 110 },
    );
    let ca_file = r.ca_file.as_ref().map(|p| c.path(p, "ca_file"));
    let cert_sha256 = c.pin(&r.cert_sha256, "cert_sha256");
    for (key, span) in [
        ("ca_file", r.ca_file.as_ref().map(Spanned::span)),
        ("cert_sha256", r.cert_sha256.as_ref().map(Spanned::span)),
    ] {
        if let (Some(span), TlsMode::None) = (span, tls) {
            c.err(
                span,
                key,
                "has no effect with tls = \"none\"; remove it or enable TLS",
            );
        }
    }
    if let (Some(_), Some(pin)) = (&r.ca_file, &r.cert_sha256) {
        c.err(
            pin.span(),
            "cert_sha256",
            "set either ca_file or cert_sha256, not both",
        );
    }
    let user = c.required(&r.user, &whole, "user").map(|u| {
        c.no_line_breaks(u, "user");
        if u.get_ref().is_empty() || u.get_ref().len() > MAX_USER_LEN {
            c.err(
                u.span(),
                "user",
                format!("must be 1 to {MAX_USER_LEN} bytes long"),
            );
        }
        u.get_ref().clone()
    });
    let auth = c.choice(
        &r.auth,
        "auth",
        &[
            ("auto", AuthMethod::Auto),
            ("user", AuthMethod::User),
            ("plain", AuthMethod::Plain),
            ("apop", AuthMethod::Apop),
            ("xoauth2", AuthMethod::XOAuth2),
            ("oauthbearer", AuthMethod::OAuthBearer),
        ],
        AuthMethod::Auto,
    );
    let oauth2 = oauth::check(&r, auth, &whole, c);
    let password = if oauth::is_oauth(auth) {
        None
    } else {
        password_source(
            PasswordKeys {
                prefix: "",
                password: &r.password,
                file: &r.password_file,
                command: &r.password_command,
            },
            &whole,
            c,
        )
    };
    // Design: no password over an unencrypted link unless the config says so in words. APOP is included: its
    // MD5 digest of a known challenge is open to offline guessing.
    let allow_plaintext_password = r
        .allow_plaintext_password
        .as_ref()
        .is_some_and(|b| *b.get_ref());
    match (&r.allow_plaintext_password, tls) {
        (_, TlsMode::None) if !allow_plaintext_password => {
            let span = r.tls.as_ref().map_or(whole.clone(), Spanned::span);
            c.err(
                span,
                "tls",
                "\"none\" would send the password unencrypted; add `allow_plaintext_password = true` to this \
                 account if that is really wanted, or use tls = \"implicit\" or \"stls\"",
            );
        }
        (Some(b), TlsMode::Implicit | TlsMode::Stls) if *b.get_ref() => c.err(
            b.span(),
            "allow_plaintext_password",
            "has no effect unless tls = \"none\"; remove it",
        ),
        _ => {}
    }
    let multidrop = multidrop::check(&r, c);
    let target = match &r.multidrop {
        // Recipients come from each message (issue 15); `multidrop::check` reports a target set beside it.
        Some(_) => Some(String::new()),
        None => c
            .required(&r.target, &whole, "target")
            .map(|t| c.address(t, "target")),
    };
    let keep = r.keep.as_ref().is_some_and(|b| *b.get_ref());
    let interval = c.int_in(&r.interval, "interval", INTERVAL_RANGE, 300);
    let timeout = c.int_in(&r.timeout, "timeout", TIMEOUT_RANGE, 60);
    let drop_delivered_to = c.choice(
        &r.drop_delivered_to,
        "drop_delivered_to",
        &[
            ("matching", DropDeliveredTo::Matching),
            ("all", DropDeliveredTo::All),
            ("none", DropDeliveredTo::None),
        ],
        DropDeliveredTo::Matching,
    );
    let mut strip_delivered_to = Vec::new();
    if let Some(list) = &r.strip_delivered_to {
        for a in list.get_ref() {
            strip_delivered_to.push(c.address(a, "strip_delivered_to").to_ascii_lowercase());
        }
        if !list.get_ref().is_empty() && drop_delivered_to != DropDeliveredTo::Matching {
            c.err(
                list.span(),
                "strip_delivered_to",
                "is only used with drop_delivered_to = \"matching\"; remove it",
            );
        }
    }
    let received = r.received.as_ref().is_none_or(|b| *b.get_ref());
    let max_message_size = match &r.max_message_size {
        Some(n) => u64::try_from(*n.get_ref())
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or_else(|| {
                c.err(
                    n.span(),
                    "max_message_size",
                    "must be a positive number of bytes",
                );
                DEFAULT_MAX_MESSAGE_SIZE
            }),
        None => DEFAULT_MAX_MESSAGE_SIZE,
    };
    let envelope_from_fallback = r
        .envelope_from_fallback
        .as_ref()
        .map(|a| c.address(a, "envelope_from_fallback"));
    let delivery = delivery::check(&r, &whole, c);

    if c.issues.len() > before {
        return None;
    }
    Some(Account {
        name: name?,
        host: host?,
        port,
        tls,
        ca_file,
        cert_sha256,
        user: user?,
        password,
        oauth2,
        auth,
        allow_plaintext_password,
        target: target?,
        keep,
        interval: Duration::from_secs(interval.unsigned_abs()),
        timeout: Duration::from_secs(timeout.unsigned_abs()),
        drop_delivered_to,
        strip_delivered_to,
        received,
        max_message_size,
        envelope_from_fallback,
        delivery: delivery?,
        multidrop,
    })
}

/// The three password keys of a table: the account's, or `[account.imap]`'s (`prefix` = `"imap."`).
pub(crate) struct PasswordKeys<'a> {
    pub prefix: &'a str,
    pub password: &'a Option<Str>,
    pub file: &'a Option<Str>,
    pub command: &'a Option<Spanned<Vec<Str>>>,
}

/// Exactly one of `password`, `password_file`, `password_command`.
pub(crate) fn password_source(
    k: PasswordKeys<'_>,
    whole: &Range<usize>,
    c: &mut Checker<'_>,
) -> Option<PasswordSource> {
    let key = |name: &str| format!("{}{name}", k.prefix);
    let mut given: Vec<(&str, Range<usize>)> = [
        ("password", k.password.as_ref().map(Spanned::span)),
        ("password_file", k.file.as_ref().map(Spanned::span)),
        ("password_command", k.command.as_ref().map(Spanned::span)),
    ]
    .into_iter()
    .filter_map(|(k, s)| Some((k, s?)))
    .collect();
    given.sort_by_key(|(_, span)| span.start);
    match given.as_slice() {
        [] => {
            c.err(
                whole.clone(),
                &key("password"),
                "missing: set one of password, password_file or password_command",
            );
            return None;
        }
        [_] => {}
        [(first, _), rest @ ..] => {
            for (name, span) in rest {
                c.err(
                    span.clone(),
                    &key(name),
                    format!("{first} is set already; set only one of password, password_file or password_command"),
                );
            }
            return None;
        }
    }
    if let Some(p) = k.password {
        c.no_line_breaks(p, &key("password"));
        if p.get_ref().is_empty() {
            c.err(p.span(), &key("password"), "is empty");
        }
        return Some(PasswordSource::Inline(Secret::new(p.get_ref().clone())));
    }
    if let Some(p) = k.file {
        return Some(PasswordSource::File(c.path(p, &key("password_file"))));
    }
    let argv = k.command.as_ref()?;
    let args: Vec<String> = argv.get_ref().iter().map(|a| a.get_ref().clone()).collect();
    if args.first().is_none_or(String::is_empty) {
        c.err(
            argv.span(),
            &key("password_command"),
            "must be a non-empty array: [\"program\", \"arg\", ...]",
        );
    } else if args.iter().any(|a| a.contains('\0')) {
        c.err(
            argv.span(),
            &key("password_command"),
            "contains a NUL character",
        );
    }
    Some(PasswordSource::Command(args))
}

/// `cert_sha256`: 64 hex digits, optionally separated by colons as `openssl x509 -fingerprint` prints them.
pub(crate) fn parse_sha256(s: &str) -> Option<[u8; 32]> {
    let hex: Vec<u8> = s.bytes().filter(|b| *b != b':').collect();
    if hex.len() != 64 || !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        let pair = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}
