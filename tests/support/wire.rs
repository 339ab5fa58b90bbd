//! Byte plumbing shared by the fakes: one server-side connection that starts plain or TLS and can be upgraded in
//! place (STLS), with its own read buffer and a recorder that sees every byte in both directions (the decrypted
//! plaintext once TLS is up).
//!
//! The read buffer is owned here, not by a `BufReader`, for two reasons: the lockstep check needs to see bytes the
//! client sent ahead of a reply, and the STLS upgrade must hand bytes already read (the start of a ClientHello, or
//! injected plaintext) to rustls instead of losing them (the server-side mirror of the client's STLS buffering trap,
//! RFC 2595 §4).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_rustls::rustls::{ServerConfig, ServerConnection, StreamOwned};

/// Which way a recorded chunk went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Client to fake.
    Client,
    /// Fake to client.
    Server,
}

/// Receives every chunk as it passes, so transcripts survive a connection that dies mid-way.
pub type Recorder = Box<dyn FnMut(Dir, &[u8]) + Send>;

/// Safety net so a forgotten client cannot pin a fake's thread forever.
pub const IDLE_LIMIT: Duration = Duration::from_secs(120);

enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
}

/// One accepted connection.
pub struct Wire {
    stream: Option<Stream>,
    buf: Vec<u8>,
    eof: bool,
    record: Recorder,
}

/// Why a line could not be read.
#[derive(Debug)]
pub enum LineError {
    /// The peer closed (or the fake was stopped) before a complete line.
    Eof,
    /// More than `max` bytes without a LF; the fake answers and closes.
    TooLong,
    Io(io::Error),
}

impl From<io::Error> for LineError {
    fn from(e: io::Error) -> Self {
        LineError::Io(e)
    }
}

impl Wire {
    pub fn new(tcp: TcpStream, record: Recorder) -> Wire {
        let _ = tcp.set_read_timeout(Some(IDLE_LIMIT));
        let _ = tcp.set_nodelay(true);
        Wire {
            stream: Some(Stream::Plain(tcp)),
            buf: Vec::new(),
            eof: false,
            record,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Some(Stream::Tls(_)))
    }

    /// Client bytes read from the socket but not yet consumed as a line.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Start TLS on the same socket. Bytes already buffered are handed to rustls first, so a ClientHello that
    /// arrived together with an earlier command is not lost. The handshake itself runs on the next read or write.
    pub fn upgrade(&mut self, config: Arc<ServerConfig>) -> io::Result<()> {
        let tcp = match self.stream.take() {
            Some(Stream::Plain(tcp)) => tcp,
            Some(tls @ Stream::Tls(_)) => {
                self.stream = Some(tls);
                return Err(io::Error::other("already in TLS"));
            }
            None => return Err(io::Error::other("connection gone")),
        };
        let mut conn = ServerConnection::new(config).map_err(io::Error::other)?;
        let pending = std::mem::take(&mut self.buf);
        let mut rd = &pending[..];
        while !rd.is_empty() {
            if conn.read_tls(&mut rd)? == 0 {
                break;
            }
            conn.process_new_packets().map_err(io::Error::other)?;
        }
        self.stream = Some(Stream::Tls(Box::new(StreamOwned::new(conn, tcp))));
        Ok(())
    }

    fn read_some(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        let n = match self.stream.as_mut() {
            Some(Stream::Plain(s)) => s.read(&mut chunk)?,
            Some(Stream::Tls(s)) => s.read(&mut chunk)?,
            None => 0,
        };
        if n == 0 {
            self.eof = true;
        } else {
            (self.record)(Dir::Client, &chunk[..n]);
            self.buf.extend_from_slice(&chunk[..n]);
        }
        Ok(n)
    }

