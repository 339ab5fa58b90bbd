//! `popfetch check --connect` (like `fetchmail -c`): for each account, concurrently, what a run would meet, and
//! nothing changed anywhere.
//!
//! POP3: connect, TLS, CAPA, authenticate, UIDL, QUIT. No RETR, no DELE, so QUIT commits nothing (RFC 1939 §6).
//! The state is only read (as the dry run reads it, without the lock), to count what is new. MTA: connect, EHLO,
//! `MAIL FROM:<>`, `RCPT TO:<target>`, RSET, QUIT, so a wrong target shows up before the first message and
//! nothing is ever queued. The null sender is what a bounce would use, so an MTA that accepts mail for the target
//! at all accepts it from `<>` (RFC 5321 §4.5.5 requires it).
//!
//! IMAP destination (`delivery = "imap"`) instead of the MTA: connect, TLS, log in exactly as a run does (the
//! password, or an OAuth 2.0 token refreshed when due), LOGOUT. Nothing is appended.
//!
//! One line per account on stdout, in config order; the exit status is the most severe class, as a run's.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::config::{Account, Config, Delivery, ImapLogin};
use crate::error::ExitClass;
use crate::inspect::trace::Trace;
use crate::poller::{open_imap, open_pop3, pop3_fail};
use crate::smtp::{self, Mta};
use crate::state::Snapshot;
use crate::tls::explain::CertInfo;
use crate::untrusted::Secrets;

/// At most this many accounts are tried at once, as in a run.
const CONCURRENCY: usize = 4;

/// Try every selected account (all when `accounts` is empty), print one line each, return the worst class.
pub async fn run(config: Arc<Config>, accounts: &[String]) -> ExitClass {
    let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut set = tokio::task::JoinSet::new();
    for (i, acct) in config.accounts.iter().enumerate() {
        if !accounts.is_empty() && !accounts.contains(&acct.name) {
            continue;
        }
        let (config, permits) = (config.clone(), permits.clone());
        set.spawn(async move {
            let _permit = permits.acquire_owned().await;
            (i, probe(&config, &config.accounts[i]).await)
        });
    }
    let mut lines = Vec::new();
    let mut worst = ExitClass::Ok;
    while let Some(r) = set.join_next().await {
        match r {
            Ok((i, (class, line))) => {
                worst = worst.worst(class);
                lines.push((i, line));
            }
            Err(e) => {
                tracing::error!("internal error: account task failed: {e}");
                worst = worst.worst(ExitClass::Internal);
            }
        }
    }
    lines.sort();
    for (_, line) in lines {
        println!("{line}");
    }
    worst
}

/// One account: the POP3 side and the MTA side, both tried whatever the other gives; the line and its class.
async fn probe(config: &Config, acct: &Account) -> (ExitClass, String) {
    // One set for both sides: the MTA's text is scrubbed of the account's password too (catalog T-20).
    let secrets = Secrets::new();
    let (pop3, mta) = tokio::join!(
        probe_pop3(config, acct, &secrets),
        probe_destination(config, acct, &secrets)
    );
    let mut line = format!(
        "account {:?} ({}:{}, user {:?}): ",
        acct.name, acct.host, acct.port, acct.user
    );
    let mut class = ExitClass::Ok;
    for (c, text) in [pop3, mta] {
        class = class.worst(c);
        let _ = write!(line, "{text}; ");
    }
    line.truncate(line.len() - 2);
    let _ = write!(line, "; result {}", class.name());
    (class, secrets.show(line.as_bytes(), 4096).into())
}

