//! Issue 14 with issue 13: the IMAP destination logging in with OAuth 2.0 (`[account.imap] auth = "xoauth2" |
//! "oauthbearer"` and `[account.imap.oauth2]`), while the POP3 side keeps its password. The real binary against
//! the fake authorization server (`support::oauth`, HTTPS with the test CA), the scripted POP3 fake and the
//! scripted IMAP fake, which checks the exact AUTHENTICATE bytes and the answer to its error challenge.

mod support;

use base64::Engine;
use support::imap::{FakeImap, ImapBehavior};
use support::oauth::{CLIENT_ID, DEVICE_CODE, USER_CODE, assert_no_token, now};
use support::oauth_rig::OAuthRig as Rig;
use support::run::{TestConfig, toml_str, write_private};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
/// The IMAP login, unlike the POP3 one (`alice`): another provider.
const IMAP_USER: &str = "alice@gmail.test";

impl Rig {
    /// The rig of this file: the IMAP login keeps its tokens in `isp.imap-oauth2`.
    fn new() -> Rig {
        Rig::start("isp.imap-oauth2")
    }

    /// An implicit-TLS IMAP fake with `caps` that accepts `token` for [`IMAP_USER`].
    fn imap(&self, caps: &str, token: &str) -> FakeImap {
        let mut b = ImapBehavior::new(
            Some(self.world.pki.default_server_config()),
            caps,
            IMAP_USER,
            "no-password",
        );
        b.bearer_token = Some(token.to_owned());
        FakeImap::start(b)
    }

    /// Account `isp` with `delivery = "imap"` to `imap`, `[account.imap] auth = MECH` and
    /// `[account.imap.oauth2]` naming the fake's endpoints (`device`: with the device endpoint, so
    /// `popfetch auth --imap` uses the device grant).
    fn config(&self, imap: &FakeImap, mech: &str, device: bool) -> TestConfig {
        let cfg = self
            .world
            .config(self.world.account().extra("delivery", "\"imap\""));
        let mut text = std::fs::read_to_string(&cfg.path).unwrap();
        text.push_str(&format!(
            "\n[account.imap]\nhost = \"127.0.0.1\"\nport = {}\nca_file = {}\nuser = \"{IMAP_USER}\"\nauth = \"{mech}\"\n",
            imap.port(),
            toml_str(&self.ca()),
        ));
        text.push_str(&self.oauth2_table("account.imap.oauth2", device));
        write_private(&cfg.path, text.as_bytes());
        cfg
    }
}

fn text(imap: &FakeImap) -> String {
    String::from_utf8_lossy(&imap.client_bytes()).into_owned()
}

fn xoauth2(token: &str) -> String {
    B64.encode(format!("user={IMAP_USER}\x01auth=Bearer {token}\x01\x01"))
}

