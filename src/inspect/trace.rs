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
    /// The client's own secrets (shared: the POP3 client adds the AUTH payloads it computes), so no sink can scrub
    /// less than the client's error texts do.
    secrets: Secrets,
}

impl Trace {
    /// A sink writing to the log at TRACE level (`-vv`).
    pub fn log() -> Trace {
        Trace {
            protocol: "",
            secrets: Secrets::none(),
        }
    }

    /// This sink for a conversation in `protocol` (`pop3`, `smtp`, `lmtp`), every line shown through `secrets`.
    #[must_use]
    pub fn of(&self, protocol: &'static str, secrets: &Secrets) -> Trace {
        Trace {
            protocol,
            secrets: secrets.clone(),
        }
    }

    /// Whether anything is traced at all (TRACE level, `-vv`): lets a client skip work for nothing.
    fn is_on(&self) -> bool {
        tracing::enabled!(tracing::Level::TRACE)
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
            trace!("{side}: {}", self.secrets.show(text, untrusted::LINE));
        }
    }

    /// A command popfetch sent, as the client chose to show it (credentials already replaced).
    pub fn command(&self, shown: &str) {
        trace!("{} C: {shown}", self.protocol);
    }

    /// Message content sent or received: its header block line by line, then the size of the rest.
    pub fn message(&self, side: Side, msg: &[u8]) {
        message(&self.side(side), msg, &self.secrets);
    }

    /// The header block of content still arriving (streaming); [`Trace::message_end`] follows. Returns where the
    /// header block ends.
    pub fn message_head(&self, side: Side, head: &[u8]) -> usize {
        message_head(&self.side(side), head, &self.secrets)
    }

    /// The end of streamed content: the size of the body after the header block.
    pub fn message_end(&self, side: Side, body_len: u64) {
        message_end(&self.side(side), body_len);
    }

    /// A multi-line listing the server sent (CAPA, UIDL, LIST).
    pub fn listing(&self, listing: &[u8]) {
        lines(&self.side(Side::Server), listing, &self.secrets);
    }
}

/// Trace message content received or sent on `side` (e.g. `"pop3 S"`): the header block line by line, then the
/// size of the rest, then the terminator line. `secrets` are replaced by `[redacted]` wherever they occur.
fn message(side: &str, msg: &[u8], secrets: &Secrets) {
    if !tracing::enabled!(tracing::Level::TRACE) {
        return;
    }
    let block = message_head(side, msg, secrets);
    message_end(side, (msg.len() - block) as u64);
}

/// The first half of [`message`], for content that is still arriving (issue 11, streaming): the header block of
/// `head` (the first bytes of the content) line by line. Returns where the header block ends.
fn message_head(side: &str, head: &[u8], secrets: &Secrets) -> usize {
    let block = headers::header_block_end(head);
    if !tracing::enabled!(tracing::Level::TRACE) {
        return block;
    }
    let msg = head;
    let mut shown = 0;
    let mut more = 0usize;
    // Lines as the header scanner reads them (`header_block_end` above), so the trace shows its header block.
    for line in lines::lines(&msg[..block], LineEnds::Any) {
        let text = &msg[line.start..line.content_end];
        if text.is_empty() {
            break;
        }
        if shown < MAX_HEADER_LINES {
            trace!("{side}: {}", secrets.show(text, untrusted::LINE));
            shown += 1;
        } else {
            more += 1;
        }
    }
    if more > 0 {
        trace!("{side}: [... {more} more header lines]");
    }
    block
}

/// The second half of [`message`]: the size of the rest, then the terminator line.
fn message_end(side: &str, body_len: u64) {
    if tracing::enabled!(tracing::Level::TRACE) {
        trace!("{side}: [... {body_len} body bytes elided]");
        trace!("{side}: .");
    }
}

/// Trace a multi-line listing (CAPA, UIDL, LIST) on `side`: at most [`MAX_HEADER_LINES`] lines, then a count,
/// then the terminator line.
fn lines(side: &str, listing: &[u8], secrets: &Secrets) {
    if !tracing::enabled!(tracing::Level::TRACE) {
        return;
    }
    let mut n = 0;
    for line in lines::lines(listing, LineEnds::Lf) {
        if n < MAX_HEADER_LINES {
            let text = &listing[line.start..line.content_end];
            trace!("{side}: {}", secrets.show(text, untrusted::LINE));
        }
        n += 1;
    }
    if n > MAX_HEADER_LINES {
        trace!("{side}: [... {} more lines]", n - MAX_HEADER_LINES);
    }
    trace!("{side}: .");
}
