//! Streaming a RETR reply (issue 11): [`Client::next_head`] reads a reply's status line only, and
//! [`Client::retr_chunk`] hands out the dot-unstuffed body piece by piece as it arrives, so a caller can pass a
//! message on while it is still being received. The bounds are those of a whole reply (`max_message`, the deadline
//! set at the status line); the end-of-reply checks are the same as [`Client::next_reply`]'s (P-31).

use super::wire::unsolicited;
use super::{Client, Expect, Pending, Reply};
use crate::inspect::trace::Side;
use crate::pop3::{Pop3Error, ServerError};

/// The head of the next reply, for a caller that streams message bodies.
#[derive(Debug)]
pub enum Head {
    Dele {
        n: u32,
        result: Result<(), ServerError>,
    },
    /// RETR n. `Ok(Some(body))`: the reply had already been read whole (read ahead of a full pipeline window).
    /// `Ok(None)`: the body follows; read it with [`Client::retr_chunk`] before anything else.
    Retr {
        n: u32,
        result: Result<Option<Vec<u8>>, ServerError>,
        announced: Option<u64>,
    },
}

impl Client {
    /// The next reply, in the order the commands were sent, with a RETR's body left on the wire.
    ///
    /// # Errors
    /// As [`Client::next_reply`].
    ///
    /// # Cancel safety
    /// Cancel-safe, as [`Client::next_reply`].
    pub async fn next_head(&mut self) -> Result<Head, Pop3Error> {
        if self.streaming {
            return Err(Pop3Error::Misuse {
                what: "a message body is still being streamed",
            });
        }
        if self.poisoned {
            return Err(Pop3Error::Aborted);
        }
        let r = match (self.ready.pop_front(), self.pending.front().copied()) {
            (Some(reply), _) => Ok(whole(reply)),
            (None, None) => Err(Pop3Error::Misuse {
                what: "no reply outstanding",
            }),
            (None, Some(Pending::Dele(_))) => self.read_reply().await.map(whole),
            (None, Some(Pending::Retr(n))) => self.retr_head(n).await,
        };
        if let Err(e) = &r
            && e.is_fatal()
        {
            self.poisoned = true;
        }
        r
    }

    async fn retr_head(&mut self, n: u32) -> Result<Head, Pop3Error> {
        let (st, _) = self.read_response(Expect::StreamOnOk, "retr").await?;
        if !st.ok {
            self.pending.pop_front();
            return Ok(Head::Retr {
                n,
                result: Err(self.server_error(&st)),
                announced: None,
            });
        }
        self.streaming = true;
        self.retrieved += 1;
        Ok(Head::Retr {
            n,
            result: Ok(None),
            announced: super::codec::announced_octets(&st.text),
        })
    }

    /// Append the next piece of the streamed RETR body to `out` (at least one byte unless the body ended). True
    /// once the terminator was read; then, with nothing else outstanding, a byte after it is a protocol error
    /// (P-31: a server that did not dot-stuff a lone `.` line), so the caller must not complete the delivery.
    ///
    /// # Errors
    /// Transport, size ([`Pop3Error::TooLarge`]) and protocol errors; the session is then unusable and the
    /// message must be treated as not received.
    ///
    /// # Cancel safety
    /// Not cancel-safe: bytes already moved to `out` by a cancelled call are not lost, but drop the client after
    /// a cancellation anyway.
    pub async fn retr_chunk(&mut self, out: &mut Vec<u8>) -> Result<bool, Pop3Error> {
        if !self.streaming || self.poisoned {
            return Err(Pop3Error::Aborted);
        }
        let r = async {
            if !self.read_body_chunk(out).await? {
                return Ok(false);
            }
            self.streaming = false;
            let last = self.pending.len() == 1;
            self.pending.pop_front();
            if last && self.drain_unsolicited("retr").await? {
                return Err(unsolicited());
            }
            Ok(true)
        }
        .await;
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }

    /// Trace (`-vv`) a streamed RETR that ended within what the caller held: as [`Client::next_reply`] does.
    pub fn trace_retr(&self, whole: &[u8]) {
        self.trace.message(Side::Server, whole);
    }

    /// Trace the header block of a RETR that is being streamed on; [`Client::trace_retr_end`] follows.
    pub fn trace_retr_head(&self, header: &[u8]) {
        self.trace.message_head(Side::Server, header);
    }

    /// Trace the end of a streamed RETR: the size of the body after the header block.
    pub fn trace_retr_end(&self, body_len: u64) {
        self.trace.message_end(Side::Server, body_len);
    }
}

fn whole(reply: Reply) -> Head {
    match reply {
        Reply::Dele { n, result } => Head::Dele { n, result },
        Reply::Retr {
            n,
            result,
            announced,
        } => Head::Retr {
            n,
            result: result.map(Some),
            announced,
        },
    }
}
