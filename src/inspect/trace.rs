//! The `-vv` protocol trace: each line of the POP3 and SMTP conversations at TRACE level, client lines as `C: `
//! and server lines as `S: ` after the protocol's name (`pop3 C: UIDL`, `smtp S: 250 2.0.0 Ok`, since both
//! conversations interleave in one poll), escaped and bounded, and message content shown only up to the end of its header
//! block (`[... N body bytes elided]`): bodies are private and large, and headers are what one debugs.
//!
//! The trace is a sink handed to each client by whoever opens the conversation (the poller, `check --connect`), as
//! mini-redis hands its shutdown signal in: a [`Trace`] carries the account's [`Secrets`], the clients report what
//! crosses the wire through it, and this module alone decides how that is shown. The POP3 client reports its
//! commands with credentials already replaced by `[redacted]` (only it knows which bytes are credentials; see
//! `pop3::wire`), the SMTP client each command and reply line (`smtp::conn`); popfetch sends no credentials to the
//! MTA. Every line, on either side, is shown through the account's [`Secrets`] (scrubbed, escaped, bounded;
//! [`crate::untrusted`]), and lines are cut by the one line-end rule of [`crate::untrusted::lines`].

use tracing::trace;

use crate::headers;
use crate::untrusted::lines::{self, LineEnds};
use crate::untrusted::{self, Secrets};

/// At most this many header lines of one message are traced; the rest are counted.
pub const MAX_HEADER_LINES: usize = 100;

/// Which end of the conversation sent what is traced: `C` (popfetch) or `S` (the server).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// The `-vv` trace: a sink handed to each client by whoever opens the conversation. Today every sink writes to
/// the log at TRACE level ([`Trace::log`]); the client binds it to its protocol and secrets ([`Trace::of`]).
#[derive(Debug, Clone)]
pub struct Trace {
    /// `pop3`, `smtp` or `lmtp`, set by the client: the conversations of one poll interleave.
    protocol: &'static str,
    /// Where the lines go.
    out: Out,
    /// The client's own secrets (shared: the POP3 client adds the AUTH payloads it computes), so no sink can scrub
    /// less than the client's error texts do.
    secrets: Secrets,
}

/// Where a [`Trace`]'s lines go.
#[derive(Debug, Clone)]
enum Out {
    /// The log at TRACE level (`-vv`).
    Log,
    /// Kept in memory, for tests: a global log subscriber would see every test thread's lines and races with
    /// tracing's per-callsite interest cache.
    #[cfg(test)]
    Memory(std::sync::Arc<std::sync::Mutex<Vec<String>>>),
}

impl Trace {
    /// A sink writing to the log at TRACE level (`-vv`).
    pub fn log() -> Trace {
        Trace {
            protocol: "",
            out: Out::Log,
            secrets: Secrets::none(),
        }
    }

    /// A sink that keeps every line in memory (tests), and the lines it kept.
    #[cfg(test)]
    pub(crate) fn memory() -> (Trace, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        let lines = std::sync::Arc::default();
        let trace = Trace {
            protocol: "",
            out: Out::Memory(std::sync::Arc::clone(&lines)),
            secrets: Secrets::none(),
        };
        (trace, lines)
    }

    /// This sink for a conversation in `protocol` (`pop3`, `smtp`, `lmtp`), every line shown through `secrets`.
    #[must_use]
    pub fn of(&self, protocol: &'static str, secrets: &Secrets) -> Trace {
        Trace {
            protocol,
            out: self.out.clone(),
            secrets: secrets.clone(),
        }
    }

    /// Whether anything is traced at all (TRACE level, `-vv`): lets a client skip work for nothing.
    fn is_on(&self) -> bool {
        match self.out {
            Out::Log => tracing::enabled!(tracing::Level::TRACE),
            #[cfg(test)]
            Out::Memory(_) => true,
        }
    }

    /// One trace line.
    fn emit(&self, line: std::fmt::Arguments<'_>) {
        match &self.out {
            Out::Log => trace!("{line}"),
            #[cfg(test)]
            Out::Memory(lines) => lines
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(line.to_string()),
        }
    }

