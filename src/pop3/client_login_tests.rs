//! Client login tests (greeting, USER/PASS, AUTH PLAIN, APOP, refusals, secrets in traces) against scripted
//! servers on 127.0.0.1:0 that assert the exact bytes the client sent.

use super::test_server::*;
use super::*;
use crate::config::AuthMethod;
use crate::error::ExitClass;
use crate::pop3::auth;

#[tokio::test]
async fn login_user_pass_uidl_list_quit_exact_bytes() {
    bounded(async {
        let (port, server) = serve(|s| async move {
            let mut p = Peer::new(s);
            p.hello("+OK ready", "USER\r\nUIDL\r\n").await;
            p.expect("USER alice").await;
            p.send(b"+OK\r\n").await;
            p.expect("PASS s3cret pass").await;
            p.send(b"+OK logged in\r\n").await;
            p.expect("UIDL").await;
            p.send(b"+OK\r\n1 aaa\r\n2 bbb\r\n.\r\n").await;
            p.expect("LIST").await;
            p.send(b"+OK 2 messages\r\n1 120\r\n2 4000\r\n.\r\n").await;
            p.expect("QUIT").await;
            p.send(b"+OK bye\r\n").await;
            p.eof().await;
        })
        .await;
        let mut c = plain(port).await;
        assert!(!c.is_encrypted());
        assert_eq!(c.peer_ip(), Some("127.0.0.1".parse().unwrap()));
        assert!(c.capabilities().user && c.capabilities().uidl && !c.pipelining());
        c.login("alice", &pw("s3cret pass"), AuthMethod::Auto, true)
            .await
            .unwrap();
        assert_eq!(
            c.uidl().await.unwrap(),
            vec![(1, "aaa".into()), (2, "bbb".into())]
        );
        assert_eq!(c.list().await.unwrap(), vec![(1, 120), (2, 4000)]);
        c.quit().await.unwrap();
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn auth_plain_with_initial_response() {
    bounded(async {
        let (port, server) = serve(|s| async move {
            let mut p = Peer::new(s);
            p.hello("+OK ready", "SASL SCRAM-SHA-256 PLAIN\r\nUSER\r\n")
                .await;
            // base64("\0alice\0s3cret")
            p.expect("AUTH PLAIN AGFsaWNlAHMzY3JldA==").await;
            p.send(b"+OK welcome\r\n").await;
            p.eof().await;
        })
        .await;
        let mut c = plain(port).await;
        c.login("alice", &pw("s3cret"), AuthMethod::Auto, true)
            .await
            .unwrap();
        drop(c);
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn t17_auth_plain_continuation_when_initial_response_too_long() {
    let password = "p".repeat(200);
    let expected = auth::plain_response("alice", &password);
    bounded(async {
        let (port, server) = serve(move |s| async move {
            let mut p = Peer::new(s);
            p.hello("+OK ready", "SASL PLAIN\r\n").await;
            p.expect("AUTH PLAIN").await;
            p.send(b"+ \r\n").await;
            p.expect(&expected).await;
            p.send(b"+OK\r\n").await;
            p.eof().await;
        })
        .await;
        let mut c = plain(port).await;
        c.login("alice", &pw(&password), AuthMethod::Plain, true)
            .await
            .unwrap();
        drop(c);
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn t19_apop_login_uses_the_greeting_timestamp() {
    bounded(async {
        let (port, server) = serve(|s| async move {
            let mut p = Peer::new(s);
            p.hello(
                "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>",
                "USER\r\n",
            )
            .await;
            p.expect("APOP mrose c4c9334bac560ecc979e58001b3e22fb")
                .await;
            p.send(b"+OK maildrop has 1 message\r\n").await;
            p.eof().await;
        })
        .await;
        let mut c = plain(port).await;
        c.login("mrose", &pw("tanstaaf"), AuthMethod::Apop, true)
            .await
            .unwrap();
        drop(c);
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn t19_apop_without_timestamp_sends_nothing() {
    bounded(async {
        let (port, server) = serve(|s| async move {
            let mut p = Peer::new(s);
            p.hello("+OK ready <garbage>", "USER\r\n").await;
            p.eof().await;
        })
        .await;
        let mut c = plain(port).await;
        let e = c
            .login("mrose", &pw("tanstaaf"), AuthMethod::Apop, true)
            .await
            .unwrap_err();
        assert!(matches!(e, Pop3Error::NoApopTimestamp), "{e:?}");
        assert_eq!(e.class(), ExitClass::Security);
        drop(c);
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn t15_plaintext_password_refused_without_consent() {
    bounded(async {
        let (port, server) = serve(|s| async move {
            let mut p = Peer::new(s);
            p.hello("+OK ready", "USER\r\nSASL PLAIN\r\n").await;
            p.eof().await;
        })
        .await;
        let mut c = plain(port).await;
        for method in [AuthMethod::Auto, AuthMethod::User, AuthMethod::Plain] {
            let e = c
                .login("alice", &pw("s3cret"), method, false)
                .await
                .unwrap_err();
            assert!(matches!(e, Pop3Error::PlaintextRefused), "{e:?}");
            assert_eq!(e.class(), ExitClass::Security);
        }
        drop(c);
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn t24_credentials_with_line_breaks_are_refused() {
    bounded(async {
        let (port, server) = serve(|s| async move {
            let mut p = Peer::new(s);
            p.hello("+OK ready", "USER\r\n").await;
            p.eof().await;
        })
        .await;
        let mut c = plain(port).await;
        let e = c
            .login("alice", &pw("x\r\nDELE 1"), AuthMethod::User, true)
            .await
            .unwrap_err();
        assert!(matches!(e, Pop3Error::BadCredential));
        assert_eq!(e.class(), ExitClass::Config);
        drop(c);
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn p11_t20_pass_errors_are_classified_and_scrubbed() {
    let cases = [
        ("-ERR [IN-USE] mailbox locked", ExitClass::TempFail),
        ("-ERR [SYS/PERM] account disabled", ExitClass::Unavailable),
        ("-ERR [AUTH] wrong password hunter2", ExitClass::Security),
        ("-ERR no", ExitClass::Security),
    ];
    for (reply, class) in cases {
        bounded(async {
            let (port, server) = serve(move |s| async move {
                let mut p = Peer::new(s);
                p.hello("+OK ready", "USER\r\n").await;
                p.expect("USER alice").await;
                p.send(b"+OK\r\n").await;
                p.expect("PASS hunter2").await;
                p.send(format!("{reply}\r\n").as_bytes()).await;
                p.eof().await;
            })
            .await;
            let mut c = plain(port).await;
            let e = c
                .login("alice", &pw("hunter2"), AuthMethod::User, true)
                .await
                .unwrap_err();
            assert_eq!(e.class(), class, "{reply}: {e:?}");
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains("hunter2"), "{shown}");
            drop(c);
            server.await.unwrap();
        })
        .await;
    }
}

#[tokio::test]
async fn greeting_err_sys_perm_is_unavailable() {
    bounded(async {
        let (port, server) = serve(|s| async move {
            let mut p = Peer::new(s);
            p.send(b"-ERR [SYS/PERM] \x1b[31mgone\r\n").await;
            p.eof().await;
        })
        .await;
        let e = refused(port, Security::None).await;
        assert_eq!(e.class(), ExitClass::Unavailable);
        assert!(!e.to_string().contains('\x1b'), "{e}");
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn p12_imap_greeting_is_a_protocol_error() {
    bounded(async {
        let (port, server) = serve(|s| async move {
            let mut p = Peer::new(s);
            p.send(b"* OK IMAP4rev1 ready\r\n").await;
            p.eof().await;
        })
        .await;
        let e = refused(port, Security::None).await;
        assert!(matches!(e, Pop3Error::NotStatus { .. }), "{e:?}");
        assert_eq!(e.class(), ExitClass::Protocol);
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn t20_traces_show_commands_but_never_secrets() {
    // The trace sink is handed to the client (as the poller hands `Trace::log()`): a memory sink sees exactly
    // this client's lines, whatever other tests on other threads log.
    let (trace, kept) = crate::inspect::trace::Trace::memory();
    let traced = |port: u16| {
        let trace = trace.clone();
        async move {
            let conn = pki(&["127.0.0.1"]).connector();
            Client::connect(
                "127.0.0.1",
                port,
                Security::None,
                &conn,
                Options { trace, ..opts() },
            )
            .await
            .expect("connect")
        }
    };
    let b64 = auth::plain_response("alice", "hunter2");
    bounded(async {
        // AUTH PLAIN; the server echoes the payload and the password back in its -ERR.
        let echo = b64.clone();
        let (port, server) = serve(move |s| async move {
            let mut p = Peer::new(s);
            p.hello("+OK ready", "SASL PLAIN\r\n").await;
            p.expect(&format!("AUTH PLAIN {echo}")).await;
            p.send(format!("-ERR [AUTH] bad {echo} hunter2\r\n").as_bytes())
                .await;
            p.eof().await;
        })
        .await;
        let mut c = traced(port).await;
        let e = c
            .login("alice", &pw("hunter2"), AuthMethod::Auto, true)
            .await
            .unwrap_err();
        assert!(!format!("{e} {e:?}").contains("hunter2") && !format!("{e:?}").contains(&b64));
        drop(c);
        server.await.unwrap();

        // USER/PASS with the same echo.
        let (port, server) = serve(|s| async move {
            let mut p = Peer::new(s);
            p.hello("+OK ready", "USER\r\n").await;
            p.expect("USER alice").await;
            p.send(b"+OK\r\n").await;
            p.expect("PASS hunter2").await;
            p.send(b"-ERR hunter2 is wrong\r\n").await;
            p.eof().await;
        })
        .await;
        let mut c = traced(port).await;
        c.login("alice", &pw("hunter2"), AuthMethod::User, true)
            .await
            .unwrap_err();
        drop(c);
        server.await.unwrap();
    })
    .await;
    let log = kept.lock().unwrap().join("\n");
    assert!(log.contains("C: AUTH PLAIN [redacted]"), "{log}");
    assert!(log.contains("C: PASS [redacted]"), "{log}");
    assert!(log.contains("S: -ERR [redacted] is wrong"), "{log}");
    assert!(!log.contains("hunter2") && !log.contains(&b64), "{log}");
}
