//! TLS faults: STLS refused, broken or injected (T-02, T-04), untrusted, pinned, expired certificates (T-09, T-10),
//! a plaintext server on an implicit-TLS port (T-14). Every refusal comes before any credential.

use super::*;

/// A change to the fake's behaviour, for tables of cases.
type BehaviorFn = Box<dyn Fn(&mut Pop3Behavior)>;

fn stls_world(
    f: impl FnOnce(&mut Pop3Behavior),
) -> (TestPki, FakePop3, FakeSmtp, tempfile::TempDir) {
    let pki = TestPki::new();
    let mut b = Pop3Behavior::stls(pki.default_server_config());
    f(&mut b);
    let pop = FakePop3::start(msgs(1), b);
    (
        pki,
        pop,
        FakeSmtp::start(SmtpBehavior::default()),
        tempfile::tempdir().unwrap(),
    )
}

fn stls_run(pki: &TestPki, pop: &FakePop3, smtp: &FakeSmtp, state: &std::path::Path) -> Output {
    let cfg = ConfigBuilder::new(smtp.port(), state)
        .account(
            AccountCfg::new("isp", pop.port(), "stls")
                .ca_file(&pki.ca_path)
                .extra("timeout", "3"),
        )
        .write();
    run(&cfg.path, &["run"])
}

#[test]
fn t02_stls_refused_or_broken_never_continues_in_plaintext() {
    // (behaviour, exit): -ERR → security; -ERR [SYS/PERM] → security; +OK then close → temporary;
    // +OK then plaintext → the handshake fails on non-TLS bytes.
    let cases: Vec<(BehaviorFn, i32)> = vec![
        (
            Box::new(|b| b.script = vec![Scripted::reply("STLS", "-ERR not now\r\n")]),
            77,
        ),
        (
            Box::new(|b| {
                b.script = vec![Scripted::reply("STLS", "-ERR [SYS/PERM] no tls here\r\n")]
            }),
            77,
        ),
        (
            Box::new(|b| b.script = vec![Scripted::reply_and_close("STLS", "+OK Begin TLS\r\n")]),
            75,
        ),
    ];
    for (i, (f, code)) in cases.into_iter().enumerate() {
        let (pki, pop, smtp, state) = stls_world(f);
        let out = stls_run(&pki, &pop, &smtp, state.path());
        assert_eq!(out.code, code, "case {i}: {}", out.all());
        assert_no_credential_sent(&pop);
        assert_eq!(pop.mailbox_uids(), vec!["uid-1"]);
        assert_eq!(smtp.connections(), 0);
        assert_eq!(
            pop.sessions().len(),
            1,
            "case {i}: reconnected (plaintext retry?)"
        );
    }
    // +OK, then the server goes on in plaintext: whatever it answers to the ClientHello is not TLS.
    let (pki, pop, smtp, state) = stls_world(|b| {
        b.script = vec![Scripted::reply("STLS", "+OK Begin TLS\r\n")];
    });
    let out = stls_run(&pki, &pop, &smtp, state.path());
    assert_ne!(out.code, 0, "{}", out.all());
    assert!([75, 76, 77].contains(&out.code), "{}", out.all());
    assert_no_credential_sent(&pop);
    assert_eq!(smtp.connections(), 0);
}

#[test]
fn t04_bytes_injected_after_the_stls_reply_abort_before_the_handshake() {
    let (pki, pop, smtp, state) = stls_world(|b| b.stls_junk_after_ok = true);
    let out = stls_run(&pki, &pop, &smtp, state.path());
    assert_eq!(out.code, 76, "{}", out.all());
    assert!(out.stderr.contains("stls"), "{}", out.stderr);
    assert_no_credential_sent(&pop);
    let s = &pop.sessions()[0];
    assert_eq!(
        s.client_bytes, b"CAPA\r\nSTLS\r\n",
        "no ClientHello after injected bytes"
    );
    assert_eq!(pop.mailbox_uids(), vec!["uid-1"]);
    assert_eq!(smtp.connections(), 0);
}

/// An implicit-TLS fake serving `server`, and a config for it with `trust` lines (ca_file / cert_sha256).
fn trust_case(
    server: std::sync::Arc<tokio_rustls::rustls::ServerConfig>,
    trust: AccountCfg,
) -> (FakePop3, FakeSmtp, Output) {
    let pop = FakePop3::start(msgs(1), Pop3Behavior::implicit(server));
    let smtp = FakeSmtp::start(SmtpBehavior::default());
    let state = tempfile::tempdir().unwrap();
    let mut acct = trust;
    acct.port = pop.port();
    let cfg = ConfigBuilder::new(smtp.port(), state.path())
        .account(acct)
        .write();
    let out = run(&cfg.path, &["run"]);
    (pop, smtp, out)
}

