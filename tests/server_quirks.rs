//! What real POP3 servers other than Dovecot do, modelled by the scripted fakes of `tests/support` (issue 18): Courier's
//! UTF-8 mode and its substitution of a message it will not serve as stored, RETRs that do not match LIST, servers
//! that share one UIDL between messages, stray CRs before CRLF, LOGIN-DELAY, and EXPIRE 0. The real Courier runs in
//! `tests/interop.rs`. Every test asserts the exact bytes the MTA got and what stayed on the server.

mod support;

use support::world::*;
use support::*;

/// A message whose header holds raw UTF-8 (RFC 6532), as Courier refuses to serve it without `UTF8`.
fn utf8_mail() -> Vec<u8> {
    "Return-Path: <jirou@example.jp>\r\nFrom: =?UTF-8?B?5qyh6YOO?= <jirou@example.jp>\r\nTo: alice@local.test\r\n\
     Subject: 会議の件\r\n\r\n本文です。\r\n"
        .as_bytes()
        .to_vec()
}

/// The client commands of every session, PASS shown as `PASS *`.
fn commands(pop: &FakePop3) -> Vec<String> {
    pop.all_commands()
        .into_iter()
        .map(|c| {
            if c.starts_with("PASS ") {
                "PASS *".into()
            } else {
                c
            }
        })
        .collect()
}

#[test]
fn i18_utf8_is_sent_after_capa_and_before_login_and_the_message_arrives_intact() {
    let w = World::plain_with(vec![Msg::new("u-1", utf8_mail())], |b| {
        b.courier_utf8 = true
    });
    let cfg = w.default_config();
    let out = run(&cfg.path, &["-vv", "run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        commands(&w.pop),
        [
            "CAPA",
            "UTF8",
            "USER alice",
            "PASS *",
            "UIDL",
            "LIST",
            "RETR 1",
            "DELE 1",
            "QUIT"
        ]
    );
    let got = w.smtp.delivered();
    assert_eq!(got.len(), 1);
    assert_eq!(strip_received(&got[0].data), utf8_mail().as_slice());
    assert!(w.pop.mailbox_uids().is_empty());
    // The -vv trace shows the command and the server's answer.
    assert!(out.stderr.contains("pop3 C: UTF8"), "{}", out.stderr);
    assert!(
        out.stderr.contains("pop3 S: +OK UTF8 enabled"),
        "{}",
        out.stderr
    );
}

#[test]
fn i18_no_utf8_without_the_capability() {
    let w = World::plain(msgs(1));
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(!commands(&w.pop).iter().any(|c| c == "UTF8"));
}

#[test]
fn i18_courier_substitution_is_delivered_but_the_original_stays_on_the_server_for_good() {
    // A Courier that advertises UTF8 but refuses it: it serves a notice instead of the message.
    let w = World::plain_with(vec![Msg::new("u-1", utf8_mail())], |b| {
        b.courier_utf8 = true;
        b.script = vec![Scripted::reply("UTF8", "-ERR not today\r\n")];
    });
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 1, "{}", out.all());
    let got = w.smtp.delivered();
    assert_eq!(got.len(), 1, "the notice is delivered: nothing is lost");
    assert_eq!(subject(&got[0].data), "Cannot display Unicode content");
    assert!(!commands(&w.pop).iter().any(|c| c.starts_with("DELE")));
    assert_eq!(w.pop.mailbox_uids(), ["u-1"]);
    assert_eq!(w.pop.mailbox()[0].bytes, utf8_mail(), "original untouched");
    assert!(
        out.stderr.contains("u-1") && out.stderr.contains("announced"),
        "{}",
        out.stderr
    );

    // The next poll neither fetches nor deletes it (it is recorded as kept, not as deletable).
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(w.smtp.delivered().len(), 1);
    assert!(
        !commands(&w.pop).iter().any(|c| c.starts_with("DELE")),
        "{:?}",
        commands(&w.pop)
    );
    assert_eq!(w.pop.retr_log(), ["u-1"], "fetched once");
    assert_eq!(w.pop.mailbox_uids(), ["u-1"]);
}

#[test]
fn i18_p19_shorter_retr_is_never_deleted_by_a_later_poll() {
    let w = World::plain(msgs(2));
    let real = mail(1).len() as u64;
    w.pop.update(|b| {
        b.list_sizes.insert("uid-1".into(), real + 400);
    });
    let cfg = w.default_config();
    assert_eq!(run(&cfg.path, &["run"]).code, 1);
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(w.pop.mailbox_uids(), ["uid-1"]);
    assert_eq!(w.delivered_subjects(), ["message 1", "message 2"]);
    assert!(!commands(&w.pop).iter().any(|c| c == "DELE 1"));
}

#[test]
fn i18_over_long_retr_is_delivered_but_kept() {
    // A server that adds a header line it does not count in LIST, and says a bare "+OK" (no size announced).
    let original = mail(1);
    let mut served =
        b"X-Server-Added: a field LIST did not count, forty bytes and more\r\n".to_vec();
    served.extend_from_slice(&original);
    let mut reply = b"+OK\r\n".to_vec();
    reply.extend_from_slice(&served);
    reply.extend_from_slice(b".\r\n");
    let w = World::plain_with(msgs(2), |b| {
        b.script = vec![Scripted::reply("RETR 1", reply)]
    });
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 1, "{}", out.all());
    let got = w.smtp.delivered();
    // Delivered as served, minus the Delivered-To naming the target (the usual rule).
    let want = String::from_utf8(served)
        .unwrap()
        .replace("Delivered-To: alice@local.test\r\n", "");
    assert_eq!(strip_received(&got[0].data), want.as_bytes());
    assert_eq!(w.pop.mailbox_uids(), ["uid-1"], "{:?}", commands(&w.pop));
    assert!(
        out.stderr
            .contains("more than line-ending counting explains"),
        "{}",
        out.stderr
    );
}

