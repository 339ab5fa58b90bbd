//! Group commit (issue 11, point 3): a *delivered* record appended without its own fsync, made durable by the next
//! fsync of the journal, which is usually the next message's *begun* record. One fsync per message instead of two:
//! with many small messages the two fsyncs were most of popfetch's time (docs/benchmarks.md).
//!
//! Invariant 1 (docs/design.md) holds because the caller's `DELE` waits for the fsync: each deferred record carries
//! a token (the message number to `DELE`), handed back by [`State::take_durable`] only once an fsync covered it. A
//! kill before that fsync leaves the message's *begun* record durable and its *delivered* record perhaps not: the
//! next run names it as a possible duplicate, the same window as a kill between the MTA's 2xx and the fsync.

use super::format::Record;
use super::{State, StateError};

impl State {
    /// Journal "delivered `uid`" without an fsync of its own. `then` (the message number to `DELE`) comes back from
    /// [`State::take_durable`] once an fsync covered the record: the next [`State::begin`], or [`State::sync`].
    ///
    /// # Errors
    /// As [`State::record_delivered`]; the state is then poisoned and `then` never comes back.
    pub fn record_delivered_deferred(&mut self, uid: &str, then: u32) -> Result<(), StateError> {
        self.append(&Record::Delivered { uid, absent: 0 }, false)?;
        self.deferred.push(then);
        Ok(())
    }

    /// Make every deferred record durable (one fsync, only if one is deferred).
    ///
    /// # Errors
    /// The fsync failed: the state is poisoned and nothing deferred comes back.
    pub fn sync(&mut self) -> Result<(), StateError> {
        self.check_poisoned()?;
        if self.deferred.is_empty() {
            return Ok(());
        }
        let path = &self.path;
        let Some(file) = self.file.as_mut() else {
            return Err(StateError::Poisoned { path: path.clone() });
        };
        if let Err(e) = file.sync_data() {
            self.poisoned = true;
            return Err(super::io_err(path, "fsync")(e));
        }
        self.durable.append(&mut self.deferred);
        Ok(())
    }

    /// The tokens of deferred records an fsync has covered since the last call, in the order recorded.
    pub fn take_durable(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.durable)
    }
}
