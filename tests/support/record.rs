//! The frame of one fake session, shared by the fake POP3 and SMTP servers: a record added to the fake's state
//! for each connection, a [`Wire`] that copies every byte each way into it as it passes (so a transcript survives
//! a connection that dies mid-way), and the record marked finished with the error that ended it.

use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use super::wire::{Dir, Wire, lock};

/// A fake's shared state as the session frame sees it. Implemented by [`recorded!`] for a state with `behavior` and
/// `sessions` fields whose records have `client_bytes`, `server_bytes`, `finished` and `error`.
pub(crate) trait Recorded: Send + 'static {
    type Behavior;
    /// Add the record of a new connection: its index, and (a copy of) the behaviour it runs with.
    fn open(&mut self) -> (usize, Self::Behavior);
    /// Where session `idx` keeps the bytes that went `dir`.
    fn bytes(&mut self, idx: usize, dir: Dir) -> &mut Vec<u8>;
    /// Session `idx` is over: finished, with the error that ended it (the first one recorded stays).
    fn end(&mut self, idx: usize, outcome: Result<(), String>);
}

/// `recorded!(State, Session, Behavior)`: [`Recorded`] for `State`, whose `sessions` are `Session`s and whose
/// `behavior` is a `Behavior`.
macro_rules! recorded {
    ($state:ty, $session:ty, $behavior:ty) => {
        impl super::record::Recorded for $state {
            type Behavior = $behavior;
            fn open(&mut self) -> (usize, Self::Behavior) {
                self.sessions.push(<$session>::default());
                (self.sessions.len() - 1, self.behavior.clone())
            }
            fn bytes(&mut self, idx: usize, dir: super::wire::Dir) -> &mut Vec<u8> {
                let s = &mut self.sessions[idx];
                match dir {
                    super::wire::Dir::Client => &mut s.client_bytes,
                    super::wire::Dir::Server => &mut s.server_bytes,
                }
            }
            fn end(&mut self, idx: usize, outcome: Result<(), String>) {
                let s = &mut self.sessions[idx];
                s.finished = true;
                if let Err(e) = outcome {
                    s.error.get_or_insert(e);
                }
            }
        }
    };
}
pub(crate) use recorded;

/// Open a session record in `state` for the connection `tcp`: its index, the behaviour it runs with, and the wire
/// that records into it.
pub(crate) fn open<T: Recorded>(
    tcp: TcpStream,
    state: &Arc<Mutex<T>>,
) -> (usize, T::Behavior, Wire) {
    let (idx, behavior) = lock(state).open();
    let rec = state.clone();
    let wire = Wire::new(
        tcp,
        Box::new(move |dir, bytes| lock(&rec).bytes(idx, dir).extend_from_slice(bytes)),
    );
    (idx, behavior, wire)
}
