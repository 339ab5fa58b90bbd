//! Phase one: TOML text → [`RawConfig`], a 1:1 serde mirror of the file in which every value keeps its byte span.
//!
//! The sections are deserialized one by one from toml's spanned document tree instead of in one `from_str` call:
//! serde stops at the first error, and a user fixing a file wants every unknown key and mistyped value of every
//! account at once. Within a section `deny_unknown_fields` does the rejecting. Enumerations stay strings here so
//! that a bad value becomes a collected validation problem with the list of accepted values.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::error::Issue;

/// Keys accepted by the parser, as `section.key`; checked against the serde structs by a test.
pub(crate) const KNOWN_KEYS: &[&str] = &[
    "state_dir",
    "metrics_file",
    "stale_after",
    "smtp.host",
    "smtp.port",
    "smtp.helo_name",
    "smtp.batch_limit",
    "smtp.smtp_connections",
    "account.name",
    "account.host",
    "account.port",
    "account.tls",
    "account.ca_file",
    "account.cert_sha256",
    "account.user",
    "account.password",
    "account.password_file",
    "account.password_command",
    "account.auth",
    "account.allow_plaintext_password",
    "account.target",
    "account.keep",
    "account.interval",
    "account.timeout",
    "account.drop_delivered_to",
    "account.strip_delivered_to",
    "account.received",
    "account.max_message_size",
    "account.envelope_from_fallback",
    "account.delivery",
    "account.lmtp",
    "account.mda",
    "account.mda_timeout",
    "account.maildir",
    "account.imap.host",
    "account.imap.port",
    "account.imap.tls",
    "account.imap.ca_file",
    "account.imap.cert_sha256",
    "account.imap.user",
    "account.imap.password",
    "account.imap.password_file",
    "account.imap.password_command",
    "account.imap.folder",
    "account.imap.flags",
    "account.imap.auth",
    "account.imap.oauth2.provider",
    "account.imap.oauth2.authorization_url",
    "account.imap.oauth2.token_url",
    "account.imap.oauth2.device_authorization_url",
    "account.imap.oauth2.scopes",
    "account.imap.oauth2.client_id",
    "account.imap.oauth2.client_secret",
    "account.imap.oauth2.client_secret_file",
    "account.oauth2.provider",
    "account.oauth2.authorization_url",
    "account.oauth2.token_url",
    "account.oauth2.device_authorization_url",
    "account.oauth2.scopes",
    "account.oauth2.client_id",
    "account.oauth2.client_secret",
    "account.oauth2.client_secret_file",
    "account.multidrop.envelope_header",
    "account.multidrop.domains",
    "account.multidrop.map",
    "account.multidrop.fallback",
];

const TOP_LEVEL_KEYS: &[&str] = &[
    "state_dir",
    "metrics_file",
    "stale_after",
    "smtp",
    "account",
];

/// A string value with its span.
pub(crate) type Str = Spanned<String>;

/// The whole file.
#[derive(Debug, Default)]
pub(crate) struct RawConfig {
    pub state_dir: Option<Str>,
    pub metrics_file: Option<Str>,
    pub stale_after: Option<Spanned<i64>>,
    pub smtp: Option<RawSmtp>,
    /// Each `[[account]]` with the span of its table (for "missing key" problems).
    pub accounts: Vec<Spanned<RawAccount>>,
    /// How many `[[account]]` tables the file has, including any that failed to deserialize.
    pub account_tables: usize,
    /// Where the `account` key was (or the start of the file when absent).
    pub accounts_span: Range<usize>,
}

/// `[smtp]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSmtp {
    pub host: Option<Str>,
    pub port: Option<Spanned<i64>>,
    pub helo_name: Option<Str>,
    pub batch_limit: Option<Spanned<i64>>,
    pub smtp_connections: Option<Spanned<i64>>,
}

