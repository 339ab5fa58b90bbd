//! Exit classes: what kind of failure ended (part of) a poll, and, in one table at the end of this file, which
//! error is which class. A run over several accounts exits with the most severe class seen (`docs/design.md`,
//! README and the man page list the codes).

use std::io;
use std::process::ExitCode;

use tokio_rustls::rustls;

use crate::config::ConfigError;
use crate::config::PasswordError;
use crate::deliver::LocalError;
use crate::deliver::imap::ImapError;
use crate::oauth::OAuthError;
use crate::pop3::Pop3Error;
use crate::pop3::{RespCode, ServerError};
use crate::smtp::SmtpError;
use crate::smtp::{AddressRole, Verdict};
use crate::state::StateError;
use crate::state::daemon_lock::LockError;

/// What kind of failure ended (part of) a poll. The numeric value is the process exit status (sysexits.h style).
///
/// fetchmail's "1 = no mail" is deliberately not copied: it breaks cron and systemd success checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitClass {
    /// Everything fine, including "no new mail".
    Ok,
    /// Some messages were rejected by the MTA or skipped by policy; the rest were handled.
    Partial,
    /// The POP3 server is permanently unavailable (`[SYS/PERM]`).
    Unavailable,
    /// A bug in popfetch.
    Internal,
    /// The state file is corrupt, foreign or cannot be written.
    State,
    /// Try again later: network, timeout, MTA 4xx or down, `[IN-USE]`, `[LOGIN-DELAY]`, lock held.
    TempFail,
    /// A server (POP3 or SMTP) broke the protocol.
    Protocol,
    /// Authentication failed, or a security policy (TLS, certificate, plaintext) refused to go on.
    Security,
    /// The configuration is wrong or unsafe.
    Config,
}

impl ExitClass {
    /// A failure that stops an account until a human acts (the daemon retries it only hourly, on SIGUSR1 or a
    /// reload; `popfetch status` flags it).
    pub fn needs_human(self) -> bool {
        matches!(
            self,
            ExitClass::State | ExitClass::Security | ExitClass::Config
        )
    }

    /// The process exit status for this class.
    pub fn code(self) -> u8 {
        match self {
            ExitClass::Ok => 0,
            ExitClass::Partial => 1,
            ExitClass::Unavailable => 69,
            ExitClass::Internal => 70,
            ExitClass::State => 74,
            ExitClass::TempFail => 75,
            ExitClass::Protocol => 76,
            ExitClass::Security => 77,
            ExitClass::Config => 78,
        }
    }

    /// Severity rank: a multi-account run exits with the highest.
    /// Config, security and state problems need a human, so they outrank protocol faults, which outrank
    /// outages and temporary failures.
    fn rank(self) -> u8 {
        match self {
            ExitClass::Ok => 0,
            ExitClass::Partial => 1,
            ExitClass::TempFail => 2,
            ExitClass::Unavailable => 3,
            ExitClass::Protocol => 4,
            ExitClass::Internal => 5,
            ExitClass::State => 6,
            ExitClass::Security => 7,
            ExitClass::Config => 8,
        }
    }

    /// The more severe of two classes.
    pub fn worst(self, other: ExitClass) -> ExitClass {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }

