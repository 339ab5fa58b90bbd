//! Catalog S-03 and issue 9 point 1: is a 5xx to `RCPT TO` about the target (a configuration error: exit 78,
//! nothing recorded, the poll stops) or about one message (rejected like a 5xx to MAIL: kept on the server,
//! journalled, exit 1, the poll goes on)? Postfix applies sender restrictions at `RCPT TO`, so one blocked sender
//! must not stall the account. Catalog S-17: a *temporary* refusal about one message's sender (`450 4.1.8 ...:
//! Sender address rejected: Domain not found`) leaves that message on the server and the poll goes on, ending
//! without QUIT. The built `popfetch run` against the scripted fakes of `tests/support`.

mod support;

use std::collections::HashMap;

use support::world::*;
use support::*;

/// MAIL command lines the MTA received, over all connections.
fn mails(smtp: &FakeSmtp) -> Vec<String> {
    envelope_commands(smtp)
        .into_iter()
        .filter(|c| c.to_ascii_uppercase().starts_with("MAIL"))
        .collect()
}

/// The state file's rejection records (`R <uid> ...`), as UIDs.
fn rejected_uids(w: &World) -> Vec<String> {
    std::fs::read_to_string(w.state_file())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("R "))
        .map(|l| l.split(' ').next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn s03_refusals_about_the_target_stop_the_poll_and_record_nothing() {
    // Each recipient enhanced code (RFC 3463 X.1.1 bad mailbox, X.1.2 bad system, X.1.3 bad syntax, X.1.6
    // moved, X.1.10 null MX) with a text that says nothing else; Postfix's recipient phrases without a code;
    // a relay refusal that names the target; 530 to MAIL.
    let mut rcpt: Vec<String> = ["5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10"]
        .iter()
        .map(|c| format!("550 {c} Access denied"))
        .collect();
    rcpt.push("554 <alice@local.test>: Recipient address rejected: Access denied".into());
    rcpt.push("554 5.7.1 <alice@local.test>: Relay access denied".into());
    rcpt.push("550 5.7.1 <ALICE@local.test>: no thanks".into());
    let mut cases: Vec<(String, SmtpBehavior)> = rcpt
        .into_iter()
        .map(|r| {
            let b = SmtpBehavior {
                rcpt_replies: HashMap::from([(TARGET.to_string(), r.clone())]),
                ..SmtpBehavior::default()
            };
            (format!("RCPT {r}"), b)
        })
        .collect();
    cases.push((
        "MAIL 530".into(),
        SmtpBehavior {
            mail_reply: Some("530 5.7.0 Authentication required".into()),
            ..SmtpBehavior::default()
        },
    ));
    for (what, b) in cases {
        let w = World::plain(msgs(3));
        w.smtp.set_behavior(b);
        let cfg = w.default_config();
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, 78, "{what}: {}", out.all());
        assert!(
            out.stderr.contains("fix the configuration"),
            "{what}: {}",
            out.stderr
        );
        assert!(w.smtp.transactions().is_empty(), "{what}");
        assert_eq!(
            w.pop.mailbox_uids(),
            vec!["uid-1", "uid-2", "uid-3"],
            "{what}"
        );
        assert_eq!(
            mails(&w.smtp).len(),
            1,
            "{what}: the poll stops at the first refusal"
        );
        assert!(
            rejected_uids(&w).is_empty(),
            "{what}: {:?}",
            rejected_uids(&w)
        );
        w.next_run_delivers_each_once(&cfg.path, 3);
    }
}

/// Three messages, the MTA answering RCPT with `reply` for the second one's sender; the first run.
fn refusing_second_sender(reply: &str) -> (World, TestConfig, Output) {
    let w = World::plain(msgs(3));
    w.smtp.update(|b| {
        b.rcpt_replies_by_sender =
            HashMap::from([("sender2@remote.test".to_string(), reply.to_string())])
    });
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    (w, cfg, out)
}

