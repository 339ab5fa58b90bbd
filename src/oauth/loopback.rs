//! The redirect end of the authorization code flow (RFC 8252 §7.3): a one-shot HTTP listener on 127.0.0.1 at a
//! port the system picks, and, for a headless machine where the browser runs elsewhere, the redirected URL
//! pasted on standard input. Whichever brings a code with the right `state` first wins.

use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::OAuthError;
use super::pkce::parse_redirect;
use crate::secret::Secret;

/// Largest request head read from the browser.
const MAX_REQUEST: usize = 16 * 1024;
/// How long one browser connection may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The listener and the `redirect_uri` that names it.
pub struct Loopback {
    listener: TcpListener,
    pub redirect_uri: String,
}

impl Loopback {
    /// Listen on 127.0.0.1 (the IP literal, not `localhost`: RFC 8252 §8.3) at a free port.
    ///
    /// # Errors
    /// [`OAuthError::Flow`] when no port can be bound.
    pub async fn bind() -> Result<Loopback, OAuthError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| flow(&format!("cannot listen on 127.0.0.1: {e}")))?;
        let port = listener
            .local_addr()
            .map_err(|e| flow(&format!("cannot listen on 127.0.0.1: {e}")))?
            .port();
        Ok(Loopback {
            listener,
            redirect_uri: format!("http://127.0.0.1:{port}/"),
        })
    }

    /// Wait for the code: from the browser's redirect to the listener, or from a line on `paste`. A pasted line
    /// that is not the right URL is reported on stderr and waiting goes on; so does a browser request without
    /// the right `state` (a favicon, a stale tab).
    ///
    /// # Errors
    /// [`OAuthError::Flow`] when the provider refused (an `error` in the redirect) or `limit` passed.
    pub async fn wait(
        self,
        state: &str,
        paste: impl AsyncBufRead + Unpin,
        limit: Duration,
    ) -> Result<Secret, OAuthError> {
        let browser = async {
            loop {
                let Ok((conn, _)) = self.listener.accept().await else {
                    continue;
                };
                if let Ok(Some(r)) =
                    tokio::time::timeout(REQUEST_TIMEOUT, answer(conn, state)).await
                {
                    return r;
                }
            }
        };
        let pasted = async {
            let mut lines = paste.lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.trim().is_empty() {
                    continue;
                }
                match parse_redirect(&line, state) {
                    Ok(code) => return Ok(code),
                    Err(e) => eprintln!("popfetch: {e}; paste the whole URL from the address bar"),
                }
            }
            // End of input (no terminal): only the browser can bring the code now.
            std::future::pending().await
        };
        tokio::select! {
            r = browser => r,
            r = pasted => r,
            () = tokio::time::sleep(limit) => Err(flow("no redirect arrived in time; run popfetch auth again")),
        }
    }
}

/// Read one request, answer it, and say whether it ended the wait.
async fn answer(mut conn: TcpStream, state: &str) -> Option<Result<Secret, OAuthError>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST {
        let n = conn.read(&mut buf).await.ok()?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|b| *b == b'\n').next()?;
    let target = std::str::from_utf8(line)
        .ok()?
        .strip_prefix("GET ")?
        .split(' ')
        .next()?
        .to_owned();
    let result = parse_redirect(&target, state);
    let (status, text, done) = match &result {
        Ok(_) => (
            "200 OK",
            "popfetch received the authorization. You can close this page.",
            true,
        ),
        // A redirect with our state but an error is the provider's answer; anything else is noise.
        Err(_) if target.contains(&format!("state={state}")) => (
            "400 Bad Request",
            "popfetch: the authorization failed; see the terminal.",
            true,
        ),
        Err(_) => ("404 Not Found", "Not found.", false),
    };
    let page = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}\n",
        text.len() + 1
    );
    let _ = conn.write_all(page.as_bytes()).await;
    let _ = conn.shutdown().await;
    done.then_some(result)
}

fn flow(what: &str) -> OAuthError {
    OAuthError::Flow {
        what: what.to_owned(),
    }
}
