//! The fake MTA: one delivery, temporary replies, bare LF/CR and lock-step violations, malformed paths,
//! faults mid-DATA, the HELO fallback.

use super::*;

pub(super) fn smtp_connect(port: u16) -> Raw<TcpStream> {
    let mut c = connect(port);
    assert_eq!(c.line(), b"220 fake.test ESMTP fake\r\n");
    c
}

/// Read a possibly multi-line SMTP reply.
fn smtp_reply(c: &mut Raw<TcpStream>) -> String {
    let mut out = String::new();
    loop {
        let l = String::from_utf8(c.line()).unwrap();
        out.push_str(&l);
        if l.len() < 4 || l.as_bytes()[3] != b'-' {
            return out;
        }
    }
}

fn smtp_cmd(c: &mut Raw<TcpStream>, cmd: &str) -> String {
    c.send(format!("{cmd}\r\n").as_bytes());
    smtp_reply(c)
}

fn smtp_send(c: &mut Raw<TcpStream>, from: &str, to: &str, stuffed: &[u8]) -> String {
    assert!(smtp_cmd(c, &format!("MAIL FROM:<{from}>")).starts_with("250 "));
    assert!(smtp_cmd(c, &format!("RCPT TO:<{to}>")).starts_with("250 "));
    assert!(smtp_cmd(c, "DATA").starts_with("354 "));
    c.send(stuffed);
    smtp_reply(c)
}

#[test]
fn smtp_delivers_one_message() {
    let smtp = FakeSmtp::start(SmtpBehavior::default());
    let mut c = smtp_connect(smtp.port());
    let ehlo = smtp_cmd(&mut c, "EHLO popfetch.test");
    assert_eq!(
        ehlo,
        "250-fake.test\r\n250-SIZE 0\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n"
    );
    let content = b"Subject: s\r\n\r\n.dot\r\nbody\r\n";
    let wire = support::smtp::smtp_stuffed(content);
    assert_eq!(wire, b"Subject: s\r\n\r\n..dot\r\nbody\r\n.\r\n");
    assert_eq!(
        smtp_send(&mut c, "sender@example.org", "alice@local.test", &wire),
        "250 2.0.0 Ok: queued\r\n"
    );
    assert_eq!(smtp_cmd(&mut c, "QUIT"), "221 2.0.0 Bye\r\n");
    assert!(c.read_to_end().is_empty());

    let d = smtp.delivered();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].mail_from, "sender@example.org");
    assert_eq!(d[0].rcpt_to, ["alice@local.test"]);
    assert_eq!(d[0].data_raw, b"Subject: s\r\n\r\n..dot\r\nbody\r\n");
    assert_eq!(d[0].data, content);
    assert_eq!(smtp.attempts(), 1);
    assert_eq!(smtp.connections(), 1);
    assert!(smtp.wait_until(T, |s| s.sessions()[0].finished));
    let t = &smtp.transcript()[0];
    assert!(t.starts_with(b"EHLO popfetch.test\r\nMAIL FROM:<sender@example.org>\r\n"));
    assert!(t.ends_with(b"body\r\n.\r\nQUIT\r\n"));
    assert!(smtp.violations().is_empty(), "{:?}", smtp.violations());
}

#[test]
fn smtp_451_reply_is_not_delivered() {
    let smtp = FakeSmtp::start(
        SmtpBehavior::default().reply_to_data(0, "451 4.3.0 Error: queue file write error"),
    );
    let mut c = smtp_connect(smtp.port());
    smtp_cmd(&mut c, "EHLO x");
    let r = smtp_send(&mut c, "", "alice@local.test", b"a\r\n.\r\n");
    assert_eq!(r, "451 4.3.0 Error: queue file write error\r\n");
    let r = smtp_send(&mut c, "", "alice@local.test", b"b\r\n.\r\n");
    assert_eq!(r, "250 2.0.0 Ok: queued\r\n");
    assert_eq!(smtp.attempts(), 2);
    let d = smtp.delivered();
    assert_eq!(d.len(), 1);
    assert_eq!(
        (d[0].index, d[0].data.as_slice(), d[0].mail_from.as_str()),
        (1, &b"b\r\n"[..], "")
    );
    assert!(!smtp.transactions()[0].accepted());
}

#[test]
fn smtp_bare_lf_and_cr_in_data_are_violations() {
    let smtp = FakeSmtp::start(SmtpBehavior::default());
    let mut c = smtp_connect(smtp.port());
    smtp_cmd(&mut c, "EHLO x");
    let r = smtp_send(
        &mut c,
        "a@b.c",
        "alice@local.test",
        b"one\ntwo\rthree\r\n.\n\r\n.\r\n",
    );
    assert!(r.starts_with("250"));
    let v = smtp.violations();
    assert_eq!(
        v.iter().filter(|v| v.contains("bare LF")).count(),
        2,
        "{v:?}"
    );
    assert_eq!(
        v.iter().filter(|v| v.contains("bare CR")).count(),
        1,
        "{v:?}"
    );
    // `.\n` is content, not a terminator.
    assert_eq!(smtp.delivered()[0].data, b"one\ntwo\rthree\r\n\n\r\n");
}

