//! The scripted server used by the client tests: binds 127.0.0.1:0, serves one connection, and asserts the exact
//! bytes the client sent, and the test PKI wrapped for these tests.

use std::future::Future;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinHandle;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::{Client, Options, Reply, Security};
use crate::config::AuthMethod;
use crate::secret::Secret;
use crate::test_pki::{Leaf, TestPki, Validity};
use crate::tls::{TlsSettings, connector};

pub(super) use crate::test_peer::{Peer, WAIT, serve};

/// The POP3 opening every script starts with.
pub(super) trait Hello {
    /// Greeting and a CAPA exchange.
    async fn hello(&mut self, greeting: &str, caps: &str);
}

impl<S: AsyncRead + AsyncWrite + Unpin> Hello for Peer<S> {
    async fn hello(&mut self, greeting: &str, caps: &str) {
        self.send(format!("{greeting}\r\n").as_bytes()).await;
        self.expect("CAPA").await;
        self.send(format!("+OK\r\n{caps}.\r\n").as_bytes()).await;
    }
}

/// A test CA (the shared test PKI, `tests/support/pki.rs`) and a server certificate for `names`, signed by it.
pub(super) struct Pki {
    ca: TestPki,
    pub(super) leaf: Leaf,
}

pub(super) fn pki(names: &[&str]) -> Pki {
    let ca = TestPki::new();
    let leaf = ca.issue(names, Validity::Current);
    Pki { ca, leaf }
}

impl Pki {
    pub(super) fn connector(&self) -> TlsConnector {
        connector(&TlsSettings {
            ca_file: Some(self.ca.ca_path.clone()),
            cert_sha256: None,
        })
        .unwrap()
    }

    pub(super) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.leaf.server_config())
    }
}

pub(super) fn opts() -> Options {
    Options {
        timeout: Duration::from_secs(5),
        max_line: 64 * 1024,
        max_message: 1 << 20,
        secrets: crate::untrusted::Secrets::new(),
        trace: crate::inspect::trace::Trace::log(),
    }
}

/// The error of a session the server must refuse (or that must refuse the server) before it is established.
pub(super) async fn refused(port: u16, security: Security) -> super::Pop3Error {
    let conn = pki(&["127.0.0.1"]).connector();
    match Client::connect("127.0.0.1", port, security, &conn, opts()).await {
        Ok(_) => panic!("the session was established"),
        Err(e) => e,
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
