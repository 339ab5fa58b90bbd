//! A temporary refusal about one message's sender (catalog S-17): the poll goes on with the other messages.
//!
//! Postfix's `reject_unknown_sender_domain` answers `450 4.1.8 <a@nx.example>: Sender address rejected: Domain not
//! found` for as long as the sender's domain does not resolve, which can be for ever. When every 4xx stopped the
//! poll, such a message stopped its account at that message on every poll: nothing after it was ever delivered.
//! A 4xx that says it is about the sender ([`is_sender_deferral`]) now leaves only that message on the server,
//! to be tried again by the next poll, and the poll goes on. Any other 4xx still stops the poll (an MTA short of
//! disk or a failing lookup table would refuse every message alike: going on would only download them in vain).
//!
//! Since such a message was fetched and not delivered, the session that fetched it still ends without QUIT
//! (catalog P-27, as after any message fetched and not delivered): a server that expunges what was retrieved keeps
//! it. The DELEs of the messages delivered meanwhile are committed by a second session that fetches nothing
//! ([`super::tidy`]); their UIDs are journalled, so nothing is delivered twice. It exits 1, not 75: the rest of
//! the mailbox went through, and the daemon must not back off for a message that may stay refused for ever.

use tracing::warn;

use super::deliver::explained;
use super::{Failure, Pending, Report, WaitReason};
use crate::config::Account;
use crate::error::ExitClass;
use crate::inspect::explain;
use crate::smtp::{Phase, SmtpError};
use crate::state::State;

/// UIDs named in the failure line at most; the others are counted.
const NAMED: usize = 5;

/// True for a 4xx to MAIL or RCPT whose code or text puts it on the sender ([`explain::refuses_sender`]) and
/// neither its code nor its text on the target `target`. A session-ending reply (`421`, `452 4.5.3`) is never one.
pub(super) fn is_sender_deferral(e: &SmtpError, target: &str, sender: Option<&str>) -> bool {
    let SmtpError::Reply {
        code, phase, text, ..
    } = e
    else {
        return false;
    };
    (400..500).contains(code)
        && matches!(phase, Phase::Mail | Phase::Rcpt)
        && !e.session_exhausted()
        && explain::refuses_sender(text)
        && !explain::refuses_recipient(text)
        && !explain::names_only_target(text, target, sender)
}

/// One message left on the server for its sender in this poll.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Deferred {
    uid: String,
    /// The envelope sender; `None` is `<>`.
    sender: Option<String>,
    code: u16,
    text: String,
}

/// The messages of one poll refused for now because of their sender.
#[derive(Debug, Default)]
pub(super) struct Deferrals {
    held: Vec<Deferred>,
}

impl Deferrals {
    /// Leave message `p`, refused for now with `error` (see [`is_sender_deferral`]), on the server and go on;
    /// or, when an earlier message from another sender got the very same refusal, which then cannot be about
    /// the sender, stop the poll as for any other temporary failure.
    ///
    /// # Errors
    /// The [`Failure`] that ends the poll (exit 75, no QUIT) in the second case.
    pub(super) fn defer(
        &mut self,
        acct: &Account,
        state: &mut State,
        report: &mut Report,
        p: &Pending,
        error: SmtpError,
        sender: Option<String>,
    ) -> Result<(), Failure> {
        // Nothing of the message reached the MTA: its begin mark goes, as after any refused envelope.
        let _ = state.record_abandoned(&p.uid);
        let code = error.code().unwrap_or(450);
        let text = error.text().to_owned();
        if self
            .held
            .iter()
            .any(|d| d.code == code && d.text == text && d.sender != sender)
        {
            return Err(Failure {
                abort_pop3: true,
                ..Failure::of(
                    ExitClass::TempFail,
                    format!(
                        "uid {:?} not delivered, left on the server: {error}{}; the same refusal came for two \
                         different senders, so it is not about the sender",
                        p.uid,
                        explained(&error)
                    ),
                )
            });
        }
        report.worsen(ExitClass::Partial);
        warn!(
            "account {:?}: uid {:?}: {} bytes from <{}> refused for now by the MTA: {error}{}; the refusal is about \
             the sender, so the poll goes on; this message stays on the server and the next poll tries it again",
            acct.name,
            p.uid,
            p.size,
            sender.as_deref().unwrap_or(""),
            explained(&error)
        );
        report.wait(
            p.uid.clone(),
            WaitReason::Deferred {
                code,
                text: text.clone(),
            },
        );
        self.held.push(Deferred {
            uid: p.uid.clone(),
            sender,
            code,
            text,
        });
        Ok(())
    }