/// One `[[account]]`. Integers are `i64` so that a negative value is a validation problem with a useful message.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAccount {
    pub name: Option<Str>,
    pub host: Option<Str>,
    pub port: Option<Spanned<i64>>,
    pub tls: Option<Str>,
    pub ca_file: Option<Str>,
    pub cert_sha256: Option<Str>,
    pub user: Option<Str>,
    pub password: Option<Str>,
    pub password_file: Option<Str>,
    pub password_command: Option<Spanned<Vec<Str>>>,
    pub auth: Option<Str>,
    pub allow_plaintext_password: Option<Spanned<bool>>,
    pub target: Option<Str>,
    pub keep: Option<Spanned<bool>>,
    pub interval: Option<Spanned<i64>>,
    pub timeout: Option<Spanned<i64>>,
    pub drop_delivered_to: Option<Str>,
    pub strip_delivered_to: Option<Spanned<Vec<Str>>>,
    pub received: Option<Spanned<bool>>,
    pub max_message_size: Option<Spanned<i64>>,
    pub envelope_from_fallback: Option<Str>,
    pub delivery: Option<Str>,
    pub lmtp: Option<Str>,
    pub mda: Option<Spanned<Vec<Str>>>,
    pub mda_timeout: Option<Spanned<i64>>,
    pub maildir: Option<Str>,
    pub imap: Option<Spanned<RawImap>>,
    pub oauth2: Option<Spanned<RawOAuth2>>,
    pub multidrop: Option<Spanned<super::multidrop::RawMultidrop>>,
}

/// `[account.imap]` (issue 14).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawImap {
    pub host: Option<Str>,
    pub port: Option<Spanned<i64>>,
    pub tls: Option<Str>,
    pub ca_file: Option<Str>,
    pub cert_sha256: Option<Str>,
    pub user: Option<Str>,
    pub password: Option<Str>,
    pub password_file: Option<Str>,
    pub password_command: Option<Spanned<Vec<Str>>>,
    pub folder: Option<Str>,
    pub flags: Option<Spanned<Vec<Str>>>,
    pub auth: Option<Str>,
    pub oauth2: Option<Spanned<RawOAuth2>>,
}

/// `[account.oauth2]` (issue 13).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOAuth2 {
    pub provider: Option<Str>,
    pub authorization_url: Option<Str>,
    pub token_url: Option<Str>,
    pub device_authorization_url: Option<Str>,
    pub scopes: Option<Spanned<Vec<Str>>>,
    pub client_id: Option<Str>,
    pub client_secret: Option<Str>,
    pub client_secret_file: Option<Str>,
}

/// Parse `text` into a [`RawConfig`] and the type and unknown-key problems found on the way (the sections they
/// are in are left out or trimmed, so validation can go on and report more); `Err` holds syntax errors, after
/// which nothing else is checked.
pub(crate) fn parse(text: &str) -> Result<(RawConfig, Vec<Issue>), Vec<Issue>> {
    let (root, syntax) = DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        // A half-parsed document would produce misleading follow-up problems (missing keys and the like).
        return Err(syntax
            .into_iter()
            .map(|e| Issue::new(e.span().unwrap_or(0..0), "", None, e.message()))
            .collect());
    }
    let mut issues = Vec::new();
    let mut raw = RawConfig::default();
    for (key, value) in root.into_inner() {
        let key_span = key.span();
        match key.get_ref().as_ref() {
            "state_dir" => {
                raw.state_dir = section::<Str>(value, None, "", Some("state_dir"), &mut issues)
            }
            "metrics_file" => {
                raw.metrics_file =
                    section::<Str>(value, None, "", Some("metrics_file"), &mut issues)
            }
            "stale_after" => {
                raw.stale_after =
                    section::<Spanned<i64>>(value, None, "", Some("stale_after"), &mut issues)
            }
            "smtp" => {
                if !value.get_ref().is_table() {
                    issues.push(Issue::new(
                        key_span,
                        "",
                        Some("smtp"),
                        "must be a table: write `[smtp]`",
                    ));
                } else {
                    raw.smtp = section::<RawSmtp>(value, Some("smtp"), "[smtp]", None, &mut issues);
                }
            }
            "account" => {
                raw.accounts_span = key_span.clone();
                let span = value.span();
                match value.into_inner() {
                    DeValue::Array(items) => {
                        raw.account_tables = items.len();
                        for (i, item) in items.into_iter().enumerate() {
                            let label = account_label(&item, i);
                            if !item.get_ref().is_table() {
                                issues.push(Issue::new(
                                    item.span(),
                                    &label,
                                    None,
                                    "must be a table",
                                ));
                                continue;
                            }
                            let span = item.span();
                            if let Some(acct) = section::<RawAccount>(
                                item,
                                Some("account"),
                                &label,
                                None,
                                &mut issues,
                            ) {
                                raw.accounts.push(Spanned::new(span, acct));
                            }
                        }
                    }
                    _ => issues.push(Issue::new(
                        span,
                        "",
                        Some("account"),
                        "must be an array of tables: write each account as `[[account]]`",
                    )),
                }
            }
            other => issues.push(Issue::new(
                key_span,
                "",
                Some(other),
                format!(
                    "unknown key, expected one of: {}",
                    TOP_LEVEL_KEYS.join(", ")
                ),
            )),
        }
    }
    Ok((raw, issues))
}

