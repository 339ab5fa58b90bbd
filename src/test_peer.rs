//! The scripted peer of the in-crate client tests (POP3 and SMTP): [`serve`] binds 127.0.0.1:0 and runs a script
//! on the one connection it accepts; [`Peer`] reads the client's lines and asserts the exact bytes it sent; a
//! [`Step`] list is such a script written as data, for case tables; [`scripted`] frames a whole test session.

use std::future::Future;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub(crate) const WAIT: Duration = Duration::from_secs(5);

/// The server side of a scripted session.
pub(crate) struct Peer<S> {
    pub(crate) s: S,
    pub(crate) buf: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Peer<S> {
    pub(crate) fn new(s: S) -> Peer<S> {
        Peer { s, buf: Vec::new() }
    }

    pub(crate) async fn send(&mut self, data: &[u8]) {
        self.s.write_all(data).await.expect("server write");
        self.s.flush().await.expect("server flush");
    }

    /// Read what the client sends next into the buffer, within [`WAIT`]; it must not close.
    async fn fill(&mut self) {
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

    /// One command line from the client, CRLF included.
    pub(crate) async fn line(&mut self) -> Vec<u8> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                return self.buf.drain(..=i).collect();
            }
            self.fill().await;
        }
    }

    /// Assert the next command is exactly `want` CRLF.
    pub(crate) async fn expect(&mut self, want: &str) {
        let got = self.line().await;
        assert_eq!(String::from_utf8_lossy(&got), format!("{want}\r\n"));
    }

    /// Assert the client's next bytes are exactly `want`: message content, which need not be UTF-8.
    pub(crate) async fn expect_bytes(&mut self, want: &[u8]) {
        while self.buf.len() < want.len() {
            self.fill().await;
        }
        let got: Vec<u8> = self.buf.drain(..want.len()).collect();
        assert_eq!(
            got.escape_ascii().to_string(),
            want.escape_ascii().to_string()
        );
    }

    /// Assert the client sends nothing more for a while (lock-step check).
    pub(crate) async fn quiet(&mut self) {
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
    pub(crate) async fn eof(&mut self) {
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
}

/// One step of a server script written as data (a row of a case table), named as in a trace transcript;
/// [`Peer::play`] and [`Peer::run`] run a list of them.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step {
    /// `S:` the server sends these bytes.
    S(&'static [u8]),
    /// `C:` assert the client's next command is exactly this line ([`Peer::expect`]).
    C(&'static str),
    /// `C:` assert the client's next bytes are exactly these ([`Peer::expect_bytes`]).
    Cb(&'static [u8]),
    /// Assert the client closes without sending anything else ([`Peer::eof`]).
    Eof,
    /// Read and ignore whatever the client sends until it closes (a TLS ClientHello, say), within [`WAIT`].
    Drain,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Peer<S> {
    /// The whole server side: run `script`, then close the connection.
    pub(crate) async fn run(mut self, script: impl IntoIterator<Item = Step>) {
        self.play(script).await;
    }

    /// Run `script` step by step.
    pub(crate) async fn play(&mut self, script: impl IntoIterator<Item = Step>) {
        for step in script {
            match step {
                Step::S(data) => self.send(data).await,
                Step::C(line) => self.expect(line).await,
                Step::Cb(bytes) => self.expect_bytes(bytes).await,
                Step::Eof => self.eof().await,
                Step::Drain => {
                    let _ = tokio::time::timeout(WAIT, self.s.read_to_end(&mut Vec::new())).await;
                }
            }
        }
    }
}

/// Start a one-connection server running `script`; returns its port and the task (await it to surface panics).
pub(crate) async fn serve<F, Fut, T>(script: F) -> (u16, JoinHandle<T>)
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (s, _) = tokio::time::timeout(WAIT, l.accept())
            .await
            .expect("no client")
            .unwrap();
        script(s).await
    });
    (port, task)
}

/// The frame of a scripted session: a server on 127.0.0.1 runs `script` on the connection it accepts and `client`
/// gets its port. The server task is awaited last (after `client` dropped its end), so its assertions on the exact
/// bytes the client sent fail the test, named by `case`; the whole is bounded in time.
pub(crate) async fn scripted<F, Fut, T>(
    case: &str,
    script: F,
    client: impl AsyncFnOnce(u16) -> T,
) -> T
where
    F: FnOnce(Peer<TcpStream>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let run = async {
        let (port, server) = serve(move |s| script(Peer::new(s))).await;
        let out = client(port).await;
        if let Err(e) = server.await {
            panic!("{case}: the server script failed: {e}");
        }
        out
    };
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .unwrap_or_else(|_| panic!("{case}: test hung"))
}
