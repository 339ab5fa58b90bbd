//! Issue 9, point 5: `popfetch check` verifies offline what a run would trip over at its start, and
//! `popfetch check --connect` tries each account's POP3 server and the MTA for real, changing nothing: the fakes
//! assert the exact bytes (no RETR, no DELE, RSET after the RCPT probe, QUIT on both sides).

mod support;

use std::os::unix::fs::PermissionsExt;

use support::run::{toml_str, write_private};
use support::world::*;
use support::*;

// ---- offline ----

#[test]
fn check_reports_each_file_problem_with_the_class_a_run_would_give() {
    let w = World::plain(msgs(1));
    let dir = tempfile::tempdir().unwrap();
    let open_pw = dir.path().join("open.password");
    std::fs::write(&open_pw, format!("{PASSWORD}\n")).unwrap();
    std::fs::set_permissions(&open_pw, std::fs::Permissions::from_mode(0o644)).unwrap();
    let garbage_ca = dir.path().join("garbage.pem");
    std::fs::write(&garbage_ca, "not a certificate\n").unwrap();
    let cfg = ConfigBuilder::new(w.smtp.port(), w.state.path())
        .account(AccountCfg::new("missing", 1, "none").password(None).extra(
            "password_file",
            &toml_str(dir.path().join("nope").to_str().unwrap()),
        ))
        .account(
            AccountCfg::new("open", 1, "none")
                .password(None)
                .extra("password_file", &toml_str(open_pw.to_str().unwrap())),
        )
        .account(
            AccountCfg::new("nocmd", 1, "none")
                .password(None)
                .extra("password_command", "[\"popfetch-no-such-program\", \"x\"]"),
        )
        .account(AccountCfg::new("badca", 1, "implicit").ca_file(&garbage_ca))
        .write();
    let out = run(&cfg.path, &["check"]);
    assert_eq!(out.code, 78, "{}", out.all());
    for want in [
        "account \"missing\": cannot read password_file",
        "account \"open\": password_file",
        &format!("chmod 600 {}", open_pw.display()),
        "account \"nocmd\": password_command program \"popfetch-no-such-program\" is not an executable file in any PATH directory",
        "account \"badca\": ca_file: no usable trust anchors in",
    ] {
        assert!(out.stderr.contains(want), "{want:?} not in {}", out.stderr);
    }
    assert!(!out.stdout.contains(": ok"), "{}", out.stdout);
    assert!(
        w.pop.sessions().is_empty() && w.smtp.connections() == 0,
        "check went on the network"
    );
}

