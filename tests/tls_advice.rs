//! Issue 9, point 4: TLS failures that say what to do, seen from the binary with real certificates (rcgen, the
//! test PKI) over real sockets. Each refusal exits 77 before any credential, and its one error line carries what
//! the certificate says and the configuration that would trust it.

mod support;

use support::pki::{DEFAULT_NAMES, Leaf};
use support::run::toml_str;
use support::world::*;
use support::*;

/// `AB:CD:...` of a leaf, as popfetch prints fingerprints.
fn colon_fingerprint(leaf: &Leaf) -> String {
    let hex = leaf.sha256_hex().to_ascii_uppercase();
    hex.as_bytes()
        .chunks(2)
        .map(|p| std::str::from_utf8(p).unwrap())
        .collect::<Vec<_>>()
        .join(":")
}

/// A world whose implicit-TLS server presents the certificate `leaf` makes (from the CA the account trusts, or
/// not), with the account's trust adjusted by `f`.
fn against(
    leaf: impl FnOnce(&TestPki) -> Leaf,
    f: impl FnOnce(AccountCfg) -> AccountCfg,
) -> (World, Output) {
    let mut w = World::tls(msgs(1));
    w.pop = FakePop3::start(
        msgs(1),
        Pop3Behavior::implicit(leaf(&w.pki).server_config()),
    );
    let cfg = w.config(f(w.account()));
    let out = run(&cfg.path, &["run"]);
    (w, out)
}

fn error_line(out: &Output) -> String {
    out.stderr
        .lines()
        .find(|l| l.contains("tls handshake failed: "))
        .unwrap_or_else(|| panic!("no TLS error line: {}", out.stderr))
        .to_owned()
}

fn assert_refused(w: &World, out: &Output) {
    assert_eq!(out.code, 77, "{}", out.all());
    assert_no_credential_sent(&w.pop);
    assert_eq!(w.pop.mailbox_uids(), ["uid-1"]);
    assert_eq!(w.smtp.connections(), 0);
}

#[test]
fn t10_self_signed_certificate_shows_what_it_is_and_the_pin_line_that_then_works() {
    let leaf = TestPki::self_signed(DEFAULT_NAMES);
    let (w, out) = against(|_| leaf.clone(), |a| a);
    assert_refused(&w, &out);
    let line = error_line(&out);
    let fp = colon_fingerprint(&leaf);
    for part in [
        "not signed by an authority this account trusts",
        "subject CN=rcgen self signed cert",
        "issuer CN=rcgen self signed cert",
        "valid 1 Jan 1975 00:00 UTC to 1 Jan 4096 00:00 UTC",
        "names 127.0.0.1, localhost",
        &format!("SHA-256 fingerprint {fp}"),
        "ca_file",
    ] {
        assert!(line.contains(part), "{part:?} not in {line}");
    }
    // The advice is a config line to paste: taken from the message as it stands, it makes the next run work.
    let pin_line = line
        .split('`')
        .find(|s| s.starts_with("cert_sha256 = "))
        .unwrap_or_else(|| panic!("no cert_sha256 line in {line}"));
    assert_eq!(pin_line, format!("cert_sha256 = \"{fp}\""));
    let (key, value) = pin_line.split_once(" = ").unwrap();
    let (w, out) = against(
        |_| leaf.clone(),
        |mut a| {
            a.ca_file = None;
            a.extra(key, value)
        },
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(w.delivered_subjects(), ["message 1"]);
}

#[test]
fn t10_pin_mismatch_names_the_expected_and_the_presented_fingerprint() {
    let pki = TestPki::new();
    let leaf = pki.issue(DEFAULT_NAMES, Validity::Current);
    let other = TestPki::self_signed(DEFAULT_NAMES);
    let (w, out) = against(
        |_| leaf.clone(),
        |mut a| {
            a.ca_file = None;
            a.extra("cert_sha256", &toml_str(&other.sha256_hex()))
        },
    );
    assert_refused(&w, &out);
    let line = error_line(&out);
    assert!(
        line.contains(&format!(
            "cert_sha256 expects {}, the server presented {}",
            colon_fingerprint(&other),
            colon_fingerprint(&leaf)
        )),
        "{line}"
    );
    assert!(
        !line.contains("PinMismatch") && !line.contains("OtherError"),
        "{line}"
    );
}

#[test]
fn t09_expired_and_not_yet_valid_certificates_show_their_dates() {
    for (validity, says) in [
        (Validity::Expired, "expired on 1 Jan 2001 00:00 UTC"),
        (
            Validity::NotYetValid,
            "not valid before 1 Jan 2090 00:00 UTC",
        ),
    ] {
        let (w, out) = against(|pki| pki.issue(DEFAULT_NAMES, validity), |a| a);
        assert_refused(&w, &out);
        let line = error_line(&out);
        assert!(line.contains(says), "{line}");
        assert!(line.contains("issuer CN=popfetch test CA"), "{line}");
    }
}

#[test]
fn t08_wrong_name_lists_the_names_the_certificate_holds() {
    let (w, out) = against(
        |pki| pki.issue(&["pop.other.test", "mail.other.test"], Validity::Current),
        |a| a,
    );
    assert_refused(&w, &out);
    let line = error_line(&out);
    assert!(
        line.contains("is for pop.other.test, mail.other.test, not for \"127.0.0.1\""),
        "{line}"
    );
}

#[test]
fn t14_plain_pop3_on_an_implicit_tls_port_says_so_and_exits_77() {
    let w = World::plain(msgs(1));
    let cfg = w.config(AccountCfg::new("isp", w.pop.port(), "implicit").ca_file(&w.pki.ca_path));
    let out = run(&cfg.path, &["run"]);
    assert_refused(&w, &out);
    let line = error_line(&out);
    assert!(
        line.contains(&format!("port {} speaks plain POP3, not TLS", w.pop.port())),
        "{line}"
    );
    assert!(
        line.contains("tls = \\\"stls\\\"") || line.contains("tls = \"stls\""),
        "{line}"
    );
    assert!(line.contains("995"), "{line}");
    // What popfetch sent was a TLS ClientHello (record type 22), nothing else.
    assert_eq!(w.pop.sessions()[0].client_bytes.first(), Some(&0x16));
}
