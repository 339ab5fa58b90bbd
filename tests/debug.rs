//! Seeing what popfetch does (issue 5): `run --dry-run`, `--diff`, `filter --diff`, the `-vv` protocol trace and
//! MTA refusals in plain words. The binary runs against the fakes of `tests/support`; outputs that a human reads
//! are compared with golden files in `tests/golden/` (rewrite them with `UPDATE_GOLDEN=1 cargo test --test debug`
//! and review the change). Every output is checked for the account's password in all its encodings.

mod support;

// MTA refusals in plain words: the log lines of a run, and the classifier's table of real replies.
#[path = "debug/explain.rs"]
mod explain;

use std::collections::BTreeMap;
use std::path::Path;

use support::*;
use tempfile::TempDir;

const PASSWORD: &str = "s3cret-pa55";
const TARGET: &str = "alice@local.test";

fn mail(n: usize) -> Vec<u8> {
    format!(
        "Return-Path: <sender{n}@remote.test>\r\nDelivered-To: list@remote.test\r\nDelivered-To: {TARGET}\r\n\
         From: sender{n}@remote.test\r\nTo: {TARGET}\r\nSubject: message {n}\r\n\r\nbody of message {n}\r\n\
         Delivered-To: {TARGET}\r\n"
    )
    .into_bytes()
}

fn msgs(n: usize) -> Vec<Msg> {
    (1..=n)
        .map(|i| Msg::new(format!("uid-{i}"), mail(i)))
        .collect()
}

/// A plaintext POP3 fake (deterministic traces: no TLS records) and a fake MTA.
struct World {
    pop: FakePop3,
    smtp: FakeSmtp,
    state: TempDir,
}

impl World {
    fn new(msgs: Vec<Msg>) -> World {
        World {
            pop: FakePop3::start(msgs, Pop3Behavior::plain()),
            smtp: FakeSmtp::start(SmtpBehavior::default()),
            state: tempfile::tempdir().unwrap(),
        }
    }

    fn account(&self) -> AccountCfg {
        AccountCfg::new("isp", self.pop.port(), "none")
    }

    fn config(&self, account: AccountCfg) -> TestConfig {
        ConfigBuilder::new(self.smtp.port(), self.state.path())
            .smtp("helo_name", "\"mx.local.test\"")
            .account(account)
            .write()
    }

    /// Every file under the state dir with its bytes (empty when the dir does not exist).
    fn state_files(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        if let Ok(dir) = std::fs::read_dir(self.state.path()) {
            for e in dir.flatten() {
                out.insert(
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                );
            }
        }
        out
    }

    /// Ports, paths and dates replaced by placeholders, for golden comparison.
    fn normalise(&self, text: &str) -> String {
        let text = text
            .replace(&self.pop.port().to_string(), "<POP3-PORT>")
            .replace(&self.smtp.port().to_string(), "<SMTP-PORT>")
            .replace(&self.state.path().display().to_string(), "<STATE-DIR>");
        normalise_dates(&text)
    }
}

fn run(cfg: &Path, args: &[&str]) -> Output {
    let out = run_popfetch(cfg, args);
    assert!(!out.timed_out, "popfetch timed out: {}", out.all());
    assert_no_secret("popfetch output", out.all().as_bytes(), "alice", PASSWORD);
    out
}

/// Replace each RFC 5322 date (`Sun, 22 Nov 2026 21:40:05 +0000`) by `<DATE>` and each `N bytes` count that
/// follows `would deliver ` (it includes the dated Received field) by `<N>`.
fn normalise_dates(text: &str) -> String {
    const DAYS: [&str; 7] = [
        "Mon, ", "Tue, ", "Wed, ", "Thu, ", "Fri, ", "Sat, ", "Sun, ",
    ];
    let mut out = String::new();
    let mut rest = text;
    'outer: while !rest.is_empty() {
        for d in DAYS {
            if let Some(tail) = rest.strip_prefix(d) {
                // `D[D] Mon YYYY HH:MM:SS +ZZZZ`
                let parts: Vec<&str> = tail.splitn(6, ' ').collect();
                if parts.len() >= 5
                    && parts[0].len() <= 2
                    && parts[2].len() == 4
                    && parts[3].len() == 8
                    && parts[4].len() >= 5
                {
                    let zone = &parts[4][..5];
                    if zone.starts_with(['+', '-']) {
                        let used =
                            d.len() + parts[..4].iter().map(|p| p.len() + 1).sum::<usize>() + 5;
                        out.push_str("<DATE>");
                        rest = &rest[used..];
                        continue 'outer;
                    }
                }
            }
        }
        if let Some(tail) = rest.strip_prefix("would deliver ") {
            let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
            if digits > 0 {
                out.push_str("would deliver <N>");
                rest = &tail[digits..];
                continue;
            }
        }
        let c = rest.chars().next().unwrap();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Compare with `tests/golden/NAME`, or rewrite it when `UPDATE_GOLDEN=1`.
fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (UPDATE_GOLDEN=1 cargo test --test debug writes it)",
            path.display()
        )
    });
    assert!(
        want == actual,
        "{} differs (UPDATE_GOLDEN=1 rewrites it)\n--- want\n{want}\n--- got\n{actual}",
        path.display()
    );
}

