use std::sync::Arc;

use rcgen::{CertificateParams, DnType, KeyPair, SanType, string::Ia5String};
use tokio_rustls::rustls::OtherError;

use super::*;

fn cert(sans: &[&str], cn: &str, not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> CertInfo {
    let mut p = CertificateParams::default();
    p.subject_alt_names = sans
        .iter()
        .map(|s| SanType::DnsName(Ia5String::try_from(s.to_string()).unwrap()))
        .collect();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
    p.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
    let key = KeyPair::generate().unwrap();
    let c = p.self_signed(&key).unwrap();
    CertInfo::parse(c.der())
}

const AT: Attempt<'static> = Attempt {
    host: "pop.example.jp",
    port: 995,
    pin: None,
    // 2026-01-01 00:00 UTC
    now: 1_767_225_600,
};

#[test]
fn t10_unknown_issuer_shows_the_certificate_and_the_exact_pin_line() {
    let info = cert(
        &["pop.example.jp"],
        "pop.example.jp",
        (2025, 1, 1),
        (2027, 1, 1),
    );
    let err = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
    let line = handshake(&err, Some(&info), &AT);
    assert!(line.starts_with("tls handshake failed: "), "{line}");
    for part in [
        "subject CN=pop.example.jp",
        "issuer CN=pop.example.jp",
        "valid 1 Jan 2025 00:00 UTC to 1 Jan 2027 00:00 UTC",
        "names pop.example.jp",
        &format!("SHA-256 fingerprint {}", info.fingerprint()),
        &format!("`cert_sha256 = \"{}\"`", info.fingerprint()),
        "ca_file",
    ] {
        assert!(line.contains(part), "{part:?} not in {line}");
    }
    // The fingerprint is the one cert_sha256 would pin, in a form the config accepts (64 hex digits and colons).
    assert_eq!(info.fingerprint().len(), 32 * 3 - 1);
    assert!(!line.contains('\n'));
}

#[test]
fn t10_pin_mismatch_names_both_fingerprints() {
    let info = cert(&["pop.example.jp"], "x", (2025, 1, 1), (2027, 1, 1));
    let pin = [0xab; 32];
    let err = rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(
        PinMismatch,
    ))));
    let line = handshake(
        &err,
        Some(&info),
        &Attempt {
            pin: Some(pin),
            ..AT
        },
    );
    assert!(
        line.contains(&format!(
            "cert_sha256 expects {}, the server presented {}",
            fingerprint(&pin),
            info.fingerprint()
        )),
        "{line}"
    );
    assert!(!line.contains("PinMismatch"), "{line}");
}

#[test]
fn t09_expired_and_not_yet_valid_show_the_dates() {
    let info = cert(&["pop.example.jp"], "x", (2000, 1, 1), (2001, 1, 1));
    let err = rustls::Error::InvalidCertificate(CertificateError::Expired);
    let line = handshake(&err, Some(&info), &AT);
    assert!(
        line.contains("expired on 1 Jan 2001 00:00 UTC, 9131 days ago"),
        "{line}"
    );
    let info = cert(&["pop.example.jp"], "x", (2090, 1, 1), (2091, 1, 1));
    let err = rustls::Error::InvalidCertificate(CertificateError::NotValidYet);
    let line = handshake(&err, Some(&info), &AT);
    assert!(
        line.contains("not valid before 1 Jan 2090 00:00 UTC, and this machine's clock says 1 Jan 2026 00:00 UTC"),
        "{line}"
    );
}

#[test]
fn t08_wrong_name_lists_the_names_the_certificate_holds() {
    let info = cert(
        &["a.example.jp", "b.example.jp"],
        "a",
        (2025, 1, 1),
        (2027, 1, 1),
    );
    let err = rustls::Error::InvalidCertificate(CertificateError::NotValidForName);
    let line = handshake(&err, Some(&info), &AT);
    assert!(
        line.contains("is for a.example.jp, b.example.jp, not for \"pop.example.jp\""),
        "{line}"
    );
}

#[test]
fn t11_t12_certificate_text_is_escaped_and_bounded() {
    let long = "a".repeat(5000);
    let many: Vec<String> = (0..20).map(|i| format!("n{i}.test")).collect();
    let mut sans: Vec<&str> = vec!["nul\0.evil.test", "esc\x1b[31m.test", &long];
    sans.extend(many.iter().map(String::as_str));
    let info = cert(&sans, "caf\u{e9}\x07", (2025, 1, 1), (2027, 1, 1));
    let d = info.details.as_ref().unwrap();
    assert_eq!(d.names[0], "nul\\x00.evil.test");
    assert_eq!(d.names[1], "esc\\x1b[31m.test");
    assert!(
        d.names[2].len() <= crate::untrusted::REPLY + 30,
        "{}",
        d.names[2]
    );
    assert_eq!(d.names.len(), MAX_NAMES);
    assert_eq!(d.more_names, 23 - MAX_NAMES);
    let err = rustls::Error::InvalidCertificate(CertificateError::NotValidForName);
    let line = handshake(&err, Some(&info), &AT);
    assert!(line.contains(" and 15 more"), "{line}");
    assert!(!line.chars().any(|c| c.is_control()), "{line:?}");
    assert!(line.len() < 4096, "{}", line.len());
    assert!(line.contains("\\x07"), "{line}");
}

#[test]
fn unreadable_der_still_gives_the_fingerprint() {
    let der = CertificateDer::from(vec![0x30, 0x03, 0x01, 0x01, 0xff]);
    let info = CertInfo::parse(&der);
    assert!(info.details.is_none());
    let err = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
    assert!(handshake(&err, Some(&info), &AT).contains(&info.fingerprint()));
    // Without a certificate (the handshake failed before it) the advice still reads.
    let line = handshake(&err, None, &AT);
    assert!(line.contains("could not be read"), "{line}");
}

#[test]
fn plain_pop3_names_the_port_and_both_ways_out() {
    let line = plain_pop3(110);
    assert!(line.contains("port 110 speaks plain POP3"), "{line}");
    assert!(line.contains("tls = \"stls\""), "{line}");
    assert!(line.contains("995"), "{line}");
}
