//! TLS against Dovecot: implicit and STLS deliver; a wrong CA refuses before any credential; `check --connect`.

use std::fs;
use std::process::Command;

use super::*;

fn tls_delivers(tls: Tls, test: &str) {
    let s = Servers::start(test);
    let original = simple(test, "", "over TLS\r\n");
    s.put(std::slice::from_ref(&original));
    let run = s.run(&s.config(tls, &s.path("CA_FILE"), ""));
    assert_eq!(run.code(), Some(0), "{}", s.context(&run));
    s.wait_queue();
    let delivered = s.delivered();
    assert_eq!(delivered.len(), 1, "{}", s.context(&run));
    assert_eq!(
        strip_added(&delivered[0], "joe@example.test"),
        to_lf(&original)
    );
    assert!(s.bounces().is_empty());
    assert_eq!(s.dovecot_left(), 0);
    // Dovecot saw a TLS login (for STLS: on the plaintext port, after the upgrade).
    let log = s.dovecot_log();
    assert!(
        log.lines()
            .any(|l| l.contains("Login: user=<joe>") && l.contains("TLS")),
        "no TLS login in Dovecot's log\n{}",
        s.context(&run)
    );
}

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn t_implicit_tls_delivers() {
    tls_delivers(Tls::Implicit, "t_implicit_tls_delivers");
}

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn t_stls_delivers() {
    tls_delivers(Tls::Stls, "t_stls_delivers");
}

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn t_wrong_ca_refused_before_any_credential() {
    let s = Servers::start("t_wrong_ca_refused_before_any_credential");
    s.put(&[simple("wrong-ca", "", "must stay on the server\r\n")]);
    for tls in [Tls::Implicit, Tls::Stls] {
        let run = s.run(&s.config(tls, &s.path("WRONG_CA_FILE"), ""));
        assert_eq!(
            run.code(),
            Some(77),
            "tls = {}: {}",
            tls.name(),
            s.context(&run)
        );
        let log = s.dovecot_log();
        // Dovecot logs every authentication attempt ("Login:", "auth failed", "N attempts"); there must be none.
        assert!(
            !log.contains("Login:"),
            "a login happened\n{}",
            s.context(&run)
        );
        assert!(
            !log.contains("auth failed"),
            "credentials were sent\n{}",
            s.context(&run)
        );
        for line in log.lines().filter(|l| l.contains("pop3-login")) {
            assert!(
                line.contains("no auth attempts"),
                "Dovecot saw an authentication attempt: {line}\n{}",
                s.context(&run)
            );
        }
    }
    s.wait_queue();
    assert!(s.delivered().is_empty());
    assert_eq!(s.dovecot_left(), 1);
    assert!(
        !s.postfix_log().contains("client=localhost"),
        "a message reached Postfix"
    );
}

/// Issue 9: `check --connect` against the real servers: Dovecot's certificate fingerprint as openssl prints it,
/// the new messages counted, Postfix's answer to the RCPT probe, and nothing changed on either side.
#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn check_connect_reports_both_servers_and_changes_nothing() {
    let s = Servers::start("check_connect_reports_both_servers_and_changes_nothing");
    s.put(&[
        simple("check-1", "", "stays\r\n"),
        simple("check-2", "", "stays too\r\n"),
    ]);
    let fp = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(s.dir.join("tls/server.pem"))
        .output()
        .expect("openssl");
    let fp = String::from_utf8_lossy(&fp.stdout);
    let fp = fp.trim().rsplit('=').next().unwrap().to_owned();
    let config = s.config(Tls::Implicit, &s.path("CA_FILE"), "");
    let run = s.popfetch(&config, &["check", "--connect"]);
    assert_eq!(run.code(), Some(0), "{}", s.context(&run));
    let out = String::from_utf8_lossy(&run.output.stdout).into_owned();
    for want in [
        format!("POP3 ok (TLS, certificate SHA-256 {fp}, logged in, 2 messages, 2 new)"),
        format!("accepts RCPT TO:<{}>: 250 2.1.5 Ok", s.get("TARGET")),
        "; result ok".to_owned(),
    ] {
        assert!(out.contains(&want), "{want:?} not in\n{}", s.context(&run));
    }
    // A target Postfix does not know is a configuration error, before any message.
    let text = fs::read_to_string(&config).unwrap().replace(
        &format!("target = {:?}", s.get("TARGET")),
        "target = \"nobody-here@example.test\"",
    );
    fs::write(&config, text).unwrap();
    let run = s.popfetch(&config, &["check", "--connect"]);
    assert_eq!(run.code(), Some(78), "{}", s.context(&run));
    let out = String::from_utf8_lossy(&run.output.stdout).into_owned();
    assert!(
        out.contains("550 to RCPT TO: 5.1.1") && out.contains("POP3 ok (TLS"),
        "{}",
        s.context(&run)
    );
    // Nothing was fetched, deleted, queued or recorded.
    s.wait_queue();
    assert_eq!(s.dovecot_left(), 2, "{}", s.context(&run));
    assert!(s.delivered().is_empty() && s.bounces().is_empty());
    assert!(!s.dir.join("popfetch-state").join("dovecot.state").exists());
    let log = s.dovecot_log();
    let logouts: Vec<&str> = log.lines().filter(|l| l.contains("retr=")).collect();
    assert_eq!(logouts.len(), 2, "one POP3 session per check\n{log}");
    for line in logouts {
        assert!(
            line.contains("retr=0/0") && line.contains("del=0/"),
            "{line}\n{log}"
        );
    }
}