#[test]
fn s03_a_blocked_sender_rejects_its_message_and_the_poll_goes_on() {
    // Postfix's check_sender_access REJECT at RCPT TO, and a refusal with neither an enhanced code nor an
    // address in it.
    for reply in [
        "554 5.7.1 <sender2@remote.test>: Sender address rejected: Access denied",
        "550 Access denied",
    ] {
        let (w, cfg, out) = refusing_second_sender(reply);
        assert_eq!(out.code, 1, "{reply}: {}", out.all());
        assert_eq!(
            w.delivered_subjects(),
            vec!["message 1", "message 3"],
            "{reply}"
        );
        assert_eq!(
            w.pop.mailbox_uids(),
            vec!["uid-2"],
            "{reply}: the rejected message stays"
        );
        assert_eq!(rejected_uids(&w), vec!["uid-2"], "{reply}");
        assert!(
            out.stderr.contains("uid \"uid-2\"") && out.stderr.contains("rejected by the MTA"),
            "{reply}: {}",
            out.stderr
        );
        assert!(out.stderr.contains("1 rejected"), "{reply}: {}", out.stderr);

        // Not fetched again while it stays rejected.
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, 0, "{reply}: {}", out.all());
        assert_eq!(
            w.pop.retr_log().iter().filter(|u| *u == "uid-2").count(),
            1,
            "{reply}: refetched"
        );

        // --retry-rejected tries it again; the MTA (its sender rule lifted) takes it.
        w.smtp.set_behavior(SmtpBehavior::default());
        let out = run(&cfg.path, &["run", "--retry-rejected"]);
        assert_eq!(out.code, 0, "{reply}: {}", out.all());
        assert_eq!(
            w.delivered_subjects(),
            vec!["message 1", "message 3", "message 2"],
            "{reply}"
        );
        assert!(w.pop.mailbox_uids().is_empty(), "{reply}");
        assert!(rejected_uids(&w).is_empty(), "{reply}");
    }
}

/// Run once: the poll must stop with `code` at the second message, whose refusal matched the first's for another
/// sender.
fn stopped_by_two_senders(w: &World, code: i32) -> (TestConfig, Output) {
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, code, "{}", out.all());
    assert!(
        out.stderr.contains("two different senders"),
        "{}",
        out.stderr
    );
    assert_eq!(mails(&w.smtp).len(), 2, "{:?}", mails(&w.smtp));
    (cfg, out)
}

#[test]
fn s03_the_same_refusal_for_two_senders_is_about_the_target() {
    let w = World::plain(msgs(3));
    w.smtp.update(|b| {
        b.rcpt_replies =
            HashMap::from([(TARGET.to_string(), "550 5.7.1 Access denied".to_string())])
    });
    let (cfg, out) = stopped_by_two_senders(&w, 78);
    // The first refusal was held, not journalled; the second one decided.
    assert!(rejected_uids(&w).is_empty(), "{:?}", rejected_uids(&w));
    assert!(
        !out.stderr.contains("rejected by the MTA"),
        "{}",
        out.stderr
    );
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1", "uid-2", "uid-3"]);
    w.next_run_delivers_each_once(&cfg.path, 3);
}

#[test]
fn s03_one_sender_refused_twice_is_still_about_its_messages() {
    let from = |n: usize, sender: &str| {
        Msg::new(
            format!("uid-{n}"),
            format!(
                "Return-Path: <{sender}>\r\nFrom: {sender}\r\nTo: {TARGET}\r\nSubject: message {n}\r\n\r\nbody\r\n"
            ),
        )
    };
    let w = World::plain(vec![
        from(1, "spam@spam.test"),
        from(2, "spam@spam.test"),
        from(3, "friend@remote.test"),
    ]);
    w.smtp.update(|b| {
        b.rcpt_replies_by_sender = HashMap::from([(
            "spam@spam.test".to_string(),
            "550 5.7.1 Access denied".to_string(),
        )])
    });
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert_eq!(w.delivered_subjects(), vec!["message 3"]);
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1", "uid-2"]);
    assert_eq!(rejected_uids(&w), vec!["uid-1", "uid-2"]);
}

/// The verbs of the last POP3 session.
fn last_pop3_verbs(w: &World) -> Vec<String> {
    w.pop.sessions().last().expect("a POP3 session").verbs()
}

/// The verbs of every POP3 session from the `from`th on.
fn pop3_verbs_since(w: &World, from: usize) -> Vec<Vec<String>> {
    w.pop.sessions()[from..].iter().map(|s| s.verbs()).collect()
}

