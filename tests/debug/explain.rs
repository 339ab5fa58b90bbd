//! MTA refusals in plain words (issue 5): what a run logs for a refused message or target, and how the classifier
//! reads real replies of Postfix, Exim, OpenSMTPD, Sendmail and the big providers.

use popfetch::inspect::explain::{Reason, classify, describe};

use super::support::*;
use super::{TARGET, World, msgs, run};

#[test]
fn mta_refusals_are_explained_in_the_log() {
    // End-of-DATA refusal: the message is recorded as rejected, the line says why in plain words.
    let w = World::new(msgs(1));
    w.smtp.set_behavior(SmtpBehavior::default().reply_to_data(
        0,
        "550 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
    ));
    let cfg = w.config(w.account());
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("reason: blocked"), "{}", out.stderr);

    // RCPT refusal of the target: a configuration problem, and the line says to check `target`.
    let w = World::new(msgs(1));
    let mut b = SmtpBehavior::default();
    b.rcpt_replies.insert(
        TARGET.to_owned(),
        "550 5.1.1 <alice@local.test>: Recipient address rejected: User unknown in local recipient table"
            .to_owned(),
    );
    w.smtp.set_behavior(b);
    let cfg = w.config(w.account());
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 78, "{}", out.all());
    assert!(
        out.stderr.contains(
            "reason: unknown-user: the MTA does not know the recipient: check the account's target"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1"]);
}

#[test]
fn explain_classifies_real_world_replies() {
    use Reason::*;
    let table: &[(u16, &str, Option<Reason>)] = &[
        // Postfix
        (
            550,
            "5.1.1 <bob@example.org>: Recipient address rejected: User unknown in local recipient table",
            Some(UnknownUser),
        ),
        (
            550,
            "5.1.1 <bob@example.org>: Recipient address rejected: User unknown in virtual mailbox table",
            Some(UnknownUser),
        ),
        (
            552,
            "5.2.2 <bob@example.org>: Recipient address rejected: Mailbox full",
            Some(MailboxFull),
        ),
        (452, "4.2.2 Mailbox full", Some(MailboxFull)),
        (
            554,
            "5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
            Some(Blocked),
        ),
        (
            550,
            "5.7.1 Client host rejected: listed at bl.spamcop.net",
            Some(Blocked),
        ),
        (552, "5.3.4 Message size exceeds fixed limit", Some(TooBig)),
        (451, "4.3.0 Error: queue file write error", Some(Temporary)),
        (
            450,
            "4.7.1 <x@y>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/",
            Some(Temporary),
        ),
        // The MTA does not take mail for the target's domain: the advice is to check `target` (issue 9).
        (554, "5.7.1 <x@y>: Relay access denied", Some(UnknownUser)),
        (
            421,
            "4.4.2 mx.example.org Error: timeout exceeded",
            Some(Temporary),
        ),
        // Exim
        (550, "Unrouteable address", Some(UnknownUser)),
        (550, "5.1.1 No Such User Here", Some(UnknownUser)),
        (552, "Message size exceeds maximum permitted", Some(TooBig)),
        (550, "Administrative prohibition", None),
        (
            550,
            "rejected because 192.0.2.1 is in a black list at zen.spamhaus.org",
            Some(Blocked),
        ),
        // Gmail / Google style
        (
            550,
            "5.1.1 The email account that you tried to reach does not exist.",
            Some(UnknownUser),
        ),
        (
            552,
            "5.2.2 The email account that you tried to reach is over quota.",
            Some(MailboxFull),
        ),
        (
            550,
            "5.7.26 Unauthenticated email from remote.test is not accepted due to domain's DMARC policy.",
            Some(Policy),
        ),
        (
            552,
            "5.3.4 Your message exceeded Google's message size limits.",
            Some(TooBig),
        ),
        (
            421,
            "4.7.0 Try again later, closing connection.",
            Some(Temporary),
        ),
        (
            550,
            "5.7.1 Our system has detected that this message is likely unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been blocked.",
            Some(Blocked),
        ),
        // Microsoft
        (
            550,
            "5.7.606 Access denied, banned sending IP [192.0.2.1]",
            Some(Blocked),
        ),
        (
            554,
            "5.7.1 Message rejected due to DMARC policy",
            Some(Policy),
        ),
        // Codes alone
        (
            550,
            "5.1.10 RESOLVER.ADR.RecipientNotFound",
            Some(UnknownUser),
        ),
        (552, "", Some(MailboxFull)),
        (554, "5.6.0 Message content rejected", Some(Policy)),
        (500, "5.5.2 Syntax error", None),
        (250, "2.0.0 Ok", None),
    ];
    let mut wrong = Vec::new();
    for (code, text, want) in table {
        let got = classify(*code, text);
        if got != *want {
            wrong.push(format!("{code} {text}: want {want:?}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(
        describe(Some(550), "5.1.1 user unknown").as_deref(),
        Some(
            "reason: unknown-user: the MTA does not know the recipient: check the account's target address"
        )
    );
}
