//! The `[smtp]` table: where mail is handed on, and how it introduces itself.

use std::path::Path;

use super::Checker;
use super::values::is_domain_like;
use crate::config::error::Issue;
use crate::config::raw::RawSmtp;
use crate::config::{BatchLimit, Defaults, SmtpConfig};

/// `[smtp] batch_limit` bounds: 0 is "no limit" (fetchmail's `batchlimit 0`).
const BATCH_LIMIT_RANGE: (i64, i64) = (0, 1_000_000);

/// `[smtp] smtp_connections` bounds (issue 11 point 3): every account's poll opens up to this many sessions, and
/// polls of up to four accounts run at once, so the top of the range keeps the worst case modest for any MTA.
const SMTP_CONNECTIONS_RANGE: (i64, i64) = (1, 16);

pub(super) fn smtp(
    raw: RawSmtp,
    defaults: &Defaults,
    issues: &mut Vec<Issue>,
    source: &Path,
) -> SmtpConfig {
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
    let connections = c.int_in(
        &raw.smtp_connections,
        "smtp_connections",
        SMTP_CONNECTIONS_RANGE,
        1,
    );
    SmtpConfig {
        host,
        port,
        helo_name,
        batch_limit: BatchLimit::new(u32::try_from(batch_limit).unwrap_or(0)),
        connections: usize::try_from(connections).unwrap_or(1),
    }
}
