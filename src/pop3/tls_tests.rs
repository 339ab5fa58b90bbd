//! Client tests for implicit TLS and STLS against scripted servers with an rcgen PKI.

use std::time::Duration;

use sha2::Digest as _;
use tokio::io::AsyncReadExt;
use tokio_rustls::rustls;

use super::test_server::*;
use super::*;
use crate::config::AuthMethod;
use crate::error::ExitClass;
use crate::tls::{TlsSettings, connector};

#[tokio::test]
async fn t01_stls_not_offered_sends_nothing_after_capa() {
    bounded(async {
        let (port, server) = serve(|s| async move {
            let mut p = Peer::new(s);
            p.hello("+OK ready", "USER\r\nSASL PLAIN\r\n").await;
            p.eof().await;
        })
        .await;
        let e = refused(port, Security::Stls).await;
        assert!(matches!(e, Pop3Error::StlsNotOffered), "{e:?}");
        assert_eq!(e.class(), ExitClass::Security);
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn t02_stls_refused_is_a_security_error() {
    bounded(async {
        let (port, server) = serve(|s| async move {
            let mut p = Peer::new(s);
            p.hello("+OK ready", "STLS\r\nUSER\r\n").await;
            p.expect("STLS").await;
            p.send(b"-ERR [SYS/PERM] no tls today\r\n").await;
            p.eof().await;
        })
        .await;
        let e = refused(port, Security::Stls).await;
        assert!(matches!(e, Pop3Error::StlsRefused { .. }), "{e:?}");
        assert_eq!(e.class(), ExitClass::Security);
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn t04_data_injected_after_stls_reply_is_refused() {
    bounded(async {
        let (port, server) = serve(|s| async move {
            let mut p = Peer::new(s);
            p.hello("+OK ready", "STLS\r\nUSER\r\n").await;
            p.expect("STLS").await;
            p.send(b"+OK Begin TLS\r\n+OK\r\nSASL PLAIN\r\n.\r\n").await;
            // No ClientHello, no command: the client just goes away.
            p.eof().await;
        })
        .await;
        let e = refused(port, Security::Stls).await;
        assert!(matches!(e, Pop3Error::Protocol { .. }), "{e:?}");
        assert_eq!(e.class(), ExitClass::Protocol);
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn t05_t06_stls_happy_path_rereads_capabilities() {
    let pki = pki(&["127.0.0.1", "localhost"]);
    let acceptor = pki.acceptor();
    bounded(async {
        let (port, server) = serve(move |s| async move {
            let mut p = Peer::new(s);
            // Pre-TLS: no SASL at all, so choosing AUTH PLAIN below proves the post-TLS list was used.
            p.hello("+OK ready", "STLS\r\nUSER\r\n").await;
            p.expect("STLS").await;
            p.send(b"+OK Begin TLS\r\n").await;
            // T-06: nothing between STLS and the handshake.
            assert!(p.buf.is_empty());
            let tls = tokio::time::timeout(WAIT, acceptor.accept(p.s))
                .await
                .unwrap()
                .expect("handshake");
            let mut p = Peer::new(tls);
            p.expect("CAPA").await;
            p.send(b"+OK\r\nUSER\r\nSASL PLAIN\r\nPIPELINING\r\nUIDL\r\n.\r\n")
                .await;
            p.expect("AUTH PLAIN AGFsaWNlAHMzY3JldA==").await;
            p.send(b"+OK\r\n").await;
            p.expect("QUIT").await;
            p.send(b"+OK\r\n").await;
        })
        .await;
        let mut c = Client::connect("127.0.0.1", port, Security::Stls, &pki.connector(), opts())
            .await
            .unwrap();
        assert!(c.is_encrypted());
        assert!(!c.capabilities().stls && c.pipelining() && c.capabilities().uidl);
        c.login("alice", &pw("s3cret"), AuthMethod::Auto, false)
            .await
            .unwrap();
        c.quit().await.unwrap();
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn implicit_tls_with_ca_file() {
    let pki = pki(&["127.0.0.1"]);
    bounded(async {
        let (port, server) = tls_server(pki.acceptor(), true).await;
        let c = Client::connect(
            "127.0.0.1",
            port,
            Security::Implicit,
            &pki.connector(),
            opts(),
        )
        .await
        .unwrap();
        assert!(c.is_encrypted() && c.capabilities().user);
        c.quit().await.unwrap();
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn t08_certificate_for_another_name_is_a_security_error() {
    let pki = pki(&["other.test"]);
    bounded(async {
        let (port, server) = tls_server(pki.acceptor(), false).await;
        let e = Client::connect(
            "127.0.0.1",
            port,
            Security::Implicit,
            &pki.connector(),
            opts(),
        )
        .await
        .err()
        .unwrap();
        assert!(
            matches!(e, Pop3Error::Tls(rustls::Error::InvalidCertificate(_))),
            "{e:?}"
        );
        assert_eq!(e.class(), ExitClass::Security);
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn t10_untrusted_ca_is_a_security_error() {
    let server_pki = pki(&["127.0.0.1"]);
    let other = pki(&["127.0.0.1"]);
    bounded(async {
        let (port, server) = tls_server(server_pki.acceptor(), false).await;
        let e = Client::connect(
            "127.0.0.1",
            port,
            Security::Implicit,
            &other.connector(),
            opts(),
        )
        .await
        .err()
        .unwrap();
        assert_eq!(e.class(), ExitClass::Security, "{e:?}");
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn t10_sha256_pin_matches_and_mismatches() {
    // The pin trusts exactly this certificate, whatever its name or issuer.
    let pki = pki(&["other.test"]);
    let pin: [u8; 32] = sha2::Sha256::digest(pki.leaf.cert_der.as_ref()).into();
    bounded(async {
        let (port, server) = tls_server(pki.acceptor(), true).await;
        let conn = connector(&TlsSettings {
            ca_file: None,
            cert_sha256: Some(pin),
        })
        .unwrap();
        let c = Client::connect("127.0.0.1", port, Security::Implicit, &conn, opts())
            .await
            .unwrap();
        c.quit().await.unwrap();
        server.await.unwrap();

        let (port, server) = tls_server(pki.acceptor(), false).await;
        let mut wrong = pin;
        wrong[0] ^= 1;
        let conn = connector(&TlsSettings {
            ca_file: None,
            cert_sha256: Some(wrong),
        })
        .unwrap();
        let e = Client::connect("127.0.0.1", port, Security::Implicit, &conn, opts())
            .await
            .err()
            .unwrap();
        assert_eq!(e.class(), ExitClass::Security, "{e:?}");
        server.await.unwrap();
    })
    .await;
}

/// Implicit TLS against a server that sends `greeting` in the clear at once: the error of `Client::connect`.
async fn implicit_tls_against_cleartext(greeting: &'static [u8]) -> Pop3Error {
    let pki = pki(&["127.0.0.1"]);
    let run = async {
        let (port, server) = serve(move |s| async move {
            let mut p = Peer::new(s);
            p.send(greeting).await;
            let _ = tokio::time::timeout(WAIT, p.s.read_to_end(&mut Vec::new())).await;
        })
        .await;
        let e = Client::connect(
            "127.0.0.1",
            port,
            Security::Implicit,
            &pki.connector(),
            opts(),
        )
        .await
        .err()
        .unwrap();
        server.await.unwrap();
        e
    };
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("test hung")
}

#[tokio::test]
async fn t14_plaintext_server_on_implicit_port_is_not_tls() {
    let e = implicit_tls_against_cleartext(b"+OK plaintext pop3 ready\r\n").await;
    // Issue 9: plain POP3 where TLS was configured is a configuration mismatch refused by policy (77), told
    // apart from a server that breaks TLS by its first bytes.
    assert!(matches!(e, Pop3Error::PlainPop3), "{e:?}");
    assert_eq!(e.class(), ExitClass::Security, "{e:?}");
}

#[tokio::test]
async fn t14_non_pop3_bytes_on_an_implicit_port_stay_a_protocol_error() {
    let e = implicit_tls_against_cleartext(b"* OK IMAP4rev1 ready\r\n").await;
    assert_eq!(e.class(), ExitClass::Protocol, "{e:?}");
}

#[tokio::test]
async fn p20_tls_truncation_without_close_notify_is_tempfail() {
    let pki = pki(&["127.0.0.1"]);
    let acceptor = pki.acceptor();
    bounded(async {
        let (port, server) = serve(move |s| async move {
            let tls = acceptor.accept(s).await.unwrap();
            let mut p = Peer::new(tls);
            logged_in(&mut p, "USER\r\n").await;
            p.expect("RETR 1").await;
            p.send(b"+OK\r\npartial\r\n").await;
            // Close the TCP socket under TLS without close_notify.
            let (tcp, _) = p.s.into_inner();
            drop(tcp);
        })
        .await;
        let mut c = Client::connect(
            "127.0.0.1",
            port,
            Security::Implicit,
            &pki.connector(),
            opts(),
        )
        .await
        .unwrap();
        login(&mut c).await;
        c.send_retr(1).await.unwrap();
        let e = c.next_reply().await.unwrap_err();
        assert!(
            matches!(e, Pop3Error::Io { .. } | Pop3Error::Closed { .. }),
            "{e:?}"
        );
        assert_eq!(e.class(), ExitClass::TempFail);
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn p13_capa_refused_with_stls_required_is_not_offered() {
    bounded(async {
        let (port, server) = serve(|s| async move {
            let mut p = Peer::new(s);
            p.send(b"+OK ready\r\n").await;
            p.expect("CAPA").await;
            p.send(b"-ERR unknown command\r\n").await;
            p.eof().await;
        })
        .await;
        let e = refused(port, Security::Stls).await;
        assert!(matches!(e, Pop3Error::StlsNotOffered), "{e:?}");
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn t07_tls_handshake_stall_times_out() {
    let pki = pki(&["127.0.0.1"]);
    bounded(async {
        let (port, server) = serve(|mut s| async move {
            // Accept the TCP connection, then never answer the ClientHello.
            let mut hello = [0u8; 16];
            let n = s.read(&mut hello).await.unwrap();
            assert_eq!(
                hello[0], 0x16,
                "first byte is a tls handshake record ({n} bytes)"
            );
            tokio::time::sleep(Duration::from_secs(2)).await;
        })
        .await;
        let o = Options {
            timeout: Duration::from_millis(300),
            ..opts()
        };
        let t0 = std::time::Instant::now();
        let e = Client::connect("127.0.0.1", port, Security::Implicit, &pki.connector(), o)
            .await
            .err()
            .unwrap();
        assert!(
            matches!(
                e,
                Pop3Error::Timeout {
                    phase: "tls handshake"
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.class(), ExitClass::TempFail);
        assert!(t0.elapsed() < Duration::from_secs(2));
        server.await.unwrap();
    })
    .await;
}
