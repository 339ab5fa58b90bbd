//! Greeting and login faults (P-09..P-12) and the password's safety (T-15, T-20, T-21, T-23).

use super::*;

/// Run once against a plaintext world whose PASS is answered `reply`; return the output.
fn pass_answered(reply: &str) -> (World, Output) {
    let w = World::plain_with(msgs(2), |b| b.err_on_pass = Some(reply.to_string()));
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    (w, out)
}

#[test]
fn p09_in_use_is_tempfail_in_any_case_and_with_detail_and_not_retried() {
    for reply in [
        "-ERR [IN-USE] Mailbox is locked by another POP3 session",
        "-ERR [in-use] locked",
        "-ERR [IN-USE/FOO] locked",
    ] {
        let (w, out) = pass_answered(reply);
        assert_eq!(out.code, 75, "{reply}: {}", out.all());
        assert_untouched(&w, &["uid-1", "uid-2"]);
        assert!(
            out.stderr.to_ascii_uppercase().contains("IN-USE"),
            "{}",
            out.stderr
        );
        // No retry within the run: one session, one PASS.
        assert_eq!(w.pop.sessions().len(), 1);
        assert_eq!(all_verbs(&w.pop).iter().filter(|v| *v == "PASS").count(), 1);
        assert_eq!(
            w.smtp.connections(),
            0,
            "MTA contacted after a failed login"
        );
    }
}

#[test]
fn p09_unknown_or_misplaced_codes_are_a_plain_auth_failure() {
    for reply in ["-ERR [XYZZY] no", "-ERR wrong [IN-USE] later in the text"] {
        let (w, out) = pass_answered(reply);
        assert_eq!(out.code, 77, "{reply}: {}", out.all());
        assert_untouched(&w, &["uid-1", "uid-2"]);
    }
}

#[test]
fn p10_login_delay_is_tempfail() {
    let (w, out) = pass_answered("-ERR [LOGIN-DELAY] wait 15 minutes between logins");
    assert_eq!(out.code, 75, "{}", out.all());
    assert_untouched(&w, &["uid-1", "uid-2"]);
    assert!(out.stderr.contains("LOGIN-DELAY"), "{}", out.stderr);
    // Issue 18: it must not read like a wrong password.
    assert!(!out.stderr.contains("PASS failed"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("the server limits how often this account may log in"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("poll this account less often"),
        "{}",
        out.stderr
    );
}

#[test]
fn p11_rfc3206_codes_on_pass_map_to_their_exit_classes() {
    for (reply, code) in [
        ("-ERR [SYS/TEMP] backend down, try later", 75),
        ("-ERR [SYS/PERM] account disabled", 69),
        ("-ERR [AUTH] invalid credentials", 77),
        ("-ERR", 77),
        ("-ERR authentication failed", 77),
    ] {
        let (w, out) = pass_answered(reply);
        assert_eq!(out.code, code, "{reply}: {}", out.all());
        assert_untouched(&w, &["uid-1", "uid-2"]);
        assert_eq!(w.smtp.connections(), 0);
        assert!(
            out.stderr.contains("PASS failed"),
            "{reply}: {}",
            out.stderr
        );
    }
}

#[test]
fn p11_rfc3206_codes_in_the_greeting_send_nothing() {
    for (greeting, code) in [
        ("-ERR [SYS/PERM] this server is closed", 69),
        ("-ERR [SYS/TEMP] overloaded", 75),
    ] {
        let w = World::plain_with(msgs(1), |b| b.greeting = greeting.to_string());
        let cfg = w.default_config();
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, code, "{greeting}: {}", out.all());
        assert_untouched(&w, &["uid-1"]);
        let verbs = all_verbs(&w.pop);
        assert!(
            verbs.iter().all(|v| v == "QUIT"),
            "{greeting}: sent {verbs:?}"
        );
    }
}

#[test]
fn p12_bad_greetings_send_no_command() {
    // (greeting bytes, expected exit). A greeting that is not a POP3 status line is a protocol violation; a
    // server that closes at once is an outage (75), like any closed connection.
    let cases: Vec<(Vec<u8>, bool, i32)> = vec![
        (
            b"* OK [CAPABILITY IMAP4rev1] IMAP server ready\r\n".to_vec(),
            false,
            76,
        ),
        (b"\r\n".to_vec(), false, 76),
        (b"220 smtp.example ESMTP\r\n".to_vec(), false, 76),
        // A TLS alert record (what a TLS server may send to a plaintext client), with a LF in it.
        (b"\x15\x03\x03\x00\x02\x02\x0a".to_vec(), false, 76),
        (Vec::new(), true, 75),
    ];
    for (greeting, close, code) in cases {
        let w = World::plain_with(msgs(1), |b| {
            b.greeting_raw = Some(greeting.clone());
            b.close_after_greeting = close;
        });
        let cfg = w.config(w.account().extra("timeout", "5"));
        let out = run(&cfg.path, &["run"]);
        assert_eq!(
            out.code,
            code,
            "{:?}: {}",
            greeting.escape_ascii().to_string(),
            out.all()
        );
        assert_untouched(&w, &["uid-1"]);
        assert_no_credential_sent(&w.pop);
        let verbs = all_verbs(&w.pop);
        assert!(verbs.iter().all(|v| v == "QUIT"), "sent {verbs:?}");
        assert!(out.stderr.contains("greeting"), "{}", out.stderr);
    }
}

#[test]
fn t15_cleartext_password_without_consent_is_refused_before_connecting() {
    let w = World::plain_with(msgs(1), |b| {
        b.capa = Some(vec!["USER".into(), "SASL PLAIN".into(), "UIDL".into()])
    });
    let cfg = w.config(w.account().allow_plaintext(None));
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 78, "{}", out.all());
    assert!(w.pop.sessions().is_empty(), "connected anyway");
    assert!(
        out.stderr.contains("allow_plaintext_password"),
        "{}",
        out.stderr
    );
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1"]);
}

