//! End-to-end tests of `popfetch run`: the built binary against the scripted fake POP3 and SMTP servers of
//! `tests/support`, over real sockets on 127.0.0.1, with TLS from a test CA. Each test asserts what reached the
//! MTA (exact bytes), what is left on the POP3 server, the exit status, and that no secret was printed.

mod support;

use support::world::*;
use support::*;

/// The message as it must reach the MTA with the default rules: the Delivered-To naming the target removed.
fn mail_filtered(n: usize) -> Vec<u8> {
    String::from_utf8(mail(n))
        .unwrap()
        .replace(&format!("Delivered-To: {TARGET}\r\n"), "")
        .into_bytes()
}

#[test]
fn new_mail_is_delivered_byte_exact_and_deleted() {
    let w = World::tls(msgs(3));
    let cfg = w.config(w.account());
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());

    let delivered = w.smtp.delivered();
    assert_eq!(delivered.len(), 3);
    for (i, d) in delivered.iter().enumerate() {
        assert_eq!(d.rcpt_to, vec![TARGET.to_owned()]);
        assert_eq!(d.mail_from, format!("sender{}@remote.test", i + 1));
        assert_eq!(strip_received(&d.data), mail_filtered(i + 1).as_slice());
    }
    assert!(
        w.pop.mailbox_uids().is_empty(),
        "left: {:?}",
        w.pop.mailbox_uids()
    );
    assert_eq!(w.smtp.connections(), 1, "one SMTP connection per poll");
    assert!(w.smtp.violations().is_empty(), "{:?}", w.smtp.violations());
    assert!(w.pop.violations().is_empty(), "{:?}", w.pop.violations());
    // One log line per message plus the summary.
    assert_eq!(
        out.stderr
            .matches("delivered to <alice@local.test>")
            .count(),
        3,
        "{}",
        out.stderr
    );

    // Nothing new: silent, exit 0 (fetchmail's "1 = no mail" is not copied).
    let again = run(&cfg.path, &["run"]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert_eq!(again.all(), "", "a run without mail prints nothing");
}

#[test]
fn keep_true_delivers_each_message_exactly_once_over_three_runs() {
    let w = World::tls(msgs(2));
    let cfg = w.config(w.account().keep(true));
    assert_eq!(run(&cfg.path, &["run"]).code, 0);
    w.pop.add_messages(vec![Msg::new("uid-3", mail(3))]);
    assert_eq!(run(&cfg.path, &["run"]).code, 0);
    assert_eq!(run(&cfg.path, &["run"]).code, 0);
    assert_eq!(
        w.delivered_subjects(),
        vec!["message 1", "message 2", "message 3"]
    );
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1", "uid-2", "uid-3"]);
    assert!(w.pop.dele_log().is_empty());
}

#[test]
fn p01_h12_s10_odd_content_arrives_byte_exact() {
    let bodies: Vec<Vec<u8>> = vec![
        // P-01: dot-stuffed lines, and S-10 dots at the start of the body.
        b"Subject: dots\r\n\r\n.\r\n..\r\n. x\r\n.x\r\nend.\r\n".to_vec(),
        // P-22: 8-bit body, invalid UTF-8, NUL.
        b"Subject: 8bit\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\ncaf\xe9 \xff\xfe \x00 na\xefve\r\n"
            .to_vec(),
        // A base64 attachment.
        b"Subject: b64\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
          Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n\
          AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4\r\n\
          OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ubw==\r\n--b--\r\n"
            .to_vec(),
        // H-12: empty body.
        b"Subject: empty body\r\n\r\n".to_vec(),
        // A folded header stays folded.
        b"Subject: folded\r\n  continued\r\nX-Long: a\r\n\tb\r\n\r\nx\r\n".to_vec(),
    ];
    let mut all: Vec<Msg> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| Msg::new(format!("u{i}"), b.clone()))
        .collect();
    // P-03: no final CRLF. SMTP cannot carry a partial last line, so it arrives with one (documented).
    all.push(Msg::new(
        "nofinal",
        b"Subject: no final\r\n\r\nlast line".to_vec(),
    ));
    let w = World::tls(all);
    let cfg = w.config(w.account());
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let delivered = w.smtp.delivered();
    assert_eq!(delivered.len(), bodies.len() + 1);
    for (d, b) in delivered.iter().zip(&bodies) {
        assert_eq!(
            strip_received(&d.data),
            b.as_slice(),
            "{:?}",
            String::from_utf8_lossy(b)
        );
    }
    assert_eq!(
        strip_received(&delivered[bodies.len()].data),
        b"Subject: no final\r\n\r\nlast line\r\n"
    );
    // 8-bit content is declared when the MTA offers 8BITMIME (RFC 6152).
    assert!(
        delivered[1]
            .mail_params
            .iter()
            .any(|p| p.eq_ignore_ascii_case("BODY=8BITMIME"))
    );
    assert!(w.smtp.violations().is_empty(), "{:?}", w.smtp.violations());
}

