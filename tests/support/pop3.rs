//! Fake POP3 server (RFC 1939, CAPA/PIPELINING/RESP-CODES from RFC 2449, STLS from RFC 2595, SASL PLAIN from
//! RFC 5034, APOP from RFC 1939 §7) on 127.0.0.1, correct by default, with opt-in faults.
//!
//! One maildrop persists across connections. Each session numbers the messages present when it authenticated;
//! `DELE` only marks, `QUIT` from TRANSACTION commits (RFC 1939 §6 UPDATE state), and a connection that ends any
//! other way commits nothing. Everything the client sends is recorded per session, exactly (decrypted inside TLS).
//! The protocol handler lives in `pop3_session.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_rustls::rustls::ServerConfig;

use super::pop3_session;
use super::wire::{Acceptor, lock};

/// One message in the maildrop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub uid: String,
    /// Exact content. On RETR the fake dot-stuffs it and appends `CRLF.CRLF`, adding the first CRLF only when the
    /// content does not already end in CRLF (RFC 1939 §3); empty content is sent as the bare terminator.
    pub bytes: Vec<u8>,
}

impl Msg {
    pub fn new(uid: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Msg {
        Msg {
            uid: uid.into(),
            bytes: bytes.into(),
        }
    }
}

/// How the fake offers TLS.
#[derive(Clone, Default)]
pub enum Pop3Tls {
    /// Plaintext only; `STLS` is answered `-ERR` (even if `advertise_stls` lies about it).
    #[default]
    None,
    /// TLS from the first byte (port 995 style).
    Implicit(Arc<ServerConfig>),
    /// Plaintext, upgraded by `STLS`.
    Stls(Arc<ServerConfig>),
}

/// Bytes written right after `+OK` to STLS, in the same write, when `stls_junk_after_ok` is set: a plaintext
/// response injected before the handshake (NO STARTTLS "response injection").
pub const STLS_JUNK: &[u8] = b"+OK injected before TLS\r\n";

/// A scripted reply (catalog §3.2 "override_response"): a command line starting with `command` (case-insensitive,
/// e.g. `"UIDL"`, `"DELE 2"`, `"QUIT"`) gets `reply` verbatim instead of the normal outcome, and the command has no
/// effect (a scripted QUIT commits nothing, a scripted DELE marks nothing). With `close`, the connection is closed
/// right after `reply` (which may be empty: the reply is lost).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scripted {
    pub command: String,
    pub reply: Vec<u8>,
    pub close: bool,
}

impl Scripted {
    /// `command` answered with `reply` (raw bytes, CRLFs included), the connection kept open.
    pub fn reply(command: &str, reply: impl Into<Vec<u8>>) -> Scripted {
        Scripted {
            command: command.to_string(),
            reply: reply.into(),
            close: false,
        }
    }

    /// `command` answered with `reply`, then the connection closed.
    pub fn reply_and_close(command: &str, reply: impl Into<Vec<u8>>) -> Scripted {
        Scripted {
            close: true,
            ..Scripted::reply(command, reply)
        }
    }
}

/// Default greeting; the `<...>` part is the APOP timestamp.
pub const POP3_GREETING: &str = "+OK fake ready <123.456@fake.test>";