#[test]
fn t20_server_echoing_the_password_is_scrubbed_at_maximum_verbosity() {
    let reply = format!("-ERR [AUTH] wrong password {PASSWORD} for {USER}");
    for (sasl, auth) in [(false, "user"), (true, "plain")] {
        let w = World::plain_with(msgs(1), |b| {
            b.err_on_pass = Some(reply.clone());
            b.sasl_plain = sasl;
        });
        let cfg = w.config(w.account().extra("auth", &toml_str(auth)));
        // `run` fails the test if the password, its base64 or the PLAIN payload's base64 is in the output.
        let out = run(&cfg.path, &["-vv", "run"]);
        assert_eq!(out.code, 77, "{}", out.all());
        assert!(
            out.stderr.contains("wrong password"),
            "server text not shown: {}",
            out.stderr
        );
        assert!(
            !w.state_file().exists() || {
                let s = std::fs::read(w.state_file()).unwrap();
                support::find(&s, PASSWORD.as_bytes()).is_none()
            }
        );
    }
}

#[test]
fn t21_password_config_readable_by_others_is_refused_without_network() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::plain(msgs(1));
    for mode in [0o644, 0o640, 0o604] {
        let cfg = w.default_config();
        std::fs::set_permissions(&cfg.path, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, 78, "mode {mode:o}: {}", out.all());
        assert!(
            out.stderr.contains("config.toml"),
            "file not named: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains(&format!("{mode:o}")),
            "mode not named: {}",
            out.stderr
        );
    }
    assert!(w.pop.sessions().is_empty());
    assert_eq!(w.smtp.connections(), 0);
}

#[test]
fn t23_password_command_failures_are_config_errors_and_never_echoed() {
    let w = World::plain(msgs(1));
    let leak = "leaked-command-output-4711";
    let script = w.state.path().join("pw.sh");
    write_private(
        &script,
        format!("#!/bin/sh\necho {leak}\necho {leak} >&2\nexit 3\n").as_bytes(),
    );
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let script = script.to_string_lossy().into_owned();
    for argv in [
        format!("[{}]", toml_str(&script)),
        "[\"true\"]".to_string(),
        format!("[\"printf\", {}]", toml_str(&format!("{leak}\\n{leak}\\n"))),
    ] {
        let cfg = w.config(w.account().password(None).extra("password_command", &argv));
        let out = run(&cfg.path, &["-vv", "run"]);
        assert_eq!(out.code, 78, "{argv}: {}", out.all());
        assert!(
            !out.all().contains(leak),
            "{argv}: command output echoed: {}",
            out.all()
        );
        assert!(
            out.stderr.contains("isp"),
            "account not named: {}",
            out.stderr
        );
    }
    assert!(w.pop.sessions().is_empty(), "connected without a password");
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1"]);

    // Control: a working command delivers (so the failures above are the command's, not the config's).
    let argv = format!("[\"printf\", {}]", toml_str(&format!("{PASSWORD}\\n")));
    let cfg = w.config(w.account().password(None).extra("password_command", &argv));
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(w.smtp.delivered().len(), 1);
}
