//! The header pipeline: pure functions over raw message bytes, no I/O.
//!
//! Invariant 7 (design.md): the only edits ever made to a message are, in this order,
//! 1. line endings normalised to CRLF ([`normalize_line_endings`], RFC 5321 §2.3.8),
//! 2. `Delivered-To` fields removed by the account's rule ([`Rules`]), each as a whole field with its folds,
//! 3. one `Received` field prepended ([`received_field`]).
//!
//! Every other byte passes through untouched: no unfolding, re-encoding or re-serialisation, so 8-bit bytes,
//! NULs, folding and header order survive and DKIM signatures stay valid unless they covered a removed field.
//! Field boundaries come from our own scanner (`scan.rs`), which mirrors what Postfix reads as the header section;
//! [`apply`] reports each edit so callers can log it and `--diff` can show it.
//!
//! Neighbours: `poller` calls [`apply`] and [`return_path`] on each fetched message; `smtp` dot-stuffs the result.

mod address;
mod received;
mod scan;
pub mod stream;
#[cfg(test)]
mod tests;

use std::fmt;

pub use address::{ReturnPath, normalize_address, return_path, valid_envelope_address};
pub use received::{ReceivedInfo, received_field, rfc5322_date};
pub use scan::{header_block_end, normalize_line_endings};

use crate::config::DropDeliveredTo;

/// The unfolded value of the first header field called `name` (case-insensitive), if the message has one.
pub fn first_field(raw: &[u8], name: &str) -> Option<Vec<u8>> {
    let section = scan::scan(raw, scan::LineEnds::Any, false);
    let field = section.fields.iter().find(|f| f.is_named(raw, name))?;
    Some(scan::unfolded_value(raw, field, scan::LineEnds::Any))
}

/// The unfolded values of the fields called `name` (case-insensitive) above the first `Received` field, top
/// down: the envelope fields the last hop's delivery added (issue 15, multidrop). A field below a `Received` came
/// from an earlier hop (the sender's own server, a mailing list) and does not name a recipient of this delivery.
pub fn fields_above_received(raw: &[u8], name: &str) -> Vec<Vec<u8>> {
    let section = scan::scan(raw, scan::LineEnds::Any, false);
    section
        .fields
        .iter()
        .take_while(|f| !f.is_named(raw, "Received"))
        .filter(|f| f.is_named(raw, name))
        .map(|f| scan::unfolded_value(raw, f, scan::LineEnds::Any))
        .collect()
}

/// What [`apply`] does to one message; built from an account's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// The account's RCPT TO address.
    pub target: String,
    /// Which `Delivered-To` fields go.
    pub drop: DropDeliveredTo,
    /// Further addresses whose `Delivered-To` fields go under [`DropDeliveredTo::Matching`].
    pub strip: Vec<String>,
    /// A multidrop message's recipients (issue 15), as found and as delivered to: each `Delivered-To` naming one
    /// goes under [`DropDeliveredTo::Matching`], since the local MTA would see it as a loop.
    pub recipients: Vec<String>,
    /// The field to prepend, full field bytes incl. trailing CRLF, from [`received_field`]; `None`: prepend nothing.
    pub received: Option<Vec<u8>>,
}

/// Why a `Delivered-To` field was removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemovalReason {
    /// It named the account's target (the configured spelling).
    EqualsTarget(String),
    /// It named this `strip_delivered_to` entry (the configured spelling).
    InStripList(String),
    /// `drop_delivered_to = "all"`.
    DropAll,
    /// It named a recipient of this multidrop message.
    Recipient(String),
}

impl fmt::Display for RemovalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EqualsTarget(target) => write!(f, "equals target {target}"),
            Self::InStripList(address) => write!(f, "listed in strip_delivered_to {address}"),
            Self::DropAll => f.write_str("drop_delivered_to = \"all\""),
            Self::Recipient(address) => write!(f, "names recipient {address}"),
        }
    }
}

