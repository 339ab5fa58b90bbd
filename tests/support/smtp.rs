//! Fake SMTP server (RFC 5321 with 8BITMIME, SIZE and ENHANCEDSTATUSCODES; no PIPELINING unless asked) on
//! 127.0.0.1, standing in for the local Postfix. Correct by default; replies, delays and faults are opt-in.
//!
//! It keeps every end-of-DATA transaction with the exact bytes received, and records as violations what popfetch
//! must never do (invariant 6): a bare LF or CR in the DATA stream, pipelining without PIPELINING, a malformed
//! MAIL/RCPT line. The protocol handler lives in `smtp_session.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::smtp_session;
use super::wire::{Acceptor, lock};

/// Default greeting (without CRLF).
pub const SMTP_GREETING: &str = "220 fake.test ESMTP fake";

/// What the fake does. Read once per connection: `set_behavior` affects the next connection. Every reply string is
/// sent as given plus CRLF, so a multi-line reply is written `"250-a\r\n250 b"`.
#[derive(Clone)]
pub struct SmtpBehavior {
    pub greeting: String,
    /// `false`: EHLO is answered `502` (an old server; the client must fall back to HELO).
    pub ehlo_ok: bool,
    /// EHLO keywords instead of the default `8BITMIME`, `SIZE 0`, `ENHANCEDSTATUSCODES` (+ `PIPELINING`).
    pub ehlo_keywords: Option<Vec<String>>,
    /// Advertise PIPELINING (RFC 2920); lockstep is then checked only around DATA.
    pub pipelining: bool,
    /// Reply to every MAIL FROM instead of `250 2.1.0 Ok`; a non-2xx reply leaves no transaction open.
    pub mail_reply: Option<String>,
    /// Reply per RCPT address (as written between the brackets); others get `250 2.1.5 Ok`.
    pub rcpt_replies: HashMap<String, String>,
    /// Reply to RCPT per MAIL FROM address of the transaction (between the brackets), checked before
    /// `rcpt_replies`: a sender restriction applied at RCPT TO, as Postfix does with `smtpd_delay_reject = yes`.
    pub rcpt_replies_by_sender: HashMap<String, String>,
    /// Reply to the DATA command instead of `354 ...`; a non-354 reply does not start the data phase.
    pub data_cmd_reply: Option<String>,
    /// Reply to end-of-DATA per transaction index (0-based over the server's lifetime, see `attempts()`).
    pub data_replies: HashMap<usize, String>,
    /// Reply to end-of-DATA when `data_replies` has no entry.
    pub default_data_reply: String,
    /// Close the connection (no reply) once this many octets of DATA content have arrived in one transaction.
    pub close_after_data_bytes: Option<usize>,
    /// Close right after end-of-DATA without any reply (the reply is lost; S-07).
    pub close_after_eod: bool,
    /// Sleep before the end-of-DATA reply.
    pub delay_eod_reply: Option<Duration>,
    /// Record a violation when a command arrives before the reply to the previous one.
    pub enforce_lockstep: bool,
    /// Once this many transactions reached end-of-DATA on one connection, answer the next command with
    /// `421 4.3.2 Service shutting down` and close (catalog S-08).
    pub shutdown_after: Option<usize>,
    /// Once this many transactions reached end-of-DATA on one connection, answer every further MAIL with this
    /// reply and keep the session open (OpenSMTPD's `smtp limit max-mails`: `452 4.5.3 ...`).
    pub max_mails: Option<(usize, String)>,
    /// From connection number `.0` on (0-based), greet with `.1` instead of `greeting`.
    pub greeting_from_connection: Option<(usize, String)>,
}

impl Default for SmtpBehavior {
    fn default() -> Self {
        SmtpBehavior {
            greeting: SMTP_GREETING.to_string(),
            ehlo_ok: true,
            ehlo_keywords: None,
            pipelining: false,
            mail_reply: None,
            rcpt_replies: HashMap::new(),
            rcpt_replies_by_sender: HashMap::new(),
            data_cmd_reply: None,
            data_replies: HashMap::new(),
            default_data_reply: "250 2.0.0 Ok: queued".to_string(),
            close_after_data_bytes: None,
            close_after_eod: false,
            delay_eod_reply: None,
            enforce_lockstep: true,
            shutdown_after: None,
            max_mails: None,
            greeting_from_connection: None,
        }
    }
}

impl SmtpBehavior {
    /// Answer end-of-DATA of transaction `index` with `reply` (builder style).
    pub fn reply_to_data(mut self, index: usize, reply: &str) -> Self {
        self.data_replies.insert(index, reply.to_string());
        self
    }
}

