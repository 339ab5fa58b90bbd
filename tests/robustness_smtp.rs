//! End-to-end fault tests of the SMTP side, the envelope, the Received field and the state file (catalog S-xx,
//! H-15, H-17, C-07, C-09, C-12, C-14; S-03 is in `smtp_rcpt.rs`): the built `popfetch run` against the fakes of `tests/support`. Each test
//! asserts the exit status, what stayed on the server, what reached the MTA (exact wire commands where the case
//! is about the wire), what was logged, and (through `world::run`) that no secret was printed.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use support::run::{AccountCfg, ConfigBuilder, spawn_popfetch, toml_str};
use support::world::*;
use support::*;

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
        // The poll stopped at the first failure: one MAIL, one RETR.
        let mails = envelope_commands(&w.smtp)
            .iter()
            .filter(|c| c.starts_with("MAIL"))
            .count();
        assert_eq!(mails, 1, "{what}: {:?}", envelope_commands(&w.smtp));
        assert_eq!(w.pop.retr_log().len(), 1, "{what}");
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
    }
}

#[test]
fn s05_mta_421_greeting_costs_no_download() {
    let w = World::plain(msgs(2));
    w.smtp
        .update(|b| b.greeting = "421 4.3.2 Service not available, closing channel".into());
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 75, "{}", out.all());
    assert!(w.pop.retr_log().is_empty(), "RETR while the MTA is down");
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

