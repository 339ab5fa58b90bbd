//! Issue 19 against the scripted MTA: sessions the MTA ends for having had enough (catalog S-08: `421`, and
//! OpenSMTPD's `452 4.5.3` to MAIL), the bound on reopening them, `[smtp] batch_limit`, and a summary that counts
//! deletions only once QUIT said `+OK` (RFC 1939 §6, catalog P-26). The real Exim and OpenSMTPD are in
//! tests/interop_mta.rs.

mod support;

use support::run::ConfigBuilder;
use support::world::*;
use support::*;

/// The reconnect bound of src/poller/link.rs (`MAX_RECONNECTS`), as documented in the README and the man page.
const MAX_RECONNECTS: usize = 100;

const OPENSMTPD_452: &str = "452 4.5.3 Too many recipients: Too many messages sent";

fn subjects(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("message {i}")).collect()
}

/// Messages accepted per connection, in connection order.
fn per_connection(smtp: &FakeSmtp) -> Vec<usize> {
    let mut counts = vec![0; smtp.connections()];
    for d in smtp.delivered() {
        counts[d.connection] += 1;
    }
    counts
}

fn summary_line(stderr: &str) -> &str {
    stderr
        .lines()
        .find(|l| l.contains(" new, ") && l.contains(" delivered, "))
        .unwrap_or_else(|| panic!("no summary line in {stderr}"))
}

#[test]
fn s08_421_after_each_message_reconnects_and_delivers_everything_in_one_run() {
    let w = World::plain(msgs(3));
    w.smtp.update(|b| b.shutdown_after = Some(1));
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(w.delivered_subjects(), subjects(3));
    assert_eq!(per_connection(&w.smtp), vec![1, 1, 1]);
    assert_eq!(w.smtp.attempts(), 3, "a message was sent twice");
    assert!(w.pop.mailbox_uids().is_empty());
    assert!(w.pop.sessions()[0].quit);
    // The MTA closed each full session with 421: popfetch sent nothing after the refused MAIL (no RSET, no QUIT).
    let first = &w.smtp.sessions()[0];
    assert!(
        first.commands.last().unwrap().starts_with("MAIL FROM:"),
        "{:?}",
        first.commands
    );
    assert!(
        out.stderr
            .contains("going on with a new connection (1 of at most 100"),
        "{}",
        out.stderr
    );
    assert!(
        summary_line(&out.stderr).contains("3 delivered, 0 rejected, 0 skipped, 3 deleted; ")
            && summary_line(&out.stderr).ends_with("; result ok"),
        "{}",
        out.stderr
    );
}

#[test]
fn s08_452_4_5_3_to_mail_reconnects_like_opensmtpd_max_mails() {
    let w = World::plain(msgs(5));
    w.smtp
        .update(|b| b.max_mails = Some((2, OPENSMTPD_452.to_owned())));
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(w.delivered_subjects(), subjects(5));
    assert_eq!(per_connection(&w.smtp), vec![2, 2, 1]);
    assert!(w.pop.mailbox_uids().is_empty());
    // The session stays open after 452: RSET (as after any refusal before DATA, RFC 5321 §4.1.1.5), then QUIT.
    let first = &w.smtp.sessions()[0];
    let third = &w.smtp.delivered()[2];
    let mut mail = format!("MAIL FROM:<{}>", third.mail_from);
    for p in &third.mail_params {
        mail.push(' ');
        mail.push_str(p);
    }
    let client = String::from_utf8_lossy(&first.client_bytes).into_owned();
    assert!(
        client.ends_with(&format!("\r\n.\r\n{mail}\r\nRSET\r\nQUIT\r\n")),
        "{client:?}"
    );
    let server = String::from_utf8_lossy(&first.server_bytes).into_owned();
    assert!(
        server.ends_with(&format!(
            "250 2.0.0 Ok: queued\r\n{OPENSMTPD_452}\r\n250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n"
        )),
        "{server:?}"
    );
    assert!(first.quit);
}

