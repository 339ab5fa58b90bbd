//! Issue 11: popfetch's LMTP client (`smtp::Mta` with `Protocol::Lmtp`) against the real Dovecot LMTP server
//! (`dovecot-lmtpd`, listening on `LMTP_PORT` in `tests/interop/servers.sh`). RFC 2033 §4.2: after the end of data
//! one reply per recipient accepted at RCPT, in order; a refused RCPT gets none. Wiring LMTP to the configuration is
//! the destinations issue; this pins the client against a real server.

use popfetch::smtp::{Mta, Phase, Protocol, SmtpError, Timeouts};
use tokio::net::TcpStream;

use super::{IGNORE_WHY, Servers, maildir_messages};

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn lmtp_dovecot_answers_each_recipient_after_the_end_of_data() {
    assert!(IGNORE_WHY.contains("run.sh"));
    let s = Servers::start("lmtp_dovecot_answers_each_recipient_after_the_end_of_data");
    let port: u16 = s.get("LMTP_PORT").parse().unwrap();
    let target = s.get("TARGET").to_string();
    let (user, domain) = target.split_once('@').unwrap();
    // Dovecot's default recipient_delimiter is `+`: joe+x is a second recipient delivered to the same mailbox.
    let plus = format!("{user}+x@{domain}");
    let nobody = format!("nobody@{domain}");
    let message = b"From: a@b.test\r\nSubject: lmtp interop\r\n\r\n.leading dot\r\nbody\r\n";
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let per = rt.block_on(async {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut mta = Mta::over(
            Box::new(tcp),
            format!("127.0.0.1:{port}"),
            "popfetch.test",
            Timeouts::default(),
            Protocol::Lmtp,
            &popfetch::untrusted::Secrets::none(),
            &popfetch::inspect::trace::Trace::log(),
        )
        .await
        .unwrap();
        assert!(
            mta.capabilities().pipelining,
            "Dovecot's LMTP offers PIPELINING"
        );
        let per = mta
            .send(Some("a@b.test"), &[&target, &nobody, &plus], message)
            .await
            .unwrap();
        mta.quit().await;
        per
    });
    assert_eq!(per.len(), 3);
    let ok0 = per[0].as_ref().unwrap();
    assert!(
        ok0.code == 250 && ok0.text.contains(&target) && ok0.text.contains("Saved"),
        "{ok0:?}"
    );
    assert!(
        matches!(
            &per[1],
            Err(SmtpError::Reply {
                phase: Phase::Rcpt,
                code: 550,
                ..
            })
        ),
        "{:?}",
        per[1]
    );
    let ok2 = per[2].as_ref().unwrap();
    assert!(ok2.code == 250 && ok2.text.contains(&plus), "{ok2:?}");
    // Two copies in the Maildir, byte-exact apart from Dovecot's own Return-Path and Delivered-To, LF endings.
    let got = maildir_messages(&s.path("DOVECOT_MAILDIR"));
    assert_eq!(got.len(), 2, "{got:?}");
    for m in got {
        let text = String::from_utf8_lossy(&m);
        assert!(
            text.ends_with("Subject: lmtp interop\n\n.leading dot\nbody\n"),
            "{text}"
        );
    }
}
