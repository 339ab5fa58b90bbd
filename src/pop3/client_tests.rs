//! Client session tests (pipelining, dot-unstuffing, timeouts, bounds, unsolicited data, CAPA) against scripted
//! servers on 127.0.0.1:0 that assert the exact bytes the client sent.

use std::time::Duration;

use super::test_server::*;
use super::*;
use crate::config::AuthMethod;
use crate::error::ExitClass;
use crate::pop3::{CodecError, RespCode};

use Step::{C, Eof, S};

/// The client reads the replies to `RETR 1` and `RETR 2` of the P-28 scripts: "one" and "two".
async fn next_two(c: &mut Client) {
    for (n, body) in [(1, b"one\r\n"), (2, b"two\r\n")] {
        assert_eq!(retr_ok(c.next_reply().await.unwrap()), (n, body.to_vec()));
    }
}

#[tokio::test]
async fn p28_pipelined_retr_when_advertised() {
    let script = |mut p: Peer<_>| async move {
        p.play(logged_in(b"+OK\r\nUSER\r\nPIPELINING\r\n.\r\n", &[]))
            .await;
        // All three commands arrive before any reply is sent: a lock-step client would stall here.
        for n in 1..=3 {
            p.expect(&format!("RETR {n}")).await;
        }
        p.send(b"+OK\r\none\r\n.\r\n+OK\r\ntwo\r\n.\r\n-ERR [SYS/TEMP] gone\r\n")
            .await;
        p.expect("DELE 1").await;
        p.expect("DELE 2").await;
        p.send(b"+OK\r\n-ERR already deleted\r\n").await;
        p.expect("QUIT").await;
        p.send(b"+OK\r\n").await;
    };
    session(script, Dial::plain(), async |mut c| {
        login(&mut c).await;
        assert!(c.pipelining());
        for n in 1..=3 {
            c.send_retr(n).await.unwrap();
        }
        assert_eq!(c.outstanding(), 3);
        next_two(&mut c).await;
        match c.next_reply().await.unwrap() {
            Reply::Retr {
                n: 3,
                result: Err(e),
                ..
            } => assert_eq!(e.code, Some(RespCode::SysTemp)),
            other => panic!("{other:?}"),
        }
        c.send_dele(1).await.unwrap();
        c.send_dele(2).await.unwrap();
        assert_eq!(
            c.next_reply().await.unwrap(),
            Reply::Dele {
                n: 1,
                result: Ok(())
            }
        );
        assert!(matches!(
            c.next_reply().await.unwrap(),
            Reply::Dele {
                n: 2,
                result: Err(_)
            }
        ));
        assert_eq!(c.outstanding(), 0);
        c.quit().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn p28a_lock_step_without_pipelining() {
    let script = |mut p: Peer<_>| async move {
        p.play(logged_in(b"+OK\r\nUSER\r\nUIDL\r\n.\r\n", &[]))
            .await;
        for (cmd, reply) in [
            ("RETR 1", &b"+OK\r\none\r\n.\r\n"[..]),
            ("RETR 2", b"+OK\r\ntwo\r\n.\r\n"),
            ("DELE 1", b"+OK\r\n"),
            ("QUIT", b"+OK\r\n"),
        ] {
            p.expect(cmd).await;
            // Never two commands outstanding.
            p.quiet().await;
            p.send(reply).await;
        }
    };
    session(script, Dial::plain(), async |mut c| {
        login(&mut c).await;
        assert!(!c.pipelining());
        c.send_retr(1).await.unwrap();
        c.send_retr(2).await.unwrap();
        c.send_dele(1).await.unwrap();
        assert_eq!(c.outstanding(), 3);
        next_two(&mut c).await;
        assert_eq!(
            c.next_reply().await.unwrap(),
            Reply::Dele {
                n: 1,
                result: Ok(())
            }
        );
        c.quit().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn p01_p04_dot_unstuffing_end_to_end_in_one_byte_writes() {
    let wire = b"+OK 60 octets\r\nSubject: dots\r\n\r\n..\r\n...x\r\n..x\r\n.. \r\na.b\r\n\xff\x00\r\n.\r\n";
    let want = b"Subject: dots\r\n\r\n.\r\n..x\r\n.x\r\n. \r\na.b\r\n\xff\x00\r\n";
    let script = move |mut p: Peer<_>| async move {
        p.play(logged_in(b"+OK\r\nUSER\r\n.\r\n", &[])).await;
        p.expect("RETR 1").await;
        for b in wire {
            p.send(&[*b]).await;
        }
        p.expect("RETR 2").await;
        p.send(b"+OK\r\n.\r\n").await;
        p.eof().await;
    };
    session(script, Dial::plain(), async |mut c| {
        login(&mut c).await;
        c.send_retr(1).await.unwrap();
        assert_eq!(retr_ok(c.next_reply().await.unwrap()), (1, want.to_vec()));
        // An empty message is zero bytes, not a hang.
        c.send_retr(2).await.unwrap();
        assert_eq!(retr_ok(c.next_reply().await.unwrap()), (2, vec![]));
    })
    .await;
}

#[tokio::test]
async fn next_reply_is_cancel_safe() {
    let script = |mut p: Peer<_>| async move {
        p.play(logged_in(b"+OK\r\nUSER\r\n.\r\n", &[])).await;
        p.expect("RETR 1").await;
        p.send(b"+OK\r\nfirst half ").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        p.send(b"second half\r\n.\r\n").await;
        p.eof().await;
    };
    session(script, Dial::plain(), async |mut c| {
        login(&mut c).await;
        c.send_retr(1).await.unwrap();
        let cancelled = tokio::time::timeout(Duration::from_millis(100), c.next_reply()).await;
        assert!(cancelled.is_err(), "should still be waiting");
        assert_eq!(
            retr_ok(c.next_reply().await.unwrap()),
            (1, b"first half second half\r\n".to_vec())
        );
    })
    .await;
}

/// A RETR that ends the session: what the server does after `RETR 1`, and the error.
struct RetrFails {
    id: &'static str,
    after_retr: Vec<Step>,
    want: Want,
}

#[tokio::test]
async fn p07_p20_p21_retr_cut_stalled_or_oversize_ends_the_session() {
    let cases = vec![
        RetrFails {
            id: "p20_connection_closed_mid_retr_is_tempfail",
            // The script ends and the connection closes inside the terminator.
            after_retr: vec![S(b"+OK\r\nSubject: cut\r\n\r\nbody\r\n.")],
            want: want!(TempFail, Closed { phase: "retr" }),
        },
        RetrFails {
            id: "p21_stalled_server_times_out",
            after_retr: vec![S(b"+OK\r\nSubject: x\r\n"), Step::Drain],
            want: want!(TempFail, Timeout { phase: "retr" }),
        },
        RetrFails {
            id: "p07_oversize_retr_is_an_error_not_a_truncation",
            after_retr: vec![S(b"+OK\r\n"), S(&[b'x'; 4096]), Step::Drain],
            want: want!(Protocol, TooLarge { limit: 1000, .. }),
        },
    ];
    for case in cases {
        let then = [&[C("RETR 1")], &case.after_retr[..]].concat();
        let script = logged_in(b"+OK\r\nUSER\r\n.\r\n", &then);
        let dial = Dial::plain().case(case.id).with(|o| {
            o.timeout = Duration::from_millis(300);
            o.max_message = 1000;
        });
        play(script, dial, async |mut c| {
            login(&mut c).await;
            c.send_retr(1).await.unwrap();
            let t0 = std::time::Instant::now();
            let e = c.next_reply().await.unwrap_err();
            case.want.check(case.id, &e);
            assert!(
                t0.elapsed() < Duration::from_secs(2),
                "{}: {:?}",
                case.id,
                t0.elapsed()
            );
            // The session is dead now; nothing more is sent, QUIT included.
            assert!(
                matches!(c.next_reply().await, Err(Pop3Error::Aborted)),
                "{}",
                case.id
            );
            assert!(
                matches!(c.quit().await, Err(Pop3Error::Aborted)),
                "{}",
                case.id
            );
        })
        .await;
    }
}

#[tokio::test]
async fn p15_bad_uidl_listing_and_p24_empty_maildrop() {
    let script = logged_in(
        b"+OK\r\nUSER\r\nUIDL\r\n.\r\n",
        &[
            C("UIDL"),
            S(b"+OK\r\n.\r\n"),
            C("LIST"),
            S(b"+OK 0 messages\r\n.\r\n"),
            C("UIDL"),
            S(b"+OK\r\n1 a\r\n1 b\r\n.\r\n"),
            Eof,
        ],
    );
    play(script, Dial::plain(), async |mut c| {
        login(&mut c).await;
        assert_eq!(c.uidl().await.unwrap(), vec![]);
        assert_eq!(c.list().await.unwrap(), vec![]);
        let e = c.uidl().await.unwrap_err();
        assert!(
            matches!(
                e,
                Pop3Error::Codec {
                    source: CodecError::DuplicateMsgNumber { n: 1 },
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.class(), ExitClass::Protocol);
    })
    .await;
}

#[tokio::test]
async fn quit_is_refused_while_replies_are_outstanding() {
    // Invariant 2: a DELE whose reply nobody has looked at must never be committed by QUIT. (The DELE is still
    // queued in the client, written only when it next waits for the server: the server never sees it.)
    let script = logged_in(b"+OK\r\nUSER\r\n.\r\n", &[Eof]);
    play(script, Dial::plain(), async |mut c| {
        login(&mut c).await;
        c.send_dele(1).await.unwrap();
        let e = c.quit().await.unwrap_err();
        assert!(matches!(e, Pop3Error::Misuse { .. }), "{e:?}");
    })
    .await;
}

#[tokio::test]
async fn p13_capa_refused_means_baseline() {
    let script = greet(
        b"+OK ready\r\n",
        b"-ERR unknown command\r\n",
        &[C("USER u"), S(b"+OK\r\n"), C("PASS p"), S(b"+OK\r\n"), Eof],
    );
    play(script, Dial::plain(), async |mut c| {
        assert_eq!(c.capabilities(), &Capabilities::default());
        // Auto falls to USER/PASS only because nothing better was ever offered.
        c.login("u", &pw("p"), AuthMethod::Auto, true)
            .await
            .unwrap();
    })
    .await;
}
