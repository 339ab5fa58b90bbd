//! Issue 13 against the real Dovecot: its `passdb { driver = oauth2 }` checks popfetch's XOAUTH2 and OAUTHBEARER
//! logins against the fake authorization server's RFC 7662 introspection endpoint. The real server accepts the
//! token popfetch refreshed and sends, the message reaches the real Postfix, and an expired token is refused.
//! Issue 14: the same passdb serves Dovecot's IMAP, so the IMAP destination's OAuth login is checked by it too
//! (POP3 with a password, APPEND as another user with a token).

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

/// Store a refresh token (and no access token, so the first run refreshes) as `popfetch auth` would, in the
/// token file `file` (`dovecot.oauth2`, or `dovecot.imap-oauth2` for the IMAP destination).
fn seed(s: &Servers, auth: &FakeAuthServer, file: &str) -> String {
    let (_, refresh) = auth.seed();
    let dir = s.dir.join("popfetch-state");
    fs::create_dir_all(&dir).expect("state dir");
    let path = dir.join(file);
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

fn stored_access(s: &Servers, file: &str) -> String {
    let text = fs::read_to_string(s.dir.join("popfetch-state").join(file)).expect("token file");
    let v: serde_json::Value = serde_json::from_str(&text).expect("token json");
    v["access_token"].as_str().expect("access token").to_owned()
}

/// The fake authorization server (its own CA) and the servers with Dovecot's oauth2 passdb asking it; its
/// introspection says active tokens belong to the servers' user named by `user_key` (`POP_USER`, `IMAP_USER`).
fn start(test: &str, user_key: &str) -> (TestPki, FakeAuthServer, Servers) {
    let pki = TestPki::new();
    let auth = FakeAuthServer::start(pki.default_server_config());
    let s = Servers::start_with(
        test,
        &[("OAUTH2_INTROSPECTION_URL", &auth.introspection_url())],
    );
    auth.update(|b| b.username = s.get(user_key).to_owned());
    (pki, auth, s)
}

fn dovecot_accepts_a_refreshed_token_and_refuses_an_expired_one(mech: &str) {
    let test = format!("oauth_{mech}");
    let (pki, auth, s) = start(&test, "POP_USER");
    let refresh = seed(&s, &auth, "dovecot.oauth2");
    let cfg = config(&s, &auth, mech);
    s.put(&[simple(&test, "", "fetched with an oauth2 token\n")]);

    let (code, text) = run(&cfg, &pki);
    assert_eq!(code, 0, "{mech}: {}", text);
    s.wait_queue();
    let delivered = s.delivered();
    let _ = delivered_case(&delivered, &test);
    assert_eq!(s.dovecot_left(), 0);
    let access = stored_access(&s, "dovecot.oauth2");
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

    // The provider no longer vouches for the cached token (revoked early): Dovecot refuses it, and the same run
    // drops it, refreshes and logs in once more (catalog T-18).
    auth.expire_access(&access);
    s.put(&[simple(
        &format!("{test}-2"),
        "",
        "fetched after a refresh\n",
    )]);
    let (code, text) = run(&cfg, &pki);
    assert_eq!(code, 0, "{mech}: {}", text);
    assert!(
        text.contains("once more with a fresh access token"),
        "{mech}: {text}"
    );
    assert_eq!(auth.grants("refresh_token").len(), 2, "{mech}: {text}");
    assert_eq!(s.dovecot_left(), 0);
    assert!(
        !text.contains(access.as_str()),
        "{mech}: a token leaked:\n{text}"
    );
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

/// Issue 14: POP3 with a password, the IMAP destination with `mech` and a token Dovecot's oauth2 passdb checks.
fn dovecot_imap_takes_an_oauth_login_for_the_append(mech: &str) {
    let test = format!("i14_imap_oauth_{mech}");
    // The introspection endpoint vouches for the IMAP user, not the POP3 one.
    let (pki, auth, s) = start(&test, "IMAP_USER");
    let refresh = seed(&s, &auth, "dovecot.imap-oauth2");
    let imap = format!(
        "delivery = \"imap\"\n\n[account.imap]\nhost = \"localhost\"\nport = {}\nca_file = {:?}\nuser = {:?}\n\
         auth = \"{mech}\"\n\n[account.imap.oauth2]\nauthorization_url = \"{}\"\ntoken_url = \"{}\"\n\
         scopes = [\"mail\"]\nclient_id = \"{CLIENT_ID}\"\n",
        s.get("IMAPS_PORT"),
        s.path("CA_FILE").display().to_string(),
        s.get("IMAP_USER"),
        auth.url("authorize"),
        auth.url("token"),
    );
    let cfg = s.config(super::Tls::Implicit, &s.path("CA_FILE"), &imap);
    let body = "appended with an oauth2 token\n";
    s.put(&[simple(&test, "", body)]);

    let (code, text) = run(&cfg, &pki);
    assert_eq!(code, 0, "{mech}: {text}");
    assert_eq!(s.dovecot_left(), 0, "{mech}: {text}");
    let files = super::maildir_messages(&s.path("IMAP_MAILDIR"));
    assert_eq!(files.len(), 1, "{mech}: {text}");
    assert!(
        String::from_utf8_lossy(&files[0]).ends_with(body),
        "{mech}: the appended message"
    );
    assert!(s.delivered().is_empty(), "nothing goes through Postfix");
    let access = stored_access(&s, "dovecot.imap-oauth2");
    assert_eq!(auth.grants("refresh_token").len(), 1);
    for secret in [&access, &refresh] {
        assert!(
            !text.contains(secret.as_str()),
            "{mech}: a token leaked:\n{text}"
        );
    }
    let log = s.dovecot_log();
    assert!(
        log.lines()
            .any(|l| l.contains("imap-login: Info: Login: user=<")
                && l.contains(&format!("method={}", mech.to_ascii_uppercase()))),
        "Dovecot logged no IMAP {mech} login:\n{log}"
    );

    // The provider stops vouching for the cached token: Dovecot refuses it, and the same run drops it, refreshes,
    // logs in once more (catalog T-18), appends and deletes.
    auth.expire_access(&access);
    s.put(&[simple(
        &format!("{test}-2"),
        "",
        "appended after a refresh\n",
    )]);
    let (code, text) = run(&cfg, &pki);
    assert_eq!(code, 0, "{mech}: {text}");
    assert!(
        text.contains("logging in to IMAP once more with a fresh access token"),
        "{mech}: {text}"
    );
    assert_eq!(auth.grants("refresh_token").len(), 2, "{mech}: {text}");
    assert_eq!(s.dovecot_left(), 0);
    assert_eq!(super::maildir_messages(&s.path("IMAP_MAILDIR")).len(), 2);
    assert!(
        !text.contains(access.as_str()),
        "{mech}: a token leaked:\n{text}"
    );
}

#[test]
#[ignore = "needs dovecot (imapd) and postfix: run tests/interop/run.sh"]
fn i14_imap_xoauth2_append_checked_by_dovecot_introspection() {
    dovecot_imap_takes_an_oauth_login_for_the_append("xoauth2");
}

#[test]
#[ignore = "needs dovecot (imapd) and postfix: run tests/interop/run.sh"]
fn i14_imap_oauthbearer_append_checked_by_dovecot_introspection() {
    dovecot_imap_takes_an_oauth_login_for_the_append("oauthbearer");
}