#[test]
fn h01_h05_delivered_to_for_target_removed_others_kept() {
    let raw = b"Delivered-To: <Alice@Local.TEST> (ISP stamp)\r\nDelivered-To: list@other.test\r\n\
                DELIVERED-TO:alice@local.test\r\nSubject: loop\r\n\r\nDelivered-To: alice@local.test\r\n"
        .to_vec();
    let w = World::tls(vec![Msg::new("a", raw.clone())]);
    let cfg = w.config(w.account());
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let d = &w.smtp.delivered()[0];
    assert_eq!(
        strip_received(&d.data),
        b"Delivered-To: list@other.test\r\nSubject: loop\r\n\r\nDelivered-To: alice@local.test\r\n"
    );
    // Each removal is logged.
    assert_eq!(
        out.stderr.matches("removed Delivered-To").count(),
        2,
        "{}",
        out.stderr
    );
}

#[test]
fn h01_drop_delivered_to_none_keeps_all() {
    let w = World::tls(msgs(1));
    let cfg = w.config(w.account().extra("drop_delivered_to", "\"none\""));
    assert_eq!(run(&cfg.path, &["run"]).code, 0);
    assert_eq!(
        strip_received(&w.smtp.delivered()[0].data),
        mail(1).as_slice()
    );
}

#[test]
fn p20_connection_dropped_mid_retr_deletes_nothing_and_exits_75() {
    let w = World::tls(msgs(3));
    // Session message 2: send 40 bytes of the RETR response, then close.
    w.pop.update(|b| b.drop_during_retr = Some((1, 40)));
    let cfg = w.config(w.account());
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 75, "{}", out.all());
    assert_eq!(
        w.pop.mailbox_uids(),
        vec!["uid-1", "uid-2", "uid-3"],
        "nothing deleted"
    );
    assert_eq!(w.delivered_subjects(), vec!["message 1"]);

    w.pop.update(|b| b.drop_during_retr = None);
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    // Message 1 was recorded: the second run only deletes it (catalog C-05), no duplicate.
    assert_eq!(
        w.delivered_subjects(),
        vec!["message 1", "message 2", "message 3"]
    );
    assert!(w.pop.mailbox_uids().is_empty());
}

#[test]
fn t01_stls_configured_but_not_advertised_sends_no_credential_and_exits_77() {
    let pki = TestPki::new();
    let pop = FakePop3::start(msgs(1), Pop3Behavior::plain());
    let smtp = FakeSmtp::start(SmtpBehavior::default());
    let state = tempfile::tempdir().unwrap();
    let cfg = ConfigBuilder::new(smtp.port(), state.path())
        .account(AccountCfg::new("isp", pop.port(), "stls").ca_file(&pki.ca_path))
        .write();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 77, "{}", out.all());
    for s in pop.sessions() {
        let verbs = s.verbs();
        assert!(
            !verbs
                .iter()
                .any(|v| v == "USER" || v == "PASS" || v == "AUTH" || v == "APOP"),
            "credential command sent: {verbs:?}"
        );
        assert_no_secret("client bytes", &s.client_bytes, "alice", PASSWORD);
    }
    assert_eq!(smtp.connections(), 0);
    assert_eq!(pop.mailbox_uids(), vec!["uid-1"]);
}

#[test]
fn t08_certificate_for_another_name_exits_77_before_any_credential() {
    let pki = TestPki::new();
    let pop = FakePop3::start(
        msgs(1),
        Pop3Behavior::implicit(pki.server_config(&["other.test"])),
    );
    let smtp = FakeSmtp::start(SmtpBehavior::default());
    let state = tempfile::tempdir().unwrap();
    let cfg = ConfigBuilder::new(smtp.port(), state.path())
        .account(AccountCfg::new("isp", pop.port(), "implicit").ca_file(&pki.ca_path))
        .write();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 77, "{}", out.all());
    assert!(
        pop.sessions().iter().all(|s| s.commands.is_empty()),
        "nothing after a failed handshake"
    );
    assert_eq!(smtp.connections(), 0);
}

#[test]
fn stls_upgrade_delivers() {
    let pki = TestPki::new();
    let pop = FakePop3::start(msgs(2), Pop3Behavior::stls(pki.default_server_config()));
    let smtp = FakeSmtp::start(SmtpBehavior::default());
    let state = tempfile::tempdir().unwrap();
    let cfg = ConfigBuilder::new(smtp.port(), state.path())
        .account(AccountCfg::new("isp", pop.port(), "stls").ca_file(&pki.ca_path))
        .write();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(smtp.delivered().len(), 2);
    let s = &pop.sessions()[0];
    assert_no_secret("bytes before TLS", s.bytes_before_tls(), "alice", PASSWORD);
    assert_eq!(s.bytes_before_tls(), b"CAPA\r\nSTLS\r\n");
    // Received says POP3S: the link was encrypted.
    assert!(find(&smtp.delivered()[0].data, b"with POP3S").is_some());
}