/// Bare CR and bare LF become CRLF; CRLF stays.
fn normalise(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < src.len() {
        match src[i] {
            b'\r' if src.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 2;
                continue;
            }
            b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

#[test]
fn s10_s11_dots_and_smuggling_payloads_cross_as_one_clean_transaction_each() {
    let smuggle = |sep: &str| {
        format!(
            "Subject: smuggle {sep:?}\r\n\r\nhello{sep}MAIL FROM:<spoof@evil.test>\r\nRCPT TO:<victim@other.test>\r\n\
             DATA\r\nFrom: ceo@bank.test\r\n\r\nsend money\r\n.\r\nQUIT\r\n"
        )
        .into_bytes()
    };
    let mut bodies: Vec<Vec<u8>> = vec![
        b".\r\nSubject: dot first\r\n\r\nx\r\n".to_vec(),
        b"Subject: dots\r\n\r\n.\r\n..\r\n. \r\n.x\r\n\r\n.\r\nend\r\n".to_vec(),
        b"Subject: lettre-21\r\n\r\na\r\n\r\n.\r\nb\r\n".to_vec(),
        b"Subject: dot last\r\n\r\nx\r\n.".to_vec(),
    ];
    for sep in [
        "\n.\n",
        "\n.\r\n",
        "\r.\r",
        "\r\n.\n",
        "\r\n.\r",
        "\r\n.\r\n",
    ] {
        bodies.push(smuggle(sep));
    }
    let m: Vec<Msg> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| Msg::new(format!("m{i}"), b.clone()))
        .collect();
    let w = World::plain(m);
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    // The strict fake saw no bare CR or LF in DATA and no malformed command.
    assert!(w.smtp.violations().is_empty(), "{:?}", w.smtp.violations());
    let t = w.smtp.transactions();
    assert_eq!(t.len(), bodies.len(), "one transaction per message");
    let cmds = envelope_commands(&w.smtp);
    assert_eq!(
        cmds.iter().filter(|c| c.starts_with("MAIL")).count(),
        bodies.len()
    );
    assert!(
        cmds.iter()
            .all(|c| !c.contains("spoof") && !c.contains("victim")),
        "{cmds:?}"
    );
    for (d, b) in t.iter().zip(&bodies) {
        assert_eq!(d.rcpt_to, vec![TARGET.to_string()]);
        let mut want = normalise(b);
        if !want.ends_with(b"\r\n") {
            want.extend_from_slice(b"\r\n");
        }
        assert_eq!(
            strip_received(&d.data),
            want.as_slice(),
            "{}",
            b.escape_ascii()
        );
        // A lenient (LF = end of line) reading of the wire still finds one terminator: the last line.
        let lenient_terminators = d
            .data_raw
            .split(|&c| c == b'\n')
            .filter(|l| *l == b"." || *l == b".\r")
            .count();
        assert_eq!(
            lenient_terminators,
            0,
            "a dot line inside DATA: {}",
            d.data_raw.escape_ascii()
        );
    }
    assert!(w.pop.mailbox_uids().is_empty());
}

#[test]
fn s12_long_lines_pass_unchanged() {
    let mut body = b"Subject: long lines\r\n\r\n".to_vec();
    for n in [998usize, 999, 1000, 1001, 5000, 1 << 20] {
        body.extend(std::iter::repeat_n(b'a' + (n % 26) as u8, n));
        body.extend_from_slice(b"\r\n");
    }
    let w = World::plain(vec![Msg::new("long", body.clone())]);
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let d = &w.smtp.delivered()[0];
    assert_eq!(
        strip_received(&d.data),
        body.as_slice(),
        "long lines folded or cut"
    );
    // 999 octets and longer exceed RFC 5321's 1000 with the CRLF.
    assert_eq!(w.smtp.long_lines().len(), 5, "{:?}", w.smtp.long_lines());
    assert!(w.smtp.violations().is_empty(), "{:?}", w.smtp.violations());
}

#[test]
fn s16_s17_return_path_shapes_give_exact_mail_from_on_the_wire() {
    let fallback = "owner@local.test";
    // (Return-Path lines, the MAIL FROM line expected with a fallback configured)
    let cases: Vec<(&[u8], String)> = vec![
        (b"", format!("MAIL FROM:<{fallback}>")),
        (
            b"Return-Path: <first@b.test>\r\nReturn-Path: <second@b.test>\r\n",
            "MAIL FROM:<first@b.test>".into(),
        ),
        (b"Return-Path: <>\r\n", "MAIL FROM:<>".into()),
        (b"Return-Path: a@b.test\r\n", "MAIL FROM:<a@b.test>".into()),
        (
            b"Return-Path: <A@B.test> (the sender)\r\n",
            "MAIL FROM:<A@B.test>".into(),
        ),
        (
            b"Return-Path: <@a.test,@b.test:u@d.test>\r\n",
            "MAIL FROM:<u@d.test>".into(),
        ),
        (
            b"Return-Path: <\"a.b\"@d.test>\r\n",
            "MAIL FROM:<\"a.b\"@d.test>".into(),
        ),
        (
            "Return-Path: <jö@d.test>\r\n".as_bytes(),
            format!("MAIL FROM:<{fallback}>"),
        ),
        // S-16 injections: never on the wire, the fallback instead.
        (
            b"Return-Path: <a@b.test>\nRCPT TO:<x@evil.test>\r\n",
            format!("MAIL FROM:<{fallback}>"),
        ),
        (
            b"Return-Path: <a@b.test>\r\n RCPT TO:<x@evil.test>\r\n",
            format!("MAIL FROM:<{fallback}>"),
        ),
        (
            b"Return-Path: <a@b.test> SIZE=1 AUTH=<admin@local>\r\n",
            format!("MAIL FROM:<{fallback}>"),
        ),
        (
            b"Return-Path: <a@b.test>\0\r\n",
            format!("MAIL FROM:<{fallback}>"),
        ),
        (
            b"Return-Path: <a@b.test>\rX\r\n",
            format!("MAIL FROM:<{fallback}>"),
        ),
        (
            b"Return-Path: <a@b.test>>\r\n",
            format!("MAIL FROM:<{fallback}>"),
        ),
    ];
    let m: Vec<Msg> = cases
        .iter()
        .enumerate()
        .map(|(i, (rp, _))| {
            Msg::new(
                format!("r{i}"),
                [*rp, format!("Subject: rp {i}\r\n\r\nx\r\n").as_bytes()].concat(),
            )
        })
        .collect();
    let w = World::plain(m);
    let cfg = w.config(
        w.account()
            .extra("envelope_from_fallback", &toml_str(fallback)),
    );
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(w.smtp.violations().is_empty(), "{:?}", w.smtp.violations());
    let cmds = envelope_commands(&w.smtp);
    // Per message exactly MAIL, one RCPT for the target, DATA; nothing else between MAIL and DATA.
    assert_eq!(cmds.len(), 3 * cases.len(), "{cmds:#?}");
    for (i, (rp, want)) in cases.iter().enumerate() {
        let mail = &cmds[3 * i];
        let mail = mail.split(" BODY=").next().unwrap_or(mail);
        assert_eq!(mail, want, "case {i}: {}", rp.escape_ascii());
        assert_eq!(cmds[3 * i + 1], format!("RCPT TO:<{TARGET}>"), "case {i}");
        assert_eq!(cmds[3 * i + 2], "DATA", "case {i}");
    }
    assert_eq!(
        out.stderr.matches("bad Return-Path").count(),
        7,
        "{}",
        out.stderr
    );
    assert!(w.pop.mailbox_uids().is_empty());
}

#[test]
fn s17_without_a_fallback_an_unusable_return_path_becomes_the_null_sender() {
    let w = World::plain(vec![
        Msg::new("absent", b"Subject: none\r\n\r\nx\r\n".to_vec()),
        Msg::new(
            "bad",
            b"Return-Path: <a b@c.test>\r\nSubject: bad\r\n\r\nx\r\n".to_vec(),
        ),
    ]);
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let mails: Vec<String> = envelope_commands(&w.smtp)
        .into_iter()
        .filter(|c| c.starts_with("MAIL"))
        .collect();
    assert_eq!(mails, vec!["MAIL FROM:<>", "MAIL FROM:<>"]);
}

#[test]
fn s18_recipients_come_only_from_the_config() {
    let body = b"Return-Path: <s@remote.test>\r\nTo: victim@external.test\r\nCc: other@external.test\r\n\
                 Delivered-To: victim@external.test\r\nX-Original-To: victim@external.test\r\n\
                 Envelope-To: victim@external.test\r\nBcc: hidden@external.test\r\nSubject: relay?\r\n\r\nx\r\n";
    let w = World::plain(vec![Msg::new("r", body.to_vec())]);
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let rcpts: Vec<String> = envelope_commands(&w.smtp)
        .into_iter()
        .filter(|c| c.starts_with("RCPT"))
        .collect();
    assert_eq!(rcpts, vec![format!("RCPT TO:<{TARGET}>")]);
    // The headers themselves pass unchanged (only the target's Delivered-To would be removed).
    assert_eq!(strip_received(&w.smtp.delivered()[0].data), &body[..]);
}

#[test]
fn s19_null_sender_stays_null_and_no_bounce_is_generated() {
    let dsn = b"Return-Path: <>\r\nFrom: MAILER-DAEMON@remote.test\r\nSubject: Undelivered Mail Returned to Sender\r\n\
                Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\n\r\nsorry\r\n--b--\r\n";
    let w = World::plain(vec![Msg::new("dsn", dsn.to_vec())]);
    // Even a rejection of the DSN generates nothing.
    w.smtp
        .set_behavior(SmtpBehavior::default().reply_to_data(0, "550 5.7.1 no DSNs please"));
    let cfg = w.config(
        w.account()
            .extra("envelope_from_fallback", "\"owner@local.test\""),
    );
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 1, "{}", out.all());
    let mails: Vec<String> = envelope_commands(&w.smtp)
        .into_iter()
        .filter(|c| c.starts_with("MAIL"))
        .collect();
    assert_eq!(
        mails,
        vec!["MAIL FROM:<>"],
        "one transaction, null sender kept"
    );
    assert_eq!(w.smtp.attempts(), 1);
    assert_eq!(w.pop.mailbox_uids(), vec!["dsn"]);

    let w = World::plain(vec![Msg::new("dsn", dsn.to_vec())]);
    let cfg = w.config(
        w.account()
            .extra("envelope_from_fallback", "\"owner@local.test\""),
    );
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(w.smtp.delivered()[0].mail_from, "");
    assert_eq!(w.smtp.attempts(), 1);
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
fn h15_one_received_field_prepended_others_untouched() {
    let body = b"Received: from a.test by b.test; Mon, 1 Jan 2024 00:00:00 +0000\r\nReturn-Path: <s@remote.test>\r\n\
                 Received: from c.test by d.test; Mon, 1 Jan 2024 00:00:00 +0000\r\nSubject: hops\r\n\r\nx\r\n";
    let uid = "a;b(c)<d>\"e\\f";
    let w = World::tls(vec![Msg::new(uid, body.to_vec())]);
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let data = &w.smtp.delivered()[0].data;
    let rest = strip_received(data);
    assert_eq!(rest, &body[..], "existing fields changed");
    let field = &data[..data.len() - rest.len()];
    let text = String::from_utf8(field.to_vec()).expect("ASCII Received field");
    assert_eq!(text.matches("Received:").count(), 1);
    for line in text.split("\r\n") {
        assert!(line.len() <= 998, "line of {} octets", line.len());
        assert!(!line.contains('\r') && !line.contains('\n'));
    }
    let flat = text
        .replace("\r\n\t", " ")
        .replace("\r\n ", " ")
        .replace("\r\n", "");
    // The hostile UID cannot add a clause or a comment: one `;` (before the date), balanced brackets.
    assert_eq!(flat.matches(';').count(), 1, "{flat}");
    assert_eq!(
        flat.matches('<').count(),
        flat.matches('>').count(),
        "{flat}"
    );
    assert!(flat.starts_with("Received: from 127.0.0.1"), "{flat}");
    assert!(
        flat.contains(" by ") && flat.contains("with POP3S"),
        "{flat}"
    );
    assert!(flat.contains(&format!("for <{TARGET}>;")), "{flat}");
    // Date with a numeric zone at the end (RFC 5322 §3.3).
    let zone = flat.trim_end().rsplit(' ').next().unwrap();
    assert!(
        zone.len() == 5 && (zone.starts_with('+') || zone.starts_with('-')),
        "{flat}"
    );
    assert!(!flat.contains(PASSWORD));
}

#[test]
fn h17_return_path_field_is_kept_and_equals_mail_from() {
    let body = b"Return-Path: <old@remote.test>\r\nSubject: rp\r\n\r\nx\r\n";
    let w = World::plain(vec![Msg::new("rp", body.to_vec())]);
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let d = &w.smtp.delivered()[0];
    assert_eq!(d.mail_from, "old@remote.test");
    assert_eq!(
        strip_received(&d.data),
        &body[..],
        "popfetch leaves the field; the MTA drops it"
    );
}

#[test]
fn c07_corrupt_state_delivers_nothing_and_exits_74() {
    for contents in [
        b"\x89PNG\r\n\x1a\n\0\0garbage".to_vec(),
        Vec::new(),
        b"popfetch-state 99\n".to_vec(),
    ] {
        let w = World::plain(msgs(2));
        std::fs::write(w.state_file(), &contents).unwrap();
        let cfg = w.default_config();
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, 74, "{}", out.all());
        assert!(
            w.pop.sessions().is_empty(),
            "connected with a corrupt state"
        );
        assert_eq!(w.smtp.connections(), 0);
        assert_eq!(
            std::fs::read(w.state_file()).unwrap(),
            contents,
            "state file changed"
        );
        assert!(
            out.stderr.contains("isp.state"),
            "file not named: {}",
            out.stderr
        );
        assert_eq!(w.pop.mailbox_uids(), vec!["uid-1", "uid-2"]);
    }
    // A truncated but otherwise valid state (cut mid-record) is not an empty one either.
    let w = World::plain(msgs(2));
    let cfg = w.config(w.account().keep(true));
    assert_eq!(run(&cfg.path, &["run"]).code, 0);
    let full = std::fs::read(w.state_file()).unwrap();
    std::fs::write(w.state_file(), &full[..20.min(full.len())]).unwrap();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 74, "{}", out.all());
    assert_eq!(
        w.smtp.delivered().len(),
        2,
        "redelivered after a truncated state"
    );
}