    /// True for failures that should be retried later without human help (daemon backoff).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ExitClass::TempFail | ExitClass::Protocol | ExitClass::Unavailable
        )
    }

    /// Short lower-case name used in log lines (`class=`).
    pub fn name(self) -> &'static str {
        match self {
            ExitClass::Ok => "ok",
            ExitClass::Partial => "partial",
            ExitClass::Unavailable => "unavailable",
            ExitClass::Internal => "internal",
            ExitClass::State => "state",
            ExitClass::TempFail => "tempfail",
            ExitClass::Protocol => "protocol",
            ExitClass::Security => "security",
            ExitClass::Config => "config",
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Which failure is which class: the one table (docs/design.md "Exit codes", README and man/popfetch.1 EXIT STATUS).
// The error types live with their modules and know nothing of exit statuses; the mapping is here so it reads in
// one place.
// ---------------------------------------------------------------------------------------------------------------

/// POP3 sessions: network trouble is temporary; TLS and login policy is security; a server that breaks the
/// protocol is a protocol fault.
impl Pop3Error {
    /// The exit class this failure maps to.
    pub fn class(&self) -> ExitClass {
        match self {
            Pop3Error::Connect { .. }
            | Pop3Error::Timeout { .. }
            | Pop3Error::Io { .. }
            | Pop3Error::Closed { .. } => ExitClass::TempFail,
            // Not speaking TLS at all is a protocol mismatch, except plain POP3 (`PlainPop3`, a configuration
            // mismatch refused by policy); every other handshake failure is a verification or negotiation refusal.
            Pop3Error::Tls(rustls::Error::InvalidMessage(_)) => ExitClass::Protocol,
            Pop3Error::Tls(_)
            | Pop3Error::PlainPop3
            | Pop3Error::StlsNotOffered
            | Pop3Error::StlsRefused { .. }
            | Pop3Error::PlaintextRefused
            | Pop3Error::AuthNotOffered { .. }
            | Pop3Error::NoApopTimestamp
            | Pop3Error::BearerRefused { .. } => ExitClass::Security,
            Pop3Error::TlsConfig(_) | Pop3Error::BadCredential => ExitClass::Config,
            Pop3Error::Protocol { .. }
            | Pop3Error::NotStatus { .. }
            | Pop3Error::Codec { .. }
            | Pop3Error::TooLarge { .. } => ExitClass::Protocol,
            Pop3Error::LoginDelay { .. } => ExitClass::TempFail,
            Pop3Error::Server { command, error } => server_class(command, error),
            Pop3Error::Aborted | Pop3Error::Misuse { .. } => ExitClass::Internal,
        }
    }
}

/// RFC 3206: `[AUTH]` means bad credentials, `[SYS/TEMP]` / `[IN-USE]` / `[LOGIN-DELAY]` try later, `[SYS/PERM]`
/// give up. Without a code, `-ERR` to an authentication command counts as an authentication failure (P-11), to the
/// greeting as an outage, and to anything else as a server fault.
fn server_class(command: &str, error: &ServerError) -> ExitClass {
    match &error.code {
        Some(RespCode::Auth) => ExitClass::Security,
        Some(RespCode::InUse | RespCode::LoginDelay | RespCode::SysTemp) => ExitClass::TempFail,
        Some(RespCode::SysPerm) => ExitClass::Unavailable,
        Some(RespCode::Other(_)) | None => match command {
            "USER" | "PASS" | "AUTH" | "APOP" => ExitClass::Security,
            "greeting" => ExitClass::TempFail,
            _ => ExitClass::Protocol,
        },
    }
}

/// The MTA (SMTP or LMTP).
impl SmtpError {
    /// The exit class of this failure.
    pub fn class(&self) -> ExitClass {
        if let SmtpError::Address { role, .. } = self {
            // The target comes from the configuration. A sender passed the header pipeline's stricter check
            // (`headers::valid_envelope_address`) or the configuration's, so refusing it here is a bug.
            return match role {
                AddressRole::Recipient => ExitClass::Config,
                AddressRole::Sender => ExitClass::Internal,
            };
        }
        match self.verdict() {
            Verdict::Temporary => ExitClass::TempFail,
            Verdict::Rejected => ExitClass::Partial,
            Verdict::Misconfigured => ExitClass::Config,
        }
    }
}

/// Local destinations (an MDA, a Maildir).
impl LocalError {
    /// The exit class of a poll that stops here.
    pub fn class(&self) -> ExitClass {
        match self {
            LocalError::Refused { .. } => ExitClass::Partial,
            LocalError::Temporary { .. } | LocalError::Pipe { .. } => ExitClass::TempFail,
            LocalError::Spawn { .. } => ExitClass::Config,
            // A full disk or quota may free up by itself; anything else (read-only, permissions, not a directory)
            // needs a person, like a state file that cannot be written.
            LocalError::Internal(_) => ExitClass::Internal,
            LocalError::Maildir { source, .. } | LocalError::Spool { source, .. }
                if matches!(
                    source.kind(),
                    io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
                ) =>
            {
                ExitClass::TempFail
            }
            LocalError::Maildir { .. } | LocalError::Spool { .. } => ExitClass::State,
        }
    }
}

/// IMAP APPEND.
impl ImapError {
    pub fn class(&self) -> ExitClass {
        match self {
            ImapError::Rejected { .. } => ExitClass::Partial,
            ImapError::TryCreate { .. } | ImapError::TlsConfig(_) => ExitClass::Config,
            ImapError::Handshake(_)
            | ImapError::NoStarttls
            | ImapError::NoLogin
            | ImapError::Login { .. }
            | ImapError::MechanismNotOffered { .. }
            | ImapError::BearerRefused { .. } => ExitClass::Security,
            ImapError::Password(e) => e.class(),
            ImapError::OAuth(e) => e.class(),
            ImapError::Protocol { .. } | ImapError::Codec { .. } => ExitClass::Protocol,
            ImapError::Connect { .. }
            | ImapError::Timeout { .. }
            | ImapError::Io { .. }
            | ImapError::Closed { .. }
            | ImapError::Bye { .. }
            | ImapError::Refused { .. }
            | ImapError::Deferred { .. } => ExitClass::TempFail,
        }
    }
}

/// The state file.
impl StateError {
    /// Exit class: a held lock is temporary (the other run finishes); everything else needs a human.
    pub fn class(&self) -> ExitClass {
        match self {
            StateError::Locked { .. } => ExitClass::TempFail,
            _ => ExitClass::State,
        }
    }
}

/// The configuration.
impl ConfigError {
    /// Every configuration error is [`ExitClass::Config`] (exit 78).
    pub fn class(&self) -> ExitClass {
        ExitClass::Config
    }
}

/// Password sources.
impl PasswordError {
    /// Every password problem is a configuration problem (exit 78): a human has to fix the file or the program.
    pub fn class(&self) -> ExitClass {
        ExitClass::Config
    }
}

/// OAuth 2.0 tokens.
impl OAuthError {
    /// The exit class: a refused grant or client is an authentication failure (77, the daemon stops the account);
    /// an unreachable or failing provider is temporary (75); the token file is state (74).
    pub fn class(&self) -> ExitClass {
        match self {
            OAuthError::NotAuthorized { .. }
            | OAuthError::ClientChanged { .. }
            | OAuthError::Revoked { .. }
            | OAuthError::Refused { .. }
            | OAuthError::Flow { .. }
            | OAuthError::TlsRefused { .. } => ExitClass::Security,
            OAuthError::Unreachable { .. } | OAuthError::Timeout { .. } => ExitClass::TempFail,
            OAuthError::Status { status, .. } if *status >= 500 || *status == 429 => {
                ExitClass::TempFail
            }
            OAuthError::Status { .. } | OAuthError::BadResponse { .. } => ExitClass::Protocol,
            OAuthError::Store { .. } => ExitClass::State,
            OAuthError::ClientSecret(_) | OAuthError::Tls(_) => ExitClass::Config,
            OAuthError::Client(_) => ExitClass::Internal,
        }
    }
}

/// The daemon's single-instance lock (`state::daemon_lock`).
impl LockError {
    /// [`LockError::Held`] is "try later" (75), as for a per-account lock; I/O trouble is a state problem (74).
    pub fn class(&self) -> ExitClass {
        match self {
            LockError::Held { .. } => ExitClass::TempFail,
            LockError::Io { .. } => ExitClass::State,
        }
    }
}

impl From<ExitClass> for ExitCode {
    fn from(c: ExitClass) -> ExitCode {
        ExitCode::from(c.code())
    }
}

/// An error and its causes on one line (`a: b: c`): typed errors never interpolate their source (style rule 5),
/// so the chain is printed once, here.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_prefers_config_over_tempfail_and_ok() {
        assert_eq!(
            ExitClass::Ok.worst(ExitClass::TempFail),
            ExitClass::TempFail
        );
        assert_eq!(
            ExitClass::TempFail.worst(ExitClass::Ok),
            ExitClass::TempFail
        );
        assert_eq!(
            ExitClass::Config.worst(ExitClass::Security),
            ExitClass::Config
        );
        assert_eq!(
            ExitClass::Partial.worst(ExitClass::Protocol),
            ExitClass::Protocol
        );
    }

    #[test]
    fn codes_follow_sysexits() {
        let all = [
            (ExitClass::Ok, 0),
            (ExitClass::Partial, 1),
            (ExitClass::Unavailable, 69),
            (ExitClass::Internal, 70),
            (ExitClass::State, 74),
            (ExitClass::TempFail, 75),
            (ExitClass::Protocol, 76),
            (ExitClass::Security, 77),
            (ExitClass::Config, 78),
        ];
        for (c, n) in all {
            assert_eq!(c.code(), n, "{c:?}");
        }
    }
}
