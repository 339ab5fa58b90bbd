//! The client against a scripted peer on loopback that asserts every byte it receives: PIPELINING (RFC 2920),
//! the HELO fallback (RFC 5321 §3.2), the MAIL parameters, LMTP's per-recipient replies (RFC 2033 §4.2), and that
//! a connection is never reused after an out-of-step reply.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

use super::*;

/// One step of a script: the exact bytes the client must send, then the server's answer.
type Step = (&'static [u8], &'static [u8]);

/// Serve one connection: send `greeting`, then for each step read exactly its bytes, compare, and answer. Ends by
/// reading to EOF; returns what arrived after the script (empty when the client closed as expected).
async fn scripted(
    greeting: &'static [u8],
    steps: Vec<Step>,
) -> (u16, JoinHandle<Result<Vec<u8>, String>>) {
    crate::test_peer::serve(move |mut s| async move {
        s.write_all(greeting).await.unwrap();
        for (i, (want, answer)) in steps.into_iter().enumerate() {
            let mut got = vec![0; want.len()];
            if let Err(e) = s.read_exact(&mut got).await {
                return Err(format!("step {i}: {e}"));
            }
            if got != want {
                return Err(format!(
                    "step {i}: got {:?}, want {:?}",
                    got.escape_ascii().to_string(),
                    want.escape_ascii().to_string()
                ));
            }
            s.write_all(answer).await.unwrap();
        }
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest).await;
        Ok(rest)
    })
    .await
}

const GREETING: &[u8] = b"220 mx.test ESMTP\r\n";
const QUIT: Step = (b"QUIT\r\n", b"221 bye\r\n");

async fn connect(port: u16, protocol: Protocol) -> Mta {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    Mta::over(
        Box::new(tcp),
        format!("127.0.0.1:{port}"),
        "me.test",
        Timeouts::default(),
        protocol,
        &Secrets::none(),
        &Trace::log(),
    )
    .await
    .unwrap()
}

fn env(from: &str, to: &str) -> Envelope {
    Envelope {
        from: Some(from.into()),
        to: to.into(),
    }
}

#[tokio::test]
async fn s15_pipelining_sends_mail_rcpt_data_in_one_write_and_content_after_354() {
    let (port, server) = scripted(
        GREETING,
        vec![
            (
                b"EHLO me.test\r\n",
                b"250-mx.test\r\n250-PIPELINING\r\n250-SIZE 100000\r\n250 8BITMIME\r\n",
            ),
            (
                b"MAIL FROM:<a@b.test> SIZE=15 BODY=8BITMIME\r\nRCPT TO:<c@d.test>\r\nDATA\r\n",
                b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n",
            ),
            (
                b"S: \xe9\r\n\r\n..dot\r\nx\r\n.\r\n",
                b"250 2.0.0 queued\r\n",
            ),
            QUIT,
        ],
    )
    .await;
    let mut mta = connect(port, Protocol::Smtp).await;
    assert!(mta.capabilities().pipelining);
    assert_eq!(mta.size_limit(), Some(100_000));
    let a = mta
        .deliver(&env("a@b.test", "c@d.test"), b"S: \xe9\r\n\r\n.dot\r\nx")
        .await
        .unwrap();
    assert_eq!((a.code, a.text.as_str()), (250, "2.0.0 queued"));
    mta.quit().await;
    assert_eq!(server.await.unwrap().unwrap(), b"");
}

