//! End-to-end tests of `delivery = "imap"` (issue 14): the built binary, the scripted fake POP3 server, and the
//! scripted IMAP server of `support::imap` over real sockets (implicit TLS with the test CA). Each test asserts the
//! exact bytes the IMAP server received, what is left on the POP3 server, and the exit status; `run` fails any
//! test whose output holds the password in any form.

mod support;

use support::imap::{FakeImap, ImapBehavior};
use support::large::*;
use support::run::{TestConfig, toml_str, write_private};
use support::world::*;
use support::*;

const DATE: &str = "Tue, 1 Dec 2026 08:05:09 -0130";
const INTERNAL: &str = "01-Dec-2026 08:05:09 -0130";

/// Test message `n` with a Date field, as the POP3 server holds it.
fn dated(n: usize) -> Vec<u8> {
    format!(
        "Return-Path: <sender{n}@remote.test>\r\nDelivered-To: {TARGET}\r\nDate: {DATE}\r\n\
         From: sender{n}@remote.test\r\nSubject: message {n}\r\n\r\nbody of message {n}\r\n"
    )
    .into_bytes()
}

/// `dated(n)` as it must arrive: the Delivered-To naming the target removed, CRLF kept (after the Received field).
fn arrives(n: usize) -> Vec<u8> {
    String::from_utf8(dated(n))
        .unwrap()
        .replace(&format!("Delivered-To: {TARGET}\r\n"), "")
        .into_bytes()
}

fn world(n: usize) -> World {
    World::plain(
        (1..=n)
            .map(|i| Msg::new(format!("uid-{i}"), dated(i)))
            .collect(),
    )
}

/// An implicit-TLS fake IMAP server with `caps`, trusting the world's test CA, answering APPENDs with `appends`.
fn imap(w: &World, caps: &str, appends: &[&str]) -> FakeImap {
    let mut b = ImapBehavior::new(Some(w.pki.default_server_config()), caps, USER, PASSWORD);
    b.appends = appends.iter().map(|s| s.to_string()).collect();
    FakeImap::start(b)
}

/// The world's account with `delivery = "imap"` and an `[account.imap]` table for `imap` plus `extra` lines.
fn config(w: &World, imap: &FakeImap, extra: &str) -> TestConfig {
    config_for(w, w.account(), imap, extra)
}

/// [`config`] with the POP3 side's account `acct`.
fn config_for(w: &World, acct: AccountCfg, imap: &FakeImap, extra: &str) -> TestConfig {
    let cfg = w.config(acct.extra("delivery", "\"imap\""));
    let mut text = std::fs::read_to_string(&cfg.path).unwrap();
    text.push_str(&format!(
        "\n[account.imap]\nhost = \"127.0.0.1\"\nport = {}\nca_file = {}\nuser = {}\npassword = {}\n{extra}\n",
        imap.port(),
        toml_str(w.pki.ca_path.to_str().unwrap()),
        toml_str(USER),
        toml_str(PASSWORD),
    ));
    write_private(&cfg.path, text.as_bytes());
    cfg
}

fn plain_payload() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("\0{USER}\0{PASSWORD}"))
}

fn append_cmd(tag: &str, flags: &str, literal: &[u8], plus: &str) -> Vec<u8> {
    let mut v = format!(
        "{tag} APPEND \"INBOX\" ({flags}) \"{INTERNAL}\" {{{}{plus}}}\r\n",
        literal.len()
    )
    .into_bytes();
    v.extend_from_slice(literal);
    v.extend_from_slice(b"\r\n");
    v
}

#[test]
fn literal_plus_appends_each_message_byte_exact_then_pop3_is_emptied() {
    let w = world(2);
    let srv = imap(
        &w,
        "IMAP4rev1 LITERAL+ AUTH=PLAIN SASL-IR UIDPLUS",
        &["OK [APPENDUID 9 41] done", "OK [APPENDUID 9 42] done"],
    );
    let cfg = config(&w, &srv, "");
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let lits = srv.literals();
    assert_eq!(lits.len(), 2);
    for (i, lit) in lits.iter().enumerate() {
        assert_eq!(strip_received(lit), arrives(i + 1).as_slice());
    }
    let mut want = format!("p1 AUTHENTICATE PLAIN {}\r\n", plain_payload()).into_bytes();
    want.extend(append_cmd("p2", "", &lits[0], "+"));
    want.extend(append_cmd("p3", "", &lits[1], "+"));
    want.extend(b"p4 LOGOUT\r\n");
    assert_eq!(
        String::from_utf8_lossy(&srv.client_bytes()),
        String::from_utf8_lossy(&want)
    );
    assert!(srv.violations().is_empty(), "{:?}", srv.violations());
    assert!(
        w.pop.mailbox_uids().is_empty(),
        "{:?}",
        w.pop.mailbox_uids()
    );
    assert!(out.stderr.contains("APPENDUID 9 41"), "{}", out.stderr);
    assert_eq!(w.smtp.connections(), 0, "no SMTP for an IMAP destination");
    let again = run(&cfg.path, &["run"]);
    assert_eq!((again.code, again.all()), (0, String::new()));
    assert_eq!(srv.literals().len(), 2);
}

