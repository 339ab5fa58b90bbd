//! MTA faults in each phase: temporary (S-01) and permanent (S-02) refusals, an MTA down or refusing at the
//! greeting (S-05), a close mid-DATA (S-06), a lost (S-07), malformed (S-09) or out-of-sequence (S-20) reply, and
//! the EHLO fallbacks (S-14).

use super::*;

/// A change to the fake MTA's behaviour, for tables of cases.
type SmtpFn = Box<dyn Fn(&mut SmtpBehavior)>;

#[test]
fn s01_temporary_failure_in_each_phase_keeps_everything_and_stops_the_poll() {
    let cases: Vec<(&str, SmtpFn)> = vec![
        (
            "MAIL 451",
            Box::new(|b| b.mail_reply = Some("451 4.3.0 Try again later".into())),
        ),
        (
            "MAIL 452",
            Box::new(|b| b.mail_reply = Some("452 4.3.1 Insufficient system storage".into())),
        ),
        (
            "RCPT 450",
            Box::new(|b| {
                b.rcpt_replies =
                    HashMap::from([(TARGET.to_string(), "450 4.2.0 Mailbox busy".to_string())])
            }),
        ),
        (
            "RCPT 452",
            Box::new(|b| {
                b.rcpt_replies = HashMap::from([(
                    TARGET.to_string(),
                    "452 4.5.3 Too many recipients".to_string(),
                )])
            }),
        ),
        (
            "DATA 451",
            Box::new(|b| b.data_cmd_reply = Some("451 4.3.0 Not now".into())),
        ),
        (
            "end-of-DATA 451",
            Box::new(|b| b.default_data_reply = "451 4.3.0 Error: queue file write error".into()),
        ),
    ];
    for (what, f) in cases {
        let w = World::plain(msgs(3));
        w.smtp.update(|b| f(b));
        let cfg = w.default_config();
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, 75, "{what}: {}", out.all());
        assert!(w.smtp.delivered().is_empty(), "{what}");
        assert_eq!(
            w.pop.mailbox_uids(),
            vec!["uid-1", "uid-2", "uid-3"],
            "{what}"
        );
        // The poll stopped at the first failure: one MAIL; two RETRs, since the next message is read while the
        // MTA has the first (src/poller/lanes.rs), and never sent.
        let mails = envelope_commands(&w.smtp)
            .iter()
            .filter(|c| c.starts_with("MAIL"))
            .count();
        assert_eq!(mails, 1, "{what}: {:?}", envelope_commands(&w.smtp));
        assert_eq!(w.pop.retr_log(), ["uid-1", "uid-2"], "{what}");
        assert!(
            out.stderr.contains("uid-1") && out.stderr.contains("4"),
            "{what}: {}",
            out.stderr
        );
        w.next_run_delivers_each_once(&cfg.path, 3);
    }
}

#[test]
fn s02_permanent_rejections_at_end_of_data_are_recorded_and_not_refetched() {
    for reply in [
        "550 5.7.1 Error: message content rejected",
        "552 5.3.4 Error: message file too big",
        "554 5.4.0 Error: too many hops",
    ] {
        let w = World::plain(msgs(2));
        w.smtp
            .set_behavior(SmtpBehavior::default().reply_to_data(0, reply));
        let cfg = w.default_config();
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, 1, "{reply}: {}", out.all());
        assert!(out.stderr.contains(&reply[..3]), "{}", out.stderr);
        assert_eq!(w.delivered_subjects(), vec!["message 2"]);
        assert_eq!(w.pop.mailbox_uids(), vec!["uid-1"], "rejected message kept");
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, 0, "{}", out.all());
        assert_eq!(
            w.pop.retr_log().iter().filter(|u| *u == "uid-1").count(),
            1,
            "refetched"
        );
        assert_eq!(w.smtp.attempts(), 2, "no bounce or retry transaction");

        // --retry-rejected tries it again (the MTA now accepts it).
        w.smtp.set_behavior(SmtpBehavior::default());
        let out = run(&cfg.path, &["run", "--retry-rejected"]);
        assert_eq!(out.code, 0, "{reply}: {}", out.all());
        assert_eq!(w.delivered_subjects(), vec!["message 2", "message 1"]);
        assert!(w.pop.mailbox_uids().is_empty());
    }
}

#[test]
fn s05_mta_down_or_421_greeting_costs_no_download() {
    let w = World::plain(msgs(2));
    // A port nobody listens on: bind and drop.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = ConfigBuilder::new(dead, w.state.path())
        .account(w.account())
        .write();
    let out = run(&down.path, &["run"]);
    assert_eq!(out.code, 75, "MTA down: {}", out.all());
    assert!(w.pop.retr_log().is_empty(), "RETR while the MTA is down");
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1", "uid-2"]);

    w.smtp
        .update(|b| b.greeting = "421 4.3.2 Service not available, closing channel".into());
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 75, "421 greeting: {}", out.all());
    assert!(w.pop.retr_log().is_empty(), "RETR while the MTA refuses");
    assert!(!all_verbs(&w.pop).iter().any(|v| v == "RETR" || v == "DELE"));
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1", "uid-2"]);
    assert!(out.stderr.contains("421"), "{}", out.stderr);
    w.next_run_delivers_each_once(&cfg.path, 2);
}

#[test]
fn s06_mta_closing_mid_data_keeps_the_message() {
    let w = World::plain(msgs(2));
    w.smtp.update(|b| b.close_after_data_bytes = Some(60));
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 75, "{}", out.all());
    assert!(
        w.smtp.transactions().is_empty(),
        "no end-of-DATA reached the MTA"
    );
    assert_eq!(w.smtp.sessions()[0].aborted_data, 1);
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1", "uid-2"]);
    w.next_run_delivers_each_once(&cfg.path, 2);
}

