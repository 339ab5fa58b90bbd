//! Issue 13: OAuth 2.0 logins end to end, the real `popfetch` binary against the fake authorization server
//! (`support::oauth`, HTTPS with the test CA) and the scripted POP3 fake, which checks the exact SASL bytes.

mod support;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use base64::Engine;
use support::oauth::{CLIENT_ID, DEVICE_CODE, FakeAuthServer, USER_CODE, assert_no_token, now};
use support::oauth_rig::OAuthRig as Rig;
use support::run::{TestConfig, write_private};
use support::{ConfigBuilder, find};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

impl Rig {
    /// The rig of this file: the POP3 login keeps its tokens in `isp.oauth2`.
    fn new() -> Rig {
        Rig::start("isp.oauth2")
    }

    /// The config: account `isp` with `auth = MECH` and a custom `[account.oauth2]` naming the fake's endpoints
    /// (`device` adds the device endpoint, so `popfetch auth` uses the device grant).
    fn config(&self, mech: &str, device: bool, timeout: u64) -> TestConfig {
        let acct = self
            .world
            .account()
            .password(None)
            .extra("auth", &format!("\"{mech}\""))
            .extra("timeout", &timeout.to_string());
        let mut text = ConfigBuilder::new(self.world.smtp.port(), self.world.state.path())
            .account(acct)
            .render();
        text.push('\n');
        text.push_str(&self.oauth2_table("account.oauth2", device));
        let dir = tempfile::tempdir().unwrap();
        let path = write_private(&dir.path().join("config.toml"), text.as_bytes());
        TestConfig { path, dir }
    }

    /// The POP3 fake accepts `token` from now on.
    fn accept(&self, token: &str) {
        let t = token.to_owned();
        self.world.pop.update(move |b| b.bearer_token = Some(t));
    }
}

/// The client bytes of every POP3 session, concatenated.
fn client_bytes(rig: &Rig) -> Vec<u8> {
    rig.world
        .pop
        .sessions()
        .iter()
        .flat_map(|s| s.client_bytes.clone())
        .collect()
}