/// The fetching session of a poll that held a message for its sender, then its deleting one.
fn fetched_then_tidied(sessions: &[Vec<String>]) {
    let has = |s: &Vec<String>, verb: &str| s.iter().any(|v| v == verb);
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    // Fetched and not delivered: no QUIT (catalog P-27), so no UPDATE state can expunge the held message.
    assert!(
        has(&sessions[0], "RETR") && !has(&sessions[0], "QUIT"),
        "{sessions:?}"
    );
    // The second session retrieves nothing, so its QUIT commits only the DELEs of recorded UIDs.
    assert!(
        !has(&sessions[1], "RETR") && !has(&sessions[1], "TOP") && has(&sessions[1], "DELE"),
        "{sessions:?}"
    );
    assert_eq!(
        sessions[1].last().map(String::as_str),
        Some("QUIT"),
        "{sessions:?}"
    );
}

#[test]
fn s17_a_sender_refused_for_now_stays_on_the_server_and_the_poll_goes_on() {
    let reply = "450 4.1.8 <sender2@remote.test>: Sender address rejected: Domain not found";
    let (w, cfg, out) = refusing_second_sender(reply);
    assert_eq!(out.code, 1, "{}", out.all());
    assert_eq!(w.delivered_subjects(), vec!["message 1", "message 3"]);
    assert!(
        out.stderr.contains("uid \"uid-2\"") && out.stderr.contains("refused for now by the MTA"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("ends without QUIT"), "{}", out.stderr);
    assert!(out.stderr.contains("2 deleted"), "{}", out.stderr);
    fetched_then_tidied(&pop3_verbs_since(&w, 0));
    // Only the held message is left: the mailbox shrinks while the sender stays refused.
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-2"]);
    assert!(rejected_uids(&w).is_empty(), "{:?}", rejected_uids(&w));

    // Still refused: only that message is fetched again, and nothing is left to delete.
    let before = w.pop.sessions().len();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert_eq!(w.delivered_subjects(), vec!["message 1", "message 3"]);
    let retr = w.pop.retr_log();
    assert_eq!(retr.iter().filter(|u| *u == "uid-1").count(), 1, "{retr:?}");
    assert_eq!(retr.iter().filter(|u| *u == "uid-2").count(), 2, "{retr:?}");
    let sessions = pop3_verbs_since(&w, before);
    assert_eq!(
        sessions.len(),
        1,
        "nothing to delete, no second session: {sessions:?}"
    );
    assert!(!sessions[0].contains(&"QUIT".to_string()), "{sessions:?}");

    // The sender's domain resolves again: delivered, and every deletion is committed.
    w.smtp.set_behavior(SmtpBehavior::default());
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        w.delivered_subjects(),
        vec!["message 1", "message 3", "message 2"]
    );
    assert!(
        w.pop.mailbox_uids().is_empty(),
        "{:?}",
        w.pop.mailbox_uids()
    );
}

/// Catalog P-27: a server that removes at QUIT what was retrieved (`EXPIRE 0`, download-once policies) keeps a
/// message the MTA refused, for good or for now: the session that fetched it ends without QUIT, and the session
/// that deletes the delivered ones retrieves nothing.
#[test]
fn p27_a_refused_message_survives_a_server_that_expunges_what_was_retrieved() {
    for (reply, code, rejected) in [
        (
            "554 5.7.1 <sender2@remote.test>: Sender address rejected: Access denied",
            1,
            vec!["uid-2"],
        ),
        (
            "450 4.1.8 <sender2@remote.test>: Sender address rejected: Domain not found",
            1,
            vec![],
        ),
    ] {
        let w = World::plain_with(msgs(3), |b| b.expire_retrieved = true);
        w.smtp.update(|b| {
            b.rcpt_replies_by_sender =
                HashMap::from([("sender2@remote.test".to_string(), reply.to_string())])
        });
        let cfg = w.default_config();
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, code, "{reply}: {}", out.all());
        assert_eq!(
            w.delivered_subjects(),
            vec!["message 1", "message 3"],
            "{reply}"
        );
        fetched_then_tidied(&pop3_verbs_since(&w, 0));
        assert_eq!(w.pop.mailbox_uids(), vec!["uid-2"], "{reply}");
        assert_eq!(rejected_uids(&w), rejected, "{reply}");

        // The next poll: the rejected message is not fetched again, so that session may QUIT; the held one is,
        // so it may not. Either way it is still on the server.
        let before = w.pop.sessions().len();
        run(&cfg.path, &["run"]);
        assert_eq!(w.pop.mailbox_uids(), vec!["uid-2"], "{reply}");
        let sessions = pop3_verbs_since(&w, before);
        let retrieved = sessions[0].contains(&"RETR".to_string());
        assert_eq!(retrieved, rejected.is_empty(), "{reply}: {sessions:?}");
        assert_eq!(
            sessions[0].contains(&"QUIT".to_string()),
            !retrieved,
            "{reply}: {sessions:?}"
        );
    }
}

