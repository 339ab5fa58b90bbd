//! Bytes from a server, made into text a person or a file sees: one policy for the whole program.
//!
//! Everything a POP3 server, the MTA or an OAuth provider sends is untrusted: before STLS it may come from an
//! attacker, and any server may echo what it was sent. Three things happen to it, always in this order:
//! 1. **scrubbing** ([`Secrets`]): the account's password, the AUTH payloads popfetch sent and OAuth tokens, raw,
//!    base64 or hex, become `[redacted]` (invariant 5, catalog T-20), on the whole text;
//! 2. **escaping**: printable ASCII, TAB and printable UTF-8 stay, every other byte (controls, DEL, invalid UTF-8,
//!    bidi and zero-width characters) becomes `\xNN` (catalog P-32, H-14). ESC reads `\x1b` in an error line, in
//!    the trace and in a diff alike;
//! 3. **bounding**: cut after a number of characters chosen by the context, with `[... N more bytes]`.
//!
//! The result is a [`Shown`], which only [`Secrets::show`] makes. [`lines`] holds the one rule for where lines
//! end (`\r+\n` is one line end), shared by the header scanner, `--diff` and the trace.

/// Bound for one server reply or name inside a longer line (a `-ERR` text, an MTA reply, a certificate name).
pub const REPLY: usize = 300;
/// Bound for a line shown on its own (a `--diff` line, a `-vv` trace line).
pub const LINE: usize = 1000;

mod escape;
pub(crate) mod lines;
mod secrets;

pub use escape::Shown;
pub use secrets::{MARKER, Secrets};