    fn side(&self, side: Side) -> String {
        let c = match side {
            Side::Client => 'C',
            Side::Server => 'S',
        };
        format!("{} {c}", self.protocol)
    }

    /// Lines `side` sent (CRLF or LF ended, several at once when pipelining), each shown through the secrets.
    pub fn wire_lines(&self, side: Side, bytes: &[u8]) {
        if !self.is_on() {
            return;
        }
        let side = self.side(side);
        for line in lines::lines(bytes, LineEnds::Lf) {
            let text = &bytes[line.start..line.content_end];
            self.emit(format_args!(
                "{side}: {}",
                self.secrets.show(text, untrusted::LINE)
            ));
        }
    }

    /// A command popfetch sent, as the client chose to show it (credentials already replaced).
    pub fn command(&self, shown: &str) {
        if self.is_on() {
            self.emit(format_args!("{} C: {shown}", self.protocol));
        }
    }

    /// Message content sent or received: its header block line by line, then the size of the rest.
    pub fn message(&self, side: Side, msg: &[u8]) {
        self.chunk(side, msg);
        if self.is_on() {
            self.emit(format_args!("{}: .", self.side(side)));
        }
    }

    /// Message content sent as one counted chunk (`BDAT n LAST`, RFC 3030): as [`Trace::message`] without the
    /// terminator line, which a chunk does not have.
    pub fn chunk(&self, side: Side, msg: &[u8]) {
        if !self.is_on() {
            return;
        }
        let side = self.side(side);
        let block = self.head(&side, msg);
        self.elided(&side, (msg.len() - block) as u64);
    }

    /// The header block of content still arriving (streaming); [`Trace::message_end`] follows. Returns where the
    /// header block ends.
    pub fn message_head(&self, side: Side, head: &[u8]) -> usize {
        let block = headers::header_block_end(head);
        if self.is_on() {
            self.head(&self.side(side), head);
        }
        block
    }

    /// The end of streamed content: the size of the body after the header block.
    pub fn message_end(&self, side: Side, body_len: u64) {
        if self.is_on() {
            self.end(&self.side(side), body_len);
        }
    }

    /// A multi-line listing the server sent (CAPA, UIDL, LIST).
    pub fn listing(&self, listing: &[u8]) {
        if !self.is_on() {
            return;
        }
        let side = self.side(Side::Server);
        let mut n = 0;
        for line in lines::lines(listing, LineEnds::Lf) {
            if n < MAX_HEADER_LINES {
                let text = &listing[line.start..line.content_end];
                self.emit(format_args!(
                    "{side}: {}",
                    self.secrets.show(text, untrusted::LINE)
                ));
            }
            n += 1;
        }
        if n > MAX_HEADER_LINES {
            self.emit(format_args!(
                "{side}: [... {} more lines]",
                n - MAX_HEADER_LINES
            ));
        }
        self.emit(format_args!("{side}: ."));
    }

    /// The header block of message content on `side` (e.g. `"pop3 S"`), line by line as the header scanner reads
    /// them, at most [`MAX_HEADER_LINES`], then a count; returns where the block ends.
    fn head(&self, side: &str, msg: &[u8]) -> usize {
        let block = headers::header_block_end(msg);
        let mut shown = 0;
        let mut more = 0usize;
        for line in lines::lines(&msg[..block], LineEnds::Any) {
            let text = &msg[line.start..line.content_end];
            if text.is_empty() {
                break;
            }
            if shown < MAX_HEADER_LINES {
                self.emit(format_args!(
                    "{side}: {}",
                    self.secrets.show(text, untrusted::LINE)
                ));
                shown += 1;
            } else {
                more += 1;
            }
        }
        if more > 0 {
            self.emit(format_args!("{side}: [... {more} more header lines]"));
        }
        block
    }

    /// The end of message content: the size of the body after the header block, then the terminator line.
    fn end(&self, side: &str, body_len: u64) {
        self.elided(side, body_len);
        self.emit(format_args!("{side}: ."));
    }

    fn elided(&self, side: &str, body_len: u64) {
        self.emit(format_args!("{side}: [... {body_len} body bytes elided]"));
    }
}