#[test]
fn dry_run_names_the_imap_destination_and_how_it_would_log_in_and_touches_it_not() {
    let w = world(1);
    let srv = imap(&w, "IMAP4rev1 AUTH=PLAIN", &[]);
    let cfg = config(&w, &srv, "");
    let out = run(&cfg.path, &["run", "--dry-run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let want = format!(
        "with IMAP APPEND to 127.0.0.1:{} folder \"INBOX\" as \"{USER}\" (password: AUTHENTICATE PLAIN where offered, \
         else LOGIN)",
        srv.port()
    );
    assert!(out.stdout.contains(&want), "{}", out.all());
    assert!(
        srv.client_bytes().is_empty(),
        "the dry run logged in to IMAP"
    );
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1"]);
}

#[test]
fn without_literal_plus_the_client_waits_for_each_continuation_and_logs_in_with_login() {
    let w = world(1);
    let srv = imap(&w, "IMAP4rev1", &[]);
    let cfg = config(&w, &srv, "flags = [\"\\\\Seen\", \"$Fetched\"]");
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let lits = srv.literals();
    assert_eq!(lits.len(), 1);
    assert_eq!(strip_received(&lits[0]), arrives(1).as_slice());
    let mut want = format!("p1 LOGIN \"{USER}\" \"{PASSWORD}\"\r\n").into_bytes();
    want.extend(append_cmd("p2", "\\Seen $Fetched", &lits[0], ""));
    want.extend(b"p3 LOGOUT\r\n");
    assert_eq!(
        String::from_utf8_lossy(&srv.client_bytes()),
        String::from_utf8_lossy(&want)
    );
    assert!(srv.violations().is_empty(), "{:?}", srv.violations());
    assert!(w.pop.mailbox_uids().is_empty());
}

#[test]
fn authenticate_plain_without_sasl_ir_sends_the_payload_after_the_continuation() {
    let w = world(1);
    let srv = imap(&w, "IMAP4rev1 AUTH=PLAIN LITERAL-", &[]);
    let cfg = config(&w, &srv, "");
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let lits = srv.literals();
    let mut want = format!("p1 AUTHENTICATE PLAIN\r\n{}\r\n", plain_payload()).into_bytes();
    // LITERAL- allows {N+} up to 4096 bytes (RFC 7888).
    want.extend(append_cmd("p2", "", &lits[0], "+"));
    want.extend(b"p3 LOGOUT\r\n");
    assert_eq!(
        String::from_utf8_lossy(&srv.client_bytes()),
        String::from_utf8_lossy(&want)
    );
}

#[test]
fn trycreate_is_a_config_error_naming_the_folder_and_nothing_is_deleted() {
    let w = world(2);
    let srv = imap(
        &w,
        "IMAP4rev1",
        &["!NO [TRYCREATE] Mailbox doesn't exist: Fetched"],
    );
    let cfg = config(&w, &srv, "folder = \"Fetched\"");
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 78, "{}", out.all());
    assert!(
        out.stderr
            .contains("IMAP folder \"Fetched\" does not exist"),
        "{}",
        out.stderr
    );
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1", "uid-2"]);
    assert!(srv.literals().is_empty(), "the literal was never sent");
    assert!(srv.violations().is_empty(), "{:?}", srv.violations());
    assert!(
        find(&srv.client_bytes(), b"APPEND \"Fetched\" ").is_some(),
        "{}",
        String::from_utf8_lossy(&srv.client_bytes())
    );
}

#[test]
fn overquota_unavailable_and_bye_keep_the_message_with_exit_75() {
    for reply in [
        "NO [OVERQUOTA] Quota exceeded",
        "NO [UNAVAILABLE] try later",
        "BYE",
    ] {
        let w = world(2);
        let srv = imap(&w, "IMAP4rev1 LITERAL+", &[reply]);
        let cfg = config(&w, &srv, "");
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, 75, "{reply}: {}", out.all());
        assert_eq!(w.pop.mailbox_uids(), vec!["uid-1", "uid-2"], "{reply}");
        // Not journalled: the next poll with a healthy server delivers both.
        let again = run(&cfg.path, &["run"]);
        assert_eq!(again.code, 0, "{reply}: {}", again.all());
        assert!(w.pop.mailbox_uids().is_empty(), "{reply}");
    }
}

#[test]
fn another_no_rejects_this_message_journalled_and_shows_the_alert_escaped() {
    let w = world(2);
    let srv = imap(
        &w,
        "IMAP4rev1 LITERAL+",
        &["NO [ALERT] Message refused\x1b[31m by policy", "OK done"],
    );
    let cfg = config(&w, &srv, "");
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr.contains("Message refused\\x1b[31m by policy"),
        "{}",
        out.stderr
    );
    assert!(!out.all().contains('\x1b'), "{}", out.all());
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1"]);
    // Journalled: the next poll neither fetches nor appends it again.
    let again = run(&cfg.path, &["run"]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert_eq!(srv.literals().len(), 2);
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1"]);
}