#[test]
fn s17_a_server_with_a_login_delay_gets_no_second_session() {
    // RFC 2449 §6.5: such a server may refuse a second login so soon, and count it against the next poll's.
    let reply = "450 4.1.8 <sender2@remote.test>: Sender address rejected: Domain not found";
    let capa = ["USER", "UIDL", "TOP", "RESP-CODES", "LOGIN-DELAY 900"];
    let w = World::plain_with(msgs(3), |b| {
        b.capa = Some(capa.iter().map(|c| c.to_string()).collect())
    });
    w.smtp.update(|b| {
        b.rcpt_replies_by_sender =
            HashMap::from([("sender2@remote.test".to_string(), reply.to_string())])
    });
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert_eq!(w.delivered_subjects(), vec!["message 1", "message 3"]);
    let sessions = pop3_verbs_since(&w, 0);
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert!(!sessions[0].contains(&"QUIT".to_string()), "{sessions:?}");
    assert!(
        out.stderr.contains("one login per 900 s (LOGIN-DELAY)"),
        "{}",
        out.stderr
    );
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1", "uid-2", "uid-3"]);
    w.next_run_delivers_each_once(&cfg.path, 3);
}

#[test]
fn s17_the_deleting_session_fails_and_the_deletions_wait_for_the_next_poll() {
    // The server refuses the second login: nothing is lost and nothing is delivered twice; the next poll that
    // gets in deletes what was delivered.
    let reply = "450 4.1.8 <sender2@remote.test>: Sender address rejected: Domain not found";
    let w = World::plain(msgs(3));
    w.smtp.update(|b| {
        b.rcpt_replies_by_sender =
            HashMap::from([("sender2@remote.test".to_string(), reply.to_string())])
    });
    w.pop.update(|b| {
        b.err_on_pass = Some("-ERR [IN-USE] Mailbox is locked by another session".to_string());
        b.err_on_pass_from = Some(1);
    });
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert_eq!(w.delivered_subjects(), vec!["message 1", "message 3"]);
    assert!(
        out.stderr.contains(&format!(
            "account \"isp\" (127.0.0.1:{}): the session that was to delete the delivered messages failed",
            w.pop.port()
        )) && out.stderr.contains("[IN-USE]")
            && out.stderr.contains("waits for the next poll"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("0 deleted"), "{}", out.stderr);
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1", "uid-2", "uid-3"]);

    w.pop.update(|b| b.err_on_pass = None);
    let before = w.pop.sessions().len();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert_eq!(w.delivered_subjects(), vec!["message 1", "message 3"]);
    fetched_then_tidied(&pop3_verbs_since(&w, before));
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-2"]);
}

#[test]
fn s17_the_same_temporary_refusal_for_two_senders_stops_the_poll() {
    // A refusal that names no address, for every sender: not about any one of them, so the poll stops at the
    // second message as for any other 4xx, and nothing more is fetched in vain.
    let w = World::plain(msgs(3));
    w.smtp.update(|b| {
        b.mail_reply = Some("450 4.1.8 Sender address rejected: Domain not found".to_string())
    });
    let (cfg, _) = stopped_by_two_senders(&w, 75);
    assert!(w.smtp.transactions().is_empty());
    assert!(!last_pop3_verbs(&w).contains(&"QUIT".to_string()));
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1", "uid-2", "uid-3"]);
    w.next_run_delivers_each_once(&cfg.path, 3);
}

#[test]
fn s17_other_temporary_refusals_still_stop_the_poll_at_the_first_message() {
    // catalog S-01: an MTA short of disk refuses every message alike.
    let w = World::plain(msgs(3));
    w.smtp
        .update(|b| b.mail_reply = Some("452 4.3.1 Insufficient system storage".to_string()));
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 75, "{}", out.all());
    assert_eq!(mails(&w.smtp).len(), 1, "{:?}", mails(&w.smtp));
    assert!(!out.stderr.contains("refused for now"), "{}", out.stderr);
    w.next_run_delivers_each_once(&cfg.path, 3);
}