#[test]
fn t18_an_expiring_token_is_refreshed_then_sent_as_an_xoauth2_initial_response() {
    let rig = Rig::new();
    // Expires in 4 minutes: under the 5-minute margin, so the poll refreshes before connecting.
    let (old_access, refresh) = rig.seed(now() + 240);
    let imap = rig.imap(
        "IMAP4rev1 LITERAL+ SASL-IR AUTH=PLAIN AUTH=XOAUTH2",
        &rig.auth.next_access(),
    );
    let cfg = rig.config(&imap, "xoauth2", false);
    let out = rig.run(&cfg, &["run", "-vv"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let grants = rig.auth.grants("refresh_token");
    assert_eq!(grants.len(), 1, "{}", out.all());
    assert_eq!(grants[0].form["refresh_token"], refresh);
    assert_eq!(grants[0].form["scope"], "mail offline_access");
    let access = rig.stored()["access_token"].as_str().unwrap().to_owned();
    assert_ne!(access, old_access);
    let t = text(&imap);
    assert!(
        t.starts_with(&format!(
            "p1 AUTHENTICATE XOAUTH2 {}\r\np2 APPEND ",
            xoauth2(&access)
        )),
        "{t}"
    );
    assert!(imap.violations().is_empty(), "{:?}", imap.violations());
    assert_eq!(imap.literals().len(), 2);
    assert!(rig.world.pop.mailbox_uids().is_empty());
    // The POP3 login kept its password and has no token file of its own.
    assert!(!rig.world.state.path().join("isp.oauth2").exists());
    assert_no_token(
        &out.all(),
        &[&access, &old_access, &refresh, &xoauth2(&access)],
    );
    // Valid for an hour now: the next poll uses the cached token.
    let out = rig.run(&cfg, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(rig.auth.grants("refresh_token").len(), 1);
}

#[test]
fn oauthbearer_without_sasl_ir_sends_the_payload_after_the_continuation() {
    let rig = Rig::new();
    let (access, refresh) = rig.seed(now() + 3600);
    let imap = rig.imap("IMAP4rev1 LITERAL+ AUTH=OAUTHBEARER", &access);
    let cfg = rig.config(&imap, "oauthbearer", false);
    let out = rig.run(&cfg, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let payload = B64.encode(format!(
        "n,a={IMAP_USER},\x01host=127.0.0.1\x01port={}\x01auth=Bearer {access}\x01\x01",
        imap.port()
    ));
    let t = text(&imap);
    assert!(
        t.starts_with(&format!(
            "p1 AUTHENTICATE OAUTHBEARER\r\n{payload}\r\np2 APPEND "
        )),
        "{t}"
    );
    assert!(imap.violations().is_empty(), "{:?}", imap.violations());
    assert!(
        rig.auth.grants("refresh_token").is_empty(),
        "the cached token was valid"
    );
    assert_no_token(&out.all(), &[&access, &refresh, &payload]);
}

#[test]
fn t18_a_refused_token_gets_the_error_challenge_answered_exit_77_and_the_cache_dropped() {
    for (mech, ack) in [("xoauth2", ""), ("oauthbearer", "AQ==")] {
        let rig = Rig::new();
        let (access, refresh) = rig.seed(now() + 3600);
        let caps = "IMAP4rev1 LITERAL+ SASL-IR AUTH=XOAUTH2 AUTH=OAUTHBEARER";
        let imap = rig.imap(caps, "some-other-token");
        let cfg = rig.config(&imap, mech, false);
        let out = rig.run(&cfg, &["run", "-vv"]);
        assert_eq!(out.code, 77, "{mech}: {}", out.all());
        assert!(
            out.stderr.contains("IMAP server refused the oauth2 token of \"alice@gmail.test\" (status invalid_token, scope https://mail.example.test/)"),
            "{mech}: {}",
            out.stderr
        );
        // Two sessions (catalog T-18: refreshed once and tried again), each the AUTHENTICATE line, the answer to
        // the challenge, and nothing after the tagged NO.
        let name = mech.to_ascii_uppercase();
        let t = text(&imap);
        let sessions: Vec<&str> = t.split("p1 AUTHENTICATE ").skip(1).collect();
        assert_eq!(sessions.len(), 2, "{mech}: {t}");
        for s in sessions {
            let (line, after) = s.split_once("\r\n").unwrap();
            assert!(line.starts_with(&format!("{name} ")), "{t}");
            assert_eq!(after, format!("{ack}\r\n"), "{mech}");
        }
        assert_eq!(rig.auth.grants("refresh_token").len(), 1, "{mech}");
        assert!(imap.violations().is_empty(), "{:?}", imap.violations());
        // Nothing fetched, nothing deleted.
        assert_eq!(rig.world.pop.mailbox_uids(), vec!["uid-1", "uid-2"]);
        assert!(rig.world.pop.retr_log().is_empty());
        // The refused access token is no longer cached; a refresh token is kept, so the next poll refreshes.
        assert!(rig.stored().get("access_token").is_none(), "{mech}");
        assert!(rig.stored().get("refresh_token").is_some(), "{mech}");
        assert_no_token(&out.all(), &[&access, &refresh]);
        let _ = rig.run(&cfg, &["run"]);
        assert!(rig.auth.grants("refresh_token").len() >= 2, "{mech}");
    }
}

#[test]
fn t18_a_refused_imap_token_is_refreshed_and_the_login_retried_once_in_the_same_poll() {
    let rig = Rig::new();
    let (access, refresh) = rig.seed(now() + 3600);
    let fresh = rig.auth.next_access();
    let imap = rig.imap("IMAP4rev1 LITERAL+ SASL-IR AUTH=XOAUTH2", &fresh);
    let cfg = rig.config(&imap, "xoauth2", false);
    let out = rig.run(&cfg, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stderr
            .contains("logging in to IMAP once more with a fresh access token"),
        "{}",
        out.stderr
    );
    assert_eq!(rig.auth.grants("refresh_token").len(), 1);
    assert_eq!(rig.stored()["access_token"], fresh.as_str());
    assert!(rig.world.pop.mailbox_uids().is_empty());
    assert_no_token(&out.all(), &[&access, &refresh, &fresh]);
}

#[test]
fn without_a_token_the_run_exits_77_naming_popfetch_auth_imap_and_never_connects() {
    let rig = Rig::new();
    let imap = rig.imap("IMAP4rev1 SASL-IR AUTH=XOAUTH2", "t");
    let cfg = rig.config(&imap, "xoauth2", false);
    let out = rig.run(&cfg, &["run"]);
    assert_eq!(out.code, 77, "{}", out.all());
    assert!(
        out.stderr.contains("run `popfetch auth isp --imap`"),
        "{}",
        out.stderr
    );
    assert!(imap.client_bytes().is_empty(), "{}", text(&imap));
    assert_eq!(rig.world.pop.mailbox_uids(), vec!["uid-1", "uid-2"]);
}

#[test]
fn a_server_without_the_mechanism_is_refused_before_the_token_is_sent() {
    let rig = Rig::new();
    let (access, _) = rig.seed(now() + 3600);
    let imap = rig.imap("IMAP4rev1 SASL-IR AUTH=PLAIN", &access);
    let cfg = rig.config(&imap, "xoauth2", false);
    let out = rig.run(&cfg, &["run"]);
    assert_eq!(out.code, 77, "{}", out.all());
    assert!(
        out.stderr.contains("does not offer AUTH=XOAUTH2"),
        "{}",
        out.stderr
    );
    assert!(!text(&imap).contains("AUTHENTICATE"), "{}", text(&imap));
    assert_eq!(rig.world.pop.mailbox_uids(), vec!["uid-1", "uid-2"]);
}

#[test]
fn popfetch_auth_imap_stores_the_destinations_token_apart_from_the_pop3_one() {
    let rig = Rig::new();
    let imap = rig.imap("IMAP4rev1 LITERAL+ SASL-IR AUTH=XOAUTH2", "later");
    let cfg = rig.config(&imap, "xoauth2", true);
    // Without --imap: the POP3 login uses a password, so there is nothing to authorize; the hint names --imap.
    let out = rig.run(&cfg, &["auth", "isp"]);
    assert_eq!(out.code, 78, "{}", out.all());
    assert!(
        out.stderr.contains("popfetch auth ACCOUNT --imap"),
        "{}",
        out.stderr
    );
    rig.auth.update(|b| b.device_pending = 1);
    let out = rig.run(&cfg, &["auth", "isp", "--imap"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains(USER_CODE), "{}", out.stdout);
    assert!(
        out.stdout.contains("account \"isp\" (IMAP destination)"),
        "{}",
        out.stdout
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(rig.token_file())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(!rig.world.state.path().join("isp.oauth2").exists());
    let stored = rig.stored();
    let access = stored["access_token"].as_str().unwrap().to_owned();
    let refresh = stored["refresh_token"].as_str().unwrap().to_owned();
    assert_no_token(&out.all(), &[&access, &refresh, DEVICE_CODE]);
}

#[test]
fn check_offline_names_a_missing_imap_authorization_and_touches_no_server() {
    let rig = Rig::new();
    let imap = rig.imap("IMAP4rev1 SASL-IR AUTH=XOAUTH2", "t");
    let cfg = rig.config(&imap, "xoauth2", false);
    let out = rig.run(&cfg, &["check"]);
    assert_eq!(out.code, 77, "{}", out.all());
    assert!(
        out.stderr.contains(
            "account \"isp\": [account.imap] oauth2: not authorized yet: run `popfetch auth isp --imap`"
        ),
        "{}",
        out.stderr
    );
    // A token for another client is as unusable.
    let (access, refresh) = rig.seed(now() + 3600);
    std::fs::write(
        rig.token_file(),
        std::fs::read_to_string(rig.token_file())
            .unwrap()
            .replace(CLIENT_ID, "another-client"),
    )
    .unwrap();
    let out = rig.run(&cfg, &["check"]);
    assert_eq!(out.code, 77, "{}", out.all());
    assert!(out.stderr.contains("another client_id"), "{}", out.stderr);
    assert_no_token(&out.all(), &[&access, &refresh]);
    rig.seed(now() + 3600);
    let out = rig.run(&cfg, &["check"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(imap.client_bytes().is_empty(), "{}", text(&imap));
    assert!(rig.auth.requests().is_empty(), "offline asks no provider");
    assert!(rig.world.pop.sessions().is_empty());
}

#[test]
fn check_connect_logs_in_to_the_imap_destination_with_the_token_and_appends_nothing() {
    let rig = Rig::new();
    let (access, refresh) = rig.seed(now() + 3600);
    let imap = rig.imap("IMAP4rev1 LITERAL+ SASL-IR AUTH=XOAUTH2", &access);
    let cfg = rig.config(&imap, "xoauth2", false);
    let out = rig.run(&cfg, &["check", "--connect"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains(&format!(
            "IMAP ok (127.0.0.1:{}, TLS, logged in as \"{IMAP_USER}\" with XOAUTH2)",
            imap.port()
        )),
        "{}",
        out.stdout
    );
    assert_eq!(
        text(&imap),
        format!(
            "p1 AUTHENTICATE XOAUTH2 {}\r\np2 LOGOUT\r\n",
            xoauth2(&access)
        )
    );
    assert!(imap.literals().is_empty());
    assert_eq!(rig.world.pop.mailbox_uids(), vec!["uid-1", "uid-2"]);
    assert_eq!(
        rig.world.smtp.connections(),
        0,
        "no MTA for an IMAP destination"
    );
    assert_no_token(&out.all(), &[&access, &refresh, &xoauth2(&access)]);

    // A token the IMAP server refuses: the account's line says so, exit 77.
    let other = rig.imap("IMAP4rev1 SASL-IR AUTH=XOAUTH2", "some-other-token");
    let cfg = rig.config(&other, "xoauth2", false);
    let out = rig.run(&cfg, &["check", "--connect"]);
    assert_eq!(out.code, 77, "{}", out.all());
    assert!(
        out.stdout.contains("refused the oauth2 token")
            && out.stdout.contains("status invalid_token"),
        "{}",
        out.stdout
    );
    assert_no_token(&out.all(), &[&access, &refresh]);
}

#[test]
fn t20_a_server_echoing_the_token_and_the_payload_gets_both_scrubbed() {
    let rig = Rig::new();
    let (access, refresh) = rig.seed(now() + 3600);
    let mut b = ImapBehavior::new(
        Some(rig.world.pki.default_server_config()),
        "IMAP4rev1 SASL-IR AUTH=XOAUTH2",
        IMAP_USER,
        "no-password",
    );
    b.bearer_token = Some("some-other-token".into());
    b.echo_refused = true;
    let imap = FakeImap::start(b);
    let cfg = rig.config(&imap, "xoauth2", false);
    let out = rig.run(&cfg, &["run", "-vv"]);
    assert_eq!(out.code, 77, "{}", out.all());
    assert!(out.stderr.contains("refused [redacted]"), "{}", out.stderr);
    assert_no_token(&out.all(), &[&access, &refresh, &xoauth2(&access)]);
    assert!(imap.violations().is_empty(), "{:?}", imap.violations());
}

#[test]
fn dry_run_names_the_imap_bearer_mechanism_and_neither_logs_in_nor_shows_the_token() {
    let rig = Rig::new();
    let (access, refresh) = rig.seed(now() + 3600);
    let imap = rig.imap("IMAP4rev1 SASL-IR AUTH=OAUTHBEARER", &access);
    let cfg = rig.config(&imap, "oauthbearer", false);
    let out = rig.run(&cfg, &["run", "--dry-run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout
            .contains("(AUTHENTICATE OAUTHBEARER with the access token of [account.imap.oauth2])"),
        "{}",
        out.all()
    );
    assert!(imap.client_bytes().is_empty(), "the dry run logged in");
    assert!(rig.auth.grants("refresh_token").is_empty());
    assert_no_token(&out.all(), &[&access, &refresh]);
}
