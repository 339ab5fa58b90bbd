//! End-to-end fault tests of the POP3 side (catalog §1.1 P-xx and §1.2 T-xx): the built `popfetch run` against
//! the scripted fake POP3 server and the fake MTA of `tests/support`. Each test asserts the exit status, what
//! stayed on the server, what reached the MTA, what was logged, and (through `world::run`) that the password
//! appears in no output. Mapping to catalog ids: docs/robustness.md.

mod support;

use std::time::Duration;

use support::run::{AccountCfg, ConfigBuilder, toml_str, write_private};
use support::world::*;
use support::*;

/// Nothing was retrieved, deleted or handed to the MTA, and the maildrop still holds `uids`.
fn assert_untouched(w: &World, uids: &[&str]) {
    assert_eq!(w.pop.mailbox_uids(), uids, "maildrop changed");
    assert!(
        w.pop.retr_log().is_empty(),
        "RETR completed: {:?}",
        w.pop.retr_log()
    );
    assert!(
        !all_verbs(&w.pop).iter().any(|v| v == "DELE"),
        "DELE sent: {:?}",
        all_verbs(&w.pop)
    );
    assert!(
        w.smtp.transactions().is_empty(),
        "something reached the MTA"
    );
}

/// Run once against a plaintext world whose PASS is answered `reply`; return the output.
fn pass_answered(reply: &str) -> (World, Output) {
    let w = World::plain_with(msgs(2), |b| b.err_on_pass = Some(reply.to_string()));
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    (w, out)
}

#[test]
fn p09_in_use_is_tempfail_in_any_case_and_with_detail_and_not_retried() {
    for reply in [
        "-ERR [IN-USE] Mailbox is locked by another POP3 session",
        "-ERR [in-use] locked",
        "-ERR [IN-USE/FOO] locked",
    ] {
        let (w, out) = pass_answered(reply);
        assert_eq!(out.code, 75, "{reply}: {}", out.all());
        assert_untouched(&w, &["uid-1", "uid-2"]);
        assert!(
            out.stderr.to_ascii_uppercase().contains("IN-USE"),
            "{}",
            out.stderr
        );
        // No retry within the run: one session, one PASS.
        assert_eq!(w.pop.sessions().len(), 1);
        assert_eq!(all_verbs(&w.pop).iter().filter(|v| *v == "PASS").count(), 1);
        assert_eq!(
            w.smtp.connections(),
            0,
            "MTA contacted after a failed login"
        );
    }
}

#[test]
fn p09_unknown_or_misplaced_codes_are_a_plain_auth_failure() {
    for reply in ["-ERR [XYZZY] no", "-ERR wrong [IN-USE] later in the text"] {
        let (w, out) = pass_answered(reply);
        assert_eq!(out.code, 77, "{reply}: {}", out.all());
        assert_untouched(&w, &["uid-1", "uid-2"]);
    }
}

