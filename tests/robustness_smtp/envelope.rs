//! What crosses to the MTA: content byte-exact under dots and smuggling payloads (S-10, S-11) and long lines
//! (S-12), the envelope from Return-Path (S-16, S-17, S-19) and the config (S-18), the Received and Return-Path
//! fields (H-15, H-17).

use super::*;

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