#[test]
fn a_refused_login_is_exit_77_and_the_password_is_never_shown() {
    let w = world(1);
    let mut b = ImapBehavior::new(
        Some(w.pki.default_server_config()),
        "IMAP4rev1 AUTH=PLAIN SASL-IR",
        USER,
        "other",
    );
    b.appends = Vec::new();
    let srv = FakeImap::start(b);
    let cfg = config(&w, &srv, "");
    let out = run(&cfg.path, &["run", "-vv"]);
    assert_eq!(out.code, 77, "{}", out.all());
    assert!(
        out.stderr.contains("IMAP login as \"alice\" failed"),
        "{}",
        out.stderr
    );
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1"]);
    assert_eq!(
        w.pop.retr_log(),
        Vec::<String>::new(),
        "no RETR before the destination is open"
    );
}

#[test]
fn a_bye_in_the_middle_of_the_literal_or_no_continuation_at_all_keeps_the_mail_with_exit_75() {
    let w = world(1);
    let srv = imap(&w, "IMAP4rev1 LITERAL+", &["BYE-MID"]);
    let cfg = config(&w, &srv, "");
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 75, "{}", out.all());
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1"]);

    let w = world(1);
    let srv = imap(&w, "IMAP4rev1", &["!STALL"]);
    let cfg = config_for(&w, w.account().extra("timeout", "2"), &srv, "");
    let started = std::time::Instant::now();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 75, "{}", out.all());
    assert!(
        out.stderr
            .contains("no answer within the timeout during append"),
        "{}",
        out.stderr
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1"]);
    assert!(srv.literals().is_empty());
    assert!(srv.violations().is_empty(), "{:?}", srv.violations());
}

#[test]
fn s21_a_50_mib_message_is_appended_byte_exact_from_the_spool_in_bounded_memory() {
    let (w, peak, raw) = measured_world();
    // Without LITERAL+: the size goes out before the continuation, so it must be exact before the first byte.
    let srv = imap(&w, "IMAP4rev1 AUTH=PLAIN SASL-IR", &[]);
    let cfg = config(&w, &srv, "");
    let out = run_measured(&cfg.path, &peak);
    assert_eq!(out.code, 0, "{}", out.all());
    let lits = srv.literals();
    assert_eq!(lits.len(), 1);
    assert!(strip_received(&lits[0]) == piped(&raw).as_slice());
    // The internal date comes from the Date field of the held header block.
    let line = format!(
        "p2 APPEND \"INBOX\" () \"{INTERNAL}\" {{{}}}\r\n",
        lits[0].len()
    );
    assert!(
        find(&srv.client_bytes(), line.as_bytes()).is_some(),
        "{line:?}"
    );
    assert!(srv.violations().is_empty(), "{:?}", srv.violations());
    assert_bounded_and_done(&w, &peak);
}

#[test]
fn p20_no_append_is_sent_for_a_retr_that_dies_mid_stream_and_nothing_is_deleted() {
    let (w, raw) = dying_world(dated(2));
    let srv = imap(&w, "IMAP4rev1 LITERAL+ AUTH=PLAIN SASL-IR", &[]);
    let cfg = config(&w, &srv, "");
    let out = run(&cfg.path, &["run"]);
    let sent = srv.client_bytes();
    assert!(
        find(&sent, b"APPEND").is_none(),
        "{}",
        String::from_utf8_lossy(&sent)
    );
    assert_kept_then_delivered(&w, &out, &cfg.path);
    let lits = srv.literals();
    assert_eq!(lits.len(), 2);
    assert!(strip_received(&lits[0]) == piped(&raw).as_slice());
}

#[test]
fn check_looks_at_the_imap_sides_password_file_and_ca_file_offline() {
    let w = world(1);
    let srv = imap(&w, "IMAP4rev1", &[]);
    let cfg = config(&w, &srv, "");
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let text = std::fs::read_to_string(&cfg.path).unwrap();
    let text = text
        .replace(
            &format!("password = {}\n", toml_str(PASSWORD)),
            &format!(
                "password_file = {}\n",
                toml_str(dir.path().join("nope").to_str().unwrap())
            ),
        )
        .replace(
            &format!("ca_file = {}\n", toml_str(w.pki.ca_path.to_str().unwrap())),
            &format!("ca_file = {}\n", toml_str(garbage.to_str().unwrap())),
        );
    assert!(
        text.contains("garbage.pem") && text.contains("nope"),
        "{text}"
    );
    write_private(&cfg.path, text.as_bytes());
    let out = run(&cfg.path, &["check"]);
    assert_eq!(out.code, 78, "{}", out.all());
    for want in [
        "[account.imap] cannot read password_file",
        "[account.imap] ca_file: no usable trust anchors",
    ] {
        assert!(out.stderr.contains(want), "{want:?} not in {}", out.stderr);
    }
    assert!(srv.client_bytes().is_empty());
}