/// What the fake does. Read once per connection: `set_behavior` affects the next connection.
#[derive(Clone)]
pub struct Pop3Behavior {
    pub tls: Pop3Tls,
    /// Greeting line without CRLF.
    pub greeting: String,
    /// List `STLS` in CAPA (only before TLS is up).
    pub advertise_stls: bool,
    /// CAPA lines (without the `+OK` line and terminator) used instead of the derived list, before and after TLS.
    pub capa: Option<Vec<String>>,
    /// Advertise PIPELINING (RFC 2449 §6.6); lockstep is then not checked.
    pub pipelining: bool,
    pub user: String,
    pub pass: String,
    /// Accept USER/PASS (and list USER in CAPA).
    pub user_pass: bool,
    /// Accept `AUTH PLAIN` and list `SASL PLAIN`.
    pub sasl_plain: bool,
    /// Accept APOP with the greeting's timestamp.
    pub apop: bool,
    /// Accept `AUTH XOAUTH2` and `AUTH OAUTHBEARER` carrying this bearer token for `user` (and list them in SASL);
    /// any other token gets the RFC 7628 error challenge, then `-ERR [AUTH]`.
    pub bearer_token: Option<String>,
    /// Refuse USER/PASS/AUTH before TLS, as Dovecot's `disable_plaintext_auth` does.
    pub require_tls_for_auth: bool,
    /// Reply sent instead of the normal outcome to PASS/AUTH/APOP, e.g. `-ERR [IN-USE] locked`.
    pub err_on_pass: Option<String>,
    /// Behave as `EXPIRE 0` says (RFC 2449 §6.7), as do download-once policies: list `EXPIRE 0` in CAPA, and at QUIT
    /// remove every message retrieved in the session as well as those marked by DELE (catalog P-27).
    pub expire_retrieved: bool,
    /// `err_on_pass` only from this session on (0-based, counted over the fake's life), e.g. `Some(1)`: the first
    /// login succeeds and every later one gets the error.
    pub err_on_pass_from: Option<usize>,
    /// `(n, k)`: on RETR of message number `n + 1` of the session (0-based index into the session's listing), send
    /// the first `k` bytes of the full response (status line + stuffed content + terminator), then close.
    pub drop_during_retr: Option<(usize, usize)>,
    /// `(n, k)`: like `drop_during_retr`, but keep the connection open and send nothing more (a stalled server).
    pub stall_during_retr: Option<(usize, usize)>,
    /// On every RETR, send only the `+OK` status line, then stall.
    pub stall_after_retr_ok: bool,
    /// Append [`STLS_JUNK`] to the `+OK` of STLS.
    pub stls_junk_after_ok: bool,
    /// Record a violation when a command arrives before the reply to the previous one (without PIPELINING).
    pub enforce_lockstep: bool,
    /// Byte-stuff RETR/TOP content (RFC 1939 §3). `false` simulates a broken server.
    pub stuff_dots: bool,
    /// Sleep before each reply (slow server).
    pub reply_delay: Option<Duration>,
    /// `(size, pause)`: write every reply after the greeting in separate writes of at most `size` bytes (TCP_NODELAY
    /// is on), pausing `pause` between them, so splits fall inside `+OK`, between CR and LF, and inside the
    /// terminator (P-04).
    pub write_chunks: Option<(usize, Duration)>,
    /// Scripted replies, first match wins (see [`Scripted`]). Empty by default.
    pub script: Vec<Scripted>,
    /// Bytes sent instead of the greeting line (no CRLF added), e.g. TLS record bytes or an empty line.
    pub greeting_raw: Option<Vec<u8>>,
    /// Close the connection right after the greeting (or `greeting_raw`), reading nothing.
    pub close_after_greeting: bool,
    /// Size reported by LIST and STAT for these UIDs instead of the real one (a server that counts LF as one
    /// octet, or a truncating server: catalog P-19).
    pub list_sizes: HashMap<String, u64>,
    /// Behave like Courier 1.0 (issue 18): list `UTF8 USER` in CAPA, accept `UTF8` before login, and answer RETR
    /// of a message whose header holds 8-bit bytes, in a session without `UTF8`, with Courier's "Cannot display
    /// Unicode content" notice announced as `+OK <size> octets follow.` (larger than LIST).
    pub courier_utf8: bool,
    /// Called when QUIT arrives, before it is answered: the client is waiting, its work done (a test reads the
    /// client's peak memory here).
    pub on_quit: Option<std::sync::Arc<dyn Fn() + Send + Sync>>,
}