/// One change [`apply`] made, in the order made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// A `Delivered-To` field left the message.
    RemovedDeliveredTo {
        /// The whole field incl. folds and CRLF, as it was after line-ending normalisation.
        raw: Vec<u8>,
        /// The normalised address, or the escaped value when it holds no address.
        address: String,
        reason: RemovalReason,
    },
    /// The `Received` field was prepended.
    AddedReceived { raw: Vec<u8> },
    /// Bare line ends became CRLF.
    NormalizedLineEndings { bare_lf: usize, bare_cr: usize },
}

/// A message after the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filtered {
    pub message: Vec<u8>,
    pub edits: Vec<Edit>,
}

/// Runs the pipeline: normalise line endings, remove `Delivered-To` fields by `rules`, prepend `rules.received`.
///
/// Total: any input, including empty, headerless (H-11) or separator-less (H-10) messages, yields a message.
/// Time and memory are linear in the input (H-13).
pub fn apply(raw: &[u8], rules: &Rules) -> Filtered {
    let mut edits = Vec::new();
    let (normalized, bare_lf, bare_cr) = normalize_line_endings(raw);
    if bare_lf + bare_cr > 0 {
        edits.push(Edit::NormalizedLineEndings { bare_lf, bare_cr });
    }
    let msg: &[u8] = &normalized;

    let matcher = Matcher::new(rules);
    let section = scan::scan(msg, scan::LineEnds::Any, rules.received.is_some());
    let received = rules.received.as_deref().unwrap_or_default();
    let mut out = Vec::with_capacity(received.len() + msg.len());
    out.extend_from_slice(received);
    let mut copied = 0;
    for field in section
        .fields
        .iter()
        .filter(|f| f.is_named(msg, "Delivered-To"))
    {
        let value = field.value(msg);
        let Some((address, reason)) = matcher.decide(value) else {
            continue;
        };
        out.extend_from_slice(&msg[copied..field.start]);
        copied = field.end;
        let raw = msg[field.start..field.end].to_vec();
        edits.push(Edit::RemovedDeliveredTo {
            raw,
            address,
            reason,
        });
    }
    out.extend_from_slice(&msg[copied..]);
    if let Some(received) = &rules.received {
        edits.push(Edit::AddedReceived {
            raw: received.clone(),
        });
    }
    Filtered {
        message: out,
        edits,
    }
}

/// The `Delivered-To` rule with its addresses normalised once per message.
struct Matcher<'r> {
    rules: &'r Rules,
    target: String,
    strip: Vec<String>,
    recipients: Vec<String>,
}

impl<'r> Matcher<'r> {
    fn new(rules: &'r Rules) -> Self {
        let norm =
            |a: &str| normalize_address(a.as_bytes()).unwrap_or_else(|| a.to_ascii_lowercase());
        Self {
            rules,
            target: norm(&rules.target),
            strip: rules.strip.iter().map(|a| norm(a)).collect(),
            recipients: rules.recipients.iter().map(|a| norm(a)).collect(),
        }
    }

    /// `Some((address for the log, reason))` when the field with this value goes.
    fn decide(&self, value: &[u8]) -> Option<(String, RemovalReason)> {
        let address = normalize_address(value);
        match self.rules.drop {
            DropDeliveredTo::None => None,
            DropDeliveredTo::All => {
                let shown =
                    address.unwrap_or_else(|| value.trim_ascii().escape_ascii().to_string());
                Some((shown, RemovalReason::DropAll))
            }
            DropDeliveredTo::Matching => {
                let address = address?;
                if address == self.target {
                    return Some((
                        address,
                        RemovalReason::EqualsTarget(self.rules.target.clone()),
                    ));
                }
                if let Some(i) = self.recipients.iter().position(|s| *s == address) {
                    let named = self.rules.recipients[i].clone();
                    return Some((address, RemovalReason::Recipient(named)));
                }
                let i = self.strip.iter().position(|s| *s == address)?;
                Some((
                    address,
                    RemovalReason::InStripList(self.rules.strip[i].clone()),
                ))
            }
        }
    }
}
