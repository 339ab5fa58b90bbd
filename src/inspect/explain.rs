//! MTA refusals in plain words: a negative SMTP reply is classified into a small, documented set of reasons from
//! its RFC 3463 enhanced status code and its text, in the spirit of Sisimai's bounce reasons.
//!
//! Pure functions, no I/O. Neighbours: the poller appends [`describe`] to the log line of a refused message, so an
//! admin reading `550 5.1.1 <me@example.org>: Recipient address rejected` also reads "check `target`".
//!
//! # The reasons (see also `man 1 popfetch`, MTA REPLIES)
//! | reason         | typical reply                                    | what to do                               |
//! |----------------|--------------------------------------------------|------------------------------------------|
//! | `unknown-user` | `550 5.1.1 user unknown`                         | check the account's `target`             |
//! | `mailbox-full` | `552 5.2.2 mailbox full`, `452 4.2.2 over quota` | free space in the local mailbox          |
//! | `policy`       | `554 5.7.1 ... DMARC policy`, `550 5.7.1 spam`   | the MTA's content or sender checks       |
//! | `blocked`      | `550 5.7.1 ... listed at zen.spamhaus.org`       | a blocklist or access rule of the MTA    |
//! | `too-big`      | `552 5.3.4 message too big`                      | raise the MTA's limit or lower ours      |
//! | `temporary`    | `451 4.3.0 try again later`                      | nothing: the next run retries            |
//!
//! The text is checked before the code because one code covers several reasons (`5.7.1` is used for DMARC
//! failures and for blocklist hits alike); the code decides when the text says nothing we recognise, and the
//! reply's class (4xx) last. Unrecognised replies get no explanation rather than a wrong one.

use std::fmt;

/// Why the MTA refused a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The recipient does not exist at the MTA (X.1.1, "user unknown").
    UnknownUser,
    /// The recipient's mailbox is full or over quota (X.2.2).
    MailboxFull,
    /// A content, sender-authentication (SPF, DKIM, DMARC) or other policy check refused it (X.7.x).
    Policy,
    /// The client, sender or a relay is on a blocklist or blocked by an access rule.
    Blocked,
    /// The message exceeds a size limit (X.2.3, X.3.4).
    TooBig,
    /// A transient condition (4xx): the message stays and is retried.
    Temporary,
}

impl Reason {
    /// A short, stable name for logs and tests.
    pub fn name(self) -> &'static str {
        match self {
            Reason::UnknownUser => "unknown-user",
            Reason::MailboxFull => "mailbox-full",
            Reason::Policy => "policy",
            Reason::Blocked => "blocked",
            Reason::TooBig => "too-big",
            Reason::Temporary => "temporary",
        }
    }

    /// The reason in plain words, with what to do about it.
    pub fn advice(self) -> &'static str {
        match self {
            Reason::UnknownUser => {
                "the MTA does not know the recipient: check the account's target address"
            }
            Reason::MailboxFull => "the recipient's mailbox is full or over its quota",
            Reason::Policy => {
                "the MTA's policy refused it (content filter, or an SPF, DKIM or DMARC check of the sender)"
            }
            Reason::Blocked => {
                "the MTA blocked it: a blocklist or access rule matched the sender or a relay"
            }
            Reason::TooBig => {
                "the message is larger than the MTA accepts (compare its size limit with max_message_size)"
            }
            Reason::Temporary => "a temporary problem at the MTA; the message is retried next run",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name(), self.advice())
    }
}

/// An RFC 3463 enhanced status code `class.subject.detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnhancedCode {
    /// 2, 4 or 5 (RFC 3463 §3.1).
    pub class: u8,
    pub subject: u16,
    pub detail: u16,
}

/// The enhanced status code at the start of a reply text (RFC 3463 §2: `class "." subject "." detail`, subject and
/// detail of 1 to 3 digits; RFC 2034 §4 puts it first in the text), if any.
pub fn enhanced_code(text: &str) -> Option<EnhancedCode> {
    let token = text.trim_start().split([' ', '\t']).next()?;
    let mut parts = token.split('.');
    let class = parts.next()?;
    let subject = parts.next()?;
    let detail = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let digits = |s: &str, max: usize| {
        (!s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u16>().ok())
            .flatten()
    };
    let class = digits(class, 1)?;
    if !matches!(class, 2 | 4 | 5) {
        return None;
    }
    Some(EnhancedCode {
        class: class as u8,
        subject: digits(subject, 3)?,
        detail: digits(detail, 3)?,
    })
}