#[test]
fn device_grant_authorizes_then_run_logs_in_with_xoauth2_initial_response() {
    let rig = Rig::new();
    let cfg = rig.config("xoauth2", true, 10);
    rig.auth.update(|b| b.device_pending = 2);
    let out = rig.run(&cfg, &["auth", "isp"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains(USER_CODE), "{}", out.stdout);
    assert!(out.stdout.contains("/verify"), "{}", out.stdout);
    // Two pending answers, then the grant: three polls, each naming the device code.
    let polls = rig
        .auth
        .grants("urn:ietf:params:oauth:grant-type:device_code");
    assert_eq!(polls.len(), 3);
    assert!(polls.iter().all(|r| r.form["device_code"] == DEVICE_CODE));
    let device = rig
        .auth
        .requests()
        .into_iter()
        .find(|r| r.path == "/device")
        .unwrap();
    assert_eq!(device.form["scope"], "mail offline_access");
    let mode = std::fs::metadata(rig.token_file())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let stored = rig.stored();
    let access = stored["access_token"].as_str().unwrap().to_owned();
    let refresh = stored["refresh_token"].as_str().unwrap().to_owned();
    assert_no_token(&out.all(), &[&access, &refresh, DEVICE_CODE]);

    rig.accept(&access);
    let out = rig.run(&cfg, &["run", "-vv"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(rig.world.delivered_subjects(), ["message 1", "message 2"]);
    // A short token fits in 255 octets: the initial-response form, exactly.
    let payload = B64.encode(format!("user=alice\x01auth=Bearer {access}\x01\x01"));
    let bytes = client_bytes(&rig);
    assert!(find(&bytes, format!("AUTH XOAUTH2 {payload}\r\n").as_bytes()).is_some());
    assert_no_token(&out.all(), &[&access, &refresh, &payload]);
    assert!(
        out.all().contains("AUTH XOAUTH2 [redacted]"),
        "-vv shows the command redacted"
    );
    // The cached token was valid for an hour: no refresh.
    assert!(rig.auth.grants("refresh_token").is_empty());
}

#[test]
fn long_tokens_use_the_two_step_form_and_oauthbearer_names_host_and_port() {
    let rig = Rig::new();
    rig.auth.update(|b| b.access_len = 1500);
    for mech in ["xoauth2", "oauthbearer"] {
        let cfg = rig.config(mech, false, 10);
        let (access, refresh) = rig.seed(0);
        // The seeded token expired: the poll refreshes first and logs in with the new (1500-byte) token.
        let fresh = rig.auth.next_access();
        rig.accept(&fresh);
        let out2 = rig.run(&cfg, &["run", "-vv"]);
        assert_eq!(out2.code, 0, "{mech}: {}", out2.all());
        assert_eq!(rig.stored()["access_token"], fresh.as_str());
        assert_ne!(fresh, access);
        let raw = match mech {
            "xoauth2" => format!("user=alice\x01auth=Bearer {fresh}\x01\x01"),
            _ => format!(
                "n,a=alice,\x01host=127.0.0.1\x01port={}\x01auth=Bearer {fresh}\x01\x01",
                rig.world.pop.port()
            ),
        };
        let want = format!(
            "AUTH {}\r\n{}\r\n",
            mech.to_ascii_uppercase(),
            B64.encode(&raw)
        );
        let last = rig
            .world
            .pop
            .sessions()
            .last()
            .unwrap()
            .client_bytes
            .clone();
        assert!(
            find(&last, want.as_bytes()).is_some(),
            "{mech}: {}",
            String::from_utf8_lossy(&last)
        );
        // The -vv trace covers the refresh too (reqwest, rustls and hyper log through it): no token, no payload.
        assert_no_token(&out2.all(), &[&fresh, &refresh, &B64.encode(&raw)[..40]]);
    }
}

#[test]
fn refused_token_error_challenge_is_answered_reported_and_the_cache_dropped() {
    for (mech, ack) in [("oauthbearer", "AQ=="), ("xoauth2", "")] {
        let rig = Rig::new();
        let cfg = rig.config(mech, false, 10);
        let (access, refresh) = rig.seed(now() + 3600);
        let fresh = rig.auth.next_access();
        rig.accept("some-other-token");
        let out = rig.run(&cfg, &["run"]);
        assert_eq!(out.code, 77, "{mech}: {}", out.all());
        // Catalog T-18: refused, refreshed once, refused again on a second connection; no third try.
        assert_eq!(rig.world.pop.sessions().len(), 2, "{mech}: {}", out.all());
        assert_eq!(rig.auth.grants("refresh_token").len(), 1, "{}", out.all());
        assert!(
            out.stderr
                .contains("status invalid_token, scope https://mail.example.test/"),
            "{mech}: {}",
            out.stderr
        );
        let s = rig.world.pop.sessions().last().unwrap().clone();
        let text = String::from_utf8_lossy(&s.client_bytes).into_owned();
        let name = mech.to_ascii_uppercase();
        assert!(text.contains(&format!("AUTH {name} ")), "{text}");
        // RFC 7628 §3.2.3: the answer to the challenge, then the server's -ERR; nothing else was sent after it.
        let after = text.split_once(&format!("AUTH {name} ")).unwrap().1;
        let after = after.split_once("\r\n").unwrap().1;
        assert!(
            after.starts_with(&format!("{ack}\r\n")),
            "{mech}: {after:?}"
        );
        assert!(!s.verbs().iter().any(|v| v == "UIDL" || v == "RETR"));
        assert_no_token(&out.all(), &[&access, &refresh, &fresh]);
        // The refused access token is no longer cached; a refresh token is kept.
        assert!(rig.stored().get("access_token").is_none());
        assert!(rig.stored().get("refresh_token").is_some());
        // So the next poll asks for a fresh one.
        let out = rig.run(&cfg, &["run"]);
        assert!(rig.auth.grants("refresh_token").len() >= 2, "{}", out.all());
    }
}

/// Catalog T-18: a cached access token the server refuses before its expiry (revoked, say) is replaced by a fresh
/// one from the provider and the login tried once more in the same poll, on a new connection.
#[test]
fn t18_a_refused_token_is_refreshed_and_the_login_retried_once_in_the_same_poll() {
    for mech in ["oauthbearer", "xoauth2"] {
        let rig = Rig::new();
        let cfg = rig.config(mech, false, 10);
        let (access, refresh) = rig.seed(now() + 3600);
        let fresh = rig.auth.next_access();
        rig.accept(&fresh);
        let out = rig.run(&cfg, &["run"]);
        assert_eq!(out.code, 0, "{mech}: {}", out.all());
        assert!(
            out.stderr.contains("once more with a fresh access token"),
            "{mech}: {}",
            out.stderr
        );
        assert_eq!(rig.world.pop.sessions().len(), 2, "{mech}");
        assert_eq!(rig.auth.grants("refresh_token").len(), 1, "{mech}");
        assert_eq!(rig.stored()["access_token"], fresh.as_str());
        assert_no_token(&out.all(), &[&access, &refresh, &fresh]);
    }
}

#[test]
fn refresh_caches_rotates_and_refreshes_again_near_expiry() {
    let rig = Rig::new();
    let cfg = rig.config("xoauth2", false, 10);
    // Expires in 4 minutes: below the 5-minute margin, so the poll refreshes.
    let (old_access, old_refresh) = rig.seed(now() + 240);
    rig.auth.update(|b| {
        b.rotate = true;
        b.expires_in = 3600;
    });
    rig.accept(&rig.auth.next_access());
    let out = rig.run(&cfg, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let grants = rig.auth.grants("refresh_token");
    assert_eq!(grants.len(), 1, "{}", out.all());
    assert_eq!(grants[0].form["refresh_token"], old_refresh);
    assert_eq!(grants[0].form["scope"], "mail offline_access");
    assert_eq!(grants[0].form["client_id"], CLIENT_ID);
    // Rotation: the new refresh token is stored, the old one is dead at the provider.
    let stored = rig.stored();
    let new_refresh = stored["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(new_refresh, old_refresh);
    assert_eq!(
        rig.auth.valid_refresh_tokens(),
        std::slice::from_ref(&new_refresh)
    );
    let access = stored["access_token"].as_str().unwrap().to_owned();
    assert_ne!(access, old_access);
    assert!(stored["expires_at"].as_u64().unwrap() >= now() + 3500);
    assert_no_token(&out.all(), &[&access, &new_refresh, &old_refresh]);

    // Valid for an hour: the next polls reuse it.
    for _ in 0..2 {
        let out = rig.run(&cfg, &["run"]);
        assert_eq!(out.code, 0, "{}", out.all());
    }
    assert_eq!(rig.auth.grants("refresh_token").len(), 1);

    // Tokens that live under 5 minutes are refreshed on every poll, with the rotated refresh token.
    rig.auth.update(|b| b.expires_in = 200);
    std::fs::write(
        rig.token_file(),
        rig.stored().to_string().replace(
            &format!("\"expires_at\":{}", rig.stored()["expires_at"]),
            "\"expires_at\":0",
        ),
    )
    .unwrap();
    rig.accept(&rig.auth.next_access());
    let out = rig.run(&cfg, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    rig.accept(&rig.auth.next_access());
    let _ = rig.run(&cfg, &["run"]);
    let grants = rig.auth.grants("refresh_token");
    assert_eq!(
        grants.len(),
        3,
        "a token valid for 200 s is refreshed on the next poll"
    );
    assert_eq!(grants[1].form["refresh_token"], new_refresh);
    assert_ne!(
        grants[2].form["refresh_token"], new_refresh,
        "rotated again"
    );
}

#[test]
fn invalid_grant_exits_77_naming_popfetch_auth_and_never_contacts_the_mail_server() {
    let rig = Rig::new();
    let cfg = rig.config("xoauth2", false, 10);
    let (_, refresh) = rig.seed(0);
    rig.auth.revoke_all();
    let out = rig.run(&cfg, &["run"]);
    assert_eq!(out.code, 77, "{}", out.all());
    assert!(
        out.stderr.contains("run `popfetch auth isp`"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("invalid_grant"), "{}", out.stderr);
    assert!(
        rig.world.pop.sessions().is_empty(),
        "no POP3 session without a token"
    );
    assert_no_token(&out.all(), &[&refresh]);
    // Never authorized at all: the same advice.
    std::fs::remove_file(rig.token_file()).unwrap();
    let out = rig.run(&cfg, &["run"]);
    assert_eq!(out.code, 77, "{}", out.all());
    assert!(
        out.stderr
            .contains("not authorized yet: run `popfetch auth isp`"),
        "{}",
        out.stderr
    );
}

#[test]
fn failing_slow_and_unreachable_providers_exit_75_and_keep_the_tokens() {
    let rig = Rig::new();
    let cfg = rig.config("xoauth2", false, 1);
    let (_, refresh) = rig.seed(0);
    rig.auth
        .update(|b| b.token_status = Some((503, "busy".into())));
    let out = rig.run(&cfg, &["run"]);
    assert_eq!(out.code, 75, "{}", out.all());
    assert!(out.stderr.contains("http status 503"), "{}", out.stderr);
    rig.auth.update(|b| {
        b.token_status = None;
        b.delay = Some(Duration::from_secs(3));
    });
    let started = Instant::now();
    let out = rig.run(&cfg, &["run"]);
    assert_eq!(out.code, 75, "{}", out.all());
    assert!(
        out.stderr.contains("did not answer within 1 s"),
        "{}",
        out.stderr
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the timeout bounds the wait"
    );
    assert!(rig.world.pop.sessions().is_empty());
    assert_eq!(rig.stored()["refresh_token"], refresh.as_str());
    // Unreachable: a closed port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let text = std::fs::read_to_string(&cfg.path).unwrap().replace(
        &rig.auth.url("token"),
        &format!("https://127.0.0.1:{port}/token"),
    );
    std::fs::write(&cfg.path, text).unwrap();
    let out = rig.run(&cfg, &["run"]);
    // The token file names the old token_url: popfetch refuses to use it with another endpoint.
    assert_eq!(out.code, 77, "{}", out.all());
    assert!(
        out.stderr.contains("another client_id or token_url"),
        "{}",
        out.stderr
    );
}

/// A minimal HTTP CONNECT proxy: records each tunnel's target and relays bytes both ways.
fn connect_proxy() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::Read;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && c.read(&mut b).is_ok_and(|n| n == 1) {
                head.push(b[0]);
            }
            let text = String::from_utf8_lossy(&head).into_owned();
            let Some(target) = text
                .strip_prefix("CONNECT ")
                .and_then(|t| t.split(' ').next())
            else {
                continue;
            };
            log.lock().unwrap().push(target.to_owned());
            let Ok(up) = std::net::TcpStream::connect(target) else {
                continue;
            };
            let _ = c.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
            let (mut c2, mut up2) = (c.try_clone().unwrap(), up.try_clone().unwrap());
            let mut up = up;
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c2, &mut up2);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut up, &mut c);
            });
        }
    });
    (port, seen)
}

