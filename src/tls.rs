//! rustls client configuration for the POP3 link: which certificates are trusted and how the server name is
//! checked. Used by [`crate::pop3::Client`] for implicit TLS and STLS alike.
//!
//! Exactly one crypto provider (ring) is ever used: the config is built with `builder_with_provider`, so a second
//! provider appearing in the dependency graph cannot make `ClientConfig::builder()` panic at run time
//! (dependencies.md). Verification is always on (design invariant 4): trust comes from the system roots, a CA file
//! that replaces them, or a SHA-256 pin of the server's end-entity certificate. There is no "insecure" switch.

pub mod explain;
/// The byte stream under the POP3 and IMAP clients: plain TCP, or TLS over it (STLS/STARTTLS switch in place).
pub(crate) mod stream;

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{self, CryptoProvider, WebPkiSupportedAlgorithms};
use tokio_rustls::rustls::{
    self, CertificateError, ClientConfig, DigitallySignedStruct, OtherError, RootCertStore,
    SignatureScheme,
};

/// What the account trusts. Built from [`crate::config::Account`].
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// PEM file of CA certificates trusted *instead of* the system roots.
    pub ca_file: Option<PathBuf>,
    /// SHA-256 of the server's end-entity certificate (DER). When set, exactly that certificate is accepted and
    /// neither roots nor names are consulted (like fetchmail's `sslfingerprint`, but without a fallback).
    pub cert_sha256: Option<[u8; 32]>,
}

/// Building the TLS client configuration failed. All of these are configuration problems.
#[derive(thiserror::Error, Debug)]
pub enum TlsError {
    /// The CA file could not be read or is not PEM.
    #[error("cannot read ca file {path}")]
    CaFile {
        path: PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// No trust anchor could be loaded (empty CA file, or no system certificates).
    #[error("no usable trust anchors in {origin}")]
    NoRoots { origin: String },
    /// The configured host is neither a DNS name nor an IP address.
    #[error("invalid tls server name {host:?}")]
    BadServerName { host: String },
    /// rustls refused the configuration (e.g. no protocol version in common with the provider).
    #[error("cannot build the tls configuration")]
    Config(#[source] rustls::Error),
}

/// The crypto provider every config uses: ring, and only ring.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(crypto::ring::default_provider())
}

/// A connector for one account's trust settings.
///
/// # Errors
/// [`TlsError`] when the CA file cannot be read, no trust anchor is available, or rustls rejects the config.
pub fn connector(s: &TlsSettings) -> Result<TlsConnector, TlsError> {
    observed(s).map(|(c, _)| c)
}

/// The end-entity certificate a server presented to a connector from [`observed`], kept so that a refused
/// handshake can be explained with what the certificate says ([`explain`]). Rustls's error alone does not carry
/// the certificate.
#[derive(Debug, Clone, Default)]
pub struct Presented(Arc<Mutex<Option<CertificateDer<'static>>>>);

impl Presented {
    /// The last certificate presented, if the handshake got that far.
    pub fn get(&self) -> Option<CertificateDer<'static>> {
        self.0.lock().ok().and_then(|c| c.clone())
    }

    fn set(&self, cert: &CertificateDer<'_>) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(cert.clone().into_owned());
        }
    }
}

/// [`connector`], plus the handle that sees the certificate each handshake is offered (verification unchanged).
///
/// # Errors
/// As [`connector`].
pub fn observed(s: &TlsSettings) -> Result<(TlsConnector, Presented), TlsError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?;
    let trust = match s.cert_sha256 {
        Some(pin) => Trust::Pin(pin),
        None => Trust::Roots(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots(s)?), provider.clone())
                .build()
                .map_err(|e| TlsError::Config(rustls::Error::General(e.to_string())))?,
        ),
    };
    let presented = Presented::default();
    let config = builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Verifier {
            trust,
            algorithms: provider.signature_verification_algorithms,
            presented: presented.clone(),
        }))
        .with_no_client_auth();
    Ok((TlsConnector::from(Arc::new(config)), presented))
}

/// A rustls client configuration trusting the system roots (or `SSL_CERT_FILE`/`SSL_CERT_DIR`), ring provider
/// only: the OAuth HTTP client's, so a token endpoint is verified by the same rules as a POP3 server without
/// `ca_file`.
///
/// # Errors
/// [`TlsError::NoRoots`] when no system certificate is usable, [`TlsError::Config`] otherwise.
pub fn system_roots_config() -> Result<ClientConfig, TlsError> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_root_certificates(roots(&TlsSettings::default())?)
        .with_no_client_auth())
}