#[test]
fn p10_login_delay_is_tempfail() {
    let (w, out) = pass_answered("-ERR [LOGIN-DELAY] wait 15 minutes between logins");
    assert_eq!(out.code, 75, "{}", out.all());
    assert_untouched(&w, &["uid-1", "uid-2"]);
    assert!(out.stderr.contains("LOGIN-DELAY"), "{}", out.stderr);
    // Issue 18: it must not read like a wrong password.
    assert!(!out.stderr.contains("PASS failed"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("the server limits how often this account may log in"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("poll this account less often"),
        "{}",
        out.stderr
    );
}

#[test]
fn p11_rfc3206_codes_on_pass_map_to_their_exit_classes() {
    for (reply, code) in [
        ("-ERR [SYS/TEMP] backend down, try later", 75),
        ("-ERR [SYS/PERM] account disabled", 69),
        ("-ERR [AUTH] invalid credentials", 77),
        ("-ERR", 77),
        ("-ERR authentication failed", 77),
    ] {
        let (w, out) = pass_answered(reply);
        assert_eq!(out.code, code, "{reply}: {}", out.all());
        assert_untouched(&w, &["uid-1", "uid-2"]);
        assert_eq!(w.smtp.connections(), 0);
        assert!(
            out.stderr.contains("PASS failed"),
            "{reply}: {}",
            out.stderr
        );
    }
}

#[test]
fn p11_rfc3206_codes_in_the_greeting_send_nothing() {
    for (greeting, code) in [
        ("-ERR [SYS/PERM] this server is closed", 69),
        ("-ERR [SYS/TEMP] overloaded", 75),
    ] {
        let w = World::plain_with(msgs(1), |b| b.greeting = greeting.to_string());
        let cfg = w.default_config();
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, code, "{greeting}: {}", out.all());
        assert_untouched(&w, &["uid-1"]);
        let verbs = all_verbs(&w.pop);
        assert!(
            verbs.iter().all(|v| v == "QUIT"),
            "{greeting}: sent {verbs:?}"
        );
    }
}

#[test]
fn p12_bad_greetings_send_no_command() {
    // (greeting bytes, expected exit). A greeting that is not a POP3 status line is a protocol violation; a
    // server that closes at once is an outage (75), like any closed connection.
    let cases: Vec<(Vec<u8>, bool, i32)> = vec![
        (
            b"* OK [CAPABILITY IMAP4rev1] IMAP server ready\r\n".to_vec(),
            false,
            76,
        ),
        (b"\r\n".to_vec(), false, 76),
        (b"220 smtp.example ESMTP\r\n".to_vec(), false, 76),
        // A TLS alert record (what a TLS server may send to a plaintext client), with a LF in it.
        (b"\x15\x03\x03\x00\x02\x02\x0a".to_vec(), false, 76),
        (Vec::new(), true, 75),
    ];
    for (greeting, close, code) in cases {
        let w = World::plain_with(msgs(1), |b| {
            b.greeting_raw = Some(greeting.clone());
            b.close_after_greeting = close;
        });
        let cfg = w.config(w.account().extra("timeout", "5"));
        let out = run(&cfg.path, &["run"]);
        assert_eq!(
            out.code,
            code,
            "{:?}: {}",
            greeting.escape_ascii().to_string(),
            out.all()
        );
        assert_untouched(&w, &["uid-1"]);
        assert_no_credential_sent(&w.pop);
        let verbs = all_verbs(&w.pop);
        assert!(verbs.iter().all(|v| v == "QUIT"), "sent {verbs:?}");
        assert!(out.stderr.contains("greeting"), "{}", out.stderr);
    }
}

#[test]
fn p14_server_without_uidl_retrieves_and_deletes_nothing() {
    for keep in [true, false] {
        let w = World::plain_with(msgs(2), |b| {
            b.capa = Some(vec!["USER".into(), "TOP".into()]);
            b.script = vec![Scripted::reply("UIDL", "-ERR command not supported\r\n")];
        });
        let cfg = w.config(w.account().keep(keep));
        let out = run(&cfg.path, &["run"]);
        // Without UIDL no message can be tracked: the poll stops before any RETR (exit 76, see robustness.md).
        assert_eq!(out.code, 76, "keep={keep}: {}", out.all());
        assert_untouched(&w, &["uid-1", "uid-2"]);
        assert!(out.stderr.contains("UIDL"), "{}", out.stderr);
        assert!(!w.state_file().exists() || std::fs::read(w.state_file()).unwrap().len() < 200);
    }
}

#[test]
fn p15_malformed_uidl_listings_are_refused_whole() {
    for listing in [
        &b"+OK\r\n1 uid-1\r\n2\r\n.\r\n"[..],
        b"+OK\r\n1 uid-1\r\n2 uid-2 extra\r\n.\r\n",
        b"+OK\r\n0 uid-1\r\n2 uid-2\r\n.\r\n",
        b"+OK\r\n-1 uid-1\r\n2 uid-2\r\n.\r\n",
        b"+OK\r\nabc uid-1\r\n2 uid-2\r\n.\r\n",
        b"+OK\r\n1 uid-1\r\n1 uid-2\r\n.\r\n",
        b"+OK\r\n1 uid-1\r\n2 uid\x01two\r\n.\r\n",
    ] {
        let w = World::plain_with(msgs(2), |b| {
            b.script = vec![Scripted::reply("UIDL", listing)]
        });
        let cfg = w.default_config();
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, 76, "{}: {}", listing.escape_ascii(), out.all());
        assert_untouched(&w, &["uid-1", "uid-2"]);
        // Aborted without QUIT: nothing could have been committed.
        assert!(!w.pop.sessions()[0].quit, "QUIT sent after a bad listing");
    }
    // Unterminated: the server closes inside the listing.
    let w = World::plain_with(msgs(2), |b| {
        b.script = vec![Scripted::reply_and_close("UIDL", "+OK\r\n1 uid-1\r\n")]
    });
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 75, "{}", out.all());
    assert_untouched(&w, &["uid-1", "uid-2"]);
}

