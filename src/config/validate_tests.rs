//! Table tests of value checks: names, addresses, credentials (T-24), TLS, numbers and paths.

use std::path::{Path, PathBuf};

use super::tests::{MINIMAL, SOURCE, assert_one, defaults, parse, problems, replacing, with};
use super::*;

#[test]
fn account_names_are_safe_file_names() {
    for bad in [
        "\"../etc\"",
        "\".hidden\"",
        "\"a b\"",
        "\"\"",
        &format!("\"{}\"", "a".repeat(65)),
        "\"é\"",
    ] {
        let ps = problems(&replacing("name", bad));
        assert_one(&ps, "name", "names the state file");
    }
    parse(&replacing("name", &format!("\"{}\"", "a".repeat(64)))).unwrap();
}

#[test]
fn invalid_target_addresses_are_refused() {
    for (value, why) in [
        (r#""a@b>""#, "`<` or `>`"),
        (r#""<a@b>""#, "`<` or `>`"),
        (r#""a b@c""#, "white space"),
        ("\"a\\t@c\"", "white space"),
        (r#""a@b\r\nRCPT TO:<x@y>""#, "line break"),
        (r#""a@b\u0000""#, "NUL"),
        (r#""ab""#, "exactly one `@`"),
        (r#""a@b@c""#, "exactly one `@`"),
        (r#""@b""#, "exactly one `@`"),
        (r#""a@""#, "exactly one `@`"),
        (r#""""#, "empty"),
        (r#""tarō@example.org""#, "non-ASCII"),
        (&format!("\"{}@b\"", "a".repeat(253)), "254"),
    ] {
        let ps = problems(&replacing("target", value));
        assert_one(&ps, "target", "not a valid address (");
        assert_one(&ps, "target", why);
        let shown = ConfigError::Invalid {
            path: SOURCE.into(),
            problems: ps,
        }
        .to_string();
        assert!(
            shown.contains(": account \"isp\": key `target`: not a valid address ("),
            "{shown}"
        );
        assert!(
            !shown.contains("\r"),
            "an error line must not carry the injected CR: {shown:?}"
        );
    }
    for ok in [
        "\"a@b\"",
        "\"first.last+tag@sub.example.org\"",
        &format!("\"{}@b\"", "a".repeat(252)),
    ] {
        parse(&replacing("target", ok)).unwrap();
    }
}

#[test]
fn other_addresses_are_validated_too() {
    assert_one(
        &problems(&with("envelope_from_fallback = \"x y@z\"")),
        "envelope_from_fallback",
        "white space",
    );
    assert_one(
        &problems(&with("strip_delivered_to = [\"ok@x\", \"<bad@x>\"]")),
        "strip_delivered_to",
        "`<`",
    );
    assert_one(
        &problems(&with(
            "drop_delivered_to = \"all\"\nstrip_delivered_to = [\"a@b\"]",
        )),
        "strip_delivered_to",
        "only used with drop_delivered_to = \"matching\"",
    );
}

#[test]
fn t24_credentials_with_line_breaks_are_refused_without_echo() {
    let text =
        replacing("password_file", "\"hunter2\\r\\nDELE 1\"").replace("password_file", "password");
    let err = parse(&text).unwrap_err();
    assert!(
        err.to_string()
            .contains("key `password`: contains CR, LF or NUL"),
        "{err}"
    );
    assert!(
        !err.to_string().contains("hunter2"),
        "the password must not be echoed: {err}"
    );
    assert_one(
        &problems(&replacing("user", "\"taro\\nQUIT\"")),
        "user",
        "CR, LF or NUL",
    );
    assert_one(
        &problems(&replacing("user", "\"\"")),
        "user",
        "1 to 240 bytes",
    );
    assert_one(
        &problems(&replacing("password_file", "\"\"").replace("password_file", "password")),
        "password",
        "empty",
    );
}

#[test]
fn tls_none_with_a_password_needs_consent_in_words() {
    let ps = problems(&with("tls = \"none\""));
    assert_one(&ps, "tls", "add `allow_plaintext_password = true`");
    let c = parse(&with("tls = \"none\"\nallow_plaintext_password = true")).unwrap();
    assert_eq!(
        (c.accounts[0].tls, c.accounts[0].port),
        (TlsMode::None, 110)
    );
    assert_one(
        &problems(&with("tls = \"none\"\nallow_plaintext_password = false")),
        "tls",
        "unencrypted",
    );
    assert_one(
        &problems(&with("allow_plaintext_password = true")),
        "allow_plaintext_password",
        "has no effect unless tls = \"none\"",
    );
}

#[test]
fn exactly_one_password_source() {
    let ps = problems(&with("password = \"x\""));
    assert_eq!(ps.len(), 1, "{ps:#?}");
    assert_one(&ps, "password", "set only one of");
    let ps = problems(&with(
        "password = \"x\"\npassword_command = [\"/bin/echo\"]",
    ));
    assert_eq!(ps.len(), 2, "{ps:#?}");
    let none = MINIMAL.replace("password_file = \"/etc/popfetch/isp.pw\"\n", "");
    assert_one(&problems(&none), "password", "missing: set one of");
    assert_one(
        &problems(&replacing("password_file", "[]").replace("password_file", "password_command")),
        "password_command",
        "non-empty array",
    );
}

#[test]
fn numbers_are_range_checked() {
    for (key, value, needle) in [
        ("port", "0", "between 1 and 65535"),
        ("port", "70000", "between 1 and 65535"),
        ("interval", "9", "between 10 and"),
        ("timeout", "0", "between 1 and 3600"),
        ("max_message_size", "-1", "positive"),
        ("max_message_size", "0", "positive"),
    ] {
        assert_one(&problems(&replacing(key, value)), key, needle);
    }
    assert_one(
        &problems(&format!("[smtp]\nport = -25\n{MINIMAL}")),
        "port",
        "between 1 and 65535",
    );
    for n in ["0", "17"] {
        assert_one(
            &problems(&format!("[smtp]\nsmtp_connections = {n}\n{MINIMAL}")),
            "smtp_connections",
            "between 1 and 16",
        );
    }
}

#[test]
fn tls_trust_settings_are_checked() {
    assert_one(
        &problems(&with("cert_sha256 = \"abcd\"")),
        "cert_sha256",
        "64 hexadecimal digits",
    );
    assert_one(
        &problems(&with(&format!("cert_sha256 = \"+{}\"", "a".repeat(63)))),
        "cert_sha256",
        "64 hexadecimal",
    );
    let both = with(&format!(
        "ca_file = \"/ca.pem\"\ncert_sha256 = \"{}\"",
        "0".repeat(64)
    ));
    assert_one(&problems(&both), "cert_sha256", "not both");
    let ps = problems(&with(
        "tls = \"none\"\nallow_plaintext_password = true\nca_file = \"/ca.pem\"",
    ));
    assert_one(&ps, "ca_file", "no effect with tls = \"none\"");
}

#[test]
fn paths_are_absolute_or_relative_to_the_config_file() {
    let c = parse_str_with(
        &format!("state_dir = \"state\"\n{MINIMAL}"),
        Path::new("/srv/pf/popfetch.toml"),
        &defaults(),
    )
    .unwrap();
    assert_eq!(c.state_dir, PathBuf::from("/srv/pf/state"));
    assert_one(
        &problems(&format!("state_dir = \"~/state\"\n{MINIMAL}")),
        "state_dir",
        "`~` is not expanded",
    );
    let no_default = Defaults {
        state_dir: None,
        ..defaults()
    };
    let err = parse_str_with(MINIMAL, Path::new(SOURCE), &no_default).unwrap_err();
    assert!(
        err.to_string().contains("key `state_dir`: no default"),
        "{err}"
    );
}

#[test]
fn smtp_values_are_checked() {
    assert_one(
        &problems(&format!("[smtp]\nhelo_name = \"bad name\"\n{MINIMAL}")),
        "helo_name",
        "RFC 5321",
    );
    assert_one(
        &problems(&format!("[smtp]\nhost = \"a b\"\n{MINIMAL}")),
        "host",
        "not a valid host",
    );
    parse(&format!("[smtp]\nhelo_name = \"[192.0.2.1]\"\n{MINIMAL}")).unwrap();
}