/// A connector that trusts no certificate at all, for `tls = "none"` accounts: `Client::connect` never uses it
/// there, and a machine without system roots must still be able to poll a plaintext account.
pub fn trust_nothing() -> Result<TlsConnector, TlsError> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// The CA file's certificates, or else the system's.
fn roots(s: &TlsSettings) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    let origin = match &s.ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|source| TlsError::CaFile {
                    path: path.clone(),
                    source,
                })?;
            let (added, ignored) = store.add_parsable_certificates(certs);
            if ignored > 0 {
                tracing::warn!(path = %path.display(), ignored, added, "ca file has unusable certificates");
            }
            path.display().to_string()
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::warn!(error = %e, "problem loading system certificates");
            }
            store.add_parsable_certificates(found.certs);
            "the system certificate store".to_owned()
        }
    };
    if store.is_empty() {
        return Err(TlsError::NoRoots { origin });
    }
    Ok(store)
}

/// The name the server's certificate must carry: the configured host (a DNS name or an IP address), never a
/// reverse lookup (RFC 2595 §2.4, T-08).
///
/// # Errors
/// [`TlsError::BadServerName`] when `host` is neither.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(host.to_owned()).map_err(|_| TlsError::BadServerName {
        host: host.to_owned(),
    })
}

/// What decides on the server's certificate.
enum Trust {
    /// Exactly one end-entity certificate, identified by the SHA-256 of its DER encoding; neither roots nor names
    /// are consulted (like fetchmail's `sslfingerprint`, without a fallback).
    Pin([u8; 32]),
    /// webpki: a chain to the roots, validity, and the configured host name.
    Roots(Arc<WebPkiServerVerifier>),
}

/// The account's verifier. It records the end-entity certificate it is shown ([`Presented`]) and then decides by
/// [`Trust`]. Handshake signatures are always verified with the provider's algorithms, so a recorded or pinned
/// certificate alone does not let an attacker impersonate the server: it must own the key.
struct Verifier {
    trust: Trust,
    algorithms: WebPkiSupportedAlgorithms,
    presented: Presented,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier").finish_non_exhaustive()
    }
}

/// The presented certificate is not the pinned one ([`explain::handshake`] names both fingerprints).
#[derive(thiserror::Error, Debug)]
#[error("certificate does not match the configured sha-256 pin")]
pub(crate) struct PinMismatch;

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.presented.set(end_entity);
        match &self.trust {
            Trust::Roots(webpki) => webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
            Trust::Pin(pin) => {
                let digest: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
                if digest == *pin {
                    Ok(ServerCertVerified::assertion())
                } else {
                    Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                        OtherError(Arc::new(PinMismatch)),
                    )))
                }
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn server_name_accepts_dns_and_ip_and_rejects_junk() {
        assert!(matches!(
            server_name("pop.example.org").unwrap(),
            ServerName::DnsName(_)
        ));
        assert!(matches!(
            server_name("127.0.0.1").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("::1").unwrap(),
            ServerName::IpAddress(_)
        ));
        for bad in ["", "bad name", "a\0b", "pop.example.org\r\n"] {
            assert!(
                matches!(server_name(bad), Err(TlsError::BadServerName { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn missing_ca_file_is_an_error() {
        let s = TlsSettings {
            ca_file: Some("/nonexistent/popfetch-ca.pem".into()),
            cert_sha256: None,
        };
        assert!(matches!(connector(&s), Err(TlsError::CaFile { .. })));
    }

    #[test]
    fn ca_file_without_certificates_has_no_roots() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"not a certificate\n").unwrap();
        let s = TlsSettings {
            ca_file: Some(f.path().to_owned()),
            cert_sha256: None,
        };
        let err = connector(&s).err().expect("must fail");
        assert!(matches!(err, TlsError::NoRoots { .. }), "{err:?}");
    }

    #[test]
    fn ca_file_with_a_certificate_builds() {
        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".to_owned()]).unwrap();
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(ca.cert.pem().as_bytes()).unwrap();
        let s = TlsSettings {
            ca_file: Some(f.path().to_owned()),
            cert_sha256: None,
        };
        assert!(connector(&s).is_ok());
    }

    #[test]
    fn pin_verifier_accepts_only_the_pinned_certificate() {
        let a = rcgen::generate_simple_self_signed(vec!["a.test".to_owned()]).unwrap();
        let b = rcgen::generate_simple_self_signed(vec!["a.test".to_owned()]).unwrap();
        let pin: [u8; 32] = Sha256::digest(a.cert.der().as_ref()).into();
        let v = Verifier {
            trust: Trust::Pin(pin),
            algorithms: provider().signature_verification_algorithms,
            presented: Presented::default(),
        };
        let name = server_name("a.test").unwrap();
        let now = UnixTime::now();
        assert!(
            v.verify_server_cert(a.cert.der(), &[], &name, &[], now)
                .is_ok()
        );
        let err = v
            .verify_server_cert(b.cert.der(), &[], &name, &[], now)
            .unwrap_err();
        assert!(
            matches!(err, rustls::Error::InvalidCertificate(_)),
            "{err:?}"
        );
        assert!(!v.supported_verify_schemes().is_empty());
        // The last certificate shown is kept for the explanation of a refusal.
        assert_eq!(v.presented.get().as_ref(), Some(b.cert.der()));
    }
}
