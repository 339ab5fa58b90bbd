//! Client tests against scripted servers on 127.0.0.1:0 that assert the exact bytes the client sent.

use std::future::Future;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::Digest as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::{TlsAcceptor, TlsConnector, rustls};

use super::*;
use crate::error::ExitClass;
use crate::pop3::RespCode;
use crate::tls::{TlsSettings, connector};

const WAIT: Duration = Duration::from_secs(5);

/// The server side of a scripted session.
struct Peer<S> {
    s: S,
    buf: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Peer<S> {
    fn new(s: S) -> Peer<S> {
        Peer { s, buf: Vec::new() }
    }

    async fn send(&mut self, data: &[u8]) {
        self.s.write_all(data).await.expect("server write");
        self.s.flush().await.expect("server flush");
    }

    /// One command line from the client, CRLF included.
    async fn line(&mut self) -> Vec<u8> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                return self.buf.drain(..=i).collect();
            }
            let mut tmp = [0u8; 4096];
            let n = tokio::time::timeout(WAIT, self.s.read(&mut tmp))
                .await
                .expect("client silent")
                .expect("read");
            assert!(
                n > 0,
                "client closed; had {:?}",
                String::from_utf8_lossy(&self.buf)
            );
            self.buf.extend_from_slice(&tmp[..n]);
        }
    }

    /// Assert the next command is exactly `want` CRLF.
    async fn expect(&mut self, want: &str) {
        let got = self.line().await;
        assert_eq!(String::from_utf8_lossy(&got), format!("{want}\r\n"));
    }

    /// Assert the client sends nothing more for a while (lock-step check).
    async fn quiet(&mut self) {
        assert!(
            self.buf.is_empty(),
            "client sent ahead: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        let mut tmp = [0u8; 64];
        if let Ok(r) = tokio::time::timeout(Duration::from_millis(150), self.s.read(&mut tmp)).await
        {
            let n = r.expect("read");
            panic!(
                "client sent ahead: {:?}",
                String::from_utf8_lossy(&tmp[..n])
            );
        }
    }

    /// Assert the client closes the connection without sending anything else.
    async fn eof(&mut self) {
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(WAIT, self.s.read_to_end(&mut rest))
            .await
            .expect("client did not close");
        self.buf.extend_from_slice(&rest);
        assert!(
            self.buf.is_empty(),
            "unexpected bytes: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
    }

    /// Greeting and a CAPA exchange.
    async fn hello(&mut self, greeting: &str, caps: &str) {
        self.send(format!("{greeting}\r\n").as_bytes()).await;
        self.expect("CAPA").await;
        self.send(format!("+OK\r\n{caps}.\r\n").as_bytes()).await;
    }
}

/// Start a one-connection server running `script`; returns its port and the task (await it to surface panics).
async fn serve<F, Fut>(script: F) -> (u16, JoinHandle<()>)
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (s, _) = tokio::time::timeout(WAIT, l.accept())
            .await
            .expect("no client")
            .unwrap();
        script(s).await;
    });
    (port, task)
}

/// A test CA and a server certificate for `names`, signed by it.
struct Pki {
    ca_file: tempfile::NamedTempFile,
    cert: CertificateDer<'static>,
    key: Vec<u8>,
}

fn pki(names: &[&str]) -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "popfetch test ca");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let cert = CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let mut ca_file = tempfile::NamedTempFile::new().unwrap();
    ca_file.write_all(ca.pem().as_bytes()).unwrap();
    Pki {
        ca_file,
        cert: cert.der().clone(),
        key: key.serialize_der(),
    }
}

impl Pki {
    fn connector(&self) -> TlsConnector {
        connector(&TlsSettings {
            ca_file: Some(self.ca_file.path().to_owned()),
            cert_sha256: None,
        })
        .unwrap()
    }

    fn acceptor(&self) -> TlsAcceptor {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()));
        let cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![self.cert.clone()], key)
            .unwrap();
        TlsAcceptor::from(Arc::new(cfg))
    }
}

fn opts() -> Options {
    Options {
        timeout: Duration::from_secs(5),
        max_line: 64 * 1024,
        max_message: 1 << 20,
    }
}

