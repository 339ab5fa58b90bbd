//! The scaffold of the client tests: [`session`] and [`refusal`] run a scripted server (`crate::test_peer`) on
//! 127.0.0.1:0 that asserts the exact bytes the client sent, against a client dialing it as a [`Dial`] says;
//! [`check_refused`] drives case tables; and the test PKI wrapped for these tests.

use std::future::Future;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::{Client, Options, Pop3Error, Reply, Security};
use crate::config::AuthMethod;
use crate::error::ExitClass;
use crate::secret::Secret;
use crate::test_pki::{Leaf, TestPki, Validity};
use crate::tls::{TlsSettings, connector};

pub(super) use crate::test_peer::{Peer, Step, WAIT};

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

/// How the client under test dials the scripted server: the security, the TLS connector, the options, and the
/// case id that failures name.
pub(super) struct Dial {
    security: Security,
    conn: TlsConnector,
    opts: Options,
    case: &'static str,
}

impl Dial {
    /// `security` with a connector trusting a fresh test CA (never used on plain TCP) and [`opts`].
    pub(super) fn new(security: Security) -> Dial {
        Dial::via(security, pki(&["127.0.0.1"]).connector())
    }

    /// Plain TCP.
    pub(super) fn plain() -> Dial {
        Dial::new(Security::None)
    }

    /// `security` with this connector (one trusting a given CA, or a pin).
    pub(super) fn via(security: Security, conn: TlsConnector) -> Dial {
        Dial {
            security,
            conn,
            opts: opts(),
            case: "session",
        }
    }

    /// Change the options.
    pub(super) fn with(mut self, change: impl FnOnce(&mut Options)) -> Dial {
        change(&mut self.opts);
        self
    }

    /// Name the case (of a table) in failures.
    pub(super) fn case(mut self, id: &'static str) -> Dial {
        self.case = id;
        self
    }
}

/// The one scaffold of the client tests: a server on 127.0.0.1 runs `script` on the connection it accepts, the
/// client dials it as `dial` says, and `exchange` gets the result of `Client::connect`; in the frame of
/// [`crate::test_peer::scripted`] (the server's assertions fail the test, the whole is bounded in time).
pub(super) async fn scripted<F, Fut, T>(
    script: F,
    dial: Dial,
    exchange: impl AsyncFnOnce(Result<Client, Pop3Error>) -> T,
) -> T
where
    F: FnOnce(Peer<TcpStream>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    crate::test_peer::scripted(dial.case, script, async |port| {
        let connected =
            Client::connect("127.0.0.1", port, dial.security, &dial.conn, dial.opts).await;
        exchange(connected).await
    })
    .await
}

/// [`scripted`] for a session that must be established: `exchange` gets the client.
pub(super) async fn session<F, Fut, T>(
    script: F,
    dial: Dial,
    exchange: impl AsyncFnOnce(Client) -> T,
) -> T
where
    F: FnOnce(Peer<TcpStream>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let case = dial.case;
    scripted(script, dial, async |c: Result<Client, Pop3Error>| {
        let c = c.unwrap_or_else(|e| panic!("{case}: connect: {e:?}"));
        exchange(c).await
    })
    .await
}

/// [`session`] with the server's script as data.
pub(super) async fn play<T>(
    script: Vec<Step>,
    dial: Dial,
    exchange: impl AsyncFnOnce(Client) -> T,
) -> T {
    session(move |p| p.run(script), dial, exchange).await
}

/// [`scripted`] for a session that must be refused (or must refuse the server) before it is established: the
/// error of `Client::connect`.
pub(super) async fn refusal<F, Fut>(script: F, dial: Dial) -> Pop3Error
where
    F: FnOnce(Peer<TcpStream>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let case = dial.case;
    scripted(script, dial, async |c: Result<Client, Pop3Error>| match c {
        Ok(_) => panic!("{case}: the session was established"),
        Err(e) => e,
    })
    .await
}

/// The error a case of a table expects: its variant (a `matches!`) and its exit class.
pub(super) struct Want {
    pub(super) is: fn(&Pop3Error) -> bool,
    pub(super) class: ExitClass,
}

impl Want {
    /// Assert `e` is what case `id` wants.
    pub(super) fn check(&self, id: &str, e: &Pop3Error) {
        assert!((self.is)(e), "{id}: {e:?}");
        assert_eq!(e.class(), self.class, "{id}: {e:?}");
    }
}

/// A [`Want`]: `want!(Class, Variant..)` is an error of class `ExitClass::Class` matching `Pop3Error::Variant..`.
macro_rules! want {
    ($class:ident, $($variant:tt)+) => {
        Want {
            is: |e| matches!(e, Pop3Error::$($variant)+),
            class: ExitClass::$class,
        }
    };
}
pub(super) use want;

/// A session refused before it is established: the server's script, the client's security, the error.
pub(super) struct Refused {
    pub(super) id: &'static str,
    pub(super) security: Security,
    pub(super) script: Vec<Step>,
    pub(super) want: Want,
}

/// The script steps of a `greeting`, of `capa` (the reply to CAPA), then of `then` (all bytes as sent).
pub(super) fn greet(greeting: &'static [u8], capa: &'static [u8], then: &[Step]) -> Vec<Step> {
    [&[Step::S(greeting), Step::C("CAPA"), Step::S(capa)], then].concat()
}

/// The driver of a table of [`Refused`] cases; a failure names the case.
pub(super) async fn check_refused(cases: Vec<Refused>) {
    for case in cases {
        let e = refusal(
            move |p| p.run(case.script),
            Dial::new(case.security).case(case.id),
        )
        .await;
        case.want.check(case.id, &e);
        // Server text is shown escaped: no terminal control sequence reaches the user.
        assert!(!e.to_string().contains('\x1b'), "{}: {e}", case.id);
    }
}

/// The server side of an implicit-TLS session: the handshake (which must work or fail as `expect_handshake`
/// says), then a greeting, CAPA and QUIT.
pub(super) async fn tls_hello(acceptor: TlsAcceptor, expect_handshake: bool, p: Peer<TcpStream>) {
    match tokio::time::timeout(WAIT, acceptor.accept(p.s))
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
}

/// The script steps of a plain session's login (greeting, CAPA answered with `capa`, `USER u`, `PASS p`), then
/// of `then`.
pub(super) fn logged_in(capa: &'static [u8], then: &[Step]) -> Vec<Step> {
    let login = [
        Step::C("USER u"),
        Step::S(b"+OK\r\n"),
        Step::C("PASS p"),
        Step::S(b"+OK\r\n"),
    ];
    greet(b"+OK ready\r\n", capa, &[&login, then].concat())
}

pub(super) fn pw(s: &str) -> Secret {
    Secret::new(s)
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