#[test]
fn p15_unsorted_valid_listing_is_accepted() {
    let w = World::plain_with(msgs(2), |b| {
        b.script = vec![Scripted::reply(
            "UIDL",
            "+OK\r\n2 uid-2\r\n1 uid-1\r\n.\r\n",
        )]
    });
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let mut got = w.delivered_subjects();
    got.sort();
    assert_eq!(got, vec!["message 1", "message 2"]);
    assert!(w.pop.mailbox_uids().is_empty());
}

#[test]
fn p18_list_and_uidl_disagree_candidates_come_from_uidl() {
    // LIST lacks message 3: it is still fetched (under the hard cap).
    let w = World::plain_with(msgs(3), |b| {
        let n = mail(1).len();
        b.script = vec![Scripted::reply(
            "LIST",
            format!("+OK\r\n1 {n}\r\n2 {n}\r\n.\r\n"),
        )]
    });
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        w.delivered_subjects(),
        vec!["message 1", "message 2", "message 3"]
    );
    assert!(w.pop.mailbox_uids().is_empty());

    // LIST names a message 4 that UIDL does not: ignored, never DELE'd.
    let w = World::plain_with(msgs(3), |b| {
        let n = mail(1).len();
        b.script = vec![Scripted::reply(
            "LIST",
            format!("+OK\r\n1 {n}\r\n2 {n}\r\n3 {n}\r\n4 {n}\r\n.\r\n"),
        )]
    });
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(w.delivered_subjects().len(), 3);
    let commands = w.pop.all_commands();
    assert!(
        !commands.iter().any(|c| c == "DELE 4" || c == "RETR 4"),
        "{commands:?}"
    );

    // LIST refused: the poll stops before any RETR (exit 76, see robustness.md).
    let w = World::plain_with(msgs(2), |b| {
        b.script = vec![Scripted::reply("LIST", "-ERR no listing today\r\n")]
    });
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 76, "{}", out.all());
    assert_untouched(&w, &["uid-1", "uid-2"]);
}

#[test]
fn p19_retr_larger_than_list_is_normal() {
    // Dovecot counts LF as one octet: LIST is smaller than what RETR delivers.
    let w = World::plain(msgs(2));
    let real = mail(1).len() as u64;
    w.pop.update(|b| {
        b.list_sizes.insert("uid-1".into(), real - 7);
    });
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(w.delivered_subjects(), vec!["message 1", "message 2"]);
    assert!(w.pop.mailbox_uids().is_empty());
}

#[test]
fn p19_retr_smaller_than_list_is_delivered_but_kept() {
    let w = World::plain(msgs(2));
    let real = mail(1).len() as u64;
    w.pop.update(|b| {
        b.list_sizes.insert("uid-1".into(), real + 400);
    });
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 1, "{}", out.all());
    // Delivered (nothing lost) but not deleted: the server copy may be the complete one.
    assert_eq!(w.delivered_subjects(), vec!["message 1", "message 2"]);
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1"]);
    assert!(out.stderr.contains("uid-1"), "{}", out.stderr);
}

