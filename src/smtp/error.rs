//! What can go wrong talking to the MTA, and what each failure means for the message and the poll.

use std::fmt;

use super::reply::ReplyError;
use crate::untrusted::Shown;

/// Which envelope address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressRole {
    Sender,
    Recipient,
}

impl fmt::Display for AddressRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressRole::Sender => "sender",
            AddressRole::Recipient => "recipient",
        })
    }
}

/// The SMTP step an error happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Connect,
    Greeting,
    Mail,
    Rcpt,
    Data,
    EndOfData,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Connect => "connect",
            Phase::Greeting => "greeting/EHLO",
            Phase::Mail => "MAIL FROM",
            Phase::Rcpt => "RCPT TO",
            Phase::Data => "DATA",
            Phase::EndOfData => "end of DATA",
        })
    }
}

/// Why a transaction or the connection failed.
#[derive(thiserror::Error, Debug)]
pub enum SmtpError {
    /// The MTA could not be reached or dropped the connection.
    #[error("MTA {addr}: {phase} failed")]
    Unreachable {
        addr: String,
        phase: Phase,
        #[source]
        source: std::io::Error,
    },
    /// The MTA's reply was not a well-formed reply (catalog S-09): the connection is dropped.
    #[error("MTA {addr}: garbled reply to {phase}{}", quoted(line))]
    Garbled {
        addr: String,
        phase: Phase,
        /// The malformed line, scrubbed, escaped and bounded ([`crate::untrusted`]); empty for other faults.
        line: Shown,
        #[source]
        source: ReplyError,
    },
    /// An envelope address popfetch will not put on the wire (design invariant 6). A local problem, found before
    /// anything was sent for this message: not the MTA's answer, so never recorded as its rejection (issue 10).
    #[error("{role} address {address:?} cannot be used in the envelope: {reason}")]
    Address {
        role: AddressRole,
        /// The address, escaped.
        address: String,
        reason: &'static str,
    },
    /// A step took longer than its RFC 5321 limit.
    #[error("MTA {addr}: no reply to {phase} within {secs} s")]
    Timeout {
        addr: String,
        phase: Phase,
        secs: u64,
    },
    /// The MTA answered with a negative reply.
    #[error("MTA {addr} answered {code} to {phase}: {text}")]
    Reply {
        addr: String,
        phase: Phase,
        code: u16,
        /// Scrubbed, escaped, bounded ([`crate::untrusted`]).
        text: Shown,
    },
    /// The MTA broke the protocol (RFC 5321 §3.3: no message data without 354).
    #[error("MTA {addr}: unexpected reply {code} to {phase}")]
    Unexpected {
        addr: String,
        phase: Phase,
        code: u16,
    },
}

/// What a failed delivery means for the message and the poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Try again next poll: keep the message, stop delivering now (4xx, lost connection, timeout).
    Temporary,
    /// This message was refused for good (5xx to MAIL, DATA or end-of-DATA): keep it, record it as rejected.
    Rejected,
    /// Every message would fail alike (a 5xx to RCPT TO that is about the configured target, 530 authentication
    /// required, a refused greeting): a configuration problem, nothing is recorded (catalog S-03).
    Misconfigured,
}

impl SmtpError {
    /// How the poller must treat this failure, judged from the reply alone. A 5xx to RCPT TO is about the target
    /// only when its code or text says so ([`crate::inspect::explain::refuses_recipient`]); otherwise it is this message's
    /// rejection (Postfix applies sender restrictions at RCPT TO), and the poller may still find it is about the
    /// target from the envelope or from a second sender refused alike (`poller::refusal`).
    pub fn verdict(&self) -> Verdict {
        match self {
            SmtpError::Reply {
                code, phase, text, ..
            } if (500..600).contains(code) => {
                let about_target =
                    *phase == Phase::Rcpt && crate::inspect::explain::refuses_recipient(text);
                if *code == 530 || *phase == Phase::Greeting || about_target {
                    Verdict::Misconfigured
                } else {
                    Verdict::Rejected
                }
            }
            // Nothing was sent; every message with this address would fail alike.
            SmtpError::Address { .. } => Verdict::Misconfigured,
            _ => Verdict::Temporary,
        }
    }

    /// True when the MTA ended the session for having had enough of this connection rather than refusing the
    /// message: `421` at any step (RFC 5321 §3.8: the server closes the channel; Exim's
    /// `smtp_accept_max_per_connection`), or `452` with enhanced code `4.5.3` to MAIL (OpenSMTPD's
    /// `smtp limit max-mails`: "Too many messages sent"; RFC 3463 §3.6 "too many recipients"). On a connection
    /// that already took a message, the poller then opens a new one and goes on with the same message; the same
    /// refusal on a fresh connection is a real temporary failure. `452 4.3.1` (no queue space) is not this: it
    /// stops the poll (catalog S-01).
    pub fn session_exhausted(&self) -> bool {
        match self {
            SmtpError::Reply { code: 421, .. } => true,
            SmtpError::Reply {
                code: 452,
                phase: Phase::Mail,
                text,
                ..
            } => text.trim_start().starts_with("4.5.3"),
            _ => false,
        }
    }