#[test]
fn s07_lost_end_of_data_reply_keeps_the_message_and_the_next_run_delivers() {
    let w = World::plain(msgs(2));
    w.smtp.update(|b| b.close_after_eod = true);
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 75, "{}", out.all());
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1", "uid-2"]);
    assert_eq!(
        w.smtp.transactions().len(),
        1,
        "exactly one end-of-DATA sent"
    );
    w.smtp.set_behavior(SmtpBehavior::default());
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(w.delivered_subjects(), vec!["message 1", "message 2"]);
    assert!(w.pop.mailbox_uids().is_empty());
}

#[test]
fn s07_lost_end_of_data_reply_is_logged_as_a_possible_duplicate() {
    let w = World::plain(msgs(1));
    w.smtp.update(|b| b.close_after_eod = true);
    let cfg = w.default_config();
    let first = run(&cfg.path, &["run"]);
    assert_eq!(first.code, 75, "{}", first.all());
    w.smtp.set_behavior(SmtpBehavior::default());
    let second = run(&cfg.path, &["run"]);
    assert_eq!(second.code, 0, "{}", second.all());
    let logs = format!("{}{}", first.stderr, second.stderr);
    assert!(
        logs.contains("uid \"uid-1\": possible duplicate"),
        "the duplicate window was not logged: {logs}"
    );
}

#[test]
fn s09_malformed_end_of_data_replies_are_never_success() {
    for reply in ["2x0 looks like success", "250ok", "25", "hello", "-250 no"] {
        let w = World::plain(msgs(1));
        w.smtp.update(|b| b.default_data_reply = reply.into());
        let cfg = w.default_config();
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, 75, "{reply:?}: {}", out.all());
        assert_eq!(w.pop.mailbox_uids(), vec!["uid-1"], "{reply:?}: deleted");
        // Not recorded as delivered or rejected: a healthy MTA gets it next run.
        w.smtp.set_behavior(SmtpBehavior::default());
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, 0, "{}", out.all());
        assert_eq!(w.smtp.attempts(), 2, "{reply:?}");
        assert_eq!(
            w.smtp.transactions()[1].reply.as_deref(),
            Some("250 2.0.0 Ok: queued")
        );
        assert!(w.pop.mailbox_uids().is_empty());
    }
    // Multi-line: the last line decides, whatever the first says.
    let w = World::plain(msgs(1));
    w.smtp
        .update(|b| b.default_data_reply = "250-2.0.0 looks fine\r\n451 4.3.0 but is not".into());
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 75, "{}", out.all());
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1"]);
    // A long (600-octet) but well-formed reply is fine.
    let w = World::plain(msgs(1));
    w.smtp
        .update(|b| b.default_data_reply = format!("250 2.0.0 Ok: queued as {}", "Q".repeat(600)));
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(w.pop.mailbox_uids().is_empty());
}

#[test]
fn s20_out_of_sequence_replies_send_no_data_and_keep_the_message() {
    for (what, f) in [
        (
            "250 to DATA",
            Box::new(|b: &mut SmtpBehavior| b.data_cmd_reply = Some("250 2.0.0 Ok".into()))
                as SmtpFn,
        ),
        (
            "354 to MAIL",
            Box::new(|b: &mut SmtpBehavior| b.mail_reply = Some("354 go ahead".into())),
        ),
    ] {
        let w = World::plain(msgs(2));
        w.smtp.update(|b| f(b));
        let cfg = w.default_config();
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, 75, "{what}: {}", out.all());
        assert!(
            w.smtp.transactions().is_empty(),
            "{what}: message data sent without 354"
        );
        assert!(
            w.smtp.violations().is_empty(),
            "{what}: {:?}",
            w.smtp.violations()
        );
        assert_eq!(w.pop.mailbox_uids(), vec!["uid-1", "uid-2"]);
        w.next_run_delivers_each_once(&cfg.path, 2);
    }
}

#[test]
fn s14_eight_bit_without_8bitmime_is_delivered_unchanged_without_body_param() {
    let body = b"Subject: caf\xe9\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nna\xefve \xff\r\n".to_vec();
    let w = World::plain(vec![Msg::new("8", body.clone())]);
    // (b) EHLO works but offers no 8BITMIME.
    w.smtp
        .update(|b| b.ehlo_keywords = Some(vec!["ENHANCEDSTATUSCODES".into()]));
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let d = &w.smtp.delivered()[0];
    assert!(
        d.mail_params.is_empty(),
        "BODY= sent without 8BITMIME: {:?}",
        d.mail_params
    );
    assert_eq!(
        strip_received(&d.data),
        body.as_slice(),
        "8-bit content converted"
    );
}

#[test]
fn s14_helo_fallback_when_ehlo_is_refused() {
    let body = b"Subject: caf\xe9\r\n\r\nna\xefve \xff\r\n".to_vec();
    let w = World::plain(vec![Msg::new("8", body.clone())]);
    w.smtp.update(|b| b.ehlo_ok = false);
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    // EHLO refused, then HELO on the same connection (RFC 5321 §3.2).
    let sessions = w.smtp.sessions();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert!(
        sessions[0].commands[0].starts_with("EHLO") && sessions[0].commands[1].starts_with("HELO"),
        "{:?}",
        sessions[0].commands
    );
    // Without 8BITMIME the 8-bit body goes unchanged and undeclared.
    assert!(w.smtp.delivered()[0].mail_params.is_empty());
    assert_eq!(strip_received(&w.smtp.delivered()[0].data), body.as_slice());
    assert!(w.pop.mailbox_uids().is_empty());
}
