//! Multidrop (issue 15): which local recipients one message fetched from a domain's catch-all mailbox goes to.
//! Pure: message bytes and `[account.multidrop]` in, the sorting out; the poller delivers it (`poller::recipients`).
//!
//! The rule (README "Multidrop", docs/decisions.md):
//! 1. Only the fields named `envelope_header` above the first `Received` field are read: the ones the ISP's delivery
//!    added ([`crate::headers::fields_above_received`]). `To`/`Cc` are never read: guessing recipients from them is
//!    fetchmail's known source of misdelivery and loops.
//! 2. A field may hold several addresses separated by commas; each is normalised as the `Delivered-To` rule
//!    normalises ([`crate::headers::normalize_address`]: comments, brackets, case).
//! 3. `map` rewrites an address (exact match after normalisation), before the domain check.
//! 4. An address outside `domains`, or one that cannot be an envelope address (design invariant 6), is dropped.
//! 5. Duplicates are delivered once, in the order first found.

use std::fmt;

use crate::config::{Multidrop, in_domains};
use crate::headers::{fields_above_received, normalize_address, valid_envelope_address};

/// What became of one address found in the envelope header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// A recipient; `mapped` when `map` rewrote it to another address.
    Recipient { mapped: Option<String> },
    /// Outside `domains` (after `map`, when it applied): dropped.
    Outside { mapped: Option<String> },
    /// The same recipient as an earlier address: delivered once.
    Duplicate,
    /// Not usable as an envelope address (no `@`, white space, non-ASCII): dropped.
    Unusable,
}

/// One address of the envelope header, as found (normalised; escaped when it is not an address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub address: String,
    pub fate: Fate,
}

/// The recipients of one message and how they were found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sorting {
    /// The header that was read (`envelope_header`).
    pub header: &'static str,
    /// Every address found, in order.
    pub found: Vec<Found>,
    /// The final recipients, deduplicated, in the order found. Empty: no usable recipient (the caller uses
    /// `fallback`).
    pub recipients: Vec<String>,
}

impl Sorting {
    /// The addresses the `Delivered-To` rule removes fields for: every recipient, as found and as mapped.
    pub fn loop_addresses(&self) -> Vec<String> {
        let mut out: Vec<String> = self.recipients.clone();
        for f in &self.found {
            if matches!(f.fate, Fate::Recipient { .. } | Fate::Duplicate)
                && !out.contains(&f.address)
            {
                out.push(f.address.clone());
            }
        }
        out
    }

    /// Addresses dropped, for warnings.
    pub fn dropped(&self) -> impl Iterator<Item = &Found> {
        self.found
            .iter()
            .filter(|f| matches!(f.fate, Fate::Outside { .. } | Fate::Unusable))
    }
}

/// Sort the recipients of the message `raw` (as fetched) by the rule in the module docs.
pub fn sort(raw: &[u8], md: &Multidrop) -> Sorting {
    let mut found = Vec::new();
    let mut recipients: Vec<String> = Vec::new();
    for value in fields_above_received(raw, md.envelope_header) {
        for part in split_list(&value) {
            let Some(address) = normalize_address(part) else {
                let shown = part.trim_ascii().escape_ascii().to_string();
                if !shown.is_empty() {
                    found.push(Found {
                        address: shown,
                        fate: Fate::Unusable,
                    });
                }
                continue;
            };
            let mapped = md.map.get(&address).cloned();
            let fin = mapped.clone().unwrap_or_else(|| address.clone());
            let fate = if !valid_envelope_address(&fin) {
                Fate::Unusable
            } else if !in_domains(&fin, &md.domains) {
                Fate::Outside { mapped }
            } else if recipients.contains(&fin) {
                Fate::Duplicate
            } else {
                recipients.push(fin);
                Fate::Recipient { mapped }
            };
            found.push(Found { address, fate });
        }
    }
    Sorting {
        header: md.envelope_header,
        found,
        recipients,
    }
}

/// Whom one message goes to.
pub struct Chosen {
    pub sorting: Sorting,
    /// The recipients, or the `fallback` alone when the message named none; empty: none and no fallback.
    pub to: Vec<String>,
    /// `to` is the fallback.
    pub fallback: bool,
}

impl Chosen {
    /// The addresses whose `Delivered-To` fields the loop rule removes: the recipients as found and as mapped,
    /// and the fallback when the message goes there.
    pub fn loop_addresses(&self) -> Vec<String> {
        let mut out = self.sorting.loop_addresses();
        out.extend(
            self.to
                .iter()
                .filter(|a| !out.contains(a))
                .cloned()
                .collect::<Vec<_>>(),
        );
        out
    }

    /// One line for logs and the dry run: what was found in the envelope header and what became of it.
    pub fn describe(&self) -> String {
        let found: Vec<String> = self.sorting.found.iter().map(ToString::to_string).collect();
        let found = if found.is_empty() {
            format!("no {} field above the first Received", self.sorting.header)
        } else {
            format!("{}: {}", self.sorting.header, found.join(", "))
        };
        match (self.fallback, self.to.first()) {
            (true, Some(f)) => format!("{found}; no usable recipient, so to the fallback {f}"),
            (_, None) => format!("{found}; no usable recipient and no fallback"),
            (false, Some(_)) => found,
        }
    }
}

/// The recipients of `raw` by the multidrop rule ([`sort`]), falling back to `fallback`.
pub fn choose(md: &Multidrop, raw: &[u8]) -> Chosen {
    let sorting = sort(raw, md);
    match (&md.fallback, sorting.recipients.is_empty()) {
        (Some(f), true) => Chosen {
            sorting,
            to: vec![f.clone()],
            fallback: true,
        },
        _ => Chosen {
            to: sorting.recipients.clone(),
            sorting,
            fallback: false,
        },
    }
}

/// Split a header value at the commas that separate addresses: not inside a quoted string, a comment or angle
/// brackets (RFC 5322 §3.4 address-list, loosely).
fn split_list(value: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let (mut quote, mut depth, mut angle, mut escaped) = (false, 0usize, false, false);
    let mut start = 0;
    for (i, &b) in value.iter().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match b {
            b'\\' if quote || depth > 0 => escaped = true,
            b'"' if depth == 0 => quote = !quote,
            b'(' if !quote => depth += 1,
            b')' if !quote && depth > 0 => depth -= 1,
            b'<' if !quote && depth == 0 => angle = true,
            b'>' if !quote && depth == 0 => angle = false,
            b',' if !quote && depth == 0 && !angle => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts
}

impl fmt::Display for Found {
    /// `a@x`, `a@x → b@x`, `a@x (outside domains)`, ... for the dry run and logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.fate {
            Fate::Recipient { mapped: None } => write!(f, "{}", self.address),
            Fate::Recipient { mapped: Some(m) } => write!(f, "{} -> {m} (mapped)", self.address),
            Fate::Outside { mapped: None } => {
                write!(f, "{} (dropped: outside domains)", self.address)
            }
            Fate::Outside { mapped: Some(m) } => {
                write!(f, "{} -> {m} (dropped: outside domains)", self.address)
            }
            Fate::Duplicate => write!(f, "{} (duplicate)", self.address),
            Fate::Unusable => write!(f, "{} (dropped: not an envelope address)", self.address),
        }
    }
}

#[cfg(test)]
mod tests;
