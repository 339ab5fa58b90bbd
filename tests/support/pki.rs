//! A throw-away PKI for TLS tests: one test CA (its PEM written to a temp file popfetch can use as `ca_file`) and
//! server certificates it signs for chosen names, plus the bad certificates TLS tests need (expired, not yet valid,
//! self-signed). rustls with the ring provider only (dependencies.md: one crypto provider in the graph).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, DnValue, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, SanType, string::Ia5String,
};
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};

/// Names a default server certificate covers: popfetch's tests connect to `127.0.0.1`.
pub const DEFAULT_NAMES: &[&str] = &["127.0.0.1", "localhost"];

/// Validity of an issued certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// 1975 to 4096 (rcgen's default).
    Current,
    /// 2000-01-01 to 2001-01-01.
    Expired,
    /// 2090-01-01 to 2091-01-01.
    NotYetValid,
}

/// A server certificate and its key.
#[derive(Clone)]
pub struct Leaf {
    pub cert_der: CertificateDer<'static>,
    pub cert_pem: String,
    key_pkcs8: Vec<u8>,
}

impl Leaf {
    /// A rustls server config presenting this certificate (ring provider).
    pub fn server_config(&self) -> Arc<ServerConfig> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_pkcs8.clone()));
        let cfg =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("protocol versions")
                .with_no_client_auth()
                .with_single_cert(vec![self.cert_der.clone()], key)
                .expect("server cert");
        Arc::new(cfg)
    }

    /// Lower-case hex SHA-256 of the DER certificate (for pinning tests).
    pub fn sha256_hex(&self) -> String {
        Sha256::digest(self.cert_der.as_ref())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// A test CA with its PEM on disk.
pub struct TestPki {
    pub ca_pem: String,
    /// `ca.pem` inside `dir`.
    pub ca_path: PathBuf,
    pub ca_der: CertificateDer<'static>,
    /// Kept so the files live as long as the PKI.
    pub dir: TempDir,
    issuer: Issuer<'static, KeyPair>,
}

impl Default for TestPki {
    fn default() -> Self {
        Self::new()
    }
}

impl TestPki {
    pub fn new() -> TestPki {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "popfetch test CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("ca key");
        let cert = params.self_signed(&key).expect("ca cert");
        let dir = tempfile::tempdir().expect("tempdir");
        let ca_path = dir.path().join("ca.pem");
        std::fs::write(&ca_path, cert.pem()).expect("write ca.pem");
        TestPki {
            ca_pem: cert.pem(),
            ca_path,
            ca_der: cert.der().clone(),
            dir,
            issuer: Issuer::new(params, key),
        }
    }

    /// Issue a server certificate for `names` (DNS names or IP addresses) with the given validity.
    pub fn issue(&self, names: &[&str], validity: Validity) -> Leaf {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("leaf params");
        if let Some(first) = names.first() {
            params
                .distinguished_name
                .push(DnType::CommonName, first.as_str());
        }
        params.use_authority_key_identifier_extension = true;
        params.key_usages.push(KeyUsagePurpose::DigitalSignature);
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ServerAuth);
        set_validity(&mut params, validity);
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        Leaf {
            cert_der: cert.der().clone(),
            cert_pem: cert.pem(),
            key_pkcs8: key.serialize_der(),
        }
    }

    /// Issue a current server certificate with exactly these DNS names as SANs (any ASCII, NUL and control
    /// characters included: IA5String allows them, DNS does not) and `cn` as a UTF-8 common name: the hostile
    /// certificates of catalog T-11/T-12, valid in every respect but their names.
    pub fn issue_raw(&self, sans: &[&str], cn: &str) -> Leaf {
        let mut params = CertificateParams::default();
        params.subject_alt_names = sans
            .iter()
            .map(|s| SanType::DnsName(Ia5String::try_from(s.to_string()).expect("ASCII SAN")))
            .collect();
        params
            .distinguished_name
            .push(DnType::CommonName, DnValue::Utf8String(cn.to_string()));
        params.use_authority_key_identifier_extension = true;
        params.key_usages.push(KeyUsagePurpose::DigitalSignature);
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ServerAuth);
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        Leaf {
            cert_der: cert.der().clone(),
            cert_pem: cert.pem(),
            key_pkcs8: key.serialize_der(),
        }
    }

    /// Server config with a valid certificate for `names`, signed by this CA.
    pub fn server_config(&self, names: &[&str]) -> Arc<ServerConfig> {
        self.issue(names, Validity::Current).server_config()
    }

    /// Server config for [`DEFAULT_NAMES`].
    pub fn default_server_config(&self) -> Arc<ServerConfig> {
        self.server_config(DEFAULT_NAMES)
    }

    /// A self-signed certificate for `names`, not issued by any CA popfetch trusts.
    pub fn self_signed(names: &[&str]) -> Leaf {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("params");
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ServerAuth);
        let key = KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("self-signed");
        Leaf {
            cert_der: cert.der().clone(),
            cert_pem: cert.pem(),
            key_pkcs8: key.serialize_der(),
        }
    }

    /// Write `contents` to `name` in this PKI's directory (e.g. a bundle, a garbage CA file) and return its path.
    pub fn write_file(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("write pki file");
        path
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A rustls client config trusting only this CA (for driving the fakes in selftests).
    pub fn client_config(&self) -> Arc<ClientConfig> {
        client_config_trusting(self.ca_der.clone())
    }
}

/// A rustls client config trusting only `ca` (also the interop suite's openssl-made CA, to talk to a real server).
pub fn client_config_trusting(ca: CertificateDer<'static>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(ca).expect("add CA root");
    let cfg =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    Arc::new(cfg)
}

fn set_validity(params: &mut CertificateParams, validity: Validity) {
    match validity {
        Validity::Current => {}
        Validity::Expired => {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        Validity::NotYetValid => {
            params.not_before = rcgen::date_time_ymd(2090, 1, 1);
            params.not_after = rcgen::date_time_ymd(2091, 1, 1);
        }
    }
}
