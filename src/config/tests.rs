//! Table tests of config parsing, validation and the load-time permission rules (T-21, T-24).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

pub(super) const SOURCE: &str = "/etc/popfetch/config.toml";

pub(super) const MINIMAL: &str = r#"
[[account]]
name = "isp"
host = "pop.example.jp"
user = "taro"
password_file = "/etc/popfetch/isp.pw"
target = "taro@example.org"
"#;

pub(super) fn defaults() -> Defaults {
    Defaults {
        state_dir: Some(PathBuf::from("/home/taro/.local/state/popfetch")),
        helo_name: "mx.example.org".to_owned(),
    }
}

pub(super) fn parse(text: &str) -> Result<Config, ConfigError> {
    parse_str_with(text, Path::new(SOURCE), &defaults())
}

/// The problems of a text that must not parse.
pub(super) fn problems(text: &str) -> Vec<Problem> {
    match parse(text) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(ConfigError::Invalid { problems, .. }) => problems,
        Err(e) => panic!("expected Invalid, got {e}"),
    }
}

/// MINIMAL with one line added to the account.
pub(super) fn with(line: &str) -> String {
    format!("{MINIMAL}{line}\n")
}

/// An account text with `key = value` replaced or added (keys of MINIMAL only replaced).
pub(super) fn replacing(key: &str, value: &str) -> String {
    let mut out = String::new();
    let mut done = false;
    for l in MINIMAL.lines() {
        if l.starts_with(&format!("{key} =")) {
            out.push_str(&format!("{key} = {value}\n"));
            done = true;
        } else {
            out.push_str(l);
            out.push('\n');
        }
    }
    if !done {
        out.push_str(&format!("{key} = {value}\n"));
    }
    out
}

pub(super) fn assert_one(ps: &[Problem], key: &str, needle: &str) {
    assert!(
        ps.iter()
            .any(|p| p.key.as_deref() == Some(key) && p.message.contains(needle)),
        "no problem on `{key}` containing {needle:?} in {ps:#?}"
    );
}

#[test]
fn minimal_config_gets_every_default() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(
        c.state_dir,
        PathBuf::from("/home/taro/.local/state/popfetch")
    );
    assert_eq!(c.smtp.host, "127.0.0.1");
    assert_eq!(c.smtp.port, 25);
    assert_eq!(c.smtp.helo_name, "mx.example.org");
    let [a] = c.accounts.as_slice() else {
        panic!("one account")
    };
    assert_eq!(a.name, "isp");
    assert_eq!(a.host, "pop.example.jp");
    assert_eq!(a.port, 995);
    assert_eq!(a.tls, TlsMode::Implicit);
    assert_eq!(a.ca_file, None);
    assert_eq!(a.cert_sha256, None);
    assert_eq!(a.user, "taro");
    assert!(
        matches!(&a.password, Some(PasswordSource::File(p)) if p == Path::new("/etc/popfetch/isp.pw"))
    );
    assert_eq!(a.auth, AuthMethod::Auto);
    assert!(!a.allow_plaintext_password);
    assert_eq!(a.target, "taro@example.org");
    assert!(!a.keep);
    assert_eq!(a.interval, Duration::from_secs(300));
    assert_eq!(a.timeout, Duration::from_secs(60));
    assert_eq!(a.drop_delivered_to, DropDeliveredTo::Matching);
    assert!(a.strip_delivered_to.is_empty());
    assert!(a.received);
    assert_eq!(a.max_message_size, 64 * 1024 * 1024);
    assert_eq!(a.envelope_from_fallback, None);
    assert_eq!(c.smtp.connections, 1, "one MTA connection by default");
}

const EVERY_KEY: &str = r#"
state_dir = "/srv/popfetch/state"
metrics_file = "metrics/popfetch.prom"
stale_after = 7200

[smtp]
host = "::1"
port = 2525
helo_name = "relay.example.org"
batch_limit = 10
smtp_connections = 3