/// Phrases that name a reason, checked in this order on the lower-cased text. Blocklists come before policy
/// because blocklist replies often say "policy" too; sizes and quotas come before unknown users because "mailbox"
/// appears in all three.
const PHRASES: &[(Reason, &[&str])] = &[
    (
        Reason::Blocked,
        &[
            "blacklist",
            "blocklist",
            "block list",
            "black list",
            "banned",
            "denylist",
            "listed at",
            "listed in",
            "listed on",
            "spamhaus",
            "spamcop",
            "barracuda",
            "dnsbl",
            "rbl",
            "client host rejected",
            "sender address rejected: access denied",
            "poor reputation",
            "blocked",
        ],
    ),
    (
        Reason::TooBig,
        &[
            "too big",
            "too large",
            "size limit",
            "exceeds size",
            "size exceeds",
            "exceeds the maximum",
            "message length exceeds",
            "message size",
        ],
    ),
    (
        Reason::MailboxFull,
        &[
            "mailbox full",
            "mailbox is full",
            "over quota",
            "quota exceeded",
            "exceeded storage",
            "insufficient storage",
            "disk quota",
            "mailbox size limit",
        ],
    ),
    (
        Reason::UnknownUser,
        &[
            "user unknown",
            "unknown user",
            "no such user",
            "unknown recipient",
            "recipient unknown",
            "invalid recipient",
            "does not exist",
            "no mailbox",
            "mailbox unavailable",
            "not found in",
            "address rejected: user",
            "unrouteable address",
            "relay access denied",
        ],
    ),
    (
        Reason::Policy,
        &[
            "dmarc", "spf", "dkim", "policy", "spam", "content", "virus", "malware", "rejected",
        ],
    ),
];

