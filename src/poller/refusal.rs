//! Is a 5xx to `RCPT TO` about the target or about one message? (design.md "MTA rejections", catalog S-03)
//!
//! Postfix evaluates sender restrictions at `RCPT TO` (`smtpd_delay_reject = yes`), so a blocked sender refuses
//! one message's `RCPT TO` exactly as a wrong target refuses every message's. Taking each such refusal as a
//! configuration error stalled the account at that message for ever (issue 9). The evidence, in order:
//! 1. the reply alone ([`crate::inspect::explain::refuses_recipient`], judged in [`crate::smtp::SmtpError::verdict`]);
//! 2. the envelope: the text names the target and not the sender ([`crate::inspect::explain::names_only_target`]);
//! 3. the poll: the same refusal (code and text) for two different senders.
//!
//! Without any of these the refusal is this message's: it is held here and journalled as rejected when the
//! delivery loop ends ([`RcptRefusals::record`]), unless a later message shows (3), in which case nothing is
//! recorded for either. Holding rather than recording at once means a misjudged first message is never left
//! marked as rejected; a crash before the end only means it is tried again next poll (it was never deleted).

use tracing::warn;

use super::deliver::explained;
use super::{Failure, Pending, Report, state_fail};
use crate::config::Account;
use crate::error::ExitClass;
use crate::inspect::explain;
use crate::smtp::{Phase, SmtpError, Verdict};
use crate::state::State;

/// True for a 5xx to `RCPT TO` that the reply alone does not put on the target: the poll's evidence decides.
pub(super) fn is_rcpt_rejection(e: &SmtpError) -> bool {
    matches!(
        e,
        SmtpError::Reply {
            phase: Phase::Rcpt,
            ..
        }
    ) && e.verdict() == Verdict::Rejected
}

/// One message whose `RCPT TO` was refused for reasons of its own, not yet journalled.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    uid: String,
    /// LIST size, for the log line.
    size: u64,
    /// The envelope sender; `None` is `<>`.
    sender: Option<String>,
    code: u16,
    text: String,
    /// The refusal as one line, with its plain-words reason, for the log line.
    shown: String,
}

/// What a refusal of `RCPT TO` is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum About {
    /// The configured target: every message would fail alike. The text says why we think so.
    Target(&'static str),
    /// This message only.
    Message,
}

/// The `RCPT TO` refusals of one poll that were judged to be about their message.
#[derive(Debug, Default)]
pub(super) struct RcptRefusals {
    held: Vec<Held>,
}

impl RcptRefusals {
    /// Handle the refusal `error` (see [`is_rcpt_rejection`]) of message `p` from `sender`: hold it as this
    /// message's, or, when the evidence puts it on the target, abandon it and every held one and end the poll
    /// with a configuration error.
    ///
    /// # Errors
    /// The [`Failure`] that ends the poll (exit 78) when the refusal is about the target.
    pub(super) fn judge(
        &mut self,
        acct: &Account,
        state: &mut State,
        p: &Pending,
        error: SmtpError,
        sender: Option<String>,
    ) -> Result<(), Failure> {
        let code = error.code().unwrap_or(550);
        match self.about(&acct.target, sender.as_deref(), code, error.text()) {
            About::Message => {
                self.held.push(Held {
                    uid: p.uid.clone(),
                    size: p.size,
                    sender,
                    code,
                    text: error.text().to_owned(),
                    shown: format!("{error}{}", explained(&error)),
                });
                Ok(())
            }
            About::Target(why) => {
                // The earlier refusals were the same problem: none of them is their message's fault.
                for h in self.take() {
                    let _ = state.record_abandoned(&h.uid);
                }
                let _ = state.record_abandoned(&p.uid);
                // As for any undelivered fetched message, leave without QUIT (catalog P-27).
                Err(Failure {
                    abort_pop3: true,
                    ..Failure::of(
                        ExitClass::Config,
                        format!(
                            "uid {:?} not delivered, left on the server: {error}{}; {why}, so the refusal is \
                             about the target, not this message; nothing was recorded as rejected",
                            p.uid,
                            explained(&error)
                        ),
                    )
                })
            }
        }
    }