[[account]]
name = "isp"
host = "pop.example.jp"
port = 1110
tls = "stls"
cert_sha256 = "AB:cd:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd"
user = "taro"
password = "s3cret pass"
auth = "apop"
allow_plaintext_password = false
target = "Taro@example.org"
keep = true
interval = 60
timeout = 5
drop_delivered_to = "matching"
strip_delivered_to = ["Old@Example.ORG", "alias@example.org"]
received = false
max_message_size = 1000000
envelope_from_fallback = "postmaster@example.org"
delivery = "lmtp"
lmtp = "unix:/run/dovecot/lmtp"

[[account]]
name = "work.mail_2"
host = "192.0.2.7"
tls = "none"
allow_plaintext_password = true
ca_file = "certs/ca.pem"
user = "t"
password_command = ["pass", "show", "mail/work"]
target = "t@example.org"
drop_delivered_to = "all"
delivery = "mda"
mda = ["/usr/bin/procmail", "-d", "%T"]
mda_timeout = 120

[[account]]
name = "third"
host = "pop3.example.net"
tls = "implicit"
ca_file = "/etc/ssl/private-ca.pem"
user = "u"
password_file = "isp.pw"
target = "u@example.net"
drop_delivered_to = "none"
delivery = "maildir"
maildir = "Maildir"
"#;

#[test]
fn every_key_is_read() {
    // The third account uses ca_file with TLS; the second one's ca_file with tls = "none" is an error, so drop it.
    let text = EVERY_KEY.replace("ca_file = \"certs/ca.pem\"\n", "");
    let c = parse(&text).unwrap();
    assert_eq!(c.state_dir, PathBuf::from("/srv/popfetch/state"));
    assert_eq!(
        c.metrics_file.as_deref(),
        Some(Path::new("/etc/popfetch/metrics/popfetch.prom"))
    );
    assert_eq!(c.stale_after, Some(Duration::from_secs(7200)));
    assert_eq!((c.smtp.host.as_str(), c.smtp.port), ("::1", 2525));
    assert_eq!(c.smtp.helo_name, "relay.example.org");
    assert!(!c.smtp.batch_limit.reached(9) && c.smtp.batch_limit.reached(10));
    assert_eq!(c.smtp.connections, 3);
    assert!(
        !crate::config::BatchLimit::default().reached(usize::MAX),
        "no batch_limit: unlimited"
    );
    let [a, b, t] = c.accounts.as_slice() else {
        panic!("three accounts")
    };
    assert_eq!(
        (a.port, a.tls, a.auth),
        (1110, TlsMode::Stls, AuthMethod::Apop)
    );
    let pin = a.cert_sha256.unwrap();
    assert_eq!(&pin[..3], &[0xab, 0xcd, 0x00]);
    assert_eq!(pin[31], 0xdd);
    assert!(matches!(&a.password, Some(PasswordSource::Inline(s)) if s.expose() == "s3cret pass"));
    assert_eq!(
        a.target, "Taro@example.org",
        "target keeps its case (the local part may be case-sensitive)"
    );
    assert!(a.keep && !a.received);
    assert_eq!(
        (a.interval, a.timeout),
        (Duration::from_secs(60), Duration::from_secs(5))
    );
    assert_eq!(
        a.strip_delivered_to,
        ["old@example.org", "alias@example.org"]
    );
    assert_eq!(a.max_message_size, 1_000_000);
    assert_eq!(
        a.envelope_from_fallback.as_deref(),
        Some("postmaster@example.org")
    );

    assert_eq!(
        (b.name.as_str(), b.port, b.tls),
        ("work.mail_2", 110, TlsMode::None)
    );
    assert!(b.allow_plaintext_password);
    assert!(
        matches!(&b.password, Some(PasswordSource::Command(v)) if v == &["pass", "show", "mail/work"])
    );
    assert_eq!(b.drop_delivered_to, DropDeliveredTo::All);

    assert_eq!(
        t.ca_file.as_deref(),
        Some(Path::new("/etc/ssl/private-ca.pem"))
    );
    assert!(
        matches!(&t.password, Some(PasswordSource::File(p)) if p == Path::new("/etc/popfetch/isp.pw")),
        "a relative password_file is taken from the config file's directory"
    );
    assert_eq!(t.drop_delivered_to, DropDeliveredTo::None);
    assert_eq!(
        a.delivery,
        Delivery::Lmtp(Lmtp::Unix(PathBuf::from("/run/dovecot/lmtp")))
    );
    assert_eq!(
        b.delivery,
        Delivery::Mda(Mda {
            argv: ["/usr/bin/procmail", "-d", "%T"].map(String::from).to_vec(),
            timeout: Duration::from_secs(120),
        })
    );
    assert_eq!(
        t.delivery,
        Delivery::Maildir(PathBuf::from("/etc/popfetch/Maildir")),
        "a relative maildir is taken from the config file's directory"
    );

    for key in known_keys() {
        let last = key.rsplit('.').next().unwrap();
        let text = if key.starts_with("account.oauth2.") {
            super::oauth_tests::EVERY_OAUTH2_KEY
        } else if key.starts_with("account.imap.") {
            super::delivery_tests::EVERY_IMAP_KEY
        } else if key.starts_with("account.multidrop.") {
            super::multidrop_tests::EVERY_MULTIDROP_KEY
        } else {
            EVERY_KEY
        };
        assert!(
            text.contains(&format!("\n{last} =")),
            "EVERY_KEY lacks {key}"
        );
    }
}