    /// True when the link failed after the message may have been handed over in full (no clear reply to
    /// end-of-DATA): the MTA may have queued it, so a later retry may deliver it twice (catalog S-07).
    pub fn maybe_accepted(&self) -> bool {
        matches!(
            self,
            SmtpError::Unreachable {
                phase: Phase::EndOfData,
                ..
            } | SmtpError::Timeout {
                phase: Phase::EndOfData,
                ..
            } | SmtpError::Unexpected {
                phase: Phase::EndOfData,
                ..
            } | SmtpError::Garbled {
                phase: Phase::EndOfData,
                ..
            }
        )
    }

    /// The step the failure happened in; a local address problem counts as MAIL (nothing was sent).
    pub fn phase(&self) -> Phase {
        match self {
            SmtpError::Unreachable { phase, .. }
            | SmtpError::Garbled { phase, .. }
            | SmtpError::Timeout { phase, .. }
            | SmtpError::Reply { phase, .. }
            | SmtpError::Unexpected { phase, .. } => *phase,
            SmtpError::Address { .. } => Phase::Mail,
        }
    }

    /// The reply code, if the MTA answered.
    pub fn code(&self) -> Option<u16> {
        match self {
            SmtpError::Reply { code, .. } | SmtpError::Unexpected { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The reply text, if the MTA answered.
    pub fn text(&self) -> &str {
        match self {
            SmtpError::Reply { text, .. } => text.as_str(),
            _ => "",
        }
    }
}

/// `: "line"`, or nothing for an empty line.
fn quoted(line: &Shown) -> String {
    if line.is_empty() {
        String::new()
    } else {
        format!(": \"{line}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ExitClass;

    #[test]
    fn s03_rcpt_5xx_about_the_recipient_is_misconfiguration_and_eod_5xx_a_rejection() {
        let t = |phase, code, text: &str| SmtpError::Reply {
            addr: "x".into(),
            phase,
            code,
            text: crate::untrusted::Secrets::none().show(text.as_bytes(), crate::untrusted::REPLY),
        };
        let e = |phase, code| t(phase, code, "");
        assert_eq!(
            t(Phase::Rcpt, 550, "5.1.1 <a@b>: Recipient address rejected").verdict(),
            Verdict::Misconfigured
        );
        // A sender restriction applied at RCPT TO (Postfix's smtpd_delay_reject) refuses one message.
        let sender = "5.7.1 <s@spam.test>: Sender address rejected: Access denied";
        assert_eq!(t(Phase::Rcpt, 554, sender).verdict(), Verdict::Rejected);
        assert_eq!(t(Phase::Rcpt, 554, sender).class(), ExitClass::Partial);
        assert_eq!(e(Phase::Rcpt, 550).verdict(), Verdict::Rejected);
        assert_eq!(e(Phase::Mail, 530).verdict(), Verdict::Misconfigured);
        assert_eq!(e(Phase::EndOfData, 550).verdict(), Verdict::Rejected);
        assert_eq!(e(Phase::Mail, 553).verdict(), Verdict::Rejected);
        assert_eq!(e(Phase::EndOfData, 451).verdict(), Verdict::Temporary);
        assert_eq!(e(Phase::Rcpt, 450).verdict(), Verdict::Temporary);
        assert_eq!(e(Phase::EndOfData, 451).class(), ExitClass::TempFail);
        assert_eq!(e(Phase::EndOfData, 554).class(), ExitClass::Partial);
    }

    #[test]
    fn s08_421_and_452_4_5_3_to_mail_end_the_session_other_4xx_do_not() {
        let e = |phase, code, text: &str| SmtpError::Reply {
            addr: "x".into(),
            phase,
            code,
            text: crate::untrusted::Secrets::none().show(text.as_bytes(), crate::untrusted::REPLY),
        };
        for phase in [
            Phase::Greeting,
            Phase::Mail,
            Phase::Rcpt,
            Phase::Data,
            Phase::EndOfData,
        ] {
            assert!(
                e(phase, 421, "4.7.0 too many messages in this connection").session_exhausted()
            );
        }
        assert!(
            e(
                Phase::Mail,
                452,
                "4.5.3 Too many recipients: Too many messages sent"
            )
            .session_exhausted()
        );
        assert!(!e(Phase::Mail, 452, "4.3.1 Insufficient system storage").session_exhausted());
        assert!(!e(Phase::Rcpt, 452, "4.5.3 Too many recipients").session_exhausted());
        assert!(!e(Phase::Mail, 451, "4.5.3 odd").session_exhausted());
        assert!(!e(Phase::EndOfData, 451, "4.3.0 queue file write error").session_exhausted());
        let lost = SmtpError::Unreachable {
            addr: "x".into(),
            phase: Phase::Mail,
            source: std::io::ErrorKind::ConnectionReset.into(),
        };
        assert!(!lost.session_exhausted());
    }

    #[test]
    fn i10_a_local_address_problem_is_not_an_mta_rejection() {
        let e = |role| SmtpError::Address {
            role,
            address: "a b@c".into(),
            reason: "contains white space",
        };
        assert_eq!(e(AddressRole::Recipient).verdict(), Verdict::Misconfigured);
        assert_eq!(e(AddressRole::Recipient).class(), ExitClass::Config);
        assert_eq!(e(AddressRole::Sender).class(), ExitClass::Internal);
        assert_eq!(e(AddressRole::Sender).code(), None);
        assert!(!e(AddressRole::Sender).maybe_accepted());
    }
}
