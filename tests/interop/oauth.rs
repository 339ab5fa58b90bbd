//! Issue 13 against the real Dovecot: its `passdb { driver = oauth2 }` checks popfetch's XOAUTH2 and OAUTHBEARER
//! logins against the fake authorization server's RFC 7662 introspection endpoint. The real server accepts the
//! token popfetch refreshed and sends, the message reaches the real Postfix, and an expired token is refused.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::oauth_fake::{CLIENT_ID, FakeAuthServer};
use super::pki::TestPki;
use super::{Servers, delivered_case, simple};

/// popfetch's config for the Dovecot account with an OAuth login of `mech`.
fn config(s: &Servers, auth: &FakeAuthServer, mech: &str) -> PathBuf {
    let text = format!(
        "state_dir = {state:?}\n\n[smtp]\nhost = \"127.0.0.1\"\nport = {smtp}\n\n[[account]]\nname = \"dovecot\"\n\
         host = \"localhost\"\nport = {port}\nca_file = {ca:?}\nuser = {user:?}\nauth = \"{mech}\"\n\
         target = {target:?}\nenvelope_from_fallback = {sender:?}\n\n[account.oauth2]\n\
         authorization_url = \"{authz}\"\ntoken_url = \"{token}\"\nscopes = [\"mail\"]\nclient_id = \"{CLIENT_ID}\"\n",
        state = s.dir.join("popfetch-state").display().to_string(),
        smtp = s.get("SMTP_PORT"),
        port = s.get("POP3S_PORT"),
        ca = s.get("CA_FILE"),
        user = s.get("POP_USER"),
        target = s.get("TARGET"),
        sender = s.get("SENDER"),
        authz = auth.url("authorize"),
        token = auth.url("token"),
    );
    let path = s.dir.join(format!("popfetch-{mech}.toml"));
    fs::write(&path, text).expect("write popfetch config");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod 600");
    path
}

/// Store a refresh token (and an already expired access token) as `popfetch auth` would.
fn seed(s: &Servers, auth: &FakeAuthServer) -> String {
    let (_, refresh) = auth.seed();
    let dir = s.dir.join("popfetch-state");
    fs::create_dir_all(&dir).expect("state dir");
    let path = dir.join("dovecot.oauth2");
    let json = format!(
        "{{\"version\":1,\"token_url\":\"{}\",\"client_id\":\"{CLIENT_ID}\",\"refresh_token\":\"{refresh}\"}}\n",
        auth.url("token")
    );
    fs::write(&path, json).expect("write token file");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod 600");
    refresh
}

/// `popfetch run`, trusting the fake authorization server's CA for the token endpoint.
fn run(config: &Path, pki: &TestPki) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_popfetch"))
        .args(["run", "-vv", "-c"])
        .arg(config)
        .env("SSL_CERT_FILE", &pki.ca_path)
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .stdin(Stdio::null())
        .output()
        .expect("run popfetch");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn stored_access(s: &Servers) -> String {
    let text = fs::read_to_string(s.dir.join("popfetch-state/dovecot.oauth2")).expect("token file");
    let v: serde_json::Value = serde_json::from_str(&text).expect("token json");
    v["access_token"].as_str().expect("access token").to_owned()
}

fn dovecot_accepts_a_refreshed_token_and_refuses_an_expired_one(mech: &str) {
    let pki = TestPki::new();
    let auth = FakeAuthServer::start(pki.default_server_config());
    let test = format!("oauth_{mech}");
    let s = Servers::start_with(
        &test,
        &[("OAUTH2_INTROSPECTION_URL", &auth.introspection_url())],
    );
    auth.update(|b| b.username = s.get("POP_USER").to_owned());
    let refresh = seed(&s, &auth);
    let cfg = config(&s, &auth, mech);
    s.put(&[simple(&test, "", "fetched with an oauth2 token\n")]);

    let (code, text) = run(&cfg, &pki);
    assert_eq!(code, 0, "{mech}: {}", text);
    s.wait_queue();
    let delivered = s.delivered();
    let _ = delivered_case(&delivered, &test);
    assert_eq!(s.dovecot_left(), 0);
    let access = stored_access(&s);
    assert_eq!(
        auth.grants("refresh_token").len(),
        1,
        "the expired seed was refreshed once"
    );
    for secret in [&access, &refresh] {
        assert!(
            !text.contains(secret.as_str()),
            "{mech}: a token leaked:\n{text}"
        );
    }
    let log = s.dovecot_log();
    assert!(
        log.contains(&format!("method={}", mech.to_ascii_uppercase())),
        "Dovecot logged no {mech} login:\n{log}"
    );

    // The provider no longer accepts the cached token (expired early): the real server refuses it, exit 77.
    auth.expire_access(&access);
    s.put(&[simple(&format!("{test}-2"), "", "not fetched\n")]);
    let (code, text) = run(&cfg, &pki);
    assert_eq!(code, 77, "{mech}: {}", text);
    assert_eq!(s.dovecot_left(), 1, "nothing fetched with a refused token");
    assert!(
        !text.contains(access.as_str()),
        "{mech}: a token leaked:\n{text}"
    );
    // The refused token was dropped from the cache: the next run refreshes and gets in.
    let (code, text) = run(&cfg, &pki);
    assert_eq!(code, 0, "{mech}: {}", text);
    assert_eq!(s.dovecot_left(), 0);
}

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn oauth_xoauth2_login_checked_by_dovecot_introspection() {
    dovecot_accepts_a_refreshed_token_and_refuses_an_expired_one("xoauth2");
}

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn oauth_oauthbearer_login_checked_by_dovecot_introspection() {
    dovecot_accepts_a_refreshed_token_and_refuses_an_expired_one("oauthbearer");
}