#[test]
fn secrets_do_not_show_in_debug() {
    let c =
        parse(&replacing("password_file", "\"x\"").replace("password_file", "password")).unwrap();
    assert!(!format!("{c:?}").contains("\"x\""));
    assert!(format!("{c:?}").contains("[redacted]"));
}

#[test]
fn unknown_key_names_its_place_line_and_column() {
    let text = MINIMAL.replace(
        "password_file = \"/etc/popfetch/isp.pw\"",
        "pasword = \"x\"",
    );
    let err = parse(&text).unwrap_err();
    let ps = match &err {
        ConfigError::Invalid { problems, .. } => problems,
        e => panic!("{e}"),
    };
    let p = ps
        .iter()
        .find(|p| p.key.as_deref() == Some("pasword"))
        .expect("unknown key reported");
    assert_eq!((p.line, p.column), (6, 1));
    assert_eq!(p.key_path(), "account \"isp\".pasword");
    let shown = err.to_string();
    assert!(
        shown.contains("/etc/popfetch/config.toml:6:1: account \"isp\": key `pasword`: unknown key (did you mean `password`?)"),
        "{shown}"
    );
    // Every line of the display is prefixed with the path.
    assert!(
        shown
            .lines()
            .all(|l| l.starts_with("/etc/popfetch/config.toml:")),
        "{shown}"
    );
}

#[test]
fn unknown_keys_everywhere_are_all_reported() {
    let text = format!("colour = 1\n[smtp]\nhots = \"x\"\n{MINIMAL}frobnicate = true\n");
    let ps = problems(&text);
    assert_one(&ps, "colour", "unknown key");
    assert_one(&ps, "hots", "did you mean `host`");
    assert_one(&ps, "frobnicate", "account accepts:");
    let smtp = ps
        .iter()
        .find(|p| p.key.as_deref() == Some("hots"))
        .unwrap();
    assert_eq!(
        (smtp.section.as_str(), smtp.line, smtp.column),
        ("[smtp]", 3, 1)
    );
}

