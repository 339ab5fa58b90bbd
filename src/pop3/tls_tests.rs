//! Client tests for implicit TLS and STLS against scripted servers with an rcgen PKI.

use std::time::Duration;

use sha2::Digest as _;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_rustls::rustls;

use super::test_server::*;
use super::*;
use crate::config::AuthMethod;
use crate::error::ExitClass;
use crate::tls::{TlsSettings, connector};

use Step::{C, Drain, Eof, S};

#[tokio::test]
async fn t01_t02_t04_p13_t14_tls_not_reached_refuses_the_session() {
    check_refused(vec![
        Refused {
            id: "t01_stls_not_offered_sends_nothing_after_capa",
            security: Security::Stls,
            script: greet(
                b"+OK ready\r\n",
                b"+OK\r\nUSER\r\nSASL PLAIN\r\n.\r\n",
                &[Eof],
            ),
            want: want!(Security, StlsNotOffered),
        },
        Refused {
            id: "t02_stls_refused_is_a_security_error",
            security: Security::Stls,
            script: greet(
                b"+OK ready\r\n",
                b"+OK\r\nSTLS\r\nUSER\r\n.\r\n",
                &[C("STLS"), S(b"-ERR [SYS/PERM] no tls today\r\n"), Eof],
            ),
            want: want!(Security, StlsRefused { .. }),
        },
        Refused {
            id: "t04_data_injected_after_stls_reply_is_refused",
            security: Security::Stls,
            script: greet(
                b"+OK ready\r\n",
                b"+OK\r\nSTLS\r\nUSER\r\n.\r\n",
                &[
                    C("STLS"),
                    S(b"+OK Begin TLS\r\n+OK\r\nSASL PLAIN\r\n.\r\n"),
                    // No ClientHello, no command: the client just goes away.
                    Eof,
                ],
            ),
            want: want!(Protocol, Protocol { .. }),
        },
        Refused {
            id: "p13_capa_refused_with_stls_required_is_not_offered",
            security: Security::Stls,
            script: greet(b"+OK ready\r\n", b"-ERR unknown command\r\n", &[Eof]),
            want: want!(Security, StlsNotOffered),
        },
        // Issue 9: plain POP3 where TLS was configured is a configuration mismatch refused by policy (77), told
        // apart from a server that breaks TLS by its first bytes. The client's ClientHello is drained.
        Refused {
            id: "t14_plaintext_server_on_implicit_port_is_not_tls",
            security: Security::Implicit,
            script: vec![S(b"+OK plaintext pop3 ready\r\n"), Drain],
            want: want!(Security, PlainPop3),
        },
        Refused {
            id: "t14_non_pop3_bytes_on_an_implicit_port_stay_a_protocol_error",
            security: Security::Implicit,
            script: vec![S(b"* OK IMAP4rev1 ready\r\n"), Drain],
            want: want!(Protocol, Tls(_)),
        },
    ])
    .await;
}

#[tokio::test]
async fn t05_t06_stls_happy_path_rereads_capabilities() {
    let pki = pki(&["127.0.0.1", "localhost"]);
    let acceptor = pki.acceptor();
    let script = move |mut p: Peer<_>| async move {
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
    };
    session(
        script,
        Dial::via(Security::Stls, pki.connector()),
        async |mut c| {
            assert!(c.is_encrypted());
            assert!(!c.capabilities().stls && c.pipelining() && c.capabilities().uidl);
            c.login("alice", &pw("s3cret"), AuthMethod::Auto, false)
                .await
                .unwrap();
            c.quit().await.unwrap();
        },
    )
    .await;
}

/// Whom the client trusts in an implicit-TLS case.
#[derive(Clone, Copy, PartialEq)]
enum Trust {
    /// The CA that signed the server's certificate.
    ItsCa,
    /// Another CA.
    AnotherCa,
    /// The certificate's SHA-256 pin (no CA).
    Pin,
    /// A pin one bit off.
    WrongPin,
}

/// An implicit-TLS case: the names of the server's certificate, whom the client trusts, the error (`None`: the
/// session is established).
struct Implicit {
    id: &'static str,
    names: &'static [&'static str],
    trust: Trust,
    want: Option<Want>,
}