#[test]
fn c09_two_concurrent_runs_one_exits_75_and_nothing_is_duplicated() {
    let w = World::plain_with(msgs(3), |b| {
        b.reply_delay = Some(Duration::from_millis(150))
    });
    let cfg = w.default_config();
    let first = spawn_popfetch(&cfg.path, &["run"], &[]);
    assert!(
        w.pop
            .wait_until(Duration::from_secs(20), |p| !p.sessions().is_empty()),
        "first run never connected"
    );
    let second = run(&cfg.path, &["run"]);
    assert_eq!(second.code, 75, "{}", second.all());
    assert!(second.stderr.contains("lock"), "{}", second.stderr);
    let first = first.wait(Duration::from_secs(60));
    assert_eq!(first.code, 0, "{}", first.all());
    assert_eq!(
        w.pop.sessions().len(),
        1,
        "the loser connected to the server"
    );
    assert_eq!(
        w.delivered_subjects(),
        vec!["message 1", "message 2", "message 3"]
    );
    assert!(w.pop.mailbox_uids().is_empty());
}

#[test]
fn c12_one_empty_listing_in_keep_mode_prunes_nothing() {
    let w = World::plain(msgs(2));
    let cfg = w.config(w.account().keep(true));
    assert_eq!(run(&cfg.path, &["run"]).code, 0);
    assert_eq!(w.smtp.delivered().len(), 2);
    // An index rebuild: the server lists nothing once.
    w.pop.update(|b| {
        b.script = vec![
            Scripted::reply("UIDL", "+OK\r\n.\r\n"),
            Scripted::reply("LIST", "+OK\r\n.\r\n"),
            Scripted::reply("STAT", "+OK 0 0\r\n"),
        ]
    });
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    w.pop.update(|b| b.script.clear());
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        w.smtp.delivered().len(),
        2,
        "redelivered after one empty listing"
    );
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1", "uid-2"]);
}

#[test]
fn c14_state_of_another_server_is_refused_with_74() {
    let w = World::plain(msgs(1));
    let cfg = w.config(w.account().keep(true));
    assert_eq!(run(&cfg.path, &["run"]).code, 0);
    let before = std::fs::read(w.state_file()).unwrap();
    // Same account name and state_dir, another server: `localhost` is not the host name `127.0.0.1` the state
    // names (the port alone would not do: it is not part of the identity).
    let other = FakePop3::start(msgs(2), Pop3Behavior::plain());
    let mut acct = AccountCfg::new("isp", other.port(), "none").keep(true);
    acct.host = "localhost".into();
    let cfg = ConfigBuilder::new(w.smtp.port(), w.state.path())
        .account(acct)
        .write();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 74, "{}", out.all());
    assert!(other.sessions().is_empty(), "connected to the new server");
    assert_eq!(w.smtp.delivered().len(), 1);
    assert_eq!(
        std::fs::read(w.state_file()).unwrap(),
        before,
        "state rewritten"
    );
    assert!(out.stderr.contains("isp.state"), "{}", out.stderr);
    assert!(out.stderr.contains("--mark-seen"), "{}", out.stderr);
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
