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

/// Every `[account.imap]` key (the three password keys over two accounts), for `every_key_is_read`.
pub(super) const EVERY_IMAP_KEY: &str = r#"
[[account]]
name = "gmail"
host = "pop.example.jp"
user = "taro"
password_file = "/etc/popfetch/isp.pw"
target = "taro@example.org"
delivery = "imap"

[account.imap]
host = "imap.gmail.com"
port = 993
tls = "implicit"
cert_sha256 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
user = "taro@gmail.com"
password_command = ["pass", "show", "gmail"]
folder = "Fetched"
flags = ["\\Seen"]

[[account]]
name = "own"
host = "pop.example.jp"
user = "jiro"
password = "pop-pw"
target = "jiro@example.org"
delivery = "imap"

[account.imap]
host = "imap.example.org"
tls = "starttls"
ca_file = "/etc/popfetch/ca.pem"
user = "jiro"
password = "imap-pw"

[[account]]
name = "file"
host = "pop.example.jp"
user = "saburo"
password = "pop-pw"
target = "saburo@example.org"
delivery = "imap"

[account.imap]
host = "imap.example.org"
user = "saburo"
password_file = "/etc/popfetch/imap.pw"

[[account]]
name = "oauth"
host = "pop.example.jp"
user = "shiro"
password = "pop-pw"
target = "shiro@example.org"
delivery = "imap"

[account.imap]
host = "imap.example.org"
user = "shiro@example.org"
auth = "oauthbearer"

[account.imap.oauth2]
provider = "google"
authorization_url = "https://login.example.com/authorize"
token_url = "https://login.example.com/token"
device_authorization_url = "https://login.example.com/devicecode"
scopes = ["imap", "offline_access"]
client_id = "cid-789"
client_secret_file = "/etc/popfetch/imap-client-secret"

[[account]]
name = "inline"
host = "pop.example.jp"
user = "goro"
password = "pop-pw"
target = "goro@example.org"
delivery = "imap"

[account.imap]
host = "imap.gmail.com"
user = "goro@gmail.com"
auth = "xoauth2"

[account.imap.oauth2]
provider = "google"
client_id = "cid-1011"
client_secret = "imap-client-secret"
"#;

