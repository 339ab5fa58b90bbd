//! Is a 5xx to `RCPT TO` about the target or about one message? (design.md "MTA rejections", catalog S-03)
//!
//! Postfix evaluates sender restrictions at `RCPT TO` (`smtpd_delay_reject = yes`), so a blocked sender refuses
//! one message's `RCPT TO` exactly as a wrong target refuses every message's. Taking each such refusal as a
//! configuration error stalled the account at that message for ever (issue 9). The evidence, in order:
//! 1. the reply alone ([`crate::explain::refuses_recipient`], judged in [`crate::smtp::SmtpError::verdict`]);
//! 2. the envelope: the text names the target and not the sender ([`crate::explain::names_only_target`]);
//! 3. the poll: the same refusal (code and text) for two different senders.
//!
//! Without any of these the refusal is this message's: it is held here and journalled as rejected when the
//! delivery loop ends ([`RcptRefusals::take`]), unless a later message shows (3), in which case nothing is
//! recorded for either. Holding rather than recording at once means a misjudged first message is never left
//! marked as rejected; a crash before the end only means it is tried again next poll (it was never deleted).

use crate::explain;

/// One message whose `RCPT TO` was refused for reasons of its own, not yet journalled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Held {
    pub(super) uid: String,
    /// LIST size, for the log line.
    pub(super) size: u64,
    /// The envelope sender; `None` is `<>`.
    pub(super) sender: Option<String>,
    pub(super) code: u16,
    pub(super) text: String,
    /// The refusal as one line, with its plain-words reason, for the log line.
    pub(super) shown: String,
}

/// What a refusal of `RCPT TO` is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum About {
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
    /// Judge a 5xx to `RCPT TO` whose reply alone did not say it is about the recipient.
    pub(super) fn judge(&self, target: &str, sender: Option<&str>, code: u16, text: &str) -> About {
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

    /// Keep a refusal judged [`About::Message`] until the loop ends.
    pub(super) fn hold(&mut self, held: Held) {
        self.held.push(held);
    }

    /// The held refusals, emptying the list: to journal at the end of the loop, or to abandon when a later
    /// refusal showed they were about the target.
    pub(super) fn take(&mut self) -> Vec<Held> {
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
            r.judge(TARGET, Some("blocked@spam.example"), 554, text),
            About::Message
        );
        assert_eq!(r.judge(TARGET, None, 550, "Access denied"), About::Message);
    }

    #[test]
    fn s03_a_reply_naming_the_target_is_about_the_target() {
        let r = RcptRefusals::default();
        assert!(matches!(
            r.judge(
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
        r.hold(held(Some("a@b.test"), 550, "5.7.1 Access denied"));
        // Same sender again: still this sender's problem (two messages from one blocked sender).
        assert_eq!(
            r.judge(TARGET, Some("a@b.test"), 550, "5.7.1 Access denied"),
            About::Message
        );
        // Another text or code: a different refusal.
        assert_eq!(
            r.judge(TARGET, Some("c@d.test"), 550, "5.7.1 Access denied!"),
            About::Message
        );
        assert_eq!(
            r.judge(TARGET, Some("c@d.test"), 554, "5.7.1 Access denied"),
            About::Message
        );
        assert!(matches!(
            r.judge(TARGET, Some("c@d.test"), 550, "5.7.1 Access denied"),
            About::Target(_)
        ));
        // The null sender is a sender of its own.
        assert!(matches!(
            r.judge(TARGET, None, 550, "5.7.1 Access denied"),
            About::Target(_)
        ));
        assert_eq!(r.take().len(), 1);
        assert!(r.take().is_empty());
    }
}