#[test]
fn s08_421_on_the_fresh_connection_is_a_temporary_failure_after_one_reconnect() {
    let w = World::plain(msgs(3));
    w.smtp.update(|b| {
        b.shutdown_after = Some(1);
        b.greeting_from_connection = Some((1, "421 4.3.2 Service not available".to_owned()));
    });
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 75, "{}", out.all());
    assert_eq!(w.delivered_subjects(), subjects(1));
    assert_eq!(w.smtp.connections(), 2, "one reconnect, no more");
    // The fresh connection: popfetch read the 421 greeting and closed without a word.
    let second = &w.smtp.sessions()[1];
    assert_eq!(second.server_bytes, b"421 4.3.2 Service not available\r\n");
    assert_eq!(second.client_bytes, b"");
    // Message 2 was fetched, not delivered: no QUIT, so message 1's DELE is not committed yet (P-27).
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1", "uid-2", "uid-3"]);
    assert!(!w.pop.sessions()[0].quit);
    // Message 1's DELE went out after message 2's RETR reply (group commit, src/poller/commit.rs), so its reply
    // was never read before the connection was dropped: not counted as marked.
    let line = summary_line(&out.stderr);
    assert!(
        line.contains("3 new, 1 delivered, 0 rejected, 0 skipped, 0 deleted; ")
            && line.ends_with(" s; result tempfail"),
        "{line}"
    );
    // The next run deletes message 1 without delivering it again and delivers the rest once.
    w.smtp.set_behavior(SmtpBehavior::default());
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(w.delivered_subjects(), subjects(3));
    assert!(w.pop.mailbox_uids().is_empty());
    assert!(
        summary_line(&out.stderr).contains("2 new, 2 delivered, 0 rejected, 0 skipped, 3 deleted"),
        "{}",
        out.stderr
    );
}

#[test]
fn s08_a_refusal_on_a_connection_that_took_nothing_is_not_retried() {
    for reply in [
        OPENSMTPD_452,
        "421 4.7.0 mx.example.test too many messages in this connection",
    ] {
        let w = World::plain(msgs(2));
        w.smtp.update(|b| b.max_mails = Some((0, reply.to_owned())));
        let cfg = w.default_config();
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, 75, "{reply}: {}", out.all());
        assert_eq!(w.smtp.connections(), 1, "{reply}");
        assert!(w.smtp.transactions().is_empty());
        assert_eq!(w.pop.mailbox_uids(), vec!["uid-1", "uid-2"]);
        assert!(out.stderr.contains(&reply[..3]), "{}", out.stderr);
    }
}

#[test]
fn s08_reconnects_are_bounded_per_poll() {
    // Every session takes one message and then answers 421: the bound, not the mailbox, ends the poll.
    let n = MAX_RECONNECTS + 3;
    let w = World::plain(msgs(n));
    w.smtp.update(|b| b.shutdown_after = Some(1));
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 75, "{}", out.all());
    assert_eq!(w.smtp.connections(), MAX_RECONNECTS + 1);
    assert_eq!(w.delivered_subjects(), subjects(MAX_RECONNECTS + 1));
    assert_eq!(w.smtp.attempts(), MAX_RECONNECTS + 1, "nothing sent twice");
    assert!(
        out.stderr
            .contains("the MTA ended 100 sessions in this poll"),
        "{}",
        out.stderr
    );
    // The last session ended like every other: 421 to MAIL, and popfetch wrote nothing after it.
    let last = w.smtp.sessions().pop().unwrap();
    let text = String::from_utf8_lossy(&last.server_bytes).into_owned();
    assert!(
        text.ends_with("250 2.0.0 Ok: queued\r\n421 4.3.2 Service shutting down\r\n"),
        "{text:?}"
    );
    assert!(!last.quit);
    // The next run delivers the rest exactly once.
    w.smtp.set_behavior(SmtpBehavior::default());
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let mut got = w.delivered_subjects();
    got.sort();
    let mut want = subjects(n);
    want.sort();
    assert_eq!(got, want);
    assert!(w.pop.mailbox_uids().is_empty());
}

#[test]
fn batch_limit_quits_after_n_messages_and_goes_on_with_a_new_connection() {
    let w = World::plain(msgs(25));
    let cfg = ConfigBuilder::new(w.smtp.port(), w.state.path())
        .smtp("batch_limit", "10")
        .account(w.account())
        .write();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(w.delivered_subjects(), subjects(25));
    assert_eq!(per_connection(&w.smtp), vec![10, 10, 5]);
    for s in w.smtp.sessions() {
        assert!(s.quit, "every batch ends with QUIT: {:?}", s.commands);
        assert_eq!(s.commands.last().map(String::as_str), Some("QUIT"));
    }
    assert!(w.pop.mailbox_uids().is_empty());
    // Sessions popfetch closes itself are no MTA refusals: nothing about reconnecting is logged above debug.
    assert!(!out.stderr.contains("new connection"), "{}", out.stderr);
}

#[test]
fn batch_limit_zero_is_unlimited_and_bad_values_are_config_errors() {
    let w = World::plain(msgs(12));
    let cfg = ConfigBuilder::new(w.smtp.port(), w.state.path())
        .smtp("batch_limit", "0")
        .account(w.account())
        .write();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(per_connection(&w.smtp), vec![12]);
    for bad in ["-1", "\"10\"", "1000001"] {
        let cfg = ConfigBuilder::new(w.smtp.port(), w.state.path())
            .smtp("batch_limit", bad)
            .account(w.account())
            .write();
        let out = run(&cfg.path, &["check"]);
        assert_eq!(out.code, 78, "{bad}: {}", out.all());
        assert!(out.stderr.contains("batch_limit"), "{bad}: {}", out.stderr);
    }
}
