//! Catalog S-23: the SMTP deadlines. The defaults are the RFC 5321 §4.5.3.2 minimums; an MTA that stops answering
//! at any step yields a timeout with temporary ("451") semantics: the message stays on the server for the next poll.
//! The scripted MTA runs in-process on loopback with short injected [`Timeouts`], so each case takes a fraction of
//! a second of real time.

use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::*;
use crate::error::ExitClass;

#[test]
fn s23_default_timeouts_meet_the_rfc_5321_minimums() {
    let t = Timeouts::default();
    // RFC 5321 §4.5.3.2.1-3: initial 220, MAIL, RCPT: 5 minutes.
    assert!(t.command >= Duration::from_secs(5 * 60));
    // §4.5.3.2.4: DATA initiation: 2 minutes.
    assert!(t.data_init >= Duration::from_secs(2 * 60));
    // §4.5.3.2.5: data block: 3 minutes.
    assert!(t.data_block >= Duration::from_secs(3 * 60));
    // §4.5.3.2.6: DATA termination: 10 minutes.
    assert!(t.data_end >= Duration::from_secs(10 * 60));
    assert!(t.connect > Duration::ZERO);
}

fn short() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        command: Duration::from_millis(300),
        data_init: Duration::from_millis(300),
        data_block: Duration::from_millis(300),
        data_end: Duration::from_millis(300),
    }
}

/// An MTA that sends `replies[0]` as its greeting, answers each following command (or, after a 354, the whole
/// content up to the terminator) with the next reply, and then reads on without ever answering again.
async fn scripted_mta(replies: &'static [&'static str]) -> u16 {
    let (port, _task) = crate::test_peer::serve(move |sock| async move {
        let (r, mut w) = sock.into_split();
        let mut r = BufReader::new(r);
        let mut in_data = false;
        let mut line = Vec::new();
        for (i, reply) in replies.iter().enumerate() {
            if i > 0 {
                loop {
                    line.clear();
                    if r.read_until(b'\n', &mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if !in_data || line == b".\r\n" {
                        break;
                    }
                }
            }
            in_data = reply.starts_with("354");
            w.write_all(format!("{reply}\r\n").as_bytes())
                .await
                .unwrap();
        }
        // Silent from here on, but still reading, as a wedged MTA whose kernel buffers are fine.
        loop {
            line.clear();
            if r.read_until(b'\n', &mut line).await.unwrap_or(0) == 0 {
                return;
            }
        }
    })
    .await;
    port
}

/// A session with the scripted MTA on `port`, with the short deadlines.
async fn connect(port: u16) -> Result<Mta, SmtpError> {
    Mta::connect(
        "127.0.0.1",
        port,
        "me.test",
        short(),
        &Secrets::none(),
        &Trace::log(),
    )
    .await
}

fn envelope() -> Envelope {
    Envelope {
        from: Some("sender@remote.test".into()),
        to: "alice@local.test".into(),
    }
}

fn assert_temporary(e: &SmtpError, phase: Phase) {
    assert!(
        matches!(e, SmtpError::Timeout { phase: p, .. } if *p == phase),
        "{e:?}"
    );
    assert_eq!(e.verdict(), Verdict::Temporary, "{e}");
    assert_eq!(e.class(), ExitClass::TempFail);
}

#[tokio::test]
async fn s23_a_silent_greeting_times_out_as_temporary() {
    let port = scripted_mta(&[]).await;
    let t = Instant::now();
    let Err(e) = connect(port).await else {
        panic!("connected to a silent MTA")
    };
    assert_temporary(&e, Phase::Greeting);
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

#[tokio::test]
async fn s23_no_reply_to_mail_or_to_end_of_data_is_temporary() {
    let port = scripted_mta(&["220 mx.test ESMTP", "250 mx.test"]).await;
    let mut mta = connect(port).await.unwrap();
    let e = mta
        .deliver(&envelope(), b"Subject: x\r\n\r\nbody\r\n")
        .await
        .unwrap_err();
    assert_temporary(&e, Phase::Mail);
    assert!(!e.maybe_accepted());

    let port = scripted_mta(&[
        "220 mx.test ESMTP",
        "250 mx.test",
        "250 2.1.0 Ok",
        "250 2.1.5 Ok",
        "354 go ahead",
    ])
    .await;
    let mut mta = connect(port).await.unwrap();
    let t = Instant::now();
    let e = mta
        .deliver(&envelope(), b"Subject: x\r\n\r\nbody\r\n")
        .await
        .unwrap_err();
    assert_temporary(&e, Phase::EndOfData);
    // The content was handed over in full: the next run names the possible duplicate (S-07).
    assert!(e.maybe_accepted());
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}
