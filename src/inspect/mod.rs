//! Seeing what popfetch does: the `--diff` of each message's header block ([`diff`]), MTA refusals in plain words
//! ([`explain`]), and the `-vv` protocol trace ([`trace`]), a sink the poller hands to each client.
//!
//! Pure or write-only: these modules read bytes and make text; none of them decides what is delivered. They
//! depend only on `headers` and `untrusted` below them. The dry run (`run --dry-run`) is also a way of seeing, but
//! it executes the poller's plan, so it is a mode of the poller (`poller::dry_run`), not a module here.

pub mod diff;
pub mod explain;
pub mod trace;