/// One transaction that reached end-of-DATA (or lost its connection right there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// Transaction index over the server's lifetime (the key of `data_replies`).
    pub index: usize,
    /// Connection number (index into `sessions()`).
    pub connection: usize,
    /// The reverse-path between the brackets (empty for `<>`).
    pub mail_from: String,
    /// MAIL parameters after the path, e.g. `["BODY=8BITMIME"]`.
    pub mail_params: Vec<String>,
    /// Accepted forward-paths between the brackets.
    pub rcpt_to: Vec<String>,
    /// Bytes between the 354 and the terminator's `.CRLF`, still dot-stuffed (the final CRLF included).
    pub data_raw: Vec<u8>,
    /// The content with dot-stuffing undone (RFC 5321 §4.5.2), final CRLF kept.
    pub data: Vec<u8>,
    /// Reply sent to end-of-DATA; `None` when the fake closed without replying.
    pub reply: Option<String>,
}

impl Delivered {
    /// The reply code was 2xx.
    pub fn accepted(&self) -> bool {
        self.reply.as_deref().is_some_and(|r| r.starts_with('2'))
    }
}

/// What one connection did.
#[derive(Debug, Clone, Default)]
pub struct SmtpSession {
    pub client_bytes: Vec<u8>,
    pub server_bytes: Vec<u8>,
    /// Command lines without CRLF (DATA content excluded).
    pub commands: Vec<String>,
    pub helo: Option<String>,
    /// Transactions whose DATA phase started but never reached end-of-DATA.
    pub aborted_data: usize,
    pub quit: bool,
    pub error: Option<String>,
    pub finished: bool,
}

#[derive(Default)]
pub(crate) struct SmtpState {
    pub behavior: SmtpBehavior,
    pub sessions: Vec<SmtpSession>,
    pub transactions: Vec<Delivered>,
    pub violations: Vec<String>,
    pub long_lines: Vec<String>,
}

super::record::recorded!(SmtpState, SmtpSession, SmtpBehavior);

pub(crate) type Shared = Arc<Mutex<SmtpState>>;

/// A running fake SMTP server; stopped when dropped.
pub struct FakeSmtp {
    state: Shared,
    acceptor: Acceptor,
}

impl FakeSmtp {
    /// Bind 127.0.0.1:0 and serve until dropped.
    pub fn start(behavior: SmtpBehavior) -> FakeSmtp {
        let state: Shared = Arc::new(Mutex::new(SmtpState {
            behavior,
            ..SmtpState::default()
        }));
        let for_conns = state.clone();
        let acceptor = Acceptor::start(move |tcp| smtp_session::serve(tcp, for_conns.clone()));
        FakeSmtp { state, acceptor }
    }

    pub fn port(&self) -> u16 {
        self.acceptor.port()
    }

    /// Messages answered 2xx at end-of-DATA, in order.
    pub fn delivered(&self) -> Vec<Delivered> {
        lock(&self.state)
            .transactions
            .iter()
            .filter(|t| t.accepted())
            .cloned()
            .collect()
    }

    /// Every transaction that reached end-of-DATA, whatever the reply.
    pub fn transactions(&self) -> Vec<Delivered> {
        lock(&self.state).transactions.clone()
    }

    /// Number of end-of-DATA sequences received (the next transaction's index).
    pub fn attempts(&self) -> usize {
        lock(&self.state).transactions.len()
    }

    /// Number of accepted connections.
    pub fn connections(&self) -> usize {
        lock(&self.state).sessions.len()
    }

    /// Client bytes per connection.
    pub fn transcript(&self) -> Vec<Vec<u8>> {
        lock(&self.state)
            .sessions
            .iter()
            .map(|s| s.client_bytes.clone())
            .collect()
    }

    pub fn sessions(&self) -> Vec<SmtpSession> {
        lock(&self.state).sessions.clone()
    }

    /// Bare LF/CR in DATA, pipelining without PIPELINING, malformed commands.
    pub fn violations(&self) -> Vec<String> {
        lock(&self.state).violations.clone()
    }

    /// DATA lines longer than 1000 octets including CRLF (RFC 5321 §4.5.3.1.6): noted, not a violation.
    pub fn long_lines(&self) -> Vec<String> {
        lock(&self.state).long_lines.clone()
    }

    /// Takes effect for the next connection.
    pub fn set_behavior(&self, behavior: SmtpBehavior) {
        lock(&self.state).behavior = behavior;
    }

    /// Change the behaviour in place.
    pub fn update(&self, f: impl FnOnce(&mut SmtpBehavior)) {
        f(&mut lock(&self.state).behavior);
    }

    /// Poll every 5 ms until `f(self)` holds or `timeout` passes; returns whether it held.
    pub fn wait_until(&self, timeout: Duration, f: impl Fn(&FakeSmtp) -> bool) -> bool {
        super::wait_until(timeout, || f(self))
    }
}

/// RFC 5321 §4.5.2 transparency: dot-stuff `content` and append the end-of-DATA sequence, for tests that build
/// expected wire bytes. A CRLF is added first when the content does not end in one.
pub fn smtp_stuffed(content: &[u8]) -> Vec<u8> {
    super::pop3::stuffed_with_terminator(content, true)
}