#[test]
fn i18_p17_messages_sharing_a_uidl_stay_untouched_and_the_others_arrive() {
    for keep in [false, true] {
        // popa3d: two byte-identical messages share the UIDL derived from their content.
        let dup = mail(9);
        let m = vec![
            Msg::new("uid-1", mail(1)),
            Msg::new("dup", dup.clone()),
            Msg::new("uid-3", mail(3)),
            Msg::new("dup", dup.clone()),
        ];
        let w = World::plain(m);
        let cfg = w.config(w.account().keep(keep));
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, 1, "keep={keep}: {}", out.all());
        assert_eq!(w.delivered_subjects(), ["message 1", "message 3"]);
        let got = w.smtp.delivered();
        let want = |n| {
            String::from_utf8(mail(n))
                .unwrap()
                .replace("Delivered-To: alice@local.test\r\n", "")
        };
        assert_eq!(strip_received(&got[0].data), want(1).as_bytes());
        assert_eq!(strip_received(&got[1].data), want(3).as_bytes());
        let cmds = commands(&w.pop);
        for c in ["RETR 2", "RETR 4", "DELE 2", "DELE 4"] {
            assert!(
                !cmds.iter().any(|x| x == c),
                "keep={keep}: {c} sent: {cmds:?}"
            );
        }
        assert!(
            out.stderr.contains("messages 2, 4 share the UIDL \"dup\"")
                && out.stderr.contains("untouched"),
            "{}",
            out.stderr
        );
        let left: Vec<String> = if keep {
            vec!["uid-1".into(), "dup".into(), "uid-3".into(), "dup".into()]
        } else {
            vec!["dup".into(), "dup".into()]
        };
        assert_eq!(w.pop.mailbox_uids(), left);

        // Every poll says so again and touches nothing; once the user removes the extra copy, the remaining one
        // is delivered once.
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, 1, "{}", out.all());
        assert_eq!(w.smtp.delivered().len(), 2);
        let mut kept = w.pop.mailbox();
        let extra = kept.iter().rposition(|m| m.uid == "dup").unwrap();
        kept.remove(extra);
        w.pop.remove("dup");
        w.pop
            .add_messages(kept.into_iter().filter(|m| m.uid == "dup").collect());
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, 0, "{}", out.all());
        assert_eq!(
            w.delivered_subjects(),
            ["message 1", "message 3", "message 9"],
            "keep={keep}"
        );
        assert_eq!(w.pop.retr_log().iter().filter(|u| *u == "dup").count(), 1);
    }
}

#[test]
fn i18_stray_cr_before_crlf_is_one_line_end_and_headers_stay_whole() {
    // A Maildir holding CRLF files makes Courier send every line ending as `\r\r\n`.
    let stored = b"Return-Path: <a@remote.test>\r\r\nDelivered-To: alice@local.test\r\r\nSubject: a folded\r\r\n \
                   subject line\r\r\nX-Long: one\r\r\n\ttwo\r\r\n\r\r\nbody\r\r\n.dot line\r\r\n"
        .to_vec();
    let w = World::plain(vec![Msg::new("crlf-1", stored)]);
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let got = w.smtp.delivered();
    assert_eq!(
        strip_received(&got[0].data).escape_ascii().to_string(),
        b"Return-Path: <a@remote.test>\r\nSubject: a folded\r\n subject line\r\nX-Long: one\r\n\ttwo\r\n\r\nbody\r\n\
          .dot line\r\n"
            .escape_ascii()
            .to_string()
    );
    assert_eq!(subject(&got[0].data), "a folded");
    assert!(w.pop.mailbox_uids().is_empty());
    assert!(
        out.stderr.contains("normalised 9 bare line endings"),
        "{}",
        out.stderr
    );
}

/// RFC 2449 §6.7: a server announcing `EXPIRE 0` removes at the end of each session every message retrieved in it.
/// With `keep = true` the run warns that the delivered messages cannot stay there; without `keep` it says nothing.
#[test]
fn p27_keep_on_a_server_that_announces_expire_0_is_named_as_impossible() {
    for keep in [true, false] {
        let w = World::plain_with(msgs(2), |b| b.expire_retrieved = true);
        let cfg = w.config(w.account().keep(keep));
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, 0, "keep {keep}: {}", out.all());
        assert_eq!(w.delivered_subjects(), vec!["message 1", "message 2"]);
        let warned = out
            .stderr
            .contains("announces EXPIRE 0 (RFC 2449 §6.7): it removes every message retrieved");
        assert_eq!(warned, keep, "keep {keep}: {}", out.stderr);
        // The server's own policy, not popfetch's: gone either way.
        assert!(w.pop.mailbox_uids().is_empty(), "keep {keep}");
    }
}
