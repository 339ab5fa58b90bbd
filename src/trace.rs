//! The `-vv` protocol trace: each line of the POP3 and SMTP conversations at TRACE level, client lines as `C: `
//! and server lines as `S: ` after the protocol's name (`pop3 C: UIDL`, `smtp S: 250 2.0.0 Ok`, since both
//! conversations interleave in one poll), escaped and bounded, and message content shown only up to the end of its header
//! block (`[... N body bytes elided]`): bodies are private and large, and headers are what one debugs.
//!
//! Both clients trace their own lines: the POP3 client with credentials replaced by `[redacted]` (see
//! `pop3::wire`), the SMTP client each command and reply line (`smtp::conn`); both call [`message`] for content.
//! popfetch sends no credentials to the MTA. Every server line, on either side, is shown through the account's
//! [`Secrets`] (scrubbed, escaped, bounded; [`crate::untrusted`]), and lines are cut by the one line-end rule of
//! [`crate::untrusted::lines`].

use tracing::trace;

use crate::headers;
use crate::untrusted::lines::{self, LineEnds};
use crate::untrusted::{self, Secrets};

/// At most this many header lines of one message are traced; the rest are counted.
pub const MAX_HEADER_LINES: usize = 100;

/// Trace message content received or sent on `side` (e.g. `"pop3 S"`): the header block line by line, then the
/// size of the rest, then the terminator line. `secrets` are replaced by `[redacted]` wherever they occur.
pub fn message(side: &str, msg: &[u8], secrets: &Secrets) {
    if !tracing::enabled!(tracing::Level::TRACE) {
        return;
    }
    let block = headers::header_block_end(msg);
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
    trace!("{side}: [... {} body bytes elided]", msg.len() - block);
    trace!("{side}: .");
}

/// Trace a multi-line listing (CAPA, UIDL, LIST) on `side`: at most [`MAX_HEADER_LINES`] lines, then a count,
/// then the terminator line.
pub fn lines(side: &str, listing: &[u8], secrets: &Secrets) {
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
