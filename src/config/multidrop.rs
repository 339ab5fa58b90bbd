//! `[account.multidrop]` (issue 15): one ISP mailbox for a whole domain, each message delivered to the local
//! recipients named in the envelope header the ISP added. Exclusive with `target`; SMTP and LMTP only, since those
//! take several recipients in one transaction (one copy queued, per-recipient replies) and the other destinations
//! have no recipient at all (Maildir, IMAP) or one per run (an MDA's `%T`).

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::raw::{RawAccount, Str};
use super::validate::{Checker, validate_address};

/// `[account.multidrop]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMultidrop {
    pub envelope_header: Option<Str>,
    pub domains: Option<Spanned<Vec<Str>>>,
    pub map: Option<Spanned<BTreeMap<String, Str>>>,
    pub fallback: Option<Str>,
}

/// The envelope headers an ISP's delivery adds, by name (the `envelope_header` values accepted).
pub const ENVELOPE_HEADERS: &[&str] = &[
    "Delivered-To",
    "X-Original-To",
    "X-Envelope-To",
    "Envelope-To",
];

/// A validated `[account.multidrop]`. Every address is lower-cased: recipients are compared as the
/// `Delivered-To` rule compares addresses (ASCII case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multidrop {
    /// One of [`ENVELOPE_HEADERS`], as spelt there.
    pub envelope_header: &'static str,
    /// Recipients in these domains are delivered; others are dropped.
    pub domains: Vec<String>,
    /// Rewrites applied before the domain check: found address → local address.
    pub map: BTreeMap<String, String>,
    /// Where a message with no usable recipient goes; `None`: it is kept on the server and reported.
    pub fallback: Option<String>,
}

/// Check `[account.multidrop]` and its relation to `target` and `delivery`. `None` when absent or invalid
/// (problems recorded in `c`).
pub(crate) fn check(r: &RawAccount, c: &mut Checker<'_>) -> Option<Multidrop> {
    let table = r.multidrop.as_ref()?;
    let whole = table.span();
    let m = table.get_ref();
    if let Some(t) = &r.target {
        c.err(
            t.span(),
            "target",
            "target and [account.multidrop] are mutually exclusive: a multidrop account takes its recipients \
             from each message; remove one of them",
        );
    }
    if let Some(d) = &r.delivery
        && !matches!(d.get_ref().as_str(), "smtp" | "lmtp")
    {
        c.err(
            d.span(),
            "delivery",
            "[account.multidrop] needs delivery = \"smtp\" or \"lmtp\", which take several recipients in one \
             transaction; deliver through the MTA (or LMTP) and let it run the MDA or write the Maildir",
        );
    }
    let envelope_header = match &m.envelope_header {
        None => ENVELOPE_HEADERS[0],
        Some(h) => match ENVELOPE_HEADERS
            .iter()
            .find(|n| n.eq_ignore_ascii_case(h.get_ref()))
        {
            Some(n) => n,
            None => {
                let names: Vec<String> = ENVELOPE_HEADERS
                    .iter()
                    .map(|n| format!("\"{n}\""))
                    .collect();
                c.err(
                    h.span(),
                    "multidrop.envelope_header",
                    format!("{:?} is not one of {}", h.get_ref(), names.join(", ")),
                );
                ENVELOPE_HEADERS[0]
            }
        },
    };
    let domains = domains(m.domains.as_ref(), &whole, c);
    let mut map = BTreeMap::new();
    if let Some(table) = &m.map {
        for (from, to) in table.get_ref() {
            // The key has no span of its own once deserialized: its value's span is the nearest place.
            if let Err(why) = validate_address(from) {
                c.err(
                    to.span(),
                    "multidrop.map",
                    format!("the key {from:?} is not a valid address ({why})"),
                );
            }
            let to_addr = address(to, "multidrop.map", c);
            if !in_domains(&to_addr, &domains) && !domains.is_empty() {
                c.err(
                    to.span(),
                    "multidrop.map",
                    format!(
                        "{:?} is outside domains, so the mapped recipient would always be dropped; add its domain \
                         to domains",
                        to.get_ref()
                    ),
                );
            }
            map.insert(from.to_ascii_lowercase(), to_addr);
        }
    }
    let fallback = m
        .fallback
        .as_ref()
        .map(|f| address(f, "multidrop.fallback", c));
    Some(Multidrop {
        envelope_header,
        domains,
        map,
        fallback,
    })
}

/// `domains`: required and not empty, each a domain name (lower-cased).
fn domains(
    v: Option<&Spanned<Vec<Str>>>,
    whole: &Range<usize>,
    c: &mut Checker<'_>,
) -> Vec<String> {
    let Some(list) = v else {
        c.err(
            whole.clone(),
            "multidrop.domains",
            "missing (required): the local domains whose recipients are delivered, e.g. domains = [\"example.org\"]",
        );
        return Vec::new();
    };
    if list.get_ref().is_empty() {
        c.err(
            list.span(),
            "multidrop.domains",
            "is empty; name at least one local domain",
        );
    }
    let mut out = Vec::new();
    for d in list.get_ref() {
        let name = d.get_ref().trim_end_matches('.').to_ascii_lowercase();
        if !super::validate::is_domain_like(&name) || name.starts_with('[') || name.contains('@') {
            c.err(
                d.span(),
                "multidrop.domains",
                format!("{:?} is not a domain name", d.get_ref()),
            );
        }
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

fn address(s: &Str, key: &str, c: &mut Checker<'_>) -> String {
    if let Err(why) = validate_address(s.get_ref()) {
        c.err(s.span(), key, format!("not a valid address ({why})"));
    }
    s.get_ref().to_ascii_lowercase()
}

/// `address` (lower-case) is in one of `domains` (exactly: a subdomain is another domain).
pub fn in_domains(address: &str, domains: &[String]) -> bool {
    address
        .rsplit_once('@')
        .is_some_and(|(_, d)| domains.iter().any(|x| x == d.trim_end_matches('.')))
}