/// How an account is named in problems: `account "NAME"` when it has a string name, else `account[INDEX]`.
pub(crate) fn account_label(item: &Spanned<DeValue<'_>>, index: usize) -> String {
    match item
        .get_ref()
        .get("name")
        .and_then(|n| n.get_ref().as_str())
    {
        Some(name) => format!("account {name:?}"),
        None => format!("account[{index}]"),
    }
}

/// The keys a section accepts, from [`KNOWN_KEYS`]; a sub-table (`account.oauth2.x`) counts as its one key.
fn keys_of(section: &str) -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = KNOWN_KEYS
        .iter()
        .filter_map(|k| k.strip_prefix(section)?.strip_prefix('.'))
        .map(|k| k.split('.').next().unwrap_or(k))
        .collect();
    keys.dedup();
    keys
}

/// Report every key of a table that the section does not accept and remove it, so that the rest of the section
/// is still checked. `deny_unknown_fields` on the structs stays as the backstop.
fn remove_unknown_keys(
    value: &mut Spanned<DeValue<'_>>,
    section: &str,
    label: &str,
    issues: &mut Vec<Issue>,
) {
    let DeValue::Table(table) = value.get_mut() else {
        return;
    };
    let accepted = keys_of(section);
    let unknown: Vec<(Range<usize>, String)> = table
        .keys()
        .filter(|k| !accepted.contains(&k.get_ref().as_ref()))
        .map(|k| (k.span(), k.get_ref().to_string()))
        .collect();
    for (span, name) in unknown {
        let hint = match closest(&name, &accepted) {
            Some(near) => format!(" (did you mean `{near}`?)"),
            None => format!("; {section} accepts: {}", accepted.join(", ")),
        };
        issues.push(Issue::new(
            span,
            label,
            Some(&name),
            format!("unknown key{hint}"),
        ));
        table.remove(name.as_str());
    }
}

/// The accepted key nearest to a misspelt one, when it is close enough to be the likely intent.
fn closest<'a>(name: &str, accepted: &[&'a str]) -> Option<&'a str> {
    accepted
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance over bytes; keys are short ASCII.
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Deserialize one value; on failure record a problem naming the key the error is about.
fn section<T: for<'de> Deserialize<'de>>(
    mut value: Spanned<DeValue<'_>>,
    known: Option<&str>,
    label: &str,
    key: Option<&str>,
    issues: &mut Vec<Issue>,
) -> Option<T> {
    if let Some(known) = known {
        remove_unknown_keys(&mut value, known, label, issues);
    }
    let whole = value.span();
    // Find which key of the table the error points into, to name it ("key `port`: invalid type ...").
    let keys: Vec<(Range<usize>, Range<usize>, String)> = match value.get_ref().as_table() {
        Some(t) => t
            .iter()
            .map(|(k, v)| (k.span(), v.span(), k.get_ref().to_string()))
            .collect(),
        None => Vec::new(),
    };
    match T::deserialize(ValueDeserializer::from(value)) {
        Ok(v) => Some(v),
        Err(e) => {
            let span = e.span().unwrap_or(whole);
            let at = span.start;
            let key = keys
                .iter()
                .find(|(k, v, _)| k.contains(&at) || v.contains(&at))
                .map(|(_, _, name)| name.as_str())
                .or(key);
            let message = e.message().replace("unknown field", "unknown key");
            issues.push(Issue::new(span, label, key, message));
            None
        }
    }
}
