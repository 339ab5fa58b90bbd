//! `[account.oauth2]` validation (issue 13).

use std::path::Path;

use super::tests::parse;
use super::*;
use super::{ClientSecret, Provider};

/// Every `[account.oauth2]` key, on a custom (non-preset) provider.
pub(super) const EVERY_OAUTH2_KEY: &str = r#"
[[account]]
name = "custom"
host = "pop.example.com"
user = "me@example.com"
auth = "oauthbearer"
target = "me@example.org"

[account.oauth2]
provider = "microsoft"
authorization_url = "https://login.example.com/tenant/authorize"
token_url = "https://login.example.com/tenant/token"
device_authorization_url = "https://login.example.com/tenant/devicecode"
scopes = ["pop", "offline_access"]
client_id = "cid-123"
client_secret_file = "secret.txt"

[[account]]
name = "gmail"
host = "pop.gmail.com"
user = "me@gmail.com"
auth = "xoauth2"
target = "me@example.org"

[account.oauth2]
provider = "google"
client_id = "cid-456"
client_secret = "not-so-secret"
"#;

fn account(text: &str) -> Account {
    let c = parse(text).unwrap_or_else(|e| panic!("{e}"));
    c.accounts.into_iter().next().unwrap()
}

fn problems(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn presets_fill_endpoints_and_scopes_and_explicit_keys_override() {
    let a = account(
        "[[account]]\nname = \"o\"\nhost = \"outlook.office365.com\"\nuser = \"me@outlook.com\"\nauth = \"xoauth2\"\n\
         target = \"me@example.org\"\n[account.oauth2]\nprovider = \"microsoft\"\nclient_id = \"abc\"\n",
    );
    assert_eq!(a.auth, AuthMethod::XOAuth2);
    assert!(a.password.is_none());
    let o = a.oauth2.unwrap();
    assert_eq!(o.provider, Some(Provider::Microsoft));
    assert_eq!(
        o.token_url,
        "https://login.microsoftonline.com/common/oauth2/v2.0/token"
    );
    assert!(o.device_authorization_url.is_some());
    assert_eq!(
        o.scopes,
        [
            "https://outlook.office.com/POP.AccessAsUser.All",
            "offline_access"
        ]
    );
    assert!(o.client_secret.is_none());

    let a = account(
        "[[account]]\nname = \"g\"\nhost = \"pop.gmail.com\"\nuser = \"me@gmail.com\"\nauth = \"xoauth2\"\n\
         target = \"me@example.org\"\n[account.oauth2]\nprovider = \"google\"\nclient_id = \"abc\"\nclient_secret = \"s\"\n",
    );
    let o = a.oauth2.unwrap();
    assert_eq!(o.scopes, ["https://mail.google.com/"]);
    assert!(
        o.device_authorization_url.is_none(),
        "google's device grant has no mail scope"
    );
    assert!(
        o.authorization_params
            .contains(&("access_type".into(), "offline".into()))
    );
    assert!(matches!(o.client_secret, Some(ClientSecret::Inline(ref s)) if s.expose() == "s"));

    let o = account(EVERY_OAUTH2_KEY).oauth2.unwrap();
    assert_eq!(o.token_url, "https://login.example.com/tenant/token");
    assert_eq!(o.scopes, ["pop", "offline_access"]);
    assert!(
        matches!(o.client_secret, Some(ClientSecret::File(ref p)) if p == Path::new("/etc/popfetch/secret.txt"))
    );
}

#[test]
fn invalid_oauth2_tables_are_reported() {
    let base = "[[account]]\nname = \"a\"\nhost = \"h.example\"\nuser = \"u\"\ntarget = \"u@example.org\"\n";
    let cases = [
        ("auth = \"xoauth2\"\n", "needs an [account.oauth2] table"),
        (
            "password = \"x\"\nauth = \"xoauth2\"\n[account.oauth2]\nprovider = \"google\"\nclient_id = \"c\"\n",
            "not used with an oauth2 login",
        ),
        (
            "password = \"x\"\n[account.oauth2]\nprovider = \"google\"\nclient_id = \"c\"\n",
            "is only used with auth = \"xoauth2\"",
        ),
        (
            "auth = \"xoauth2\"\n[account.oauth2]\nprovider = \"yahoo\"\nclient_id = \"c\"\n",
            "\"yahoo\" is not one of",
        ),
        (
            "auth = \"xoauth2\"\n[account.oauth2]\nprovider = \"google\"\n",
            "client_id",
        ),
        (
            "auth = \"xoauth2\"\n[account.oauth2]\nclient_id = \"c\"\nscopes = [\"s\"]\nauthorization_url = \"https://a.example/\"\n",
            "token_url",
        ),
        (
            "auth = \"xoauth2\"\n[account.oauth2]\nclient_id = \"c\"\ntoken_url = \"http://t.example/\"\nauthorization_url = \"https://a.example/\"\nscopes = [\"s\"]\n",
            "must be an https:// URL",
        ),
        (
            "auth = \"xoauth2\"\n[account.oauth2]\nclient_id = \"c\"\ntoken_url = \"https://t.example/\"\nscopes = [\"s\"]\n",
            "authorization_url",
        ),
        (
            "auth = \"xoauth2\"\n[account.oauth2]\nprovider = \"google\"\nclient_id = \"c\"\nscopes = [\"a b\"]\n",
            "scope names",
        ),
        (
            "auth = \"xoauth2\"\n[account.oauth2]\nprovider = \"google\"\nclient_id = \"c\"\nclient_secret = \"s\"\nclient_secret_file = \"/f\"\n",
            "set only one",
        ),
        (
            "auth = \"xoauth2\"\n[account.oauth2]\nprovider = \"google\"\nclient_id = \"c\"\nsecret = \"s\"\n",
            "unknown",
        ),
    ];
    for (extra, want) in cases {
        let e = problems(&format!("{base}{extra}"));
        assert!(e.contains(want), "{extra}\n=> {e}");
    }
}

#[test]
fn inline_client_secret_needs_a_private_config_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    let text = format!(
        "state_dir = \"{}\"\n[[account]]\nname = \"g\"\nhost = \"pop.gmail.com\"\nuser = \"u\"\nauth = \"xoauth2\"\n\
         target = \"u@example.org\"\n[account.oauth2]\nprovider = \"google\"\nclient_id = \"c\"\nclient_secret = \"s3\"\n",
        dir.path().display()
    );
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = load(&path).unwrap_err().to_string();
    assert!(e.contains("chmod 600") && !e.contains("s3"), "{e}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(load(&path).is_ok());
}

#[test]
fn t21_the_imap_destinations_inline_secrets_need_a_private_config_file_too() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    let head = format!(
        "state_dir = \"{}\"\n[[account]]\nname = \"g\"\nhost = \"pop.example.jp\"\nuser = \"u\"\n\
         password_file = \"/etc/popfetch/pw\"\ntarget = \"u@example.org\"\ndelivery = \"imap\"\n\
         [account.imap]\nhost = \"imap.gmail.com\"\nuser = \"u@gmail.com\"\n",
        dir.path().display()
    );
    for (imap, secret) in [
        ("password = \"imap-s3\"\n", "imap-s3"),
        (
            "auth = \"xoauth2\"\n[account.imap.oauth2]\nprovider = \"google\"\nclient_id = \"c\"\nclient_secret = \"cs-s3\"\n",
            "cs-s3",
        ),
    ] {
        std::fs::write(&path, format!("{head}{imap}")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(e.contains("chmod 600") && !e.contains(secret), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load(&path).is_ok(), "{imap}");
    }
}