#[tokio::test]
async fn t08_t10_implicit_tls_trusts_its_ca_or_its_pin_only() {
    use Trust::*;
    let cases = [
        Implicit {
            id: "implicit_tls_with_ca_file",
            names: &["127.0.0.1"],
            trust: ItsCa,
            want: None,
        },
        Implicit {
            id: "t08_certificate_for_another_name_is_a_security_error",
            names: &["other.test"],
            trust: ItsCa,
            want: Some(want!(Security, Tls(rustls::Error::InvalidCertificate(_)))),
        },
        Implicit {
            id: "t10_untrusted_ca_is_a_security_error",
            names: &["127.0.0.1"],
            trust: AnotherCa,
            want: Some(want!(Security, Tls(_))),
        },
        // The pin trusts exactly this certificate, whatever its name or issuer.
        Implicit {
            id: "t10_sha256_pin_matches",
            names: &["other.test"],
            trust: Pin,
            want: None,
        },
        Implicit {
            id: "t10_sha256_pin_mismatches",
            names: &["other.test"],
            trust: WrongPin,
            want: Some(want!(Security, Tls(_))),
        },
    ];
    for case in cases {
        let server = pki(case.names);
        let conn = match case.trust {
            ItsCa => server.connector(),
            AnotherCa => pki(&["127.0.0.1"]).connector(),
            Pin | WrongPin => {
                let mut pin: [u8; 32] = sha2::Sha256::digest(server.leaf.cert_der.as_ref()).into();
                if case.trust == WrongPin {
                    pin[0] ^= 1;
                }
                let pinned = TlsSettings {
                    ca_file: None,
                    cert_sha256: Some(pin),
                };
                connector(&pinned).unwrap()
            }
        };
        let acceptor = server.acceptor();
        let dial = Dial::via(Security::Implicit, conn).case(case.id);
        match case.want {
            None => {
                let script = move |p| tls_hello(acceptor, true, p);
                session(script, dial, async |c| {
                    assert!(c.is_encrypted() && c.capabilities().user, "{}", case.id);
                    c.quit().await.unwrap();
                })
                .await
            }
            Some(want) => {
                let e = refusal(move |p| tls_hello(acceptor, false, p), dial).await;
                want.check(case.id, &e);
            }
        }
    }
}

#[tokio::test]
async fn p20_tls_truncation_without_close_notify_is_tempfail() {
    let pki = pki(&["127.0.0.1"]);
    let acceptor = pki.acceptor();
    let script = move |p: Peer<_>| async move {
        let tls = acceptor.accept(p.s).await.unwrap();
        let mut p = Peer::new(tls);
        p.play(logged_in(b"+OK\r\nUSER\r\n.\r\n", &[])).await;
        p.expect("RETR 1").await;
        p.send(b"+OK\r\npartial\r\n").await;
        // Close the TCP socket under TLS without close_notify.
        let (tcp, _) = p.s.into_inner();
        drop(tcp);
    };
    session(
        script,
        Dial::via(Security::Implicit, pki.connector()),
        async |mut c| {
            login(&mut c).await;
            c.send_retr(1).await.unwrap();
            let e = c.next_reply().await.unwrap_err();
            assert!(
                matches!(e, Pop3Error::Io { .. } | Pop3Error::Closed { .. }),
                "{e:?}"
            );
            assert_eq!(e.class(), ExitClass::TempFail);
        },
    )
    .await;
}

#[tokio::test]
async fn t07_tls_handshake_stall_times_out() {
    let script = |mut p: Peer<TcpStream>| async move {
        // Accept the TCP connection, then never answer the ClientHello.
        let mut hello = [0u8; 16];
        let n = p.s.read(&mut hello).await.unwrap();
        assert_eq!(
            hello[0], 0x16,
            "first byte is a tls handshake record ({n} bytes)"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let dial = Dial::new(Security::Implicit).with(|o| o.timeout = Duration::from_millis(300));
    let t0 = std::time::Instant::now();
    // The time is taken when `connect` returns, not after the server's sleep.
    let (e, took) = scripted(script, dial, async |r: Result<Client, Pop3Error>| {
        (r.err().expect("the session was established"), t0.elapsed())
    })
    .await;
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
    assert!(took < Duration::from_secs(2), "{took:?}");
}
