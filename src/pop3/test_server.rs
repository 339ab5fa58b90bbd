//! The scripted server used by the client tests: binds 127.0.0.1:0, serves one connection, and asserts the exact
//! bytes the client sent. Also a throwaway PKI made with rcgen.

use std::future::Future;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::{TlsAcceptor, TlsConnector, rustls};

use super::{Client, Options, Reply, Security};
use crate::config::AuthMethod;
use crate::secret::Secret;
use crate::tls::{TlsSettings, connector};

pub(super) const WAIT: Duration = Duration::from_secs(5);

/// The server side of a scripted session.
pub(super) struct Peer<S> {
    pub(super) s: S,
    pub(super) buf: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Peer<S> {
    pub(super) fn new(s: S) -> Peer<S> {
        Peer { s, buf: Vec::new() }
    }

    pub(super) async fn send(&mut self, data: &[u8]) {
        self.s.write_all(data).await.expect("server write");
        self.s.flush().await.expect("server flush");
    }

    /// One command line from the client, CRLF included.
    pub(super) async fn line(&mut self) -> Vec<u8> {
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
    pub(super) async fn expect(&mut self, want: &str) {
        let got = self.line().await;
        assert_eq!(String::from_utf8_lossy(&got), format!("{want}\r\n"));
    }

    /// Assert the client sends nothing more for a while (lock-step check).
    pub(super) async fn quiet(&mut self) {
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
    pub(super) async fn eof(&mut self) {
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
    pub(super) async fn hello(&mut self, greeting: &str, caps: &str) {
        self.send(format!("{greeting}\r\n").as_bytes()).await;
        self.expect("CAPA").await;
        self.send(format!("+OK\r\n{caps}.\r\n").as_bytes()).await;
    }
}

/// Start a one-connection server running `script`; returns its port and the task (await it to surface panics).
pub(super) async fn serve<F, Fut>(script: F) -> (u16, JoinHandle<()>)
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
pub(super) struct Pki {
    pub(super) ca_file: tempfile::NamedTempFile,
    pub(super) cert: CertificateDer<'static>,
    pub(super) key: Vec<u8>,
}

pub(super) fn pki(names: &[&str]) -> Pki {
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
    pub(super) fn connector(&self) -> TlsConnector {
        connector(&TlsSettings {
            ca_file: Some(self.ca_file.path().to_owned()),
            cert_sha256: None,
        })
        .unwrap()
    }

    pub(super) fn acceptor(&self) -> TlsAcceptor {
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

pub(super) fn opts() -> Options {
    Options {
        timeout: Duration::from_secs(5),
        max_line: 64 * 1024,
        max_message: 1 << 20,
        secrets: crate::untrusted::Secrets::new(),
    }
}

/// A plain-TCP session for tests that don't use TLS (the connector is never used).
pub(super) async fn plain(port: u16) -> Client {
    let conn = pki(&["127.0.0.1"]).connector();
    Client::connect("127.0.0.1", port, Security::None, &conn, opts())
        .await
        .expect("connect")
}

pub(super) fn pw(s: &str) -> Secret {
    Secret::new(s)
}

/// Run a test body with an overall wall-clock bound.
pub(super) async fn bounded<F: Future<Output = ()>>(f: F) {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("test hung");
}

/// An implicit-TLS server that greets and answers CAPA.
pub(super) async fn tls_server(
    acceptor: TlsAcceptor,
    expect_handshake: bool,
) -> (u16, JoinHandle<()>) {
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

/// A logged-in plain session's server side: greeting, CAPA with `caps`, USER/PASS.
pub(super) async fn logged_in<S: AsyncRead + AsyncWrite + Unpin>(p: &mut Peer<S>, caps: &str) {
    p.hello("+OK ready", caps).await;
    p.expect("USER u").await;
    p.send(b"+OK\r\n").await;
    p.expect("PASS p").await;
    p.send(b"+OK\r\n").await;
}

pub(super) async fn login(c: &mut Client) {
    c.login("u", &pw("p"), AuthMethod::User, true)
        .await
        .unwrap();
}

pub(super) fn retr_ok(reply: Reply) -> (u32, Vec<u8>) {
    match reply {
        Reply::Retr {
            n,
            result: Ok(body),
            ..
        } => (n, body),
        other => panic!("{other:?}"),
    }
}
