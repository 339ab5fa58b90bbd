//! fetchmail's multidrop poll (several local names, `*`, or `remote=local` mappings) → `[account.multidrop]`
//! (issue 15). Pure. fetchmail reads the recipient from `envelope` (default `X-Envelope-To`), keeps addresses in
//! `localdomains`, and maps each local part through the local names; popfetch keeps the recipients in `domains`
//! as they are and rewrites through `map`, so a `remote=local` name becomes one `map` entry per domain.

use super::{LocalName, Settings, Val};
use crate::config::ENVELOPE_HEADERS;
use crate::import::{Note, Value};

/// Keys of an account, in output order, and notes about them.
type Translated = (Vec<(&'static str, Value)>, Vec<Note>);

/// The keys of `[account.multidrop]` (dotted, inside the `[[account]]` table) and notes, or why the poll cannot be
/// translated (then the account is written commented out).
pub(super) fn translate(s: &Settings, names: &[LocalName]) -> Result<Translated, String> {
    let mut notes = Vec::new();
    let domains: Vec<String> = match s.get("localdomains").map(|v| &v.val) {
        Some(Val::List(list)) if !list.is_empty() => list
            .iter()
            .map(|d| String::from_utf8_lossy(d).to_ascii_lowercase())
            .collect(),
        _ => {
            return Err(
                "multidrop without `localdomains`: popfetch's [account.multidrop] needs the local domains named \
                 (domains = [...])"
                    .into(),
            );
        }
    };
    let header = match s.get("envelope") {
        None => {
            notes.push(Note::info(
                None,
                "no `envelope`: fetchmail's default X-Envelope-To is written out (popfetch's default is \
                 Delivered-To)",
            ));
            "X-Envelope-To"
        }
        Some(v) => match &v.val {
            Val::Envelope(0, h) => {
                let h = String::from_utf8_lossy(h);
                match ENVELOPE_HEADERS.iter().find(|n| n.eq_ignore_ascii_case(&h)) {
                    Some(n) => n,
                    None => {
                        return Err(format!(
                            "envelope {h:?}: popfetch reads one of {}",
                            ENVELOPE_HEADERS.join(", ")
                        ));
                    }
                }
            }
            Val::Envelope(skip, _) => {
                return Err(format!(
                    "envelope {skip} ...: popfetch reads every envelope field above the first Received, it skips \
                     none"
                ));
            }
            _ => {
                return Err(
                    "no envelope: fetchmail would guess recipients from To/Cc, which popfetch never does".into(),
                );
            }
        },
    };
    let mut map = Vec::new();
    let mut plain = Vec::new();
    for (name, to) in names {
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        match to {
            Some(to) => {
                let to = String::from_utf8_lossy(to).to_ascii_lowercase();
                for d in &domains {
                    let local = if to.contains('@') {
                        to.clone()
                    } else {
                        format!("{to}@{d}")
                    };
                    map.push((format!("{name}@{d}"), local));
                }
            }
            None if name == "*" => {}
            None => plain.push(name),
        }
    }
    if !plain.is_empty() {
        notes.push(Note::info(
            None,
            format!(
                "local names {}: popfetch delivers every recipient in domains; the MTA refuses one it does not know \
                 (journalled, no bounce)",
                plain.join(" ")
            ),
        ));
    }
    let mut keys = vec![
        ("multidrop.envelope_header", Value::Str(header.to_owned())),
        ("multidrop.domains", Value::List(domains)),
    ];
    if !map.is_empty() {
        keys.push(("multidrop.map", Value::Map(map)));
    }
    Ok((keys, notes))
}
