//! Issue 19 against real MTAs beside Postfix: Exim 4.96 and OpenSMTPD 6.8 from Debian 12, unpacked (they conflict
//! with postfix) and run by `tests/interop/mtas.sh` with private configs on free loopback ports, each delivering
//! into a Maildir that these tests read back. The POP3 side is the scripted fake of `tests/support` (this file
//! is about the MTA side; Dovecot is `tests/interop.rs`'s). `#[ignore]`d: `tests/interop/run.sh` runs them.

mod support;

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::run::ConfigBuilder;
use support::world::*;
use support::*;

/// The target the private MTAs deliver into their Maildir.
const JOE: &str = "joe@example.test";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/mtas.sh")
}

/// One running MTA; `Drop` stops it and removes its directory, also when the test panics.
struct Mta {
    dir: PathBuf,
    port: u16,
    maildir: PathBuf,
    log: PathBuf,
}

impl Mta {
    /// `mtas.sh start KIND DIR ARGS...`.
    fn start(kind: &str, args: &[&str]) -> Mta {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "popfetch-interop-{}-mta{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        let mut mta = Mta {
            dir,
            port: 0,
            maildir: PathBuf::new(),
            log: PathBuf::new(),
        };
        let out = Command::new("bash")
            .arg(script())
            .args(["start", kind])
            .arg(&mta.dir)
            .args(args)
            .output()
            .expect("run mtas.sh");
        assert!(
            out.status.success(),
            "mtas.sh start {kind} failed (run tests/interop/run.sh as root: it unpacks Exim and OpenSMTPD with \
             .ci/interop-deps.sh):\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let env = fs::read_to_string(mta.dir.join("env")).expect("mtas.sh wrote no env");
        for (k, v) in env.lines().filter_map(|l| l.split_once('=')) {
            match k {
                "PORT" => mta.port = v.parse().expect("PORT"),
                "MAILDIR" => mta.maildir = PathBuf::from(v),
                "LOG" => mta.log = PathBuf::from(v),
                _ => {}
            }
        }
        mta
    }

    /// The delivered messages (`new/`), sorted by file name.
    fn delivered(&self) -> Vec<Vec<u8>> {
        let mut names: Vec<PathBuf> = fs::read_dir(self.maildir.join("new"))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        names.sort();
        names.iter().filter_map(|p| fs::read(p).ok()).collect()
    }

    /// Wait (at most 30 s) until `n` messages were delivered; returns how many there are.
    fn wait_delivered(&self, n: usize) -> usize {
        wait_until(Duration::from_secs(30), || self.delivered().len() >= n);
        self.delivered().len()
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A popfetch config for `w`'s POP3 account delivering to this MTA, `[smtp]` lines from `smtp`.
    fn config(&self, w: &World, smtp: &[(&str, &str)]) -> TestConfig {
        let mut b = ConfigBuilder::new(self.port, w.state.path()).account(w.account().target(JOE));
        for (k, v) in smtp {
            b = b.smtp(k, v);
        }
        b.write()
    }
}

impl Drop for Mta {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!(
                "--- {} log (tail, newest first) ---\n{}",
                self.dir.display(),
                tail.join("\n")
            );
        }
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}

/// The `Subject:` of each message, each exactly once, and all of `1..=n`.
fn assert_each_once(delivered: &[Vec<u8>], n: usize) {
    let subjects: Vec<String> = delivered
        .iter()
        .map(|m| {
            subject(
                &m.iter()
                    .filter(|&&b| b != b'\r')
                    .copied()
                    .collect::<Vec<u8>>(),
            )
        })
        .collect();
    let unique: HashSet<&String> = subjects.iter().collect();
    assert_eq!(
        unique.len(),
        subjects.len(),
        "a message arrived twice: {subjects:?}"
    );
    let want: HashSet<String> = (1..=n).map(|i| format!("message {i}")).collect();
    assert_eq!(unique.len(), n);
    assert!(subjects.iter().all(|s| want.contains(s)), "{subjects:?}");
}

/// The header block of a delivered (LF) message.
fn head(m: &[u8]) -> String {
    let text = String::from_utf8_lossy(m).into_owned();
    text.split("\n\n").next().unwrap_or_default().to_owned()
}