#[test]
fn t10_untrusted_ca_and_self_signed_are_refused_before_any_credential() {
    let ours = TestPki::new();
    let theirs = TestPki::new();
    for server in [
        theirs.default_server_config(),
        TestPki::self_signed(support::pki::DEFAULT_NAMES).server_config(),
    ] {
        let (pop, smtp, out) = trust_case(
            server,
            AccountCfg::new("isp", 0, "implicit").ca_file(&ours.ca_path),
        );
        assert_eq!(out.code, 77, "{}", out.all());
        assert!(
            pop.sessions().iter().all(|s| s.commands.is_empty()),
            "command after a failed handshake"
        );
        assert_eq!(pop.mailbox_uids(), vec!["uid-1"]);
        assert_eq!(smtp.connections(), 0);
        assert!(out.stderr.contains("certificate"), "{}", out.stderr);
    }
}

#[test]
fn t10_sha256_pin_match_delivers_and_mismatch_is_fatal() {
    let pki = TestPki::new();
    let leaf = pki.issue(support::pki::DEFAULT_NAMES, Validity::Current);
    let other = TestPki::self_signed(support::pki::DEFAULT_NAMES);

    // A pinned self-signed certificate needs no CA.
    let pinned = TestPki::self_signed(support::pki::DEFAULT_NAMES);
    let (pop, smtp, out) = trust_case(
        pinned.server_config(),
        AccountCfg::new("isp", 0, "implicit").extra("cert_sha256", &toml_str(&pinned.sha256_hex())),
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(smtp.delivered().len(), 1);
    assert!(pop.mailbox_uids().is_empty());

    // Mismatch: even a certificate from a CA popfetch would otherwise trust is refused.
    let (pop, smtp, out) = trust_case(
        leaf.server_config(),
        AccountCfg::new("isp", 0, "implicit").extra("cert_sha256", &toml_str(&other.sha256_hex())),
    );
    assert_eq!(out.code, 77, "{}", out.all());
    assert!(pop.sessions().iter().all(|s| s.commands.is_empty()));
    assert_eq!(pop.mailbox_uids(), vec!["uid-1"]);
    assert_eq!(smtp.connections(), 0);
}

#[test]
fn t14_plaintext_server_on_an_implicit_tls_port_is_refused_by_policy() {
    let pop = FakePop3::start(msgs(1), Pop3Behavior::plain());
    let smtp = FakeSmtp::start(SmtpBehavior::default());
    let state = tempfile::tempdir().unwrap();
    let pki = TestPki::new();
    let cfg = ConfigBuilder::new(smtp.port(), state.path())
        .account(AccountCfg::new("isp", pop.port(), "implicit").ca_file(&pki.ca_path))
        .write();
    let out = run(&cfg.path, &["run"]);
    // Issue 9: a configuration mismatch (77, with advice in tests/tls_advice.rs), not a broken server (76).
    assert_eq!(out.code, 77, "{}", out.all());
    assert!(out.stderr.contains("plain POP3"), "{}", out.stderr);
    assert_no_credential_sent(&pop);
    // The first bytes popfetch sent were a TLS ClientHello (record type 22), not a POP3 command.
    assert_eq!(pop.sessions()[0].client_bytes.first(), Some(&0x16));
    assert_eq!(pop.mailbox_uids(), vec!["uid-1"]);
    assert_eq!(smtp.connections(), 0);
}

#[test]
fn t09_expired_and_not_yet_valid_certificates_are_refused() {
    let pki = TestPki::new();
    for validity in [Validity::Expired, Validity::NotYetValid] {
        let leaf = pki.issue(support::pki::DEFAULT_NAMES, validity);
        let (pop, smtp, out) = trust_case(
            leaf.server_config(),
            AccountCfg::new("isp", 0, "implicit").ca_file(&pki.ca_path),
        );
        assert_eq!(out.code, 77, "{}", out.all());
        assert!(pop.sessions().iter().all(|s| s.commands.is_empty()));
        assert_eq!(pop.mailbox_uids(), vec!["uid-1"]);
        assert_eq!(smtp.connections(), 0);
        assert!(out.stderr.contains("certificate"), "{}", out.stderr);
    }
}
