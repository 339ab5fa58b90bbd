//! Exit classes shared by every module: each error type maps itself to one [`ExitClass`], and a run over several
//! accounts exits with the most severe class seen (../docs and the man page list them).

use std::process::ExitCode;

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

impl From<ExitClass> for ExitCode {
    fn from(c: ExitClass) -> ExitCode {
        ExitCode::from(c.code())
    }
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