/// Classify a negative reply (`code` is the basic 3-digit code, `text` the reply text after it). `None` for
/// positive replies and for refusals that say nothing recognisable.
pub fn classify(code: u16, text: &str) -> Option<Reason> {
    if !(400..600).contains(&code) {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    let by_text = PHRASES.iter().find_map(|(reason, phrases)| {
        phrases
            .iter()
            .any(|p| contains_word(&lower, p))
            .then_some(*reason)
    });
    let by_code = enhanced_code(text).and_then(by_enhanced);
    // The policy phrases are weak ("rejected" is in many replies): a more specific code wins over them.
    let reason = by_text
        .filter(|r| *r != Reason::Policy || by_code.is_none_or(|c| c == Reason::Policy))
        .or(by_code)
        .or(by_text)
        .or_else(|| by_basic(code))?;
    // A temporary reply keeps a reason that needs the admin's attention even when retried ("452 4.2.2 over
    // quota" is a full mailbox); anything else at 4xx (greylisting, a DMARC temperror, a failed recipient
    // verification) is simply temporary.
    if code < 500
        && !matches!(
            reason,
            Reason::MailboxFull | Reason::TooBig | Reason::Blocked
        )
    {
        return Some(Reason::Temporary);
    }
    Some(reason)
}

/// The reason an enhanced status code names by itself (RFC 3463 §3.2-3.9; subjects 1 address, 2 mailbox, 3 mail
/// system, 4 network, 5 protocol, 6 content, 7 security or policy).
fn by_enhanced(e: EnhancedCode) -> Option<Reason> {
    let r = match (e.subject, e.detail) {
        // Bad destination mailbox, system or syntax; destination moved; null MX (RFC 7505).
        (1, 1 | 2 | 3 | 6 | 10) => Reason::UnknownUser,
        // Mailbox disabled: it cannot receive, which for the admin means the same check.
        (2, 1) => Reason::UnknownUser,
        (2, 2) => Reason::MailboxFull,
        (2, 3) | (3, 4) => Reason::TooBig,
        // Bad sender address or system (X.1.7, X.1.8): the MTA's sender checks.
        (1, 7 | 8) | (7, _) | (6, _) => Reason::Policy,
        _ if e.class == 4 => Reason::Temporary,
        _ => return None,
    };
    Some(r)
}

/// The basic reply code alone (RFC 5321 §4.2.2).
fn by_basic(code: u16) -> Option<Reason> {
    match code {
        400..=499 => Some(Reason::Temporary),
        // 552: "exceeded storage allocation".
        552 => Some(Reason::MailboxFull),
        _ => None,
    }
}

/// Whether `phrase` occurs in `text` with no letter or digit glued to either end (so "rbl" does not match
/// "verbless" and "spf" not "spfx").
fn contains_word(text: &str, phrase: &str) -> bool {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(i) = text[from..].find(phrase) {
        let start = from + i;
        let end = start + phrase.len();
        let before_ok = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
        let after_ok = end == bytes.len() || !bytes[end].is_ascii_alphanumeric();
        if before_ok && after_ok {
            return true;
        }
        from = start + 1;
        while !text.is_char_boundary(from) {
            from += 1;
        }
    }
    false
}

/// Whether a refusal of `RCPT TO` says, by itself, that it is about the recipient rather than about this message
/// (design.md "MTA rejections", catalog S-03): an RFC 3463 recipient code (X.1.1 bad mailbox, X.1.2 bad system,
/// X.1.3 bad syntax, X.1.6 moved, X.1.10 null MX; §3.2, RFC 7505), or Postfix's "Recipient address rejected"
/// (`smtpd_recipient_restrictions`) or "Relay access denied" (`reject_unauth_destination`). Postfix applies
/// sender restrictions at `RCPT TO` as well (`smtpd_delay_reject = yes`), so a 5xx there alone proves nothing.
pub fn refuses_recipient(text: &str) -> bool {
    if let Some(e) = enhanced_code(text)
        && e.subject == 1
        && matches!(e.detail, 1 | 2 | 3 | 6 | 10)
    {
        return true;
    }
    let lower = text.to_ascii_lowercase();
    ["recipient address rejected", "relay access denied"]
        .iter()
        .any(|p| contains_word(&lower, p))
}

/// Whether a refusal says, by itself, that it is about the envelope sender (catalog S-17): an RFC 3463 sender code
/// (X.1.7 bad sender mailbox syntax, X.1.8 bad sender system address; §3.2), or Postfix's "Sender address
/// rejected" (`smtpd_sender_restrictions`: `reject_unknown_sender_domain` answers `450 4.1.8 <a@b>: Sender
/// address rejected: Domain not found` while the domain does not resolve, `reject_unverified_sender` `450 4.1.7`).
pub fn refuses_sender(text: &str) -> bool {
    if let Some(e) = enhanced_code(text)
        && e.subject == 1
        && matches!(e.detail, 7 | 8)
    {
        return true;
    }
    contains_word(&text.to_ascii_lowercase(), "sender address rejected")
}

/// Whether a refusal's text names the recipient `target` (as `<target>`, case-insensitively) and not the
/// `sender`: Postfix puts the address a restriction is about in brackets at the start of its text, so
/// `<me@example.org>: Relay access denied` is about the target and `<spam@x.test>: Sender address rejected` is
/// about the message. A text naming both (a message from the target itself) decides nothing.
pub fn names_only_target(text: &str, target: &str, sender: Option<&str>) -> bool {
    let lower = text.to_ascii_lowercase();
    let named = |a: &str| !a.is_empty() && lower.contains(&format!("<{}>", a.to_ascii_lowercase()));
    named(target) && !sender.is_some_and(named)
}

/// The explanation to append to a log line about a refusal with this code and text, e.g.
/// `reason: unknown-user: the MTA does not know the recipient: check the account's target address`.
pub fn describe(code: Option<u16>, text: &str) -> Option<String> {
    classify(code?, text).map(|r| format!("reason: {r}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enhanced_codes_are_parsed_only_at_the_start() {
        assert_eq!(
            enhanced_code("5.1.1 <x@y>: Recipient address rejected"),
            Some(EnhancedCode {
                class: 5,
                subject: 1,
                detail: 1
            })
        );
        assert_eq!(enhanced_code("4.7.26 x").map(|e| e.detail), Some(26));
        assert_eq!(enhanced_code("Error 5.1.1 later"), None);
        assert_eq!(enhanced_code("3.1.1 bad class"), None);
        assert_eq!(enhanced_code("5.1 short"), None);
        assert_eq!(enhanced_code("5.1.1.1 long"), None);
        assert_eq!(enhanced_code("5.1000.1 wide"), None);
        assert_eq!(enhanced_code(""), None);
        assert_eq!(enhanced_code("5..1"), None);
    }

    #[test]
    fn s17_sender_codes_and_postfix_sender_phrase_are_about_the_sender() {
        for text in [
            "4.1.8 <a@nx.example>: Sender address rejected: Domain not found",
            "4.1.7 <a@b.example>: Sender address rejected: unverified address",
            "4.1.8 Bad sender's system address",
            "4.7.1 <a@b.example>: Sender address rejected: try later",
            "<a@b.example>: Sender address rejected: Domain not found",
        ] {
            assert!(refuses_sender(text), "{text}");
        }
        for text in [
            "4.1.1 <me@example.org>: Recipient address rejected: unverified address",
            "4.2.0 Greylisted, see https://postgrey.schweikert.ch/",
            "4.3.0 <a@b.example>: Temporary lookup failure",
            "4.3.1 Insufficient system storage",
            "Error: sender address rejectedness",
            "",
        ] {
            assert!(!refuses_sender(text), "{text}");
        }
    }

    #[test]
    fn words_match_whole() {
        assert!(contains_word("listed at zen.spamhaus.org", "spamhaus"));
        assert!(!contains_word("verbless", "rbl"));
        assert!(contains_word("rbl: listed", "rbl"));
        assert!(!contains_word("spfx", "spf"));
        assert!(contains_word("é spf", "spf"));
    }

    #[test]
    fn s03_recipient_evidence_from_the_reply_alone() {
        for code in ["5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10"] {
            assert!(
                refuses_recipient(&format!("{code} Access denied")),
                "{code}"
            );
        }
        for code in ["5.1.7", "5.1.8", "5.7.1", "5.1.0", "5.5.2"] {
            assert!(
                !refuses_recipient(&format!("{code} Access denied")),
                "{code}"
            );
        }
        assert!(refuses_recipient(
            "5.7.1 <me@x.test>: Recipient address rejected: Access denied"
        ));
        assert!(refuses_recipient("<me@x.test>: relay access denied"));
        assert!(!refuses_recipient(
            "5.7.1 <spam@x.test>: Sender address rejected: Access denied"
        ));
        assert!(!refuses_recipient("Access denied"));
    }

    #[test]
    fn s03_naming_the_target_and_not_the_sender() {
        let t = "me@example.org";
        assert!(names_only_target(
            "5.7.1 <Me@Example.org>: Relay access denied",
            t,
            Some("a@b.test")
        ));
        assert!(names_only_target("<me@example.org>: no", t, None));
        assert!(!names_only_target(
            "<me@example.org>: from <a@b.test> refused",
            t,
            Some("a@b.test")
        ));
        assert!(!names_only_target(
            "<a@b.test>: Sender address rejected",
            t,
            Some("a@b.test")
        ));
        // Without brackets an address inside another word is not taken as naming it.
        assert!(!names_only_target("xme@example.org refused", t, None));
    }

    #[test]
    fn sender_access_and_relay_refusals_get_their_reasons() {
        assert_eq!(
            classify(
                554,
                "5.7.1 <blocked@spam.example>: Sender address rejected: Access denied"
            ),
            Some(Reason::Blocked)
        );
        assert_eq!(
            classify(554, "5.7.1 <me@x.test>: Relay access denied"),
            Some(Reason::UnknownUser)
        );
    }

    #[test]
    fn positive_and_unrecognised_replies_get_no_explanation() {
        assert_eq!(classify(250, "2.0.0 Ok: queued"), None);
        assert_eq!(classify(554, "Transaction failed"), None);
        assert_eq!(classify(500, "5.5.1 command unrecognized"), None);
        assert_eq!(describe(None, "user unknown"), None);
    }
}
