//! popfetch: fetch mail from POP3 accounts and reinject it, byte-exact, into the local MTA over SMTP.
//!
//! # Layout
//! Data flows one way: `config` → `poller` → `pop3` → `headers` → `smtp` or `deliver` → `state`. The same list,
//! with the flow of a poll, is in `docs/design.md` ("Modules").
//!
//! Entry points:
//! - [`cli`]: the command line (clap types, no I/O); `main.rs` dispatches.
//! - [`poller`]: one poll of one account, enforcing the delivery order: a pure plan (what to fetch, what to leave)
//!   executed by the run, or by the dry run (`poller::dry_run`, a mode of the poller) that fetches and shows but
//!   changes nothing.
//! - [`daemon`]: `popfetch daemon`: per-account schedules, backoff, signals, the single-instance lock.
//! - [`check`]: `popfetch check`: what can be verified before a poll, offline and `--connect`.
//! - [`import`]: `popfetch import`: another fetcher's configuration and UID state → popfetch's.
//!
//! Protocols and destinations (each handed its secrets and its trace sink by the poller):
//! - [`pop3`]: a sans-IO codec plus one client that owns its stream and read buffer.
//! - [`tls`]: rustls client configs (system roots, CA file, SHA-256 pin), ring provider only, and the stream
//!   (plain TCP or TLS over it) under the POP3 client and the IMAP destination.
//! - [`smtp`]: reinjection into the MTA: popfetch's own SMTP/LMTP client, one connection per poll.
//! - [`deliver`]: the local destinations: an MDA, a Maildir, IMAP APPEND.
//! - [`oauth`]: OAuth 2.0 tokens for XOAUTH2/OAUTHBEARER logins: the token store, refresh, `popfetch auth`'s
//!   flows and the SASL payloads (no mail protocol code; `pop3` and the destinations use it).
//!
//! Data:
//! - [`config`]: TOML → validated [`config::Config`]; pure `parse_str`.
//! - [`headers`]: the header pipeline, pure functions over raw bytes.
//! - [`state`]: the per-account UID journal and lock.
//! - [`status`]: per-account status files, `popfetch status` and the Prometheus metrics file.
//! - [`multidrop`]: which local recipients a message from a domain's catch-all mailbox goes to (issue 15).
//!
//! Seeing what happens:
//! - [`inspect`]: `--diff`, MTA refusals in plain words, and the `-vv` protocol trace, a sink handed to the
//!   clients ([`inspect::trace::Trace`]).
//! - [`logging`]: where log lines go (stderr, journald, syslog); [`progress`]: the bars of a run on a terminal.
//!
//! Shared below everything:
//! - [`untrusted`]: server bytes made into text: the one escaping policy, secrets scrubbing, where lines end.
//! - [`error`]: the exit classes and which failure maps to which (one table); [`secret`]: a value that never
//!   prints; `process`: child processes in their own process group; [`failpoint`]: named crash points for the
//!   kill -9 tests (debug builds only); `bytes`: the vectorisable pair scan the byte codecs share (dot-unstuffing,
//!   line-ending normalisation, dot-stuffing).
//!
//! The flow of a poll and the numbered invariants that comments cite ("invariant 1") are in `docs/design.md`.
//!
//! # The delivery invariant
//! A message is `DELE`d only after the MTA answered 2xx to end-of-DATA *and* its UID was fsynced to the state
//! journal. Killing popfetch at any instant loses nothing; the one duplicate window (killed between the MTA's 2xx
//! and the fsync) is detected and logged by the next run.
#![forbid(unsafe_code)]
// The library exists for the binary and the tests: its public items link to the private ones that do the work,
// and the docs are read as a developer's map (`cargo doc --document-private-items`).
#![allow(rustdoc::private_intra_doc_links)]

pub(crate) mod bytes;
pub mod check;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod deliver;
pub mod error;
pub mod failpoint;
pub mod headers;
pub mod import;
pub mod inspect;
pub mod logging;
pub mod multidrop;
pub mod oauth;
pub mod poller;
pub mod pop3;
pub(crate) mod process;
pub mod progress;
pub mod secret;
pub mod smtp;
pub mod state;
pub mod status;
pub mod tls;
pub mod untrusted;

#[cfg(test)]
mod test_peer;

/// The test PKI the integration tests use too, so that in-crate TLS tests have the same CA and certificates.
#[cfg(test)]
#[allow(dead_code)]
#[path = "../tests/support/pki.rs"]
pub(crate) mod test_pki;