#[test]
fn https_proxy_carries_the_token_request_and_no_proxy_bypasses_it() {
    let rig = Rig::new();
    let cfg = rig.config("xoauth2", false, 10);
    let (proxy_port, seen) = connect_proxy();
    let proxy = format!("http://127.0.0.1:{proxy_port}");
    let ca = rig.ca();
    let token_host = rig
        .auth
        .url("")
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_owned();
    let run = |env: &[(&str, &str)]| {
        let out = support::run::run_popfetch_env(&cfg.path, &["run"], env);
        assert!(!out.timed_out, "{}", out.all());
        out
    };
    rig.seed(0);
    rig.accept(&rig.auth.next_access());
    let out = run(&[("SSL_CERT_FILE", &ca), ("HTTPS_PROXY", &proxy)]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        *seen.lock().unwrap(),
        std::slice::from_ref(&token_host),
        "the refresh went through the proxy"
    );
    // NO_PROXY names the endpoint's host: straight there.
    rig.seed(0);
    rig.accept(&rig.auth.next_access());
    let out = run(&[
        ("SSL_CERT_FILE", &ca),
        ("HTTPS_PROXY", &proxy),
        ("NO_PROXY", "127.0.0.1"),
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(seen.lock().unwrap().len(), 1, "NO_PROXY bypassed the proxy");
    assert_eq!(rig.auth.grants("refresh_token").len(), 2);
}

#[test]
fn d07_daemon_stops_an_account_whose_grant_was_revoked_and_says_so_once() {
    let rig = Rig::new();
    let cfg = rig.config("xoauth2", false, 10);
    let (_, refresh) = rig.seed(0);
    rig.auth.revoke_all();
    let ca = rig.ca();
    let d = support::run::spawn_popfetch(&cfg.path, &["daemon"], &[("SSL_CERT_FILE", &ca)]);
    let refreshes = |n: usize| {
        support::wait_until(Duration::from_secs(20), || {
            rig.auth.grants("refresh_token").len() >= n
        })
    };
    assert!(refreshes(1), "the daemon never asked for a token");
    // A stopped account is polled again at once on SIGUSR1 (the user ran popfetch auth, or not yet).
    d.signal("USR1");
    assert!(refreshes(2), "SIGUSR1 did not poll the stopped account");
    std::thread::sleep(Duration::from_millis(300));
    d.signal("TERM");
    let out = d.wait(Duration::from_secs(10));
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        out.stderr.matches("stopped: this failure").count(),
        1,
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("run `popfetch auth isp`"),
        "{}",
        out.stderr
    );
    assert!(
        rig.world.pop.sessions().is_empty(),
        "no POP3 session without a token"
    );
    assert_no_token(&out.all(), &[&refresh]);
}

#[path = "oauth/flows.rs"]
mod flows;

#[test]
fn an_untrusted_token_endpoint_certificate_is_refused_with_77() {
    let rig = Rig::new();
    // The authorization server presents a certificate from another CA than the one popfetch trusts.
    let other = support::TestPki::new();
    let auth = FakeAuthServer::start(other.default_server_config());
    let rig2 = Rig { auth, ..rig };
    let cfg = rig2.config("xoauth2", false, 10);
    let (_, refresh) = rig2.seed(0);
    let out = rig2.run(&cfg, &["run"]);
    assert_eq!(out.code, 77, "{}", out.all());
    assert!(out.stderr.contains("tls handshake with"), "{}", out.stderr);
    assert!(rig2.auth.grants("refresh_token").is_empty());
    assert_no_token(&out.all(), &[&refresh]);
}

/// Catalog T-20: a mail server that echoes the bearer token (raw, or the whole XOAUTH2/OAUTHBEARER payload in
/// base64) in a non-status reply, in `-ERR` text or inside an RFC 7628 error challenge never gets it printed.
#[test]
fn t20_a_server_echoing_the_token_or_the_payload_gets_it_scrubbed() {
    for mech in ["xoauth2", "oauthbearer"] {
        let rig = Rig::new();
        let cfg = rig.config(mech, false, 10);
        for step in 0..4 {
            // A fresh token each time (a refused one is dropped from the cache).
            let (access, refresh) = rig.seed(now() + 3600);
            let payload = if mech == "xoauth2" {
                B64.encode(format!("user=alice\x01auth=Bearer {access}\x01\x01"))
            } else {
                let port = rig.world.pop.port();
                B64.encode(format!(
                    "n,a=alice,\x01host=127.0.0.1\x01port={port}\x01auth=Bearer {access}\x01\x01"
                ))
            };
            let challenge = B64.encode(format!(
                "{{\"status\":\"invalid_token {access}\",\"scope\":\"{payload}\"}}"
            ));
            let reply = [
                format!("echo {access}\r\n"),
                format!("echo {payload}\r\n"),
                format!("-ERR [AUTH] echo {access} {payload}\r\n"),
                format!("+ {challenge}\r\n"),
            ][step]
                .clone();
            rig.world.pop.update({
                let reply = reply.clone();
                move |b| b.script = vec![support::Scripted::reply("AUTH", reply)]
            });
            let out = rig.run(&cfg, &["-vv", "run"]);
            assert_ne!(out.code, 0, "{mech} {reply:?}: {}", out.all());
            assert_no_token(&out.all(), &[&access, &refresh, &payload]);
            // The server's text is shown, with the marker in the token's place (the trace's own `AUTH XOAUTH2
            // [redacted]` does not count).
            let echo = if step == 3 { "invalid_token " } else { "echo " };
            assert!(
                out.all().lines().any(|l| l
                    .split_once(echo)
                    .is_some_and(|(_, r)| r.contains("[redacted]"))),
                "{mech} {reply:?}: {}",
                out.all()
            );
        }
    }
}