/// A backlog past the MTA's per-connection limit arrives in one run: exit 0, each message once, the POP3 mailbox
/// empty, and the MTA saw one session more per limit.
fn backlog_in_one_run(mta: &Mta, w: &World, n: usize, sessions: usize) {
    let cfg = mta.config(w, &[]);
    let started = Instant::now();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(mta.wait_delivered(n), n, "{}", out.all());
    eprintln!("{n} messages in {:?}", started.elapsed());
    assert_each_once(&mta.delivered(), n);
    assert!(w.pop.mailbox_uids().is_empty(), "{}", out.all());
    assert!(
        out.stderr.contains(&format!(
            "going on with a new connection ({} of at most 100 in this poll)",
            sessions - 1
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!(
            "{n} new, {n} delivered, 0 rejected, 0 skipped, {n} deleted; "
        )) && out.stderr.contains(" s; result ok"),
        "{}",
        out.stderr
    );
}

#[test]
#[ignore = "needs Exim unpacked by .ci/interop-deps.sh: run tests/interop/run.sh"]
fn s08_exim_backlog_past_smtp_accept_max_per_connection_arrives_in_one_run() {
    // Exim's default is 1000 per connection; 20 keeps the test fast. Queueing per connection is off here (0), so
    // every message is delivered at once and only the 421 is under test.
    let mta = Mta::start(
        "exim",
        &[
            "smtp_accept_max_per_connection=20",
            "smtp_accept_queue_per_connection=0",
        ],
    );
    let w = World::plain(msgs(50));
    backlog_in_one_run(&mta, &w, 50, 3);
    let log = mta.log();
    assert_eq!(
        log.lines()
            .filter(|l| l.contains(" rejected MAIL command H=")
                && l.ends_with("[127.0.0.1]: too many messages in one connection"))
            .count(),
        2,
        "{log}"
    );
    // What Exim adds (with Debian's maildir transport options): Return-path, Envelope-to, Delivery-date and its
    // Received on top; the seeded Return-Path is removed (return_path_remove, on by default). LF line endings.
    let first = head(&mta.delivered()[0]);
    let lines: Vec<&str> = first.lines().collect();
    assert!(lines[0].starts_with("Return-path: <sender"), "{first}");
    assert_eq!(lines[1], "Envelope-to: joe@example.test", "{first}");
    assert!(lines[2].starts_with("Delivery-date: "), "{first}");
    assert!(
        lines[3].starts_with("Received: from [127.0.0.1]"),
        "{first}"
    );
    assert!(
        first.contains("\n\tby mx.example.test with esmtp (Exim 4.96)\n"),
        "{first}"
    );
    assert!(
        first.contains("\nReceived: from 127.0.0.1 (127.0.0.1 [127.0.0.1])\n"),
        "popfetch's: {first}"
    );
    assert_eq!(
        first.matches("Return-Path").count() + first.matches("Return-path").count(),
        1,
        "{first}"
    );
    assert!(
        first.contains("\nDelivered-To: alice@local.test\n"),
        "{first}"
    );
}

#[test]
#[ignore = "needs OpenSMTPD unpacked by .ci/interop-deps.sh: run tests/interop/run.sh"]
fn s08_opensmtpd_backlog_past_max_mails_arrives_in_one_run() {
    // OpenSMTPD's default is 100 per session (`smtp limit max-mails`); 20 keeps the test fast.
    let mta = Mta::start("opensmtpd", &["20"]);
    let w = World::plain(msgs(50));
    backlog_in_one_run(&mta, &w, 50, 3);
    // What OpenSMTPD adds: Return-Path, Delivered-To and its Received on top; the seeded Return-Path stays below.
    let first = head(&mta.delivered()[0]);
    let lines: Vec<&str> = first.lines().collect();
    assert!(lines[0].starts_with("Return-Path: <sender"), "{first}");
    assert_eq!(lines[1], "Delivered-To: joe@example.test", "{first}");
    assert!(lines[2].starts_with("Received: from "), "{first}");
    assert!(
        first.contains("by mx.example.test (OpenSMTPD) with ESMTP id "),
        "{first}"
    );
    assert!(
        first.contains("\nReceived: from 127.0.0.1 (127.0.0.1 [127.0.0.1])\n"),
        "popfetch's: {first}"
    );
    assert_eq!(first.matches("Return-Path: <sender").count(), 2, "{first}");
    // The test messages have no Date or Message-ID: OpenSMTPD adds both (at the end of the header block).
    assert!(
        first.contains("\nDate: ") && first.contains("\nMessage-ID: <"),
        "{first}"
    );
    assert!(
        first.contains("\nDelivered-To: alice@local.test\n"),
        "{first}"
    );
}

#[test]
#[ignore = "needs Exim unpacked by .ci/interop-deps.sh: run tests/interop/run.sh"]
fn exim_batch_limit_10_is_delivered_at_once_without_it_the_rest_waits_for_a_queue_run() {
    // Debian's Exim: from the 11th message of one connection on, "no immediate delivery"; no queue runner here,
    // so what Exim queued stays queued.
    let queue_at_10 = ["smtp_accept_queue_per_connection=10"];

    let mta = Mta::start("exim", &queue_at_10);
    let w = World::plain(msgs(25));
    let out = run(&mta.config(&w, &[("batch_limit", "10")]).path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(mta.wait_delivered(25), 25, "{}", mta.log());
    assert_each_once(&mta.delivered(), 25);
    assert!(w.pop.mailbox_uids().is_empty());
    let log = mta.log();
    assert!(!log.contains("no immediate delivery"), "{log}");
    assert_eq!(log.matches(" <= sender").count(), 25, "{log}");

    // The control: the same without batch_limit leaves 15 messages in Exim's queue.
    let mta = Mta::start("exim", &queue_at_10);
    let w = World::plain(msgs(25));
    let out = run(&mta.config(&w, &[]).path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    mta.wait_delivered(10);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(mta.delivered().len(), 10, "{}", mta.log());
    assert_eq!(
        mta.log()
            .matches("no immediate delivery: more than 10 messages received in one connection")
            .count(),
        15
    );
}
