//! The seed scenario (H-01): the loop Postfix reports only after it said 250.

use super::*;

/// The messages of the seed scenario as the ISP's POP3 server holds them: a `Delivered-To` naming the final
/// recipient (exactly, and in another case: Postfix folds case when it compares, H-02), a real sender.
fn seed_messages(s: &Servers) -> Vec<Vec<u8>> {
    let sender = s.get("SENDER");
    vec![
        format!(
            "Return-Path: <{sender}>\r\nDelivered-To: joe@example.test\r\nDelivered-To: other@example.org\r\n\
             From: {sender}\r\nTo: joe@example.test\r\nSubject: seed exact\r\nX-Case: seed-exact\r\n\r\n\
             The ISP added Delivered-To for the final recipient.\r\n"
        )
        .into_bytes(),
        format!(
            "Return-Path: <{sender}>\r\nDelivered-To: JOE@Example.Test\r\nFrom: {sender}\r\nTo: joe@example.test\r\n\
             Subject: seed case\r\nX-Case: seed-case\r\n\r\nSame, in another letter case.\r\n"
        )
        .into_bytes(),
    ]
}

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn h01_seed_loop_bounces_with_drop_delivered_to_none() {
    let s = Servers::start("h01_seed_loop_bounces_with_drop_delivered_to_none");
    s.put(&seed_messages(&s));
    let config = s.config(
        Tls::Implicit,
        &s.path("CA_FILE"),
        "drop_delivered_to = \"none\"",
    );
    let run = s.run(&config);
    // Postfix answered 250 to both: at the SMTP level everything looks fine.
    assert_eq!(run.code(), Some(0), "{}", s.context(&run));
    s.wait_queue();
    let log = s.postfix_log();
    assert!(
        s.delivered().is_empty(),
        "a looping message was delivered\n{}",
        s.context(&run)
    );
    assert_eq!(
        log.matches("dsn=5.4.6, status=bounced (mail forwarding loop for joe@example.test)")
            .count(),
        2,
        "Postfix did not bounce both with 5.4.6\n{}",
        s.context(&run)
    );
    let bounces = s.bounces();
    assert_eq!(
        bounces.len(),
        2,
        "want two bounces to the sender\n{}",
        s.context(&run)
    );
    for b in &bounces {
        assert!(
            contains(b, b"Subject: Undelivered Mail Returned to Sender"),
            "{}",
            String::from_utf8_lossy(b)
        );
        assert!(
            contains(b, b"mail forwarding loop for joe@example.test"),
            "{}",
            String::from_utf8_lossy(b)
        );
        assert!(
            contains(b, b"Status: 5.4.6"),
            "{}",
            String::from_utf8_lossy(b)
        );
    }
    // And the POP3 copies are gone: this is the mail loss popfetch's default rule exists to prevent.
    assert_eq!(s.dovecot_left(), 0, "{}", s.context(&run));
}

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn h01_seed_delivered_with_default_rule_other_delivered_to_survives() {
    let s = Servers::start("h01_seed_delivered_with_default_rule_other_delivered_to_survives");
    let originals = seed_messages(&s);
    s.put(&originals);
    let config = s.config(Tls::Implicit, &s.path("CA_FILE"), "");
    let run = s.run(&config);
    assert_eq!(run.code(), Some(0), "{}", s.context(&run));
    s.wait_queue();
    let log = s.postfix_log();
    assert!(
        !log.contains("mail forwarding loop"),
        "Postfix still saw a loop\n{}",
        s.context(&run)
    );
    assert!(
        s.bounces().is_empty(),
        "something bounced\n{}",
        s.context(&run)
    );
    let delivered = s.delivered();
    assert_eq!(delivered.len(), 2, "{}", s.context(&run));

    let exact = strip_added(delivered_case(&delivered, "seed-exact"), "joe@example.test");
    // Postfix drops the message's own Return-Path (message_drop_headers) and adds its own.
    let want = to_lf(&originals[0])
        .split(|&b| b == b'\n')
        .filter(|l| !l.starts_with(b"Delivered-To: joe@") && !l.starts_with(b"Return-Path:"))
        .collect::<Vec<_>>()
        .join(&b'\n');
    assert_eq!(
        String::from_utf8_lossy(&exact),
        String::from_utf8_lossy(&want)
    );
    assert!(
        exact
            .split(|&b| b == b'\n')
            .any(|l| l == b"Delivered-To: other@example.org"),
        "the other Delivered-To was removed"
    );

    let case = strip_added(delivered_case(&delivered, "seed-case"), "joe@example.test");
    assert!(
        !contains(&case, b"JOE@Example.Test"),
        "case-variant Delivered-To survived"
    );
    assert_eq!(s.dovecot_left(), 0, "{}", s.context(&run));
}
