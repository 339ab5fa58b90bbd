//! A failure that ends a poll: its exit class, its one safe line (scrubbed, escaped, bounded) and what to do.

use crate::config::Account;
use crate::error::{ExitClass, chain};
use crate::pop3;
use crate::tls;
use crate::untrusted::{Secrets, Shown};

/// Longest failure text an error line shows, in characters.
const MAX_ERROR_TEXT: usize = 2048;

/// What to do about a failure of this class, for the end of the error line.
pub(super) fn hint(class: ExitClass) -> &'static str {
    match class {
        ExitClass::TempFail => "nothing was lost; the next run retries",
        ExitClass::Security => {
            "nothing was sent or deleted; check the credentials, tls, ca_file or cert_sha256"
        }
        ExitClass::Config => "fix the configuration (popfetch check validates it)",
        ExitClass::State => "no mail was deleted; fix or move the state file named above",
        ExitClass::Protocol => {
            "the server broke the POP3 or SMTP protocol; mail stays on the server"
        }
        ExitClass::Unavailable => "the server says it is unavailable; mail stays on the server",
        ExitClass::Partial => "see the lines above; the messages stay on the server",
        ExitClass::Internal => "this is a bug in popfetch; mail stays on the server",
        ExitClass::Ok => "",
    }
}

/// A failure that ends the poll: its class and a one-line message without secrets.
pub(crate) struct Failure {
    pub(crate) class: ExitClass,
    pub(crate) message: String,
    /// The POP3 link is in an unknown state (broken stream) or the state file is in doubt: drop the link
    /// without QUIT, so nothing marked for deletion is committed (invariant 2).
    pub(crate) abort_pop3: bool,
}

impl Failure {
    /// The message as one safe line (catalog T-11, T-12, T-20). Server text inside it was shown through
    /// `secrets` already; this pass covers what library errors quote (a TLS name, an I/O error) and bounds the
    /// line. Escaping is idempotent, so pieces escaped before are unchanged.
    pub(crate) fn shown(&self, secrets: &Secrets) -> Shown {
        secrets.show(self.message.as_bytes(), MAX_ERROR_TEXT)
    }

    pub(crate) fn of(class: ExitClass, e: impl std::fmt::Display) -> Failure {
        Failure {
            class,
            message: e.to_string(),
            abort_pop3: false,
        }
    }
}

pub(crate) fn pop3_fail(e: pop3::Pop3Error) -> Failure {
    Failure {
        abort_pop3: true,
        ..Failure::of(e.class(), chain(&e))
    }
}

/// [`pop3_fail`], with TLS handshake failures explained from the certificate the server presented (issue 9).
pub(super) fn tls_fail(e: pop3::Pop3Error, acct: &Account, presented: &tls::Presented) -> Failure {
    let message = match &e {
        pop3::Pop3Error::Tls(err) => {
            let cert = presented.get().map(|c| tls::explain::CertInfo::parse(&c));
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            let at = tls::explain::Attempt {
                host: &acct.host,
                port: acct.port,
                pin: acct.cert_sha256,
                now,
            };
            tls::explain::handshake(err, cert.as_ref(), &at)
        }
        pop3::Pop3Error::PlainPop3 => tls::explain::plain_pop3(acct.port),
        _ => return pop3_fail(e),
    };
    Failure {
        abort_pop3: true,
        ..Failure::of(e.class(), message)
    }
}

pub(crate) fn state_fail(e: crate::state::StateError) -> Failure {
    Failure {
        abort_pop3: true,
        ..Failure::of(e.class(), chain(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::{Failure, MAX_ERROR_TEXT};
    use crate::error::ExitClass;
    use crate::secret::Secret;
    use crate::untrusted::Secrets;

    #[test]
    fn t11_t12_t20_failure_text_is_scrubbed_escaped_and_bounded() {
        let shown = |text: &str, secrets: &Secrets| {
            String::from(Failure::of(ExitClass::Protocol, text).shown(secrets))
        };
        let none = Secrets::none();
        assert_eq!(
            shown("DnsName(\"a\0.evil\x1b[31m\x07\r\n\")", &none),
            "DnsName(\"a\\x00.evil\\x1b[31m\\x07\\x0d\\x0a\")"
        );
        // 8-bit text stays readable; pieces escaped before are unchanged; only the length is bounded.
        assert_eq!(shown("café \\x1b", &none), "café \\x1b");
        let cut = shown(&"é".repeat(3000), &none);
        assert!(cut.starts_with(&"é".repeat(MAX_ERROR_TEXT)));
        assert!(
            cut.ends_with("é[... 1904 more bytes]"),
            "{}",
            &cut[cut.len() - 40..]
        );
        // A library error that quotes what a server sent (here: the password) is scrubbed at this edge too.
        let secrets = Secrets::new();
        secrets.add(&Secret::new("hunter2"));
        assert_eq!(
            shown("i/o error: peer said hunter2 / aHVudGVyMg==", &secrets),
            "i/o error: peer said [redacted] / [redacted]=="
        );
    }
}
