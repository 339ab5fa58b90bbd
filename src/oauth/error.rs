//! [`OAuthError`]: everything that can stop getting a token, each mapped to an exit class. Messages name the
//! account and the endpoint, never a token, code or secret; provider text is escaped and bounded.

use std::path::PathBuf;

use crate::config::PasswordError;
use crate::tls::TlsError;

/// An OAuth error response (RFC 6749 §5.2, RFC 8628 §3.5): the `error` code and the description, both escaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderError {
    pub error: String,
    pub description: Option<String>,
}

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.description {
            Some(d) => write!(f, "{}: {d}", self.error),
            None => f.write_str(&self.error),
        }
    }
}

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// No refresh token is stored (never authorized, or the token file was removed).
    #[error("not authorized yet: run `{command}`")]
    NotAuthorized { command: String },
    /// The stored token belongs to another client or token endpoint (the config changed).
    #[error("the stored token was issued for another client_id or token_url: run `{command}`")]
    ClientChanged { command: String },
    /// The provider refused the refresh token (`invalid_grant`: revoked, expired, password changed).
    #[error("the provider refused the stored authorization ({error}): run `{command}`")]
    Revoked {
        /// `popfetch auth ACCOUNT` (with `--imap` for the IMAP destination's token).
        command: String,
        error: ProviderError,
    },
    /// The provider refused the request for another reason (`invalid_client`, `unauthorized_client`, ...).
    #[error("{url} refused the request: {error}")]
    Refused { url: String, error: ProviderError },
    /// The endpoint could not be reached (DNS, connect, TLS, proxy) or the exchange broke off.
    #[error("cannot reach {url}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The endpoint's TLS certificate was refused (untrusted, expired, wrong name): not retried blindly.
    #[error("tls handshake with {url} failed")]
    TlsRefused {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The endpoint did not answer within the account's timeout.
    #[error("{url} did not answer within {secs} s")]
    Timeout { url: String, secs: u64 },
    /// The endpoint answered with a server error (5xx) or an HTTP status that is not an OAuth error response.
    #[error("{url} answered http status {status}")]
    Status { url: String, status: u16 },
    /// The answer is not what RFC 6749 describes (not JSON, no access_token, ...).
    #[error("{url} sent an unusable answer: {what}")]
    BadResponse { url: String, what: &'static str },
    /// The token file cannot be read or written, or is corrupt or unsafe.
    #[error("token file {}: {what}", path.display())]
    Store {
        path: PathBuf,
        what: String,
        #[source]
        source: Option<std::io::Error>,
    },
    /// The client secret file is unusable.
    #[error(transparent)]
    ClientSecret(#[from] PasswordError),
    /// The TLS configuration for the HTTP client could not be built.
    #[error("cannot set up tls for the authorization server")]
    Tls(#[source] TlsError),
    /// The HTTP client could not be built.
    #[error("cannot set up the http client")]
    Client(#[source] reqwest::Error),
    /// `popfetch auth`: the user or the provider ended the authorization.
    #[error("authorization failed: {what}")]
    Flow { what: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ExitClass;

    #[test]
    fn classes() {
        let pe = ProviderError {
            error: "invalid_grant".into(),
            description: None,
        };
        let revoked = OAuthError::Revoked {
            command: "popfetch auth a".into(),
            error: pe,
        };
        assert_eq!(revoked.class(), ExitClass::Security);
        assert!(revoked.to_string().contains("run `popfetch auth a`"));
        for (status, class) in [
            (500, ExitClass::TempFail),
            (503, ExitClass::TempFail),
            (429, ExitClass::TempFail),
            (404, ExitClass::Protocol),
        ] {
            let e = OAuthError::Status {
                url: "https://x/".into(),
                status,
            };
            assert_eq!(e.class(), class, "{status}");
        }
    }
}
