//! A ready-made test world for end-to-end fault tests (`tests/robustness_*.rs`): a fake POP3 server holding
//! numbered test messages, a fake MTA, a state directory, and a runner that checks every run for timeouts and
//! leaked secrets.

use std::path::Path;

use tempfile::TempDir;

use super::run::{AccountCfg, ConfigBuilder, Output, TestConfig, run_popfetch_env};
use super::{FakePop3, FakeSmtp, Msg, Pop3Behavior, SmtpBehavior, TestPki, assert_no_secret, find};

/// The fakes' password and user.
pub const PASSWORD: &str = "s3cret-pa55";
pub const USER: &str = "alice";
/// The configured target (RCPT TO).
pub const TARGET: &str = "alice@local.test";

/// Test message `n` as an ISP's POP3 server holds it: `Subject: message n` names it.
pub fn mail(n: usize) -> Vec<u8> {
    format!(
        "Return-Path: <sender{n}@remote.test>\r\nDelivered-To: {TARGET}\r\nFrom: sender{n}@remote.test\r\n\
         To: {TARGET}\r\nSubject: message {n}\r\n\r\nbody of message {n}\r\n"
    )
    .into_bytes()
}

/// Messages `uid-1 ..= uid-n` holding [`mail`]`(i)`.
pub fn msgs(n: usize) -> Vec<Msg> {
    (1..=n)
        .map(|i| Msg::new(format!("uid-{i}"), mail(i)))
        .collect()
}

/// `data` without the `Received` field popfetch prepends (one field with its continuation lines).
pub fn strip_received(data: &[u8]) -> &[u8] {
    assert!(
        data.starts_with(b"Received: from 127.0.0.1"),
        "no Received field first: {:?}",
        String::from_utf8_lossy(&data[..data.len().min(80)])
    );
    let mut at = 0;
    loop {
        let end = find(&data[at..], b"\r\n").expect("CRLF") + at + 2;
        at = end;
        if !(data.get(at) == Some(&b' ') || data.get(at) == Some(&b'\t')) {
            return &data[at..];
        }
    }
}

/// Fakes plus a state directory.
pub struct World {
    pub pki: TestPki,
    pub pop: FakePop3,
    pub smtp: FakeSmtp,
    pub state: TempDir,
    /// `"implicit"` or `"none"`.
    pub tls: &'static str,
}

impl World {
    /// Implicit-TLS POP3 server (certificate from a fresh test CA) holding `msgs`, and a default fake MTA.
    pub fn tls(msgs: Vec<Msg>) -> World {
        let pki = TestPki::new();
        let b = Pop3Behavior::implicit(pki.default_server_config());
        World::with(pki, msgs, b, "implicit")
    }

    /// Plaintext POP3 server (`tls = "none"` with consent) holding `msgs`: the fastest world, for fault tests
    /// whose subject is not TLS.
    pub fn plain(msgs: Vec<Msg>) -> World {
        World::with(TestPki::new(), msgs, Pop3Behavior::plain(), "none")
    }

    /// Plaintext world with `f` applied to the POP3 behaviour before the server starts.
    pub fn plain_with(msgs: Vec<Msg>, f: impl FnOnce(&mut Pop3Behavior)) -> World {
        let mut b = Pop3Behavior::plain();
        f(&mut b);
        World::with(TestPki::new(), msgs, b, "none")
    }

    fn with(pki: TestPki, msgs: Vec<Msg>, b: Pop3Behavior, tls: &'static str) -> World {
        World {
            pop: FakePop3::start(msgs, b),
            smtp: FakeSmtp::start(SmtpBehavior::default()),
            state: tempfile::tempdir().expect("state dir"),
            pki,
            tls,
        }
    }

    /// The account for this world's POP3 server (name `isp`).
    pub fn account(&self) -> AccountCfg {
        let a = AccountCfg::new("isp", self.pop.port(), self.tls);
        if self.tls == "none" {
            a
        } else {
            a.ca_file(&self.pki.ca_path)
        }
    }

    pub fn config(&self, account: AccountCfg) -> TestConfig {
        ConfigBuilder::new(self.smtp.port(), self.state.path())
            .account(account)
            .write()
    }

    /// The default config: [`World::account`] unchanged.
    pub fn default_config(&self) -> TestConfig {
        self.config(self.account())
    }

    /// Subjects of the messages the MTA accepted, in order.
    pub fn delivered_subjects(&self) -> Vec<String> {
        self.smtp
            .delivered()
            .iter()
            .map(|d| subject(&d.data))
            .collect()
    }

    /// The state file of account `isp`.
    pub fn state_file(&self) -> std::path::PathBuf {
        self.state.path().join("isp.state")
    }

    /// A run of `cfg` with a healthy MTA delivers every message of [`msgs`]`(n)` exactly once and empties the
    /// maildrop: what a failure kept was kept whole, and nothing was recorded that would hold it back.
    pub fn next_run_delivers_each_once(&self, cfg: &Path, n: usize) {
        self.smtp.set_behavior(SmtpBehavior::default());
        let out = run(cfg, &["run"]);
        assert_eq!(out.code, 0, "{}", out.all());
        let mut got = self.delivered_subjects();
        got.sort();
        let mut want: Vec<String> = (1..=n).map(|i| format!("message {i}")).collect();
        want.sort();
        assert_eq!(got, want);
        assert!(
            self.pop.mailbox_uids().is_empty(),
            "{:?}",
            self.pop.mailbox_uids()
        );
    }
}

/// MAIL, RCPT and DATA command lines `smtp` received, over all connections.
pub fn envelope_commands(smtp: &FakeSmtp) -> Vec<String> {
    smtp.sessions()
        .iter()
        .flat_map(|s| s.commands.clone())
        .filter(|c| {
            let up = c.to_ascii_uppercase();
            up.starts_with("MAIL") || up.starts_with("RCPT") || up == "DATA"
        })
        .collect()
}

/// The `Subject:` value of a message.
pub fn subject(data: &[u8]) -> String {
    String::from_utf8_lossy(data)
        .lines()
        .find_map(|l| l.strip_prefix("Subject: ").map(str::to_owned))
        .unwrap_or_default()
}

/// Run `popfetch -c CFG ARGS` to completion; fails the test on a timeout or on the password (in any encoding)
/// in stdout or stderr.
pub fn run(cfg: &Path, args: &[&str]) -> Output {
    run_env(cfg, args, &[])
}

/// [`run`] with extra environment variables.
pub fn run_env(cfg: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = run_popfetch_env(cfg, args, env);
    assert!(!out.timed_out, "popfetch timed out: {}", out.all());
    assert_no_secret("popfetch output", out.all().as_bytes(), USER, PASSWORD);
    out
}

/// The POP3 verbs the server received over all sessions, e.g. `["CAPA", "USER", "PASS", "UIDL", ...]`.
pub fn all_verbs(pop: &FakePop3) -> Vec<String> {
    pop.sessions().iter().flat_map(|s| s.verbs()).collect()
}

/// Fails if any POP3 session received a credential command or the password in any form.
pub fn assert_no_credential_sent(pop: &FakePop3) {
    for s in pop.sessions() {
        let verbs = s.verbs();
        assert!(
            !verbs
                .iter()
                .any(|v| matches!(v.as_str(), "USER" | "PASS" | "AUTH" | "APOP")),
            "credential command sent: {verbs:?}"
        );
        assert_no_secret("client bytes", &s.client_bytes, USER, PASSWORD);
    }
}