#[tokio::test]
async fn s15_pipelined_refusal_is_reset_and_the_session_goes_on() {
    let (port, server) = scripted(
        GREETING,
        vec![
            (b"EHLO me.test\r\n", b"250-mx.test\r\n250 PIPELINING\r\n"),
            (
                b"MAIL FROM:<> SMTPUTF8\r\nRCPT TO:<c@d.test>\r\nDATA\r\n",
                b"250 Ok\r\n550 5.7.1 Sender address rejected\r\n554 5.5.1 no valid recipients\r\n",
            ),
            (b"RSET\r\n", b"250 Ok\r\n"),
            QUIT,
        ],
    )
    .await;
    let mut mta = connect(port, Protocol::Smtp).await;
    // As if offered: the UTF-8 header field is then declared (RFC 6531 §3.4).
    mta.caps.smtputf8 = true;
    let e = mta
        .deliver(
            &Envelope {
                from: None,
                to: "c@d.test".into(),
            },
            "Subject: caf\u{e9}\r\n\r\nx\r\n".as_bytes(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            SmtpError::Reply {
                phase: Phase::Rcpt,
                code: 550,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(mta.is_usable());
    mta.quit().await;
    assert_eq!(server.await.unwrap().unwrap(), b"");
}

#[tokio::test]
async fn s20_a_354_after_a_refused_envelope_drops_the_connection_without_content() {
    let (port, server) = scripted(
        GREETING,
        vec![
            (b"EHLO me.test\r\n", b"250-mx.test\r\n250 PIPELINING\r\n"),
            (
                b"MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n",
                b"250 Ok\r\n450 4.2.0 busy\r\n354 go ahead anyway\r\n",
            ),
        ],
    )
    .await;
    let mut mta = connect(port, Protocol::Smtp).await;
    let e = mta
        .deliver(&env("a@b.test", "c@d.test"), b"x\r\n")
        .await
        .unwrap_err();
    assert_eq!(e.verdict(), Verdict::Temporary);
    assert!(!mta.is_usable());
    mta.quit().await;
    // Nothing after DATA: no content, no dot, no QUIT.
    assert_eq!(server.await.unwrap().unwrap(), b"");
}

#[tokio::test]
async fn s14_helo_on_the_same_connection_when_ehlo_is_refused() {
    let (port, server) = scripted(
        GREETING,
        vec![
            (b"EHLO me.test\r\n", b"502 5.5.2 not recognized\r\n"),
            (b"HELO me.test\r\n", b"250 mx.test\r\n"),
            (b"MAIL FROM:<a@b.test>\r\n", b"250 Ok\r\n"),
            (b"RCPT TO:<c@d.test>\r\n", b"250 Ok\r\n"),
            (b"DATA\r\n", b"354 go\r\n"),
            (b"\xff\r\n.\r\n", b"250 queued\r\n"),
            QUIT,
        ],
    )
    .await;
    let mut mta = connect(port, Protocol::Smtp).await;
    assert_eq!(mta.capabilities(), &Capabilities::default());
    mta.deliver(&env("a@b.test", "c@d.test"), b"\xff\r\n")
        .await
        .unwrap();
    mta.quit().await;
    assert_eq!(server.await.unwrap().unwrap(), b"");
}

#[tokio::test]
async fn s09_a_garbled_reply_poisons_the_connection() {
    let (port, server) = scripted(
        GREETING,
        vec![
            (b"EHLO me.test\r\n", b"250 mx.test\r\n"),
            (b"MAIL FROM:<a@b.test>\r\n", b"250ok\r\n"),
        ],
    )
    .await;
    let mut mta = connect(port, Protocol::Smtp).await;
    let e = mta
        .deliver(&env("a@b.test", "c@d.test"), b"x\r\n")
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            SmtpError::Garbled {
                phase: Phase::Mail,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.verdict(), Verdict::Temporary);
    assert!(!mta.is_usable());
    let again = mta
        .deliver(&env("a@b.test", "c@d.test"), b"x\r\n")
        .await
        .unwrap_err();
    assert!(matches!(again, SmtpError::Unreachable { .. }), "{again:?}");
    mta.quit().await;
    assert_eq!(server.await.unwrap().unwrap(), b"");
}

#[tokio::test]
async fn i10_a_bad_address_is_refused_before_anything_is_sent() {
    let (port, server) = scripted(
        GREETING,
        vec![(b"EHLO me.test\r\n", b"250 mx.test\r\n"), QUIT],
    )
    .await;
    let mut mta = connect(port, Protocol::Smtp).await;
    let e = mta
        .deliver(
            &env("a@b.test>\r\nRCPT TO:<x@evil.test", "c@d.test"),
            b"x\r\n",
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            SmtpError::Address {
                role: AddressRole::Sender,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(mta.is_usable());
    mta.quit().await;
    assert_eq!(server.await.unwrap().unwrap(), b"");
}

#[tokio::test]
async fn lmtp_one_reply_per_accepted_recipient_after_the_end_of_data() {
    let (port, server) = scripted(
        b"220 lmtp.test LMTP\r\n",
        vec![
            (b"LHLO me.test\r\n", b"250-lmtp.test\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n"),
            (
                b"MAIL FROM:<a@b.test>\r\nRCPT TO:<u1@d.test>\r\nRCPT TO:<nobody@d.test>\r\nRCPT TO:<u3@d.test>\r\nDATA\r\n",
                b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 User unknown\r\n250 2.1.5 Ok\r\n354 go\r\n",
            ),
            (
                b"Subject: x\r\n\r\nbody\r\n.\r\n",
                b"250 2.0.0 <u1@d.test> Saved\r\n452 4.2.2 <u3@d.test> Quota exceeded\r\n",
            ),
            QUIT,
        ],
    )
    .await;
    let mut mta = connect(port, Protocol::Lmtp).await;
    let per = mta
        .send(
            Some("a@b.test"),
            &["u1@d.test", "nobody@d.test", "u3@d.test"],
            b"Subject: x\r\n\r\nbody\r\n",
        )
        .await
        .unwrap();
    assert_eq!(per.len(), 3);
    assert_eq!(per[0].as_ref().unwrap().text, "2.0.0 <u1@d.test> Saved");
    assert!(matches!(
        &per[1],
        Err(SmtpError::Reply {
            phase: Phase::Rcpt,
            code: 550,
            ..
        })
    ));
    let Err(e) = &per[2] else {
        panic!("{:?}", per[2])
    };
    assert!(
        matches!(
            e,
            SmtpError::Reply {
                phase: Phase::EndOfData,
                code: 452,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.verdict(), Verdict::Temporary);
    assert!(mta.is_usable());
    mta.quit().await;
    assert_eq!(server.await.unwrap().unwrap(), b"");
}

#[tokio::test]
async fn m19_lmtp_answers_given_before_the_server_stopped_stand() {
    // Issue 15: an LMTP server that stops after answering for the first recipient. That answer stands (the
    // recipient is served and must not get the message again); the other has no clear answer.
    let (port, server) = crate::test_peer::serve(|mut s| async move {
        s.write_all(b"220 lmtp.test LMTP\r\n").await.unwrap();
        let want: &[u8] = b"LHLO me.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<u1@d.test>\r\nRCPT TO:<u2@d.test>\r\n\
            DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\n";
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let answers: [(&[u8], &[u8]); 5] = [
            (b"LHLO me.test\r\n", b"250 lmtp.test\r\n"),
            (b"MAIL FROM:<a@b.test>\r\n", b"250 2.1.0 Ok\r\n"),
            (b"RCPT TO:<u1@d.test>\r\n", b"250 2.1.5 Ok\r\n"),
            (b"RCPT TO:<u2@d.test>\r\n", b"250 2.1.5 Ok\r\n"),
            (b"DATA\r\n", b"354 go\r\n"),
        ];
        let mut step = 0;
        while !got.ends_with(b"\r\n.\r\n") {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "client closed early");
            got.extend_from_slice(&buf[..n]);
            while step < answers.len() && got.ends_with(answers[step].0) {
                s.write_all(answers[step].1).await.unwrap();
                step += 1;
            }
        }
        s.write_all(b"250 2.0.0 <u1@d.test> Saved\r\n")
            .await
            .unwrap();
        assert_eq!(got, want);
        // Stops here: the connection closes without the second answer.
    })
    .await;
    let mut mta = connect(port, Protocol::Lmtp).await;
    let per = mta
        .send(
            Some("a@b.test"),
            &["u1@d.test", "u2@d.test"],
            b"Subject: x\r\n\r\nbody\r\n",
        )
        .await
        .unwrap();
    server.await.unwrap();
    assert_eq!(per[0].as_ref().unwrap().text, "2.0.0 <u1@d.test> Saved");
    let Err(e) = &per[1] else {
        panic!("{:?}", per[1])
    };
    assert_eq!(e.phase(), Phase::EndOfData);
    assert_eq!(e.verdict(), Verdict::Temporary);
    assert!(!mta.is_usable(), "never used again");
}
