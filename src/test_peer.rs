//! The scripted peer of the in-crate client tests (POP3 and SMTP): [`serve`] binds 127.0.0.1:0 and runs a script
//! on the one connection it accepts; [`Peer`] reads the client's lines and asserts the exact bytes it sent.

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

    /// One command line from the client, CRLF included.
    pub(crate) async fn line(&mut self) -> Vec<u8> {
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
    pub(crate) async fn expect(&mut self, want: &str) {
        let got = self.line().await;
        assert_eq!(String::from_utf8_lossy(&got), format!("{want}\r\n"));
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