impl Default for Pop3Behavior {
    fn default() -> Self {
        Pop3Behavior {
            tls: Pop3Tls::None,
            greeting: POP3_GREETING.to_string(),
            advertise_stls: false,
            capa: None,
            pipelining: false,
            user: "alice".to_string(),
            pass: "s3cret-pa55".to_string(),
            user_pass: true,
            sasl_plain: false,
            apop: false,
            bearer_token: None,
            require_tls_for_auth: false,
            err_on_pass: None,
            err_on_pass_from: None,
            expire_retrieved: false,
            drop_during_retr: None,
            stall_during_retr: None,
            stall_after_retr_ok: false,
            stls_junk_after_ok: false,
            enforce_lockstep: true,
            stuff_dots: true,
            reply_delay: None,
            write_chunks: None,
            script: Vec::new(),
            greeting_raw: None,
            close_after_greeting: false,
            list_sizes: HashMap::new(),
            courier_utf8: false,
            on_quit: None,
        }
    }
}

impl Pop3Behavior {
    /// Plaintext server, USER/PASS `alice` / `s3cret-pa55`.
    pub fn plain() -> Self {
        Self::default()
    }

    /// Implicit TLS with `config`.
    pub fn implicit(config: Arc<ServerConfig>) -> Self {
        Pop3Behavior {
            tls: Pop3Tls::Implicit(config),
            ..Self::default()
        }
    }

    /// Plaintext start, STLS offered and advertised.
    pub fn stls(config: Arc<ServerConfig>) -> Self {
        Pop3Behavior {
            tls: Pop3Tls::Stls(config),
            advertise_stls: true,
            ..Self::default()
        }
    }
}

/// What one connection did.
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// Every byte the client sent, exactly; after TLS started, the decrypted plaintext.
    pub client_bytes: Vec<u8>,
    /// Every byte the fake sent (plaintext view).
    pub server_bytes: Vec<u8>,
    /// Command lines without their line ending, in order, arguments raw (PASS and AUTH payloads included, so tests
    /// can look for secrets). An AUTH continuation line is recorded as its own entry.
    pub commands: Vec<String>,
    /// Offset in `client_bytes` where TLS started (0 for implicit TLS).
    pub tls_at: Option<usize>,
    pub authenticated: bool,
    /// Complete RETR responses sent.
    pub retr_count: usize,
    /// UIDs whose RETR response was sent completely in this session.
    pub retrieved: Vec<String>,
    /// UIDs marked by DELE when the session ended (committed only if `quit`).
    pub marked: Vec<String>,
    /// The session ended with QUIT (and committed its deletions if it was in TRANSACTION).
    pub quit: bool,
    /// I/O or TLS error that ended the session, or the fault that did.
    pub error: Option<String>,
    pub finished: bool,
}

impl Session {
    /// Client bytes sent before the TLS handshake (all of them if TLS never started).
    pub fn bytes_before_tls(&self) -> &[u8] {
        &self.client_bytes[..self
            .tls_at
            .unwrap_or(self.client_bytes.len())
            .min(self.client_bytes.len())]
    }

    /// Upper-cased command verbs, e.g. `["CAPA", "USER", "PASS", "UIDL", "RETR", "QUIT"]`.
    pub fn verbs(&self) -> Vec<String> {
        self.commands
            .iter()
            .map(|c| c.split(' ').next().unwrap_or("").to_ascii_uppercase())
            .collect()
    }
}

#[derive(Default)]
pub(crate) struct Pop3State {
    pub mailbox: Vec<Msg>,
    pub behavior: Pop3Behavior,
    pub sessions: Vec<Session>,
    pub retr_log: Vec<String>,
    pub dele_log: Vec<String>,
    pub violations: Vec<String>,
}

super::record::recorded!(Pop3State, Session, Pop3Behavior);

pub(crate) type Shared = Arc<Mutex<Pop3State>>;

/// A running fake POP3 server; stopped when dropped.
pub struct FakePop3 {
    state: Shared,
    acceptor: Acceptor,
}