/// A plain-TCP session for tests that don't use TLS (the connector is never used).
async fn plain(port: u16) -> Client {
    let conn = pki(&["127.0.0.1"]).connector();
    Client::connect("127.0.0.1", port, Security::None, &conn, opts())
        .await
        .expect("connect")
}

fn pw(s: &str) -> Secret {
    Secret::new(s)
}

/// Run a test body with an overall wall-clock bound.
async fn bounded<F: Future<Output = ()>>(f: F) {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("test hung");
}

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
        let conn = pki(&["127.0.0.1"]).connector();
        let e = Client::connect("127.0.0.1", port, Security::None, &conn, opts())
            .await
            .err()
            .unwrap();
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
        let conn = pki(&["127.0.0.1"]).connector();
        let e = Client::connect("127.0.0.1", port, Security::None, &conn, opts())
            .await
            .err()
            .unwrap();
        assert!(matches!(e, Pop3Error::Codec { .. }), "{e:?}");
        assert_eq!(e.class(), ExitClass::Protocol);
        server.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn t01_stls_not_offered_sends_nothing_after_capa() {
    bounded(async {
        let (port, server) = serve(|s| async move {
            let mut p = Peer::new(s);
            p.hello("+OK ready", "USER\r\nSASL PLAIN\r\n").await;
            p.eof().await;
        })
        .await;
        let conn = pki(&["127.0.0.1"]).connector();
        let e = Client::connect("127.0.0.1", port, Security::Stls, &conn, opts())
            .await
            .err()
            .unwrap();
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
        let conn = pki(&["127.0.0.1"]).connector();
        let e = Client::connect("127.0.0.1", port, Security::Stls, &conn, opts())
            .await
            .err()
            .unwrap();
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
        let conn = pki(&["127.0.0.1"]).connector();
        let e = Client::connect("127.0.0.1", port, Security::Stls, &conn, opts())
            .await
            .err()
            .unwrap();
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

/// An implicit-TLS server that greets and answers CAPA.
async fn tls_server(acceptor: TlsAcceptor, expect_handshake: bool) -> (u16, JoinHandle<()>) {
    serve(move |s| async move {
        match tokio::time::timeout(WAIT, acceptor.accept(s))
            .await
            .unwrap()
        {
            Ok(tls) => {
                assert!(expect_handshake, "handshake should have failed");
                let mut p = Peer::new(tls);
                p.hello("+OK ready", "USER\r\n").await;
                p.expect("QUIT").await;
                p.send(b"+OK\r\n").await;
            }
            Err(_) => assert!(!expect_handshake, "handshake should have worked"),
        }
    })
    .await
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
    let pin: [u8; 32] = sha2::Sha256::digest(pki.cert.as_ref()).into();
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

#[tokio::test]
async fn t14_plaintext_server_on_implicit_port_is_not_tls() {
    let pki = pki(&["127.0.0.1"]);
    bounded(async {
        let (port, server) = serve(|s| async move {
            let mut p = Peer::new(s);
            p.send(b"+OK plaintext pop3 ready\r\n").await;
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
        assert_eq!(e.class(), ExitClass::Protocol, "{e:?}");
        server.await.unwrap();
    })
    .await;
}

/// A logged-in plain session's server side: greeting, CAPA with `caps`, USER/PASS.
async fn logged_in<S: AsyncRead + AsyncWrite + Unpin>(p: &mut Peer<S>, caps: &str) {
    p.hello("+OK ready", caps).await;
    p.expect("USER u").await;
    p.send(b"+OK\r\n").await;
    p.expect("PASS p").await;
    p.send(b"+OK\r\n").await;
}

async fn login(c: &mut Client) {
    c.login("u", &pw("p"), AuthMethod::User, true)
        .await
        .unwrap();
}

fn retr_ok(reply: Reply) -> (u32, Vec<u8>) {
    match reply {
        Reply::Retr {
            n,
            result: Ok(body),
        } => (n, body),
        other => panic!("{other:?}"),
    }
}

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
        let conn = pki(&["127.0.0.1"]).connector();
        let e = Client::connect("127.0.0.1", port, Security::Stls, &conn, opts())
            .await
            .err()
            .unwrap();
        assert!(matches!(e, Pop3Error::StlsNotOffered), "{e:?}");
        server.await.unwrap();
    })
    .await;
}