/// The lines of a log that carry the protocol trace (`C: ` / `S: `), with the log prefix cut off.
fn trace_lines(stderr: &str) -> String {
    let mut out = String::new();
    for line in stderr.lines() {
        if let Some(i) = ["pop3 C: ", "pop3 S: ", "smtp C: ", "smtp S: "]
            .iter()
            .filter_map(|p| line.find(p))
            .min()
        {
            out.push_str(&line[i..]);
            out.push('\n');
        }
    }
    out
}

#[test]
fn dry_run_on_a_fresh_account_touches_nothing() {
    let w = World::new(msgs(2));
    let cfg = w.config(w.account());
    let state_dir = w.state.path().join("never-created");
    let cfg_path = ConfigBuilder::new(w.smtp.port(), &state_dir)
        .smtp("helo_name", "\"mx.local.test\"")
        .account(w.account())
        .write_to(cfg.dir.path());
    let out = run(&cfg_path, &["run", "--dry-run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        out.stdout.lines().next(),
        Some(popfetch::poller::DRY_RUN_BANNER),
        "{}",
        out.stdout
    );
    assert_eq!(
        out.stdout.matches("would deliver").count(),
        2,
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("with MAIL FROM:<sender1@remote.test> RCPT TO:<alice@local.test>"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("removed Delivered-To: alice@local.test (equals target alice@local.test)"),
        "{}",
        out.stdout
    );
    assert_eq!(w.smtp.connections(), 0, "no SMTP connection");
    let verbs: Vec<String> = w.pop.sessions().iter().flat_map(|s| s.verbs()).collect();
    assert!(!verbs.iter().any(|v| v == "DELE"), "{verbs:?}");
    assert_eq!(
        verbs.iter().filter(|v| *v == "RETR").count(),
        2,
        "{verbs:?}"
    );
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1", "uid-2"]);
    assert!(
        !state_dir.exists(),
        "a dry run creates no state directory, state or lock file"
    );
    assert!(w.pop.violations().is_empty(), "{:?}", w.pop.violations());
}

/// Catalog P-27: on a server that removes at QUIT what was retrieved (`EXPIRE 0`, download-once policies), a QUIT
/// after the dry run's RETRs would delete every message it showed. It leaves without QUIT once it retrieved one,
/// and with QUIT when it retrieved none.
#[test]
fn p27_a_dry_run_on_a_server_that_expunges_what_was_retrieved_deletes_nothing() {
    let w = World::new(msgs(2));
    w.pop.update(|b| b.expire_retrieved = true);
    let cfg = w.config(w.account());
    let out = run(&cfg.path, &["run", "--dry-run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        out.stdout.matches("would deliver").count(),
        2,
        "{}",
        out.stdout
    );
    let verbs = w.pop.sessions().last().expect("a session").verbs();
    assert!(verbs.contains(&"RETR".to_string()), "{verbs:?}");
    assert!(!verbs.contains(&"QUIT".to_string()), "{verbs:?}");
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1", "uid-2"]);

    // Delivered for real; a dry run then retrieves nothing and says goodbye properly.
    assert_eq!(run(&cfg.path, &["run"]).code, 0);
    let out = run(&cfg.path, &["run", "--dry-run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let verbs = w.pop.sessions().last().expect("a session").verbs();
    assert!(!verbs.contains(&"RETR".to_string()), "{verbs:?}");
    assert_eq!(verbs.last().map(String::as_str), Some("QUIT"), "{verbs:?}");
}

#[test]
fn dry_run_after_a_real_run_leaves_the_state_byte_identical() {
    let w = World::new(msgs(3));
    // Transaction 1 (uid-2) is refused for good; keep = true so delivered messages stay listed.
    w.smtp.set_behavior(SmtpBehavior::default().reply_to_data(
        1,
        "554 5.7.1 Message rejected due to DMARC policy of remote.test",
    ));
    let cfg = w.config(w.account().keep(true).extra("max_message_size", "100000"));
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert_eq!(w.smtp.connections(), 1);
    w.pop.add_messages(vec![
        Msg::new("uid-4", mail(4)),
        Msg::new("uid-big", vec![b'x'; 200_000]),
    ]);
    let before = w.state_files();
    assert!(before.keys().any(|k| k.ends_with(".state")), "{before:?}");
    let commands_before = w.pop.all_commands().len();

    let out = run(&cfg.path, &["run", "--dry-run", "--diff"]);
    assert_eq!(
        out.code,
        1,
        "oversize skip is exit 1 as in a run: {}",
        out.all()
    );
    assert_eq!(
        w.state_files(),
        before,
        "state dir unchanged, byte for byte"
    );
    assert_eq!(
        w.smtp.connections(),
        1,
        "the dry run made no SMTP connection"
    );
    let new_commands = &w.pop.all_commands()[commands_before..];
    assert!(
        !new_commands.iter().any(|c| c.starts_with("DELE")),
        "{new_commands:?}"
    );
    assert_eq!(
        new_commands
            .iter()
            .filter(|c| c.starts_with("RETR"))
            .collect::<Vec<_>>(),
        vec!["RETR 4"],
        "only the new message is fetched: {new_commands:?}"
    );
    golden("dry_run_diff.txt", &w.normalise(&out.stdout));

    // A torn last line (a crash mid-append) would be cut off by State::open; a dry run leaves it.
    let state_path = w.state.path().join("isp.state");
    let mut torn = std::fs::read(&state_path).unwrap();
    torn.extend_from_slice(b"D uid-9");
    std::fs::write(&state_path, &torn).unwrap();
    let before = w.state_files();
    let out = run(&cfg.path, &["run", "--dry-run"]);
    assert!(out.stdout.contains("torn last line"), "{}", out.stdout);
    assert_eq!(std::fs::read(&state_path).unwrap(), torn);
    assert_eq!(w.state_files(), before);

    // The same dry run with --retry-rejected shows uid-2 as deliverable, and still writes nothing.
    let out = run(&cfg.path, &["run", "--dry-run", "--retry-rejected"]);
    assert!(out.stdout.contains("uid \"uid-2\" (#2"), "{}", out.stdout);
    assert_eq!(
        out.stdout.matches("would deliver").count(),
        2,
        "{}",
        out.stdout
    );
    assert_eq!(w.state_files(), before);
    assert_eq!(w.smtp.connections(), 1);
}

#[test]
fn run_diff_prints_the_header_diff_and_delivers() {
    let w = World::new(msgs(1));
    let cfg = w.config(w.account());
    let out = run(&cfg.path, &["run", "--diff"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(w.smtp.delivered().len(), 1);
    assert!(w.pop.mailbox_uids().is_empty());
    golden("run_diff.txt", &w.normalise(&out.stdout));
}

#[test]
fn filter_diff_goes_to_stderr_and_stdout_is_the_message_exactly() {
    let w = World::new(vec![]);
    let cfg = w.config(
        w.account()
            .extra("strip_delivered_to", "[\"old@local.test\"]"),
    );
    // Latin-1 and invalid UTF-8 in a header, a terminal escape, bare LF line ends, a folded Delivered-To.
    let message: &[u8] = b"Return-Path: <a@remote.test>\nDelivered-To:\n  <Alice@Local.Test>\n\
        Delivered-To: other@local.test\r\nDelivered-To: old@local.test\r\n\
        Subject: caf\xe9 \xff\x1b[2J\r\nFrom: a@remote.test\r\n\r\nbody \xe9\nDelivered-To: alice@local.test\n";
    let file = cfg.dir.path().join("m.eml");
    std::fs::write(&file, message).unwrap();
    let file_arg = file.to_str().unwrap();

    let plain = run_popfetch(&cfg.path, &["filter", file_arg]);
    let mut cmd = std::process::Command::new(popfetch_bin());
    cmd.arg("-c")
        .arg(&cfg.path)
        .args(["filter", "--diff", file_arg]);
    let out = support::run::spawn_command(cmd, &[]);
    let raw_out = out.wait(std::time::Duration::from_secs(30));
    assert_eq!(raw_out.code, 0, "{}", raw_out.all());
    assert_no_secret("filter output", raw_out.all().as_bytes(), "alice", PASSWORD);

    let expected: &[u8] = b"Return-Path: <a@remote.test>\r\n\
        Delivered-To: other@local.test\r\n\
        Subject: caf\xe9 \xff\x1b[2J\r\nFrom: a@remote.test\r\n\r\nbody \xe9\r\nDelivered-To: alice@local.test\r\n";
    // stdout is read lossily by the runner; compare through the same lens, and exactly with a byte pipe below.
    assert_eq!(raw_out.stdout, String::from_utf8_lossy(expected));
    assert_eq!(
        plain.stdout, raw_out.stdout,
        "--diff does not change stdout"
    );
    assert!(!raw_out.stdout.contains("@@"), "no diff on stdout");

    // Byte-exact stdout through std's own pipe.
    let exact = std::process::Command::new(popfetch_bin())
        .arg("-c")
        .arg(&cfg.path)
        .args(["filter", "--diff", file_arg])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(exact.stdout, expected);
    assert!(
        !exact.stderr.contains(&0x1b),
        "no raw escape reaches the terminal"
    );
    let diff = String::from_utf8(exact.stderr).expect("the diff is valid UTF-8");
    let diff: String = diff
        .lines()
        .filter(|l| !l.contains("INFO"))
        .map(|l| format!("{l}\n"))
        .collect();
    golden(
        "filter_diff.txt",
        &diff.replace(&file.display().to_string(), "<FILE>"),
    );

    // `-` reads standard input.
    let mut child = std::process::Command::new(popfetch_bin())
        .arg("-c")
        .arg(&cfg.path)
        .args(["filter", "--diff", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(message).unwrap();
    }
    let piped = child.wait_with_output().unwrap();
    assert_eq!(piped.stdout, expected);
    assert!(
        String::from_utf8_lossy(&piped.stderr).contains("--- standard input"),
        "{}",
        String::from_utf8_lossy(&piped.stderr)
    );
}

#[test]
fn vv_traces_both_conversations_without_secrets_or_bodies() {
    let w = World::new(msgs(1));
    let cfg = w.config(w.account());
    let out = run(&cfg.path, &["-vv", "run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let trace = trace_lines(&out.stderr);
    assert!(trace.contains("pop3 C: PASS [redacted]"), "{trace}");
    assert!(
        !trace.contains("body of message"),
        "bodies are elided: {trace}"
    );
    assert!(
        trace.contains("smtp C: MAIL FROM:<sender1@remote.test>"),
        "{trace}"
    );
    golden("trace_vv.txt", &w.normalise(&trace));
}

#[test]
fn vv_trace_follows_a_refused_data_command_back_to_commands() {
    let w = World::new(msgs(1));
    w.smtp
        .update(|b| b.data_cmd_reply = Some("554 5.5.1 Error: no valid recipients".into()));
    let cfg = w.config(w.account());
    let out = run(&cfg.path, &["-vv", "run"]);
    assert_eq!(out.code, 1, "{}", out.all());
    let trace = trace_lines(&out.stderr);
    assert!(
        trace.contains("smtp S: 554 5.5.1 Error: no valid recipients\nsmtp C: RSET\n"),
        "{trace}"
    );
    assert!(
        !trace.contains("smtp C: [..."),
        "no content was sent: {trace}"
    );
    // 5.5.1 (a protocol error) is none of the documented reasons: no guess is printed.
    assert!(!out.stderr.contains("reason: "), "{}", out.stderr);
}

#[test]
fn vv_redacts_sasl_plain_payloads() {
    let w = World::new(msgs(1));
    w.pop.update(|b| {
        b.sasl_plain = true;
        b.user_pass = false;
    });
    let cfg = w.config(w.account());
    let out = run(&cfg.path, &["-vv", "run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let trace = trace_lines(&out.stderr);
    assert!(trace.contains("AUTH PLAIN"), "{trace}");
    assert!(trace.contains("[redacted]"), "{trace}");
}