#[test]
fn p21_stalled_server_is_abandoned_after_the_timeout_without_quit() {
    let w = World::plain_with(msgs(2), |b| b.stall_after_retr_ok = true);
    let cfg = w.config(w.account().extra("timeout", "2"));
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 75, "{}", out.all());
    assert!(
        out.elapsed < Duration::from_secs(12),
        "took {:?}",
        out.elapsed
    );
    assert_untouched(&w, &["uid-1", "uid-2"]);
    assert!(!w.pop.sessions()[0].quit, "QUIT sent to a stalled server");
    assert!(out.stderr.contains("timed out"), "{}", out.stderr);
}

#[test]
fn p24_empty_maildrop_is_silent_success() {
    let w = World::plain(Vec::new());
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(out.all(), "", "an empty maildrop prints nothing");
    let verbs = all_verbs(&w.pop);
    assert_eq!(verbs.last().map(String::as_str), Some("QUIT"), "{verbs:?}");
    assert!(
        !verbs.iter().any(|v| v == "RETR" || v == "DELE"),
        "{verbs:?}"
    );
    assert_eq!(
        w.smtp.connections(),
        0,
        "no MTA connection without new mail"
    );
}

#[test]
fn p25_dele_refused_is_a_warning_and_the_message_is_not_redelivered() {
    let w = World::plain_with(msgs(2), |b| {
        b.script = vec![Scripted::reply(
            "DELE",
            "-ERR message 1 already deleted\r\n",
        )]
    });
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        out.stderr.matches("DELE refused").count(),
        2,
        "{}",
        out.stderr
    );
    assert_eq!(w.delivered_subjects(), vec!["message 1", "message 2"]);
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1", "uid-2"]);

    // Next run: DELE retried, nothing delivered again.
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(w.smtp.delivered().len(), 2);
    assert_eq!(
        w.pop.sessions()[1]
            .verbs()
            .iter()
            .filter(|v| *v == "DELE")
            .count(),
        2
    );
    assert_eq!(w.pop.sessions()[1].retr_count, 0);

    // The server recovers: the retried DELEs empty the maildrop.
    w.pop.update(|b| b.script.clear());
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(w.pop.mailbox_uids().is_empty());
    assert_eq!(w.smtp.delivered().len(), 2);
}

#[test]
fn p26_quit_error_or_lost_quit_reply_deletes_on_the_next_run_without_redelivery() {
    for script in [
        Scripted::reply("QUIT", "-ERR some deleted messages not removed\r\n"),
        Scripted::reply_and_close("QUIT", ""),
    ] {
        let w = World::plain_with(msgs(2), |b| b.script = vec![script.clone()]);
        let cfg = w.default_config();
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, 0, "{}", out.all());
        assert!(out.stderr.contains("uncertain"), "{}", out.stderr);
        assert_eq!(w.delivered_subjects(), vec!["message 1", "message 2"]);
        assert_eq!(
            w.pop.mailbox_uids(),
            vec!["uid-1", "uid-2"],
            "scripted QUIT commits nothing"
        );
        // RFC 1939 §6: without QUIT's +OK nothing was deleted, and the summary says so (issue 19).
        assert!(
            out.stderr.contains(
                "2 new, 2 delivered, 0 rejected, 0 skipped, 0 deleted, 2 marked for deletion on the next poll"
            ),
            "{}",
            out.stderr
        );

        w.pop.update(|b| b.script.clear());
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, 0, "{}", out.all());
        assert!(
            out.stderr
                .contains("0 new, 0 delivered, 0 rejected, 0 skipped, 2 deleted; 0 bytes in "),
            "{}",
            out.stderr
        );
        assert_eq!(
            w.smtp.delivered().len(),
            2,
            "redelivered after an uncertain QUIT"
        );
        assert!(w.pop.mailbox_uids().is_empty());
        assert_eq!(w.pop.sessions()[1].retr_count, 0);
    }
}