#[test]
fn check_finds_an_unwritable_state_dir_and_exits_74() {
    // /proc takes no new files, not even from root.
    let w = World::plain(msgs(1));
    let cfg = ConfigBuilder::new(
        w.smtp.port(),
        std::path::Path::new("/proc/popfetch-check-state"),
    )
    .account(w.account())
    .write();
    let out = run(&cfg.path, &["check"]);
    assert_eq!(out.code, 74, "{}", out.all());
    assert!(
        out.stderr.contains(
            "state_dir /proc/popfetch-check-state does not exist and cannot be created in /proc"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn check_passes_good_files_and_leaves_no_trace() {
    let w = World::tls(msgs(1));
    let dir = tempfile::tempdir().unwrap();
    let pw = write_private(&dir.path().join("pw"), format!("{PASSWORD}\n").as_bytes());
    let cfg = w.config(
        w.account()
            .password(None)
            .extra("password_file", &toml_str(pw.to_str().unwrap())),
    );
    let out = run(&cfg.path, &["check"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains(": ok, 1 account"), "{}", out.stdout);
    assert_eq!(
        std::fs::read_dir(w.state.path()).unwrap().count(),
        0,
        "the write probe left a file"
    );
}

// ---- --connect ----

/// A state for account `isp` of `w`'s server recording `uids` as delivered.
fn state_with(w: &World, uids: &[&str]) -> Vec<u8> {
    let mut s = format!(
        "popfetch-state 1\nserver 127.0.0.1 {}\nuser {USER}\n",
        w.pop.port()
    );
    for u in uids {
        s.push_str(&format!("D {u} 0\n"));
    }
    std::fs::write(w.state_file(), &s).unwrap();
    s.into_bytes()
}

/// The `account ...` lines of stdout (after the offline check's `PATH: ok, ...` line).
fn account_lines(out: &Output) -> Vec<&str> {
    assert!(
        out.stdout
            .lines()
            .next()
            .is_some_and(|l| l.contains(": ok, ")),
        "{}",
        out.stdout
    );
    out.stdout
        .lines()
        .filter(|l| l.starts_with("account "))
        .collect()
}

/// The client's SMTP bytes after its EHLO line.
fn after_ehlo(w: &World) -> String {
    let t = &w.smtp.transcript()[0];
    let s = String::from_utf8_lossy(t).into_owned();
    assert!(s.starts_with("EHLO "), "{s:?}");
    s.split_once("\r\n").unwrap().1.to_owned()
}

#[test]
fn connect_tries_pop3_and_the_mta_and_changes_nothing() {
    let mut w = World::tls(msgs(3));
    let leaf = w.pki.issue(support::pki::DEFAULT_NAMES, Validity::Current);
    w.pop = FakePop3::start(msgs(3), Pop3Behavior::implicit(leaf.server_config()));
    let state = state_with(&w, &["uid-1"]);
    let cfg = w.default_config();
    let out = run(&cfg.path, &["check", "--connect"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let lines = account_lines(&out);
    assert_eq!(lines.len(), 1, "{}", out.stdout);
    // As `openssl x509 -noout -fingerprint -sha256` prints it, and as cert_sha256 takes it.
    let fp = leaf
        .sha256_hex()
        .to_ascii_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|p| std::str::from_utf8(p).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    for want in [
        format!(
            "account \"isp\" (127.0.0.1:{}, user \"alice\"): ",
            w.pop.port()
        ),
        format!("POP3 ok (TLS, certificate SHA-256 {fp}, logged in, 3 messages, 2 new)"),
        format!(
            "MTA 127.0.0.1:{} accepts RCPT TO:<{TARGET}>: 250",
            w.smtp.port()
        ),
        "; result ok".to_owned(),
    ] {
        assert!(lines[0].contains(&want), "{want:?} not in {}", lines[0]);
    }
    // POP3: no RETR, LIST, TOP or DELE; QUIT (which commits nothing without DELE).
    assert_eq!(all_verbs(&w.pop), ["CAPA", "USER", "PASS", "UIDL", "QUIT"]);
    assert_eq!(w.pop.mailbox_uids(), ["uid-1", "uid-2", "uid-3"]);
    // MTA: exactly the probe, reset, and a goodbye; nothing queued.
    assert_eq!(
        after_ehlo(&w),
        format!("MAIL FROM:<>\r\nRCPT TO:<{TARGET}>\r\nRSET\r\nQUIT\r\n")
    );
    assert!(w.smtp.transactions().is_empty());
    assert_eq!(
        std::fs::read(w.state_file()).unwrap(),
        state,
        "state changed"
    );
    assert_eq!(
        std::fs::read_dir(w.state.path()).unwrap().count(),
        1,
        "a lock or temp file was left"
    );
}

#[test]
fn connect_reports_a_refused_target_as_a_configuration_error_and_resets() {
    let w = World::plain(msgs(1));
    w.smtp.update(|b| {
        b.rcpt_replies.insert(
            TARGET.to_owned(),
            "550 5.1.1 <alice@local.test>: Recipient address rejected: User unknown".to_owned(),
        );
    });
    let cfg = w.default_config();
    let out = run(&cfg.path, &["check", "--connect"]);
    assert_eq!(out.code, 78, "{}", out.all());
    assert!(
        out.stdout
            .contains("POP3 ok (no TLS, logged in, 1 message, 1 new)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("MTA refused: MTA 127.0.0.1:")
            && out.stdout.contains("550 to RCPT TO: 5.1.1"),
        "{}",
        out.stdout
    );
    assert_eq!(
        after_ehlo(&w),
        format!("MAIL FROM:<>\r\nRCPT TO:<{TARGET}>\r\nRSET\r\nQUIT\r\n")
    );
}

#[test]
fn connect_gives_each_account_its_line_and_the_worst_exit_code() {
    let w = World::plain(msgs(2));
    let wrong = AccountCfg::new("wrong", w.pop.port(), "none").password(Some("not-the-password"));
    let cfg = ConfigBuilder::new(w.smtp.port(), w.state.path())
        .account(w.account())
        .account(wrong)
        .write();
    let out = run(&cfg.path, &["check", "--connect"]);
    assert_eq!(out.code, 77, "{}", out.all());
    let lines = account_lines(&out);
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert!(
        lines[0].starts_with("account \"isp\"") && lines[0].ends_with("result ok"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("account \"wrong\"") && lines[1].contains("POP3 failed: "),
        "{}",
        lines[1]
    );
    assert!(lines[1].ends_with("result security"), "{}", lines[1]);
    assert!(
        lines[1].contains("MTA 127.0.0.1:"),
        "the MTA is still tried: {}",
        lines[1]
    );
    // --account narrows it to one.
    let out = run(&cfg.path, &["check", "--connect", "--account", "isp"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(account_lines(&out).len(), 1);
    assert_eq!(w.pop.mailbox_uids(), ["uid-1", "uid-2"]);
}