#[test]
fn every_imap_key_parses() {
    let c = parse(EVERY_IMAP_KEY).unwrap();
    let imaps: Vec<&Imap> = c
        .accounts
        .iter()
        .map(|a| match &a.delivery {
            Delivery::Imap(i) => &**i,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(imaps[0].flags, ["\\Seen"]);
    assert_eq!(imaps[0].folder, "Fetched");
    assert!(imaps[0].cert_sha256.is_some());
    let password = |i: &Imap| match &i.login {
        ImapLogin::Password(p) => p.clone(),
        other => panic!("{other:?}"),
    };
    assert!(matches!(password(imaps[0]), PasswordSource::Command(v) if v[0] == "pass"));
    assert_eq!((imaps[1].tls, imaps[1].port), (ImapTls::Starttls, 143));
    assert!(matches!(password(imaps[1]), PasswordSource::Inline(_)));
    assert!(matches!(password(imaps[2]), PasswordSource::File(_)));
    let ImapLogin::Bearer { mechanism, oauth2 } = &imaps[3].login else {
        panic!("{:?}", imaps[3].login)
    };
    assert_eq!(*mechanism, Bearer::OAuthBearer);
    assert_eq!(oauth2.token_url, "https://login.example.com/token");
    assert_eq!(oauth2.scopes, ["imap", "offline_access"]);
    assert_eq!(oauth2.client_id, "cid-789");
    assert_eq!(
        oauth2.client_secret,
        Some(crate::config::ClientSecret::File(PathBuf::from(
            "/etc/popfetch/imap-client-secret"
        )))
    );
}

/// An ISP's POP3 with a password into Gmail with OAuth: the README's "Fetch into Gmail" shape.
const GMAIL_OAUTH: &str = "delivery = \"imap\"\n[account.imap]\nhost = \"imap.gmail.com\"\nuser = \"me@gmail.com\"\nauth = \"xoauth2\"\n[account.imap.oauth2]\nprovider = \"google\"\nclient_id = \"cid\"\nclient_secret_file = \"/etc/popfetch/google-secret\"";

#[test]
fn imap_oauth_takes_the_oauth2_keys_under_its_own_table() {
    let c = parse(&with(GMAIL_OAUTH)).unwrap();
    let Delivery::Imap(imap) = &c.accounts[0].delivery else {
        panic!("{:?}", c.accounts[0].delivery)
    };
    let ImapLogin::Bearer { mechanism, oauth2 } = &imap.login else {
        panic!("{:?}", imap.login)
    };
    assert_eq!(*mechanism, Bearer::XOAuth2);
    assert_eq!(oauth2.provider, Some(crate::config::Provider::Google));
    assert_eq!(oauth2.scopes, ["https://mail.google.com/"]);
    assert_eq!(oauth2.token_url, "https://oauth2.googleapis.com/token");
    // The POP3 side keeps its password; nothing of the IMAP side's OAuth leaks into it.
    assert!(c.accounts[0].oauth2.is_none());
    assert!(c.accounts[0].password.is_some());
}

#[test]
fn imap_oauth_problems_name_the_imap_keys_with_a_line() {
    let pw =
        "delivery = \"imap\"\n[account.imap]\nhost = \"h.example\"\nuser = \"u\"\npassword = \"p\"";
    for (text, key, needle) in [
        (
            format!("{pw}\n[account.imap.oauth2]\nprovider = \"google\"\nclient_id = \"c\""),
            "imap.oauth2",
            "only used with imap.auth",
        ),
        (format!("{pw}\nauth = \"xoauth2\""), "imap.password", "not used with an oauth2 login"),
        (
            "delivery = \"imap\"\n[account.imap]\nhost = \"h.example\"\nuser = \"u\"\nauth = \"xoauth2\"".to_owned(),
            "imap.oauth2",
            "missing",
        ),
        (format!("{pw}\nauth = \"plain\""), "imap.auth", "is not one of"),
        (
            GMAIL_OAUTH.replace("client_id = \"cid\"", "client_id = \"\""),
            "imap.oauth2.client_id",
            "non-empty",
        ),
        (
            GMAIL_OAUTH.replace("provider = \"google\"", "token_url = \"http://t.example/\""),
            "imap.oauth2.token_url",
            "https://",
        ),
        (
            GMAIL_OAUTH.replace("provider = \"google\"", "provider = \"yahoo\""),
            "imap.oauth2.provider",
            "is not one of",
        ),
    ] {
        let ps = problems(&with(&text));
        assert!(
            ps.iter().any(|p| p.key.as_deref() == Some(key) && p.message.contains(needle) && p.line > 0),
            "{text}: {ps:#?}"
        );
    }
}

const IMAP: &str = "delivery = \"imap\"\n[account.imap]\nhost = \"imap.example.net\"\nuser = \"me@example.net\"\npassword_file = \"/etc/popfetch/imap.pw\"";

#[test]
fn imap_parses_with_its_defaults_and_every_key() {
    let c = parse(&with(IMAP)).unwrap();
    assert_eq!(
        c.accounts[0].delivery,
        Delivery::Imap(Box::new(Imap {
            host: "imap.example.net".into(),
            port: 993,
            tls: ImapTls::Implicit,
            ca_file: None,
            cert_sha256: None,
            user: "me@example.net".into(),
            login: ImapLogin::Password(PasswordSource::File(PathBuf::from(
                "/etc/popfetch/imap.pw"
            ))),
            folder: "INBOX".into(),
            flags: Vec::new(),
        }))
    );
    let c = parse(&with(&format!(
        "{IMAP}\ntls = \"starttls\"\nca_file = \"/etc/ca.pem\"\nfolder = \"Fetched & Co\"\nflags = [\"\\\\Seen\", \"$Fetched\"]"
    )))
    .unwrap();
    let Delivery::Imap(imap) = &c.accounts[0].delivery else {
        panic!("{:?}", c.accounts[0].delivery)
    };
    assert_eq!(
        (
            imap.port,
            imap.tls,
            imap.folder.as_str(),
            imap.flags.clone()
        ),
        (
            143,
            ImapTls::Starttls,
            "Fetched & Co",
            vec!["\\Seen".to_owned(), "$Fetched".to_owned()]
        )
    );
    assert_eq!(imap.ca_file, Some(PathBuf::from("/etc/ca.pem")));
}

#[test]
fn imap_problems_are_reported_at_their_key_with_a_line() {
    let imap_table = "[account.imap]\nhost = \"imap.example.net\"\nuser = \"u\"\npassword = \"p\"";
    for (text, key, needle) in [
        (imap_table.to_owned(), "imap", "only used with delivery = \"imap\""),
        ("delivery = \"imap\"".to_owned(), "imap", "missing"),
        (
            "delivery = \"imap\"\n[account.imap]\nuser = \"u\"\npassword = \"p\"".to_owned(),
            "imap.host",
            "missing",
        ),
        (
            "delivery = \"imap\"\n[account.imap]\nhost = \"h.example\"\npassword = \"p\"".to_owned(),
            "imap.user",
            "missing",
        ),
        (
            "delivery = \"imap\"\n[account.imap]\nhost = \"h.example\"\nuser = \"u\"".to_owned(),
            "imap.password",
            "missing",
        ),
        (
            format!("delivery = \"imap\"\n{imap_table}\npassword_file = \"/x\""),
            "imap.password_file",
            "set only one",
        ),
        (format!("{IMAP}\ntls = \"none\""), "imap.tls", "is not one of"),
        (format!("{IMAP}\nport = 0"), "imap.port", "out of range"),
        (format!("{IMAP}\ncert_sha256 = \"zz\""), "imap.cert_sha256", "64 hexadecimal"),
        (format!("{IMAP}\nfolder = \"\""), "imap.folder", "is empty"),
        (format!("{IMAP}\nfolder = \"Entwürfe\""), "imap.folder", "printable ASCII"),
        (format!("{IMAP}\nfolder = \"a\\r\\nb\""), "imap.folder", "printable ASCII"),
        (format!("{IMAP}\nflags = [\"\\\\Recent\"]"), "imap.flags", "not a system flag"),
        (format!("{IMAP}\nflags = [\"two words\"]"), "imap.flags", "atom"),
        (
            "delivery = \"imap\"\n[account.imap]\nhost = \"h.example\"\nuser = \"a\\r\\nb\"\npassword = \"p\""
                .to_owned(),
            "imap.user",
            "CR, LF",
        ),
    ] {
        let ps = problems(&with(&text));
        assert_one(&ps, key, needle);
        assert!(ps.iter().all(|p| p.line > 0), "{ps:#?}");
    }
    // An unknown key inside [account.imap] is an error too (deny_unknown_fields), on its line.
    let ps = problems(&with(&format!("{IMAP}\nfoldr = \"x\"")));
    assert!(
        ps.iter().any(|p| p.message.contains("foldr") && p.line > 0),
        "{ps:#?}"
    );
}

#[test]
fn placeholders_are_checked_and_expanded_per_argument() {
    assert_eq!(check_placeholders("-d %T -f %F 100%%"), Ok(()));
    assert_eq!(check_placeholders("%u"), Err('u'));
    assert_eq!(check_placeholders("50%"), Err(' '));
    let mda = Mda {
        argv: ["/usr/bin/procmail", "-d", "%T", "-f", "%F", "%%T", "a b;%T"]
            .map(String::from)
            .to_vec(),
        timeout: DEFAULT_MDA_TIMEOUT,
    };
    assert_eq!(
        mda.argv_for("me@example.org", ""),
        [
            "/usr/bin/procmail",
            "-d",
            "me@example.org",
            "-f",
            "",
            "%T",
            "a b;me@example.org"
        ]
    );
}