#[test]
fn smtp_lockstep_and_long_lines() {
    let smtp = FakeSmtp::start(SmtpBehavior::default());
    let mut c = smtp_connect(smtp.port());
    smtp_cmd(&mut c, "EHLO x");
    c.send(b"MAIL FROM:<a@b.c>\r\nRCPT TO:<alice@local.test>\r\n");
    assert!(smtp_reply(&mut c).starts_with("250"));
    assert!(smtp_reply(&mut c).starts_with("250"));
    let v = smtp.violations();
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].contains("before the reply to MAIL"));
    assert!(smtp_cmd(&mut c, "DATA").starts_with("354"));
    let mut data = vec![b'x'; 1200];
    data.extend_from_slice(b"\r\n.\r\n");
    c.send(&data);
    assert!(smtp_reply(&mut c).starts_with("250"));
    assert_eq!(smtp.long_lines().len(), 1);
    assert_eq!(smtp.violations().len(), 1, "a long line is not a violation");
}

#[test]
fn smtp_malformed_paths_and_sequence_errors() {
    let smtp = FakeSmtp::start(SmtpBehavior::default());
    let mut c = smtp_connect(smtp.port());
    assert!(smtp_cmd(&mut c, "MAIL FROM:<a@b.c>").starts_with("503"));
    smtp_cmd(&mut c, "EHLO x");
    assert!(smtp_cmd(&mut c, "RCPT TO:<x@y.z>").starts_with("503"));
    assert!(smtp_cmd(&mut c, "MAIL FROM:<a b@c>").starts_with("501"));
    assert!(smtp_cmd(&mut c, "MAIL FROM:<a@b.c> BODY=8BITMIME").starts_with("250"));
    assert!(smtp_cmd(&mut c, "DATA").starts_with("503"));
    assert!(smtp_cmd(&mut c, "RCPT TO:<x@y.z>").starts_with("250"));
    assert!(smtp_cmd(&mut c, "RSET").starts_with("250"));
    assert!(smtp_cmd(&mut c, "DATA").starts_with("503"));
    assert_eq!(smtp.violations().len(), 1, "{:?}", smtp.violations());
    assert!(smtp.violations()[0].contains("malformed MAIL"));
}

#[test]
fn smtp_faults_close_mid_data_and_after_eod() {
    let b = SmtpBehavior {
        close_after_data_bytes: Some(4),
        ..SmtpBehavior::default()
    };
    let smtp = FakeSmtp::start(b);
    let mut c = smtp_connect(smtp.port());
    smtp_cmd(&mut c, "EHLO x");
    smtp_cmd(&mut c, "MAIL FROM:<>");
    smtp_cmd(&mut c, "RCPT TO:<alice@local.test>");
    smtp_cmd(&mut c, "DATA");
    c.send(b"line one\r\n");
    assert!(c.read_to_end().is_empty(), "closed without a reply");
    assert!(smtp.wait_until(T, |s| s.sessions()[0].finished));
    assert_eq!(smtp.sessions()[0].aborted_data, 1);
    assert_eq!(smtp.attempts(), 0);

    smtp.set_behavior(SmtpBehavior {
        close_after_eod: true,
        ..SmtpBehavior::default()
    });
    let mut c = smtp_connect(smtp.port());
    smtp_cmd(&mut c, "EHLO x");
    c.send(b"MAIL FROM:<>\r\n");
    smtp_reply(&mut c);
    smtp_cmd(&mut c, "RCPT TO:<alice@local.test>");
    smtp_cmd(&mut c, "DATA");
    c.send(b"x\r\n.\r\n");
    assert!(c.read_to_end().is_empty());
    assert_eq!(smtp.attempts(), 1);
    assert!(smtp.delivered().is_empty(), "no 2xx was sent");
    assert_eq!(smtp.transactions()[0].reply, None);
}

#[test]
fn smtp_helo_fallback_when_ehlo_refused() {
    let smtp = FakeSmtp::start(SmtpBehavior {
        ehlo_ok: false,
        ..SmtpBehavior::default()
    });
    let mut c = smtp_connect(smtp.port());
    assert!(smtp_cmd(&mut c, "EHLO x").starts_with("502"));
    assert_eq!(smtp_cmd(&mut c, "HELO x"), "250 fake.test\r\n");
    assert!(smtp_send(&mut c, "a@b.c", "alice@local.test", b"m\r\n.\r\n").starts_with("250"));
}
