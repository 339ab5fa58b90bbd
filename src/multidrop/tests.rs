//! Table tests of the recipient rule (catalog M-01..M-06).

use std::collections::BTreeMap;

use super::{Fate, Found, sort, split_list};
use crate::config::Multidrop;

fn md(header: &'static str) -> Multidrop {
    Multidrop {
        envelope_header: header,
        domains: vec!["example.org".into(), "example.net".into()],
        map: BTreeMap::from([("info@example.org".to_owned(), "taro@example.org".to_owned())]),
        fallback: None,
    }
}

fn recipients(msg: &str, header: &'static str) -> Vec<String> {
    sort(msg.as_bytes(), &md(header)).recipients
}

#[test]
fn m01_recipient_table() {
    let rcv = "Received: from mx by isp; Mon, 1 Jan 2024 00:00:00 +0000\r\n";
    let rows: &[(&str, &str, &[&str])] = &[
        // Missing envelope header: nobody (the caller uses fallback).
        ("Delivered-To", "Subject: x\r\n\r\nbody\r\n", &[]),
        // One field each, case and brackets and comments normalised.
        (
            "Delivered-To",
            "Delivered-To: <Taro@Example.ORG>\r\nDelivered-To: hanako@example.org (home)\r\n\r\n",
            &["taro@example.org", "hanako@example.org"],
        ),
        // Several addresses in one field.
        (
            "X-Envelope-To",
            "X-Envelope-To: <a@example.org>, b@example.net,\r\n c@example.org\r\n\r\n",
            &["a@example.org", "b@example.net", "c@example.org"],
        ),
        // Outside domains: dropped; a subdomain is another domain.
        (
            "Delivered-To",
            "Delivered-To: a@example.com\r\nDelivered-To: b@sub.example.org\r\nDelivered-To: c@example.org\r\n\r\n",
            &["c@example.org"],
        ),
        // map before the domain check, then deduplicated.
        (
            "Delivered-To",
            "Delivered-To: info@example.org\r\nDelivered-To: TARO@example.org\r\n\r\n",
            &["taro@example.org"],
        ),
        // Only the fields above the first Received: the one below came from an earlier hop.
        (
            "Delivered-To",
            &format!("Delivered-To: a@example.org\r\n{rcv}Delivered-To: list@example.org\r\n\r\n"),
            &["a@example.org"],
        ),
        (
            "Delivered-To",
            &format!("{rcv}Delivered-To: list@example.org\r\n\r\n"),
            &[],
        ),
        // Never To or Cc; the header name is case-insensitive; another header is not read.
        (
            "X-Original-To",
            "To: a@example.org\r\nCc: b@example.org\r\nx-original-to: c@example.org\r\nDelivered-To: d@example.org\r\n\r\n",
            &["c@example.org"],
        ),
        // Not envelope addresses: white space, no @, a quoted comma is not a separator.
        (
            "Envelope-To",
            "Envelope-To: \"a,b c\"@example.org, nobody, ok@example.org\r\n\r\n",
            &["ok@example.org"],
        ),
        // Bare LF line endings read the same.
        (
            "Delivered-To",
            "Delivered-To: a@example.org\n\nbody\n",
            &["a@example.org"],
        ),
    ];
    for (header, msg, want) in rows {
        let header: &'static str = match *header {
            "Delivered-To" => "Delivered-To",
            "X-Original-To" => "X-Original-To",
            "X-Envelope-To" => "X-Envelope-To",
            _ => "Envelope-To",
        };
        assert_eq!(recipients(msg, header), *want, "{msg:?}");
    }
}

#[test]
fn m02_each_found_address_says_what_became_of_it() {
    let s = sort(
        b"Delivered-To: info@example.org\r\nDelivered-To: x@example.com\r\nDelivered-To: taro@example.org\r\n\
          Delivered-To: junk\r\n\r\n",
        &md("Delivered-To"),
    );
    assert_eq!(
        s.found,
        vec![
            Found {
                address: "info@example.org".into(),
                fate: Fate::Recipient {
                    mapped: Some("taro@example.org".into())
                }
            },
            Found {
                address: "x@example.com".into(),
                fate: Fate::Outside { mapped: None }
            },
            Found {
                address: "taro@example.org".into(),
                fate: Fate::Duplicate
            },
            Found {
                address: "junk".into(),
                fate: Fate::Unusable
            },
        ]
    );
    let shown: Vec<String> = s.found.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "info@example.org -> taro@example.org (mapped)",
            "x@example.com (dropped: outside domains)",
            "taro@example.org (duplicate)",
            "junk (dropped: not an envelope address)"
        ]
    );
    // The loop rule removes the fields naming the recipient as found and as delivered to.
    assert_eq!(s.loop_addresses(), ["taro@example.org", "info@example.org"]);
    assert_eq!(s.dropped().count(), 2);
}

#[test]
fn m03_split_list_respects_quotes_comments_and_brackets() {
    let parts: Vec<&[u8]> = split_list(b"\"a,b\"@x, (c,d) e@x, <f,g@x>, h@x");
    assert_eq!(
        parts,
        [&b"\"a,b\"@x"[..], b" (c,d) e@x", b" <f,g@x>", b" h@x"]
    );
}
