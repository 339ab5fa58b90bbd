//! One `[[account]]` table: the POP3 side (server, login, password source) and the per-account delivery
//! options. TLS and pin keys are in [`super::tls`], delivery destinations in `config::delivery`.

use std::time::Duration;

use toml::Spanned;

use super::password::{PasswordKeys, password_source};
use super::{Checker, tls};
use crate::config::raw::RawAccount;
use crate::config::{Account, AuthMethod, DropDeliveredTo, delivery, multidrop, oauth};

/// `interval` bounds (seconds): below 10 s a daemon hammers the server; a week is the longest sane period.
const INTERVAL_RANGE: (i64, i64) = (10, 7 * 24 * 3600);
/// `timeout` bounds (seconds).
const TIMEOUT_RANGE: (i64, i64) = (1, 3600);
const DEFAULT_MAX_MESSAGE_SIZE: u64 = 64 * 1024 * 1024;
/// Longest accepted `user`; RFC 2449 §4 limits a command line to 255 octets.
const MAX_USER_LEN: usize = 240;

/// Validate one account; `None` when it has problems (already recorded).
pub(super) fn account(acct: Spanned<RawAccount>, c: &mut Checker<'_>) -> Option<Account> {
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
    let tls::Transport {
        tls,
        port,
        ca_file,
        cert_sha256,
    } = tls::transport(&r, c);
    let user = c
        .required(&r.user, &whole, "user")
        .map(|u| c.user(u, "user", MAX_USER_LEN));
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
    let allow_plaintext_password = tls::allow_plaintext_password(&r, tls, &whole, c);
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
