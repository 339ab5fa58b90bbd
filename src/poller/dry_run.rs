//! `popfetch run --dry-run`: one poll that connects, authenticates, lists, fetches the new messages and runs the
//! header pipeline exactly as a run would, then prints what it would do with each message, and changes nothing.
//!
//! Nothing changes anywhere: no SMTP connection is opened, no `DELE` is sent, and a session that retrieved a
//! message ends without `QUIT` (no UPDATE state, RFC 1939 §6: a server that removes what was retrieved, `EXPIRE 0`
//! or a download-once policy, keeps it; catalog P-27); the state is only read. The state is read without
//! [`crate::state::State::open`], which takes the account's lock (creating the state directory and lock file when
//! missing) and may cut a torn last line off the state file: a dry run creates no file and takes no lock, so it
//! neither disturbs nor waits for a real run (a run in progress at the same moment may make the picture a moment
//! stale).
//!
//! The report goes to stdout, one block per account written at once (accounts are polled concurrently); errors
//! and warnings go to the log on stderr as in a real run. A mode of the poller: it executes the same [`Plan`] with
//! the same connect, listing and header pipeline, so what is shown is what a run would do; the state is read as a
//! [`Snapshot`].

use std::fmt::Write as _;
use std::io::{self, Write};

use tracing::warn;

use super::plan::{Plan, Policy, Step};
use super::retr_check::{self, RetrCheck};
use super::{
    Failure, PollOptions, Report, describe_edits, list_mailbox, open_pop3, pop3_fail, prepare,
    state_fail,
};
use crate::config::{Account, Config, Delivery, ImapLogin};
use crate::error::ExitClass;
use crate::pop3::{Client, Reply};
use crate::state::{Recorded, Snapshot};
use crate::untrusted::Secrets;

/// The first line of a dry run's output.
pub const BANNER: &str =
    "popfetch: dry run: nothing is sent to the MTA, deleted from a server or written to the state";

/// Poll `acct` without changing anything and print the report to stdout.
pub(crate) async fn poll(
    config: &Config,
    acct: &Account,
    opts: &PollOptions,
    report: &mut Report,
    secrets: &Secrets,
) -> Result<(), Failure> {
    let mut out = String::new();
    let result = poll_inner((config, acct, opts, secrets), report, &mut out).await;
    if let Err(f) = &result {
        let _ = writeln!(
            out,
            "account {:?}: stopped: {} (see the log)",
            acct.name,
            f.shown(secrets)
        );
    }
    let mut stdout = io::stdout().lock();
    if let Err(e) = stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        warn!("cannot write the dry-run report to stdout: {e}");
    }
    result
}

async fn poll_inner(
    (config, acct, opts, secrets): (&Config, &Account, &PollOptions, &Secrets),
    report: &mut Report,
    out: &mut String,
) -> Result<(), Failure> {
    let identity = acct.identity();
    let snap = Snapshot::read(&config.state_dir, &acct.name, &identity).map_err(state_fail)?;
    let _ = writeln!(
        out,
        "account {:?} ({}:{}, user {:?}): state {}",
        acct.name,
        acct.host,
        acct.port,
        acct.user,
        snap.describe()
    );

    let mut client = open_pop3(acct, &config.state_dir, secrets).await?;
    let mailbox = list_mailbox(&mut client).await?;
    let (uidl, sizes) = (&mailbox.uidl, &mailbox.sizes);
    for (uid, numbers) in &mailbox.shared {
        let _ = writeln!(
            out,
            "  uid {uid:?} (#{}): skipped: several messages share this UIDL; they would stay on the server \
             untouched",
            numbers
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", #")
        );
        report.skipped += numbers.len();
        report.worsen(ExitClass::Partial);
    }

    // In server order, RETR one at a time: a dry run is for looking, not for speed, and lockstep keeps the
    // report in the order a run would work.
    let plan = Plan::new(uidl, sizes, &snap, Policy::of(acct, opts));
    for step in plan.steps {
        let (n, uid) = match step {
            Step::Fetch(p) => (p.n, p.uid),
            other => {
                show_wait(acct, &other, sizes, report, out);
                continue;
            }
        };
        let size = sizes.get(&n).copied().unwrap_or(0);
        let head = format!("  uid {uid:?} (#{n}, {size} bytes)");
        report.new += 1;
        client.send_retr(n).await.map_err(pop3_fail)?;
        let (raw, announced) = match client.next_reply().await.map_err(pop3_fail)? {
            Reply::Retr {
                result: Ok(raw),
                announced,
                ..
            } => (raw, announced),
            Reply::Retr { result: Err(e), .. } => {
                let _ = writeln!(
                    out,
                    "{head}: RETR refused ({}); a run would leave it on the server",
                    e.text
                );
                report.worsen(ExitClass::TempFail);
                continue;
            }
            Reply::Dele { .. } => {
                return Err(Failure::of(
                    ExitClass::Internal,
                    "a DELE reply during a dry run",
                ));
            }
        };
        let pending = snap.entry(&uid).is_some_and(|e| e.pending);
        // Multidrop: the recipients an earlier poll settled are not sent to again.
        let served: Vec<(String, &str)> = snap
            .entry(&uid)
            .map(|e| {
                let done = e.served.iter().map(|r| (r.clone(), "delivered"));
                done.chain(e.refused.keys().map(|r| (r.clone(), "refused")))
                    .collect()
            })
            .unwrap_or_default();
        let check = match sizes.get(&n) {
            Some(&listed) => retr_check::check(listed, announced, &raw),
            None => RetrCheck::Consistent,
        };
        show_delivery(
            (config, acct, opts, secrets),
            (pending, check, &served),
            &client,
            &uid,
            &head,
            &raw,
            out,
        );
    }
    // Nothing was marked for deletion, so QUIT would commit nothing on most servers; but on one that removes what
    // was retrieved (EXPIRE 0, download-once), QUIT would delete every message shown: not after a RETR.
    if client.retrieved() == 0 {
        if let Err(e) = client.quit().await {
            warn!("account {:?}: QUIT failed ({e})", acct.name);
        }
    } else {
        drop(client);
    }
    let _ = writeln!(
        out,
        "account {:?}: {} on the server, {} new, {} skipped; nothing was changed",
        acct.name,
        uidl.len(),
        report.new,
        report.skipped
    );
    Ok(())
}