#[test]
fn p28_retrs_are_pipelined_when_the_server_allows_it() {
    let w = World::tls(msgs(12));
    w.pop.update(|b| b.pipelining = true);
    let cfg = w.config(w.account());
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(w.smtp.delivered().len(), 12);
    assert!(w.pop.mailbox_uids().is_empty());
    // Several RETRs went out before the first DELE: the window runs ahead of delivery.
    let verbs = w.pop.sessions()[0].verbs();
    let first_dele = verbs.iter().position(|v| v == "DELE").unwrap();
    let retrs_before = verbs[..first_dele].iter().filter(|v| *v == "RETR").count();
    assert!(retrs_before > 1, "{verbs:?}");
}

#[test]
fn p28_lock_step_without_pipelining() {
    let w = World::tls(msgs(5));
    let cfg = w.config(w.account());
    assert_eq!(run(&cfg.path, &["run"]).code, 0);
    assert_eq!(w.smtp.delivered().len(), 5);
    assert!(w.pop.violations().is_empty(), "{:?}", w.pop.violations());
}

/// Crash matrix (catalog C-01, C-03, C-04, C-05): SIGKILL at a named step of a 20-message run, then a clean run.
/// Nothing may be lost; at most one message may arrive twice, and then only one the MTA had accepted before popfetch
/// recorded it, and the second run must have logged it (tests/support/crash.rs).
fn crash_at(point: &str, nth: usize) {
    let w = World::tls(msgs(20));
    let cfg = w.config(w.account());
    let spec = format!("{point}:{nth}");
    let killed = run_env(&cfg.path, &["run"], &[("POPFETCH_FAILPOINT", &spec)]);
    assert!(
        killed
            .stderr
            .contains(&format!("popfetch-failpoint: {point}")),
        "failpoint {spec} not reached: {}",
        killed.all()
    );
    assert_ne!(killed.code, 0);

    support::wait_until(std::time::Duration::from_secs(5), || {
        w.smtp.sessions().iter().all(|s| s.finished)
    });
    let before = w.smtp.delivered().len();
    let aborted = w.smtp.sessions().iter().map(|s| s.aborted_data).sum();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "after {spec}: {}", out.all());
    let subjects = w.delivered_subjects();
    let judged = support::crash::judge(&support::crash::Kill {
        point,
        k: nth,
        m: 20,
        before,
        aborted,
        subjects: &subjects,
        log: &out.stderr,
    });
    assert_eq!(judged, Ok(()));
    assert!(
        w.pop.mailbox_uids().is_empty(),
        "after {spec}: left {:?}",
        w.pop.mailbox_uids()
    );
}

#[test]
fn c01_kill9_after_retr_loses_nothing() {
    crash_at("after_retr", 5);
}

#[test]
fn c03_kill9_after_mta_250_duplicates_at_most_one_and_logs_it() {
    crash_at("after_eod_250", 5);
}

#[test]
fn c04_kill9_after_state_fsync_neither_loses_nor_duplicates() {
    crash_at("after_state_fsync", 5);
}

#[test]
fn c05_kill9_after_dele_neither_loses_nor_duplicates() {
    crash_at("after_dele", 5);
}

#[test]
fn t20_no_secret_at_maximum_verbosity() {
    let w = World::tls(msgs(1));
    let cfg = w.config(w.account());
    let out = run(&cfg.path, &["-vv", "run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(!out.stderr.is_empty());
}

#[test]
fn t03_plaintext_account_with_consent_in_words_delivers() {
    let pop = FakePop3::start(msgs(1), Pop3Behavior::plain());
    let smtp = FakeSmtp::start(SmtpBehavior::default());
    let state = tempfile::tempdir().unwrap();
    let cfg = ConfigBuilder::new(smtp.port(), state.path())
        .account(AccountCfg::new("isp", pop.port(), "none"))
        .write();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    // Received says POP3, not POP3S: the hop was not encrypted.
    let data = &smtp.delivered()[0].data;
    assert!(
        find(data, b"with POP3 ").is_some(),
        "{}",
        String::from_utf8_lossy(data)
    );

    // Without the consent key the same account is a configuration error, and nothing is sent.
    let cfg = ConfigBuilder::new(smtp.port(), state.path())
        .account(AccountCfg::new("isp", pop.port(), "none").allow_plaintext(None))
        .write();
    let sessions_before = pop.sessions().len();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 78, "{}", out.all());
    assert!(
        out.stderr.contains("allow_plaintext_password"),
        "{}",
        out.stderr
    );
    assert_eq!(pop.sessions().len(), sessions_before);
}

#[test]
fn h12_empty_and_tiny_messages_without_received_arrive_unchanged() {
    let w = World::tls(vec![
        Msg::new("empty", Vec::new()),
        Msg::new("crlf", b"\r\n".to_vec()),
        Msg::new("one", b"x".to_vec()),
    ]);
    let cfg = w.config(w.account().extra("received", "false"));
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let data: Vec<Vec<u8>> = w.smtp.delivered().into_iter().map(|d| d.data).collect();
    // A 0-octet message is an empty DATA; a last line without CRLF gains one (SMTP has no partial lines).
    assert_eq!(
        data,
        vec![b"".to_vec(), b"\r\n".to_vec(), b"x\r\n".to_vec()]
    );
    assert!(w.smtp.violations().is_empty(), "{:?}", w.smtp.violations());
}
