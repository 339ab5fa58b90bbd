//! Table tests of `[account.multidrop]` (issue 15, catalog M-07).

use std::collections::BTreeMap;

use super::tests::{MINIMAL, assert_one, parse, problems};
use super::*;

/// Every `[account.multidrop]` key, for `every_key_is_read`.
pub(super) const EVERY_MULTIDROP_KEY: &str = "[account.multidrop]
envelope_header = \"X-Envelope-To\"
domains = [\"example.org\"]
map = { \"info@example.org\" = \"taro@example.org\" }
fallback = \"postmaster@example.org\"
";

/// MINIMAL without its target, followed by `extra`.
fn multidrop(extra: &str) -> String {
    let base: String = MINIMAL
        .lines()
        .filter(|l| !l.starts_with("target ="))
        .map(|l| format!("{l}\n"))
        .collect();
    format!("{base}{extra}\n")
}

#[test]
fn m07_multidrop_parses_with_defaults_and_lower_cases_addresses() {
    let c = parse(&multidrop(
        "[account.multidrop]\ndomains = [\"Example.ORG\", \"example.net.\"]\n\
         map = { \"Info@example.org\" = \"Taro@example.org\" }\nfallback = \"Postmaster@example.org\"",
    ))
    .unwrap();
    let a = &c.accounts[0];
    assert_eq!(a.target, "");
    assert_eq!(
        a.multidrop,
        Some(Multidrop {
            envelope_header: "Delivered-To",
            domains: vec!["example.org".into(), "example.net".into()],
            map: BTreeMap::from([("info@example.org".into(), "taro@example.org".into())]),
            fallback: Some("postmaster@example.org".into()),
        })
    );
    let c = parse(&multidrop(
        "delivery = \"lmtp\"\nlmtp = \"127.0.0.1:24\"\n[account.multidrop]\nenvelope_header = \"x-original-to\"\n\
         domains = [\"example.org\"]",
    ))
    .unwrap();
    let m = c.accounts[0].multidrop.as_ref().unwrap();
    assert_eq!(m.envelope_header, "X-Original-To");
    assert_eq!(m.fallback, None);
    let c = parse(&multidrop(EVERY_MULTIDROP_KEY)).unwrap();
    let m = c.accounts[0].multidrop.as_ref().unwrap();
    assert_eq!(
        (m.envelope_header, m.map.len(), m.fallback.is_some()),
        ("X-Envelope-To", 1, true)
    );
    // Without multidrop nothing changes.
    assert_eq!(parse(MINIMAL).unwrap().accounts[0].multidrop, None);
}

#[test]
fn m07_multidrop_problems_are_located_at_their_key() {
    for (text, key, needle, line) in [
        (
            format!("{MINIMAL}[account.multidrop]\ndomains = [\"example.org\"]\n"),
            "target",
            "mutually exclusive",
            7,
        ),
        (
            multidrop("[account.multidrop]\nenvelope_header = \"To\"\ndomains = [\"example.org\"]"),
            "multidrop.envelope_header",
            "is not one of \"Delivered-To\", \"X-Original-To\"",
            8,
        ),
        (
            multidrop("[account.multidrop]\nfallback = \"a@example.org\""),
            "multidrop.domains",
            "missing (required)",
            7,
        ),
        (
            multidrop("[account.multidrop]\ndomains = []"),
            "multidrop.domains",
            "is empty",
            8,
        ),
        (
            multidrop("[account.multidrop]\ndomains = [\"not a domain\"]"),
            "multidrop.domains",
            "not a domain name",
            8,
        ),
        (
            multidrop(
                "[account.multidrop]\ndomains = [\"example.org\"]\nmap = { \"a@example.org\" = \"b@elsewhere.test\" }",
            ),
            "multidrop.map",
            "outside domains",
            9,
        ),
        (
            multidrop(
                "[account.multidrop]\ndomains = [\"example.org\"]\nmap = { \"nobody\" = \"b@example.org\" }",
            ),
            "multidrop.map",
            "the key \"nobody\" is not a valid address",
            9,
        ),
        (
            multidrop(
                "[account.multidrop]\ndomains = [\"example.org\"]\nfallback = \"<pm@example.org>\"",
            ),
            "multidrop.fallback",
            "not a valid address",
            9,
        ),
        (
            multidrop(
                "delivery = \"maildir\"\nmaildir = \"/var/mail/x\"\n[account.multidrop]\ndomains = [\"example.org\"]",
            ),
            "delivery",
            "needs delivery = \"smtp\" or \"lmtp\"",
            7,
        ),
    ] {
        let ps = problems(&text);
        assert_one(&ps, key, needle);
        let p = ps.iter().find(|p| p.key.as_deref() == Some(key)).unwrap();
        assert_eq!(p.line, line, "{text}\n{ps:#?}");
    }
    let ps = problems(&multidrop(
        "[account.multidrop]\ndomains = [\"example.org\"]\nfalback = \"a@example.org\"",
    ));
    assert!(
        ps.iter()
            .any(|p| p.line == 9 && p.message.contains("unknown key `falback`")),
        "{ps:#?}"
    );
    // Neither target nor multidrop: target is missing, as before.
    assert_one(&problems(&multidrop("")), "target", "missing (required)");
}
