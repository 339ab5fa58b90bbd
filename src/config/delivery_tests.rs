//! Table tests of `delivery` and its keys (issue 12).

use std::path::PathBuf;
use std::time::Duration;

use super::tests::{MINIMAL, assert_one, parse, problems, with};
use super::*;

#[test]
fn smtp_is_the_default_and_each_destination_parses() {
    assert_eq!(parse(MINIMAL).unwrap().accounts[0].delivery, Delivery::Smtp);
    let c = parse(&with(
        "delivery = \"mda\"\nmda = [\"/usr/lib/dovecot/dovecot-lda\", \"-d\", \"%T\", \"-f\", \"%F\"]",
    ))
    .unwrap();
    assert_eq!(
        c.accounts[0].delivery,
        Delivery::Mda(Mda {
            argv: ["/usr/lib/dovecot/dovecot-lda", "-d", "%T", "-f", "%F"]
                .map(String::from)
                .to_vec(),
            timeout: DEFAULT_MDA_TIMEOUT,
        })
    );
    let c = parse(&with(
        "delivery = \"mda\"\nmda = [\"procmail\"]\nmda_timeout = 30",
    ))
    .unwrap();
    assert!(
        matches!(&c.accounts[0].delivery, Delivery::Mda(m) if m.timeout == Duration::from_secs(30))
    );
    let c = parse(&with(
        "delivery = \"maildir\"\nmaildir = \"/home/taro/Maildir\"",
    ))
    .unwrap();
    assert_eq!(
        c.accounts[0].delivery,
        Delivery::Maildir(PathBuf::from("/home/taro/Maildir"))
    );
}

#[test]
fn keys_of_another_destination_and_missing_keys_are_errors_at_their_place() {
    for (text, key, needle) in [
        (
            "delivery = \"pigeon\"",
            "delivery",
            "is not one of \"smtp\", \"lmtp\", \"mda\", \"maildir\"",
        ),
        (
            "lmtp = \"127.0.0.1:24\"",
            "lmtp",
            "only used with delivery = \"lmtp\"",
        ),
        ("delivery = \"lmtp\"", "lmtp", "missing"),
        (
            "delivery = \"lmtp\"\nlmtp = \"localhost\"",
            "lmtp",
            "neither",
        ),
        (
            "delivery = \"lmtp\"\nlmtp = \"localhost:0\"",
            "lmtp",
            "neither",
        ),
        (
            "delivery = \"lmtp\"\nlmtp = \"bad host:24\"",
            "lmtp",
            "neither",
        ),
        ("delivery = \"lmtp\"\nlmtp = \"unix:\"", "lmtp", "is empty"),
        (
            "mda = [\"procmail\"]",
            "mda",
            "only used with delivery = \"mda\"",
        ),
        (
            "mda_timeout = 5",
            "mda_timeout",
            "only used with delivery = \"mda\"",
        ),
        (
            "maildir = \"/m\"",
            "maildir",
            "only used with delivery = \"maildir\"",
        ),
        (
            "delivery = \"maildir\"\nmda = [\"x\"]\nmaildir = \"/m\"",
            "mda",
            "only used with delivery = \"mda\"",
        ),
        ("delivery = \"mda\"", "mda", "missing"),
        ("delivery = \"maildir\"", "maildir", "missing"),
        ("delivery = \"mda\"\nmda = []", "mda", "is empty"),
        (
            "delivery = \"mda\"\nmda = [\"\"]",
            "mda",
            "program name is empty",
        ),
        (
            "delivery = \"mda\"\nmda = [\"procmail\", \"-d\", \"%u\"]",
            "mda",
            "unknown placeholder %u",
        ),
        (
            "delivery = \"mda\"\nmda = [\"procmail\", \"50%\"]",
            "mda",
            "unknown placeholder",
        ),
        (
            "delivery = \"mda\"\nmda = [\"x\"]\nmda_timeout = 0",
            "mda_timeout",
            "out of range",
        ),
        (
            "delivery = \"maildir\"\nmaildir = \"~/Maildir\"",
            "maildir",
            "`~` is not expanded",
        ),
    ] {
        let ps = problems(&with(text));
        assert_one(&ps, key, needle);
        assert!(ps.iter().all(|p| p.line > 0), "{ps:#?}");
    }
}