    /// Journal every held refusal as the rejection of its message (kept on the server, not fetched again until
    /// `--retry-rejected`, exit 1), at the end of the delivery loop.
    ///
    /// # Errors
    /// A state failure: the journal could not be written.
    pub(super) fn record(
        &mut self,
        acct: &Account,
        state: &mut State,
        report: &mut Report,
    ) -> Result<(), Failure> {
        for h in self.take() {
            state
                .record_rejected(&h.uid, h.code, &h.text)
                .map_err(state_fail)?;
            warn!(
                "account {:?}: uid {:?}: {} bytes from <{}> rejected by the MTA: {}; left on the server and \
                 not fetched again (run --retry-rejected to retry)",
                acct.name,
                h.uid,
                h.size,
                h.sender.as_deref().unwrap_or(""),
                h.shown
            );
            report.rejected(h.uid, h.code, h.text);
        }
        Ok(())
    }

    /// What a 5xx to `RCPT TO`, whose reply alone did not say it is about the recipient, is about.
    fn about(&self, target: &str, sender: Option<&str>, code: u16, text: &str) -> About {
        if explain::names_only_target(text, target, sender) {
            return About::Target("the reply names the target address");
        }
        if self
            .held
            .iter()
            .any(|h| h.code == code && h.text == text && h.sender.as_deref() != sender)
        {
            return About::Target("the same refusal came for two different senders");
        }
        About::Message
    }

    /// The held refusals, emptying the list.
    fn take(&mut self) -> Vec<Held> {
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET: &str = "me@example.org";

    fn held(sender: Option<&str>, code: u16, text: &str) -> Held {
        Held {
            uid: "u".into(),
            size: 1,
            sender: sender.map(str::to_owned),
            code,
            text: text.into(),
            shown: String::new(),
        }
    }

    #[test]
    fn s03_a_sender_restriction_is_about_the_message() {
        let r = RcptRefusals::default();
        let text = "5.7.1 <blocked@spam.example>: Sender address rejected: Access denied";
        assert_eq!(
            r.about(TARGET, Some("blocked@spam.example"), 554, text),
            About::Message
        );
        assert_eq!(r.about(TARGET, None, 550, "Access denied"), About::Message);
    }

    #[test]
    fn s03_a_reply_naming_the_target_is_about_the_target() {
        let r = RcptRefusals::default();
        assert!(matches!(
            r.about(
                TARGET,
                Some("a@b.test"),
                554,
                "5.7.1 <me@example.org>: Access denied"
            ),
            About::Target(_)
        ));
    }

    #[test]
    fn s03_the_same_refusal_for_two_senders_is_about_the_target() {
        let mut r = RcptRefusals::default();
        r.held
            .push(held(Some("a@b.test"), 550, "5.7.1 Access denied"));
        // Same sender again: still this sender's problem (two messages from one blocked sender).
        assert_eq!(
            r.about(TARGET, Some("a@b.test"), 550, "5.7.1 Access denied"),
            About::Message
        );
        // Another text or code: a different refusal.
        assert_eq!(
            r.about(TARGET, Some("c@d.test"), 550, "5.7.1 Access denied!"),
            About::Message
        );
        assert_eq!(
            r.about(TARGET, Some("c@d.test"), 554, "5.7.1 Access denied"),
            About::Message
        );
        assert!(matches!(
            r.about(TARGET, Some("c@d.test"), 550, "5.7.1 Access denied"),
            About::Target(_)
        ));
        // The null sender is a sender of its own.
        assert!(matches!(
            r.about(TARGET, None, 550, "5.7.1 Access denied"),
            About::Target(_)
        ));
        assert_eq!(r.take().len(), 1);
        assert!(r.take().is_empty());
    }
}