/// A message whose body holds a line that is a lone dot.
fn lone_dot_mail() -> Vec<u8> {
    b"Subject: lone dot\r\n\r\nbefore\r\n.\r\nafter the lone dot\r\n".to_vec()
}

#[test]
fn p31_non_stuffing_server_is_a_protocol_error_and_nothing_is_deleted() {
    let w = World::plain_with(vec![Msg::new("dot", lone_dot_mail())], |b| {
        b.stuff_dots = false
    });
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 76, "{}", out.all());
    assert_eq!(w.pop.mailbox_uids(), vec!["dot"]);
    assert!(!all_verbs(&w.pop).iter().any(|v| v == "DELE"));
    assert!(!w.pop.sessions()[0].quit);
}

#[test]
fn p31_non_stuffing_server_loses_nothing_over_two_runs() {
    let w = World::plain_with(vec![Msg::new("dot", lone_dot_mail())], |b| {
        b.stuff_dots = false
    });
    let cfg = w.default_config();
    let _ = run(&cfg.path, &["run"]);
    // The server is fixed; the complete message must reach the MTA before the server copy goes.
    w.pop.update(|b| b.stuff_dots = true);
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let complete = w
        .smtp
        .delivered()
        .iter()
        .any(|d| strip_received(&d.data) == lone_dot_mail().as_slice());
    assert!(
        complete || w.pop.mailbox_uids() == vec!["dot"],
        "message lost: deleted from the server but only its head was delivered"
    );
}

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
fn t15_cleartext_password_without_consent_is_refused_before_connecting() {
    let w = World::plain_with(msgs(1), |b| {
        b.capa = Some(vec!["USER".into(), "SASL PLAIN".into(), "UIDL".into()])
    });
    let cfg = w.config(w.account().allow_plaintext(None));
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 78, "{}", out.all());
    assert!(w.pop.sessions().is_empty(), "connected anyway");
    assert!(
        out.stderr.contains("allow_plaintext_password"),
        "{}",
        out.stderr
    );
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1"]);
}

#[test]
fn t20_server_echoing_the_password_is_scrubbed_at_maximum_verbosity() {
    let reply = format!("-ERR [AUTH] wrong password {PASSWORD} for {USER}");
    for (sasl, auth) in [(false, "user"), (true, "plain")] {
        let w = World::plain_with(msgs(1), |b| {
            b.err_on_pass = Some(reply.clone());
            b.sasl_plain = sasl;
        });
        let cfg = w.config(w.account().extra("auth", &toml_str(auth)));
        // `run` fails the test if the password, its base64 or the PLAIN payload's base64 is in the output.
        let out = run(&cfg.path, &["-vv", "run"]);
        assert_eq!(out.code, 77, "{}", out.all());
        assert!(
            out.stderr.contains("wrong password"),
            "server text not shown: {}",
            out.stderr
        );
        assert!(
            !w.state_file().exists() || {
                let s = std::fs::read(w.state_file()).unwrap();
                support::find(&s, PASSWORD.as_bytes()).is_none()
            }
        );
    }
}

#[test]
fn t21_password_config_readable_by_others_is_refused_without_network() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::plain(msgs(1));
    for mode in [0o644, 0o640, 0o604] {
        let cfg = w.default_config();
        std::fs::set_permissions(&cfg.path, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, 78, "mode {mode:o}: {}", out.all());
        assert!(
            out.stderr.contains("config.toml"),
            "file not named: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains(&format!("{mode:o}")),
            "mode not named: {}",
            out.stderr
        );
    }
    assert!(w.pop.sessions().is_empty());
    assert_eq!(w.smtp.connections(), 0);
}