    /// The poll's outcome once its delivery loop ended with `outcome`: with a message left for its sender, a
    /// failure of class [`ExitClass::Partial`] naming it (exit 1, unless `outcome` failed otherwise): the rest of
    /// the mailbox went through, so the daemon polls again after `interval` rather than backing off; a message
    /// stuck for ever must not slow the account's other mail down to one poll an hour. The session that fetched
    /// it then ends without QUIT, as after any message fetched and not delivered (`Client::retrieved`).
    pub(super) fn end(&self, outcome: Result<(), Failure>) -> Result<(), Failure> {
        if self.held.is_empty() || outcome.is_err() {
            return outcome;
        }
        let mut named: Vec<String> = self
            .held
            .iter()
            .take(NAMED)
            .map(|d| format!("{:?}", d.uid))
            .collect();
        if self.held.len() > NAMED {
            named.push(format!("{} more", self.held.len() - NAMED));
        }
        Err(Failure::of(
            ExitClass::Partial,
            format!(
                "{} message(s) refused for now because of their sender (uid {}) stay on the server; the session \
                 that fetched them ends without QUIT so that the server keeps them, and a second session that \
                 fetches nothing deletes what was delivered",
                self.held.len(),
                named.join(", ")
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET: &str = "me@example.org";

    fn reply(code: u16, phase: Phase, text: &str) -> SmtpError {
        SmtpError::Reply {
            addr: "127.0.0.1:25".into(),
            phase,
            code,
            text: crate::untrusted::Secrets::none().show(text.as_bytes(), crate::untrusted::REPLY),
        }
    }

    #[test]
    fn s17_a_sender_domain_not_found_defers_only_that_message() {
        let sender = Some("a@nx.example");
        let text = "4.1.8 <a@nx.example>: Sender address rejected: Domain not found";
        assert!(is_sender_deferral(
            &reply(450, Phase::Rcpt, text),
            TARGET,
            sender
        ));
        assert!(is_sender_deferral(
            &reply(450, Phase::Mail, text),
            TARGET,
            sender
        ));
        assert!(is_sender_deferral(
            &reply(451, Phase::Rcpt, "4.1.7 unverified sender"),
            TARGET,
            None
        ));
    }

    #[test]
    fn s17_other_temporary_refusals_still_stop_the_poll() {
        let sender = Some("a@b.example");
        for (code, phase, text) in [
            // Not 4xx, or not at MAIL/RCPT.
            (
                550,
                Phase::Rcpt,
                "5.1.8 <a@b.example>: Sender address rejected: Domain not found",
            ),
            (
                450,
                Phase::EndOfData,
                "4.1.8 <a@b.example>: Sender address rejected",
            ),
            (450, Phase::Data, "4.1.8 Sender address rejected"),
            // About the MTA or the target.
            (452, Phase::Mail, "4.3.1 Insufficient system storage"),
            (
                451,
                Phase::Mail,
                "4.3.0 <a@b.example>: Temporary lookup failure",
            ),
            (
                450,
                Phase::Rcpt,
                "4.1.1 <me@example.org>: Recipient address rejected: unverified address",
            ),
            (
                450,
                Phase::Rcpt,
                "4.7.1 <me@example.org>: Sender address rejected: try later",
            ),
            (450, Phase::Rcpt, "4.2.0 Greylisted"),
            // Session-ending.
            (421, Phase::Mail, "4.1.8 Sender address rejected"),
        ] {
            assert!(
                !is_sender_deferral(&reply(code, phase, text), TARGET, sender),
                "{code} {text}"
            );
        }
        let lost = SmtpError::Timeout {
            addr: "127.0.0.1:25".into(),
            phase: Phase::Rcpt,
            secs: 300,
        };
        assert!(!is_sender_deferral(&lost, TARGET, sender));
    }

    #[test]
    fn s17_the_end_of_a_poll_with_a_deferred_message_names_it() {
        let mut d = Deferrals::default();
        assert!(d.end(Ok(())).is_ok());
        d.held.push(Deferred {
            uid: "u1".into(),
            sender: Some("a@nx.example".into()),
            code: 450,
            text: "4.1.8 x".into(),
        });
        let f = d.end(Ok(())).expect_err("a deferred message ends the poll");
        assert_eq!(f.class, ExitClass::Partial);
        assert!(f.message.contains("uid \"u1\""), "{}", f.message);
        // A worse failure is the outcome as it was.
        let f = d
            .end(Err(Failure::of(ExitClass::Config, "bad target")))
            .expect_err("still failed");
        assert_eq!(
            (f.class, f.message.as_str()),
            (ExitClass::Config, "bad target")
        );
    }
}