#[test]
fn bad_enum_values_list_the_choices() {
    for (key, value, choices) in [
        ("tls", "\"starttls\"", "\"implicit\", \"stls\", \"none\""),
        (
            "auth",
            "\"cram-md5\"",
            "\"auto\", \"user\", \"plain\", \"apop\"",
        ),
        (
            "drop_delivered_to",
            "\"some\"",
            "\"matching\", \"all\", \"none\"",
        ),
    ] {
        let ps = problems(&replacing(key, value));
        assert_one(&ps, key, &format!("is not one of {choices}"));
        let p = ps.iter().find(|p| p.key.as_deref() == Some(key)).unwrap();
        assert_eq!(p.line, 8, "{key}");
        assert_eq!(p.column, key.len() + 4, "column of the value of {key}");
    }
}

#[test]
fn wrong_types_name_the_key() {
    let ps = problems(&replacing("port", "\"995\""));
    assert_one(&ps, "port", "invalid type");
    let ps = problems(&format!("state_dir = 5\n{MINIMAL}"));
    assert_one(&ps, "state_dir", "invalid type");
    let ps = problems(&format!("[[smtp]]\nhost = \"x\"\n{MINIMAL}"));
    assert_one(&ps, "smtp", "must be a table");
}

#[test]
fn monitoring_keys_are_checked() {
    let ps = problems(&format!("stale_after = 30\n{MINIMAL}"));
    assert_one(
        &ps,
        "stale_after",
        "out of range; it must be between 60 and 7776000",
    );
    let ps = problems(&format!("stale_after = \"1h\"\n{MINIMAL}"));
    assert_one(&ps, "stale_after", "invalid type");
    let ps = problems(&format!("metrics_file = \"\"\n{MINIMAL}"));
    assert_one(&ps, "metrics_file", "is empty");
    let c = parse(MINIMAL).unwrap();
    assert_eq!((c.metrics_file, c.stale_after), (None, None));
}

#[test]
fn syntax_errors_are_located() {
    let ps = problems("[[account]]\nname = \"isp\nhost = 1\n");
    assert!(!ps.is_empty());
    assert_eq!(ps[0].line, 2, "{ps:#?}");
}

#[test]
fn account_must_be_an_array_of_tables_and_exist() {
    let ps = problems(&MINIMAL.replace("[[account]]", "[account]"));
    assert_one(&ps, "account", "[[account]]");
    let ps = problems("state_dir = \"/x\"\n");
    assert_one(&ps, "account", "no account is configured");
}

#[test]
fn missing_required_keys_point_at_the_account() {
    let ps = problems("[[account]]\nname = \"a\"\n");
    for key in ["host", "user", "target", "password"] {
        assert_one(&ps, key, "missing");
    }
    let host = ps
        .iter()
        .find(|p| p.key.as_deref() == Some("host"))
        .unwrap();
    assert_eq!(host.section, "account \"a\"");
    assert_eq!(
        (host.line, host.column),
        (1, 1),
        "located at the account's header"
    );
    let ps = problems("[[account]]\nhost = \"h\"\n");
    assert_one(&ps, "name", "missing");
    assert!(ps.iter().all(|p| p.section == "account[0]"), "{ps:#?}");
}

#[test]
fn duplicate_account_names_are_refused() {
    let text = format!("{MINIMAL}{}", MINIMAL.replace("\"isp\"", "\"ISP\""));
    let ps = problems(&text);
    assert_eq!(ps.len(), 1, "{ps:#?}");
    assert_one(&ps, "name", "already used by account[0]");
    assert_eq!(ps[0].line, 10);
}

