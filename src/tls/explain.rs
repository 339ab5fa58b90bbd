//! TLS failures in words a user can act on (issue 9, point 4): what the server's certificate says (subject, issuer,
//! validity, names, SHA-256 fingerprint) and the exact configuration line that would trust it once checked.
//!
//! Everything read from a certificate is untrusted text chosen by whoever answered on the port: each field is
//! escaped and bounded by [`crate::untrusted`] (control bytes and invalid UTF-8 as `\xNN`, at most
//! [`crate::untrusted::REPLY`] characters) and at most [`MAX_NAMES`] names are listed (catalog T-11, T-12).

use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use tokio_rustls::rustls::{self, CertificateError};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::PinMismatch;
use crate::untrusted::{self, Secrets};

/// Names of a certificate shown at most; the rest are counted.
pub const MAX_NAMES: usize = 8;

/// What a user needs to know about a server certificate, every text field already escaped and bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// SHA-256 of the DER encoding: what `cert_sha256` pins.
    pub sha256: [u8; 32],
    /// `None` when the DER does not parse as X.509 (the fingerprint is still known).
    pub details: Option<Details>,
}

/// The parsed parts of a [`CertInfo`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Details {
    pub subject: String,
    pub issuer: String,
    /// `notBefore` and `notAfter`, Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// DNS names and IP addresses of the subjectAltName extension, at most [`MAX_NAMES`], escaped.
    pub names: Vec<String>,
    /// How many names were left out.
    pub more_names: usize,
}

impl CertInfo {
    /// Read what can be read from `der`; never fails.
    pub fn parse(der: &CertificateDer<'_>) -> CertInfo {
        CertInfo {
            sha256: Sha256::digest(der.as_ref()).into(),
            details: X509Certificate::from_der(der.as_ref())
                .ok()
                .map(|(_, cert)| details(&cert)),
        }
    }

    /// `AB:CD:...`, as `openssl x509 -noout -fingerprint -sha256` prints it (and as `cert_sha256` accepts it).
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.sha256)
    }

    /// One clause: `subject ..., issuer ..., valid ... to ..., names ..., SHA-256 fingerprint ...`.
    pub fn describe(&self) -> String {
        match &self.details {
            Some(d) => format!(
                "subject {}, issuer {}, valid {} to {}, names {}, SHA-256 fingerprint {}",
                d.subject,
                d.issuer,
                date(d.not_before),
                date(d.not_after),
                d.names_text(),
                self.fingerprint()
            ),
            None => format!(
                "not a readable X.509 certificate, SHA-256 fingerprint {}",
                self.fingerprint()
            ),
        }
    }
}

impl Details {
    /// The names as a list for a sentence, `(none)` when the certificate has no subjectAltName.
    pub fn names_text(&self) -> String {
        if self.names.is_empty() {
            return "(none)".to_owned();
        }
        let mut s = self.names.join(", ");
        if self.more_names > 0 {
            s.push_str(&format!(" and {} more", self.more_names));
        }
        s
    }
}

fn details(cert: &X509Certificate<'_>) -> Details {
    let mut names = Vec::new();
    let mut more_names = 0;
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            let shown = match name {
                GeneralName::DNSName(s) => shown(s.as_bytes()),
                GeneralName::IPAddress(b) => ip_text(b),
                _ => continue,
            };
            if names.len() < MAX_NAMES {
                names.push(shown);
            } else {
                more_names += 1;
            }
        }
    }
    let validity = cert.validity();
    Details {
        subject: shown(cert.subject().to_string().as_bytes()),
        issuer: shown(cert.issuer().to_string().as_bytes()),
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
        names,
        more_names,
    }
}

/// Certificate text, escaped and bounded. It is read during the handshake, before any credential was sent, so
/// there is no secret to scrub.
fn shown(b: &[u8]) -> String {
    Secrets::none().show(b, untrusted::REPLY).into()
}

fn ip_text(b: &[u8]) -> String {
    match b.len() {
        4 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(b).unwrap_or_default()).to_string(),
        16 => std::net::Ipv6Addr::from(<[u8; 16]>::try_from(b).unwrap_or_default()).to_string(),
        _ => shown(b),
    }
}