    /// Read exactly `n` bytes (an IMAP literal).
    pub fn read_exact(&mut self, n: usize) -> Result<Vec<u8>, LineError> {
        while self.buf.len() < n {
            if self.eof || self.read_some()? == 0 {
                return Err(LineError::Eof);
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Read one line, terminator (LF, with or without CR) included. `max` bounds the line.
    pub fn read_line(&mut self, max: usize) -> Result<Vec<u8>, LineError> {
        let mut scanned = 0;
        loop {
            if let Some(pos) = self.buf[scanned..].iter().position(|&b| b == b'\n') {
                let end = scanned + pos + 1;
                if end > max {
                    return Err(LineError::TooLong);
                }
                return Ok(self.buf.drain(..end).collect());
            }
            scanned = self.buf.len();
            if scanned > max {
                return Err(LineError::TooLong);
            }
            if self.eof || self.read_some()? == 0 {
                return Err(LineError::Eof);
            }
        }
    }

    /// What the client sent ahead of the reply about to go out ([`Wire::poll_pending`]), described by
    /// [`describe_ahead`]; `None` when it sent nothing.
    pub fn sent_ahead(&mut self) -> Option<String> {
        self.poll_pending();
        (!self.buf.is_empty()).then(|| describe_ahead(&self.buf))
    }

    /// Pull whatever the client has already sent without blocking. Used just before a reply: bytes found here were
    /// sent before the client could have seen the reply (pipelining).
    pub fn poll_pending(&mut self) {
        if self.eof {
            return;
        }
        let mut chunk = [0u8; 16 * 1024];
        let mut got: Vec<u8> = Vec::new();
        match self.stream.as_mut() {
            Some(Stream::Plain(s)) => {
                if s.set_nonblocking(true).is_err() {
                    return;
                }
                while let Ok(n @ 1..) = s.read(&mut chunk) {
                    got.extend_from_slice(&chunk[..n]);
                }
                let _ = s.set_nonblocking(false);
            }
            Some(Stream::Tls(s)) => {
                if s.sock.set_nonblocking(true).is_err() {
                    return;
                }
                while let Ok(1..) = s.conn.read_tls(&mut s.sock) {
                    if s.conn.process_new_packets().is_err() {
                        break;
                    }
                }
                let _ = s.sock.set_nonblocking(false);
                while let Ok(n @ 1..) = s.conn.reader().read(&mut chunk) {
                    got.extend_from_slice(&chunk[..n]);
                }
            }
            None => {}
        }
        if !got.is_empty() {
            (self.record)(Dir::Client, &got);
            self.buf.extend_from_slice(&got);
        }
    }

    /// Write and flush (through TLS when it is up), recording the bytes.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        (self.record)(Dir::Server, bytes);
        match self.stream.as_mut() {
            Some(Stream::Plain(s)) => {
                s.write_all(bytes)?;
                s.flush()
            }
            Some(Stream::Tls(s)) => {
                s.write_all(bytes)?;
                s.flush()
            }
            None => Err(io::Error::other("connection gone")),
        }
    }

    /// Close the TCP connection at once: no TLS close_notify, no further bytes (a fault, or the end of a session).
    pub fn close(&mut self) {
        if let Some(s) = &self.stream {
            let _ = s.tcp().shutdown(Shutdown::Both);
        }
    }

    /// Read and record until the client gives up (EOF, error, or [`IDLE_LIMIT`]), sending nothing: a stalled server.
    pub fn stall(&mut self) {
        self.buf.clear();
        while let Ok(1..) = self.read_some() {
            self.buf.clear();
        }
    }
}

/// Printable form of bytes for violation messages: ASCII kept, the rest escaped.
pub fn escape(bytes: &[u8]) -> String {
    bytes
        .iter()
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect()
}

/// Live connections of one fake, shut down when the fake is dropped so no handler thread outlives its test.
#[derive(Clone, Default)]
pub struct ConnRegistry(Arc<Mutex<Vec<TcpStream>>>);

impl ConnRegistry {
    pub fn add(&self, tcp: &TcpStream) {
        if let Ok(clone) = tcp.try_clone() {
            lock(&self.0).push(clone);
        }
    }

    pub fn shutdown_all(&self) {
        for s in lock(&self.0).drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// Lock a mutex even if a handler thread panicked while holding it: the recorded data is still what tests need.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// The accept loop of one fake: binds 127.0.0.1:0, runs `handler` on its own thread per connection, and stops
/// (listener closed, live connections shut down) when dropped.
pub struct Acceptor {
    addr: std::net::SocketAddr,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    conns: ConnRegistry,
}

impl Acceptor {
    pub fn start(handler: impl Fn(TcpStream) + Send + Sync + 'static) -> Acceptor {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let conns = ConnRegistry::default();
        let handler = Arc::new(handler);
        let thread = {
            let (stop, conns) = (stop.clone(), conns.clone());
            std::thread::spawn(move || {
                for incoming in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(tcp) = incoming else { continue };
                    conns.add(&tcp);
                    let handler = handler.clone();
                    std::thread::spawn(move || handler(tcp));
                }
            })
        };
        Acceptor {
            addr,
            stop,
            thread: Some(thread),
            conns,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the blocking accept() so the loop sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.conns.shutdown_all();
    }
}

/// Describe bytes the client sent ahead of a reply without quoting arguments (they may be a password): the first
/// word only, and the length.
pub fn describe_ahead(bytes: &[u8]) -> String {
    let word: Vec<u8> = bytes
        .iter()
        .copied()
        .take_while(|b| b.is_ascii_alphanumeric())
        .take(12)
        .collect();
    format!("{} bytes ({:?}...)", bytes.len(), escape(&word))
}

/// A command line without its line ending, and the violation to record when that ending was not CRLF.
pub fn command_body(raw: &[u8]) -> (&[u8], Option<String>) {
    let body = raw.strip_suffix(b"\n").unwrap_or(raw);
    match body.strip_suffix(b"\r") {
        Some(b) => (b, None),
        None => (
            body,
            Some(format!(
                "command line not ending in CRLF: {:?}",
                escape(raw)
            )),
        ),
    }
}

/// A command line's verb, upper-cased, and its argument (empty when there is none).
pub fn verb_arg(line: &str) -> (String, String) {
    match line.split_once(' ') {
        Some((v, a)) => (v.to_ascii_uppercase(), a.to_string()),
        None => (line.to_ascii_uppercase(), String::new()),
    }
}