async fn probe_pop3(config: &Config, acct: &Account, secrets: &Secrets) -> (ExitClass, String) {
    let identity = acct.identity();
    // A state a run would refuse is reported, and the servers are still tried: the rest of the line stays useful.
    let (snap, mut class, mut state_note) =
        match Snapshot::read(&config.state_dir, &acct.name, &identity) {
            Ok(s) => (Some(s), ExitClass::Ok, String::new()),
            Err(e) => (
                None,
                e.class(),
                format!("; state: {}", crate::poller::chain(&e)),
            ),
        };
    let mut client = match open_pop3(acct, &config.state_dir, secrets).await {
        Ok(c) => c,
        Err(f) => {
            return (
                class.worst(f.class),
                format!("POP3 failed: {}{state_note}", f.message),
            );
        }
    };
    let link = match client.peer_certificate() {
        Some(der) => format!(
            "TLS, certificate SHA-256 {}",
            CertInfo::parse(der).fingerprint()
        ),
        None => "no TLS".to_owned(),
    };
    let uidl = match client.uidl().await {
        Ok(u) => u,
        Err(e) => {
            let f = pop3_fail(e);
            return (
                class.worst(f.class),
                format!(
                    "POP3 {link}, logged in; UIDL failed: {}{state_note}",
                    f.message
                ),
            );
        }
    };
    if let Err(e) = client.quit().await {
        class = class.worst(ExitClass::TempFail);
        state_note.push_str(&format!("; QUIT failed: {e}"));
    }
    let new = match &snap {
        Some(s) => uidl
            .iter()
            .filter(|(_, uid)| !s.is_known(uid))
            .count()
            .to_string(),
        None => "?".to_owned(),
    };
    (
        class,
        format!(
            "POP3 ok ({link}, logged in, {} message{}, {new} new){state_note}",
            uidl.len(),
            if uidl.len() == 1 { "" } else { "s" }
        ),
    )
}

/// The IMAP server of an IMAP destination, else the MTA.
async fn probe_destination(
    config: &Config,
    acct: &Account,
    secrets: &Secrets,
) -> (ExitClass, String) {
    let Delivery::Imap(imap) = &acct.delivery else {
        return probe_mta(config, acct, secrets).await;
    };
    let how = match &imap.login {
        ImapLogin::Password(_) => "a password",
        ImapLogin::Bearer { mechanism, .. } => mechanism.sasl_name(),
    };
    match open_imap(acct, imap, &config.state_dir, secrets).await {
        Ok(session) => {
            session.logout().await;
            (
                ExitClass::Ok,
                format!(
                    "IMAP ok ({}:{}, TLS, logged in as {:?} with {how})",
                    imap.host, imap.port, imap.user
                ),
            )
        }
        Err(e) => (
            e.class(),
            format!(
                "IMAP {}:{} failed: {}",
                imap.host,
                imap.port,
                crate::poller::chain(&e)
            ),
        ),
    }
}

async fn probe_mta(config: &Config, acct: &Account, secrets: &Secrets) -> (ExitClass, String) {
    let s = &config.smtp;
    let timeouts = smtp::Timeouts::default();
    let trace = Trace::log();
    let mut mta = match Mta::connect(&s.host, s.port, &s.helo_name, timeouts, secrets, &trace).await
    {
        Ok(m) => m,
        Err(e) => {
            return (
                e.class(),
                format!("MTA failed: {}", crate::poller::chain(&e)),
            );
        }
    };
    // A multidrop account has no target: its fallback, else the postmaster of its first domain (which every
    // domain must have, RFC 5321 §4.5.1), shows that the MTA takes mail for the domain.
    let to = match &acct.multidrop {
        None => acct.target.clone(),
        Some(md) => md.fallback.clone().unwrap_or_else(|| {
            format!(
                "postmaster@{}",
                md.domains.first().map_or("localhost", String::as_str)
            )
        }),
    };
    let r = mta.probe(&to).await;
    mta.quit().await;
    match r {
        Ok(a) => (
            ExitClass::Ok,
            format!(
                "MTA {}:{} accepts RCPT TO:<{}>: {} {}",
                s.host, s.port, to, a.code, a.text
            ),
        ),
        Err(e) => (
            e.class(),
            format!("MTA refused: {}", crate::poller::chain(&e)),
        ),
    }
}