impl FakePop3 {
    /// Bind 127.0.0.1:0 and serve `messages` until dropped.
    pub fn start(messages: Vec<Msg>, behavior: Pop3Behavior) -> FakePop3 {
        let state: Shared = Arc::new(Mutex::new(Pop3State {
            mailbox: messages,
            behavior,
            ..Pop3State::default()
        }));
        let for_conns = state.clone();
        let acceptor = Acceptor::start(move |tcp| pop3_session::serve(tcp, for_conns.clone()));
        FakePop3 { state, acceptor }
    }

    pub fn port(&self) -> u16 {
        self.acceptor.port()
    }

    /// UIDs still in the maildrop, in order.
    pub fn mailbox_uids(&self) -> Vec<String> {
        lock(&self.state)
            .mailbox
            .iter()
            .map(|m| m.uid.clone())
            .collect()
    }

    /// The maildrop itself.
    pub fn mailbox(&self) -> Vec<Msg> {
        lock(&self.state).mailbox.clone()
    }

    /// One entry per accepted connection, in accept order (snapshot; live sessions keep growing).
    pub fn sessions(&self) -> Vec<Session> {
        lock(&self.state).sessions.clone()
    }

    /// UIDs whose RETR response was sent completely, over all sessions.
    pub fn retr_log(&self) -> Vec<String> {
        lock(&self.state).retr_log.clone()
    }

    /// UIDs whose deletion was committed by QUIT, over all sessions.
    pub fn dele_log(&self) -> Vec<String> {
        lock(&self.state).dele_log.clone()
    }

    /// Protocol misuse by the client: pipelining without PIPELINING, bytes after STLS before its reply, command
    /// lines not ending in CRLF or longer than 255 octets (RFC 2449 §4).
    pub fn violations(&self) -> Vec<String> {
        lock(&self.state).violations.clone()
    }

    /// Takes effect for the next connection.
    pub fn set_behavior(&self, behavior: Pop3Behavior) {
        lock(&self.state).behavior = behavior;
    }

    /// Change the behaviour in place, e.g. `pop.update(|b| b.drop_during_retr = None)`.
    pub fn update(&self, f: impl FnOnce(&mut Pop3Behavior)) {
        f(&mut lock(&self.state).behavior);
    }

    /// Append to the maildrop (seen by sessions that authenticate afterwards).
    pub fn add_messages(&self, msgs: Vec<Msg>) {
        lock(&self.state).mailbox.extend(msgs);
    }

    /// Remove a message from the maildrop as another client's committed DELE would (later sessions renumber).
    pub fn remove(&self, uid: &str) {
        lock(&self.state).mailbox.retain(|m| m.uid != uid);
    }

    /// All commands of all sessions, in order.
    pub fn all_commands(&self) -> Vec<String> {
        lock(&self.state)
            .sessions
            .iter()
            .flat_map(|s| s.commands.clone())
            .collect()
    }

    /// Poll every 5 ms until `f(self)` holds or `timeout` passes; returns whether it held.
    pub fn wait_until(&self, timeout: Duration, f: impl Fn(&FakePop3) -> bool) -> bool {
        super::wait_until(timeout, || f(self))
    }

    /// Wait until some session received a command line equal to `command` (case-insensitive), e.g. `"DELE 3"`.
    pub fn wait_command(&self, command: &str, timeout: Duration) -> bool {
        self.wait_until(timeout, |p| {
            p.all_commands()
                .iter()
                .any(|c| c.eq_ignore_ascii_case(command))
        })
    }
}

/// RFC 1939 §3 byte-stuffing of `content` plus the terminator, as sent after the `+OK` line of RETR/TOP. Lines are
/// CRLF-delimited: a `.` after a bare LF is not at the start of a line and is left alone.
pub fn stuffed_with_terminator(content: &[u8], stuff: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + content.len() / 64 + 5);
    let mut at_line_start = true;
    for (i, &b) in content.iter().enumerate() {
        if at_line_start && b == b'.' && stuff {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n' && i > 0 && content[i - 1] == b'\r';
    }
    if !content.is_empty() && !content.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}