#[test]
fn all_problems_are_collected_in_one_error() {
    let text = format!(
        "{}\n[[account]]\nname = \"b\"\nhost = \"h\"\nuser = \"u\"\npasword = \"p\"\ntarget = \"x\"\ninterval = 1\n",
        replacing("tls", "\"bogus\"")
    );
    let err = parse(&text).unwrap_err();
    let ConfigError::Invalid { problems, .. } = &err else {
        panic!("{err}")
    };
    let keys: Vec<String> = problems.iter().map(Problem::key_path).collect();
    for expected in [
        "account \"isp\".tls",
        "account \"b\".pasword",
        "account \"b\".target",
        "account \"b\".interval",
    ] {
        assert!(
            keys.iter().any(|k| k == expected),
            "{expected} missing from {keys:?}"
        );
    }
    assert_eq!(err.to_string().lines().count(), problems.len());
    assert_eq!(err.class(), crate::error::ExitClass::Config);
}

#[test]
fn known_keys_match_the_serde_structs() {
    // deny_unknown_fields lists the fields a struct has: compare that list with KNOWN_KEYS.
    fn fields_of<T: for<'de> serde::Deserialize<'de> + std::fmt::Debug>() -> Vec<String> {
        let err = toml::from_str::<T>("zzz_not_a_key = 1").unwrap_err();
        let msg = err.message().to_owned();
        let list = msg.split("expected one of").nth(1).expect(&msg);
        list.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    }
    let mut account = fields_of::<raw::RawAccount>();
    let mut want: Vec<String> = raw_keys("account")
        .into_iter()
        .map(|k| k.split('.').next().unwrap_or_default().to_owned())
        .collect();
    account.sort();
    want.sort();
    want.dedup();
    assert_eq!(account, want);
    let mut oauth2 = fields_of::<raw::RawOAuth2>();
    let mut want = raw_keys("account.oauth2");
    oauth2.sort();
    want.sort();
    assert_eq!(oauth2, want);
    let mut smtp = fields_of::<raw::RawSmtp>();
    let mut want = raw_keys("smtp");
    smtp.sort();
    want.sort();
    assert_eq!(smtp, want);
}

fn raw_keys(section: &str) -> Vec<String> {
    known_keys()
        .iter()
        .filter_map(|k| k.strip_prefix(section)?.strip_prefix('.'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn config_example_parses() {
    let text = include_str!("../../config.example.toml");
    let c = parse_str_with(text, Path::new("/etc/popfetch/config.toml"), &defaults()).unwrap();
    assert!(!c.accounts.is_empty());
    assert!(
        c.accounts
            .iter()
            .all(|a| matches!(a.password, Some(PasswordSource::File(_)))
                || a.oauth2.as_ref().is_some_and(|o| o.client_secret.is_none())),
        "the example must not hold a password"
    );
}

#[test]
fn default_state_dir_rules() {
    let home = Some(PathBuf::from("/home/taro"));
    assert_eq!(
        default_state_dir(Some("/x/state".into()), home.clone(), false),
        Some(PathBuf::from("/x/state/popfetch"))
    );
    assert_eq!(
        default_state_dir(Some("relative".into()), home.clone(), false),
        Some(PathBuf::from("/home/taro/.local/state/popfetch")),
        "a relative XDG_STATE_HOME is ignored, as the XDG spec says"
    );
    assert_eq!(
        default_state_dir(None, home, true),
        Some(PathBuf::from("/var/lib/popfetch"))
    );
    assert_eq!(default_state_dir(None, None, false), None);
}

#[test]
fn problem_display_and_key_path() {
    let p = Problem {
        line: 3,
        column: 7,
        section: "[smtp]".into(),
        key: Some("port".into()),
        message: "m".into(),
    };
    assert_eq!(p.to_string(), "3:7: [smtp]: key `port`: m");
    assert_eq!(p.key_path(), "smtp.port");
    let top = Problem {
        section: String::new(),
        key: Some("state_dir".into()),
        ..p.clone()
    };
    assert_eq!(top.key_path(), "state_dir");
    assert_eq!(error::line_col("ab\ncdé\nf", 7), (2, 4));
    assert_eq!(
        error::line_col("é", 1),
        (1, 1),
        "inside a character: clamped, no panic"
    );
    assert_eq!(error::line_col("x", 99), (1, 2));
}
