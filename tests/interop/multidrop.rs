//! Multidrop (issue 15) through the real Postfix: one transaction to two local(8) recipients, and the
//! Delivered-To loop: with the rule off, Postfix bounces the message as a mail forwarding loop (5.4.6); with it on,
//! nothing bounces and each recipient's Maildir gets the message once.

use super::*;

/// The Dovecot account as a multidrop account of the test domain, `extra` lines in its `[[account]]` table.
fn multidrop_config(s: &Servers, extra: &str) -> std::path::PathBuf {
    let target = s.get("TARGET");
    let domain = target.split('@').nth(1).expect("domain");
    let path = s.config(Tls::Implicit, &s.path("CA_FILE"), extra);
    let text = fs::read_to_string(&path)
        .unwrap()
        .replace(&format!("target = {target:?}\n"), "");
    fs::write(
        &path,
        format!("{text}\n[account.multidrop]\ndomains = [{domain:?}]\n"),
    )
    .unwrap();
    path
}

/// A message as a multidrop provider stores it: its Delivered-To fields name both local recipients.
fn catchall(s: &Servers, case: &str) -> Vec<u8> {
    let target = s.get("TARGET");
    let domain = target.split('@').nth(1).expect("domain");
    let mut m = format!(
        "Delivered-To: {target}\r\nDelivered-To: postmaster@{domain}\r\nReceived: from mx.remote.test by \
         pop.isp.test; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
    )
    .into_bytes();
    m.extend(simple(case, "", "body\r\n"));
    m
}

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn m20_multidrop_through_postfix_to_two_local_recipients_and_the_loop() {
    let s = Servers::start("m20_multidrop_through_postfix");
    let postmaster = s
        .path("MAILDIR")
        .parent()
        .expect("mail dir")
        .join("postmaster");

    // Control: the rule off. Postfix's local(8) sees its own recipient in Delivered-To and bounces.
    s.put(&[catchall(&s, "md-loop")]);
    let off = s.run(&multidrop_config(&s, "drop_delivered_to = \"none\""));
    assert_eq!(off.code(), Some(0), "{}", s.context(&off));
    s.wait_queue();
    let bounces = s.bounces();
    assert!(
        bounces
            .iter()
            .any(|b| contains(b, b"mail forwarding loop") && contains(b, b"5.4.6")),
        "no 5.4.6 loop bounce with the rule off\n{}",
        s.context(&off)
    );
    let bounced = bounces.len();

    // The rule on: delivered once to each, no bounce.
    s.put(&[catchall(&s, "md-ok")]);
    let on = s.run(&multidrop_config(&s, ""));
    assert_eq!(on.code(), Some(0), "{}", s.context(&on));
    s.wait_queue();
    assert_eq!(s.bounces().len(), bounced, "{}", s.context(&on));
    let joe = s.delivered();
    let joe_ok = delivered_case(&joe, "md-ok");
    assert!(
        !contains(joe_ok, b"Delivered-To: postmaster@"),
        "the loop field stayed"
    );
    let pm = maildir_messages(&postmaster);
    delivered_case(&pm, "md-ok");
    let log = s.postfix_log();
    assert!(
        log.contains("nrcpt=2"),
        "not one transaction with two recipients\n{}",
        s.context(&on)
    );
    assert_eq!(s.dovecot_left(), 0, "{}", s.context(&on));

    // A recipient Postfix does not know: refused for good at RCPT (550 5.1.1), journalled; the other served.
    let target = s.get("TARGET");
    let domain = target.split('@').nth(1).expect("domain");
    let mut m = format!("Delivered-To: nobody@{domain}\r\n").into_bytes();
    m.extend(catchall(&s, "md-refused"));
    s.put(&[m]);
    let partly = s.run(&multidrop_config(&s, ""));
    assert_eq!(partly.code(), Some(1), "{}", s.context(&partly));
    assert!(
        partly
            .text()
            .contains(&format!("refused for good for <nobody@{domain}>")),
        "{}",
        s.context(&partly)
    );
    s.wait_queue();
    delivered_case(&s.delivered(), "md-refused");
    delivered_case(&maildir_messages(&postmaster), "md-refused");
    assert_eq!(s.bounces().len(), bounced, "popfetch never bounces");
    assert_eq!(s.dovecot_left(), 0, "every recipient settled: deleted");
}

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn m21_a_recipient_postfix_defers_gets_it_on_the_next_poll_only() {
    let s = Servers::start("m21_multidrop_deferred_recipient");
    let target = s.get("TARGET").to_owned();
    let domain = target.split('@').nth(1).expect("domain").to_owned();
    let postmaster = s
        .path("MAILDIR")
        .parent()
        .expect("mail dir")
        .join("postmaster");
    s.script(
        "postconf",
        &[&format!(
            "smtpd_recipient_restrictions = check_recipient_access inline:{{postmaster@{domain}=DEFER}}, \
             permit_mynetworks, reject_unauth_destination"
        )],
    );
    s.put(&[catchall(&s, "md-defer")]);
    let config = multidrop_config(&s, "");
    let first = s.run(&config);
    assert_eq!(first.code(), Some(75), "{}", s.context(&first));
    s.wait_queue();
    delivered_case(&s.delivered(), "md-defer");
    assert!(
        maildir_messages(&postmaster).is_empty(),
        "{}",
        s.context(&first)
    );
    assert_eq!(s.dovecot_left(), 1, "kept until every recipient is settled");

    s.script(
        "postconf",
        &["smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination"],
    );
    let second = s.run(&config);
    assert_eq!(second.code(), Some(0), "{}", s.context(&second));
    s.wait_queue();
    // joe still has exactly one copy (delivered_case asserts there is one); postmaster got it now.
    delivered_case(&s.delivered(), "md-defer");
    delivered_case(&maildir_messages(&postmaster), "md-defer");
    assert!(s.bounces().is_empty());
    assert_eq!(s.dovecot_left(), 0, "{}", s.context(&second));
}