/// The line of a message the plan leaves alone.
fn show_wait(
    acct: &Account,
    step: &Step,
    sizes: &std::collections::HashMap<u32, u64>,
    report: &mut Report,
    out: &mut String,
) {
    let head = |n: &u32, uid: &str| {
        let size = sizes.get(n).copied().unwrap_or(0);
        format!("  uid {uid:?} (#{n}, {size} bytes)")
    };
    match step {
        Step::Recorded {
            n,
            uid,
            kept_for_good,
            ..
        } => {
            let then = if *kept_for_good {
                "kept on the server for good (its RETR did not match LIST)"
            } else if acct.keep {
                "kept on the server (keep = true)"
            } else {
                "would be deleted again (an earlier DELE or QUIT did not complete)"
            };
            let _ = writeln!(out, "{}: already delivered; {then}", head(n, uid));
        }
        Step::Rejected { n, uid, code, text } => {
            let _ = writeln!(
                out,
                "{}: skipped: rejected earlier by the MTA with {code} {text} (--retry-rejected would try it again)",
                head(n, uid)
            );
        }
        Step::TooBig { n, uid, limit, .. } => {
            let _ = writeln!(
                out,
                "{}: skipped: larger than {limit}; would stay on the server",
                head(n, uid)
            );
            report.skipped += 1;
            report.worsen(ExitClass::Partial);
        }
        Step::Fetch(_) => {}
    }
}

/// The "would deliver" line of one fetched message, and its diff with `--diff`.
fn show_delivery(
    (config, acct, opts, secrets): (&Config, &Account, &PollOptions, &Secrets),
    (pending, check, served): (bool, RetrCheck, &[(String, &str)]),
    client: &Client,
    uid: &str,
    head: &str,
    raw: &[u8],
    out: &mut String,
) {
    let (filtered, envelope) = prepare(acct, &config.smtp.helo_name, client, uid, raw);
    let from = envelope.from.as_deref().unwrap_or("");
    let then = match check {
        RetrCheck::Keep(why) => format!("then keep it on the server for good: {why}"),
        RetrCheck::Consistent if acct.keep => "then keep it on the server (keep = true)".into(),
        RetrCheck::Consistent => "then delete it from the server".into(),
    };
    let duplicate = if pending {
        " (possible duplicate: an earlier run stopped while handing it to the MTA)"
    } else {
        ""
    };
    let rcpts = match &acct.multidrop {
        Some(md) => {
            let chosen = crate::multidrop::choose(md, raw);
            let _ = writeln!(out, "{head}: recipients from {}", chosen.describe());
            chosen
                .to
                .iter()
                .map(|r| match served.iter().find(|(s, _)| s == r) {
                    Some((_, how)) => format!("({how} earlier: <{r}>)"),
                    None => format!("RCPT TO:<{r}>"),
                })
                .collect::<Vec<_>>()
                .join(" ")
        }
        None => format!("RCPT TO:<{}>", envelope.to),
    };
    let to = match &acct.delivery {
        Delivery::Smtp => format!(
            "to {}:{} with MAIL FROM:<{from}> {rcpts}",
            config.smtp.host, config.smtp.port
        ),
        Delivery::Lmtp(at) => format!("over LMTP to {at} with MAIL FROM:<{from}> {rcpts}"),
        Delivery::Mda(mda) => format!(
            "to the MDA {:?} (LF line endings on its stdin)",
            mda.argv_for(&envelope.to, from)
        ),
        Delivery::Maildir(root) => format!(
            "into the Maildir {} (LF line endings, with Return-Path: <{from}> and Delivered-To: {})",
            root.display(),
            envelope.to
        ),
        Delivery::Imap(imap) => format!(
            "with IMAP APPEND to {}:{} folder {:?} as {:?} ({})",
            imap.host,
            imap.port,
            imap.folder,
            imap.user,
            match &imap.login {
                ImapLogin::Password(_) => {
                    "password: AUTHENTICATE PLAIN where offered, else LOGIN".to_owned()
                }
                ImapLogin::Bearer { mechanism, .. } => format!(
                    "AUTHENTICATE {} with the access token of [account.imap.oauth2]",
                    mechanism.sasl_name()
                ),
            }
        ),
    };
    let _ = writeln!(
        out,
        "{head}: would deliver {} bytes {to}, {then}{}{duplicate}",
        filtered.message.len(),
        describe_edits(&filtered.edits),
    );
    if opts.diff {
        // Into the account's block, so the report stays in order.
        let name = format!("account {:?} uid {uid:?}", acct.name);
        out.push_str(&crate::inspect::diff::render(
            raw,
            &filtered.edits,
            &crate::inspect::diff::Style {
                before: &format!("{name} as fetched"),
                after: &format!("{name} as it would be delivered"),
                color: io::IsTerminal::is_terminal(&io::stdout()),
                secrets,
            },
        ));
    }
}
