//! `popfetch auth` through the authorization code flow (PKCE, loopback redirect, pasted URL) and its refusals.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::Rig;
use super::support;
use super::support::run::TestConfig;

/// Start `popfetch auth isp` with stdin and stdout piped; returns the child and the authorization URL it printed.
fn start_code_flow(
    rig: &Rig,
    cfg: &TestConfig,
) -> (
    std::process::Child,
    String,
    BufReader<std::process::ChildStdout>,
) {
    let mut cmd = Command::new(support::popfetch_bin());
    cmd.arg("-c").arg(&cfg.path).args(["auth", "isp"]);
    for k in [
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        cmd.env_remove(k);
    }
    cmd.env("SSL_CERT_FILE", &rig.world.pki.ca_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let url = loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "popfetch auth printed no URL"
        );
        if line.starts_with("https://") {
            break line.trim().to_owned();
        }
    };
    (child, url, out)
}

fn wait_exit(child: &mut std::process::Child) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code().unwrap_or(-1);
        }
        assert!(Instant::now() < deadline, "popfetch auth did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn param(url: &str, key: &str) -> String {
    support::oauth::form_urlencoded(url.split_once('?').unwrap().1)[key].clone()
}

#[test]
fn pkce_loopback_redirect_completes_the_code_flow() {
    let rig = Rig::new();
    let cfg = rig.config("xoauth2", false, 10);
    let (mut child, url, _out) = start_code_flow(&rig, &cfg);
    assert!(url.starts_with(&rig.auth.url("authorize?")), "{url}");
    assert_eq!(param(&url, "scope"), "mail offline_access");
    assert_eq!(param(&url, "login_hint"), "alice");
    let redirect = param(&url, "redirect_uri");
    assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");
    let code = rig.auth.approve(&url);
    // The browser follows the redirect to the loopback listener; first a stray request (favicon) that is ignored.
    let addr = redirect
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let get = |target: &str| {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        write!(s, "GET {target} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
        let mut resp = String::new();
        let _ = std::io::Read::read_to_string(&mut s, &mut resp);
        resp
    };
    assert!(get("/favicon.ico").starts_with("HTTP/1.1 404"));
    let resp = get(&format!("/?code={code}&state={}", param(&url, "state")));
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert_eq!(wait_exit(&mut child), 0);
    let exchange = rig.auth.grants("authorization_code");
    assert_eq!(exchange.len(), 1);
    assert_eq!(exchange[0].form["redirect_uri"], redirect);
    assert!(rig.stored()["refresh_token"].as_str().is_some());
}

#[test]
fn pasted_redirect_url_completes_the_code_flow_on_a_headless_machine() {
    let rig = Rig::new();
    let cfg = rig.config("xoauth2", false, 10);
    let (mut child, url, _out) = start_code_flow(&rig, &cfg);
    let code = rig.auth.approve(&url);
    let mut stdin = child.stdin.take().unwrap();
    // A wrong paste is reported and waiting goes on; the right one completes the flow.
    writeln!(stdin, "http://127.0.0.1:1/?code=x&state=wrong").unwrap();
    writeln!(
        stdin,
        "{}?code={code}&state={}&scope=mail",
        param(&url, "redirect_uri"),
        param(&url, "state")
    )
    .unwrap();
    assert_eq!(wait_exit(&mut child), 0);
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("state does not match"), "{err}");
    assert!(!err.contains(&code), "{err}");
    assert_eq!(rig.auth.grants("authorization_code").len(), 1);
}

#[test]
fn refused_device_grant_and_grants_without_refresh_token_fail_with_77() {
    let rig = Rig::new();
    let cfg = rig.config("xoauth2", true, 10);
    rig.auth.update(|b| {
        b.device_pending = 0;
        b.device_denied = true;
    });
    let out = rig.run(&cfg, &["auth", "isp"]);
    assert_eq!(out.code, 77, "{}", out.all());
    assert!(out.stderr.contains("refused"), "{}", out.stderr);
    assert!(!rig.token_file().exists());
    rig.auth.update(|b| {
        b.device_denied = false;
        b.no_refresh_token = true;
    });
    let out = rig.run(&cfg, &["auth", "isp"]);
    assert_eq!(out.code, 77, "{}", out.all());
    assert!(out.stderr.contains("no refresh token"), "{}", out.stderr);
    assert!(!rig.token_file().exists());
}

#[test]
fn auth_refuses_password_accounts_and_unknown_names() {
    let rig = Rig::new();
    let cfg = rig.world.default_config();
    let out = rig.run(&cfg, &["auth", "isp"]);
    assert_eq!(out.code, 78, "{}", out.all());
    assert!(
        out.stderr.contains("does not use OAuth 2.0"),
        "{}",
        out.stderr
    );
    let out = rig.run(&cfg, &["auth", "nope"]);
    assert_eq!(out.code, 78, "{}", out.all());
}
