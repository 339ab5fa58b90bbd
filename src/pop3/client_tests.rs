//! Client session tests (pipelining, dot-unstuffing, timeouts, bounds, unsolicited data, CAPA) against scripted
//! servers on 127.0.0.1:0 that assert the exact bytes the client sent.

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::test_server::*;
use super::*;
use crate::config::AuthMethod;
use crate::error::ExitClass;
use crate::pop3::{CodecError, RespCode};

#[tokio::test]
async fn p28_pipelined_retr_when_advertised() {
    bounded(async {
        let (port, server) = serve(|s| async move {
            let mut p = Peer::new(s);
            logged_in(&mut p, "USER\r\nPIPELINING\r\n").await;
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
        })
        .await;
        let mut c = plain(port).await;
        login(&mut c).await;
        assert!(c.pipelining());
        for n in 1..=3 {
            c.send_retr(n).await.unwrap();
        }
        assert_eq!(c.outstanding(), 3);
        assert_eq!(
            retr_ok(c.next_reply().await.unwrap()),
            (1, b"one\r\n".to_vec())
        );
        assert_eq!(
            retr_ok(c.next_reply().await.unwrap()),
            (2, b"two\r\n".to_vec())
        );
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
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn p28a_lock_step_without_pipelining() {
    bounded(async {
        let (port, server) = serve(|s| async move {
            let mut p = Peer::new(s);
            logged_in(&mut p, "USER\r\nUIDL\r\n").await;
            for (cmd, reply) in [
                ("RETR 1", &b"+OK\r\none\r\n.\r\n"[..]),
                ("RETR 2", b"+OK\r\ntwo\r\n.\r\n"),
                ("DELE 1", b"+OK\r\n"),
            ] {
                p.expect(cmd).await;
                // Never two commands outstanding.
                p.quiet().await;
                p.send(reply).await;
            }
            p.expect("QUIT").await;
            p.quiet().await;
            p.send(b"+OK\r\n").await;
        })
        .await;
        let mut c = plain(port).await;
        login(&mut c).await;
        assert!(!c.pipelining());
        c.send_retr(1).await.unwrap();
        c.send_retr(2).await.unwrap();
        c.send_dele(1).await.unwrap();
        assert_eq!(c.outstanding(), 3);
        assert_eq!(
            retr_ok(c.next_reply().await.unwrap()),
            (1, b"one\r\n".to_vec())
        );
        assert_eq!(
            retr_ok(c.next_reply().await.unwrap()),
            (2, b"two\r\n".to_vec())
        );
        assert_eq!(
            c.next_reply().await.unwrap(),
            Reply::Dele {
                n: 1,
                result: Ok(())
            }
        );
        c.quit().await.unwrap();
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn p01_p04_dot_unstuffing_end_to_end_in_one_byte_writes() {
    let wire = b"+OK 60 octets\r\nSubject: dots\r\n\r\n..\r\n...x\r\n..x\r\n.. \r\na.b\r\n\xff\x00\r\n.\r\n";
    let want = b"Subject: dots\r\n\r\n.\r\n..x\r\n.x\r\n. \r\na.b\r\n\xff\x00\r\n";
    bounded(async {
        let (port, server) = serve(move |s| async move {
            let mut p = Peer::new(s);
            logged_in(&mut p, "USER\r\n").await;
            p.expect("RETR 1").await;
            for b in wire {
                p.send(&[*b]).await;
            }
            p.expect("RETR 2").await;
            p.send(b"+OK\r\n.\r\n").await;
            p.eof().await;
        })
        .await;
        let mut c = plain(port).await;
        login(&mut c).await;
        c.send_retr(1).await.unwrap();
        assert_eq!(retr_ok(c.next_reply().await.unwrap()), (1, want.to_vec()));
        // An empty message is zero bytes, not a hang.
        c.send_retr(2).await.unwrap();
        assert_eq!(retr_ok(c.next_reply().await.unwrap()), (2, vec![]));
        drop(c);
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn next_reply_is_cancel_safe() {
    bounded(async {
        let (port, server) = serve(|s| async move {
            let mut p = Peer::new(s);
            logged_in(&mut p, "USER\r\n").await;
            p.expect("RETR 1").await;
            p.send(b"+OK\r\nfirst half ").await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            p.send(b"second half\r\n.\r\n").await;
            p.eof().await;
        })
        .await;
        let mut c = plain(port).await;
        login(&mut c).await;
        c.send_retr(1).await.unwrap();
        let cancelled = tokio::time::timeout(Duration::from_millis(100), c.next_reply()).await;
        assert!(cancelled.is_err(), "should still be waiting");
        assert_eq!(
            retr_ok(c.next_reply().await.unwrap()),
            (1, b"first half second half\r\n".to_vec())
        );
        drop(c);
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn p20_connection_closed_mid_retr_is_tempfail() {
    bounded(async {
        let (port, server) = serve(|s| async move {
            let mut p = Peer::new(s);
            logged_in(&mut p, "USER\r\n").await;
            p.expect("RETR 1").await;
            p.send(b"+OK\r\nSubject: cut\r\n\r\nbody\r\n.").await;
            // Dropping the stream closes the connection inside the terminator.
        })
        .await;
        let mut c = plain(port).await;
        login(&mut c).await;
        c.send_retr(1).await.unwrap();
        let e = c.next_reply().await.unwrap_err();
        assert!(matches!(e, Pop3Error::Closed { phase: "retr" }), "{e:?}");
        assert_eq!(e.class(), ExitClass::TempFail);
        // The session is dead now; nothing more is sent, QUIT included.
        assert!(matches!(c.next_reply().await, Err(Pop3Error::Aborted)));
        assert!(matches!(c.quit().await, Err(Pop3Error::Aborted)));
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn p21_stalled_server_times_out() {
    bounded(async {
        let (port, server) = serve(|s| async move {
            let mut p = Peer::new(s);
            logged_in(&mut p, "USER\r\n").await;
            p.expect("RETR 1").await;
            p.send(b"+OK\r\nSubject: x\r\n").await;
            tokio::time::sleep(Duration::from_secs(3)).await;
        })
        .await;
        let conn = pki(&["127.0.0.1"]).connector();
        let o = Options {
            timeout: Duration::from_millis(300),
            ..opts()
        };
        let mut c = Client::connect("127.0.0.1", port, Security::None, &conn, o)
            .await
            .unwrap();
        login(&mut c).await;
        c.send_retr(1).await.unwrap();
        let t0 = std::time::Instant::now();
        let e = c.next_reply().await.unwrap_err();
        assert!(matches!(e, Pop3Error::Timeout { phase: "retr" }), "{e:?}");
        assert_eq!(e.class(), ExitClass::TempFail);
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
        drop(c);
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn oversize_retr_is_an_error_not_a_truncation() {
    bounded(async {
        let (port, server) = serve(|s| async move {
            let mut p = Peer::new(s);
            logged_in(&mut p, "USER\r\n").await;
            p.expect("RETR 1").await;
            p.send(b"+OK\r\n").await;
            let _ = p.s.write_all(&vec![b'x'; 4096]).await;
        })
        .await;
        let conn = pki(&["127.0.0.1"]).connector();
        let o = Options {
            max_message: 1000,
            ..opts()
        };
        let mut c = Client::connect("127.0.0.1", port, Security::None, &conn, o)
            .await
            .unwrap();
        login(&mut c).await;
        c.send_retr(1).await.unwrap();
        let e = c.next_reply().await.unwrap_err();
        assert!(
            matches!(e, Pop3Error::TooLarge { limit: 1000, .. }),
            "{e:?}"
        );
        drop(c);
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn p05_unsolicited_data_is_a_protocol_error() {
    bounded(async {
        let (port, server) = serve(|s| async move {
            let mut p = Peer::new(s);
            p.send(b"+OK ready\r\n").await;
            p.expect("CAPA").await;
            p.send(b"+OK\r\nUSER\r\n.\r\n+OK 2 messages\r\n1 120\r\n.\r\n")
                .await;
            p.eof().await;
        })
        .await;
        let mut c = plain(port).await;
        let e = c
            .login("u", &pw("p"), AuthMethod::User, true)
            .await
            .unwrap_err();
        assert!(matches!(e, Pop3Error::Protocol { .. }), "{e:?}");
        assert_eq!(e.class(), ExitClass::Protocol);
        drop(c);
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn p15_bad_uidl_listing_and_p24_empty_maildrop() {
    bounded(async {
        let (port, server) = serve(|s| async move {
            let mut p = Peer::new(s);
            logged_in(&mut p, "USER\r\nUIDL\r\n").await;
            p.expect("UIDL").await;
            p.send(b"+OK\r\n.\r\n").await;
            p.expect("LIST").await;
            p.send(b"+OK 0 messages\r\n.\r\n").await;
            p.expect("UIDL").await;
            p.send(b"+OK\r\n1 a\r\n1 b\r\n.\r\n").await;
            p.eof().await;
        })
        .await;
        let mut c = plain(port).await;
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
        drop(c);
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn quit_is_refused_while_replies_are_outstanding() {
    // Invariant 2: a DELE whose reply nobody has looked at must never be committed by QUIT.
    bounded(async {
        let (port, server) = serve(|s| async move {
            let mut p = Peer::new(s);
            logged_in(&mut p, "USER\r\n").await;
            p.expect("DELE 1").await;
            p.send(b"+OK\r\n").await;
            p.eof().await;
        })
        .await;
        let mut c = plain(port).await;
        login(&mut c).await;
        c.send_dele(1).await.unwrap();
        let e = c.quit().await.unwrap_err();
        assert!(matches!(e, Pop3Error::Misuse { .. }), "{e:?}");
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn p13_capa_refused_means_baseline() {
    bounded(async {
        let (port, server) = serve(|s| async move {
            let mut p = Peer::new(s);
            p.send(b"+OK ready\r\n").await;
            p.expect("CAPA").await;
            p.send(b"-ERR unknown command\r\n").await;
            p.expect("USER u").await;
            p.send(b"+OK\r\n").await;
            p.expect("PASS p").await;
            p.send(b"+OK\r\n").await;
            p.eof().await;
        })
        .await;
        let mut c = plain(port).await;
        assert_eq!(c.capabilities(), &Capabilities::default());
        // Auto falls to USER/PASS only because nothing better was ever offered.
        c.login("u", &pw("p"), AuthMethod::Auto, true)
            .await
            .unwrap();
        drop(c);
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn p05_greeting_with_glued_listing_is_refused_before_capa() {
    bounded(async {
        let (port, server) = serve(|s| async move {
            let mut p = Peer::new(s);
            p.send(b"+OK ready\r\n+OK 2 messages\r\n1 120\r\n2 200\r\n.\r\n")
                .await;
            p.eof().await;
        })
        .await;
        let e = refused(port, Security::None).await;
        assert!(matches!(e, Pop3Error::Protocol { .. }), "{e:?}");
        server.await.unwrap();
    })
    .await;
}