/// `AB:CD:...` of a SHA-256.
pub fn fingerprint(sha256: &[u8; 32]) -> String {
    sha256
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// `2026-12-02 04:50 UTC`.
pub fn date(unix: i64) -> String {
    // RFC 5322 date minus the weekday: day month year time zone, all from the crate's own calendar code.
    let d = crate::headers::rfc5322_date(unix);
    let d = d.split_once(", ").map_or(d.as_str(), |(_, rest)| rest);
    let d = d.strip_suffix(" +0000").unwrap_or(d);
    // "1 Jan 2000 00:00:00" -> "1 Jan 2000 00:00 UTC"
    format!("{} UTC", d.get(..d.len().saturating_sub(3)).unwrap_or(d))
}

/// What the account was trying to do, for the advice.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    /// The configured host (the name the certificate must carry).
    pub host: &'a str,
    pub port: u16,
    /// The configured `cert_sha256`, if any.
    pub pin: Option<[u8; 32]>,
    /// Seconds since the Unix epoch, for "expired N days ago".
    pub now: i64,
}

/// One line explaining a failed handshake, starting `tls handshake failed: `. `presented` is the server's
/// end-entity certificate when the handshake got that far.
pub fn handshake(err: &rustls::Error, presented: Option<&CertInfo>, at: &Attempt<'_>) -> String {
    let cert = presented.map_or_else(
        || "the server's certificate could not be read".to_owned(),
        CertInfo::describe,
    );
    let rustls::Error::InvalidCertificate(cert_err) = err else {
        return format!("tls handshake failed: {err}");
    };
    let text = match cert_err {
        CertificateError::UnknownIssuer | CertificateError::BadSignature => {
            let pin_line = presented.map_or_else(String::new, |p| {
                format!(" `cert_sha256 = \"{}\"`", p.fingerprint())
            });
            format!(
                "the server's certificate is not signed by an authority this account trusts ({cert}); if you have \
                 checked that this is your provider's certificate (compare the fingerprint with what they \
                 publish), add{pin_line} to the account to trust exactly this certificate, or set ca_file to the \
                 certificate of the authority that signed it"
            )
        }
        CertificateError::Other(other) if other.0.is::<PinMismatch>() => {
            let expected = at.pin.map_or_else(|| "?".to_owned(), |p| fingerprint(&p));
            let got = presented.map_or_else(|| "?".to_owned(), CertInfo::fingerprint);
            format!(
                "the server's certificate is not the pinned one: cert_sha256 expects {expected}, the server \
                 presented {got} ({cert}); if the provider renewed its certificate, check the new fingerprint and \
                 update cert_sha256, otherwise someone may be intercepting the connection"
            )
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            let when = presented
                .and_then(|p| p.details.as_ref())
                .map_or_else(String::new, |d| {
                    format!(
                        " on {}, {} days ago",
                        date(d.not_after),
                        (at.now - d.not_after) / 86_400
                    )
                });
            format!(
                "the server's certificate expired{when} ({cert}); the provider must renew it (check this \
                 machine's clock too)"
            )
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            let when = presented
                .and_then(|p| p.details.as_ref())
                .map_or_else(String::new, |d| format!(" before {}", date(d.not_before)));
            format!(
                "the server's certificate is not valid{when}, and this machine's clock says {} ({cert}); check \
                 the clock",
                date(at.now)
            )
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            let names = presented
                .and_then(|p| p.details.as_ref())
                .map_or_else(|| "(unknown)".to_owned(), Details::names_text);
            format!(
                "the server's certificate is for {names}, not for {host:?} ({cert}); set host to a name the \
                 certificate holds",
                host = at.host
            )
        }
        other => format!("the server's certificate was refused: {other:?} ({cert})"),
    };
    format!("tls handshake failed: {text}")
}

/// The line for a server that answered a TLS ClientHello with plain POP3 (`+OK`/`-ERR`): implicit TLS was asked
/// for on a port that speaks POP3 in the clear.
pub fn plain_pop3(port: u16) -> String {
    format!(
        "tls handshake failed: port {port} speaks plain POP3, not TLS; use tls = \"stls\" on this port (STLS \
         upgrades the connection before the password is sent), or the implicit-TLS port, 995"
    )
}

#[cfg(test)]
#[path = "explain_tests.rs"]
mod tests;
