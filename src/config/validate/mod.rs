//! Phase two: [`RawConfig`] → [`Config`]. Applies defaults and checks every value, collecting all problems
//! instead of stopping at the first, each located by the span of the value (or of the table it is missing from).
//!
//! One file per subject: [`checker`] (value kinds every table shares), [`values`] (pure checks of single values),
//! [`smtp`] (the `[smtp]` table), [`account`] (an `[[account]]` table), [`tls`] (its TLS mode, CA and pin),
//! [`password`] (its password source). Destinations, IMAP and OAuth tables are checked in `config::delivery`,
//! `config::imap` and `config::oauth`.

mod account;
mod checker;
mod password;
mod smtp;
mod tls;
mod values;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use super::Config;
use super::Defaults;
use super::error::Issue;
use super::raw::RawConfig;

pub(crate) use checker::Checker;
pub(crate) use password::{PasswordKeys, password_source};
pub use values::validate_address;
pub(crate) use values::{is_domain_like, is_host_like};

/// `stale_after` bounds (seconds): a minute up to 90 days.
const STALE_AFTER_RANGE: (i64, i64) = (60, 90 * 24 * 3600);

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
    let smtp = smtp::smtp(raw.smtp.unwrap_or_default(), defaults, &mut issues, source);

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
        if let Some(a) = account::account(acct, &mut c) {
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