#[test]
fn t23_password_command_failures_are_config_errors_and_never_echoed() {
    let w = World::plain(msgs(1));
    let leak = "leaked-command-output-4711";
    let script = w.state.path().join("pw.sh");
    write_private(
        &script,
        format!("#!/bin/sh\necho {leak}\necho {leak} >&2\nexit 3\n").as_bytes(),
    );
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let script = script.to_string_lossy().into_owned();
    for argv in [
        format!("[{}]", toml_str(&script)),
        "[\"true\"]".to_string(),
        format!("[\"printf\", {}]", toml_str(&format!("{leak}\\n{leak}\\n"))),
    ] {
        let cfg = w.config(w.account().password(None).extra("password_command", &argv));
        let out = run(&cfg.path, &["-vv", "run"]);
        assert_eq!(out.code, 78, "{argv}: {}", out.all());
        assert!(
            !out.all().contains(leak),
            "{argv}: command output echoed: {}",
            out.all()
        );
        assert!(
            out.stderr.contains("isp"),
            "account not named: {}",
            out.stderr
        );
    }
    assert!(w.pop.sessions().is_empty(), "connected without a password");
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1"]);

    // Control: a working command delivers (so the failures above are the command's, not the config's).
    let argv = format!("[\"printf\", {}]", toml_str(&format!("{PASSWORD}\\n")));
    let cfg = w.config(w.account().password(None).extra("password_command", &argv));
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(w.smtp.delivered().len(), 1);
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

#[test]
fn p04_one_byte_writes_change_nothing() {
    let body = b"Subject: split\r\n\r\n..leading dot\r\nline\r\n.\r\n".to_vec();
    let w = World::plain_with(vec![Msg::new("s", body.clone())], |b| {
        b.write_chunks = Some((1, Duration::ZERO));
    });
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(strip_received(&w.smtp.delivered()[0].data), body.as_slice());
    assert!(w.pop.mailbox_uids().is_empty());
    assert!(w.pop.violations().is_empty(), "{:?}", w.pop.violations());
}

#[test]
fn p07_message_over_max_message_size_is_kept_and_skipped_with_exit_1() {
    let mut big = b"Subject: big\r\n\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'x', 5000));
    big.extend_from_slice(b"\r\n");
    let mut m = msgs(2);
    m.insert(1, Msg::new("big", big));
    let w = World::plain(m);
    let cfg = w.config(w.account().extra("max_message_size", "4096"));
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert_eq!(w.delivered_subjects(), vec!["message 1", "message 2"]);
    assert_eq!(w.pop.mailbox_uids(), vec!["big"]);
    assert!(
        !w.pop.retr_log().contains(&"big".to_string()),
        "oversize message downloaded"
    );
    assert!(out.stderr.contains("max_message_size"), "{}", out.stderr);
}

#[test]
fn p29_renumbered_maildrop_uses_uids_and_current_numbers() {
    let w = World::plain(msgs(3));
    let cfg = w.default_config();
    // Session 1 delivers uid-1 and uid-2, sends DELE 2, and is killed before QUIT.
    let killed = run_env(
        &cfg.path,
        &["run"],
        &[("POPFETCH_FAILPOINT", "after_dele:2")],
    );
    assert!(
        killed.stderr.contains("popfetch-failpoint: after_dele"),
        "{}",
        killed.all()
    );
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1", "uid-2", "uid-3"]);
    // Meanwhile another client removed uid-1: uid-2 is now message 1, uid-3 message 2.
    w.pop.remove("uid-1");
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        w.delivered_subjects(),
        vec!["message 1", "message 2", "message 3"]
    );
    let s = &w.pop.sessions()[1];
    assert!(s.commands.iter().any(|c| c == "DELE 1"), "{:?}", s.commands);
    assert!(s.commands.iter().any(|c| c == "RETR 2"), "{:?}", s.commands);
    assert!(
        !s.commands.iter().any(|c| c == "RETR 1"),
        "uid-2 fetched again: {:?}",
        s.commands
    );
    assert!(w.pop.mailbox_uids().is_empty());
}
